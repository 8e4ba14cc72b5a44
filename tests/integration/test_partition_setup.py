"""Partition set-up beside the processing loop, against the real broker (issue 12, findings 2
and 5, deliver 2).

- 160 idle partitions: before the fix each one's set-up waited about half a second for the
  consumer's next fetch round (`seek_to_beginning`) while the loop was blocked, so the watchdog
  ended the process (exit 3) twice in a row; now one instance is ready well within 60 s, a
  second one joins, both are ready, and every statement comes out exactly once.
- A set-up that keeps failing is retried with backoff, counted in
  `pms_partition_setup_failures_total`, keeps `/readyz` at 503 naming the set-up, and ends the
  service with the reason (exit 1) instead of leaving it healthy and idle.
- An exception in the rebalance listener (which aiokafka logs and drops) ends the service with
  the reason.
- SIGTERM while partitions are being set up, or while the statement store loads, ends `run`
  within 2 s (issue 16, item 2).

The failures are injected in-process into one step of a real service (the committed-offset
fetch, the listener's handler); everything else talks to the real broker.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from pms_stream.generator import GenerateOptions, generate
from pms_stream.service.config import Settings
from pms_stream.service.runner import Service
from pms_stream.service.store_feed import StoreFeed
from pms_testkit.kafka_helpers import consume, consume_to_end, produce
from pms_testkit.service_harness import (
    ServiceProcess,
    Topics,
    as_bytes,
    http_get,
    offline,
    pairs,
    topics_fixture,
    without_source,
)

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

PARTITIONS = 160
READY_WITHIN_S = 60.0


topics = topics_fixture("pms-setup")


@pytest.mark.chaos
async def test_160_idle_partitions_one_instance_ready_then_two_exactly_once(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    data = as_bytes(generate(GenerateOptions(statements=40, seed=160, framing="block")))
    expected = Counter(without_source(e) for e in offline(data) if e["type"] == "statement")
    settings = {"PMS_TOPIC_PARTITIONS": str(PARTITIONS), "PMS_SESSION_TIMEOUT_MS": "30000"}
    first = ServiceProcess(kafka_bootstrap, topics, tmp_path, "first", **settings)
    second = ServiceProcess(kafka_bootstrap, topics, tmp_path, "second", **settings)
    try:
        started = time.monotonic()
        await first.start()
        await first.wait_ready(READY_WITHIN_S)
        first_ready_s = time.monotonic() - started

        started = time.monotonic()
        await second.start()
        await second.wait_ready(READY_WITHIN_S)
        await first.wait_ready(READY_WITHIN_S)
        both_ready_s = time.monotonic() - started

        await produce(kafka_bootstrap, topics.input, pairs(data, pack=5))
        await consume(kafka_bootstrap, topics.statements, count=sum(expected.values()), timeout=120)
        assert await second.terminate() == 0, second.tail()
        assert await first.terminate() == 0, first.tail()
    finally:
        for service in (first, second):
            if service.process is not None and service.process.returncode is None:
                await service.kill()
    got = await consume_to_end(kafka_bootstrap, topics.statements, timeout=60)
    seen = Counter(without_source(json.loads(r.value or b"")) for r in got)
    assert not expected - seen, f"{sum((expected - seen).values())} statements lost"
    assert not seen - expected, f"{sum((seen - expected).values())} statements duplicated"
    for service in (first, second):
        events = [e.get("event") for e in service.log_events()]
        assert "processing loop stalled; exiting" not in events
        assert "service failed" not in events
    print(  # the figures docs/reliability.md quotes (pytest -s)
        f"160 partitions: first ready in {first_ready_s:.1f} s, both ready "
        f"{both_ready_s:.1f} s after the second started; {sum(seen.values())} statements, "
        f"{sum(expected.values())} expected"
    )


def in_process(bootstrap: str, topics: Topics, **changes: Any) -> Service:
    """A service on `topics` in this process (2 partitions); `changes`: further settings."""
    settings = Settings(
        bootstrap_servers=bootstrap,
        input_topic=topics.input,
        statements_topic=topics.statements,
        reroute_acks_topic=topics.acks,
        rejects_topic=topics.rejects,
        metrics_topic=topics.metrics,
        group_id=topics.group,
        http_port=0,
        topic_partitions=2,
        log_format="console",
        **changes,
    )
    return Service(settings)


async def run_in_process(service: Service, timeout: float) -> int:
    try:
        return await asyncio.wait_for(service.run(), timeout)
    finally:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def test_a_set_up_that_keeps_failing_is_retried_counted_and_ends_the_service(
    kafka_bootstrap: str, topics: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    service = in_process(kafka_bootstrap, topics)
    calls = 0

    async def broken(tp: Any) -> Any:
        nonlocal calls
        calls += 1
        raise KafkaConnectionError(f"injected: no offsets for partition {tp.partition}")

    service._committed = broken  # type: ignore[method-assign]
    readiness: list[str] = []

    async def probe() -> None:
        while True:
            await asyncio.sleep(0.5)
            port = service.http_port
            if port:
                readiness.append((await asyncio.to_thread(http_get, port, "/readyz"))[1])

    prober = asyncio.create_task(probe())
    try:
        code = await run_in_process(service, 90)
    finally:
        prober.cancel()
    assert code == 1
    assert calls == 2 * 5  # two partitions, five attempts each
    assert service.metrics.partition_setup_failures_total._value.get() >= 5
    assert any(r.startswith("setting up 2 of 2 assigned partitions") for r in readiness)
    assert not any(r.startswith("ok") for r in readiness)
    out = capsys.readouterr().out + capsys.readouterr().err
    assert "could not be set up in 5 attempts" in out
    assert "injected: no offsets for partition" in out


async def test_an_exception_in_the_rebalance_listener_ends_the_service_with_it(
    kafka_bootstrap: str, topics: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    service = in_process(kafka_bootstrap, topics)

    async def broken(assigned: list[Any]) -> None:
        raise RuntimeError("injected listener failure")

    service.assign = broken  # type: ignore[method-assign]
    code = await run_in_process(service, 60)
    assert code == 1
    assert service.metrics.partition_setup_failures_total._value.get() == 1
    out = capsys.readouterr()
    assert "handling partitions assigned failed: RuntimeError('injected listener failure')" in (
        out.out + out.err
    )


async def stop_with_sigterm_when(service: Service, reason: str) -> tuple[int, float]:
    """Run the service in this process, send this process SIGTERM once `/readyz` answers
    `reason`, and return (exit status, seconds from the signal to the end of `run`)."""
    runner = asyncio.create_task(run_in_process(service, 120))
    for _ in range(600):
        port = service.http_port
        if port and (await asyncio.to_thread(http_get, port, "/readyz"))[1].startswith(reason):
            break
        assert not runner.done(), "the service ended before the stage"
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"/readyz never said {reason!r}")
    signalled = time.monotonic()
    os.kill(os.getpid(), signal.SIGTERM)  # the service's own handler on this loop takes it
    code = await asyncio.wait_for(runner, 30)
    return code, time.monotonic() - signalled


async def test_sigterm_while_partitions_are_being_set_up_ends_run_within_2_s(
    kafka_bootstrap: str, topics: Topics
) -> None:
    service = in_process(kafka_bootstrap, topics)

    async def hanging(tp: Any) -> Any:
        await asyncio.Event().wait()  # a committed-offset fetch that never answers

    service._committed = hanging  # type: ignore[method-assign]
    code, seconds = await stop_with_sigterm_when(service, "setting up 2 of 2")
    assert code == 0
    assert seconds <= 2.0, f"{seconds:.1f} s"


async def test_sigterm_while_loading_the_statement_store_ends_run_within_2_s(
    kafka_bootstrap: str, topics: Topics, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hanging(self: StoreFeed, end: dict[Any, int]) -> None:
        await asyncio.Event().wait()  # a statements topic that takes forever to read

    monkeypatch.setattr(StoreFeed, "_catch_up", hanging)
    service = in_process(kafka_bootstrap, topics)
    code, seconds = await stop_with_sigterm_when(service, "loading the statement store")
    assert code == 0
    assert seconds <= 2.0, f"{seconds:.1f} s"
