"""The record order of one statement, as one table: the chapter's output structure map.

A statement's records come in this order (the chapter's structure map): each daily statement's
Q1, its Q2, then its QA fee records 01, 02, ...; then the statement totals Q3, Q4 and the QE
records 01, ...; on final statements only, the final totals Q5, Q6 and the QJ records 01, ...;
last, the Q7 deleted-entry records. `Phase` says how far an open statement has come, and
`STRUCTURE_MAP` says, for every phase and every statement record type, what the record does:

- a `Phase`: the record is in order; it is kept and the statement moves to that phase;
- an `OutOfOrder`: the record is rejected with this reason and the statement goes on;
- a `NextStatement`: the record can only begin another statement. In bare framing (no B and Y
  around the statement) it closes the open statement and begins the next one; inside an MS
  block it is rejected with this reason.

The row `NONE` is for a record with no statement open (bare framing): only Q1 and Q3 begin one.

Two rules the table does not hold: a statement whose B record says preliminary takes no Q5
(`Q5_ON_PRELIMINARY`, whatever the phase), and QA, QE and QJ records of one group are numbered
01, 02, ... without gaps (`next_sequence`). Which block a record may stand in (statement records
in MS blocks, QR in MO, QX in MQ) is the assembler's, with the A/B/Y/Z control records.

Flow: codec -> assembler (**order**, then build) -> checks -> model.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, NamedTuple

__all__ = [
    "Q5_ON_PRELIMINARY",
    "STATEMENT_RECORDS",
    "STRUCTURE_MAP",
    "NextStatement",
    "OutOfOrder",
    "OutOfSequence",
    "Phase",
    "Step",
    "next_sequence",
]


class Phase(IntEnum):
    """How far an open statement has come: named after the last record kept (fee records QA,
    QE and QJ leave the phase as it is)."""

    NONE = 0  # no statement open (bare framing); a Q1 or Q3 begins one
    OPENED = 1  # an MS block's B record; no statement record yet
    Q1 = 2  # a daily statement's Q1, waiting for its Q2
    Q2 = 3  # a daily statement with its Q2; its QA fee records may follow
    Q3 = 4  # the statement totals; Q4 next
    Q4 = 5  # the preliminary totals complete; QE fee records may follow
    Q5 = 6  # the final totals; Q6 next
    Q6 = 7  # the final totals complete; QJ fee records may follow
    Q7 = 8  # deleted entries, after the preliminary totals
    Q7F = 9  # deleted entries, after the final totals


class OutOfOrder(NamedTuple):
    """The record is rejected with `reason`; `{daily}` stands for the open daily statement's
    number."""

    reason: str


class NextStatement(NamedTuple):
    """The record begins another statement: bare, it closes the open one; in a block it is
    rejected with `reason`."""

    reason: str


Step = Phase | OutOfOrder | NextStatement

# The statement record types, in the chapter's order: the table's columns.
STATEMENT_RECORDS: Final = ("Q1", "Q2", "QA", "Q3", "Q4", "QE", "Q5", "Q6", "QJ", "Q7")

# The reasons, each written once; the table places them.
NEXT_Q1: Final = NextStatement(
    "Q1 after the statement totals: daily statements (Q1, Q2, QA) come before Q3"
)
NEXT_Q3: Final = NextStatement("duplicate Q3: a statement has one set of totals")
NO_Q1: Final = OutOfOrder("Q2 without its Q1: each Q2 follows the Q1 of its daily statement")
DUP_Q2: Final = OutOfOrder("duplicate Q2 for daily statement {daily}")
NO_Q2: Final = OutOfOrder(
    "QA without its Q1 and Q2: fee records follow the Q2 of their daily statement"
)
NO_Q3: Final = OutOfOrder("Q4 without its Q3: Q4 follows Q3")
DUP_Q4: Final = OutOfOrder("duplicate Q4")
NO_Q4: Final = OutOfOrder("QE without Q3 and Q4: total fee records follow Q4")
LATE_QE: Final = OutOfOrder("QE after the final totals or deleted entries: QE records follow Q4")
EARLY_Q5: Final = OutOfOrder("Q5 before the preliminary totals: Q5 follows Q3, Q4 and QE")
DUP_Q5: Final = OutOfOrder("duplicate Q5 or Q5 after Q7")
NO_Q5: Final = OutOfOrder("Q6 without its Q5: Q6 follows Q5")
DUP_Q6: Final = OutOfOrder("duplicate Q6")
NO_Q6: Final = OutOfOrder("QJ without Q5 and Q6: final fee records follow Q6")
EARLY_Q7: Final = OutOfOrder(
    "Q7 before the totals: deleted entry summaries come after Q3/Q4 (and Q5/Q6 on final statements)"
)
Q5_ON_PRELIMINARY: Final = OutOfOrder(
    "Q5 on a preliminary statement: final totals (Q5, Q6, QJ) come only on final statements"
)


def _none(record_type: str, follows: str) -> OutOfOrder:
    return OutOfOrder(f"{record_type} record with no statement open: a {record_type} {follows}")


_NONE_ROW: Final[tuple[Step, ...]] = (
    Phase.Q1,
    _none("Q2", "follows the Q1 of its daily statement"),
    _none("QA", "follows the Q2 of its daily statement"),
    Phase.Q3,
    _none("Q4", "follows Q3"),
    _none("QE", "follows Q4"),
    _none("Q5", "follows the preliminary totals (Q3, Q4, QE)"),
    _none("Q6", "follows Q5"),
    _none("QJ", "follows Q6"),
    _none("Q7", "follows the totals"),
)

P = Phase  # a cell that is a phase: the record is in order, and the statement moves there
# fmt: off
_GRID: Final[tuple[tuple[Phase, tuple[Step, ...]], ...]] = (
    #              Q1        Q2        QA        Q3        Q4        QE        Q5        Q6        QJ        Q7  # noqa: E501
    (P.NONE,      _NONE_ROW),
    (P.OPENED,   (P.Q1,      NO_Q1,    NO_Q2,    P.Q3,     NO_Q3,    NO_Q4,    EARLY_Q5, NO_Q5,    NO_Q6,    EARLY_Q7)),  # noqa: E501
    (P.Q1,       (P.Q1,      P.Q2,     NO_Q2,    P.Q3,     NO_Q3,    NO_Q4,    EARLY_Q5, NO_Q5,    NO_Q6,    EARLY_Q7)),  # noqa: E501
    (P.Q2,       (P.Q1,      DUP_Q2,   P.Q2,     P.Q3,     NO_Q3,    NO_Q4,    EARLY_Q5, NO_Q5,    NO_Q6,    EARLY_Q7)),  # noqa: E501
    (P.Q3,       (NEXT_Q1,   NO_Q1,    NO_Q2,    NEXT_Q3,  P.Q4,     NO_Q4,    EARLY_Q5, NO_Q5,    NO_Q6,    EARLY_Q7)),  # noqa: E501
    (P.Q4,       (NEXT_Q1,   NO_Q1,    NO_Q2,    NEXT_Q3,  DUP_Q4,   P.Q4,     P.Q5,     NO_Q5,    NO_Q6,    P.Q7)),      # noqa: E501
    (P.Q5,       (NEXT_Q1,   NO_Q1,    NO_Q2,    NEXT_Q3,  DUP_Q4,   LATE_QE,  DUP_Q5,   P.Q6,     NO_Q6,    EARLY_Q7)),  # noqa: E501
    (P.Q6,       (NEXT_Q1,   NO_Q1,    NO_Q2,    NEXT_Q3,  DUP_Q4,   LATE_QE,  DUP_Q5,   DUP_Q6,   P.Q6,     P.Q7F)),     # noqa: E501
    (P.Q7,       (NEXT_Q1,   NO_Q1,    NO_Q2,    NEXT_Q3,  DUP_Q4,   LATE_QE,  DUP_Q5,   NO_Q5,    NO_Q6,    P.Q7)),      # noqa: E501
    (P.Q7F,      (NEXT_Q1,   NO_Q1,    NO_Q2,    NEXT_Q3,  DUP_Q4,   LATE_QE,  DUP_Q5,   DUP_Q6,   NO_Q6,    P.Q7F)),     # noqa: E501
)
# fmt: on

# phase -> statement record type -> step: every cell filled (checked here, at import).
STRUCTURE_MAP: Final[dict[Phase, dict[str, Step]]] = {
    phase: dict(zip(STATEMENT_RECORDS, row, strict=True)) for phase, row in _GRID
}
assert list(STRUCTURE_MAP) == list(Phase), "one row per phase, in order"
del P


class OutOfSequence(Exception):  # noqa: N818 - the reason a fee record is out of sequence
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def next_sequence(kind: str, sequence: int, last: int) -> int:
    """`sequence` when it follows `last` (QA, QE and QJ records are numbered 01, 02, ...);
    raises `OutOfSequence` otherwise."""
    if sequence != last + 1:
        if sequence <= last:
            raise OutOfSequence(
                f"duplicate or out-of-order {kind} sequence {sequence:02d} after "
                f"{last:02d}; expected {last + 1:02d}"
            )
        raise OutOfSequence(
            f"{kind} sequence {sequence:02d} skips {last + 1:02d}: {kind} records are "
            f"numbered 01, 02, ... without gaps"
        )
    return sequence
