"""Hypothesis strategies that write valid records field by field, straight from the layouts."""

from __future__ import annotations

import string
from datetime import date

from hypothesis import strategies as st

from pms_stream.catair.fields import Cls, Field, Kind, Layout, Status
from pms_stream.catair.layouts import LAYOUTS

PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
_ALPHABETS = {
    Cls.A: string.ascii_uppercase,
    Cls.N: string.digits,
    Cls.AN: string.ascii_uppercase + string.digits,
    Cls.X: PRINTABLE,
}


def _text(f: Field, required: bool) -> st.SearchStrategy[str]:
    if f.values is not None:
        choices = sorted(f.values)
        value = st.sampled_from(choices)
    else:
        alphabet = _ALPHABETS[f.cls]
        value = st.text(alphabet, min_size=1, max_size=f.width)
        if f.cls is Cls.X:  # the value ends in a non-space; leading spaces are data
            value = value.filter(lambda v: v[-1] != " ")
    filled = value.map(lambda v: v.ljust(f.width))
    if required:
        return filled
    return st.one_of(st.just(" " * f.width), filled)


def _field(f: Field, required: bool) -> st.SearchStrategy[str]:
    blank = st.just(" " * f.width)
    if f.lenient:
        return st.text(PRINTABLE, min_size=f.width, max_size=f.width)
    if f.kind is Kind.AMOUNT:
        s = st.integers(0, 10**f.width - 1).map(lambda n: f"{n:0{f.width}d}")
    elif f.kind is Kind.DATE:
        s = st.dates(date(2000, 1, 1), date(2099, 12, 31)).map(lambda d: d.strftime("%m%d%y"))
    elif f.kind is Kind.INT:
        low = f.minimum if f.minimum is not None else 0
        high = f.maximum if f.maximum is not None else 10**f.width - 1
        s = st.integers(low, high).map(lambda n: f"{n:0{f.width}d}")
    elif f.kind is Kind.SECRET:
        s = st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=f.width).map(
            lambda v: v.ljust(f.width)
        )
    else:
        return _text(f, required)
    return s if required else st.one_of(blank, s)


@st.composite
def valid_record(draw: st.DrawFn, layout: Layout) -> str:
    """A valid 80-character record of `layout`."""
    out: list[str] = []
    filled_slots: dict[str, int] = {}
    for name, count in layout.groups.items():
        first_mandatory = any(
            f.group == name and f.slot == 1 and f.status is Status.M for f in layout.fields
        )
        filled_slots[name] = draw(st.integers(1 if first_mandatory else 0, count))
    for f in layout.fields:
        if f.kind is Kind.CONST:
            assert f.const is not None
            out.append(f.const)
        elif f.kind is Kind.FILLER:
            out.append(" " * f.width)
        elif f.group is not None:
            assert f.slot is not None
            if f.slot <= filled_slots[f.group]:
                out.append(draw(_field(f, True)))
            else:
                out.append(" " * f.width)
        else:
            out.append(draw(_field(f, f.status is Status.M)))
    return "".join(out)


any_valid_record = st.sampled_from(LAYOUTS).flatmap(valid_record)
