"""Expected output: the statements a correct parser must make of the generated records (the
oracle the tests compare `pms-stream parse` and the service with), from the `Spec`s, the options
and the bad inputs that landed on each statement.

Flow: month and inject (`Spec`s) -> **expected** -> model `Statement`s.
"""

from __future__ import annotations

from collections.abc import Iterable

from pms_stream.domain.entry_numbers import format_entry_number
from pms_stream.domain.fee_classes import fee_class
from pms_stream.domain.money import from_cents
from pms_stream.generator.options import CentTotals, GenerateOptions, Spec
from pms_stream.statements import checks
from pms_stream.statements.model import (
    Check,
    DailyStatement,
    FeeAmount,
    Source,
    Statement,
    Totals,
)
from pms_stream.statements.model import (
    DeletedEntry as DeletedEntryEvent,
)

__all__ = ["expected_statement"]


def _fees(fees: Iterable[tuple[str, int]]) -> list[FeeAmount]:
    return [FeeAmount(code, fee_class(code).name, from_cents(amount)) for code, amount in fees]


def _totals(t: CentTotals) -> Totals:
    return Totals(
        duty=from_cents(t.duty),
        tax=from_cents(t.tax),
        add=from_cents(t.add),
        cvd=from_cents(t.cvd),
        amount_due=from_cents(t.due),
        fees=_fees(t.fees),
    )


def _difference(final: CentTotals, pre: CentTotals) -> CentTotals:
    fin_fees, pre_fees = dict(final.fees), dict(pre.fees)
    codes = dict.fromkeys([*pre_fees, *fin_fees])
    return CentTotals(
        duty=final.duty - pre.duty,
        tax=final.tax - pre.tax,
        add=final.add - pre.add,
        cvd=final.cvd - pre.cvd,
        fees=tuple((c, fin_fees.get(c, 0) - pre_fees.get(c, 0)) for c in codes),
    )


def _expected_checks(s: Spec, diff: Totals | None, block: bool) -> list[Check]:
    """The checks the parser finds on a generated statement: the Y record's count and the
    rejected records where bad inputs landed on it, and the final's difference. Made by the
    same constructors the assembler calls (statements/checks.py)."""
    inner = s.count - 2  # the records between B and Y as generated
    found = [
        checks.record_count(inner, inner + s.extra) if s.rejected and block else None,
        checks.rejected_records(s.rejected),
        checks.final_difference(diff) if diff is not None else None,
    ]
    return [check for check in found if check is not None]


def expected_statement(s: Spec, o: GenerateOptions, file: str | None) -> Statement:
    block = o.framing == "block"
    diff = _totals(_difference(s.final, s.preliminary)) if s.final is not None else None
    if o.line_end == "none":
        source = Source(file=file, first_record=s.first + 1, last_record=s.last + 1)
    else:
        source = Source(file=file, first_line=s.first + 1, last_line=s.last + 1)
    deleted = [
        DeletedEntryEvent(dsn, entry, src, format_entry_number(entry))
        for dsn, entry, src in s.deleted
    ]
    return Statement(
        statement_number=s.number,
        status=s.status,
        payment_type=s.payment_type if block else None,
        filer_code=s.filer.code,
        importer_number=s.importer,
        client_branch=s.branch if block else None,
        district_port=s.filer.port if block else None,
        office_code=s.filer.office if block else None,
        print_date=s.print_date,
        due_date=s.due_date,
        process_date=s.process_date if block else None,
        daily_statements=[
            DailyStatement(
                number=d.number,
                district_port=d.port,
                filer_code=d.filer,
                importer_number=d.importer,
                print_date=d.printed,
                presentation_date=d.presented,
                duty=from_cents(d.duty),
                tax=from_cents(d.tax),
                add=from_cents(d.add),
                cvd=from_cents(d.cvd),
                amount_due=from_cents(d.due),
                fees=_fees(d.fees),
            )
            for d in s.daily
        ],
        preliminary_totals=_totals(s.preliminary),
        final_totals=_totals(s.final) if s.final is not None else None,
        difference=diff,
        deleted_entries=deleted,
        checks=_expected_checks(s, diff, block),
        framing=o.framing,
        record_count=s.count + s.extra,
        source=source,
    )
