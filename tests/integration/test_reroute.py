"""Reroute requests through `pms-stream run` and the real broker: every QX code, matching by
each criterion, scope A versus one port, the statements sent again, the MQ block re-parsing to
the same values, and a request answered after a restart (the store rebuilt from the topic)."""

from __future__ import annotations

import asyncio
import json
import os
from asyncio.subprocess import PIPE
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pms_stream import encode_record, parse_record
from pms_stream.catair.records import (
    ARecord,
    BRecord,
    QRRecord,
    QXRecord,
    Record,
    Secret,
    YRecord,
    ZRecord,
)
from pms_stream.reroute.request import build_request
from pms_testkit.kafka_helpers import Received, consume, poll_until, produce
from pms_testkit.records_by_hand import put
from pms_testkit.service_harness import EXE, ServiceProcess, Topics, http_get, topics_fixture
from tests.core import statements_by_hand as sh

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]
TODAY = "2026-11-20"  # the statements below came with the A record of 2026-11-15


topics = topics_fixture("pms-rr")


def transmission(port: str, number: str, branch: str = "  ") -> list[str]:
    """The hand-built preliminary statement as another port's / number's statement."""
    b = put(put(put(sh.b("P"), 4, port), 14, number), 43, branch)
    y = put(sh.y(len(sh.PRELIMINARY_Q)), 4, port)
    q3 = put(sh.PRELIMINARY_TOTALS[0], 3, number)
    q = [*sh.PRELIMINARY_Q[:6], q3, *sh.PRELIMINARY_Q[7:]]
    return [sh.A, b, *q, y, sh.Z]


PASSWORD = "PW1526"  # the A record's communication password: never in an output or a log


def request(**changes: Any) -> bytes:
    """A request as `pms-stream reroute` builds it, for B76 at 2704 office 01, statements of
    11/15/26, preliminary and final; `changes` override the builder's keyword arguments."""
    options: dict[str, Any] = {
        "filer": "B76",
        "port": "2704",
        "office": "01",
        "password": Secret(PASSWORD),
        "statements_of": "111526",
        "preliminary": True,
        "final": True,
        "today": date.fromisoformat(TODAY),
        **changes,
    }
    return b"\n".join(build_request(**options))


def raw_block(qrs: list[QRRecord]) -> bytes:
    records: list[Record] = [
        ARecord(site_code="2704", filer_code="B76", application_id="MO"),
        BRecord(district_port="2704", filer_code="B76", application_id="MO", office_code="01"),
        *qrs,
        YRecord(
            district_port="2704",
            filer_code="B76",
            application_id="MO",
            record_count=len(qrs),
            office_code="01",
        ),
        ZRecord(site_code="2704", filer_code="B76"),
    ]
    return b"\n".join(encode_record(r) for r in records)


def qr(**changes: str) -> QRRecord:
    fields = {
        "transmission_date": "111526",
        "scope": " ",
        "preliminary_request": "Y",
        "final_request": "Y",
        **changes,
    }
    return QRRecord(**fields)  # type: ignore[arg-type]


REQUESTS: list[tuple[str, bytes, str, int]] = [  # name, MO block, code, reroute count
    ("all of the port", request(), "MS0", 3),  # preliminary + final 2704, and the NY branch one
    ("final only", request(preliminary=False), "MS0", 1),
    ("statement number", request(statement="2726P10009"), "MS0", 1),
    ("client branch", request(branch="NY"), "MS0", 1),
    ("importer (none matches)", request(importer="12-3456789AB"), "MS0", 0),
    ("other port", request(port="2709", office=None), "MS0", 1),
    ("scope A", request(all_ports=True, final=False), "MS0", 3),
    ("other date", request(statements_of="111426"), "MS0", 0),
    ("beyond 14 days", request(statements_of="110126"), "MS1", 0),
    ("invalid date", request(statements_of="113126"), "MS2", 0),
    ("future date", request(statements_of="112526"), "MS2", 0),
    ("two QR in one block", raw_block([qr(transmission_date="111326")] * 2), "MS3", 0),
    ("nothing requested", request(preliminary=False, final=False), "MS4", 0),
    ("bad scope", raw_block([qr(scope="B")]), "MS5", 0),
    ("bad indicator", raw_block([qr(preliminary_request="X")]), "MS6", 0),
]


async def store_holds(service: ServiceProcess, count: int) -> None:
    """Wait until the service's reroute store holds `count` statements (it tails the topic)."""

    async def probe() -> float:
        _, text = await asyncio.to_thread(http_get, service.port, "/metrics")
        for line in text.splitlines():
            if line.startswith("pms_statement_store_statements "):
                return float(line.split()[1])
        return -1.0

    await poll_until(probe, lambda n: n >= count, timeout=30, what="statement store loaded")


