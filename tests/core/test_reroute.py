"""Reroute rules, store and answer without Kafka: each QX code, each matching criterion, the
store's bounds, and the MQ block re-parsing to the same values."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
import pytest

from pms_stream import parse_record
from pms_stream.catair.records import QXRecord
from pms_stream.reroute.answer import build_answer
from pms_stream.reroute.rules import MESSAGES, Verdict, validate
from pms_stream.reroute.store import StatementStore
from pms_stream.statements.assembler import Assembler
from pms_stream.statements.model import RerouteAckEvent, RerouteRequestEvent, Source, Statement
from pms_stream.stream.outputs import Sink
from pms_stream.stream.reroute_handler import RerouteHandler
from tests.core import statements_by_hand as sh

TODAY = date(2026, 11, 20)  # the hand-built statements came on 2026-11-15


def request(**changes: object) -> RerouteRequestEvent:
    base = RerouteRequestEvent(
        transmission_date="111526",
        importer_number=None,
        client_branch=None,
        statement_number=None,
        scope=" ",
        preliminary_request="Y",
        final_request="Y",
        problems=[],
        site_code="2704",
        batch_filer_code="B76",
        district_port="2704",
        filer_code="B76",
        office_code="01",
        qr_in_block=1,
        raw="QR" + " " * 78,
        source=Source(file="x"),
    )
    return msgspec.structs.replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({}, "MS0"),
        ({"qr_in_block": 2}, "MS3"),
        ({"transmission_date": "113126"}, "MS2"),  # November 31st
        ({"transmission_date": "11A526"}, "MS2"),
        ({"transmission_date": "112126"}, "MS2"),  # tomorrow
        ({"transmission_date": "110526"}, "MS1"),  # 15 days ago
        ({"transmission_date": "110626"}, "MS0"),  # 14 days ago is still fine
        ({"scope": "B"}, "MS5"),
        ({"preliminary_request": "X"}, "MS6"),
        ({"final_request": " "}, "MS6"),
        ({"preliminary_request": "N", "final_request": "N"}, "MS4"),
        ({"qr_in_block": 2, "transmission_date": "999999"}, "MS3"),  # MS3 first
    ],
)
def test_validation_codes(changes: dict[str, object], code: str) -> None:
    verdict = validate(request(**changes), TODAY)
    assert verdict.code == code
    assert verdict.message == MESSAGES[code]
    assert len(verdict.message) <= 34
    assert (verdict.criteria is not None) == (code == "MS0")


def statements() -> list[Statement]:
    """The hand-built preliminary and final, plus variants at other ports/branches/importers."""
    out: list[Statement] = []
    a = Assembler()
    for record in sh.TRANSMISSION:
        out += [e for e in a.feed(record.encode()) if isinstance(e, Statement)]
    base = out[0]
    out.append(msgspec.structs.replace(base, district_port="2709", statement_number="2726P10002"))
    out.append(msgspec.structs.replace(base, district_port="3001", statement_number="3026P10001"))
    out.append(msgspec.structs.replace(base, client_branch="NY", statement_number="2726P10003"))
    out.append(
        msgspec.structs.replace(base, importer_number="12-3456789AB", statement_number="2726P10004")
    )
    out.append(msgspec.structs.replace(base, office_code="02", statement_number="2726P10005"))
    out.append(msgspec.structs.replace(base, filer_code="C12", statement_number="2726P10006"))
    out.append(
        msgspec.structs.replace(
            base, process_date=date(2026, 11, 14), statement_number="2726P10007"
        )
    )
    return out


def store() -> StatementStore:
    s = StatementStore(today=lambda: TODAY)
    for st in statements():
        key = f"{st.statement_number}|{st.status}".encode()
        assert s.put(key, msgspec.json.encode(st))
    return s


def numbers(changes: dict[str, object]) -> list[str]:
    verdict = validate(request(**changes), TODAY)
    assert verdict.criteria is not None
    found = store().find(verdict.criteria)
    return [msgspec.json.decode(e.value)["statement_number"] + e.facts.status[0] for e in found]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, ["2726P10001f", "2726P10001p", "2726P10003p", "2726P10004p"]),
        ({"final_request": "N"}, ["2726P10001p", "2726P10003p", "2726P10004p"]),
        ({"preliminary_request": "N"}, ["2726P10001f"]),
        ({"statement_number": "2726P10003"}, ["2726P10003p"]),
        ({"client_branch": "NY"}, ["2726P10003p"]),
        ({"importer_number": "12-3456789AB"}, ["2726P10004p"]),
        (
            {"office_code": None},
            ["2726P10001f", "2726P10001p", "2726P10003p", "2726P10004p", "2726P10005p"],
        ),
        ({"district_port": "2709", "office_code": None}, ["2726P10002p"]),
        (
            {"scope": "A", "final_request": "N"},
            ["2726P10001p", "2726P10002p", "2726P10003p", "2726P10004p", "2726P10005p"],
        ),
        ({"scope": "A", "site_code": "3001", "final_request": "N"}, ["3026P10001p"]),
        ({"transmission_date": "111426"}, ["2726P10007p"]),
        ({"filer_code": "C12", "batch_filer_code": "C12"}, ["2726P10006p"]),  # own filer only
    ],
)
def test_matching_by_each_criterion(changes: dict[str, object], expected: list[str]) -> None:
    assert numbers(changes) == expected


def test_store_bounds_and_versions() -> None:
    now = [TODAY]
    s = StatementStore(today=lambda: now[0], retention_days=16, max_statements=3)
    sts = statements()
    for i, st in enumerate(sts[:4]):
        s.put(f"k{i}".encode(), msgspec.json.encode(st))
    assert len(s) == 3  # the oldest went first
    assert (
        s.put(b"k9", msgspec.json.encode(msgspec.structs.replace(sts[0], reroute_of="r"))) is False
    )
    assert s.put(b"k8", b"not json") is False
    assert s.put(b"k1", None) is True  # a tombstone deletes
    assert len(s) == 2
    assert s.value_bytes > 0
    now[0] = TODAY + timedelta(days=30)
    assert s.evict() == 2
    assert len(s) == 0
    assert s.value_bytes == 0
    assert s.put(b"old", msgspec.json.encode(sts[0])) is False  # past the retention


def test_answer_mq_block_reparses_to_the_same_values() -> None:
    verdict = validate(request(), TODAY)
    answer = build_answer(request(), verdict, 4, TODAY, "in:0:7:0")
    lines = answer.mq_block.split(b"\n")
    assert [line[:1] for line in lines] == [b"A", b"B", b"Q", b"Y", b"Z"]
    assert all(len(line) == 80 for line in lines)
    qx = parse_record(lines[2])
    assert qx == QXRecord(code="MS0", message="Reroute Request Accepted", reroute_count=4)
    assert answer.ack.raw == lines[2].decode()
    events = []
    a = Assembler()
    for line in lines:
        events += a.feed(line)
    (ack,) = events
    assert isinstance(ack, RerouteAckEvent)
    assert (ack.code, ack.reroute_count, ack.accepted) == ("MS0", 4, True)


@pytest.mark.parametrize("code", ["MS1", "MS2", "MS3", "MS4", "MS5", "MS6"])
def test_every_error_qx_round_trips(code: str) -> None:
    answer = build_answer(request(), Verdict(code, MESSAGES[code], None), 0, TODAY, "x")
    qx = parse_record(answer.mq_block.split(b"\n")[2])
    assert qx == QXRecord(code=code, message=MESSAGES[code], reroute_count=0)


def test_handler_outputs() -> None:
    handler = RerouteHandler(store(), today=lambda: TODAY)
    outputs = handler(request(statement_number="2726P10001"), "in:0:7:0", b"k")
    sinks = [o.sink for o in outputs]
    assert sinks == [Sink.STATEMENTS, Sink.STATEMENTS, Sink.REROUTE_ACKS, Sink.REROUTE_ACKS]
    again = msgspec.json.decode(outputs[0].value)
    assert again["reroute_of"] == "in:0:7:0"
    assert ("pms-reroute-of", b"in:0:7:0") in outputs[0].headers
    ack = msgspec.json.decode(outputs[2].value)
    assert (ack["type"], ack["code"], ack["reroute_count"]) == ("reroute_ack", "MS0", 2)
    assert ack["request"]["statement_number"] == "2726P10001"
    assert outputs[3].value.count(b"\n") == 4
    bare = handler(request(filer_code=None, batch_filer_code=None), "in:0:8:0", b"k")
    assert [o.sink for o in bare] == [Sink.REJECTS]
