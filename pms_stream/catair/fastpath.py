"""Generated fast parsers: one regular expression and one straight-line function per layout.

`codec._Plan.parse` is the authority: it checks field by field and names the first problem. It
is also slow (a converter call per field). This module writes, from the same layouts, one
regular expression per record type that checks every character of the record in a single C
call, and one Python function (like `collections.namedtuple` and `dataclasses` generate theirs)
that turns the captured texts into values.

The expression checks, position by position: the identifier and constants, fillers (spaces),
each A/N/AN value (class characters, left-justified, space padded: the capture is the value
without its padding), X values (printable ASCII, captured at full width and right-trimmed in
Python), amounts, dates and integers (digits, or all spaces where blank is allowed) and repeated
groups (slots filled from the first, each slot all filled or all blank). A field's end is held
to its layout position by a fixed-width look-behind, so a value can never spill into its
neighbour. Every character it accepts is printable ASCII, so a record it accepts needs no other
character check. What the expression cannot say (allowed values, integer ranges, impossible
dates) the function checks.

A record the fast path is unsure of raises `Bail`, and a fast parser raises nothing else (the date
converters it is given refuse a date with ValueError, which it turns into `Bail`); the codec
catches only `Bail` and then asks the authority, which either accepts it or explains the rejection.
Any other exception out of a fast parser is a bug, and surfaces as one. The fast path accepts only
what the authority accepts, with identical values: the property test
`tests/core/test_codec_properties.py::test_fast_path_agrees_with_precise_path` holds them to it.

Flow: framing -> codec (**fast path**, else precise path) -> assembler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from pms_stream.catair.fields import Cls, Field, Kind, Layout, Status
from pms_stream.catair.records import GROUP_ITEMS, RECORD_TYPES, Record

__all__ = ["Bail", "by_prefix", "compile_fast_parser", "record_pattern"]


class Bail(Exception):  # noqa: N818 - a signal, not an error: "ask the precise parser"
    """The fast path is not sure; the precise parser decides."""


class _NoFastPath(Exception):  # noqa: N818 - internal: this layout is left to the precise parser
    pass


_CLASS_CHARS = {Cls.A: "A-Z", Cls.N: "0-9", Cls.AN: "A-Z0-9"}  # X is [ -~], trimmed in Python
_DATE_CACHE_SIZE = 4096
# Decimal("0.00") to Decimal("0.99"), by their two digits; the same values, exponent included, as
# the precise converter makes from "000000000.00" to "000000000.99".
_SMALL = {f"{n:02d}": Decimal(f"0.{n:02d}") for n in range(100)}


def _ends_at(end: int) -> str:
    """A look-behind that holds when exactly `end` characters have been matched."""
    return f"(?<=\\A.{{{end}}})"


def _tuple(names: list[str]) -> str:
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


class _Writer:
    """Accumulates the pattern, the capture group names and the function body of one layout."""

    def __init__(self, date_converters: Mapping[Field, Callable[[str], Any]]) -> None:
        self.pattern: list[str] = []
        self.groups: list[str] = []
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.dates = date_converters
        self._names = 0

    def const(self, value: Any) -> str:
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return name

    def name(self, prefix: str = "v") -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def group(self) -> str:
        """A new capture group's variable name (groups are numbered in pattern order)."""
        self.groups.append(f"g{len(self.groups) + 1}")
        return self.groups[-1]

    def next_group(self) -> str:
        return f"g{len(self.groups) + 1}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def assign(self, indent: int, v: str, expr: str, group: str, required: bool) -> None:
        """`v = expr`; where blank is allowed, `None` when the blank alternative matched."""
        self.emit(
            indent, f"{v} = {expr}" if required else f"{v} = None if {group} is None else {expr}"
        )

    def bail_if(self, indent: int, v: str, test: str, required: bool) -> None:
        """Bail when `test` holds for a present value `v`."""
        self.emit(indent, f"if {test if required else f'{v} is not None and {test}'}: raise _Bail")

    def value(self, f: Field, required: bool, indent: int) -> str:
        """Add `f` to the pattern and the code that computes its value; return the value's name.

        `required`: blank is not acceptable (mandatory field, or member of a filled slot).
        """
        w = f.width
        blank = f" {{{w}}}"
        if f.kind is Kind.TEXT and f.cls is not Cls.X:
            # The capture is the value without its padding, and None when blank.
            v = self.group()
            chars = _CLASS_CHARS[f.cls]
            body = f"([{chars}])" if w == 1 else f"([{chars}]{{1,{w}}}) {{0,{w - 1}}}"
            self.pattern.append(body if required else f"(?:{body}|{blank})")
            if w > 1:
                self.pattern.append(_ends_at(f.end))
        elif f.kind is Kind.TEXT:
            g, v = self.group(), self.name()
            self.pattern.append(f"([ -~]{{{w}}})")
            if required:
                self.emit(indent, f"{v} = {g}.rstrip(' ')")
                self.emit(indent, f"if not {v}: raise _Bail")
            else:
                self.emit(indent, f"{v} = {g}.rstrip(' ') or None")
        elif f.kind is Kind.AMOUNT:
            if w < 3:
                raise _NoFastPath
            units, cents, v = self.group(), self.group(), self.name()
            body = f"([0-9]{{{w - 2}}})([0-9]{{2}})"
            self.pattern.append(body if required else f"(?:{body}|{blank})")
            # The precise converter's own string, so the same Decimal (exponent included).
            # Amounts under one unit (zero above all: ADD, CVD and tax mostly are) are shared
            # constants: a string compare instead of a Decimal construction.
            decimal = f'_Decimal(f"{{{units}}}.{{{cents}}}")'
            small = f"_SMALL[{cents}] if {units} == {'0' * (w - 2)!r} else {decimal}"
            self.assign(indent, v, small if required else f"({small})", units, required)
        elif f.kind is Kind.DATE:
            # Dates repeat: each new text is converted once by the precise converter, then cached.
            if w != 6:
                raise _NoFastPath
            g, v = self.group(), self.name()
            self.pattern.append("([0-9]{6})" if required else f"(?:([0-9]{{6}})|{blank})")
            cache, fill = self._date_cache(self.dates[f])
            self.assign(
                indent, v, f"({self.const(cache)}.get({g}) or {self.const(fill)}({g}))", g, required
            )
        elif f.kind is Kind.INT:
            g, v = self.group(), self.name()
            body = f"([0-9]{{{w}}})"
            self.pattern.append(body if required else f"(?:{body}|{blank})")
            self.assign(indent, v, f"int({g})", g, required)
            low = f.minimum if f.minimum is not None else 0
            high = f.maximum if f.maximum is not None else 10**w - 1
            if low > 0 or high < 10**w - 1:
                self.bail_if(indent, v, f"not {low} <= {v} <= {high}", required)
        else:
            raise _NoFastPath  # secrets and raw fields are left to the precise parser
        if f.values is not None:
            self.bail_if(indent, v, f"{v} not in {self.const(f.values)}", required)
        return v

    @staticmethod
    def _date_cache(
        convert: Callable[[str], Any],
    ) -> tuple[dict[str, Any], Callable[[str], Any]]:
        """A cache of converted dates, and the function that converts and caches a new text."""
        cache: dict[str, Any] = {}

        def fill(text: str) -> Any:
            try:
                value = convert(text)
            except ValueError:  # an impossible date: the precise path names it
                raise Bail from None
            if len(cache) < _DATE_CACHE_SIZE:
                cache[text] = value
            return value

        return cache, fill


