"""Consistency checks run on every assembled statement. They report; they never reject.

Each failed check is a `Check(code, severity, message)` in the statement's `checks`. Codes are
stable strings (docs/checks.md lists them): downstream systems can alert on them.
- Arithmetic (severity error): each daily statement's amount due equals duty + tax + ADD + CVD
  + its fees; each set of totals' amount due equals its components; the totals equal the sums
  over the daily statements, component by component and fee class by fee class. On a final
  statement the daily statements carry final amounts, so they are summed against the final
  totals; the preliminary totals then differ by exactly the `difference` (reported as info).
- References (warning): entry number check digits and delete source codes (Q7), the statement
  number's format, its month and year against the print date and its district against the
  processing port, and the B record against Q3 (and Q5 against Q3).
- Framing (found by the assembler): Y record count, Y matching B, status present, rejected
  records.

Every `Check` is made here, by `run` or by one of the constructors below (`record_count`,
`trailer_mismatch`, `status_missing`, `rejected_records`, `final_difference`): the assembler and
the generator's oracle (generator/expected.py) both call them, so no check's text is written
twice.

Flow: assembler -> **checks** -> model.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final

from pms_stream.catair.records import BRecord, Q5Record, YRecord
from pms_stream.domain.delete_sources import is_delete_source
from pms_stream.domain.entry_numbers import format_entry_number, is_valid_entry_number
from pms_stream.domain.money import money_text as _money
from pms_stream.domain.statement_numbers import decode_statement_number
from pms_stream.statements import calendar_checks
from pms_stream.statements.model import Check, FeeAmount, HeaderDifference, Statement, Totals

__all__ = [
    "fee_sums",
    "final_difference",
    "header_differences",
    "record_count",
    "rejected_records",
    "run",
    "status_missing",
    "trailer_mismatch",
]

DAILY_AMOUNT_DUE: Final = "daily_amount_due"
TOTAL_AMOUNT_DUE: Final = "total_amount_due"
TOTALS_SUM: Final = "totals_sum"
FINAL_DIFFERENCE: Final = "final_difference"
ENTRY_CHECK_DIGIT: Final = "entry_check_digit"
DELETE_SOURCE: Final = "delete_source"
STATEMENT_NUMBER: Final = "statement_number"
STATEMENT_MONTH: Final = "statement_month"
STATEMENT_DISTRICT: Final = "statement_district"
HEADER_MISMATCH: Final = "header_mismatch"
RECORD_COUNT: Final = "record_count"
TRAILER_MISMATCH: Final = "trailer_mismatch"
STATUS_MISSING: Final = "status_missing"
REJECTED_RECORDS: Final = "rejected_records"

QX_ERROR_CODES: Final = frozenset({"MS1", "MS2", "MS3", "MS4", "MS5", "MS6"})
ZERO: Final = Decimal("0.00")
_COMPONENTS: Final = ("duty", "tax", "add", "cvd")


def fee_sums(fees: Iterable[FeeAmount]) -> dict[str, Decimal]:
    """Fee amounts added up by class code, in first-seen order."""
    sums: dict[str, Decimal] = {}
    for fee in fees:
        sums[fee.code] = sums.get(fee.code, ZERO) + fee.amount
    return sums


# ---- framing checks: found while the records are assembled ----------------------------------


def record_count(counted: int | None, held: int) -> Check | None:
    """The Y record's record count (None: blank) against the records its block holds."""
    if counted is None:
        return Check(RECORD_COUNT, "warning", "Y record has no record count")
    if counted != held:
        return Check(
            RECORD_COUNT, "error", f"Y record counts {counted} records; the block holds {held}"
        )
    return None


def trailer_mismatch(y: YRecord, b: BRecord) -> Check | None:
    """The Y record's port, filer code and application against its B record's."""
    if (y.district_port, y.filer_code, y.application_id) == (
        b.district_port,
        b.filer_code,
        b.application_id,
    ):
        return None
    return Check(
        TRAILER_MISMATCH,
        "warning",
        f"Y record {y.district_port}/{y.filer_code}/{y.application_id} does not "
        f"match its B record {b.district_port}/{b.filer_code}/{b.application_id}",
    )


