"""Payment calendar checks on every assembled statement (informational; they never reject).

- `due_date_calendar`: the due date is not the 15th working day of its payment month (the month
  of the due date), for example a date counted without a federal holiday.
- `print_date_calendar`: a preliminary statement's print date is not the 11th working day of
  its payment month.

A final statement's print date is not checked: CBP generates the final around the due date
(the day after the ACH debit is sent, or when the ACH credit is received). Calendar rules and
their sources: docs/back-office.md. Called from `checks.run` (one hook line).

Flow: assembler -> checks (-> **calendar_checks**) -> model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from pms_stream.domain.calendar import DUE_WORKING_DAY, PRINT_WORKING_DAY, PaymentMonth
from pms_stream.statements.model import Check, Statement

__all__ = ["DUE_DATE_CALENDAR", "PRINT_DATE_CALENDAR", "run"]

DUE_DATE_CALENDAR: Final = "due_date_calendar"
PRINT_DATE_CALENDAR: Final = "print_date_calendar"


def run(statement: Statement) -> Iterable[Check]:
    """The calendar checks that fail on `statement`."""
    month = PaymentMonth.of(statement.due_date)
    expected_due = month.due_date
    if statement.due_date != expected_due:
        yield Check(
            DUE_DATE_CALENDAR,
            "info",
            f"due date {statement.due_date} is not the {DUE_WORKING_DAY}th working day of "
            f"payment month {month}, {expected_due}",
        )
    if statement.status == "preliminary" and statement.print_date != month.print_date:
        yield Check(
            PRINT_DATE_CALENDAR,
            "info",
            f"preliminary print date {statement.print_date} is not the {PRINT_WORKING_DAY}th "
            f"working day of payment month {month}, {month.print_date}",
        )
