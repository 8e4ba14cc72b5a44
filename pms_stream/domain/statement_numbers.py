"""Periodic monthly statement numbers: `DDCYPMMXXX` decoded and checked.

DD district, CY calendar year (2 digits), the letter P, MM month of the statement, XXX sequence
(alphanumeric). Used by the assembler's consistency checks and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StatementNumber", "decode_statement_number"]


@dataclass(frozen=True, slots=True)
class StatementNumber:
    """A decoded periodic monthly statement number."""

    district: str  # 2 digits
    year: int  # 2000-2099
    month: int  # 1-12
    sequence: str  # 3 alphanumeric characters


def decode_statement_number(number: str) -> StatementNumber:
    """Decode `DDCYPMMXXX`; raises ValueError naming what is wrong.

    >>> decode_statement_number("2726P10001")
    StatementNumber(district='27', year=2026, month=10, sequence='001')
    """
    if len(number) != 10:
        raise ValueError(f"a statement number is 10 characters (DDCYPMMXXX), not {len(number)}")
    district, year, p = number[0:2], number[2:4], number[4]
    month, sequence = number[5:7], number[7:]
    if not district.isdigit():
        raise ValueError(f"district {district!r} is not 2 digits")
    if not year.isdigit():
        raise ValueError(f"calendar year {year!r} is not 2 digits")
    if p != "P":
        raise ValueError(f"position 5 must be 'P', not {p!r}")
    if not month.isdigit() or not 1 <= int(month) <= 12:
        raise ValueError(f"month {month!r} is not 01-12")
    if not (sequence.isalnum() and sequence.isascii()):
        raise ValueError(f"sequence {sequence!r} is not alphanumeric")
    return StatementNumber(district, 2000 + int(year), int(month), sequence)
