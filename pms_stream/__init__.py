"""pms-stream: CBP Periodic Monthly Statement records (CATAIR application MS) on Kafka.

The public API of the pure core. Flow: framing -> codec -> assembler -> statements -> encoders.
"""

from pms_stream._version import __version__
from pms_stream.catair.codec import encode_record, parse_record
from pms_stream.catair.records import Record
from pms_stream.errors import (
    AssemblyError,
    ConfigError,
    DataError,
    FramingError,
    PmsError,
    RecordError,
)

__all__ = [
    "AssemblyError",
    "ConfigError",
    "DataError",
    "FramingError",
    "PmsError",
    "Record",
    "RecordError",
    "__version__",
    "encode_record",
    "parse_record",
]
