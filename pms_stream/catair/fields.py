"""The vocabulary of a record layout: fields, their classes, statuses and how values convert.

A layout (see `layouts.py`) is a tuple of `Field`s, each exactly as the CATAIR chapter prints it:
name, start and end (1-based, inclusive), class and status. Everything that touches positions —
the parser, the encoder, the error messages, the generated docs, the generator — reads them from
here. This module only describes; `codec.py` compiles the descriptions into parsers and encoders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = ["RECORD_LENGTH", "Cls", "Field", "Kind", "Layout", "Status"]

RECORD_LENGTH: Final = 80  # every CATAIR record: framing cuts, the codec reads, layouts fill it


class Cls(StrEnum):
    """Character class of a field, as the chapter's Length/Class column says."""

    A = "A"  # letters (upper case) and spaces used as padding
    N = "N"  # digits only
    AN = "AN"  # letters (upper case) and digits, left-justified, space padded
    X = "X"  # any printable ASCII character


class Status(StrEnum):
    """Status column of the chapter: mandatory, conditional, optional."""

    M = "M"
    C = "C"
    O = "O"  # noqa: E741 - the chapter's own letter


class Kind(StrEnum):
    """How the text of a field becomes a Python value (and back)."""

    CONST = "const"  # a fixed value, e.g. control identifier "Q"; not stored on the record
    FILLER = "filler"  # space fill; not stored; non-blank filler is rejected
    TEXT = "text"  # str, trailing spaces dropped; blank -> None
    AMOUNT = "amount"  # Decimal with two implied decimals; blank -> None
    DATE = "date"  # MMDDYY -> datetime.date (2000s); blank -> None
    INT = "int"  # unsigned integer; blank -> None
    SECRET = "secret"  # noqa: S105 - a kind name. A password: kept as Secret, never shown
    RAW = "raw"  # kept exactly as received (str of full width); validated later, see QR


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a record, as printed in the chapter's record table.

    `attr` is the attribute name on the typed record (None for constants and fillers).
    `group`/`slot`/`member` place a field in a repeated group: e.g. the third fee class code of
    a QA record is group "fees", slot 3, member "code". `values` restricts the accepted values;
    `minimum`/`maximum` bound an INT. A `lenient` field is stored exactly as received (a str of
    full width) and a bad value is recorded in the record's `problems` instead of raised: the QR
    fields the chapter answers with a QX error code.
    `note` explains where the project reads the chapter
    differently (shown in the docs).
    """

    title: str
    start: int
    end: int
    cls: Cls
    status: Status
    kind: Kind
    attr: str | None = None
    const: str | None = None
    values: frozenset[str] | None = None
    minimum: int | None = None
    maximum: int | None = None
    group: str | None = None
    slot: int | None = None
    member: str | None = None
    lenient: bool = False
    note: str | None = None

    @property
    def width(self) -> int:
        return self.end - self.start + 1

    @property
    def slice(self) -> slice:
        """Where the field sits in the record, as a Python slice (0-based, end excluded)."""
        return slice(self.start - 1, self.end)

    @property
    def positions(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"

    @property
    def name(self) -> str:
        """The name used in error messages: the attribute, or the group slot, or the title."""
        if self.group is not None:
            return f"{self.group}[{self.slot}].{self.member}"
        if self.attr is not None:
            return self.attr
        return self.title.lower().replace(" ", "_")

    @property
    def length_class(self) -> str:
        """The chapter's Length/Class column, e.g. "11N" or "12X"."""
        return f"{self.width}{self.cls.value}"


@dataclass(frozen=True, slots=True)
class Layout:
    """The layout of one record type: its identifier, title, direction and fields in order."""

    record_type: str
    title: str
    direction: str  # "input", "output" or "both"
    description: str
    fields: tuple[Field, ...]
    groups: dict[str, int] = field(default_factory=dict)  # group name -> number of slots

    @property
    def identifier(self) -> str:
        """The leading constants that identify the record, e.g. "Q1" or "A"."""
        ident = ""
        for f in self.fields:
            if f.kind is not Kind.CONST or f.const is None:
                break
            ident += f.const
        return ident

    def field(self, attr: str) -> Field:
        """The field that fills attribute `attr` (KeyError when the record has none)."""
        for f in self.fields:
            if f.attr == attr:
                return f
        raise KeyError(f"{self.record_type} has no field {attr!r}")

    def field_at(self, position: int) -> Field | None:
        """The field that holds 1-based `position`."""
        for f in self.fields:
            if f.start <= position <= f.end:
                return f
        return None
