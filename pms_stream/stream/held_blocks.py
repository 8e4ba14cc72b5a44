"""An MS block held by a stream key of the partition task until its Y record, across messages.

The partition task's fast path (docs/performance.md, "The fast path in the partition task")
holds the records of a block, from a B record that finds nothing open but a transmission, until
its Y, where `fastblock.statement_line` writes the statement or declines. A block that spans
messages must not change what is output at each message: the assembler alone would emit a
reject at the message of a bad record, not at the block's end. So a block goes on being held
past the end of a message only when the assembler, fed its records, would certainly have
emitted nothing and hold the block open (`HeldBlock.quiet`, checking each record once): each
record is one the codec accepts (its own expression,
`catair.fastpath.record_pattern`, plus the checks the expression leaves to Python: dates,
allowed values, QA/QE/QJ numbering), in an order the block expression accepts, with a Q5 only
on a final statement. Anything else (and a block at `max_records_per_statement`) makes the
task hand the held records to the assembler, each with the offset of its own message, at the
message where the doubt arises: which is where the assembler alone would have spoken first.
Within one message nothing is checked per record: a block whose B and Y are in one message
goes to `fastblock.statement_line`, whose block expression checks it whole; a block begun in
an earlier message is checked record by record and ends in `matched_statement_line`. The check
is conservative: a record it refuses may be one the assembler takes quietly; then
the assembler takes the block, as always.

While a key holds a block at a message's end it has open state, as the assembler would after
the B (the block is still held only when the assembler would hold it open), so checkpoints,
`open_since` and the replay after a crash are the same with the fast path on and off
(docs/exactly-once.md).

Flow: partition task (framing -> **held block** -> fastblock | assembler) -> outputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from pms_stream.catair.fastpath import record_pattern
from pms_stream.catair.fields import Kind
from pms_stream.catair.layouts import LAYOUTS_BY_TYPE
from pms_stream.statements.fastblock import B_APP, B_PREPARER, B_STATUS
from pms_stream.statements.fastvalues import DATES

__all__ = ["HeldBlock"]

# What may follow each record type inside an MS block (the block expression of fastblock):
# B (Q1 Q2 QA*)+ Q3 Q4 QE* (Q5 Q6 QJ*)? Q7* Y. The Y itself goes to `statement_line`.
_NEXT: Final[dict[bytes, frozenset[bytes]]] = {
    b"B": frozenset({b"Q1"}),
    b"Q1": frozenset({b"Q2"}),
    b"Q2": frozenset({b"Q1", b"QA", b"Q3"}),
    b"QA": frozenset({b"Q1", b"QA", b"Q3"}),
    b"Q3": frozenset({b"Q4"}),
    b"Q4": frozenset({b"QE", b"Q5", b"Q7"}),
    b"QE": frozenset({b"QE", b"Q5", b"Q7"}),
    b"Q5": frozenset({b"Q6"}),
    b"Q6": frozenset({b"QJ", b"Q7"}),
    b"QJ": frozenset({b"QJ", b"Q7"}),
    b"Q7": frozenset({b"Q7"}),
}
_BEFORE_Y: Final = frozenset({b"Q4", b"QE", b"Q6", b"QJ", b"Q7"})
_NUMBERED: Final = frozenset({b"QA", b"QE", b"QJ"})  # sequence 01, 02, ... (positions 3-4)
_BLANK_DATE: Final = " " * 6

_Match = Callable[[str], re.Match[str] | None]


def _rule(record_type: str) -> tuple[_Match, tuple[tuple[int, int], ...]]:
    """The codec's expression for the record type, and its date fields (0-based, end excluded)."""
    layout = LAYOUTS_BY_TYPE[record_type]
    pattern = record_pattern(layout)
    assert pattern is not None, record_type
    dates = tuple((f.start - 1, f.end) for f in layout.fields if f.kind is Kind.DATE)
    assert all(end - start == len(_BLANK_DATE) for start, end in dates), record_type
    return re.compile(pattern, re.DOTALL).fullmatch, dates


_RULES: Final = {t: _rule(t.decode()) for t in (*_NEXT, b"Y")}


def _valid(record_type: bytes, text: str) -> bool:
    """Whether the codec accepts `text` as a record of `record_type` (never raises)."""
    match, dates = _RULES[record_type]
    if match(text) is None:
        return False
    for start, end in dates:
        day = text[start:end]
        if day != _BLANK_DATE and not DATES[day]:
            return False
    return True


class HeldBlock:
    """The records of one MS block held so far (B first), with the offset of each one's
    message. `checked` of them are known to be taken quietly by the assembler (`quiet`);
    `counted` of them were already counted as accepted (`PartitionTask.take_stats`)."""

    __slots__ = ("_final", "_last", "_sequence", "checked", "counted", "offsets", "raws")

    def __init__(self, b: bytes, offset: int) -> None:
        self.raws = [b]
        self.offsets = [offset]
        self.checked = 0
        self.counted = 0
        self._final = False
        self._last = b""
        self._sequence = 0

    def hold(self, raw: bytes, offset: int) -> None:
        self.raws.append(raw)
        self.offsets.append(offset)

    def quiet(self) -> bool:
        """Whether an assembler with no block or statement open (a transmission may be), fed
        the held records, would certainly emit nothing and hold the block open (a held Y: would
        end a block the block expression matches). Checks the records not checked yet; False
        when that is not certain."""
        raws = self.raws
        while self.checked < len(raws):
            if not self._takes(raws[self.checked]):
                return False
            self.checked += 1
        return True

    def _takes(self, raw: bytes) -> bool:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return False
        if not self.checked:  # the B
            status = text[B_STATUS[0]]
            self._final = status == "F"
            self._last = b"B"
            return (
                text[B_APP[0] : B_APP[1]] == "MS"
                and status in ("P", "F")
                and text[B_PREPARER[0]] in (" ", "1")
                and _valid(b"B", text)
            )
        tag = raw[:1] if raw[:1] == b"Y" else raw[:2]
        if tag == b"Y":
            return self._last in _BEFORE_Y and _valid(b"Y", text)
        if tag not in _NEXT[self._last]:
            return False
        if tag == b"Q5" and not self._final:
            return False  # a Q5 on a preliminary statement is rejected
        if not _valid(tag, text):
            return False
        if tag in _NUMBERED:
            number = int(text[2:4])  # digits: the expression holds them to 01 ... 99
            if number != (self._sequence + 1 if tag == self._last else 1):
                return False
            self._sequence = number
        self._last = tag
        return True
