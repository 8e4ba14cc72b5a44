"""`RunFramer.feed_run` against `RecordFramer.feed`: the same records, line and record numbers
and fragments, whatever the input (LF, CRLF, mixed or no line ends, wrong lengths, stray CRs,
empty lines, long lines) and however it is cut into chunks; and regular chunks come as `Run`s."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pms_stream.framing import Piece, RecordFramer, Run, RunFramer

R = b"Q1" + b"1" * 78


def _pieces(got: Run | list[Piece]) -> list[Piece]:
    return got.pieces() if isinstance(got, Run) else got


def _both(data: bytes, sizes: list[int], runs_at: list[bool]) -> list[Run]:
    """Feeds `data` in chunks of `sizes` (cycled) to both framers, `feed_run` or `feed` on the
    run framer as `runs_at` says; asserts the same pieces; returns the runs made."""
    plain, framer = RecordFramer(), RunFramer()
    want: list[Piece] = []
    got: list[Piece] = []
    runs: list[Run] = []
    at = n = 0
    while at < len(data):
        chunk = data[at : at + sizes[n % len(sizes)]]
        at += len(chunk)
        want += plain.feed(chunk)
        made = framer.feed_run(chunk) if runs_at[n % len(runs_at)] else framer.feed(chunk)
        if isinstance(made, Run):
            runs.append(made)
            assert made.records == len(made.text) // 81
            assert made.text.endswith("\n")
        got += _pieces(made)
        n += 1
    want += plain.close()
    got += framer.close()
    assert got == want
    return runs


_record = st.sampled_from(
    [R, b"B" + b" " * 79, b"Y" + b"9" * 79, R[:79] + b"\r", b"\xe9" * 80, b"Q\r" + b"2" * 78]
)
_line = st.one_of(
    _record,
    _record.map(lambda r: r * 2),  # two records on one line
    st.binary(max_size=170),  # any bytes, any length (may hold line ends)
    st.just(b""),  # an empty line
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_line, max_size=40),
    ends=st.lists(st.sampled_from([b"\n", b"\r\n", b""]), min_size=1, max_size=3),
    sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=4),
    runs_at=st.lists(st.booleans(), min_size=1, max_size=3),
)
def test_runs_give_the_same_pieces(
    lines: list[bytes], ends: list[bytes], sizes: list[int], runs_at: list[bool]
) -> None:
    data = b"".join(line + ends[n % len(ends)] for n, line in enumerate(lines))
    _both(data, sizes, runs_at)


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(_record, min_size=800, max_size=3000),
    tail=st.binary(max_size=100),
    sizes=st.lists(st.integers(1, 150_000), min_size=1, max_size=3),
    runs_at=st.lists(st.booleans(), min_size=1, max_size=3),
)
def test_no_line_ends_give_the_same_pieces(
    records: list[bytes], tail: bytes, sizes: list[int], runs_at: list[bool]
) -> None:
    """Without line ends (cut past 64 KiB), and a line end late in the input."""
    data = b"".join(records)
    _both(data + tail, sizes, runs_at)
    _both(data + b"\n" + data[:800], sizes, runs_at)


def test_regular_chunks_come_as_runs() -> None:
    for end in (b"\n", b"\r\n"):
        runs = _both((R + end) * 2000 + R, [40_000], [True])
        assert sum(r.records for r in runs) == 2000  # the last record waits for its line end
        assert runs[0].first_line == runs[0].first_record == 1
    runs = _both(R * 2000, [100_000], [True])
    assert sum(r.records for r in runs) == 2000 - 750  # 2000 * 80 - 100,000 bytes wait
    assert runs[0].first_line is None
    # a line end in the middle of a record, a CR at a record's end (LF), an empty line
    for bad in (R[:40] + b"\n" + R[40:], R[:79] + b"\r", b""):
        assert not _both((R + b"\n") * 50 + bad + b"\n" + (R + b"\n") * 50, [100_000], [True])
