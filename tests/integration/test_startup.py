"""`pms-stream run` failing at start, against the real broker: each error of issue 12 (finding
6, deliver 5) and issue 16 (items 1-2, for `run`) ends the process with one clear critical line
naming the setting or topic, a documented exit status, no traceback, within the bound; SIGTERM
ends a start-up that waits for a broker within 2 s.

Before the fixes: a transaction timeout above the broker's maximum left the service healthy and
idle; replication factor 3 on one broker logged "created topics", then 40 s of "topic not found"
and `UnknownTopicOrPartitionError()`; a missing input topic with `PMS_CREATE_TOPICS=false` idled
"healthy"; a bad session timeout exited 1 naming no setting; an HTTP port in use or an
unresolvable host printed a 30-46-line traceback; a host that never answers took 50 s and
ignored SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pms_stream.service.admin import StartupError, TopicSpec, create_topics
from pms_stream.service.config import Settings
from pms_testkit.kafka_helpers import create_topic, new_topic_name
from pms_testkit.service_harness import (
    ServiceProcess,
    Topics,
    free_port,
    run_until_exit,
    topics_fixture,
)

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

BOUND_S = 15.0  # issue 16: a failure within 15 s by default


topics = topics_fixture("pms-start")


@pytest.fixture
def blackhole() -> Iterator[str]:
    """127.0.0.1:port where a socket listens but never accepts: connections hang unanswered."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def the_failure(service: ServiceProcess) -> dict[str, object]:
    """The one critical line of a service that failed; no traceback anywhere in its output."""
    text = service.log_path.read_text(errors="replace")
    assert "Traceback" not in text, text
    (failed,) = [e for e in service.log_events() if e.get("level") == "critical"]
    assert failed["event"] == "service failed"
    return failed


async def fails(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, expected: int, **settings: str
) -> str:
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "failing", **settings)
    code, seconds = await run_until_exit(service, BOUND_S * 2)
    assert code == expected, service.tail()
    assert seconds < BOUND_S, f"took {seconds:.1f} s:\n{service.tail()}"
    failed = the_failure(service)
    assert failed["exit_code"] == expected
    return str(failed["error"])


