"""Where everything goes on the printed reports: columns and headings read off Figures 1-4.

Columns are 1-based, as on the figures' rulers; a report line is `WIDTH` (132) columns and a page
`PAGE_LINES` (54) lines. The figures number their lines in both margins (Figures 1 and 4); those
numbers and the rulers are not part of a report. Where the figures disagree with each other or
leave something out, the choice made is written next to the constant (and in docs/reports.md).
Nothing here knows about statements: `render` fills these places with a statement's values.

Flow: model -> render (**layout**) -> `pms-stream report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

WIDTH: Final = 132
PAGE_LINES: Final = 54
# Written before the first line of every page but the first of the output (each report starts
# on a new page). Every page is also padded to PAGE_LINES lines, so it is a page either way.
PAGE_SEPARATOR: Final = "\f"
BLANK: Final = " " * WIDTH
AMOUNT_WIDTH: Final = 14  # the picture ZZZ,ZZZ,ZZ9.99
OVERFLOW: Final = "*"  # a value too wide for its field fills the field with this


@dataclass(frozen=True, slots=True)
class Text:
    """Constant text (a label or heading) from 1-based `column`."""

    column: int
    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """A value `width` columns wide from 1-based `column`. Left-aligned values longer than the
    field are cut; right-aligned ones (numbers) that do not fit fill it with `OVERFLOW`."""

    column: int
    width: int
    right: bool = False

    @property
    def last(self) -> int:
        return self.column + self.width - 1

    def fit(self, value: str) -> Text:
        if self.right:
            if len(value) > self.width:
                value = OVERFLOW * self.width
            return Text(self.column, value.rjust(self.width))
        return Text(self.column, value[: self.width])


def amount_ending_at(last: int) -> Field:
    """A ZZZ,ZZZ,ZZ9.99 amount whose last digit is in column `last`."""
    return Field(last - AMOUNT_WIDTH + 1, AMOUNT_WIDTH, right=True)


def compose(parts: Iterable[Text | tuple[Field, str]]) -> str:
    """One report line: each part written at its column, spaces elsewhere, WIDTH wide."""
    line = [" "] * WIDTH
    for part in parts:
        text = part if isinstance(part, Text) else part[0].fit(part[1])
        start = text.column - 1
        end = start + len(text.text)
        if start < 0 or end > WIDTH:
            raise ValueError(f"{text.text!r} at column {text.column} does not fit in {WIDTH}")
        if any(c != " " for c in line[start:end]):
            raise ValueError(f"{text.text!r} at column {text.column} overlaps another part")
        line[start:end] = text.text
    return "".join(line)


# ---- header: lines 1-9 of every page of the four reports (Figures 1-4) -------------------------
# Line 6 is blank (Figures 1 and 4 number it). Figures 2 and 3 are printed without line numbers
# and without any blank line; the same nine-line header is used for them (see docs/reports.md).

STATEMENT_LABEL: Final = Text(1, "STATEMENT #:")
STATEMENT_NUMBER: Final = Field(16, 10)
AGENCY: Final = Text(47, "BUREAU OF CUSTOMS AND BORDER PROTECTION")
PAGE_LABEL: Final = Text(121, "PAGE:")
PAGE_NUMBER: Final = Field(128, 4, right=True)  # ZZZ9

SYSTEM: Final = Text(51, "AUTOMATED COMMERCIAL ENVIRONMENT")
PRINT_DATE_LABEL: Final = Text(101, "STATEMENT PRINT DATE:")
PRINT_DATE: Final = Field(124, 8)

TITLE: Final = Text(43, "PERIODIC MONTHLY STATEMENT REPORT (")
STATUS: Final = Field(78, 11)  # "PRELIMINARY" fills it; "FINAL" is left-aligned in it
TITLE_END: Final = Text(89, ")")
BRANCH_LABEL: Final = Text(96, "CLIENT BRANCH DESIGNATION:")
# The figures leave the value out; it is put two columns after the label, under the print date.
BRANCH: Final = Field(124, 2)

PROCESS_DATE_LABEL: Final = Text(109, "PROCESS DATE:")
# One column left of the print date above it: that is how all the figures print it.
PROCESS_DATE: Final = Field(123, 8)

FOR_LABEL: Final = Text(1, "STATEMENT FOR:")
# "BROKER NAME OR IMPORTER NAMEXXXX": a 32-character name (CATAIR's name width); longer is cut.
FOR_NAME: Final = Field(18, 32)

IMPORTER_LABEL: Final = Text(1, "IMPRT REC#:")  # importer statements only; else a blank line
IMPORTER_NUMBER: Final = Field(21, 12)
FILER_LABEL: Final = Text(1, "BROKER/FILER#:")
FILER_CODE: Final = Field(21, 3)
PORT_LABEL: Final = Text(1, "PROCESS DIST/PORT:")
# "PORT OF PROCESS XXXXXXXXXXXX": the records carry only the 4-character code, printed here.
PORT: Final = Field(21, 28)
# Line 6, blank on the figures, says which record the header's values come from when the B
# record and Q3 disagree (e.g. "STATEMENT # FROM B, Q3 2726P10002"); otherwise it stays blank.
HEADER_NOTE: Final = Field(1, WIDTH)

HEADER_LINES: Final = 9

# ---- Figure 1: detail, one line per periodic daily statement -----------------------------------

DETAIL_HEADINGS: Final[Mapping[int, tuple[Text, ...]]] = {
    11: (Text(1, "PERIODIC DAILY"), Text(17, "STATEMENT"), Text(27, "PRES")),
    12: (
        Text(1, "STATEMENT"),
        Text(17, "DATE"),
        Text(27, "DATE"),
        Text(36, "ESTIMATED DUTY"),
        Text(53, "ESTIMATED TAX"),
        Text(69, "ESTIMATED CVD"),
        Text(85, "ESTIMATED ADD"),
        Text(105, "USER FEES"),
        Text(122, "TOTAL AMT"),
    ),
}
DETAIL_FIRST_ROW: Final = 13
DAILY_NUMBER: Final = Field(1, 10)
DAILY_PRINT_DATE: Final = Field(17, 8)  # "STATEMENT DATE": the daily statement's print date
DAILY_PRESENTATION_DATE: Final = Field(27, 8)  # "PRES DATE": entry summary presentation date
# The figure's order: duty, tax, CVD, ADD, user fees (the daily statement's fees added up), total.
DAILY_DUTY: Final = amount_ending_at(49)
DAILY_TAX: Final = amount_ending_at(65)
DAILY_CVD: Final = amount_ending_at(81)
DAILY_ADD: Final = amount_ending_at(97)
DAILY_USER_FEES: Final = amount_ending_at(113)
DAILY_TOTAL: Final = amount_ending_at(130)

# ---- Figures 2 and 3: statement totals -------------------------------------------------------

# The chapter's own spelling in Figure 3, kept so the report matches what brokers know.
DIFFERENCE_HEADING: Final = "DIFERENCE"
TOTALS_TITLE: Final = Text(53, "STATEMENT TOTALS")
PRELIMINARY_HEADINGS: Final[Mapping[int, tuple[Text, ...]]] = {
    11: (TOTALS_TITLE,),
    12: (Text(45, "PRELIMINARY TOTALS"),),
}
FINAL_HEADINGS: Final[Mapping[int, tuple[Text, ...]]] = {
    11: (TOTALS_TITLE,),
    12: (
        Text(45, "PRELIMINARY TOTALS"),
        Text(68, "FINAL TOTALS"),
        Text(88, DIFFERENCE_HEADING),
    ),
}
TOTALS_FIRST_ROW: Final = 13
TOTALS_LABEL: Final = Field(9, 30)  # fee_classes.report_label is at most 30 characters
PRELIMINARY_AMOUNT: Final = amount_ending_at(60)
FINAL_AMOUNT: Final = amount_ending_at(80)
# The difference may be negative: "-999,999,999.99" (preliminary 999,999,999.99, final 0.00)
# takes 15 columns, one more than the picture. The field widens to the left into the spare
# columns 82-85 (the final amount ends in 80), so that any difference up to 18 characters
# (|d| < 100,000,000,000) prints in full, still ending in column 99; see docs/reports.md.
DIFFERENCE_AMOUNT: Final = Field(82, 18, right=True)
# The components in the figures' order (not the detail report's), then fees, then the total.
DUTY_LABEL: Final = "ESTIMATED DUTY"
TAX_LABEL: Final = "ESTIMATED TAXES"
ADD_LABEL: Final = "ESTIMATED ADD"
CVD_LABEL: Final = "ESTIMATED CVD"
TOTAL_LABEL: Final = "TOTAL AMOUNT DUE"
# Fee lines, one per fee class present, in the order Figures 2 and 3 list them; any other class
# follows, by code.
FEE_ORDER: Final = (
    "056",  # COTTON FEE
    "079",  # SUGAR FEE
    "496",  # MAIL FEE
    "054",  # PORK FEE
    "053",  # BEEF FEE
    "499",  # MERCHANDISE FEE
    "311",  # MERC INFORMAL FEE
    "500",  # MERC SURCHARGE FEE
    "055",  # HONEY FEE
    "501",  # WATERWAYS FEE
    "124",  # PECAN FEE
    "090",  # POTATO FEE
    "102",  # LIME FEE
    "103",  # MUSHROOM FEE
    "104",  # WATERMELON FEE
    "105",  # SHEEP FEE
    "106",  # BLUEBERRY FEE
)

# ---- Figure 4: entry summaries deleted -------------------------------------------------------

DELETED_HEADINGS: Final[Mapping[int, tuple[Text, ...]]] = {
    12: (Text(31, "ENTRY SUMMARIES DELETED AFTER PERIODIC DAILY STATEMENTS ACCEPTANCE"),),
    15: (Text(39, "PERIODIC DAILY"),),
    16: (Text(39, "STATEMENT"), Text(56, "ENTRIES DELETED"), Text(73, "DELETE SOURCE")),
}
DELETED_FIRST_ROW: Final = 17
DELETED_DAILY_NUMBER: Final = Field(39, 10)
# XXX-NNNNNNN-N takes 13 columns; the figure's XXX-XXXXXXXX-X is 14, kept as the field width.
DELETED_ENTRY: Final = Field(56, 14)
DELETE_SOURCE: Final = Field(78, 3)
# The legend, by line offset from its first line; on the figure it starts at line 27. It is
# printed once, after the last entry: at line 27 when the entries end by line 25, else after one
# blank line, or at line 27 of a new page when it no longer fits.
LEGEND_LINE: Final = 27
LEGEND_GAP: Final = 1
LEGEND: Final[Mapping[int, tuple[Text, ...]]] = {
    0: (Text(81, "DELETE SOURCE"),),
    3: (Text(87, "NNN=TEAM NUMBER"),),
    # The figure prints "BRK=BROKER"; the code CBP sends (the Q7 note: "BKR Broker") and the
    # rows show is BKR, so the legend says BKR (docs/spec-decisions.md).
    5: (Text(87, "BKR=BROKER"),),
    7: (Text(87, "ENC=ENTRY CONTROL"),),
    9: (Text(87, "ABI=DELETED BY FILER VIA APPLICATION HP"),),
}
LEGEND_LINES: Final = 10
