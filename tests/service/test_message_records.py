"""`whole_records` (a message's records without a `Piece` each) against `frame_message`: the
same records whenever it answers, and an answer for every message that is only whole records."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pms_stream.framing import frame_message
from pms_stream.stream.message_records import whole_records

RECORD = st.binary(min_size=80, max_size=80).map(lambda b: b.replace(b"\n", b"x"))
# pieces of a message: records (with CR inside or at their end), line ends, stray bytes
PIECE = st.one_of(
    RECORD,
    RECORD,
    st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n", b"\r\r\n"]),
    st.binary(min_size=1, max_size=90),
)


def _agrees(value: bytes) -> None:
    pieces = frame_message(value)
    records = whole_records(value)
    whole = all(p.problem is None for p in pieces)
    if records is not None:
        assert whole, value
        assert records == [p.raw for p in pieces]
    else:
        assert not whole or len(value) >= 64 * 1024, value


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECE, max_size=12))
def test_whole_records_are_the_framers_records(parts: list[bytes]) -> None:
    _agrees(b"".join(parts))


TEXT_RECORD = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=80, max_size=80
).map(str.encode)


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXT_RECORD, min_size=1, max_size=120), st.sampled_from([b"", b"\n", b"\r\n"]))
def test_packed_messages_always_get_an_answer(records: list[bytes], end: bytes) -> None:
    value = end.join(records)
    assert whole_records(value) == [p.raw for p in frame_message(value)]


def test_hand_made_cases() -> None:
    r = b"Q" + b"1" * 79
    for value in (
        r,
        r + b"\n",
        r + b"\r\n",
        r * 3,
        r + b"\n" + r * 2 + b"\r\n\n" + r,
        b"",
        b"\n",
        r[:79] + b"\r\n",  # a line of 79: rejected by framing
        r + b"\r",  # 81 bytes without a line end: a partial record
        r + b"\r\r\n",  # one CR is stripped, the other makes the line 81
        (r + b"\n") * 900,  # 72 KiB with line ends: left to the framer
        r * 900,
    ):
        _agrees(value)
    assert whole_records(r) == [r]
    assert whole_records(r + b"\r\n") == [r]
    assert whole_records(r[:79] + b"\r\n") is None
