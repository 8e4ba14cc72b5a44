"""The record order table (statements/order.py) is what the assembler does: every cell of
`STRUCTURE_MAP`, fed to a real assembler after records that bring a statement to that phase,
accepts the record or rejects it with exactly the cell's reason. And the statistics are handed
over by `take_stats`, once."""

from __future__ import annotations

import pytest

from pms_stream.statements.assembler import Assembler, Origin
from pms_stream.statements.model import Event, RejectedEvent
from pms_stream.statements.order import (
    Q5_ON_PRELIMINARY,
    STATEMENT_RECORDS,
    STRUCTURE_MAP,
    NextStatement,
    OutOfOrder,
    Phase,
)
from pms_stream.statements.stats import RecordStats
from pms_testkit import records_by_hand as h

# One record of each statement record type, each the first of its group (QA, QE, QJ 01).
RECORD = {
    "Q1": h.Q1,
    "Q2": h.Q2,
    "QA": h.QA,
    "Q3": h.Q3,
    "Q4": h.Q4,
    "QE": h.QE,
    "Q5": h.Q5,
    "Q6": h.Q6,
    "QJ": h.put(h.QJ, 3, "01"),
    "Q7": h.Q7,
}
DAILY = ["Q1", "Q2", "QA"]
# Records that bring a final statement (h.B_MS says F) to each phase, after A and B.
REACH = {
    Phase.OPENED: [],
    Phase.Q1: ["Q1"],
    Phase.Q2: ["Q1", "Q2"],
    Phase.Q3: [*DAILY, "Q3"],
    Phase.Q4: [*DAILY, "Q3", "Q4"],
    Phase.Q5: [*DAILY, "Q3", "Q4", "QE", "Q5"],
    Phase.Q6: [*DAILY, "Q3", "Q4", "QE", "Q5", "Q6"],
    Phase.Q7: [*DAILY, "Q3", "Q4", "QE", "Q7"],
    Phase.Q7F: [*DAILY, "Q3", "Q4", "QE", "Q5", "Q6", "QJ", "Q7"],
}


def _feed(assembler: Assembler, records: list[str], first_line: int = 1) -> list[Event]:
    events: list[Event] = []
    for n, text in enumerate(records, first_line):
        events += assembler.feed(text.encode(), Origin(line=n))
    return events


def _record_rejects(events: list[Event], line: int | None = None) -> list[str]:
    """The reasons of the records rejected one by one (only the record on `line`, if given:
    a Q1 or Q3 may also reject the orphaned Q1 before it)."""
    return [
        e.reason
        for e in events
        if isinstance(e, RejectedEvent)
        and e.kind == "record"
        and (line is None or e.source.first_line == line)
    ]


def test_the_table_has_a_cell_for_every_phase_and_statement_record() -> None:
    assert list(STRUCTURE_MAP) == list(Phase)
    for row in STRUCTURE_MAP.values():
        assert tuple(row) == STATEMENT_RECORDS


@pytest.mark.parametrize("phase", [p for p in Phase if p is not Phase.NONE])
@pytest.mark.parametrize("record_type", STATEMENT_RECORDS)
def test_every_cell_is_what_the_assembler_does_in_a_block(phase: Phase, record_type: str) -> None:
    assembler = Assembler(file="f")
    way = [h.A, h.B_MS, *(RECORD[t] for t in REACH[phase])]
    assert _record_rejects(_feed(assembler, way)) == [], f"the way to {phase.name} is in order"
    line = len(way) + 1
    rejects = _record_rejects(_feed(assembler, [RECORD[record_type]], line), line)
    cell = STRUCTURE_MAP[phase][record_type]
    if isinstance(cell, Phase):
        assert rejects == []
    else:  # in a block, a record that could only begin the next statement is rejected too
        assert isinstance(cell, OutOfOrder | NextStatement)
        assert rejects == [cell.reason.format(daily="2704A12345")]


@pytest.mark.parametrize("record_type", STATEMENT_RECORDS)
def test_with_no_statement_open_only_q1_and_q3_begin_one(record_type: str) -> None:
    assembler = Assembler(file="f")
    rejects = _record_rejects(_feed(assembler, [RECORD[record_type]]))
    cell = STRUCTURE_MAP[Phase.NONE][record_type]
    if isinstance(cell, Phase):
        assert rejects == []
        assert assembler.open_statement
    else:
        assert isinstance(cell, OutOfOrder)
        assert rejects == [cell.reason]
        assert not assembler.open_statement


def test_bare_a_record_that_begins_the_next_statement_closes_the_open_one() -> None:
    assembler = Assembler(file="f")
    first = [RECORD[t] for t in REACH[Phase.Q4]]
    assert STRUCTURE_MAP[Phase.Q4]["Q1"].__class__ is NextStatement
    events = _feed(assembler, [*first, h.Q1])
    assert [e.__class__.__name__ for e in events] == ["Statement"]
    assert assembler.open_statement  # the Q1 began the next one


def test_a_preliminary_block_takes_no_q5_whatever_the_phase() -> None:
    preliminary_b = h.put(h.B_MS, 13, "P")
    assembler = Assembler(file="f")
    _feed(assembler, [h.A, preliminary_b, *(RECORD[t] for t in REACH[Phase.Q4])])
    assert _record_rejects(_feed(assembler, [h.Q5])) == [Q5_ON_PRELIMINARY.reason]


def test_take_stats_hands_the_counts_over_once() -> None:
    assembler = Assembler(file="f")
    _feed(assembler, [h.A, h.B_MS, h.Q2, "Q1 too short"])
    stats = assembler.take_stats()
    assert stats == RecordStats(
        {
            ("A", "accepted"): 1,
            ("B", "accepted"): 1,
            ("Q2", "rejected"): 1,
            ("unknown", "invalid"): 1,
        }
    )
    assert dict(assembler.take_stats()) == {}
    assert dict(stats + stats) == {key: 2 * count for key, count in stats.items()}
    with pytest.raises(TypeError):
        stats[("A", "accepted")] = 5  # type: ignore[index]
