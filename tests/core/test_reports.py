"""The printed reports (Figures 1-4) and `pms-stream report`, checked line by line.

Statements are built from hand-written records (the chapter's record tables, piece by piece)
through the assembler. Expected lines are written here from the figures' columns, not from
`pms_stream.reports.layout`, so a wrong column there fails here: `line({col: text})` is a
132-column line with each text from its 1-based column, `R(last, text)` right-aligns a value so
that it ends in column `last`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pytest

from pms_stream.cli import main
from pms_stream.domain.delete_sources import DELETE_SOURCES
from pms_stream.reports.render import (
    REPORT_KINDS,
    format_amount,
    render_deleted,
    render_detail,
    render_final,
    render_preliminary,
    render_statement,
    reports_for,
)
from pms_stream.statements.assembler import Assembler
from pms_stream.statements.model import Statement
from pms_testkit.records_by_hand import fixed, sp

WIDTH = 132
PAGE = 54

# ---- records, by the chapter's tables ----------------------------------------------------------


def cents(amount: str) -> tuple[str, int]:
    """An 11N money field (two implied decimals), or blanks for ""."""
    if not amount:
        return sp(11)
    return (f"{int(Decimal(amount) * 100):011d}", 11)


def a_record() -> str:  # process date 11/15/26
    return fixed(("A", 1), ("2704", 4), ("B76", 3), sp(6), ("111526", 6), sp(5), ("MS", 2),
                 sp(10), ("01", 2), sp(20), sp(21))  # fmt: skip


def z_record() -> str:
    return fixed(("Z", 1), ("2704", 4), ("B76", 3), sp(6), ("111526", 6), sp(17), ("01", 2),
                 sp(41))  # fmt: skip


def b_record(status: str, payment: str, importer: str, branch: str) -> str:
    return fixed(("B", 1), sp(2), ("2704", 4), ("B76", 3), ("MS", 2), (status, 1),
                 ("2726P10001", 10), ("101626", 6), (payment, 1), (importer.ljust(12), 12),
                 (branch.ljust(2), 2), ("01", 2), sp(4), sp(3), sp(2), sp(1), sp(3),
                 sp(21))  # fmt: skip


def y_record(count: int) -> str:
    return fixed(("Y", 1), sp(2), ("2704", 4), ("B76", 3), ("MS", 2), (f"{count:05d}", 5),
                 sp(27), ("01", 2), sp(33), ("Y", 1))  # fmt: skip


class Daily(NamedTuple):
    number: str
    print_date: str  # MMDDYY
    presentation: str
    duty: str
    tax: str
    add: str
    cvd: str
    due: str
    fees: Sequence[tuple[str, str]]


def fee_records(kind: str, fees: Sequence[tuple[str, str]]) -> list[str]:
    """QA, QE or QJ records: sequence 01, 02, ..., five (code, amount) pairs each."""
    out = []
    for seq, start in enumerate(range(0, len(fees), 5), 1):
        pairs = list(fees[start : start + 5])
        pieces = [(kind, 2), (f"{seq:02d}", 2)]
        for code, amount in pairs:
            pieces += [(code, 3), cents(amount)]
        pieces += [sp(3), sp(11)] * (5 - len(pairs)) + [sp(6)]
        out.append(fixed(*pieces))
    return out


def daily_records(d: Daily, importer: str) -> list[str]:
    q1 = fixed(("Q1", 2), (d.number, 10), ("2704", 4), ("B76", 3), (importer.ljust(12), 12),
               (d.print_date, 6), (d.presentation, 6), cents(d.duty), cents(d.tax),
               sp(15))  # fmt: skip
    q2 = fixed(("Q2", 2), cents(d.add), cents(d.cvd), cents(d.due), sp(45))
    return [q1, q2, *fee_records("QA", d.fees)]


def totals_records(
    kinds: str, importer: str, amounts: Sequence[str], fees: Sequence[tuple[str, str]]
) -> list[str]:
    """`kinds` "Q3 Q4 QE" or "Q5 Q6 QJ"; amounts are duty, tax, ADD, CVD, amount due."""
    first, second, fees_kind = kinds.split()
    duty, tax, add, cvd, due = amounts
    head = fixed((first, 2), ("2726P10001", 10), ("101626", 6), ("102226", 6), ("B76", 3),
                 (importer.ljust(12), 12), cents(duty), cents(tax), sp(19))  # fmt: skip
    return [head, fixed((second, 2), cents(add), cents(cvd), cents(due), sp(45)),
            *fee_records(fees_kind, fees)]  # fmt: skip


def q7_record(daily: str, entries: Sequence[tuple[str, str]]) -> str:
    pieces = [("Q7", 2), (daily, 10)]
    for entry, source in entries:
        pieces += [(entry, 11), (source, 3)]
    pieces += [sp(11), sp(3)] * (4 - len(entries)) + [sp(12)]
    return fixed(*pieces)


def block(status: str, payment: str, importer: str, branch: str, body: list[str]) -> list[str]:
    return [b_record(status, payment, importer, branch), *body, y_record(len(body))]


def assemble(records: list[str]) -> list[Statement]:
    assembler = Assembler(file="hand.txt")
    events = []
    for number, record in enumerate(records, 1):
        events += assembler.feed(record.encode("ascii"))
        assert len(record) == 80, number
    events += assembler.flush()
    statements = [e for e in events if isinstance(e, Statement)]
    assert len(statements) == len(events), events  # nothing rejected
    return statements


# A broker statement (payment type 6), preliminary: two daily statements.
D1 = Daily("2704A00001", "100526", "100326", "1000.00", "50.00", "", "", "1083.80",
           [("499", "29.61"), ("501", "4.19")])  # fmt: skip
D2 = Daily("2704A00002", "101226", "101026", "200.00", "", "150.25", "10.00", "385.25",
           [("499", "25.00")])  # fmt: skip
PRELIMINARY_AMOUNTS = ("1200.00", "50.00", "150.25", "10.00", "1469.05")
PRELIMINARY_RECORDS = block(
    "P", "6", "", "NY",
    daily_records(D1, "") + daily_records(D2, "")
    + totals_records("Q3 Q4 QE", "", PRELIMINARY_AMOUNTS,
                     [("499", "54.61"), ("501", "4.19")]),
)  # fmt: skip

# An importer statement (payment type 7), final: D2's duty fell by 10.00 and it gained a cotton
# fee of 0.50; an unknown fee class 999 (1.00) is on the preliminary totals only. Three entry
# summaries were deleted.
IMPORTER = "12-3456789AB"
D2_FINAL = D2._replace(duty="190.00", due="375.75", fees=[("499", "25.00"), ("056", "0.50")])
FINAL_RECORDS = block(
    "F", "7", IMPORTER, "",
    daily_records(D1, IMPORTER) + daily_records(D2_FINAL, IMPORTER)
    + totals_records("Q3 Q4 QE", IMPORTER,
                     ("1200.00", "50.00", "150.25", "10.00", "1470.05"),
                     [("499", "54.61"), ("501", "4.19"), ("999", "1.00")])
    + totals_records("Q5 Q6 QJ", IMPORTER,
                     ("1190.00", "50.00", "150.25", "10.00", "1459.55"),
                     [("056", "0.50"), ("499", "54.61"), ("501", "4.19")])
    + [q7_record("2704A00002", [("B7603245278", "BKR"), ("ABC12345676", "ABI")]),
       q7_record("2704A00001", [("B7603245278", "123")])],
)  # fmt: skip

TRANSMISSION = [a_record(), *PRELIMINARY_RECORDS, *FINAL_RECORDS, z_record()]


@pytest.fixture(scope="module")
def statements() -> list[Statement]:
    return assemble(TRANSMISSION)


@pytest.fixture(scope="module")
def preliminary(statements: list[Statement]) -> Statement:
    return statements[0]


@pytest.fixture(scope="module")
def final(statements: list[Statement]) -> Statement:
    return statements[1]


# ---- expected lines, from the figures' columns -------------------------------------------------


class R(NamedTuple):
    """A value right-aligned to end in column `last`."""

    last: int
    text: str


def line(parts: Mapping[int, str] | None = None, *right: R) -> str:
    chars = [" "] * WIDTH
    placed = [(col, text) for col, text in (parts or {}).items()]
    placed += [(r.last - len(r.text) + 1, r.text) for r in right]
    for col, text in placed:
        assert chars[col - 1 : col - 1 + len(text)] == [" "] * len(text), (col, text)
        chars[col - 1 : col - 1 + len(text)] = text
    return "".join(chars)


BLANK = " " * WIDTH


def header(
    *, page: int, status: str, name: str, branch: str = "", importer: str | None = None,
    process: str = "11/15/26",
) -> list[str]:  # fmt: skip
    """Lines 1-10 of every page (Figures 1 and 4 number them; 2 and 3 share them)."""
    return [
        line({1: "STATEMENT #:", 16: "2726P10001",
              47: "BUREAU OF CUSTOMS AND BORDER PROTECTION", 121: "PAGE:"},
             R(131, str(page))),
        line({51: "AUTOMATED COMMERCIAL ENVIRONMENT", 101: "STATEMENT PRINT DATE:",
              124: "10/16/26"}),
        line({43: f"PERIODIC MONTHLY STATEMENT REPORT ({status.ljust(11)})",
              96: "CLIENT BRANCH DESIGNATION:", **({124: branch} if branch else {})}),
        line({109: "PROCESS DATE:", **({123: process} if process else {})}),
        line({1: "STATEMENT FOR:", 18: name}),
        BLANK,
        line({1: "IMPRT REC#:", 21: importer}) if importer else BLANK,
        line({1: "BROKER/FILER#:", 21: "B76"}),
        line({1: "PROCESS DIST/PORT:", 21: "2704"}),
        BLANK,
    ]  # fmt: skip


def check_page(page: list[str]) -> None:
    assert len(page) == PAGE
    for number, text in enumerate(page, 1):
        assert len(text) == WIDTH, (number, text)


DETAIL_HEADINGS = [
    line({1: "PERIODIC DAILY", 17: "STATEMENT", 27: "PRES"}),
    line({1: "STATEMENT", 17: "DATE", 27: "DATE"},
         R(49, "ESTIMATED DUTY"), R(65, "ESTIMATED TAX"), R(81, "ESTIMATED CVD"),
         R(97, "ESTIMATED ADD"), R(113, "USER FEES"), R(130, "TOTAL AMT")),
]  # fmt: skip


def detail_row(number: str, printed: str, presented: str, *amounts: str) -> str:
    """Figure 1 line 13: the amounts are duty, tax, CVD, ADD, user fees, total."""
    ends = (49, 65, 81, 97, 113, 130)
    return line({1: number, 17: printed, 27: presented},
                *(R(end, a) for end, a in zip(ends, amounts, strict=True)))  # fmt: skip


def totals_row(label: str, *amounts: str) -> str:
    """Figures 2 and 3: label at column 9; preliminary, final, difference end at 60, 80, 99."""
    ends = (60, 80, 99)
    return line({9: label}, *(R(end, a) for end, a in zip(ends, amounts, strict=False)))


# ---- Figure 1 ---------------------------------------------------------------------------------


def test_detail_preliminary_broker_statement(preliminary: Statement) -> None:
    pages = render_detail(preliminary, "SMITH CUSTOMS BROKERS")
    assert len(pages) == 1
    page = pages[0]
    check_page(page)
    assert page[:10] == header(page=1, status="PRELIMINARY", name="SMITH CUSTOMS BROKERS",
                               branch="NY")  # fmt: skip
    assert page[10:12] == DETAIL_HEADINGS
    assert page[12] == detail_row(
        "2704A00001",
        "10/05/26",
        "10/03/26",
        "1,000.00",
        "50.00",
        "0.00",
        "0.00",
        "33.80",
        "1,083.80",
    )
    assert page[13] == detail_row(
        "2704A00002",
        "10/12/26",
        "10/10/26",
        "200.00",
        "0.00",
        "10.00",
        "150.25",
        "25.00",
        "385.25",
    )
    assert page[14:] == [BLANK] * 40


def test_detail_final_importer_statement(final: Statement) -> None:
    page = render_detail(final, "ACME IMPORTS")[0]
    check_page(page)
    assert page[:10] == header(page=1, status="FINAL", name="ACME IMPORTS", importer=IMPORTER)
    assert page[13] == detail_row(
        "2704A00002",
        "10/12/26",
        "10/10/26",
        "190.00",
        "0.00",
        "10.00",
        "150.25",
        "25.50",
        "375.75",
    )


def test_detail_paginates_at_54_lines_and_repeats_the_header() -> None:
    dailies = [
        Daily(f"2704A{n:05d}", "100526", "100326", "1.00", "", "", "", "1.00", [])
        for n in range(1, 51)
    ]
    body = [r for d in dailies for r in daily_records(d, "")]
    body += totals_records("Q3 Q4 QE", "", ("50.00", "", "", "", "50.00"), [])
    (statement,) = assemble(block("P", "6", "", "", body))
    pages = render_detail(statement)
    assert len(pages) == 2
    for number, page in enumerate(pages, 1):
        check_page(page)
        assert page[:10] == header(page=number, status="PRELIMINARY", name="B76", process="")
        assert page[10:12] == DETAIL_HEADINGS
    rows = 54 - 12
    assert pages[0][12] == detail_row("2704A00001", "10/05/26", "10/03/26",
                                      "1.00", "0.00", "0.00", "0.00", "0.00", "1.00")  # fmt: skip
    assert pages[0][53].startswith(f"2704A{rows:05d}")
    assert pages[1][12].startswith(f"2704A{rows + 1:05d}")
    assert pages[1][12 + 50 - rows - 1].startswith("2704A00050")
    assert pages[1][12 + 50 - rows :] == [BLANK] * (54 - 12 - (50 - rows))


# ---- Figures 2 and 3 --------------------------------------------------------------------------

TOTALS_TITLE = line({53: "STATEMENT TOTALS"})


def test_preliminary_totals(preliminary: Statement) -> None:
    (page,) = render_preliminary(preliminary)
    check_page(page)
    assert page[:10] == header(page=1, status="PRELIMINARY", name="B76", branch="NY")
    assert page[10:12] == [TOTALS_TITLE, line({45: "PRELIMINARY TOTALS"})]
    assert page[12:20] == [
        totals_row("ESTIMATED DUTY", "1,200.00"),
        totals_row("ESTIMATED TAXES", "50.00"),
        totals_row("ESTIMATED ADD", "150.25"),
        totals_row("ESTIMATED CVD", "10.00"),
        totals_row("MERCHANDISE FEE", "54.61"),
        totals_row("WATERWAYS FEE", "4.19"),
        totals_row("TOTAL AMOUNT DUE", "1,469.05"),
        BLANK,
    ]


def test_final_totals_with_difference(final: Statement) -> None:
    (page,) = render_final(final, "ACME IMPORTS")
    check_page(page)
    assert page[:10] == header(page=1, status="FINAL", name="ACME IMPORTS", importer=IMPORTER)
    assert page[10:12] == [
        TOTALS_TITLE,
        line({45: "PRELIMINARY TOTALS", 68: "FINAL TOTALS", 88: "DIFERENCE"}),
    ]
    # fee lines in the figures' order (cotton before merchandise), unknown classes last; a
    # class on one side only counts 0.00 on the other; difference = final - preliminary
    assert page[12:22] == [
        totals_row("ESTIMATED DUTY", "1,200.00", "1,190.00", "-10.00"),
        totals_row("ESTIMATED TAXES", "50.00", "50.00", "0.00"),
        totals_row("ESTIMATED ADD", "150.25", "150.25", "0.00"),
        totals_row("ESTIMATED CVD", "10.00", "10.00", "0.00"),
        totals_row("COTTON FEE", "0.00", "0.50", "0.50"),
        totals_row("MERCHANDISE FEE", "54.61", "54.61", "0.00"),
        totals_row("WATERWAYS FEE", "4.19", "4.19", "0.00"),
        totals_row("FEE CLASS 999", "1.00", "0.00", "-1.00"),
        totals_row("TOTAL AMOUNT DUE", "1,470.05", "1,459.55", "-10.50"),
        BLANK,
    ]


# ---- Figure 4 ---------------------------------------------------------------------------------

DELETED_HEADINGS = [
    BLANK,
    line({31: "ENTRY SUMMARIES DELETED AFTER PERIODIC DAILY STATEMENTS ACCEPTANCE"}),
    BLANK,
    BLANK,
    line({39: "PERIODIC DAILY"}),
    line({39: "STATEMENT", 56: "ENTRIES DELETED", 73: "DELETE SOURCE"}),
]
LEGEND = [
    line({81: "DELETE SOURCE"}),
    BLANK,
    BLANK,
    line({87: "NNN=TEAM NUMBER"}),
    BLANK,
    line({87: "BKR=BROKER"}),
    BLANK,
    line({87: "ENC=ENTRY CONTROL"}),
    BLANK,
    line({87: "ABI=DELETED BY FILER VIA APPLICATION HP"}),
]


def deleted_row(daily: str, entry: str, source: str) -> str:
    return line({39: daily, 56: entry, 78: source})


def test_deleted_entries(final: Statement) -> None:
    (page,) = render_deleted(final, "ACME IMPORTS")
    check_page(page)
    assert page[:10] == header(page=1, status="FINAL", name="ACME IMPORTS", importer=IMPORTER)
    assert page[10:16] == DELETED_HEADINGS
    assert page[16:19] == [
        deleted_row("2704A00002", "B76-0324527-8", "BKR"),
        deleted_row("2704A00002", "ABC-1234567-6", "ABI"),
        deleted_row("2704A00001", "B76-0324527-8", "123"),
    ]
    assert page[19:26] == [BLANK] * 7
    assert page[26:36] == LEGEND  # lines 27-36, as on the figure
    assert page[36:] == [BLANK] * 18


def deleted_statement(entries: int, source: str = "BKR") -> Statement:
    pairs = [("B7603245278", source)] * entries
    q7s = [q7_record("2704A00001", pairs[i : i + 4]) for i in range(0, entries, 4)]
    body = daily_records(D1, "")
    body += totals_records("Q3 Q4 QE", "", ("1000.00", "50.00", "", "", "1083.80"),
                           [("499", "29.61"), ("501", "4.19")])  # fmt: skip
    (statement,) = assemble(block("P", "6", "", "", body + q7s))
    return statement


def test_deleted_legend_follows_many_entries() -> None:
    (page,) = render_deleted(deleted_statement(20))  # entries on lines 17-36
    check_page(page)
    assert page[35] == deleted_row("2704A00001", "B76-0324527-8", "BKR")
    assert page[36] == BLANK
    assert page[37:47] == LEGEND
    assert page[47:] == [BLANK] * 7


def test_deleted_legend_moves_to_a_new_page_when_it_does_not_fit() -> None:
    pages = render_deleted(deleted_statement(30))  # entries on lines 17-46
    assert len(pages) == 2
    for number, page in enumerate(pages, 1):
        check_page(page)
        assert page[:10] == header(page=number, status="PRELIMINARY", name="B76", process="")
        assert page[10:16] == DELETED_HEADINGS
    assert pages[0][45] == deleted_row("2704A00001", "B76-0324527-8", "BKR")
    assert pages[0][46:] == [BLANK] * 8
    assert pages[1][16:26] == [BLANK] * 10
    assert pages[1][26:36] == LEGEND


def test_deleted_entries_over_two_pages() -> None:
    pages = render_deleted(deleted_statement(40))  # 38 on page 1, 2 on page 2
    assert len(pages) == 2
    assert all(row.startswith(" " * 38 + "2704A00001") for row in pages[0][16:54])
    assert pages[1][16:18] == [deleted_row("2704A00001", "B76-0324527-8", "BKR")] * 2
    assert pages[1][18:26] == [BLANK] * 8
    assert pages[1][26:36] == LEGEND


def test_legend_names_the_codes_the_rows_show(final: Statement) -> None:
    """The chapter's Q7 note: "Valid Delete Source Codes are: ... BKR Broker"; Figure 4's legend
    prints "BRK=BROKER". The rows print the code as sent (BKR), so the legend says BKR: every
    code in it is one of the Q7 note's, and every row's code is in the legend."""
    (page,) = render_deleted(final, "ACME IMPORTS")
    legend = [text.strip().split("=")[0] for text in page[29:36] if text.strip()]
    assert legend == ["NNN", "BKR", "ENC", "ABI"]  # the figure's order
    assert sorted(legend) == sorted(DELETE_SOURCES)
    assert "BRK" not in "".join(page)
    rows = [r[77:80] for r in page[16:19]]
    assert rows == ["BKR", "ABI", "123"]
    assert all(code in legend or code.isdigit() for code in rows)
    assert final.checks == [c for c in final.checks if c.code != "delete_source"]


def test_an_unknown_delete_source_is_flagged() -> None:
    """The Q7 note lists the valid codes (NNN, ENC, BKR, ABI); a row with another code (the
    figure's own "BRK") prints as sent and gets a `delete_source` warning."""
    statement = deleted_statement(1, source="BRK")
    (check,) = [c for c in statement.checks if c.code == "delete_source"]
    assert check.severity == "warning"
    assert "'BRK'" in check.message


@pytest.mark.parametrize(
    ("preliminary", "final", "printed"),
    [
        ("999999999.99", "0.00", "-999,999,999.99"),
        ("0.00", "999999999.99", "999,999,999.99"),
        ("99999999.99", "0.00", "-99,999,999.99"),
    ],
)
def test_the_largest_difference_prints_in_full(preliminary: str, final: str, printed: str) -> None:
    """Figure 3: "PRELIMINARY TOTALS     FINAL TOTALS        DIFERENCE" over
    "ZZZ,ZZZ,ZZ9.99      ZZZ,ZZZ,ZZ9.99     ZZZ,ZZZ,ZZ9.99"; the amounts are 11N ("Two decimal
    places are implied"), so a difference runs from -999,999,999.99 to 999,999,999.99. The
    negative extreme needs 15 columns; the column widens left into the spare columns, still
    ending in column 99, and never touches the final amount (ending in 80)."""
    daily = Daily("2704A00001", "100526", "100326", final, "", "", "", final, [])
    body = daily_records(daily, "")
    body += totals_records("Q3 Q4 QE", "", (preliminary, "", "", "", preliminary), [])
    body += totals_records("Q5 Q6 QJ", "", (final, "", "", "", final), [])
    (statement,) = assemble(block("F", "6", "", "", body))
    (page,) = render_final(statement)
    check_page(page)
    pre = format_amount(Decimal(preliminary)).strip()
    fin = format_amount(Decimal(final)).strip()
    assert page[12] == totals_row("ESTIMATED DUTY", pre, fin, printed)
    assert page[16] == totals_row("TOTAL AMOUNT DUE", pre, fin, printed)
    assert "*" not in "".join(page)


def test_a_difference_wider_than_the_widened_column_fills_it_with_stars() -> None:
    """Beyond two 11N amounts (repeated fee classes added up), the documented limit: a
    difference of more than 18 characters fills columns 82-99 with `*`."""
    fees = [("499", "999999999.99")] * 101  # 100,999,999,998.99 on the preliminary side
    daily = Daily("2704A00001", "100526", "100326", "", "", "", "", "0.00", [])
    body = daily_records(daily, "")
    body += totals_records("Q3 Q4 QE", "", ("", "", "", "", "0.00"), fees)
    body += totals_records("Q5 Q6 QJ", "", ("", "", "", "", "0.00"), [])
    (statement,) = assemble(block("F", "6", "", "", body))
    (page,) = render_final(statement)
    fee_line = next(row for row in page if "MERCHANDISE FEE" in row)
    assert fee_line[81:99] == "*" * 18
    assert fee_line[80] == " "
    assert fee_line[46:60] == "*" * 14  # the preliminary amount's own 14 columns, as before


# The B record of PRELIMINARY_RECORDS with another statement number, print date and filer code.
def _b_differing() -> str:
    b = b_record("P", "6", "", "NY")
    return b[:7] + "C12" + b[10:13] + "2726P10009" + "111126" + b[29:]


def test_header_values_follow_the_chapter_tables_and_say_which_record_they_are_from() -> None:
    """The chapter's tables: Figure 1 "Periodic Statement # | B | Statement Number", "Periodic
    Statement Date | B | Preliminary Statement Print Date"; Figure 4 "Broker/Filer # | B | Entry
    Filer Code"; Figure 2 "Statement # | Q3 | Periodic Monthly Statement Number", "Print Date |
    Q3", "Filer Code | Q3". When B and Q3 differ, the detail and deleted reports print B's, the
    totals reports Q3's, and line 6 of each says which record each value is from."""
    body = [*PRELIMINARY_RECORDS[1:-1], q7_record("2704A00001", [("B7603245278", "BKR")])]
    y = y_record(len(body))
    y = y[:7] + "C12" + y[10:]
    (statement,) = assemble([_b_differing(), *body, y])
    b_note = "STATEMENT # FROM B, Q3 2726P10001; PRINT DATE FROM B, Q3 10/16/26; " + (
        "BROKER/FILER# FROM B, Q3 B76"
    )
    q3_note = "STATEMENT # FROM Q3, B 2726P10009; PRINT DATE FROM Q3, B 11/11/26; " + (
        "BROKER/FILER# FROM Q3, B C12"
    )
    for render, number, printed, filer, note in [
        (render_detail, "2726P10009", "11/11/26", "C12", b_note),
        (render_deleted, "2726P10009", "11/11/26", "C12", b_note),
        (render_preliminary, "2726P10001", "10/16/26", "B76", q3_note),
    ]:
        page = render(statement, "X")[0]
        check_page(page)
        assert page[0][15:25] == number, render
        assert page[1][123:131] == printed, render
        assert page[7] == line({1: "BROKER/FILER#:", 21: filer}), render
        assert page[5] == line({1: note}), render
    agreeing = assemble(PRELIMINARY_RECORDS)[0]
    assert render_detail(agreeing)[0][5] == BLANK


def doc_samples() -> list[list[str]]:
    """The code blocks of docs/reports.md's "Samples" section, in order."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text("utf-8")
    samples = text.split("## Samples", 1)[1]
    return [block.split("\n")[1:-1] for block in samples.split("```")[1::2]]


def test_the_samples_in_docs_are_what_the_reports_print(
    preliminary: Statement, final: Statement
) -> None:
    """docs/reports.md shows pieces of these statements' reports (trailing spaces trimmed);
    they must be what the renderer prints, e.g. BKR in both the rows and the legend."""
    pages = [
        render_detail(preliminary, "SMITH CUSTOMS BROKERS")[0],
        render_preliminary(preliminary)[0],
        render_final(final, "ACME IMPORTS")[0],
        render_deleted(final, "ACME IMPORTS")[0],
    ]
    samples = doc_samples()
    assert len(samples) == len(pages)
    for sample, page in zip(samples, pages, strict=True):
        printed = [text.rstrip() for text in page]
        starts = [n for n in range(len(printed)) if printed[n : n + len(sample)] == sample]
        assert starts, sample


# ---- which reports, amounts ------------------------------------------------------------------


def test_reports_for_each_status(preliminary: Statement, final: Statement) -> None:
    assert REPORT_KINDS == ("detail", "preliminary", "final", "deleted")
    assert reports_for(preliminary, REPORT_KINDS) == ["detail", "preliminary"]
    assert reports_for(final, REPORT_KINDS) == ["detail", "final", "deleted"]
    assert reports_for(final, ["preliminary", "deleted"]) == ["deleted"]
    kinds = [kind for kind, _ in render_statement(final, {IMPORTER: "ACME IMPORTS"})]
    assert kinds == ["detail", "final", "deleted"]
    _, pages = next(iter(render_statement(final, {IMPORTER: "ACME IMPORTS"})))
    assert pages[0][4] == line({1: "STATEMENT FOR:", 18: "ACME IMPORTS"})


@pytest.mark.parametrize(
    ("amount", "printed"),
    [
        ("0", "0.00"),
        ("-0.00", "0.00"),
        ("0.07", "0.07"),
        ("1234.5", "1,234.50"),
        ("999999999.99", "999,999,999.99"),
        ("-10.00", "-10.00"),
        ("-99999999.99", "-99,999,999.99"),
        ("-100000000.00", "*" * 14),
        ("1000000000.00", "*" * 14),
    ],
)
def test_amount_picture(amount: str, printed: str) -> None:
    assert format_amount(Decimal(amount)) == printed.rjust(14)


def test_amounts_must_be_decimal() -> None:
    with pytest.raises(TypeError):
        format_amount(1.5)  # type: ignore[arg-type]


def test_names_longer_than_32_characters_are_cut(preliminary: Statement) -> None:
    page = render_detail(preliminary, "N" * 40)[0]
    assert page[4] == line({1: "STATEMENT FOR:", 18: "N" * 32})


# ---- the command ------------------------------------------------------------------------------


def pages_of(text: str) -> list[list[str]]:
    """Split the command's output into pages: a form feed starts every page but the first."""
    assert text.endswith("\n")
    pages = [p.split("\n")[:-1] for p in text.split("\f")]
    for page in pages:
        check_page(page)
    return pages


@pytest.fixture
def records_file(tmp_path: Path) -> Path:
    path = tmp_path / "statements.txt"
    path.write_text("\n".join(TRANSMISSION) + "\n", encoding="ascii")
    return path


def run_report(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["report", *args])
    return code, capsys.readouterr().err


def test_command_on_records(
    records_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports.txt"
    code, err = run_report([str(records_file), "-o", str(out)], capsys)
    assert code == 0
    assert "2 statement(s), 5 report(s), 5 page(s); 0 rejected" in err
    pages = pages_of(out.read_text(encoding="utf-8"))
    assert [p[2][42:89] for p in pages] == [
        "PERIODIC MONTHLY STATEMENT REPORT (PRELIMINARY)",
        "PERIODIC MONTHLY STATEMENT REPORT (PRELIMINARY)",
        "PERIODIC MONTHLY STATEMENT REPORT (FINAL      )",
        "PERIODIC MONTHLY STATEMENT REPORT (FINAL      )",
        "PERIODIC MONTHLY STATEMENT REPORT (FINAL      )",
    ]
    assert [p[11].strip()[:9] for p in pages] == [
        "STATEMENT",
        "PRELIMINA",
        "STATEMENT",
        "PRELIMINA",
        "ENTRY SUM",
    ]


def test_command_json_input_and_names(
    records_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    direct = tmp_path / "direct.txt"
    assert main(["report", str(records_file), "-o", str(direct)]) == 0
    capsys.readouterr()
    assert main(["parse", str(records_file)]) == 0
    events = tmp_path / "events.jsonl"
    events.write_text(capsys.readouterr().out, encoding="utf-8")
    via_json = tmp_path / "via-json.txt"
    code, _ = run_report([str(events), "-o", str(via_json)], capsys)  # auto-detected
    assert code == 0
    assert via_json.read_text(encoding="utf-8") == direct.read_text(encoding="utf-8")

    names_csv = tmp_path / "names.csv"
    names_csv.write_text('# filer or importer,name\nB76,"SMITH, JONES & CO"\n\n', "utf-8")
    names_json = tmp_path / "names.json"
    names_json.write_text(json.dumps({IMPORTER: "ACME IMPORTS"}), "utf-8")
    for names, report, expected in [
        (names_csv, "preliminary", "SMITH, JONES & CO"),
        (names_json, "final", "ACME IMPORTS"),
    ]:
        out = tmp_path / f"{report}.txt"
        args = ["--input", "json", "--names", str(names), "--report", report, str(events)]
        code, err = run_report([*args, "-o", str(out)], capsys)
        assert code == 0
        assert "1 report(s), 1 page(s)" in err
        (page,) = pages_of(out.read_text(encoding="utf-8"))
        assert page[4] == line({1: "STATEMENT FOR:", 18: expected})


def test_command_from_stdin_counts_rejects(records_file: Path) -> None:
    bad = "Q9" + " " * 78  # not a record type: rejected, counted, not reported
    data = records_file.read_text(encoding="ascii") + bad + "\n"
    done = subprocess.run(
        [sys.executable, "-m", "pms_stream.cli", "report", "--report", "deleted", "-"],
        input=data.encode("ascii"),
        capture_output=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert b"1 rejected input(s) ignored" in done.stderr
    (page,) = pages_of(done.stdout.decode("utf-8"))
    assert page[16] == deleted_row("2704A00002", "B76-0324527-8", "BKR")


def test_command_unreadable_json_line(
    records_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "statement"}\n\nnot json\n', encoding="utf-8")
    code, err = run_report(["--input", "json", str(events), "-o", str(tmp_path / "o")], capsys)
    assert code == 1
    assert "line 1: not an event" in err
    assert "line 3: not an event" in err
    assert "2 unreadable line(s)" in err


def test_command_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_report([str(tmp_path / "missing.txt")], capsys)
    assert code == 2
    assert "cannot read" in err
    names = tmp_path / "names.csv"
    names.write_text("B76,ONE,TWO\n", encoding="utf-8")
    code, err = run_report(["--names", str(names), str(names)], capsys)
    assert code == 2
    assert "line 1: expected key,name" in err
