"""The missing-statement watchdog through the real broker, on a fixed clock: a payer with a
statement due in October 2026 and none in November yields exactly one `statement_missing` event
on the metrics topic after the 11th working day of November (2026-11-17), across a SIGKILL and
restart and with a second instance watching at the same time; the gauge shows it."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from pathlib import Path

import pytest

from pms_testkit.kafka_helpers import consume, consume_to_end, poll_until, produce
from pms_testkit.service_harness import ServiceProcess, Topics, http_get, topics_fixture
from tests.core import statements_by_hand as sh

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]
WATCH = {
    "PMS_MISSING_WATCH": "true",
    "PMS_MISSING_WATCH_NOW": "2026-11-18T09:00",  # the day after the 11th working day
    "PMS_MISSING_WATCH_INTERVAL_S": "0.5",
}


topics = topics_fixture("pms-mw")


async def missing_events(bootstrap: str, topic: str) -> list[dict[str, object]]:
    received = await consume_to_end(bootstrap, topic, timeout=20)
    return [
        json.loads(r.value)
        for r in received
        if r.key is not None and r.key.startswith(b"statement_missing|") and r.value is not None
    ]


async def gauge(service: ServiceProcess) -> float:
    _, text = await asyncio.to_thread(http_get, service.port, "/metrics")
    for line in text.splitlines():
        if line.startswith("pms_statements_missing "):
            return float(line.split()[1])
    return -1.0


async def test_one_event_per_payer_and_month_across_restarts(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    first = ServiceProcess(kafka_bootstrap, topics, tmp_path, "first", **WATCH)
    await first.start()
    await first.wait_ready()
    await produce(kafka_bootstrap, topics.input, [(b"B76", "\n".join(sh.TRANSMISSION).encode())])
    await consume(kafka_bootstrap, topics.statements, count=2, timeout=30)

    async def events() -> list[dict[str, object]]:
        return await missing_events(kafka_bootstrap, topics.metrics)

    (event,) = await poll_until(events, lambda e: len(e) >= 1, timeout=30, what="one event")
    assert event["type"] == "statement_missing"
    assert (event["payer"], event["payment_month"]) == ("B76", "2026-11")
    assert event["expected_print_date"] == "2026-11-17"
    assert event["previous_statements"] == ["2726P10001"]
    assert event["reroute_command"] == (
        "pms-stream reroute --filer B76 --port 2704 --office 01 --date 2026-11-17 --preliminary"
    )
    assert await poll_until(lambda: gauge(first), lambda v: v == 1, timeout=10, what="gauge")

    await first.kill()  # SIGKILL, then the same and a second instance watch again
    second = ServiceProcess(kafka_bootstrap, topics, tmp_path, "second", **WATCH)
    await asyncio.gather(first.start(), second.start())
    try:
        await asyncio.gather(first.wait_ready(), second.wait_ready())
        for service in (first, second):
            await poll_until(
                partial(gauge, service), lambda v: v == 1, timeout=30, what=service.name
            )
        await asyncio.sleep(3)  # several intervals of both instances
        assert len(await events()) == 1
    finally:
        assert await second.terminate() == 0
        assert await first.terminate() == 0
