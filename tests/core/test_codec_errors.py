"""The corpus of bad records: each raises RecordError naming the right field, positions, reason.

Every bad record is a hand-built valid record (records_by_hand) with one defect put in by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pms_stream import RecordError, parse_record
from pms_stream.catair.records import QRRecord
from pms_testkit import records_by_hand as hand
from pms_testkit.records_by_hand import put


@dataclass(frozen=True)
class Bad:
    name: str
    raw: str | bytes
    record_type: str | None
    field: str | None
    positions: str | None
    reason: str  # a fragment of the reason
    value: str | None = None


# fmt: off
CORPUS = [
    Bad("too short", hand.Q1[:79], None, None, "1-79", "79 characters long"),
    Bad("too long", hand.Q1 + "X", None, None, "1-81", "81 characters long"),
    Bad("empty", "", None, None, "1", "0 characters long"),
    Bad("two records glued", hand.Q1 + hand.Q2, None, None, "1-160", "exactly 80"),
    Bad("non-ASCII byte in an amount", put(hand.Q1, 50, "é").encode("latin-1"), "Q1", "duty",
        "44-54", "0xE9 at position 50 is not printable ASCII"),
    Bad("non-ASCII str", put(hand.Q2, 3, "€"), "Q2", "add", "3-13", "U+20AC at position 3"),
    Bad("tab in a filler", put(hand.Q2, 40, "\t"), "Q2", "filler", "36-80",
        "0x09 at position 40"),
    Bad("NUL byte first", b"\x00" + hand.Q1[1:].encode(), None, None, "1", "0x00 at position 1"),
    Bad("unknown control identifier", put(hand.Q1, 1, "X"), None, "control_identifier", "1",
        "unknown control identifier 'X'"),
    Bad("unknown Q record type", put(hand.Q1, 2, "9"), None, "record_type", "2",
        "unknown record type '9'"),
    Bad("lower-case control identifier", put(hand.Q1, 1, "q"), None, "control_identifier", "1",
        "unknown control identifier 'q'"),
    Bad("letter in an 11N amount", put(hand.Q1, 54, "A"), "Q1", "duty", "44-54",
        "'A' is not a digit", "0000012345A"),
    Bad("space inside an amount", put(hand.Q2, 30, " "), "Q2", "amount_due", "25-35",
        "' ' is not a digit"),
    Bad("letter in a 4N district/port", put(hand.Q1, 15, "A"), "Q1", "district_port", "13-16",
        "class N takes digits", "27A4"),
    Bad("lower case in a 3AN filer code", put(hand.Q1, 17, "b"), "Q1", "filer_code", "17-19",
        "class AN takes upper-case letters and digits", "b76"),
    Bad("hyphen in a 10A/N statement number", put(hand.Q3, 7, "-"), "Q3", "statement_number",
        "3-12", "'-' not allowed"),
    Bad("AN value not left-justified", put(hand.Q1, 17, " 76"), "Q1", "filer_code", "17-19",
        "left-justified"),
    Bad("month 13", put(hand.Q1, 32, "130126"), "Q1", "print_date", "32-37",
        "impossible date: month 13"),
    Bad("February 30", put(hand.Q1, 38, "023026"), "Q1", "presentation_date", "38-43",
        "impossible date: day 30 of 2026-02"),
    Bad("day zero", put(hand.Q3, 19, "110026"), "Q3", "due_date", "19-24", "day 00"),
    Bad("letter in a date", put(hand.Q3, 13, "11O026"), "Q3", "print_date", "13-18",
        "'O' is not a digit"),
    Bad("mandatory date blank", put(hand.Q1, 32, " " * 6), "Q1", "print_date", "32-37",
        "mandatory field is blank"),
    Bad("mandatory number blank", put(hand.Q1, 3, " " * 10), "Q1", "daily_statement_number",
        "3-12", "mandatory field is blank"),
    Bad("mandatory filer code blank", put(hand.Q3, 25, "   "), "Q3", "filer_code", "25-27",
        "mandatory field is blank"),
    Bad("B statement status not P or F", put(hand.B_MS, 13, "X"), "B", "statement_status", "13",
        "must be one of F, P"),
    Bad("Y trailer mark not Y", put(hand.Y, 80, "N"), "Y", "trailer_mark", "80",
        "must be one of Y"),
    Bad("B application identifier blank", put(hand.B_MS, 11, "  "), "B", "application_id",
        "11-12", "mandatory field is blank"),
    Bad("QA sequence 00", put(hand.QA, 3, "00"), "QA", "sequence", "3-4", "from 01 to 99"),
    Bad("QE sequence blank", put(hand.QE, 3, "  "), "QE", "sequence", "3-4",
        "mandatory field is blank"),
    Bad("QJ sequence not digits", put(hand.QJ, 3, "1A"), "QJ", "sequence", "3-4", "not a digit"),
    Bad("non-blank filler", put(hand.Q2, 80, "X"), "Q2", "filler", "36-80",
        "filler must be spaces; found 'X' at position 80"),
    Bad("non-blank B filler", put(hand.B_MS, 2, "00"), "B", "filler", "2-3", "filler must be"),
    Bad("fee slot gap", put(hand.QA, 5, " " * 14), "QA", "fees[1].code", "5-7",
        "slot 1 is blank but slot 2 is filled"),
    Bad("fee code without amount", put(hand.QE, 8, " " * 11), "QE", "fees[1].amount", "8-18",
        "blank while code of the same slot is filled"),
    Bad("fee amount without code", put(hand.QE, 5, "   "), "QE", "fees[1].code", "5-7",
        "blank while amount of the same slot is filled"),
    Bad("Q7 with no entry", put(hand.Q7, 13, " " * 56), "Q7", "entries[1].entry_number",
        "13-23", "mandatory field is blank"),
    Bad("Q7 delete source missing", put(hand.Q7, 38, "   "), "Q7",
        "entries[2].delete_source", "38-40", "blank while entry_number"),
    Bad("QX reroute count blank", put(hand.QX, 40, "    "), "QX", "reroute_count", "40-43",
        "mandatory field is blank"),
    Bad("A password never shown", put(hand.A, 9, "PA$$12"), "A", "password", "9-14",
        "letters and digits", "******"),
    Bad("SSN-shaped importer masked", put(hand.Q1, 20, "123-45-6789\x07"), "Q1",
        "importer_number", "20-31", "0x07 at position 31", "***-**-****?"),
    Bad("SSN-shaped text masked in any field", put(hand.Q3, 3, "123456789-"), "Q3",
        "statement_number", "3-12", "'-' not allowed", "***-**-****-"),
]


# fmt: on
@pytest.mark.parametrize("bad", CORPUS, ids=lambda b: b.name)
def test_bad_record_is_reported_precisely(bad: Bad) -> None:
    with pytest.raises(RecordError) as info:
        parse_record(bad.raw)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.record_type == bad.record_type
    assert err.field == bad.field
    assert err.positions == bad.positions
    assert bad.reason in err.reason
    if bad.value is not None:
        assert err.value == bad.value
    message = str(err)
    assert bad.reason in message
    if bad.positions is not None:
        assert bad.positions in message
    for secret in ("PA$$12", "123-45-6789", "123456789"):
        assert secret not in message


def test_not_bytes_or_str() -> None:
    with pytest.raises(RecordError, match="bytes or str"):
        parse_record(12345)  # type: ignore[arg-type]


def test_bytearray_and_memoryview_are_records_too() -> None:
    raw = hand.Q1.encode()
    assert parse_record(bytearray(raw)) == parse_record(memoryview(raw)) == parse_record(raw)


@pytest.mark.parametrize(
    ("position", "text", "field", "reason"),
    [
        (3, "133126", "transmission_date", "impossible date: month 13"),
        (3, "      ", "transmission_date", "mandatory field is blank"),
        (3, "11A526", "transmission_date", "'A' is not a digit"),
        (33, "B", "scope", "must be one of A"),
        (34, "X", "preliminary_request", "must be one of N, Y"),
        (35, " ", "final_request", "mandatory field is blank"),
    ],
)
def test_qr_keeps_bad_values_and_lists_the_problem(
    position: int, text: str, field: str, reason: str
) -> None:
    raw = put(hand.QR, position, text)
    r = parse_record(raw)
    assert isinstance(r, QRRecord)
    assert getattr(r, field) == text
    assert [p.field for p in r.problems] == [field]
    assert reason in r.problems[0].reason


def test_qr_other_fields_still_reject() -> None:
    with pytest.raises(RecordError) as info:
        parse_record(put(hand.QR, 23, "2726p10001"))
    assert info.value.field == "statement_number"
