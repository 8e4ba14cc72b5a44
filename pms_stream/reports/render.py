"""Render a `Statement` as the chapter's printed reports: pages of 54 lines of 132 characters.

- detail (Figure 1): one line per periodic daily statement;
- preliminary (Figure 2): the statement totals, one line per component and fee class;
- final (Figure 3): preliminary totals, final totals and their difference (final - preliminary);
- deleted (Figure 4): the entry summaries deleted after presentation, with the legend.

Every page repeats the nine-line header and the report's column headings; pages are numbered
from 1 within each report. Amounts follow the picture ZZZ,ZZZ,ZZ9.99, right-aligned in their 14
columns (the difference column: 18, so that any difference of two 11N amounts prints in full),
with a floating leading minus for negative values (`-1,234.56`); dates print MM/DD/YY. The
header's statement number, print date and filer code come from the B record on Figures 1 and 4
and from Q3 on Figures 2 and 3, as the chapter's tables say (`header_values`).
Only `Decimal` arithmetic is used. The columns come from `layout`; see docs/reports.md.

Flow: model -> **render** (layout) -> `pms-stream report`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Final, Literal, NamedTuple

from pms_stream.domain import payment_types
from pms_stream.domain.fee_classes import report_label
from pms_stream.reports import layout
from pms_stream.reports.layout import BLANK, PAGE_LINES, Field, Text, compose
from pms_stream.statements.checks import B_SHOWN_ON_FIGURES_1_AND_4
from pms_stream.statements.model import FeeAmount, Statement, Totals

__all__ = [
    "REPORT_KINDS",
    "HeaderValues",
    "Names",
    "Page",
    "ReportKind",
    "format_amount",
    "format_date",
    "header_values",
    "is_importer_statement",
    "render_deleted",
    "render_detail",
    "render_final",
    "render_preliminary",
    "render_statement",
    "reports_for",
    "statement_for_key",
    "sum_fees",
]

ReportKind = Literal["detail", "preliminary", "final", "deleted"]
HeaderSource = Literal["B", "Q3"]  # the record a report's header values come from
REPORT_KINDS: Final[tuple[ReportKind, ...]] = ("detail", "preliminary", "final", "deleted")
Names = Mapping[str, str]  # filer code or importer number -> the "Statement For" name
Page = list[str]  # PAGE_LINES lines of WIDTH characters, without line ends

ZERO: Final = Decimal("0.00")
DIFFERENCE_WIDTH: Final = layout.DIFFERENCE_AMOUNT.width


def format_amount(value: Decimal, width: int = layout.AMOUNT_WIDTH) -> str:
    """`value` in the picture ZZZ,ZZZ,ZZ9.99, right-aligned in `width` columns.

    A negative value carries a minus sign just before its first digit (`-1,234.56`); one that
    does not fit (in 14 columns: over 999,999,999.99, or negative past -99,999,999.99) fills the
    field with `*`.

    >>> format_amount(Decimal("1234.5"))
    '      1,234.50'
    >>> format_amount(Decimal("-0.07"))
    '         -0.07'
    """
    if not isinstance(value, Decimal):  # a float here would be a bug upstream
        raise TypeError(f"amounts are Decimal, not {type(value).__name__}")
    if value.is_zero():
        value = ZERO  # no "-0.00"
    return layout.Field(1, width, right=True).fit(f"{value:,.2f}").text


def format_date(value: date | None) -> str:
    """MM/DD/YY, or blanks when there is no date."""
    return value.strftime("%m/%d/%y") if value is not None else ""


def is_importer_statement(statement: Statement) -> bool:
    """Payment type 7 or 8 (batched by importer); without a B record (payment type unknown),
    a statement whose totals name an importer."""
    if statement.payment_type is not None:
        return payment_types.is_importer_statement(statement.payment_type)
    return bool(statement.importer_number)


def statement_for_key(statement: Statement) -> str:
    """The key of the "Statement For" name: the importer number on importer statements, else
    the filer code (broker statements, payment type 6)."""
    if is_importer_statement(statement) and statement.importer_number:
        return statement.importer_number
    return statement.filer_code


# ---- pages ------------------------------------------------------------------------------------

Top = Callable[[int], list[str]]  # page number -> the page's lines before its first row


class HeaderValues(NamedTuple):
    """The header values a report prints, and line 6's note on where they come from."""

    statement_number: str
    print_date: date
    filer_code: str
    note: str


