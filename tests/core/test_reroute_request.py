"""The reroute request builder (pms_stream/reroute/request.py) and `pms-stream reroute` without
Kafka: every record of the MO block passes its layout, field by field; the A record carries the
date and the password, which is never shown."""

from __future__ import annotations

from datetime import date

import pytest

from pms_stream import encode_record, parse_record
from pms_stream.catair.codec import layout_of
from pms_stream.catair.fields import Status
from pms_stream.catair.records import ARecord, BRecord, QRRecord, Secret, YRecord, ZRecord
from pms_stream.cli import main
from pms_stream.errors import RecordError
from pms_stream.reroute.request import build_request, masked, statement_date
from pms_testkit.records_by_hand import fixed, sp

PASSWORD = "PW1526"
TODAY = date(2026, 11, 20)


def test_the_request_passes_the_application_control_layout_field_by_field() -> None:
    """Application Control, A record: "| 9-14 | 6AN | M in, blank out | Communication password
    (input only; never echoed on output, never logged) |", "| 15-20 | 6N | C | Transmission
    date, MMDDYY |"; the chapter's QR: "Transmission Date of Statement | 6N | 3-8 | M". Written
    here piece by piece from those tables, not from the project's layouts."""
    records = build_request(
        filer="B76",
        port="2704",
        password=Secret(PASSWORD),
        statements_of=date(2026, 11, 15),
        office="01",
        statement="2726P10001",
        preliminary=True,
        final=True,
        today=TODAY,
    )
    # fmt: off
    assert [r.decode() for r in records] == [
        fixed(("A", 1), ("2704", 4), ("B76", 3), (PASSWORD, 6), ("112026", 6), sp(5), ("MO", 2),
              sp(10), ("01", 2), sp(20), sp(21)),
        fixed(("B", 1), sp(2), ("2704", 4), ("B76", 3), ("MO", 2), sp(32), ("01", 2), sp(4),
              sp(3), sp(2), sp(1), sp(3), sp(21)),
        fixed(("QR", 2), ("111526", 6), sp(12), sp(2), ("2726P10001", 10), (" ", 1), ("Y", 1),
              ("Y", 1), sp(45)),
        fixed(("Y", 1), sp(2), ("2704", 4), ("B76", 3), ("MO", 2), ("00001", 5), sp(27),
              ("01", 2), sp(34)),
        fixed(("Z", 1), ("2704", 4), ("B76", 3), sp(6), ("112026", 6), sp(17), ("01", 2),
              sp(41)),
    ]
    # fmt: on
    for raw in records:
        record = parse_record(raw)
        assert encode_record(record) == raw
        layout = layout_of(str(type(record).__struct_config__.tag))
        for f in layout.fields:
            if f.status is Status.M and f.attr is not None:  # every mandatory value is filled
                assert raw[f.start - 1 : f.end].strip(), (layout.record_type, f.title)
    a = parse_record(records[0])
    assert isinstance(a, ARecord)
    assert a.password == Secret(PASSWORD)
    assert a.transmission_date == TODAY
    assert PASSWORD not in repr(a)


def test_typed_keywords_and_defaults() -> None:
    """Default: the statements of today, requested neither preliminary nor final (MS4); the A
    record's site is the port; scope A with `all_ports`."""
    a, b, qr, y, z = (
        parse_record(r)
        for r in build_request(filer="B76", port="2709", password=None, all_ports=True, today=TODAY)
    )
    assert isinstance(a, ARecord)
    assert a.site_code == "2709"
    assert a.password is None
    assert isinstance(b, BRecord)
    assert b.application_id == "MO"
    assert isinstance(qr, QRRecord)
    assert (qr.transmission_date, qr.scope, qr.preliminary_request, qr.final_request) == (
        "112026",
        "A",
        "N",
        "N",
    )
    assert isinstance(y, YRecord)
    assert y.record_count == 1
    assert isinstance(z, ZRecord)
    assert z.date == TODAY


def test_an_invalid_statement_date_is_sent_as_given() -> None:
    """MS2 "Trans Dt of Stmt Invalid" is the service's answer, so the builder keeps text."""
    assert statement_date("2026-11-15") == date(2026, 11, 15)
    assert statement_date("113126") == "113126"
    assert statement_date(None) is None
    qr = parse_record(
        build_request(filer="B76", port="2704", password=None, statements_of="113126")[2]
    )
    assert isinstance(qr, QRRecord)
    assert qr.transmission_date == "113126"


@pytest.mark.parametrize("password", ["TOOLONG7", "PW-15"])
def test_a_bad_password_is_refused_without_showing_it(password: str) -> None:
    with pytest.raises(RecordError) as caught:
        build_request(filer="B76", port="2704", password=Secret(password))
    assert password not in str(caught.value)
    assert password not in repr(caught.value)


def test_masked_hides_only_a_password() -> None:
    records = build_request(filer="B76", port="2704", password=Secret(PASSWORD), today=TODAY)
    shown = masked(records)
    assert shown[0][8:14] == b"******"
    assert shown[1:] == records[1:]
    assert shown[0][:8] + shown[0][14:] == records[0][:8] + records[0][14:]
    blank = build_request(filer="B76", port="2704", password=None, today=TODAY)
    assert masked(blank) == blank


def test_the_command_refuses_without_a_password_unless_dry_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Application Control layout: the password is "M in" (mandatory on input)."""
    monkeypatch.delenv("PMS_ABI_PASSWORD", raising=False)
    args = ["reroute", "--filer", "B76", "--port", "2704", "--final"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "no communication password: set PMS_ABI_PASSWORD" in err
    assert main([*args, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert out.split("\n")[0][8:14] == " " * 6
    assert out.split("\n")[0][14:20] == date.today().strftime("%m%d%y")
    assert "could not be sent" in err


@pytest.mark.parametrize("source", ["env", "flag"])
def test_the_command_takes_the_password_and_never_prints_it(
    source: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["reroute", "--filer", "B76", "--port", "2704", "--final", "--dry-run"]
    if source == "env":
        monkeypatch.setenv("PMS_ABI_PASSWORD", PASSWORD)
    else:
        monkeypatch.delenv("PMS_ABI_PASSWORD", raising=False)
        args += ["--password", PASSWORD]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    first = out.split("\n")[0]
    assert first[8:14] == "******"
    assert first[25:27] == "MO"
