"""The values the fast block path (fastblock.py) writes, cached by their record text: dates as
ISO text, fee class names as JSON, statement numbers decoded, money from integer cents, and
whether a statement's dates would fail a calendar check; fees' JSON heads by code.

Flow: framing -> fast block (**its values**) -> JSON lines; the assembler decides the rest.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Final

import msgspec

from pms_stream.domain.calendar import PaymentMonth
from pms_stream.domain.fee_classes import fee_class
from pms_stream.domain.money import cents_text as money
from pms_stream.domain.statement_numbers import StatementNumber, decode_statement_number

__all__ = [
    "DATES",
    "FEE_HEADS",
    "FEE_NAMES",
    "MISSING",
    "NUMBERS",
    "ZEROS",
    "json_text",
    "money",
    "off_calendar",
]

ZEROS: Final = "0" * 11  # a blank amount is 0.00 (the assembler's ZERO)
MISSING: Final = ""  # a date text the codec refuses


def _day(text: str) -> str:
    """MMDDYY as ISO YYYY-MM-DD (what msgspec writes for the codec's date), "" when impossible."""
    try:
        return date(2000 + int(text[4:6]), int(text[0:2]), int(text[2:4])).isoformat()
    except ValueError:
        return MISSING


class _Dates(dict[str, str]):
    def __missing__(self, text: str) -> str:
        iso = _day(text)
        if len(self) < 4096:
            self[text] = iso
        return iso


DATES: Final = _Dates()


@functools.lru_cache(maxsize=4096)
def off_calendar(print_date: str, due_date: str, final: bool) -> bool:
    """Whether a calendar check (statements/calendar_checks.py) would fire: the due date not the
    15th working day of its payment month, or a preliminary's print date not the 11th."""
    month = PaymentMonth.of(date.fromisoformat(due_date))
    if date.fromisoformat(due_date) != month.due_date:
        return True
    return not final and date.fromisoformat(print_date) != month.print_date


class _FeeNames(dict[str, str]):
    def __missing__(self, code: str) -> str:
        name = msgspec.json.encode(fee_class(code).name).decode()
        self[code] = name
        return name


FEE_NAMES: Final = _FeeNames()


class _FeeHeads(dict[str, str]):
    def __missing__(self, code: str) -> str:
        head = f'{{"code":"{code}","name":{FEE_NAMES[code]},"amount":"'
        self[code] = head
        return head


# A fee's JSON up to its amount, by its (trimmed) code: the code is letters and digits.
FEE_HEADS: Final = _FeeHeads()


class _Numbers(dict[str, StatementNumber | None]):
    """Statement numbers decoded by their first 7 characters (district, year, "P", month); the
    last 3, the sequence, are checked apart. None: `decode_statement_number` refuses them."""

    def __missing__(self, head: str) -> StatementNumber | None:
        try:
            found: StatementNumber | None = decode_statement_number(head + "000")
        except ValueError:
            found = None
        if len(self) < 4096:
            self[head] = found
        return found


NUMBERS: Final = _Numbers()


def json_text(value: str) -> str:
    """A JSON string or null for a right-trimmed field (the block holds no quote or backslash)."""
    value = value.rstrip(" ")
    return f'"{value}"' if value else "null"