_NOTE_LABELS: Final[Mapping[str, str]] = {
    "statement_number": "STATEMENT #",
    "print_date": "PRINT DATE",
    "filer_code": "BROKER/FILER#",
    "importer_number": "IMPRT REC#",
}


def header_values(statement: Statement, source: HeaderSource) -> HeaderValues:
    """The statement number, print date and filer code a report prints. The chapter's tables
    take them from the B record for Figures 1 and 4 (`source` "B") and from Q3 for Figures 2
    and 3 ("Q3"); the importer number always from Q3. When B and Q3 disagree
    (`header_differences`), the note says, for each value, which record it is from and what the
    other one says: "STATEMENT # FROM B, Q3 2726P10001; PRINT DATE FROM B, Q3 11/10/26"."""
    values = {
        "statement_number": statement.statement_number,
        "print_date": statement.print_date.isoformat(),
        "filer_code": statement.filer_code,
    }
    notes: list[str] = []
    for diff in statement.header_differences:
        shown = source if diff.field in B_SHOWN_ON_FIGURES_1_AND_4 else "Q3"
        other, other_value = ("Q3", diff.q3) if shown == "B" else ("B", diff.b)
        if shown == "B":
            values[diff.field] = diff.b
        if diff.field == "print_date":
            other_value = format_date(date.fromisoformat(other_value))
        notes.append(f"{_NOTE_LABELS[diff.field]} FROM {shown}, {other} {other_value}")
    return HeaderValues(
        values["statement_number"],
        date.fromisoformat(values["print_date"]),
        values["filer_code"],
        "; ".join(notes),
    )


def _header(statement: Statement, name: str, page: int, source: HeaderSource) -> list[str]:
    """Lines 1-9, the same on every page of every report (`source`: see `header_values`)."""
    shown = header_values(statement, source)
    status = "PRELIMINARY" if statement.status == "preliminary" else "FINAL"
    importer: list[Text | tuple[Field, str]] = []
    if is_importer_statement(statement):
        importer = [
            layout.IMPORTER_LABEL,
            (layout.IMPORTER_NUMBER, statement.importer_number or ""),
        ]
    return [
        compose(
            [
                layout.STATEMENT_LABEL,
                (layout.STATEMENT_NUMBER, shown.statement_number),
                layout.AGENCY,
                layout.PAGE_LABEL,
                (layout.PAGE_NUMBER, str(page)),
            ]
        ),
        compose(
            [
                layout.SYSTEM,
                layout.PRINT_DATE_LABEL,
                (layout.PRINT_DATE, format_date(shown.print_date)),
            ]
        ),
        compose(
            [
                layout.TITLE,
                (layout.STATUS, status),
                layout.TITLE_END,
                layout.BRANCH_LABEL,
                (layout.BRANCH, statement.client_branch or ""),
            ]
        ),
        compose(
            [layout.PROCESS_DATE_LABEL, (layout.PROCESS_DATE, format_date(statement.process_date))]
        ),
        compose([layout.FOR_LABEL, (layout.FOR_NAME, name)]),
        compose([(layout.HEADER_NOTE, shown.note)]) if shown.note else BLANK,
        compose(importer),
        compose([layout.FILER_LABEL, (layout.FILER_CODE, shown.filer_code)]),
        compose([layout.PORT_LABEL, (layout.PORT, statement.district_port or "")]),
    ]


def _top(
    statement: Statement,
    name: str,
    headings: Mapping[int, tuple[Text, ...]],
    first_row: int,
    source: HeaderSource,
) -> Top:
    """The header, then the report's headings by line number up to `first_row` (exclusive)."""
    lines = [compose(headings.get(n, ())) for n in range(layout.HEADER_LINES + 1, first_row)]
    return lambda page: _header(statement, name, page, source) + lines


