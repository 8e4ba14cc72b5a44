"""Feeding the offline parse: whole MS blocks to the fast path (fastblock.py), the rest to the
assembler, from `Run`s of records (no object per record) or from framing `Piece`s.

`BlockShortcut` sits in front of an `Assembler` (the authority). Everything goes to the
assembler as before, except an MS block: from a B record that opens nothing in the assembler,
the block's records are held until its Y record, then the fast path tries to write the
statement's JSON line; when it declines, the held records go to the assembler in their order,
which then does what it always did (same events, same order; only later, at the block's end).

A `Run` (framing.py: a chunk's records as one string) is read in place: the next B record, the
first record after it that is not a Q (one regular expression search), and, when that is the Y
record, the block's text goes to the fast path as it is. Records outside such blocks (A, Z,
anything unusual) go to the assembler one by one. A block cut by the end of a run is carried
over to the next run as text; whenever `Piece`s come instead, or the input ends, what is carried
becomes held `Piece`s, and the `Piece` path (the same rules, record by record) goes on from there.

Flow: framing -> **fast feed** -> fast block (else codec -> assembler -> checks -> model) ->
JSON lines.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

import msgspec

from pms_stream.catair.fields import RECORD_LENGTH
from pms_stream.framing import RUN_STRIDE, Piece, Run
from pms_stream.statements import fastblock
from pms_stream.statements.assembler import Assembler, Origin
from pms_stream.statements.model import Event, Source

__all__ = ["HOLD_LIMIT", "BlockShortcut"]

HOLD_LIMIT: Final = 20_000  # records held at most; a longer block goes to the assembler
_B, _Q, _Y = b"BQY"  # first bytes of the records the shortcut looks at
_NOT_Q: Final = re.compile("\n[^Q]").search  # the start of the next record that is not a Q


class BlockShortcut:
    """Feeds records to `assembler`, taking whole MS blocks the fast way where it can.

    A block's records are held from its B record to its Y record (at most `HOLD_LIMIT`), so
    events come out when the block ends, in the same order as the assembler alone gives them.
    """

    def __init__(self, assembler: Assembler, file: str | None, enabled: bool = True) -> None:
        self._assembler = assembler
        self._file = file
        self._file_json = "" if file is None else f'"file":{msgspec.json.encode(file).decode()},'
        self._enabled = enabled
        self._held: list[Piece] | None = None
        # the start of a block at the end of the last run: its text, first line and record
        self._carry: tuple[str, int | None, int] | None = None
        self._limit = min(HOLD_LIMIT, assembler.max_records)
        self._dates: tuple[date | None, str] = (None, "null")  # process_date and its JSON

    # ---- runs ---------------------------------------------------------------------------------

    def feed_run(self, run: Run) -> list[Event | bytes]:
        """Feed a run of records; returns what they complete, in order: events of the assembler
        (to encode) and statements' finished JSON lines (bytes)."""
        out: list[Event | bytes] = []
        text, first_line, first_record = run.text, run.first_line, run.first_record
        while self._held is not None and text:  # a held block goes on record by record
            found = _NOT_Q(text, 0) if text[0] == "Q" else None
            if text[0] != "Q":
                end = RUN_STRIDE  # the record that ends the holding
            elif found is None:
                end = len(text)
            else:
                end = found.start() + 1 + RUN_STRIDE
            count = end // RUN_STRIDE
            out += self.feed(Run(text[:end], first_line, first_record, count).pieces())
            text = text[end:]
            first_line = None if first_line is None else first_line + count
            first_record += count
        if self._carry is not None:
            carried, first_line, first_record = self._carry
            self._carry = None
            text = carried + text
        if text:
            self._scan(text, first_line, first_record, out)
        return out

    def _scan(
        self, text: str, first_line: int | None, first_record: int, out: list[Event | bytes]
    ) -> None:
        assembler, limit, stride = self._assembler, self._limit, RUN_STRIDE
        n = len(text)
        pos = 0
        while pos < n:
            b = pos if text[pos] == "B" else text.find("\nB", pos) + 1 or n
            if b > pos:
                self._to_assembler(text, pos, b, first_line, first_record, out)
                if b == n:
                    return
            if not self._enabled or assembler.open_statement:
                self._to_assembler(text, b, b + stride, first_line, first_record, out)
                pos = b + stride
                continue
            found = _NOT_Q(text, b + RECORD_LENGTH)
            stop = n if found is None else found.start() + 1
            if stop - b >= limit * stride:  # the limit: its last Q goes to the assembler
                pos = b + limit * stride
                self._to_assembler(text, b, pos, first_line, first_record, out)
                continue
            if found is None:  # the block goes on in the next run
                self._carry = (
                    text[b:],
                    None if first_line is None else first_line + b // stride,
                    first_record + b // stride,
                )
                return
            pos = stop + stride
            if text[stop] == "Y":
                line = fastblock.block_line(
                    text,
                    b,
                    stop + RECORD_LENGTH,
                    self._source(b, stop, first_line, first_record),
                    self._process_date(),
                )
                if line is not None:
                    out.append(line)
                    continue
            self._to_assembler(text, b, pos, first_line, first_record, out)

    def _to_assembler(  # noqa: PLR0917 - the run's position, all positional
        self,
        text: str,
        start: int,
        end: int,
        first_line: int | None,
        first_record: int,
        out: list[Event | bytes],
    ) -> None:
        """The records of `text[start:end]` to the assembler, one by one."""
        feed = self._assembler.feed
        for at in range(start, end, RUN_STRIDE):
            k = at // RUN_STRIDE
            origin = Origin(None if first_line is None else first_line + k, first_record + k)
            out += feed(text[at : at + RECORD_LENGTH].encode("latin-1"), origin)

    def _source(self, b: int, y: int, first_line: int | None, first_record: int) -> str:
        """The JSON of the statement's `source`: what msgspec writes for its `Source`."""
        if first_line is not None:
            return (
                f'{{{self._file_json}"first_line":{first_line + b // RUN_STRIDE},'
                f'"last_line":{first_line + y // RUN_STRIDE}}}'
            )
        return (
            f'{{{self._file_json}"first_record":{first_record + b // RUN_STRIDE},'
            f'"last_record":{first_record + y // RUN_STRIDE}}}'
        )

    def _process_date(self) -> str:
        """The JSON of the open A record's transmission date (the statement's process_date)."""
        found = self._assembler.process_date
        if found is not self._dates[0]:
            self._dates = (found, "null" if found is None else f'"{found.isoformat()}"')
        return self._dates[1]

    # ---- pieces -------------------------------------------------------------------------------

    def feed(self, pieces: list[Piece]) -> list[Event | bytes]:
        """Feed records (and framing fragments) in order; returns what they complete, in order:
        events of the assembler (to encode) and statements' finished JSON lines (bytes)."""
        out: list[Event | bytes] = []
        self._uncarry()
        held = self._held
        limit = self._limit
        for piece in pieces:
            if held is not None:
                held.append(piece)
                if piece[3] is None:  # a record, not a framing fragment
                    kind = piece[0][0]
                    if kind == _Q and len(held) < limit:
                        continue
                    if kind == _Y:
                        line = fastblock.statement_line(
                            [p[0] for p in held],
                            self._piece_source(held),
                            self._assembler.process_date,
                        )
                        if line is not None:
                            out.append(line)
                            held = None
                            continue
                for p in held:
                    out += self._feed(p)
                held = None
            elif (
                piece[3] is None
                and piece[0][0] == _B
                and self._enabled
                and not self._assembler.open_statement
            ):
                held = [piece]
            else:
                out += self._feed(piece)
        self._held = held
        return out

    def flush(self) -> list[Event]:
        """End of input: what is held goes to the assembler, which then closes what is open."""
        self._uncarry()
        held, self._held = self._held or [], None
        events: list[Event] = []
        for p in held:
            events += self._feed(p)
        return events + self._assembler.flush()

    def _uncarry(self) -> None:
        """What is carried over from the last run becomes held pieces."""
        if self._carry is not None:
            text, first_line, first_record = self._carry
            self._carry = None
            self._held = Run(text, first_line, first_record, len(text) // RUN_STRIDE).pieces()

    def _feed(self, piece: Piece) -> list[Event]:
        origin = Origin(piece.line, piece.record)
        if piece.problem is not None:
            return self._assembler.feed_fragment(piece.raw, origin, piece.problem)
        return self._assembler.feed(piece.raw, origin)

    def _piece_source(self, held: list[Piece]) -> Source:
        first, last = held[0], held[-1]
        if first.line is not None:
            return Source(file=self._file, first_line=first.line, last_line=last.line)
        return Source(file=self._file, first_record=first.record, last_record=last.record)