def _emit_slots(  # noqa: PLR0917 - one recursion step of a generator, all positional
    w: _Writer,
    slots: list[list[Field]],
    index: int,
    item: str,
    built: list[str],
    result: str,
    indent: int,
) -> None:
    """Slot `index` and, nested inside it, the slots after it: filled from the first, and once a
    slot is blank all the rest are blank. Each slot is all filled or all blank."""
    members = slots[index]
    may_be_blank = not any(m.status is Status.M for m in members)
    inner = indent
    if may_be_blank:
        w.pattern.append("(?:")
        w.emit(
            indent, f"if {w.next_group()} is None: {result} = {_tuple(built) if built else '()'}"
        )
        w.emit(indent, "else:")
        inner = indent + 1
    values = [w.value(m, True, inner) for m in members]
    x = w.name("x")
    w.emit(inner, f"{x} = {item}({', '.join(values)})")
    if index + 1 < len(slots):
        _emit_slots(w, slots, index + 1, item, [*built, x], result, inner)
    else:
        w.emit(inner, f"{result} = {_tuple([*built, x])}")
    if may_be_blank:
        w.pattern.append(f"| {{{slots[-1][-1].end - members[0].start + 1}}})")


def _slots(layout: Layout, name: str) -> list[list[Field]]:
    """The slots of group `name`, which must be one run of fields in slot order."""
    fields = [f for f in layout.fields if f.group == name]
    first = layout.fields.index(fields[0])
    if layout.fields[first : first + len(fields)] != tuple(fields):
        raise _NoFastPath
    slots: list[list[Field]] = []
    for f in fields:
        if f.slot != len(slots) and f.slot != len(slots) + 1:
            raise _NoFastPath
        if f.slot == len(slots) + 1:
            slots.append([])
        slots[-1].append(f)
    if any(m.status is Status.M for slot in slots[1:] for m in slot):
        raise _NoFastPath  # a mandatory later slot: left to the precise parser
    return slots


