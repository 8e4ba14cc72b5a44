"""Generated fast parsers: one straight-line function per layout, compiled at import.

`codec._Plan.parse` is the authority: it checks field by field and names the first problem. It
is also slow (a converter call per field). This module writes, from the same layouts, one Python
function per record type that slices, checks and converts every field inline, like
`collections.namedtuple` and `dataclasses` generate their methods. It accepts only records whose
every field passes the cheap inline checks; on any doubt it raises `Bail` and the codec falls back
to the authority, which then either accepts the record or explains the rejection. A property test
(tests/core/test_fastpath.py) holds the two to the same answers.

Flow: framing -> codec (**fast path**, else precise path) -> assembler.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pms_stream.catair.fields import Cls, Field, Kind, Layout, Status
from pms_stream.catair.records import RECORD_TYPES, DeletedEntry, Fee, Record

__all__ = ["Bail", "compile_fast_parser"]


class Bail(Exception):  # noqa: N818 - a signal, not an error: "ask the precise parser"
    """The fast path is not sure; the precise parser decides."""


_BAIL = Bail()


def _bail() -> None:
    raise _BAIL


_GROUP_ITEMS: dict[str, type[Fee] | type[DeletedEntry]] = {"fees": Fee, "entries": DeletedEntry}


def _class_test(cls: Cls, var: str) -> str:
    """An expression true when non-empty, right-trimmed `var` satisfies `cls` (ASCII input)."""
    if cls is Cls.N:
        return f"{var}.isdigit()"
    if cls is Cls.A:
        return f"({var}.isalpha() and {var}.isupper())"
    if cls is Cls.AN:
        return f"({var}.isalnum() and ({var}.isupper() or {var}.isdigit()))"
    return "True"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self._n = 0

    def const(self, value: Any) -> str:
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return name

    def var(self) -> str:
        self._n += 1
        return f"v{self._n}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def value(self, f: Field, indent: int, required: bool) -> str:
        """Emit code that leaves the converted value of `f` in a new variable; return its name.

        `required`: blank is not acceptable here (mandatory field, or member of a filled slot).
        """
        sl = f"s[{f.start - 1}:{f.end}]"
        v = self.var()
        if f.kind is Kind.TEXT:
            self.emit(indent, f"{v} = {sl}.rstrip(' ')")
            test = _class_test(f.cls, v)
            if f.values is not None:
                test = f"{test} and {v} in {self.const(f.values)}"
            if required:
                self.emit(indent, f"if not ({v} and {test}): _bail()")
            else:
                self.emit(indent, f"if not {v}: {v} = None")
                self.emit(indent, f"elif not ({test}): _bail()")
        elif f.kind is Kind.AMOUNT:
            t = self.var()
            units = f.width - 2
            self.emit(indent, f"{t} = {sl}")
            decimal = f"_Decimal({t}[:{units}] + '.' + {t}[{units}:])"
            self.emit(indent, f"if {t}.isdigit(): {v} = {decimal}")
            if required:
                self.emit(indent, "else: _bail()")
            else:
                self.emit(indent, f"elif {t} == {' ' * f.width!r}: {v} = None")
                self.emit(indent, "else: _bail()")
        elif f.kind is Kind.DATE:
            # Dates repeat: the precise converter validates each new text once and caches it.
            cache = self.const({})
            convert = self.const(None)  # filled in by compile_fast_parser
            self._date_fields.append((convert, f))
            t = self.var()
            self.emit(indent, f"{t} = {sl}")
            self.emit(indent, f"{v} = {cache}.get({t})")
            self.emit(indent, f"if {v} is None:")
            if required:
                self.emit(indent + 1, f"if {t} == '      ': _bail()")
            self.emit(indent + 1, f"{v} = {convert}({t})")
            self.emit(indent + 1, f"if {v} is not None and len({cache}) < 4096: {cache}[{t}] = {v}")
        elif f.kind is Kind.INT:
            t = self.var()
            self.emit(indent, f"{t} = {sl}")
            low = f.minimum if f.minimum is not None else 0
            high = f.maximum if f.maximum is not None else 10**f.width - 1
            self.emit(indent, f"if {t}.isdigit():")
            self.emit(indent + 1, f"{v} = int({t})")
            self.emit(indent + 1, f"if not {low} <= {v} <= {high}: _bail()")
            if required:
                self.emit(indent, "else: _bail()")
            else:
                self.emit(indent, f"elif {t} == {' ' * f.width!r}: {v} = None")
                self.emit(indent, "else: _bail()")
        else:
            raise Bail  # kinds without a fast path (secrets) use the precise parser
        return v

    _date_fields: list[tuple[str, Field]]


def _emit_slots(w: _Writer, slots: list[list[Field]], index: int, item: str, items: str) -> None:
    """Slots fill from the first: slot i+1 is looked at only when slot i is filled; once a slot
    is blank, the rest of the group must be blank too (else the precise parser explains)."""
    members = slots[index]
    depth = 1 + index
    first, end, last = members[0].start - 1, members[-1].end, slots[-1][-1].end
    w.emit(depth, f"if s[{first}:{end}] != {' ' * (end - first)!r}:")
    values = [w.value(m, depth + 1, True) for m in members]
    w.emit(depth + 1, f"{items}.append({item}({', '.join(values)}))")
    if index + 1 < len(slots):
        _emit_slots(w, slots, index + 1, item, items)
    if index == 0 and members[0].status is Status.M:
        w.emit(depth, "else: _bail()")
    elif end < last:
        w.emit(depth, f"elif s[{end}:{last}] != {' ' * (last - end)!r}: _bail()")


def compile_fast_parser(
    layout: Layout, date_converters: dict[Field, Callable[[str], Any]]
) -> Callable[[str], Record] | None:
    """A fast parser for `layout`, or None when the layout has no fast path (lenient fields)."""
    if any(f.lenient or f.kind is Kind.SECRET for f in layout.fields):
        return None
    w = _Writer()
    w._date_fields = []
    struct = RECORD_TYPES[layout.record_type]
    ident_width = len(layout.identifier)
    kwargs: list[str] = []
    groups: dict[str, list[list[Field]]] = {}
    w.emit(1, "")
    for f in layout.fields:
        if f.kind is Kind.CONST:
            if f.start > ident_width:
                w.emit(1, f"if s[{f.start - 1}:{f.end}] != {f.const!r}: _bail()")
        elif f.kind is Kind.FILLER:
            w.emit(1, f"if s[{f.start - 1}:{f.end}] != {' ' * f.width!r}: _bail()")
        elif f.group is not None:
            assert f.slot is not None
            slots = groups.setdefault(f.group, [])
            if len(slots) < f.slot:
                slots.append([])
            slots[f.slot - 1].append(f)
        else:
            v = w.value(f, 1, f.status is Status.M)
            kwargs.append(f"{f.attr}={v}")
    for name, slots in groups.items():
        item = w.const(_GROUP_ITEMS[name])
        items = w.var()
        w.emit(1, f"{items} = []")
        _emit_slots(w, slots, 0, item, items)
        kwargs.append(f"{name}=tuple({items})")
    body = "\n".join(w.lines)
    src = f"def parse(s):\n{body}\n    return _Struct({', '.join(kwargs)})\n"
    namespace: dict[str, Any] = {"_bail": _bail, "_Decimal": Decimal, "_Struct": struct}
    namespace.update(w.consts)
    for name, f in w._date_fields:
        namespace[name] = date_converters[f]
    exec(compile(src, f"<fast parser {layout.record_type}>", "exec"), namespace)  # noqa: S102 - source generated from our own layouts only
    parser: Callable[[str], Record] = namespace["parse"]
    parser.__doc__ = src
    return parser
