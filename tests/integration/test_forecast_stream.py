"""The ACH cash forecast as a stream, through the real broker: generated statements of several
payers over several months go through two instances that are SIGKILLed and restarted while the
input flows (each kill and restart is a rebalance; the forecast task moves with partition 0 of
the input topic). At the quiet end, the latest value per key of the compacted forecasts topic
equals the offline `pms-stream forecast` of the same input, to the cent, and equals the forecast
recomputed from the read_committed statements topic. Then a final statement that lowers the
amount due moves its forecast down, with the change shown, and `GET /forecast` serves it."""

from __future__ import annotations

import asyncio
import io
import json
import random
import urllib.request
from collections.abc import AsyncIterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from pms_stream.commands.forecast import forecast_stream
from pms_stream.forecast.aggregate import ForecastBook
from pms_stream.generator import GenerateOptions, generate
from pms_stream.statements.model import Statement
from pms_testkit.kafka_helpers import consume_to_end, delete_topics, poll_until, produce
from pms_testkit.service_harness import ServiceProcess, Topics, as_bytes, pairs
from tests.core import statements_by_hand as sh

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]
TOKEN = "forecast-token"
_COMPARED = (
    "payer", "payer_kind", "due_date", "payment_month", "amount_due", "duty", "tax", "add",
    "cvd", "fees", "statements", "preliminary", "statement_numbers",
)  # fmt: skip


@pytest_asyncio.fixture
async def topics(admin: AIOKafkaAdminClient) -> AsyncIterator[Topics]:
    t = Topics.new("pms-fc")
    yield t
    await delete_topics(
        admin, [t.input, t.statements, t.acks, t.rejects, t.metrics, t.statements + "-fc"]
    )


def comparable(doc: dict[str, Any]) -> str:
    return json.dumps({k: doc[k] for k in _COMPARED}, sort_keys=True)


async def latest_forecasts(bootstrap: str, topic: str) -> dict[str, str]:
    """The compacted topic as a reader sees it: the latest value per key (read_committed)."""
    latest: dict[str, str] = {}
    for r in await consume_to_end(bootstrap, topic, timeout=20):
        if r.key is not None and r.value is not None:
            latest[r.key.decode()] = comparable(json.loads(r.value))
    return latest


async def recomputed(bootstrap: str, topic: str) -> dict[str, str]:
    """The forecast recomputed from the read_committed statements topic."""
    book = ForecastBook()
    for r in await consume_to_end(bootstrap, topic, timeout=20):
        if r.value is not None:
            book.apply(msgspec.json.decode(r.value, type=Statement))
    encoded = (json.loads(msgspec.json.encode(f)) for f in book.forecasts())
    return {f"{d['payer']}|{d['due_date']}": comparable(d) for d in encoded}


async def test_forecasts_topic_equals_the_offline_forecast_after_kills_and_rebalances(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    data = as_bytes(generate(GenerateOptions(statements=90, seed=17)))
    book, _, _ = forecast_stream(io.BytesIO(data), "in.txt", "records")
    offline = [json.loads(msgspec.json.encode(f)) for f in book.forecasts()]
    assert len({f["payer"] for f in offline}) >= 5
    assert len({f["payment_month"] for f in offline}) >= 2
    expected = {f"{f['payer']}|{f['due_date']}": comparable(f) for f in offline}

    forecasts_topic = topics.statements + "-fc"
    settings = {
        "PMS_FORECAST": "true",
        "PMS_FORECASTS_TOPIC": forecasts_topic,
        "PMS_QUERY_TOKEN": TOKEN,
        "PMS_QUERY_RETENTION_DAYS": "4000",
        "PMS_SESSION_TIMEOUT_MS": "6000",
        "PMS_BATCH_MAX_RECORDS": "20",
    }
    a = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a", **settings)
    b = ServiceProcess(kafka_bootstrap, topics, tmp_path, "b", **settings)
    await asyncio.gather(a.start(), b.start())
    rng = random.Random(3)
    try:
        await asyncio.gather(a.wait_ready(), b.wait_ready())
        chunks = pairs(data, pack=5)
        step = max(len(chunks) // 6, 1)
        for i, start in enumerate(range(0, len(chunks), step)):
            await produce(kafka_bootstrap, topics.input, chunks[start : start + step])
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            if i in (1, 3):  # SIGKILL one, then the other, while the input flows
                victim = a if i == 1 else b
                await victim.kill()
                await victim.start()
        await asyncio.gather(a.wait_ready(90), b.wait_ready(90))

        async def probe() -> dict[str, str]:
            return await latest_forecasts(kafka_bootstrap, forecasts_topic)

        got = await poll_until(probe, lambda g: g == expected, timeout=120, what="forecasts")
        assert got == expected  # every key, to the cent
        assert await recomputed(kafka_bootstrap, topics.statements) == expected
        # exactly once: no forecast was published twice in a row for a key (a replay after a
        # kill that re-published would repeat the previous value)
        history: dict[bytes, list[str]] = {}
        for r in await consume_to_end(kafka_bootstrap, forecasts_topic, timeout=20):
            if r.key is not None and r.value is not None:
                history.setdefault(r.key, []).append(comparable(json.loads(r.value)))
        for values in history.values():
            assert all(x != y for x, y in pairwise(values))

        # a final that lowers the amount due: the forecast moves down, with the change
        first, second = sh.PRELIMINARY_BLOCK, sh.FINAL_BLOCK
        await produce(kafka_bootstrap, topics.input, [(b"B76", "\n".join(first).encode())])
        key = "B76|2026-10-22"
        await poll_until(probe, lambda g: key in g, timeout=60, what="preliminary forecast")
        await produce(kafka_bootstrap, topics.input, [(b"B76", "\n".join(second).encode())])

        async def changes() -> list[dict[str, Any]]:
            received = await consume_to_end(kafka_bootstrap, forecasts_topic, timeout=20)
            return [
                json.loads(r.value)
                for r in received
                if r.key == key.encode() and r.value is not None
            ]

        events = await poll_until(changes, lambda e: len(e) >= 2, timeout=60, what="final")
        before, after = events[-2], events[-1]
        assert Decimal(after["amount_due"]) < Decimal(before["amount_due"])
        assert Decimal(after["change"]) == Decimal(after["amount_due"]) - Decimal(
            before["amount_due"]
        )
        assert after["previous_amount_due"] == before["amount_due"]
        assert (after["statements"], after["preliminary"]) == (1, 0)

        async def served() -> list[dict[str, Any]]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{a.port}/forecast?payer=B76&from=2026-10-22&to=2026-10-22",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )

            def get() -> list[dict[str, Any]]:
                try:
                    with urllib.request.urlopen(request, timeout=5) as r:
                        return list(json.loads(r.read())["forecasts"])
                except OSError:
                    return []

            return await asyncio.to_thread(get)

        (row,) = await poll_until(
            served, lambda rows: rows == [after], timeout=30, what="GET /forecast"
        )
        assert row["amount_due"] == after["amount_due"]
    finally:
        for s in (a, b):
            if s.process is not None and s.process.returncode is None:
                await s.terminate()
    restored = [e for s in (a, b) for e in s.log_events() if e["event"] == "forecast task restored"]
    assert len(restored) >= 2, "the forecast task moved at least once (a kill hit its instance)"
