"""`service.undecodable.first_undecodable` on record batches built by aiokafka itself: the
first batch that cannot be decoded is found by its header, with its offsets and bytes."""

from __future__ import annotations

import struct

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c

from pms_stream.service.undecodable import first_undecodable


def batch(base: int, count: int, codec: int) -> bytearray:
    builder = DefaultRecordBatchBuilder(2, codec, False, -1, -1, -1, 1_000_000)
    for i in range(count):
        builder.append(i, timestamp=0, key=b"k", value=b"Q1" * 40, headers=[])
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, base)
    return data


def test_the_first_undecodable_batch_is_found_with_its_offsets() -> None:
    good, broken, later = batch(0, 3, 4), batch(3, 5, 4), batch(8, 2, 1)
    broken[61:65] = b"\xde\xad\xbe\xef"  # the zstd frame's magic number
    struct.pack_into(">I", broken, 17, calc_crc32c(bytes(broken[21:])))
    data = bytes(good + broken + later)
    found = first_undecodable(data, 0, None)
    assert found is not None
    assert (found.first_offset, found.last_offset) == (3, 7)
    assert found.reason.startswith("zstd: ")
    assert found.raw == bytes(broken)
    assert first_undecodable(bytes(good + later), 0, None) is None
    assert first_undecodable(data[:-5], 8, None) is None  # a batch cut short is not judged


def test_a_corrupt_crc_is_undecodable() -> None:
    broken = batch(0, 2, 3)
    broken[70] ^= 0xFF
    found = first_undecodable(bytes(broken), 0, None)
    assert found is not None
    assert "CRC" in found.reason
    assert found.reason.startswith("lz4: ")


def test_the_end_of_the_whole_batches_is_where_the_next_fetch_begins() -> None:
    from pms_stream.service.undecodable import _end_of_whole_batches

    data = bytes(batch(0, 3, 4) + batch(3, 5, 1))
    assert _end_of_whole_batches(data) == 8
    assert _end_of_whole_batches(data[:-5]) == 3
    assert _end_of_whole_batches(b"") is None
