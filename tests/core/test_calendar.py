"""The payment calendar against CBP's published periodic monthly statement dates.

Sources (the web is not reachable from the build machines; these were read through the project's
search tool and are written down here):
- 2025: CBP, CSMS #63430997 "Periodic Monthly Statement (PMS) Dates for 2025" (17 Dec 2024), as
  reproduced by GRF Customs Brokers (grf-chb.com/payments-1) and cited by C.H. Robinson's client
  advisory of 18 Dec 2024: every month's "11th workday" and "15th workday" below.
- 2026: CBP's own announcement could not be retrieved. The same page's 2026 table
  (grf-chb.com/periodicmonthlystatement) agrees with the dates below for March to June and
  August to December. It differs in three months, each time where it counts a federal holiday
  as a working day: January (19 Jan / 23 Jan; 19 Jan is Martin Luther King Jr. Day), February
  (16 Feb / 20 Feb; 16 Feb is Washington's Birthday) and July (15 Jul / 21 Jul; 3 Jul is
  Independence Day observed, 4 Jul being a Saturday). CBP is closed on those days, so the dates
  below are counted from the federal holidays for those three months (docs/back-office.md).
- Federal holidays (5 U.S.C. 6103, observed dates as published by OPM): 2025: Jan 1, Jan 20,
  Feb 17, May 26, Jun 19, Jul 4, Sep 1, Oct 13, Nov 11, Nov 27, Dec 25. 2026: Jan 1, Jan 19,
  Feb 16, May 25, Jun 19, Jul 3 (Jul 4 is a Saturday), Sep 7, Oct 12, Nov 11, Nov 26, Dec 25.
"""

from __future__ import annotations

from datetime import date

import pytest

from pms_stream.domain.calendar import (
    PaymentMonth,
    federal_holidays,
    is_working_day,
    nth_working_day,
    working_days,
)

# (year, month): (11th working day, 15th working day)
PUBLISHED = {
    (2025, 1): (16, 23),
    (2025, 2): (18, 24),
    (2025, 3): (17, 21),
    (2025, 4): (15, 21),
    (2025, 5): (15, 21),
    (2025, 6): (16, 23),
    (2025, 7): (16, 22),
    (2025, 8): (15, 21),
    (2025, 9): (16, 22),
    (2025, 10): (16, 22),
    (2025, 11): (18, 24),
    (2025, 12): (15, 19),
    (2026, 1): (16, 23),
    (2026, 2): (17, 23),
    (2026, 3): (16, 20),
    (2026, 4): (15, 21),
    (2026, 5): (15, 21),
    (2026, 6): (15, 22),
    (2026, 7): (16, 22),
    (2026, 8): (17, 21),
    (2026, 9): (16, 22),
    (2026, 10): (16, 22),
    (2026, 11): (17, 23),
    (2026, 12): (15, 21),
}

FEDERAL_HOLIDAYS = {
    2025: [
        "01-01",
        "01-20",
        "02-17",
        "05-26",
        "06-19",
        "07-04",
        "09-01",
        "10-13",
        "11-11",
        "11-27",
        "12-25",
    ],
    2026: [
        "01-01",
        "01-19",
        "02-16",
        "05-25",
        "06-19",
        "07-03",
        "09-07",
        "10-12",
        "11-11",
        "11-26",
        "12-25",
    ],
}


@pytest.mark.parametrize(("year", "month"), sorted(PUBLISHED))
def test_11th_and_15th_working_days_equal_the_published_dates(year: int, month: int) -> None:
    print_day, due_day = PUBLISHED[year, month]
    assert nth_working_day(year, month, 11) == date(year, month, print_day)
    assert nth_working_day(year, month, 15) == date(year, month, due_day)
    pm = PaymentMonth(year, month)
    assert pm.print_date == date(year, month, print_day)
    assert pm.due_date == date(year, month, due_day)


@pytest.mark.parametrize("year", sorted(FEDERAL_HOLIDAYS))
def test_federal_holidays_are_the_ones_checked(year: int) -> None:
    expected = [date.fromisoformat(f"{year}-{md}") for md in FEDERAL_HOLIDAYS[year]]
    # 2026-07-04 (a Saturday) is listed by the library too; it is no working day anyway
    got = [d for d in federal_holidays(year) if d.weekday() < 5]
    assert got == expected


def test_working_days_skip_weekends_and_holidays() -> None:
    assert not is_working_day(date(2026, 7, 3))  # Independence Day observed
    assert not is_working_day(date(2026, 7, 4))  # Saturday
    assert is_working_day(date(2026, 7, 6))
    assert not is_working_day(date(2025, 11, 27))  # Thanksgiving
    assert len(working_days(2026, 2)) == 19


def test_nth_working_day_out_of_range() -> None:
    with pytest.raises(ValueError, match="working days, not 25"):
        nth_working_day(2026, 2, 25)


def test_payment_month_parse_and_neighbours() -> None:
    assert PaymentMonth.parse("2026-01").previous == PaymentMonth(2025, 12)
    assert PaymentMonth.parse("2026-12").next == PaymentMonth(2027, 1)
    assert str(PaymentMonth.of(date(2026, 3, 9))) == "2026-03"
    for bad in ("2026-13", "2026-1", "26-01", "2026/01"):
        with pytest.raises(ValueError, match="month"):
            PaymentMonth.parse(bad)
