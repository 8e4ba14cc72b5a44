"""Parse 80-character records into typed records and encode them back, byte for byte.

`parse_record` and `encode_record` are compiled at import from the layouts in `layouts.py`: each
field gets one converter (text -> value) and one formatter (value -> text), chosen by its kind,
class and status (catair/values.py); a plan per layout holds them. Parsing is strict and
precise: any problem raises `RecordError` naming the record type, field, 1-based positions, the
value (SSN-shaped values masked, passwords never shown) and a reason. Nothing else escapes
`parse_record`, whatever the input.

Rules this module decides where the chapter is silent (see docs/records.md):
- A record is exactly 80 printable ASCII characters; one trailing CR, LF or CRLF is dropped.
- Filler must be spaces. A non-blank filler is rejected: silently dropping it would break the
  byte-exact round trip, and CBP space-fills every filler it sends.
- A and AN values are upper case, left-justified and space padded; AN has no embedded spaces.
  X values are any printable ASCII; trailing spaces are padding.
- Repeated groups (fees, deleted entries) fill their slots from the first; a blank slot followed
  by a filled one, or a half-filled slot, is rejected.
- QR's date, scope and request indicators are lenient: kept as received, problems listed on the
  record, so the reroute rules can answer with the chapter's QX code.

Flow: framing -> **codec** -> assembler.
"""

from __future__ import annotations

from typing import Any, Final

from pms_stream.catair.fastpath import Bail, by_prefix, compile_fast_parser
from pms_stream.catair.fields import RECORD_LENGTH, Field, Kind, Layout
from pms_stream.catair.layouts import LAYOUTS
from pms_stream.catair.records import (
    GROUP_ITEMS,
    RECORD_TYPES,
    FieldProblem,
    Record,
    Secret,
)
from pms_stream.catair.values import (
    CONVERTERS,
    FORMATTERS,
    Converter,
    Formatter,
    Invalid,
    raw_formatter,
)
from pms_stream.domain.importer_numbers import MASK, looks_like_ssn, scrub
from pms_stream.errors import RecordError

__all__ = ["RECORD_LENGTH", "encode_record", "layout_of", "parse_record"]


# --------------------------------------------------------------------------------------------
# Compiled plans: one per layout.
# --------------------------------------------------------------------------------------------


class _Slot:
    """One slot of a repeated group: its member fields in layout order."""

    __slots__ = ("fields", "number")

    def __init__(self, number: int, fields: list[Field]) -> None:
        self.number = number
        self.fields = fields