def _paginate(top: Top, rows: Sequence[str], block: Sequence[str] = (), at: int = 0) -> list[Page]:
    """Rows under `top` on as many pages as they need; then `block` kept whole on one page, from
    line `at` or, below rows, after `LEGEND_GAP` blank lines. Every page is padded to 54 lines."""
    pages: list[Page] = []
    page = top(1)
    first_row = len(page) + 1
    for row in rows:
        if len(page) == PAGE_LINES:
            pages.append(page)
            page = top(len(pages) + 1)
        page.append(row)
    if block:
        gap = layout.LEGEND_GAP if len(page) >= first_row else 0
        start = max(at, len(page) + 1 + gap)
        if start + len(block) - 1 > PAGE_LINES:
            pages.append(_padded(page))
            page = top(len(pages) + 1)
            start = max(at, first_row)
        page.extend([BLANK] * (start - 1 - len(page)))
        page.extend(block)
    pages.append(_padded(page))
    return pages


def _padded(page: Page) -> Page:
    return page + [BLANK] * (PAGE_LINES - len(page))


# ---- the four reports -------------------------------------------------------------------------


def render_detail(statement: Statement, name: str | None = None) -> list[Page]:
    """Figure 1: one line per periodic daily statement."""
    rows = [
        compose(
            [
                (layout.DAILY_NUMBER, daily.number),
                (layout.DAILY_PRINT_DATE, format_date(daily.print_date)),
                (layout.DAILY_PRESENTATION_DATE, format_date(daily.presentation_date)),
                (layout.DAILY_DUTY, format_amount(daily.duty)),
                (layout.DAILY_TAX, format_amount(daily.tax)),
                (layout.DAILY_CVD, format_amount(daily.cvd)),
                (layout.DAILY_ADD, format_amount(daily.add)),
                (layout.DAILY_USER_FEES, format_amount(sum_fees(daily.fees))),
                (layout.DAILY_TOTAL, format_amount(daily.amount_due)),
            ]
        )
        for daily in statement.daily_statements
    ]
    top = _top(
        statement, _name(statement, name), layout.DETAIL_HEADINGS, layout.DETAIL_FIRST_ROW, "B"
    )
    return _paginate(top, rows)


def render_preliminary(statement: Statement, name: str | None = None) -> list[Page]:
    """Figure 2: the preliminary totals (Q3, Q4, QE)."""
    rows = [
        compose([(layout.TOTALS_LABEL, label), (layout.PRELIMINARY_AMOUNT, format_amount(pre))])
        for label, pre, _ in _totals_lines(statement.preliminary_totals, None)
    ]
    top = _top(
        statement,
        _name(statement, name),
        layout.PRELIMINARY_HEADINGS,
        layout.TOTALS_FIRST_ROW,
        "Q3",
    )
    return _paginate(top, rows)


def render_final(statement: Statement, name: str | None = None) -> list[Page]:
    """Figure 3: preliminary totals (Q3, Q4, QE), final totals (Q5, Q6, QJ) and the difference,
    final minus preliminary. Without final totals (not a final statement) those columns are
    left blank."""
    final = statement.final_totals
    rows = [
        compose(
            [
                (layout.TOTALS_LABEL, label),
                (layout.PRELIMINARY_AMOUNT, format_amount(pre)),
                (layout.FINAL_AMOUNT, "" if fin is None else format_amount(fin)),
                (
                    layout.DIFFERENCE_AMOUNT,
                    "" if fin is None else format_amount(fin - pre, DIFFERENCE_WIDTH),
                ),
            ]
        )
        for label, pre, fin in _totals_lines(statement.preliminary_totals, final)
    ]
    top = _top(
        statement, _name(statement, name), layout.FINAL_HEADINGS, layout.TOTALS_FIRST_ROW, "Q3"
    )
    return _paginate(top, rows)


