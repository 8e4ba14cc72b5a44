"""Property: bad records interleaved anywhere into a valid stream are each reported once, and
every valid statement still comes out whole (same data; its checks may add that a record of
its block was rejected, and its Y count then differs)."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from pms_stream.statements.assembler import Assembler, Origin
from pms_stream.statements.model import Event, RejectedEvent, Statement
from pms_testkit.records_by_hand import put
from tests.core import statements_by_hand as sh

# Records that are bad whatever their place: the codec rejects each of them.
BAD = [
    sh.D1[0][:79],  # short
    sh.D1[1] + " ",  # long
    put(sh.D1[0], 50, "X"),  # letter in an amount
    put(sh.D1[0], 32, "133126"),  # month 13
    put(sh.PRELIMINARY_TOTALS[0], 25, "b76"),  # lower case filer code
    put(sh.D1[1], 80, "#"),  # non-blank filler
    "Q9" + " " * 78,  # unknown record type
    "X" * 80,  # unknown control identifier
    put(sh.D1[2], 3, "00"),  # QA sequence 00
    put(sh.D1[0], 10, "\x01"),  # control character
]

_DATA_ONLY = {"checks", "record_count", "source"}


def _run(records: list[str | bytes]) -> list[Event]:
    assembler = Assembler(file="x")
    events: list[Event] = []
    for line, record in enumerate(records, 1):
        raw = record.encode("latin-1") if isinstance(record, str) else record
        events += assembler.feed(raw, Origin(line=line))
    return events + assembler.flush()


def _data(statement: Statement) -> dict[str, object]:
    doc = msgspec.to_builtins(statement)
    assert isinstance(doc, dict)
    return {k: v for k, v in doc.items() if k not in _DATA_ONLY}


@settings(max_examples=300, deadline=None)
@given(
    stream=st.sampled_from([sh.TRANSMISSION, sh.BARE]),
    inserts=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(BAD)), max_size=8),
)
def test_bad_records_anywhere(stream: list[str], inserts: list[tuple[int, str]]) -> None:
    clean = [e for e in _run(list(stream)) if isinstance(e, Statement)]
    records: list[str | bytes] = list(stream)
    for position, bad in inserts:
        records.insert(min(position, len(records)), bad)
    events = _run(records)
    rejected = [e for e in events if isinstance(e, RejectedEvent)]
    got = [e for e in events if isinstance(e, Statement)]
    # every bad record reported once, with its raw text and its own line
    assert sorted(r.raw for r in rejected) == sorted(bad for _, bad in inserts)
    for r in rejected:
        assert r.kind == "record"
        assert records[r.source.first_line - 1] == r.raw  # type: ignore[operator]
    # every statement whole
    assert [_data(s) for s in got] == [_data(s) for s in clean]
    for s, c in zip(got, clean, strict=True):
        extra = {k.code for k in s.checks} - {k.code for k in c.checks}
        assert extra <= {"rejected_records", "record_count"}
