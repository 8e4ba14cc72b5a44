"""No Social-Security-shaped importer number and no secret in any log line or metric label of a
real run; the HTTP server listens on the configured address only and serves three paths.

The run is at DEBUG, with aiokafka's own logs in the same pipeline, on statements whose importer
is SSN-shaped, with a bad record holding one, and with a reroute request naming one. The data
topics carry the data as it is (a statement's importer number is the statement); everything
meant for people or dashboards — logs, /metrics, the metrics topic — must not."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pms_testkit.kafka_helpers import consume, produce
from pms_testkit.records_by_hand import put
from pms_testkit.service_harness import ServiceProcess, Topics, http_get, topics_fixture
from tests.core import statements_by_hand as sh

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

SSN = "123-45-6789"
BARE_SSN = "987654321"
KEY_SECRET = "statement-key-s3cret"
SSN_SHAPE = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")


topics = topics_fixture("pms-priv")


def importer_statement(importer: str) -> list[str]:
    """The hand-built transmission as an importer statement (payment type 7) of `importer`."""
    b = put(put(sh.b("P"), 30, "7"), 31, importer.ljust(12))
    q1 = put(sh.D1[0], 20, importer.ljust(12))
    q = [q1, *sh.PRELIMINARY_Q[1:]]
    return [sh.A, b, *q, sh.y(len(q)), sh.Z]


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                if len(address) == 8:
                    found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    found.add(address)
    return found


async def test_no_ssn_or_secret_in_logs_labels_or_summaries(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    service = ServiceProcess(
        kafka_bootstrap,
        topics,
        tmp_path,
        "a",
        PMS_LOG_LEVEL="DEBUG",
        PMS_REROUTE_TODAY="2026-11-20",
        PMS_STATEMENT_KEY_SECRET=KEY_SECRET,
    )
    await service.start()
    await service.wait_ready()
    try:
        bad = put(put(sh.D1[0], 20, SSN.ljust(12)), 50, "X")  # an SSN importer, a bad amount
        unprintable = put(sh.D1[0], 20, BARE_SSN + "\x07  ")
        request = (
            "\n".join(
                [
                    put(sh.A, 27, "MO"),
                    "B  2704B76MO" + " " * 32 + "01" + " " * 34,
                    "QR111526" + SSN.ljust(12) + "  " + " " * 10 + " YY" + " " * 45,
                    "Y  2704B76MO00001" + " " * 63,
                    sh.Z,
                ]
            )
        ).encode()
        await produce(
            kafka_bootstrap,
            topics.input,
            [
                (b"B76", "\n".join(importer_statement(SSN)).encode()),
                (b"B76", "\n".join(importer_statement(BARE_SSN)).encode()),
                (b"B76", bad.encode()),
                (b"B76", unprintable.encode()),
                (b"B76", request),
            ],
        )
        statements = await consume(kafka_bootstrap, topics.statements, count=2, timeout=30)
        assert {json.loads(r.value or b"")["importer_number"] for r in statements} == {
            SSN,
            BARE_SSN,
        }  # the data itself is kept: it is the statement
        # the keys, with PMS_STATEMENT_KEY_SECRET set, hold an HMAC instead of the number
        keys = {(r.key or b"").decode() for r in statements}
        assert all(
            re.fullmatch(r"B76\|hmac:[0-9a-f]{32}\|2726P10001\|preliminary", k) for k in keys
        )
        assert len(keys) == 2
        rejects = await consume(kafka_bootstrap, topics.rejects, count=2, timeout=30)
        values = [json.loads(r.value or b"").get("value") for r in rejects]
        assert not any(v and (SSN in v or BARE_SSN in v) for v in values), values
        summaries = await consume(kafka_bootstrap, topics.metrics, count=1, timeout=30)
        for r in summaries:
            doc = json.loads(r.value or b"")
            if doc["type"] == "statement_summaries":
                for summary in doc["summaries"]:
                    assert summary["importer_number"] == "***-**-****"
        acks = await consume(kafka_bootstrap, topics.acks, count=1, timeout=30)
        assert acks
        _, metrics_text = await asyncio.to_thread(http_get, service.port, "/metrics")
    finally:
        await service.terminate()

    log = service.log_path.read_text()
    assert "DEBUG" in log.upper()  # the run really logged at DEBUG
    assert SSN not in log
    assert BARE_SSN not in log
    assert KEY_SECRET not in log
    assert not SSN_SHAPE.search(log), SSN_SHAPE.search(log)
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            for label, value in sample.labels.items():
                assert not SSN_SHAPE.search(value), (sample.name, label, value)
                assert SSN not in value
                assert BARE_SSN not in value
                assert label != "importer_number"
    assert SSN not in metrics_text
    assert BARE_SSN not in metrics_text


async def test_http_listens_on_the_configured_address_and_serves_three_paths(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a")
    await service.start()
    await service.wait_ready()
    try:
        assert listening_addresses(service.port) == {"127.0.0.1"}
        for path in ("/metrics", "/healthz", "/readyz"):
            status, _ = await asyncio.to_thread(http_get, service.port, path)
            assert status == 200, path
        for path in ("/", "/metrics/", "/debug", "/admin", "/../etc/passwd", "/healthz/x"):
            status, _ = await asyncio.to_thread(http_get, service.port, path)
            assert status == 404, path
    finally:
        await service.terminate()
