"""Framing: lines, CRLF, concatenated records, wrong-length lines and partial tails."""

from __future__ import annotations

import pytest

from pms_stream.framing import Piece, RecordFramer, frame_message

R1 = b"Q1" + b"1" * 78
R2 = b"Q2" + b"2" * 78


def test_one_record() -> None:
    assert frame_message(R1) == [Piece(R1, None, 1)]


def test_concatenated_records_and_a_partial_tail() -> None:
    pieces = frame_message(R1 + R2 + b"Q3")
    assert [p.raw for p in pieces] == [R1, R2, b"Q3"]
    assert pieces[2].problem == "trailing partial record of 2 bytes; a record is 80"
    assert [p.record for p in pieces] == [1, 2, 3]


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_lines(end: bytes) -> None:
    pieces = frame_message(R1 + end + R2 + end + end + R1 + R2 + end)
    assert [(p.raw, p.line) for p in pieces] == [(R1, 1), (R2, 2), (R1, 4), (R2, 4)]
    assert all(p.problem is None for p in pieces)


def test_last_line_without_line_end() -> None:
    assert [p.raw for p in frame_message(R1 + b"\n" + R2)] == [R1, R2]


def test_wrong_length_line_is_rejected_whole() -> None:
    pieces = frame_message(R1 + b"\n" + R2 + b" \n" + b"short\n" + R1)
    assert [(p.raw, p.line) for p in pieces] == [(R1, 1), (R2 + b" ", 2), (b"short", 3), (R1, 4)]
    assert pieces[1].problem is not None
    assert "81 characters" in pieces[1].problem
    assert pieces[2].problem is not None


@pytest.mark.parametrize("size", [1, 7, 80, 1000, 70_000])
def test_streaming_in_chunks_gives_the_same_pieces(size: int) -> None:
    for data in (R1 * 3000 + b"abc", (R1 + b"\r\n") * 1000 + b"xy\n" + R2, R1 * 2000 + b"\n" + R2):
        framer = RecordFramer()
        pieces: list[Piece] = []
        for start in range(0, len(data), size):
            pieces += framer.feed(data[start : start + size])
        pieces += framer.close()
        whole = frame_message(data)
        assert [p.raw for p in pieces] == [p.raw for p in whole]
        assert [p.problem is None for p in pieces] == [p.problem is None for p in whole]


def test_empty_input() -> None:
    assert frame_message(b"") == []
    assert frame_message(b"\n\n") == []


@pytest.mark.parametrize("size", [0, 1, 79, 80, 81, 160, 239, 64 * 1024 + 7, 200 * 80])
@pytest.mark.parametrize("line_end", [b"", b"\n", b"\r\n"])
def test_frame_message_is_the_streaming_framer(size: int, line_end: bytes) -> None:
    """frame_message's shortcut for messages without line ends gives RecordFramer's pieces."""
    value = bytes((65 + i % 26) for i in range(size))
    if line_end:
        value = value[: size // 2] + line_end + value[size // 2 :]
    framer = RecordFramer()
    assert frame_message(value) == framer.feed(value) + framer.close()