def status_missing(status: str) -> Check:
    """The B record has no statement status; `status` is the one the records gave."""
    return Check(
        STATUS_MISSING, "warning", f"B record has no statement status; {status} by its records"
    )


def rejected_records(count: int) -> Check | None:
    """`count` records of the statement were rejected (None when none was)."""
    if not count:
        return None
    return Check(REJECTED_RECORDS, "error", f"{count} record(s) of this statement were rejected")


# ---- checks of an assembled statement ---------------------------------------------------------


def run(statement: Statement, b: BRecord | None, q5: Q5Record | None) -> list[Check]:
    """Every check on `statement`; `b` and `q5` are the records it came from (if any)."""
    found: list[Check] = []
    found.extend(_daily_arithmetic(statement))
    found.extend(_totals_arithmetic("preliminary", statement.preliminary_totals))
    if statement.final_totals is not None:
        found.extend(_totals_arithmetic("final", statement.final_totals))
    found.extend(_totals_against_daily(statement))
    changed = None if statement.difference is None else final_difference(statement.difference)
    if changed is not None:
        found.append(changed)
    found.extend(_entry_numbers(statement))
    found.extend(_statement_number(statement))
    found.extend(_headers(statement, b, q5))
    found.extend(calendar_checks.run(statement))  # payment calendar (issue 17)
    return found


def _daily_arithmetic(statement: Statement) -> Iterable[Check]:
    for daily in statement.daily_statements:
        fees = sum((f.amount for f in daily.fees), ZERO)
        expected = daily.duty + daily.tax + daily.add + daily.cvd + fees
        if expected != daily.amount_due:
            yield Check(
                DAILY_AMOUNT_DUE,
                "error",
                f"daily statement {daily.number}: amount due {_money(daily.amount_due)} "
                f"is not duty + tax + ADD + CVD + fees = {_money(expected)}",
            )


def _totals_arithmetic(which: str, totals: Totals) -> Iterable[Check]:
    fees = sum((f.amount for f in totals.fees), ZERO)
    expected = totals.duty + totals.tax + totals.add + totals.cvd + fees
    if expected != totals.amount_due:
        yield Check(
            TOTAL_AMOUNT_DUE,
            "error",
            f"{which} totals: amount due {_money(totals.amount_due)} is not duty + tax + "
            f"ADD + CVD + fees = {_money(expected)}",
        )


def _totals_against_daily(statement: Statement) -> Iterable[Check]:
    totals, which = (
        (statement.final_totals, "final")
        if statement.final_totals is not None
        else (statement.preliminary_totals, "preliminary")
    )
    daily = statement.daily_statements
    for component in (*_COMPONENTS, "amount_due"):
        summed = sum((getattr(d, component) for d in daily), ZERO)
        stated = getattr(totals, component)
        if summed != stated:
            yield Check(
                TOTALS_SUM,
                "error",
                f"{which} total {component} {_money(stated)} is not the sum over the "
                f"daily statements, {_money(summed)}",
            )
    summed_fees = fee_sums(f for d in daily for f in d.fees)
    stated_fees = fee_sums(totals.fees)
    for code in dict.fromkeys([*stated_fees, *summed_fees]):
        summed_fee = summed_fees.get(code, ZERO)
        stated_fee = stated_fees.get(code, ZERO)
        if summed_fee != stated_fee:
            yield Check(
                TOTALS_SUM,
                "error",
                f"{which} total of fee class {code} {_money(stated_fee)} is not the sum "
                f"over the daily statements, {_money(summed_fee)}",
            )


def final_difference(diff: Totals) -> Check | None:
    """The final-minus-preliminary `diff` (info): every component and fee class that changed,
    or None when nothing did."""
    changed = [
        f"{c} {_money(getattr(diff, c))}"
        for c in (*_COMPONENTS, "amount_due")
        if getattr(diff, c) != ZERO
    ]
    changed += [f"fee class {f.code} {_money(f.amount)}" for f in diff.fees if f.amount != ZERO]
    if not changed:
        return None
    return Check(FINAL_DIFFERENCE, "info", "final differs from preliminary: " + ", ".join(changed))


