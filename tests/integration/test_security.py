"""`pms-stream run` against the broker's SASL listeners: SCRAM-SHA-256 and -512 over
SASL_PLAINTEXT and over SASL_SSL (trusting the CA made at `broker.sh up`) process a transmission
end to end, with the input produced and the statements read by clients configured the same way;
a wrong password or an untrusted certificate ends the service within seconds with an error that
says so; and no log line ever holds the password, the right one or the wrong one."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer

from pms_stream.generator import GenerateOptions, generate
from pms_testkit.kafka_helpers import Received, produce
from pms_testkit.service_harness import (
    ServiceProcess,
    Topics,
    as_bytes,
    offline,
    pairs,
    topics_fixture,
    without_source,
)
from pms_testkit.service_harness import (
    run_until_exit as harness_run_until_exit,
)
from tests.integration.conftest import BrokerSecurity, SaslProtocol

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

FAIL_FAST_S = 15.0  # a refused login must end the service within this (the bound)


topics = topics_fixture("pms-sec")


async def consume_with(
    bootstrap: str, options: dict[str, Any], topic: str, *, count: int, timeout: float
) -> list[Received]:
    """Read ``topic`` from the start, read_committed, with the given security options."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **options,
    )
    await consumer.start()
    received: list[Received] = []
    deadline = time.monotonic() + timeout
    try:
        while len(received) < count and time.monotonic() < deadline:
            batches: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=500)
            received += [Received.of(r) for records in batches.values() for r in records]
    finally:
        await consumer.stop()
    return received


def lines_with(path: Path, *secrets_: str) -> list[int]:
    """Numbers of the log lines holding any of ``secrets_`` (never the lines themselves)."""
    lines = path.read_text(errors="replace").splitlines()
    return [n for n, line in enumerate(lines, 1) if any(s in line for s in secrets_)]


def wrong_password(right: str) -> str:
    while (candidate := secrets.token_urlsafe(18)) == right:
        pass
    return candidate


async def run_until_exit(service: ServiceProcess) -> tuple[int, float]:
    return await harness_run_until_exit(service, FAIL_FAST_S * 2)


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [
        ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
        ("SASL_SSL", "SCRAM-SHA-256"),
        ("SASL_SSL", "SCRAM-SHA-512"),
    ],
)
async def test_service_over_sasl_processes_a_transmission_and_never_logs_the_password(
    broker_security: BrokerSecurity,
    topics: Topics,
    tmp_path: Path,
    protocol: SaslProtocol,
    mechanism: str,
) -> None:
    sec = broker_security
    assert mechanism in sec.mechanisms
    bootstrap = sec.bootstrap(protocol)
    options = sec.client_options(protocol, mechanism)
    data = as_bytes(generate(GenerateOptions(statements=12, seed=23, framing="block")))
    expected = Counter(without_source(e) for e in offline(data) if e["type"] == "statement")
    # DEBUG: aiokafka then logs every request it sends, the SASL exchange included
    settings = {**sec.service_settings(protocol, mechanism), "PMS_LOG_LEVEL": "DEBUG"}
    service = ServiceProcess(bootstrap, topics, tmp_path, "sasl", **settings)
    await service.start()
    try:
        await service.wait_ready()
        await produce(bootstrap, topics.input, pairs(data, pack=5), **options)
        got = await consume_with(
            bootstrap, options, topics.statements, count=sum(expected.values()), timeout=60
        )
        assert Counter(without_source(msgspec.json.decode(r.value or b"")) for r in got) == (
            expected
        )
    finally:
        assert await service.terminate() == 0, service.tail()
    events = service.log_events()
    (starting,) = [e for e in events if e.get("event") == "starting"]
    assert starting["settings"]["security_protocol"] == protocol
    assert starting["settings"]["sasl_password"] == "******"
    # aiokafka says so on every connection it authenticates: proof SASL was used, not bypassed
    logins = {e["event"] for e in events if str(e.get("event")).startswith("Authenticated as")}
    assert logins == {f"Authenticated as {sec.username} via {mechanism}"}
    assert not lines_with(service.log_path, sec.password), "the password is in the log"


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [("SASL_PLAINTEXT", "SCRAM-SHA-512"), ("SASL_SSL", "SCRAM-SHA-256")],
)
async def test_a_wrong_password_ends_the_service_fast_saying_authentication_failed(
    broker_security: BrokerSecurity,
    topics: Topics,
    tmp_path: Path,
    protocol: SaslProtocol,
    mechanism: str,
) -> None:
    sec = broker_security
    wrong = wrong_password(sec.password)
    settings = sec.service_settings(protocol, mechanism, password=wrong)
    service = ServiceProcess(sec.bootstrap(protocol), topics, tmp_path, "wrong", **settings)
    code, seconds = await run_until_exit(service)
    assert code == 1, service.tail()
    assert seconds < FAIL_FAST_S, f"took {seconds:.1f}s:\n{service.tail()}"
    (failed,) = [e for e in service.log_events() if e.get("level") == "critical"]
    assert failed["event"] == "service failed"
    assert (
        f"authentication failed for user '{sec.username}' (SASL {mechanism} over {protocol}) "
        f"on {sec.bootstrap(protocol)}" in failed["error"]
    )
    assert "invalid credentials" in failed["error"]  # the broker's own reason
    assert not lines_with(service.log_path, wrong, sec.password), "a password is in the log"


async def test_sasl_ssl_without_the_ca_ends_the_service_fast_saying_tls_failed(
    broker_security: BrokerSecurity, topics: Topics, tmp_path: Path
) -> None:
    sec = broker_security
    settings = sec.service_settings("SASL_SSL", "SCRAM-SHA-512")
    del settings["PMS_SSL_CAFILE"]  # the system's CAs do not know the test CA
    service = ServiceProcess(sec.bootstrap("SASL_SSL"), topics, tmp_path, "noca", **settings)
    code, seconds = await run_until_exit(service)
    assert code == 1, service.tail()
    assert seconds < FAIL_FAST_S, f"took {seconds:.1f}s:\n{service.tail()}"
    (failed,) = [e for e in service.log_events() if e.get("level") == "critical"]
    assert f"TLS handshake with {sec.bootstrap('SASL_SSL')} failed" in failed["error"]
    assert "CERTIFICATE_VERIFY_FAILED" in failed["error"]
    assert not lines_with(service.log_path, sec.password), "the password is in the log"
