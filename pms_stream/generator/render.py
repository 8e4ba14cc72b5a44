"""Rendering: each record type as a format string compiled from the layouts, filled with values
in layout order; with `validate`, every record is also built as a typed record, encoded by
`encode_record` and compared.

Flow: month (values) -> **render** -> records (80 ASCII bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Final

from pms_stream.catair.codec import encode_record, layout_of
from pms_stream.catair.fields import Field, Kind
from pms_stream.catair.records import RECORD_TYPES, DeletedEntry, Fee
from pms_stream.domain.money import from_cents

__all__ = ["Renderer", "mmddyy"]


_SPECS: Final = {Kind.TEXT: "<{w}", Kind.SECRET: "<{w}", Kind.AMOUNT: "0{w}d", Kind.INT: "0{w}d"}


class _Template:
    """One record type with `filled` slots of its repeated group, as a format string.

    Values go in layout order: text as str ("" for blank), amounts as int cents, dates as
    MMDDYY strings, whole numbers as int. `attrs` must name the layout's value fields in order,
    so a layout change that the generator does not follow fails at import, not in the output.
    """

    __slots__ = ("fields", "format", "record_type")
    fields: list[Field]
    format: Callable[..., str]
    record_type: str

    def __init__(self, record_type: str, attrs: tuple[str, ...], filled: int = 0) -> None:
        layout = layout_of(record_type)
        parts: list[str] = []
        self.fields = []
        for f in layout.fields:
            if f.kind is Kind.CONST:
                parts.append(f.const or "")
            elif f.kind is Kind.FILLER or (f.group is not None and (f.slot or 0) > filled):
                parts.append(" " * f.width)
            else:
                spec = "6" if f.kind is Kind.DATE else _SPECS[f.kind].format(w=f.width)
                parts.append(f"{{{len(self.fields)}:{spec}}}")
                self.fields.append(f)
        names = tuple(f.member or "" if f.group else f.attr or "" for f in self.fields)
        if names != attrs:
            raise TypeError(f"{record_type} template expects {attrs}, layout has {names}")
        self.record_type = record_type
        self.format = "".join(parts).format

    def typed(self, values: tuple[Any, ...]) -> Any:
        """The typed record these values make (for `validate`)."""
        kwargs: dict[str, Any] = {}
        groups: dict[str, list[dict[str, Any]]] = {}
        for f, given in zip(self.fields, values, strict=True):
            value = given
            if f.kind is Kind.AMOUNT:
                value = from_cents(int(given))
            elif f.kind is Kind.DATE:
                value = date(2000 + int(given[4:]), int(given[:2]), int(given[2:4]))
            elif f.kind is not Kind.INT:
                value = given or None
            if f.group is None:
                kwargs[f.attr or ""] = value
            else:
                slots = groups.setdefault(f.group, [])
                if len(slots) < (f.slot or 0):
                    slots.append({})
                slots[-1][f.member or ""] = value
        for name, slots in groups.items():
            item = Fee if name == "fees" else DeletedEntry
            kwargs[name] = tuple(item(**s) for s in slots)
        return RECORD_TYPES[self.record_type](**kwargs)


_FEE_ATTRS: Final = ("code", "amount")
_ENTRY_ATTRS: Final = ("entry_number", "delete_source")
_HEADER: Final = ("statement_number", "print_date", "due_date", "filer_code", "importer_number")
_AMOUNTS: Final = ("add", "cvd", "amount_due")


def _templates() -> dict[tuple[str, int], _Template]:
    t: dict[tuple[str, int], _Template] = {}
    plain: dict[str, tuple[str, ...]] = {
        "A": (
            "site_code",
            "filer_code",
            "password",
            "transmission_date",
            "application_id",
            "office_code",
            "transmitter_data",
        ),
        "B": (
            "district_port",
            "filer_code",
            "application_id",
            "statement_status",
            "statement_number",
            "print_date",
            "payment_type",
            "importer_number",
            "client_branch",
            "office_code",
            "remote_district_port",
            "remote_filer_code",
            "remote_office_code",
            "preparer_indicator",
            "filer_data",
        ),
        "Y": (
            "district_port",
            "filer_code",
            "application_id",
            "record_count",
            "office_code",
            "trailer_mark",
        ),
        "Z": ("site_code", "filer_code", "date", "office_code"),
        "Q1": (
            "daily_statement_number",
            "district_port",
            "filer_code",
            "importer_number",
            "print_date",
            "presentation_date",
            "duty",
            "tax",
        ),
        "Q2": _AMOUNTS,
        "Q3": (*_HEADER, "duty", "tax"),
        "Q4": _AMOUNTS,
        "Q5": (*_HEADER, "duty", "tax"),
        "Q6": _AMOUNTS,
    }
    for record_type, attrs in plain.items():
        t[record_type, 0] = _Template(record_type, attrs)
    for record_type in ("QA", "QE", "QJ"):
        for n in range(1, 6):
            t[record_type, n] = _Template(record_type, ("sequence", *_FEE_ATTRS * n), n)
    for n in range(1, 5):
        t["Q7", n] = _Template("Q7", ("daily_statement_number", *_ENTRY_ATTRS * n), n)
    return t


_TEMPLATES: Final = _templates()
_DATES: dict[date, str] = {}


def mmddyy(d: date) -> str:
    text = _DATES.get(d)
    if text is None:
        text = _DATES[d] = f"{d.month:02d}{d.day:02d}{d.year % 100:02d}"
    return text


class Renderer:
    """Renders records from templates; with `validate`, checks each against encode_record."""

    def __init__(self, *, validate: bool) -> None:
        self.validate = validate

    def __call__(self, record_type: str, *values: Any, filled: int = 0) -> bytes:
        template = _TEMPLATES[record_type, filled]
        text = template.format(*values)
        if len(text) != 80:
            raise ValueError(f"generator bug: {record_type} rendered {len(text)} characters")
        raw = text.encode("ascii")
        if self.validate:
            typed = encode_record(template.typed(values))
            if typed != raw:
                raise AssertionError(f"generator bug: {raw!r} is not {typed!r}")
        return raw

    def fee_records(self, record_type: str, fees: tuple[tuple[str, int], ...]) -> list[bytes]:
        out: list[bytes] = []
        for sequence, start in enumerate(range(0, len(fees), 5), 1):
            chunk = fees[start : start + 5]
            flat = [v for pair in chunk for v in pair]
            out.append(self(record_type, sequence, *flat, filled=len(chunk)))
        return out

    def deleted_records(self, deleted: list[tuple[str, str, str]]) -> list[bytes]:
        """Q7 records: the entries of one daily statement together, up to four a record."""
        out: list[bytes] = []
        i = 0
        while i < len(deleted):
            dsn = deleted[i][0]
            chunk: list[str] = []
            while i < len(deleted) and deleted[i][0] == dsn and len(chunk) < 8:
                chunk += deleted[i][1:]
                i += 1
            out.append(self("Q7", dsn, *chunk, filled=len(chunk) // 2))
        return out
