"""One test per record type: hand-built records parse to the values the chapter's tables give,
and re-encode byte for byte."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pms_stream import encode_record, parse_record
from pms_stream.catair.records import (
    ARecord,
    BRecord,
    DeletedEntry,
    Fee,
    Q1Record,
    Q2Record,
    Q3Record,
    Q4Record,
    Q5Record,
    Q6Record,
    Q7Record,
    QARecord,
    QERecord,
    QJRecord,
    QRRecord,
    QXRecord,
    Secret,
    YRecord,
    ZRecord,
)
from pms_testkit import records_by_hand as hand


@pytest.mark.parametrize("name", sorted(hand.ALL))
def test_round_trip_byte_exact(name: str) -> None:
    raw = hand.ALL[name].encode("ascii")
    assert encode_record(parse_record(raw)) == raw


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_trailing_line_end_is_not_part_of_the_record(ending: str) -> None:
    assert parse_record(hand.Q1 + ending) == parse_record(hand.Q1)
    assert parse_record((hand.Q1 + ending).encode()) == parse_record(hand.Q1)


def test_a_batch_header() -> None:
    r = parse_record(hand.A)
    assert r == ARecord(
        site_code="2704",
        filer_code="B76",
        password=Secret("PASS12"),
        transmission_date=date(2026, 11, 15),
        application_id="MS",
        office_code="01",
        transmitter_data="TRANSMITTER DATA 0001",
    )
    assert "PASS12" not in repr(r)
    assert parse_record(hand.A_OUTPUT) == ARecord(
        site_code="2704",
        filer_code="B76",
        transmission_date=date(2026, 11, 15),
        application_id="MS",
    )


def test_b_block_header_ms() -> None:
    assert parse_record(hand.B_MS) == BRecord(
        district_port="2704",
        filer_code="B76",
        application_id="MS",
        statement_status="F",
        statement_number="2726P10001",
        print_date=date(2026, 11, 10),
        payment_type="7",
        importer_number="12-3456789AB",
        client_branch="NY",
        office_code="01",
        remote_district_port="2809",
        remote_filer_code="C12",
        remote_office_code="02",
        preparer_indicator="1",
        filer_data="MY OWN DATA",
    )


def test_b_block_header_mo() -> None:
    assert parse_record(hand.B_MO) == BRecord(
        district_port="2704", filer_code="B76", application_id="MO", office_code="01"
    )


def test_y_and_z_trailers() -> None:
    assert parse_record(hand.Y) == YRecord(
        district_port="2704",
        filer_code="B76",
        application_id="MS",
        record_count=12,
        office_code="01",
        trailer_mark="Y",
    )
    assert parse_record(hand.Z) == ZRecord(
        site_code="2704", filer_code="B76", date=date(2026, 11, 15), office_code="01"
    )


def test_q1_daily_statement() -> None:
    assert parse_record(hand.Q1) == Q1Record(
        daily_statement_number="2704A12345",
        district_port="2704",
        filer_code="B76",
        importer_number="12-3456789AB",
        print_date=date(2026, 10, 15),
        presentation_date=date(2026, 10, 20),
        duty=Decimal("1234.56"),
        tax=Decimal("7.00"),
    )


def test_q2_daily_statement_amounts() -> None:
    r = parse_record(hand.Q2)
    assert r == Q2Record(add=Decimal("100.00"), cvd=Decimal("0.00"), amount_due=Decimal("1351.56"))
    assert isinstance(r, Q2Record)
    assert r.cvd is not None
    assert str(r.cvd) == "0.00"


def test_qa_fees_drop_blank_slots() -> None:
    assert parse_record(hand.QA) == QARecord(
        sequence=1,
        fees=(
            Fee("499", Decimal("25.00")),
            Fee("501", Decimal("3.12")),
            Fee("056", Decimal("0.88")),
        ),
    )


def test_q3_q4_qe_preliminary_totals() -> None:
    assert parse_record(hand.Q3) == Q3Record(
        statement_number="2726P10001",
        print_date=date(2026, 11, 10),
        due_date=date(2026, 11, 17),
        filer_code="B76",
        importer_number="12-3456789AB",
        duty=Decimal("1234.56"),
        tax=Decimal("7.00"),
    )
    assert parse_record(hand.Q4) == Q4Record(
        add=Decimal("100.00"), cvd=Decimal("0.00"), amount_due=Decimal("1351.56")
    )
    assert parse_record(hand.QE) == QERecord(sequence=1, fees=(Fee("499", Decimal("25.00")),))


def test_q5_q6_qj_final_totals() -> None:
    assert parse_record(hand.Q5) == Q5Record(
        statement_number="2726P10001",
        print_date=date(2026, 11, 10),
        due_date=date(2026, 11, 17),
        filer_code="B76",
        importer_number=None,
        duty=Decimal("1234.00"),
        tax=None,
    )
    assert parse_record(hand.Q6) == Q6Record(
        add=Decimal("100.00"), cvd=None, amount_due=Decimal("1351.00")
    )
    assert parse_record(hand.QJ) == QJRecord(
        sequence=2, fees=(Fee("105", Decimal("0.01")), Fee("672", Decimal("0.00")))
    )


def test_q7_deleted_entries() -> None:
    assert parse_record(hand.Q7) == Q7Record(
        daily_statement_number="2704A12345",
        entries=(DeletedEntry("B760324527" + "8", "BKR"), DeletedEntry("ABC12345676", "ABI")),
    )


def test_qr_reroute_request() -> None:
    r = parse_record(hand.QR)
    assert r == QRRecord(
        transmission_date="111526",
        importer_number="12-3456789AB",
        client_branch="NY",
        statement_number="2726P10001",
        scope="A",
        preliminary_request="Y",
        final_request="N",
    )
    assert isinstance(r, QRRecord)
    assert r.problems == ()


def test_qx_reroute_answer() -> None:
    assert parse_record(hand.QX) == QXRecord(
        code="MS1", message="Trans Dt of Stmt Beyond 14 Days", reroute_count=0
    )


def test_qx_message_with_quotes_round_trips() -> None:
    text = "QX" + "MS6" + 'Invalid Request Must be "Y" or "N"' + "0000" + " " * 37
    assert encode_record(parse_record(text)) == text.encode()
