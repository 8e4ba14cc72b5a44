"""The records of one Kafka message value, without a `Piece` per record when it holds only whole
records (the usual message: one 80-byte record, or a pack of them on lines or concatenated).

`whole_records` follows framing's rules exactly (`pms_stream.framing`: a line is one record or
several concatenated, an LF or CRLF line end, empty lines skipped; without a line end the value
is cut every 80 bytes) but only answers when every piece would be a record: anything that
framing would reject (a line of another length, a trailing partial record) or cut in a
streaming way (a line end and 64 KiB or more) gets None, and the partition task frames the value
with `frame_message`, which says what is wrong. Line and record numbers are not needed here:
in a Kafka stream a record is named by its message's offset (`StreamName.source`).
`tests/service/test_message_records.py` holds it to `frame_message`.

Flow: consumer -> partition task (**message records** | framing) -> assembler.
"""

from __future__ import annotations

from typing import Final

from pms_stream.catair.fields import RECORD_LENGTH

__all__ = ["whole_records"]

# `RecordFramer` cuts a line of 64 KiB or more as it streams: such values go to it.
_STREAMED_FROM: Final = 64 * 1024


def whole_records(value: bytes) -> list[bytes] | None:
    """The records of `value` when framing would make nothing but records of it, else None."""
    n = len(value)
    if b"\n" not in value:
        if n == RECORD_LENGTH:
            return [value]
        if n % RECORD_LENGTH:
            return None  # a trailing partial record
        return [value[start : start + RECORD_LENGTH] for start in range(0, n, RECORD_LENGTH)]
    if n >= _STREAMED_FROM:
        return None
    records: list[bytes] = []
    for text in value.split(b"\n"):
        line = text[:-1] if text[-1:] == b"\r" else text
        size = len(line)
        if size == RECORD_LENGTH:
            records.append(line)
        elif size % RECORD_LENGTH:
            return None  # framing rejects the line whole
        else:  # empty, or records concatenated on one line
            records += [
                line[start : start + RECORD_LENGTH] for start in range(0, size, RECORD_LENGTH)
            ]
    return records