class _Plan:
    """Everything needed to parse and encode one record type, computed once from its layout."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.struct: type[Record] = RECORD_TYPES[layout.record_type]
        self.fixed: list[tuple[Field, slice, str]] = []  # constants and fillers
        self.attrs: list[tuple[Field, slice, Converter]] = []
        self.lenient: list[tuple[Field, slice, Converter]] = []
        self.groups: dict[str, list[_Slot]] = {}
        self.formatters: dict[Field, Formatter] = {}
        for f in layout.fields:
            sl = slice(f.start - 1, f.end)
            if f.kind is Kind.CONST:
                assert f.const is not None
                self.fixed.append((f, sl, f.const))
                continue
            if f.kind is Kind.FILLER:
                self.fixed.append((f, sl, " " * f.width))
                continue
            convert = CONVERTERS[f.kind](f)
            if f.lenient:
                self.lenient.append((f, sl, convert))
                self.formatters[f] = raw_formatter(f)
            elif f.group is not None:
                assert f.slot is not None
                slots = self.groups.setdefault(f.group, [])
                if len(slots) < f.slot:
                    slots.append(_Slot(f.slot, []))
                slots[f.slot - 1].fields.append(f)
                self.attrs.append((f, sl, convert))
                self.formatters[f] = FORMATTERS[f.kind](f)
            else:
                self.attrs.append((f, sl, convert))
                self.formatters[f] = FORMATTERS[f.kind](f)
        self.identifier = layout.identifier
        dates = {f: c for f, _, c in self.attrs if f.kind is Kind.DATE}
        self.fast = compile_fast_parser(layout, dates) or self.parse
        # Constants already matched by dispatch need no second look.
        self.checks = [
            (f, sl, v)
            for f, sl, v in self.fixed
            if f.kind is Kind.FILLER or f.start > len(self.identifier)
        ]
        self._check_struct()

    def _check_struct(self) -> None:
        """The Struct's attributes must be exactly the layout's: no drift between the two."""
        wanted = {f.attr for f in self.layout.fields if f.attr is not None}
        wanted |= set(self.groups)
        if self.lenient:
            wanted.add("problems")
        have = set(self.struct.__struct_fields__)
        if wanted != have:
            raise TypeError(
                f"{self.struct.__name__} fields {sorted(have)} differ from layout "
                f"{self.layout.record_type} {sorted(wanted)}"
            )

    # ---- parsing ---------------------------------------------------------------------------

    def parse(self, s: str) -> Record:
        for f, sl, expected in self.checks:
            if s[sl] != expected:
                raise self._fixed_error(f, s[sl])
        values: dict[str, Any] = {}
        group_values: dict[Field, Any] = {}
        for f, sl, convert in self.attrs:
            text = s[sl]
            try:
                value = convert(text)
            except Invalid as exc:
                raise self._error(f, text, exc) from None
            if f.group is None:
                values[f.attr] = value  # type: ignore[index]
            else:
                group_values[f] = value
        for name, slots in self.groups.items():
            values[name] = self._group(name, slots, group_values, s)
        if self.lenient:
            problems: list[FieldProblem] = []
            for f, sl, convert in self.lenient:
                text = s[sl]
                values[f.attr] = text  # type: ignore[index]
                try:
                    convert(text)
                except Invalid as exc:
                    problems.append(FieldProblem(f.name, f.positions, exc.reason))
            values["problems"] = tuple(problems)
        return self.struct(**values)

    def _group(
        self, name: str, slots: list[_Slot], found: dict[Field, Any], s: str
    ) -> tuple[Any, ...]:
        item = GROUP_ITEMS[name]
        items: list[Any] = []
        gap: _Slot | None = None
        for slot in slots:
            members = [found[f] for f in slot.fields]
            filled = [v is not None for v in members]
            if not any(filled):
                if gap is None:
                    gap = slot
                continue
            if gap is not None:
                f = gap.fields[0]
                raise self._error(
                    f,
                    s[f.start - 1 : f.end],
                    Invalid(
                        f"slot {gap.number} is blank but slot {slot.number} is filled: "
                        f"slots fill from the first"
                    ),
                )
            if not all(filled):
                f = slot.fields[filled.index(False)]
                other = slot.fields[filled.index(True)]
                raise self._error(
                    f,
                    s[f.start - 1 : f.end],
                    Invalid(f"blank while {other.member} of the same slot is filled"),
                )
            items.append(item(*members))
        return tuple(items)

    def _fixed_error(self, f: Field, text: str) -> RecordError:
        if f.kind is Kind.FILLER:
            i = next(i for i, ch in enumerate(text) if ch != " ")
            reason = f"filler must be spaces; found {text[i]!r} at position {f.start + i}"
        else:
            reason = f"must always equal {f.const!r}"
        return self._error(f, text, Invalid(reason))

    def _error(self, f: Field, text: str, exc: Invalid) -> RecordError:
        return RecordError(
            exc.reason,
            record_type=self.layout.record_type,
            field=f.name,
            start=f.start,
            end=f.end,
            value=_shown_value(f, text),
        )

    # ---- encoding --------------------------------------------------------------------------

    def encode(self, record: Record) -> str:
        parts: list[str] = []
        for f in self.layout.fields:
            if f.kind is Kind.CONST:
                parts.append(f.const or "")
                continue
            if f.kind is Kind.FILLER:
                parts.append(" " * f.width)
                continue
            if f.group is not None:
                assert f.slot is not None
                assert f.member is not None
                items = getattr(record, f.group)
                value = getattr(items[f.slot - 1], f.member) if f.slot <= len(items) else None
            else:
                value = getattr(record, f.attr or "")
            try:
                parts.append(self.formatters[f](value))
            except Invalid as exc:
                raise RecordError(
                    f"cannot encode: {exc.reason}",
                    record_type=self.layout.record_type,
                    field=f.name,
                    start=f.start,
                    end=f.end,
                ) from None
        for name, slots in self.groups.items():
            if len(getattr(record, name)) > len(slots):
                raise RecordError(
                    f"cannot encode: at most {len(slots)} {name} per record",
                    record_type=self.layout.record_type,
                    field=name,
                )
        return "".join(parts)


def _shown_value(f: Field, text: str) -> str:
    """The offending value as an error may show it: passwords never, SSN shapes masked."""
    if f.kind is Kind.SECRET:
        return Secret.MASK
    if f.attr == "importer_number" and looks_like_ssn(text):
        return MASK
    return scrub(text)


_PLANS: Final[dict[str, _Plan]] = {layout.record_type: _Plan(layout) for layout in LAYOUTS}
_BY_IDENTIFIER: Final[dict[str, _Plan]] = {plan.identifier: plan for plan in _PLANS.values()}
_IDENTIFIER_WIDTHS: Final = sorted({len(i) for i in _BY_IDENTIFIER}, reverse=True)
# parse_record inlines the dispatch for speed (Q records have 2-character identifiers, control
# records 1); this keeps it honest if a layout ever changes that.
assert _IDENTIFIER_WIDTHS == [2, 1], _IDENTIFIER_WIDTHS
_CONTROL_IDENTIFIERS: Final = sorted({i[0] for i in _BY_IDENTIFIER})
_PLANS_BY_STRUCT: Final[dict[type[Record], _Plan]] = {p.struct: p for p in _PLANS.values()}


def layout_of(record_type: str) -> Layout:
    """The layout of `record_type` ("A", "Q1", ...)."""
    return _PLANS[record_type].layout


def _dispatch(s: str) -> _Plan:
    for width in _IDENTIFIER_WIDTHS:
        plan = _BY_IDENTIFIER.get(s[:width])
        if plan is not None:
            return plan
    if s[0] == "Q":
        known = ", ".join(sorted(i for i in _BY_IDENTIFIER if i.startswith("Q")))
        raise RecordError(
            f"unknown record type {s[1]!r} after control identifier 'Q' (known: {known})",
            field="record_type",
            start=2,
            end=2,
            value=s[:2],
        )
    raise RecordError(
        f"unknown control identifier {s[0]!r} (known: {', '.join(_CONTROL_IDENTIFIERS)})",
        field="control_identifier",
        start=1,
        end=1,
        value=s[0],
    )


def _strip_line_end(raw: str) -> str:
    if raw.endswith("\n"):
        raw = raw[:-1]
    if raw.endswith("\r"):
        raw = raw[:-1]
    return raw


def _bad_character(s: str) -> RecordError:
    i = next(i for i, ch in enumerate(s) if not (" " <= ch <= "~"))
    ch = s[i]
    shown = f"0x{ord(ch):02X}" if ord(ch) < 0x100 else f"U+{ord(ch):04X}"
    reason = f"character {shown} at position {i + 1} is not printable ASCII"
    plan = _BY_IDENTIFIER.get(s[:2]) or _BY_IDENTIFIER.get(s[:1]) if i >= 2 else None
    f = plan.layout.field_at(i + 1) if plan is not None else None
    if plan is None or f is None:
        return RecordError(reason, start=i + 1, end=i + 1)
    text = "".join(c if " " <= c <= "~" else "?" for c in s[f.start - 1 : f.end])
    return RecordError(
        reason,
        record_type=plan.layout.record_type,
        field=f.name,
        start=f.start,
        end=f.end,
        value=_shown_value(f, text),
    )


# The generated fast parsers by a record's first two characters: one lookup per record.
_FAST: Final = by_prefix({p.identifier: p.fast for p in _PLANS.values() if p.fast != p.parse})


def parse_record(raw: bytes | bytearray | memoryview | str) -> Record:
    """Parse one 80-character record (a trailing CR/LF is allowed) into its typed record.

    Raises `RecordError`, and nothing else, when the record is not valid.
    """
    if isinstance(raw, bytes):
        try:
            s = raw.decode("ascii")
        except UnicodeDecodeError:
            raise _non_ascii(raw) from None
    elif isinstance(raw, str):
        s = raw
    elif isinstance(raw, bytearray | memoryview):
        return parse_record(bytes(raw))
    else:
        raise RecordError(f"a record is bytes or str, not {type(raw).__name__}")
    if len(s) != RECORD_LENGTH:
        s = _strip_line_end(s)
        if len(s) != RECORD_LENGTH:
            raise _length_error(s)
    fast = _FAST.get(s[:2])
    if fast is not None:
        try:
            return fast(s)  # accepts only printable ASCII, so it needs no character check
        except Bail:  # the fast path is unsure: the precise checks decide
            pass
    if not (s.isascii() and s.isprintable()):
        raise _bad_character(s)
    plan = _BY_IDENTIFIER.get(s[:2]) or _BY_IDENTIFIER.get(s[:1]) or _dispatch(s)
    try:
        return plan.parse(s)
    except RecordError:
        raise
    except Exception as exc:  # a bug must still surface as a RecordError, never crash a stream
        raise RecordError(
            f"internal error while parsing: {type(exc).__name__}",
            record_type=plan.layout.record_type,
        ) from exc


def _non_ascii(raw: bytes) -> RecordError:
    s = _strip_line_end(raw.decode("latin-1"))
    if len(s) != RECORD_LENGTH:
        return _length_error(s)
    return _bad_character(s)


def _length_error(s: str) -> RecordError:
    return RecordError(
        f"record is {len(s)} characters long; a CATAIR record is exactly {RECORD_LENGTH}",
        start=1,
        end=max(len(s), 1),
    )


def encode_record(record: Record) -> bytes:
    """The 80 ASCII bytes of `record`, exactly as `parse_record` reads them.

    The result is parsed again before it is returned, so an invalid record (a lower-case code,
    an impossible amount) raises `RecordError` here instead of reaching a consumer.
    """
    plan = _PLANS_BY_STRUCT.get(type(record))
    if plan is None:
        raise RecordError(f"not a record: {type(record).__name__}")
    text = plan.encode(record)
    if len(text) != RECORD_LENGTH or not (text.isascii() and text.isprintable()):
        raise RecordError(
            "cannot encode: a value holds characters that are not printable ASCII",
            record_type=plan.layout.record_type,
        )
    parse_record(text)  # the fast path where it can; the precise checks name any problem
    return text.encode("ascii")
