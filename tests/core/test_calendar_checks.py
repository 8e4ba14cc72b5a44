"""The payment calendar checks on a statement (informational): due date not the 15th working day
of its payment month; a preliminary's print date not the 11th."""

from __future__ import annotations

from datetime import date

import msgspec

from pms_stream.statements import calendar_checks
from pms_stream.statements.model import Statement
from tests.core import statements_by_hand as sh

PRELIMINARY = msgspec.convert(sh.EXPECTED_PRELIMINARY, Statement, strict=False)


def codes(statement: Statement) -> list[str]:
    return [c.code for c in calendar_checks.run(statement)]


def test_statement_on_the_calendar_passes() -> None:
    # 2026-10: 11th working day 2026-10-16, 15th 2026-10-22 (Columbus Day 2026-10-12 skipped)
    assert PRELIMINARY.print_date == date(2026, 10, 16)
    assert PRELIMINARY.due_date == date(2026, 10, 22)
    assert codes(PRELIMINARY) == []


def test_due_date_counted_without_the_holiday_is_reported() -> None:
    wrong = msgspec.structs.replace(PRELIMINARY, due_date=date(2026, 10, 21))
    (check,) = calendar_checks.run(wrong)
    assert check.code == "due_date_calendar"
    assert check.severity == "info"
    assert check.message == (
        "due date 2026-10-21 is not the 15th working day of payment month 2026-10, 2026-10-22"
    )


def test_preliminary_print_date_not_the_11th_is_reported() -> None:
    wrong = msgspec.structs.replace(PRELIMINARY, print_date=date(2026, 10, 15))
    (check,) = calendar_checks.run(wrong)
    assert check.code == "print_date_calendar"
    assert "2026-10-15 is not the 11th working day of payment month 2026-10, 2026-10-16" in (
        check.message
    )


def test_final_print_date_is_not_checked() -> None:
    final = msgspec.structs.replace(PRELIMINARY, status="final", print_date=date(2026, 10, 21))
    assert codes(final) == []
