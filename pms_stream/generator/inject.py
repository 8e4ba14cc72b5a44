"""Bad-input injection: malformed records (rejected by framing or the codec) and well-formed
records in a place they cannot be (rejected by the assembler), put between or inside the clean
statements, each with the reject it must cause (`ManifestEntry`). Every position a bad input
changes is taken from the layouts.

Flow: month (clean records, `Spec`s) -> **inject** -> records with bad inputs, manifest.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pms_stream.catair.codec import layout_of
from pms_stream.catair.fields import Field, Kind
from pms_stream.generator.month import PORTS
from pms_stream.generator.options import (
    MALFORMED_KINDS,
    GenerateOptions,
    ManifestEntry,
    Spec,
)
from pms_stream.generator.render import Renderer, mmddyy
from pms_stream.statements import checks

__all__ = ["Injector"]

# The fields the malformed records spoil, from the layouts (never a hard-coded position).
_Q1_DAILY_NUMBER = layout_of("Q1").field("daily_statement_number")
_Q1_FILER = layout_of("Q1").field("filer_code")
_Q1_PRINT_DATE = layout_of("Q1").field("print_date")
_Q2_AMOUNTS = tuple(f for f in layout_of("Q2").fields if f.kind is Kind.AMOUNT)
_Q2_FILLER = next(f for f in layout_of("Q2").fields if f.kind is Kind.FILLER)


def _put(text: str, f: Field, value: str, offset: int = 0) -> str:
    """`text` with `value` written over field `f` from `offset` characters into it."""
    start = f.start - 1 + offset
    if offset < 0 or offset + len(value) > f.width:
        raise ValueError(f"{value!r} at {offset} does not fit {f.name} ({f.positions})")
    return text[:start] + value + text[start + len(value) :]


@dataclass(slots=True, kw_only=True)
class _Bad:
    gap: int  # inserted before the clean record of this index (len(records): at the end)
    rank: int  # order in its gap: 0, then 1 an orphan Q1, then 2 a partial record at the end
    kind: str
    placement: Literal["between", "inside"]
    raw: bytes
    reason: str
    record_type: str | None
    kept: bool  # a well-formed record: the statement it lands on keeps it among its records
    spec: int | None = None


class Injector:
    """Puts bad inputs into the clean records and says what each must cause."""

    def __init__(
        self, *, options: GenerateOptions, records: list[bytes], specs: list[Spec]
    ) -> None:
        self.o = options
        self.rng = random.Random(f"pms-stream-generate:{options.seed}:bad")  # noqa: S311
        self.records = records
        self.specs = specs
        self.render = Renderer(validate=options.validate)
        self.bare = options.framing == "bare"
        self.none = options.line_end == "none"
        self.tail_used = False
        n = len(records)
        # Gaps outside every statement (bare: the gap before each statement, and the end).
        between: list[tuple[int, int]] = []
        start = 0
        for s in specs:
            between.append((start, s.first))
            start = s.last + 1
        between.append((start, n))
        self.between = between
        self.ends = [s.last + 1 for s in specs]  # bare: a gap here lands on that statement

    def run(self) -> tuple[list[bytes], list[ManifestEntry]]:
        bads = [self._one() for _ in range(self.o.bad)]
        order = sorted(range(len(bads)), key=lambda i: (bads[i].gap, bads[i].rank, i))
        out: list[bytes] = []
        at = 0
        placed = [0] * len(bads)
        for i in order:
            b = bads[i]
            out.extend(self.records[at : b.gap])
            at = b.gap
            placed[i] = len(out)
            out.append(b.raw)
        out.extend(self.records[at:])
        gaps = sorted(b.gap for b in bads)
        for s in self.specs:  # move each statement by the bad inputs before it
            s.first += bisect_right(gaps, s.first)
            s.last += bisect_right(gaps, s.last)
        manifest: list[ManifestEntry] = []
        for i, b in enumerate(bads):
            index = placed[i]
            effects: tuple[str, ...] = ()
            number: str | None = None
            if b.spec is not None:
                s = self.specs[b.spec]
                s.rejected += 1
                number = s.number
                if not self.bare:
                    s.extra += 1
                    effects = (checks.RECORD_COUNT, checks.REJECTED_RECORDS)
                else:
                    effects = (checks.REJECTED_RECORDS,)
                    if b.kept:
                        s.extra += 1
                        s.last = max(s.last, index)
            manifest.append(
                ManifestEntry(
                    index=index,
                    line=index + 1,
                    kind=b.kind,
                    placement=b.placement,
                    event="framing" if b.kind == "wrong_length" else "record",
                    record_type=b.record_type,
                    reason=b.reason,
                    raw=b.raw.decode("latin-1"),
                    statement=b.spec,
                    statement_number=number,
                    effects=effects,
                )
            )
        manifest.sort(key=lambda m: m.index)
        return out, manifest

    # ---- choosing ---------------------------------------------------------------------------

    def _kinds(self, inside: bool) -> list[str]:
        """The kinds that fit: an orphan Q1 only inside a statement (between statements it
        would start one); without line ends, a record of the wrong length shifts every record
        after it, so only one, at the very end."""
        kinds = [k for k in self.o.bad_kinds if not (k == "orphan_q1" and not inside)]
        if self.none and (inside or self.tail_used):
            kinds = [k for k in kinds if k != "wrong_length"]
        return kinds or self._fallback()

    def _fallback(self) -> list[str]:
        return [k for k in MALFORMED_KINDS if k != "wrong_length"]

    def _one(self) -> _Bad:
        rng = self.rng
        inside = bool(self.specs) and rng.random() < self.o.bad_inside
        kind = rng.choice(self._kinds(inside))
        if inside:
            bad = self._inside(kind, rng.randrange(len(self.specs)))
            if bad is not None:
                return bad
            kind = rng.choice(
                [k for k in self._kinds(True) if k in MALFORMED_KINDS] or self._fallback()
            )
            bad = self._inside(kind, rng.randrange(len(self.specs)))
            assert bad is not None
            return bad
        if kind == "wrong_length" and self.none:
            gap = len(self.records)
            self.tail_used = True
        else:
            low, high = rng.choice(self.between)
            gap = rng.randint(low, high)
        spec = self._landing(gap)
        if kind in MALFORMED_KINDS:
            return self._malformed(kind, gap, "between", spec)
        port, filer = self._context(spec)
        if spec is None:
            why = "record with no statement open"
        else:  # a second Q4 is a duplicate wherever it lands after the first
            why = {
                "stray_q2": "Q2 without its Q1",
                "qa_out_of_sequence": "QA without its Q1",
                "duplicate_q4": "duplicate Q4",
            }[kind]
        record_type, raw = self._well_formed(kind, port, filer, None)
        return self._kept(gap, kind, raw, why, record_type, spec, placement="between")

    def _landing(self, gap: int) -> int | None:
        """The statement a bad input at this gap (between statements) lands on: in bare
        framing the one before it, which is still open; in block framing none."""
        if not self.bare:
            return None
        i = bisect_left(self.ends, gap)
        return i if i < len(self.ends) and self.ends[i] == gap else None

    def _context(self, spec: int | None) -> tuple[str, str]:
        if spec is not None:
            s = self.specs[spec]
            return s.filer.port, s.filer.code
        return self.rng.choice(PORTS), "B76"

    def _inside(self, kind: str, k: int) -> _Bad | None:
        """A bad input inside statement k, where it causes the reject its kind is about; None
        when the statement has no such place (e.g. no daily statement for a stray Q2)."""
        s = self.specs[k]
        records, rng = self.records, self.rng
        port, filer = s.filer.port, s.filer.code
        if kind in MALFORMED_KINDS:  # anywhere after its first record, up to its last
            return self._malformed(kind, rng.randint(s.first + 1, s.last), "inside", k)

        # The gap right after a record of the statement (bare: maybe right after its last).
        def after(prefix: bytes) -> list[int]:
            return [i + 1 for i in range(s.first, s.last + 1) if records[i][:2] == prefix]

        if kind == "stray_q2":  # a second copy of a daily statement's Q2
            gaps = after(b"Q2")
            if not gaps:
                return None
            gap = rng.choice(gaps)
            dsn = records[gap - 2][_Q1_DAILY_NUMBER.slice].decode().rstrip()
            why = f"duplicate Q2 for daily statement {dsn}"
            return self._kept(gap, kind, records[gap - 1], why, "Q2", k)
        if kind == "qa_out_of_sequence":  # QA 02 right after the Q2: before (or without) 01
            gaps = after(b"Q2")
            if not gaps:
                return None
            _, raw = self._well_formed(kind, port, filer, None)
            why = "QA sequence 02 skips 01"
            return self._kept(rng.choice(gaps), kind, raw, why, "QA", k)
        if kind == "duplicate_q4":
            gap = after(b"Q4")[0]
            return self._kept(gap, kind, records[gap - 1], "duplicate Q4", "Q4", k)
        # orphan_q1: right before a Q1 or the Q3 of the statement (never its first record)
        starts = [i for i in range(s.first + 1, s.last + 1) if records[i][:2] in (b"Q1", b"Q3")]
        if not starts:
            return None
        dsn = f"{port}X{rng.randrange(10**5):05d}"
        _, raw = self._well_formed(kind, port, filer, dsn)
        why = f"Q1 of daily statement {dsn} is not followed by its Q2"
        return self._kept(rng.choice(starts), kind, raw, why, "Q1", k, rank=1)

    @staticmethod
    def _kept(  # noqa: PLR0917 - the six facts of a well-formed bad input, in order
        gap: int,
        kind: str,
        raw: bytes,
        why: str,
        record_type: str,
        spec: int | None,
        *,
        rank: int = 0,
        placement: Literal["between", "inside"] = "inside",
    ) -> _Bad:
        """A well-formed record in a place it cannot be; statement `spec`, if any, keeps it
        among its records."""
        return _Bad(
            gap=gap,
            rank=rank,
            kind=kind,
            placement=placement,
            raw=raw,
            reason=why,
            record_type=record_type,
            kept=True,
            spec=spec,
        )

    # ---- making them ------------------------------------------------------------------------

    def _q1(self, port: str, filer: str, dsn: str | None = None) -> bytes:
        rng = self.rng
        day = date(rng.randint(2021, 2027), rng.randint(1, 12), rng.randint(1, 28))
        dsn = dsn or f"{port}{rng.randrange(10**6):06d}"
        amounts = (rng.randrange(10**7), rng.randrange(10**5))
        return self.render("Q1", dsn, port, filer, "", mmddyy(day), mmddyy(day), *amounts)

    def _q2(self) -> bytes:
        add, cvd, rest = (self.rng.randrange(10**5) for _ in range(3))
        return self.render("Q2", add, cvd, add + cvd + rest)

    def _well_formed(self, kind: str, port: str, filer: str, dsn: str | None) -> tuple[str, bytes]:
        rng = self.rng
        if kind == "stray_q2":
            return "Q2", self._q2()
        if kind == "duplicate_q4":
            add, cvd, rest = (rng.randrange(10**6) for _ in range(3))
            return "Q4", self.render("Q4", add, cvd, add + cvd + rest)
        if kind == "qa_out_of_sequence":
            return "QA", self.render("QA", 2, "501", rng.randint(1, 99_999), filled=1)
        return "Q1", self._q1(port, filer, dsn)

    def _malformed(
        self, kind: str, gap: int, placement: Literal["between", "inside"], spec: int | None
    ) -> _Bad:
        rng = self.rng
        port, filer = self._context(spec)
        record_type: str | None
        if kind == "wrong_length":
            text = self._q1(port, filer).decode()
            n = rng.choice((40, 79)) if self.none else rng.choice((40, 79, 81, 100))
            text = text[:n] if n < 80 else text + "X" * (n - 80)
            why = (
                f"trailing partial record of {n} bytes"
                if self.none
                else f"line is {n} characters long"
            )
            record_type = None
        elif kind == "non_digit_amount":
            text = self._q2().decode()
            amount = rng.choice(_Q2_AMOUNTS)
            at = rng.randrange(amount.width)
            text = _put(text, amount, rng.choice("O I"), at)
            why, record_type = "an amount is 11 digits with two implied decimals", "Q2"
        elif kind == "impossible_date":
            text = self._q1(port, filer).decode()
            bad = rng.choice(("0230", "0431", "1315", "0001", "0932"))  # MMDD of MMDDYY
            text = _put(text, _Q1_PRINT_DATE, bad)
            why, record_type = "impossible date", "Q1"
        elif kind == "lower_case_code":
            text = self._q1(port, filer if spec is not None else "ABC").decode()
            text = _put(text, _Q1_FILER, text[_Q1_FILER.slice].lower())
            why, record_type = "not allowed: class AN takes upper-case letters and digits", "Q1"
        elif kind == "non_blank_filler":
            text = self._q2().decode()
            at = rng.randint(0, _Q2_FILLER.width - 1)
            text = _put(text, _Q2_FILLER, rng.choice("X*0."), at)
            why, record_type = "filler must be spaces", "Q2"
        else:  # unknown_record_type
            text = "Q" + rng.choice("89BCDFZ") + self._q2().decode()[2:]
            why, record_type = "unknown record type", None
        rank = 2 if kind == "wrong_length" and self.none else 0
        return _Bad(
            gap=gap,
            rank=rank,
            kind=kind,
            placement=placement,
            raw=text.encode(),
            reason=why,
            record_type=record_type,
            kept=False,
            spec=spec,
        )