async def test_a_transaction_timeout_above_the_broker_maximum_is_refused_naming_it(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    error = await fails(kafka_bootstrap, topics, tmp_path, 2, PMS_TRANSACTION_TIMEOUT_MS="1000000")
    assert error == (
        "PMS_TRANSACTION_TIMEOUT_MS is 1000000, above the broker's transaction.max.timeout.ms "
        "of 900000: set it to 900000 or less"
    )


async def test_a_replication_factor_above_the_broker_count_creates_nothing_and_says_so(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, admin: AIOKafkaAdminClient
) -> None:
    error = await fails(kafka_bootstrap, topics, tmp_path, 2, PMS_REPLICATION_FACTOR="3")
    assert error.startswith("PMS_REPLICATION_FACTOR is 3, but the cluster has 1 broker(s)")
    assert topics.input in error
    assert "set it to 1 or less" in error
    assert topics.input not in await admin.list_topics()


async def test_missing_topics_without_creation_are_named(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    error = await fails(kafka_bootstrap, topics, tmp_path, 2, PMS_CREATE_TOPICS="false")
    assert error.startswith("PMS_CREATE_TOPICS is false and these topics do not exist: ")
    assert f"'{topics.input}' (PMS_INPUT_TOPIC)" in error
    assert f"'{topics.statements}' (PMS_STATEMENTS_TOPIC)" in error


async def test_missing_output_topics_without_creation_are_named(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, admin: AIOKafkaAdminClient
) -> None:
    await create_topic(admin, topics.input, partitions=2)
    error = await fails(kafka_bootstrap, topics, tmp_path, 2, PMS_CREATE_TOPICS="false")
    assert topics.input not in error
    for name, variable in (
        (topics.statements, "PMS_STATEMENTS_TOPIC"),
        (topics.rejects, "PMS_REJECTS_TOPIC"),
        (topics.acks, "PMS_REROUTE_ACKS_TOPIC"),
        (topics.metrics, "PMS_METRICS_TOPIC"),
    ):
        assert f"'{name}' ({variable})" in error


async def test_a_session_timeout_outside_the_broker_limits_is_named(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    error = await fails(kafka_bootstrap, topics, tmp_path, 2, PMS_SESSION_TIMEOUT_MS="1000")
    assert error == (
        "PMS_SESSION_TIMEOUT_MS is 1000, outside the broker's "
        "group.min.session.timeout.ms..group.max.session.timeout.ms (6000..1800000)"
    )


async def test_a_batch_timeout_above_the_stall_timeout_is_refused_before_connecting(
    topics: Topics, tmp_path: Path, kafka_bootstrap: str
) -> None:
    service = ServiceProcess(
        kafka_bootstrap, topics, tmp_path, "batch", PMS_BATCH_TIMEOUT_MS="70000"
    )
    code, _ = await run_until_exit(service, BOUND_S)
    assert code == 2
    text = service.log_path.read_text()
    assert "Traceback" not in text
    assert "batch_timeout_ms (environment variable PMS_BATCH_TIMEOUT_MS): 70000 ms" in text


async def test_an_http_port_in_use_is_one_line(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        error = await fails(kafka_bootstrap, topics, tmp_path, 2, PMS_HTTP_PORT=str(port))
    assert error == (
        f"HTTP server cannot listen on 127.0.0.1:{port}: port {port} (PMS_HTTP_PORT) is already "
        "in use"
    )


async def test_an_unresolvable_http_host_is_one_line(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    error = await fails(kafka_bootstrap, topics, tmp_path, 2, PMS_HTTP_HOST="no-such-host.invalid")
    assert "host 'no-such-host.invalid' (PMS_HTTP_HOST) cannot be resolved" in error


async def test_a_refused_connection_is_one_line_at_once(topics: Topics, tmp_path: Path) -> None:
    error = await fails(f"127.0.0.1:{free_port()}", topics, tmp_path, 1)
    assert "refused the connection" in error
    assert "PMS_BOOTSTRAP_SERVERS" in error


async def test_a_broker_that_never_answers_fails_within_the_bound(
    blackhole: str, topics: Topics, tmp_path: Path
) -> None:
    """The default PMS_CONNECT_TIMEOUT_S (10 s) ends it within 15 s (was 47-49 s)."""
    error = await fails(blackhole, topics, tmp_path, 1)
    assert error.startswith(f"the Kafka brokers at {blackhole} did not answer (bootstrap)")
    assert "within 10 s (PMS_CONNECT_TIMEOUT_S)" in error


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_during_the_connection_wait_ends_run_within_2_s(
    blackhole: str, topics: Topics, tmp_path: Path, sig: signal.Signals
) -> None:
    service = ServiceProcess(blackhole, topics, tmp_path, "waiting")
    await service.start()
    assert service.process is not None
    for _ in range(100):  # up and waiting for the broker
        if any(e.get("event") == "starting" for e in service.log_events()):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    started = time.monotonic()
    service.process.send_signal(sig)
    code = await asyncio.wait_for(service.process.wait(), 10)
    seconds = time.monotonic() - started
    assert code == 0, service.tail()
    assert seconds <= 2.0, f"{seconds:.1f} s after the signal:\n{service.tail()}"
    assert any(e.get("event") == "stopped during start-up" for e in service.log_events())


async def test_a_topic_the_broker_refuses_is_reported_with_the_broker_reason(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient
) -> None:
    """Finding 6: "created topics" was logged although the broker refused them."""
    name = new_topic_name()
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_partitions=1)
    spec = TopicSpec(name, "statements_topic", (("cleanup.policy", "sideways"),))
    with pytest.raises(StartupError) as caught:
        await create_topics(settings, admin, [spec])
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert message.startswith(f"the broker refused to create topic '{name}': ")
    assert "sideways" in message  # the broker's own words name the bad value
    assert name not in await admin.list_topics()
