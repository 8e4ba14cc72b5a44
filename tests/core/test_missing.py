"""The missing-statement rule: after the 11th working day of a payment month, every payer with a
statement due in the previous month and none due in this one; the reroute command line; SSN-
shaped importer numbers masked."""

from __future__ import annotations

import shlex
from datetime import date, datetime

import msgspec

from pms_stream.missing.detect import PayerIndex
from pms_stream.statements.model import Statement
from tests.core import statements_by_hand as sh

# the hand-made preliminary: filer B76, payment type 6, port 2704, due 2026-10-22
OCTOBER = msgspec.convert(sh.EXPECTED_PRELIMINARY, Statement, strict=False)
# November 2026: 11th working day 2026-11-17 (Veterans Day 11-11 skipped), 15th 2026-11-23


def statement(**changes: object) -> Statement:
    return msgspec.structs.replace(OCTOBER, **changes)


def test_missing_only_after_the_11th_working_day() -> None:
    index = PayerIndex(datetime(2026, 11, 1))
    index.add(OCTOBER)
    assert index.missing(datetime(2026, 11, 17, 23, 59)) == []
    (event,) = index.missing(datetime(2026, 11, 18, 0, 1))
    assert (event.payer, event.payer_kind, event.payment_month) == ("B76", "filer", "2026-11")
    assert (event.expected_print_date, event.due_date) == (date(2026, 11, 17), date(2026, 11, 23))
    assert event.previous_statements == ["2726P10001"]
    assert event.key == "statement_missing|B76|2726P10001|2026-11"
    assert shlex.split(event.reroute_command) == [
        "pms-stream", "reroute", "--filer", "B76", "--port", "2704", "--office", "01",
        "--date", "2026-11-17", "--preliminary",
    ]  # fmt: skip


def test_a_statement_in_the_current_month_means_nothing_is_missing() -> None:
    index = PayerIndex(datetime(2026, 11, 1))
    index.add(OCTOBER)
    index.add(statement(statement_number="2726P11001", due_date=date(2026, 11, 23)))
    assert index.missing(datetime(2026, 11, 20)) == []


def test_importer_payers_are_masked_when_ssn_shaped() -> None:
    index = PayerIndex(datetime(2026, 11, 1))
    index.add(statement(payment_type="7", importer_number="123-45-6789"))
    index.add(statement(payment_type="7", importer_number="12-3456789AB", statement_number="X"))
    events = index.missing(datetime(2026, 11, 18))
    assert sorted(e.payer for e in events) == ["***-**-****", "12-3456789AB"]
    assert all("123-45-6789" not in msgspec.json.encode(e).decode() for e in events)
    assert any("--importer 12-3456789AB" in e.reroute_command for e in events)


def test_older_months_are_evicted_and_not_reported() -> None:
    index = PayerIndex(datetime(2026, 12, 1))
    assert not index.add(OCTOBER)  # due in October: before the previous month (November)
    index = PayerIndex(datetime(2026, 11, 1))
    index.add(OCTOBER)
    assert index.missing(datetime(2026, 12, 16)) == []  # December: October is two months back
    assert len(index) == 0