def _entry_numbers(statement: Statement) -> Iterable[Check]:
    for entry in statement.deleted_entries:
        if not is_valid_entry_number(entry.entry_number):
            yield Check(
                ENTRY_CHECK_DIGIT,
                "warning",
                f"deleted entry {format_entry_number(entry.entry_number)} on daily "
                f"statement {entry.daily_statement} has a wrong check digit or shape",
            )
        if not is_delete_source(entry.delete_source):
            yield Check(
                DELETE_SOURCE,
                "warning",
                f"deleted entry {format_entry_number(entry.entry_number)} on daily "
                f"statement {entry.daily_statement}: delete source {entry.delete_source!r} is "
                f"not a team number (NNN), ENC, BKR or ABI",
            )


def _statement_number(statement: Statement) -> Iterable[Check]:
    try:
        number = decode_statement_number(statement.statement_number)
    except ValueError as exc:
        yield Check(
            STATEMENT_NUMBER,
            "warning",
            f"statement number {statement.statement_number} is not DDCYPMMXXX: {exc}",
        )
        return
    printed = statement.print_date
    month_index = number.year * 12 + number.month - 1
    printed_index = printed.year * 12 + printed.month - 1
    if printed_index - month_index not in (0, 1):
        yield Check(
            STATEMENT_MONTH,
            "warning",
            f"statement number {statement.statement_number} is for "
            f"{number.year}-{number.month:02d} but the statement printed on {printed}",
        )
    port = statement.district_port
    if port is not None and port[:2] != number.district:
        yield Check(
            STATEMENT_DISTRICT,
            "warning",
            f"statement number district {number.district} is not the processing "
            f"district/port {port}'s district",
        )


# The header values B and Q3 both carry, with what the reports call them. The JSON shows Q3's
# value; the detail and deleted-entries reports (the chapter's tables for Figures 1 and 4) show
# B's statement number, print date and filer code, and Q3's importer (those tables never take
# it from B). See docs/spec-decisions.md.
_HEADER_FIELDS: Final = (
    ("statement_number", "statement number"),
    ("print_date", "print date"),
    ("filer_code", "filer code"),
    ("importer_number", "importer number"),
)
B_SHOWN_ON_FIGURES_1_AND_4: Final = frozenset({"statement_number", "print_date", "filer_code"})


def header_differences(statement: Statement, b: BRecord | None) -> list[HeaderDifference]:
    """The header values on which the B record and Q3 (the statement's own fields) disagree,
    when both carry one."""
    if b is None:
        return []
    found: list[HeaderDifference] = []
    for name, _ in _HEADER_FIELDS:
        theirs, ours = getattr(b, name), getattr(statement, name)
        if theirs is not None and ours is not None and theirs != ours:
            found.append(HeaderDifference(name, "Q3", str(ours), str(theirs)))  # type: ignore[arg-type]
    return found


def _headers(statement: Statement, b: BRecord | None, q5: Q5Record | None) -> Iterable[Check]:
    labels = dict(_HEADER_FIELDS)
    for diff in header_differences(statement, b):
        where = (
            "the detail and deleted-entries reports show B's (Figures 1 and 4)"
            if diff.field in B_SHOWN_ON_FIGURES_1_AND_4
            else "every report shows Q3's"
        )
        yield Check(
            HEADER_MISMATCH,
            "warning",
            f"B {labels[diff.field]} {diff.b} does not match Q3's {diff.q3}: the statement "
            f"shows Q3's; {where}",
        )
    pairs: list[tuple[str, object, object]] = []
    if b is not None and b.statement_status is not None:
        pairs.append(
            (
                "B statement status",
                {"P": "preliminary", "F": "final"}[b.statement_status],
                statement.status,
            )
        )
    if q5 is not None:
        pairs += [
            ("Q5 statement number", q5.statement_number, statement.statement_number),
            ("Q5 filer code", q5.filer_code, statement.filer_code),
        ]
    for what, theirs, ours in pairs:
        if theirs is not None and theirs != ours:
            yield Check(
                HEADER_MISMATCH,
                "warning",
                f"{what} {theirs} does not match the statement's {ours} (Q3)",
            )