def identity(raw: str, district_port: str | None, office_code: str | None, n: int) -> str:
    return f"{raw}|{district_port}|{office_code}|{n}"


def acks_by_request(received: list[Received]) -> dict[str, dict[str, Any]]:
    """The JSON acknowledgements by what identifies their request: QR, port, office, count."""
    out = {}
    for r in received:
        doc = json.loads(r.value or b"{}") if (r.value or b"").startswith(b"{") else None
        if doc is not None and doc.get("type") == "reroute_ack":
            q = doc["request"]
            out[identity(q["raw"], q["district_port"], q["office_code"], q["qr_in_block"])] = doc
    return out


def identity_of(block: bytes) -> str:
    lines = block.split(b"\n")
    qrs = [line.decode() for line in lines if line.startswith(b"QR")]
    b = parse_record(lines[1])
    assert isinstance(b, BRecord)
    return identity(qrs[0], b.district_port, b.office_code, len(qrs))


async def test_requests_are_answered_by_the_chapters_rules(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a", PMS_REROUTE_TODAY=TODAY)
    await service.start()
    await service.wait_ready()
    try:
        statements = [
            *sh.TRANSMISSION,  # 2704/01: preliminary and final 2726P10001
            *transmission("2709", "2726P10002"),
            *transmission("3001", "3026P10001"),
            *transmission("2704", "2726P10009", branch="NY"),
        ]
        await produce(kafka_bootstrap, topics.input, [(b"B76", "\n".join(statements).encode())])
        await consume(kafka_bootstrap, topics.statements, count=5, timeout=30)
        await store_holds(service, 5)
        await produce(
            kafka_bootstrap, topics.input, [(b"B76", block) for _, block, _, _ in REQUESTS]
        )
        received = await consume(kafka_bootstrap, topics.acks, count=2 * len(REQUESTS), timeout=60)
        acks = acks_by_request(received)
        assert len(acks) == len(REQUESTS)
        for name, block, code, count in REQUESTS:
            ack = acks[identity_of(block)]
            assert (ack["code"], ack["reroute_count"]) == (code, count), name
            assert ack["accepted"] is (code == "MS0")
        # the MQ blocks: byte-exact records whose QX re-parses to the JSON's values
        blocks = [r.value or b"" for r in received if not (r.value or b"").startswith(b"{")]
        assert len(blocks) == len(REQUESTS)
        for block in blocks:
            lines = block.split(b"\n")
            assert [line[:1] for line in lines] == [b"A", b"B", b"Q", b"Y", b"Z"]
            for line in lines:
                assert len(line) == 80
                assert encode_record(parse_record(line)) == line
            qx = parse_record(lines[2])
            assert isinstance(qx, QXRecord)
            assert any(
                (a["code"], a["message"], a["reroute_count"])
                == (qx.code, qx.message, qx.reroute_count)
                for a in acks.values()
            )
        # the statements sent again carry the request id, as many as the acks counted
        everything = await consume(kafka_bootstrap, topics.statements, count=5 + 10, timeout=30)
        again = [json.loads(r.value or b"") for r in everything]
        again = [d for d in again if d["reroute_of"]]
        assert len(again) == sum(count for *_, count in REQUESTS)
        ids = {a["request_id"] for a in acks.values() if a["reroute_count"]}
        assert {d["reroute_of"] for d in again} == ids
    finally:
        await service.terminate()

    # After a restart the store is rebuilt from the statements topic.
    await service.start()
    await service.wait_ready()
    try:
        block = request(statement="2726P10001")
        await produce(kafka_bootstrap, topics.input, [(b"B76", block)])
        received = await consume(
            kafka_bootstrap, topics.acks, count=2 * len(REQUESTS) + 2, timeout=60
        )
        ack = acks_by_request(received)[identity_of(block)]
        assert (ack["code"], ack["reroute_count"]) == ("MS0", 2)
    finally:
        await service.terminate()
    assert PASSWORD not in service.log_path.read_text()  # every request carried it


async def test_the_reroute_command_writes_a_request_that_passes_the_layout_field_by_field(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    """The Application Control layout (../shared/spec/application-control.md), A record:
    "| 9-14 | 6AN | M in, blank out | Communication password (input only; never echoed on
    output, never logged) |" and "| 15-20 | 6N | C | Transmission date, MMDDYY |". The request
    `pms-stream reroute` sends (password from PMS_ABI_PASSWORD) passes every record's layout,
    carries the password and today's date, and the service answers it; the password shows
    nowhere: not in the command's output, the answer or the service's log."""
    today = date.today()
    service = ServiceProcess(
        kafka_bootstrap, topics, tmp_path, "a", PMS_REROUTE_TODAY=today.isoformat()
    )
    await service.start()
    await service.wait_ready()
    try:
        env = {**service.env, "PMS_ABI_PASSWORD": PASSWORD}
        args = ["reroute", "--filer", "B76", "--port", "2704", "--office", "01"]
        args += ["--date", today.isoformat(), "--final"]
        done = await asyncio.create_subprocess_exec(EXE, *args, env=env, stdout=PIPE, stderr=PIPE)
        out, err = await done.communicate()
        assert done.returncode == 0, err
        assert PASSWORD.encode() not in out + err
        (sent,) = await consume(kafka_bootstrap, topics.input, count=1, timeout=30)
        assert sent.key == b"B76"
        lines = (sent.value or b"").split(b"\n")
        for line in lines:
            assert len(line) == 80
            assert encode_record(parse_record(line)) == line  # each passes its layout
        a, b, qr_record, y, z = (parse_record(line) for line in lines)
        assert a == ARecord(
            site_code="2704",
            filer_code="B76",
            password=Secret(PASSWORD),
            transmission_date=today,
            application_id="MO",
            office_code="01",
        )
        assert lines[0][8:14] == PASSWORD.encode()  # positions 9-14
        assert lines[0][14:20] == today.strftime("%m%d%y").encode()  # positions 15-20
        assert b == BRecord(
            district_port="2704", filer_code="B76", application_id="MO", office_code="01"
        )
        assert qr_record == qr(transmission_date=today.strftime("%m%d%y"), preliminary_request="N")
        assert y == YRecord(
            district_port="2704",
            filer_code="B76",
            application_id="MO",
            record_count=1,
            office_code="01",
        )
        assert z == ZRecord(site_code="2704", filer_code="B76", date=today, office_code="01")
        received = await consume(kafka_bootstrap, topics.acks, count=2, timeout=30)
        (ack,) = acks_by_request(received).values()
        assert (ack["code"], ack["reroute_count"]) == ("MS0", 0)
        assert all(PASSWORD.encode() not in (r.value or b"") for r in received)
    finally:
        await service.terminate()
    assert PASSWORD not in service.log_path.read_text()


async def test_the_reroute_command_refuses_to_send_without_a_password(tmp_path: Path) -> None:
    """The A record's password is "M in": without PMS_ABI_PASSWORD or --password the command
    sends nothing and exits 2; --dry-run prints the records with the password blank (or masked
    when there is one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMS_")}
    args = ["reroute", "--filer", "B76", "--port", "2704", "--final"]
    args += ["--bootstrap-servers", "127.0.0.1:1"]  # never reached
    done = await asyncio.create_subprocess_exec(EXE, *args, env=env, stdout=PIPE, stderr=PIPE)
    out, err = await done.communicate()
    assert done.returncode == 2
    assert out == b""
    assert b"no communication password: set PMS_ABI_PASSWORD" in err
    for extra, shown in [({}, b"      "), ({"PMS_ABI_PASSWORD": PASSWORD}, b"******")]:
        done = await asyncio.create_subprocess_exec(
            EXE, *args, "--dry-run", env={**env, **extra}, stdout=PIPE, stderr=PIPE
        )
        out, err = await done.communicate()
        assert done.returncode == 0, err
        assert out.split(b"\n")[0][8:14] == shown
        assert PASSWORD.encode() not in out + err


async def test_cbp_qx_answers_on_the_input_become_reroute_acks(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a")
    await service.start()
    await service.wait_ready()
    try:
        qx = encode_record(
            QXRecord(code="MS1", message="Trans Dt of Stmt Beyond 14 Days", reroute_count=0)
        )
        mq = [
            encode_record(ARecord(site_code="2704", filer_code="B76", application_id="MQ")),
            encode_record(BRecord(district_port="2704", filer_code="B76", application_id="MQ")),
            qx,
            encode_record(
                YRecord(district_port="2704", filer_code="B76", application_id="MQ", record_count=1)
            ),
            encode_record(ZRecord(site_code="2704", filer_code="B76")),
        ]
        await produce(kafka_bootstrap, topics.input, [(b"B76", b"\n".join(mq))])
        (ack,) = await consume(kafka_bootstrap, topics.acks, count=1, timeout=30)
        doc = json.loads(ack.value or b"")
        assert (doc["type"], doc["code"], doc["accepted"], doc["raw"]) == (
            "reroute_ack",
            "MS1",
            False,
            qx.decode(),
        )
    finally:
        await service.terminate()