def render_deleted(statement: Statement, name: str | None = None) -> list[Page]:
    """Figure 4: one line per deleted entry summary (daily statement, entry number printed
    XXX-NNNNNNN-N, delete source), then the DELETE SOURCE legend once."""
    rows = [
        compose(
            [
                (layout.DELETED_DAILY_NUMBER, entry.daily_statement),
                (layout.DELETED_ENTRY, entry.entry_number_formatted),
                (layout.DELETE_SOURCE, entry.delete_source),
            ]
        )
        for entry in statement.deleted_entries
    ]
    legend = [compose(layout.LEGEND.get(n, ())) for n in range(layout.LEGEND_LINES)]
    top = _top(
        statement, _name(statement, name), layout.DELETED_HEADINGS, layout.DELETED_FIRST_ROW, "B"
    )
    return _paginate(top, rows, legend, layout.LEGEND_LINE)


RENDERERS: Final[Mapping[ReportKind, Callable[[Statement, str | None], list[Page]]]] = {
    "detail": render_detail,
    "preliminary": render_preliminary,
    "final": render_final,
    "deleted": render_deleted,
}


def reports_for(statement: Statement, selected: Collection[ReportKind]) -> list[ReportKind]:
    """The reports printed for `statement`, of those `selected`, in order: the detail; the
    preliminary totals on a preliminary statement, or the final totals on a final one; the
    deleted entries when there are any."""
    kinds: list[ReportKind] = []
    if "detail" in selected:
        kinds.append("detail")
    if statement.status == "preliminary" and "preliminary" in selected:
        kinds.append("preliminary")
    if statement.status == "final" and "final" in selected:
        kinds.append("final")
    if statement.deleted_entries and "deleted" in selected:
        kinds.append("deleted")
    return kinds


def render_statement(
    statement: Statement, names: Names, selected: Collection[ReportKind] = REPORT_KINDS
) -> Iterator[tuple[ReportKind, list[Page]]]:
    """Each report of `statement` (see `reports_for`) with its pages; the "Statement For" name
    is looked up in `names` (by `statement_for_key`), else the key itself is printed."""
    key = statement_for_key(statement)
    name = names.get(key, key)
    for kind in reports_for(statement, selected):
        yield kind, RENDERERS[kind](statement, name)


# ---- helpers ----------------------------------------------------------------------------------


def _name(statement: Statement, name: str | None) -> str:
    return statement_for_key(statement) if name is None else name


def sum_fees(fees: Sequence[FeeAmount]) -> Decimal:
    """The fees added up (the detail report's USER FEES)."""
    return sum((fee.amount for fee in fees), ZERO)


def _by_code(fees: Sequence[FeeAmount]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for fee in fees:
        sums[fee.code] = sums.get(fee.code, ZERO) + fee.amount
    return sums


def _fee_order(code: str) -> tuple[int, str]:
    """Figures 2 and 3 list fee classes in `layout.FEE_ORDER`; other classes follow by code."""
    if code in layout.FEE_ORDER:
        return layout.FEE_ORDER.index(code), ""
    return len(layout.FEE_ORDER), code


def _totals_lines(pre: Totals, fin: Totals | None) -> list[tuple[str, Decimal, Decimal | None]]:
    """(label, preliminary, final) for the four components, each fee class present in either
    set of totals (a class absent from one counts 0.00 there) and the total amount due."""
    lines: list[tuple[str, Decimal, Decimal | None]] = [
        (layout.DUTY_LABEL, pre.duty, fin.duty if fin else None),
        (layout.TAX_LABEL, pre.tax, fin.tax if fin else None),
        (layout.ADD_LABEL, pre.add, fin.add if fin else None),
        (layout.CVD_LABEL, pre.cvd, fin.cvd if fin else None),
    ]
    pre_fees = _by_code(pre.fees)
    fin_fees = _by_code(fin.fees) if fin else {}
    for code in sorted({*pre_fees, *fin_fees}, key=_fee_order):
        lines.append(
            (
                report_label(code),
                pre_fees.get(code, ZERO),
                fin_fees.get(code, ZERO) if fin else None,
            )
        )
    lines.append((layout.TOTAL_LABEL, pre.amount_due, fin.amount_due if fin else None))
    return lines
