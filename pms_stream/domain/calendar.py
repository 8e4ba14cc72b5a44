"""The periodic monthly statement payment calendar: U.S. federal working days, the n-th working
day of a month, and a statement's expected preliminary print date and due date.

Working days are Monday to Friday except the U.S. federal (public) holidays of 5 U.S.C. 6103,
with their observed dates (a Saturday holiday is observed on the Friday before, a Sunday one on
the Monday after), taken from the `holidays` library (country "US", no subdivision, category
"public"); no hand-typed holiday table. One-off closures by executive order (for example
2025-01-09, 2025-12-24 and 2025-12-26) are not in that category and are not excluded: CBP's
schedule is published in advance and counts them as working days (docs/back-office.md).

Duties on entries released in one month are paid on the periodic monthly statement of the
following month, the *payment month*: its preliminary statement is printed on the 11th working
day and payment is due (ACH debit, or ACH credit received) on the 15th working day of that month.
The payment month of a statement is the month of its due date; the statement number's MM names
the same month according to CBP's published schedule (docs/back-office.md explains the decision).

Pure and cached per year. Used by the statement checks (`statements/calendar_checks.py`), the
forecast and the missing-statement watchdog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Final

import holidays

__all__ = [
    "DUE_WORKING_DAY",
    "PRINT_WORKING_DAY",
    "PaymentMonth",
    "federal_holidays",
    "is_working_day",
    "nth_working_day",
    "working_days",
]

PRINT_WORKING_DAY: Final = 11  # the preliminary statement's print date
DUE_WORKING_DAY: Final = 15  # payment due: ACH debit, or ACH credit received
_ONE_DAY: Final = timedelta(days=1)


@cache
def federal_holidays(year: int) -> dict[date, str]:
    """The U.S. federal holidays of `year` (observed dates included), date -> name."""
    table = holidays.country_holidays("US", years=year, categories=("public",))
    return {d: name for d, name in sorted(table.items()) if d.year == year}


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a federal holiday (observed)."""
    return day.weekday() < 5 and day not in federal_holidays(day.year)


@cache
def working_days(year: int, month: int) -> tuple[date, ...]:
    """Every working day of the month, in order."""
    day = date(year, month, 1)
    out: list[date] = []
    while day.month == month:
        if is_working_day(day):
            out.append(day)
        day += _ONE_DAY
    return tuple(out)


def nth_working_day(year: int, month: int, n: int) -> date:
    """The n-th (1-based) working day of the month; ValueError when the month has fewer."""
    days = working_days(year, month)
    if not 1 <= n <= len(days):
        raise ValueError(f"{year}-{month:02d} has {len(days)} working days, not {n}")
    return days[n - 1]


@dataclass(frozen=True, slots=True, order=True)
class PaymentMonth:
    """The month a periodic monthly statement is printed and paid in."""

    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> PaymentMonth:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> PaymentMonth:
        """`YYYY-MM` -> PaymentMonth; ValueError otherwise."""
        year, sep, month = text.partition("-")
        if not (sep and len(year) == 4 and len(month) == 2 and year.isdigit()):
            raise ValueError(f"a month is YYYY-MM, not {text!r}")
        if not month.isdigit() or not 1 <= int(month) <= 12:
            raise ValueError(f"month {month!r} of {text!r} is not 01-12")
        return cls(int(year), int(month))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def previous(self) -> PaymentMonth:
        return PaymentMonth(self.year - 1, 12) if self.month == 1 else self._plus(-1)

    @property
    def next(self) -> PaymentMonth:
        return PaymentMonth(self.year + 1, 1) if self.month == 12 else self._plus(1)

    def _plus(self, months: int) -> PaymentMonth:
        return PaymentMonth(self.year, self.month + months)

    @property
    def print_date(self) -> date:
        """The expected print date of its preliminary statements: the 11th working day."""
        return nth_working_day(self.year, self.month, PRINT_WORKING_DAY)

    @property
    def due_date(self) -> date:
        """The payment due date: the 15th working day."""
        return nth_working_day(self.year, self.month, DUE_WORKING_DAY)