def _write(layout: Layout, date_converters: Mapping[Field, Callable[[str], Any]]) -> _Writer:
    w = _Writer(date_converters)
    kwargs: list[str] = []
    for f in layout.fields:
        if f.lenient:
            raise _NoFastPath
        if f.kind is Kind.CONST:
            assert f.const is not None
            w.pattern.append(re.escape(f.const))
        elif f.kind is Kind.FILLER:
            w.pattern.append(f" {{{f.width}}}")
        elif f.group is None:
            kwargs.append(f"{f.attr}={w.value(f, f.status is Status.M, 1)}")
        elif f.slot == 1 and f is next(g for g in layout.fields if g.group == f.group):
            result = w.name("t")
            _emit_slots(w, _slots(layout, f.group), 0, w.const(GROUP_ITEMS[f.group]), [], result, 1)
            kwargs.append(f"{f.group}={result}")
    w.lines.append(f"    return _Struct({', '.join(kwargs)})")
    return w


def compile_fast_parser(
    layout: Layout, date_converters: Mapping[Field, Callable[[str], Any]]
) -> Callable[[str], Record] | None:
    """A fast parser for `layout`, or None when the layout has no fast path (lenient fields,
    secrets). `date_converters` are the precise path's converters of its DATE fields; they refuse
    a text with ValueError. The parser raises `Bail` and nothing else on a record it is unsure
    of."""
    try:
        w = _write(layout, date_converters)
    except _NoFastPath:
        return None
    pattern = "".join(w.pattern)
    unpack = [f"    {', '.join(w.groups)}, = _m.groups()"] if w.groups else []
    src = "\n".join(
        [
            "def parse(s):",
            "    _m = _match(s)",
            "    if _m is None: raise _Bail",
            *unpack,
            *w.lines,
        ]
    )
    namespace: dict[str, Any] = {
        "_match": re.compile(pattern, re.DOTALL).fullmatch,
        "_Bail": Bail,
        "_Decimal": Decimal,
        "_SMALL": _SMALL,
        "_Struct": RECORD_TYPES[layout.record_type],
        **w.consts,
    }
    exec(compile(src, f"<fast parser {layout.record_type}>", "exec"), namespace)  # noqa: S102 - source generated from our own layouts only
    parser: Callable[[str], Record] = namespace["parse"]
    parser.__doc__ = f"Pattern: {pattern}\n\n{src}\n"
    return parser


def by_prefix(parsers: Mapping[str, Callable[[str], Record]]) -> dict[str, Callable[[str], Record]]:
    """The parsers keyed by a record's first two characters, for one dict lookup per record.

    `parsers` maps identifiers ("Q1", "A") to parsers; a one-character identifier is entered once
    for every printable second character. Two-character identifiers win over one-character ones.
    """
    table = {ident: parse for ident, parse in parsers.items() if len(ident) == 2}
    for ident, parse in parsers.items():
        if len(ident) == 1:
            for ch in map(chr, range(0x20, 0x7F)):
                table.setdefault(ident + ch, parse)
        elif len(ident) != 2:
            raise ValueError(f"identifier {ident!r}: fast dispatch takes 1 or 2 characters")
    return table


def record_pattern(layout: Layout) -> str | None:
    """The regular expression `compile_fast_parser` would match `layout`'s records with (its
    look-behinds anchored at `\\A`), or None when the layout has no fast path. The checks it
    leaves to Python (allowed values, ranges, impossible dates) are the caller's to make."""
    dates: dict[Field, Callable[[str], Any]] = {
        f: str for f in layout.fields if f.kind is Kind.DATE
    }
    try:
        return "".join(_write(layout, dates).pattern)
    except _NoFastPath:
        return None
