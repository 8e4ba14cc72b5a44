"""Every record layout of the PMS chapter and its control records, as data.

This is the single source of truth for positions. Each row reads like the chapter's table:
title, Length/Class, Position, Status, then how the value converts and the attribute it fills.
Authority: ../shared/spec/catair-periodic-monthly-statement.txt (Q records) and
../shared/spec/application-control.md (A, B, Y, Z). Where this project reads the chapter
differently, the field carries a `note` and docs/records.md shows it.

Flow: framing -> **codec (reads these layouts)** -> assembler -> encoder / reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pms_stream.catair.fields import RECORD_LENGTH, Cls, Field, Kind, Layout, Status

__all__ = ["LAYOUTS", "LAYOUTS_BY_TYPE"]

CONST, FILLER, TEXT, AMOUNT, DATE, INT, SECRET = (
    Kind.CONST,
    Kind.FILLER,
    Kind.TEXT,
    Kind.AMOUNT,
    Kind.DATE,
    Kind.INT,
    Kind.SECRET,
)

_LENGTH_CLASS = re.compile(r"^(\d+)(A/N|AN|A|N|X)?$")


def _f(  # noqa: PLR0917 - positional, to read like a row of the chapter's table
    title: str,
    length_class: str,
    positions: str,
    status: str,
    kind: Kind,
    attr: str | None = None,
    **extra: object,
) -> Field:
    """One row of a chapter table. Checks that Length/Class agrees with Position."""
    m = _LENGTH_CLASS.match(length_class)
    if m is None:
        raise ValueError(f"bad Length/Class {length_class!r} for {title}")
    length = int(m.group(1))
    cls = Cls.AN if m.group(2) in (None, "A/N") else Cls(m.group(2))
    first, _, last = positions.partition("-")
    start, end = int(first), int(last or first)
    if end - start + 1 != length:
        raise ValueError(f"{title}: Length/Class {length_class} does not fit positions {positions}")
    return Field(title, start, end, cls, Status(status), kind, attr, **extra)  # type: ignore[arg-type]


def _filler(positions: str, cls: str = "AN", note: str | None = None) -> Field:
    first, _, last = positions.partition("-")
    width = int(last or first) - int(first) + 1
    return _f("Filler", f"{width}{cls}", positions, "M", FILLER, note=note)


def _layout(
    record_type: str, title: str, direction: str, description: str, *fields: Field
) -> Layout:
    expected = 1
    for f in fields:
        if f.start != expected:
            raise ValueError(f"{record_type}: {f.title} starts at {f.start}, expected {expected}")
        expected = f.end + 1
    if expected != RECORD_LENGTH + 1:
        raise ValueError(f"{record_type}: fields end at {expected - 1}, not {RECORD_LENGTH}")
    groups: dict[str, int] = {}
    for f in fields:
        if f.group is not None and f.slot is not None:
            groups[f.group] = max(groups.get(f.group, 0), f.slot)
    return Layout(record_type, title, direction, description, tuple(fields), groups)


_IMPORTER_NOTE = (
    "The chapter prints M but says 'importer statement only': blank on filer (broker) statements, "
    "so read as conditional."
)


# fmt: off
def _fee_slots() -> Iterable[Field]:
    """The five fee class code / fee amount pairs of QA, QE and QJ (positions 5-74)."""
    ordinals = ("First", "Second", "Third", "Fourth", "Fifth")
    for slot, (ordinal, start) in enumerate(zip(ordinals, (5, 19, 33, 47, 61), strict=True), 1):
        yield _f(f"{ordinal} Fee Class Code", "3AN", f"{start}-{start + 2}", "C", TEXT,
                 group="fees", slot=slot, member="code")
        yield _f(f"{ordinal} Fee Amount", "11N", f"{start + 3}-{start + 13}", "C", AMOUNT,
                 group="fees", slot=slot, member="amount")


def _fee_record(letter: str, title: str, description: str) -> Layout:
    return _layout(
        f"Q{letter}", title, "output", description,
        _f("Control Identifier", "1A", "1", "M", CONST, const="Q"),
        _f("Record Type", "1A", "2", "M", CONST, const=letter),
        _f("Sequence Number", "2N", "3-4", "M", INT, "sequence", minimum=1, maximum=99),
        *_fee_slots(),
        _filler("75-80"),
    )


def _totals_header(digit: str, title: str, description: str) -> Layout:
    """Q3 and Q5: 'The data elements on this record are identical to those on Q5 / Q3'."""
    return _layout(
        f"Q{digit}", title, "output", description,
        _f("Control Identifier", "1A", "1", "M", CONST, const="Q"),
        _f("Record Type", "1N", "2", "M", CONST, const=digit),
        _f("Periodic Monthly Statement Number", "10A/N", "3-12", "M", TEXT, "statement_number"),
        _f("Periodic Monthly Statement Print Date", "6N", "13-18", "M", DATE, "print_date"),
        _f("Periodic Monthly Statement Due Date", "6N", "19-24", "M", DATE, "due_date"),
        _f("Periodic Monthly Statement Filer Code", "3AN", "25-27", "M", TEXT, "filer_code"),
        _f("Periodic Monthly Statement Importer Number", "12X", "28-39", "C", TEXT,
           "importer_number", note=_IMPORTER_NOTE),
        _f("Total Duty", "11N", "40-50", "C", AMOUNT, "duty"),
        _f("Total Tax", "11N", "51-61", "C", AMOUNT, "tax"),
        _filler("62-80"),
    )


def _totals_amounts(digit: str, title: str, description: str) -> Layout:
    """Q4 and Q6 (and the same shape as Q2): ADD, CVD and amount due."""
    return _layout(
        f"Q{digit}", title, "output", description,
        _f("Control Identifier", "1A", "1", "M", CONST, const="Q"),
        _f("Record Type", "1N", "2", "M", CONST, const=digit),
        _f("Total Antidumping Duty", "11N", "3-13", "C", AMOUNT, "add"),
        _f("Total Countervailing Duty", "11N", "14-24", "C", AMOUNT, "cvd"),
        _f("Total Amount Due", "11N", "25-35", "C", AMOUNT, "amount_due"),
        _filler("36-80"),
    )


A = _layout(
    "A", "Record Identifier A (Batch Header)", "both",
    "Starts a transmission (batch). Application Control chapter, rebuilt in the spec notes.",
    _f("Control Identifier", "1A", "1", "M", CONST, const="A"),
    _f("Sender/Receiver Site Code", "4AN", "2-5", "M", TEXT, "site_code"),
    _f("Sender/Receiver Filer Code", "3AN", "6-8", "M", TEXT, "filer_code"),
    _f("Communication Password", "6AN", "9-14", "C", SECRET, "password",
       note="Mandatory on input, blank on output. Never echoed, logged or serialized."),
    _f("Transmission Date", "6N", "15-20", "C", DATE, "transmission_date",
       note="The reports' Process Date."),
    _filler("21-25"),
    _f("Application Identifier", "2AN", "26-27", "C", TEXT, "application_id"),
    _filler("28-37"),
    _f("Sender/Receiver Office Code", "2AN", "38-39", "C", TEXT, "office_code"),
    _filler("40-59"),
    _f("Transmitter's Own Data", "21X", "60-80", "O", TEXT, "transmitter_data",
       note="Returned unchanged."),
)

B = _layout(
    "B", "Record Identifier B (Block Header)", "both",
    "Starts a block. Application MS: one monthly statement; MO: one QR request; MQ: QX answers.",
    _f("Control Identifier", "1A", "1", "M", CONST, const="B"),
    _filler("2-3"),
    _f("Processing District/Port", "4AN", "4-7", "M", TEXT, "district_port"),
    _f("Filer Code", "3AN", "8-10", "M", TEXT, "filer_code"),
    _f("Application Identifier", "2AN", "11-12", "M", TEXT, "application_id"),
    _f("Statement Status", "1AN", "13", "C", TEXT, "statement_status",
       values=frozenset({"P", "F"}), note="MS blocks: P preliminary, F final. Filler on input."),
    _f("Periodic Monthly Statement Number", "10AN", "14-23", "C", TEXT, "statement_number"),
    _f("Preliminary Statement Print Date", "6N", "24-29", "C", DATE, "print_date"),
    _f("Payment Type Indicator", "1AN", "30", "C", TEXT, "payment_type",
       note="6 filer, 7 importer, 8 importer with subdivisions."),
    _f("Importer of Record Number", "12X", "31-42", "C", TEXT, "importer_number"),
    _f("Client Branch Designation", "2AN", "43-44", "C", TEXT, "client_branch"),
    _f("Filer Office Code", "2AN", "45-46", "C", TEXT, "office_code"),
    _f("Remote Preparer District/Port", "4AN", "47-50", "C", TEXT, "remote_district_port"),
    _f("Remote Preparer Filer Code", "3AN", "51-53", "C", TEXT, "remote_filer_code"),
    _f("Remote Preparer Office Code", "2AN", "54-55", "C", TEXT, "remote_office_code"),
    _f("Preparer Indicator", "1AN", "56", "C", TEXT, "preparer_indicator",
       values=frozenset({"1"}), note="Blank, or 1 = remote."),
    _filler("57-59"),
    _f("Filer's Own Data", "21X", "60-80", "O", TEXT, "filer_data", note="Echoed back."),
)

Y = _layout(
    "Y", "Record Identifier Y (Block Trailer)", "both",
    "Ends a block; repeats the B record's port, filer code and application.",
    _f("Control Identifier", "1A", "1", "M", CONST, const="Y"),
    _filler("2-3"),
    _f("Processing District/Port", "4AN", "4-7", "M", TEXT, "district_port"),
    _f("Filer Code", "3AN", "8-10", "M", TEXT, "filer_code"),
    _f("Application Identifier", "2AN", "11-12", "M", TEXT, "application_id"),
    _f("Record Count", "5N", "13-17", "C", INT, "record_count",
       note="Mandatory on output: records in the block, B and Y not counted."),
    _filler("18-44"),
    _f("Office Code", "2AN", "45-46", "C", TEXT, "office_code"),
    _filler("47-79"),
    _f("Trailer Mark", "1A", "80", "O", TEXT, "trailer_mark", values=frozenset({"Y"}),
       note="Position 80 is Y on trailers that CBP generates; blank otherwise."),
)

Z = _layout(
    "Z", "Record Identifier Z (Batch Trailer)", "both",
    "Ends a transmission; repeats the A record's site and filer code.",
    _f("Control Identifier", "1A", "1", "M", CONST, const="Z"),
    _f("Site Code", "4AN", "2-5", "M", TEXT, "site_code"),
    _f("Filer Code", "3AN", "6-8", "M", TEXT, "filer_code"),
    _filler("9-14"),
    _f("Date", "6N", "15-20", "C", DATE, "date"),
    _filler("21-37"),
    _f("Office Code", "2AN", "38-39", "C", TEXT, "office_code"),
    _filler("40-80"),
)

Q1 = _layout(
    "Q1", "Record Identifier Q1 (Output)", "output",
    "Detail payment record: one periodic daily statement on the monthly statement (part 1).",
    _f("Control Identifier", "1A", "1", "M", CONST, const="Q"),
    _f("Record Type", "1N", "2", "M", CONST, const="1"),
    _f("Periodic Daily Statement Number", "10A/N", "3-12", "M", TEXT, "daily_statement_number"),
    _f("Periodic Daily Statement District/Port", "4N", "13-16", "M", TEXT, "district_port"),
    _f("Periodic Daily Statement Filer Code", "3AN", "17-19", "M", TEXT, "filer_code"),
    _f("Periodic Daily Statement Importer Number", "12X", "20-31", "C", TEXT, "importer_number",
       note=_IMPORTER_NOTE),
    _f("Preliminary Periodic Daily Statement Print Date", "6N", "32-37", "M", DATE, "print_date"),
    _f("Entry Summary Presentation Date", "6N", "38-43", "M", DATE, "presentation_date"),
    _f("Total Duty", "11N", "44-54", "C", AMOUNT, "duty"),
    _f("Total Tax", "11N", "55-65", "C", AMOUNT, "tax"),
    _filler("66-80"),
)

Q2 = _layout(
    "Q2", "Record Identifier Q2 (Output)", "output",
    "Detail payment record: one periodic daily statement (part 2): ADD, CVD, amount due.",
    _f("Control Identifier", "1A", "1", "M", CONST, const="Q"),
    _f("Record Type", "1N", "2", "M", CONST, const="2"),
    _f("Total Antidumping Duty", "11N", "3-13", "C", AMOUNT, "add"),
    _f("Total Countervailing Duty", "11N", "14-24", "C", AMOUNT, "cvd"),
    _f("Total Amount Due", "11N", "25-35", "C", AMOUNT, "amount_due"),
    _filler("36-80"),
)

QA = _fee_record(
    "A", "Record Identifier QA (Output)",
    "Detail payment record: fee class codes and amounts of one daily statement (up to 5 each).",
)

Q3 = _totals_header(
    "3", "Record Identifier Q3 (Output)",
    "Total payment due record: statement number, dates, filer, importer, duty and tax. "
    "Carries the preliminary totals on both preliminary and final statements.",
)

Q4 = _totals_amounts(
    "4", "Record Identifier Q4 (Output)",
    "Total payment due record: ADD, CVD and amount due (preliminary totals).",
)

QE = _fee_record(
    "E", "Record Identifier QE (Output)",
    "Total payment due record: fee class codes and amounts (preliminary totals).",
)

Q5 = _totals_header(
    "5", "Record Identifier Q5 (Output)",
    "Final statements only: statement number, dates, filer, importer, duty and tax "
    "(final totals).",
)

Q6 = _totals_amounts(
    "6", "Record Identifier Q6 (Output)",
    "Final statements only: ADD, CVD and amount due (final totals).",
)

QJ = _fee_record(
    "J", "Record Identifier QJ (Output)",
    "Final statements only: fee class codes and amounts (final totals).",
)

_DELETE_SOURCE_NOTE = "NNN team number, ENC entry control, BKR broker, ABI deleted via HP."

Q7 = _layout(
    "Q7", "Record Identifier Q7 (Output)", "output",
    "Entry summaries deleted from a periodic daily statement after presentation (up to 4 each).",
    _f("Control Identifier", "1A", "1", "M", CONST, const="Q"),
    _f("Record Type", "1N", "2", "M", CONST, const="7"),
    _f("Periodic Daily Statement Number", "10A/N", "3-12", "M", TEXT, "daily_statement_number"),
    _f("Entry Summary Number", "11AN", "13-23", "M", TEXT,
       group="entries", slot=1, member="entry_number"),
    _f("Delete Source", "3AN", "24-26", "M", TEXT,
       group="entries", slot=1, member="delete_source", note=_DELETE_SOURCE_NOTE),
    _f("Entry Summary Number", "11AN", "27-37", "C", TEXT,
       group="entries", slot=2, member="entry_number"),
    _f("Delete Source", "3AN", "38-40", "C", TEXT,
       group="entries", slot=2, member="delete_source"),
    _f("Entry Summary Number", "11AN", "41-51", "C", TEXT,
       group="entries", slot=3, member="entry_number"),
    _f("Delete Source", "3AN", "52-54", "C", TEXT,
       group="entries", slot=3, member="delete_source"),
    _f("Entry Summary Number", "11AN", "55-65", "C", TEXT,
       group="entries", slot=4, member="entry_number"),
    _f("Delete Source", "3AN", "66-68", "C", TEXT,
       group="entries", slot=4, member="delete_source"),
    _filler("69-80"),
)

_LENIENT = "Kept as received; a bad value is answered with a QX error, not rejected."

QR = _layout(
    "QR", "Record Identifier QR (Input)", "input",
    "Request to reroute periodic monthly statements; one per MO block.",
    _f("Control Identifier", "1A", "1", "M", CONST, const="Q"),
    _f("Record Type", "1A", "2", "M", CONST, const="R"),
    _f("Transmission Date of Statement", "6N", "3-8", "M", DATE, "transmission_date",
       lenient=True, note=f"{_LENIENT} (MS1, MS2)"),
    _f("Importer of Record Number", "12X", "9-20", "C", TEXT, "importer_number"),
    _f("Client Branch", "2AN", "21-22", "C", TEXT, "client_branch"),
    _f("Periodic Monthly Statement Number", "10A/N", "23-32", "C", TEXT, "statement_number"),
    _f("Scope Indicator", "1A", "33", "C", TEXT, "scope", values=frozenset({"A"}),
       lenient=True, note=f"{_LENIENT} (MS5)"),
    _f("Preliminary Statement Request", "1A", "34", "M", TEXT, "preliminary_request",
       values=frozenset({"Y", "N"}), lenient=True, note=f"{_LENIENT} (MS6)"),
    _f("Final Statement Request", "1A", "35", "M", TEXT, "final_request",
       values=frozenset({"Y", "N"}), lenient=True, note=f"{_LENIENT} (MS6)"),
    _filler("36-80", "X"),
)

QX = _layout(
    "QX", "Record Identifier QX (Output)", "output",
    "Acknowledgement or error for a reroute request.",
    _f("Control Identifier", "1A", "1", "M", CONST, const="Q"),
    _f("Record Type", "1A", "2", "M", CONST, const="X"),
    _f("Error Code", "3AN", "3-5", "M", TEXT, "code"),
    _f("Message Text", "34X", "6-39", "M", TEXT, "message",
       note="The chapter prints 34AN, but its own texts hold spaces, lower case and quotes: "
            "read as X."),
    _f("Total Number of Reroutes", "4N", "40-43", "M", INT, "reroute_count"),
    _filler("44-80"),
)

# fmt: on
LAYOUTS: tuple[Layout, ...] = (A, B, Y, Z, Q1, Q2, QA, Q3, Q4, QE, Q5, Q6, QJ, Q7, QR, QX)
LAYOUTS_BY_TYPE: dict[str, Layout] = {layout.record_type: layout for layout in LAYOUTS}
