"""Static group membership (`PMS_GROUP_INSTANCE_ID`, KIP-345) against the real broker: an
instance killed with SIGKILL and started again under the same id gets its partitions back at
once instead of waiting for the group session of the killed member to time out, and exactly
once still holds across the kill.

The session timeout is 45 s here, so a restart that had to wait for the group to drop the killed
member would take at least 45 s; the assertion (ready within 20 s) cannot pass that way, and
leaves room for a slow shared machine.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from pms_stream.generator import GenerateOptions, generate
from pms_testkit.kafka_helpers import consume, consume_to_end, produce
from pms_testkit.service_harness import (
    ServiceProcess,
    Topics,
    as_bytes,
    offline,
    pairs,
    topics_fixture,
    without_source,
)

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

SESSION_TIMEOUT_S = 45
READY_WITHIN_S = 20


topics = topics_fixture("pms-static")


async def test_a_static_member_restarted_after_sigkill_gets_its_partitions_back_at_once(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    data = as_bytes(generate(GenerateOptions(statements=60, seed=23, framing="block")))
    expected = Counter(without_source(e) for e in offline(data) if e["type"] == "statement")
    chunks = pairs(data, pack=5)
    half = len(chunks) // 2
    service = ServiceProcess(
        kafka_bootstrap,
        topics,
        tmp_path,
        "static",
        PMS_GROUP_INSTANCE_ID="pms-static-0",
        PMS_SESSION_TIMEOUT_MS=str(SESSION_TIMEOUT_S * 1000),
    )
    await service.start()
    try:
        await service.wait_ready(60)
        await produce(kafka_bootstrap, topics.input, chunks[:half])
        some = await consume(kafka_bootstrap, topics.statements, count=5, timeout=60)
        assert len(some) >= 5, "statements flow before the kill"

        await service.kill()
        started = time.monotonic()
        await service.start()
        await service.wait_ready(SESSION_TIMEOUT_S + 30)
        ready_s = time.monotonic() - started
        assert ready_s < READY_WITHIN_S, (
            f"ready {ready_s:.1f} s after the restart: the group waited for the killed member "
            f"(session timeout {SESSION_TIMEOUT_S} s) instead of recognising it"
        )

        await produce(kafka_bootstrap, topics.input, chunks[half:])
        await consume(kafka_bootstrap, topics.statements, count=sum(expected.values()), timeout=90)
        assert await service.terminate() == 0
        got = await consume_to_end(kafka_bootstrap, topics.statements, timeout=30)
        seen = Counter(without_source(json.loads(r.value or b"")) for r in got)
        assert not expected - seen, f"{sum((expected - seen).values())} statements lost"
        assert not seen - expected, f"{sum((seen - expected).values())} statements duplicated"
    finally:
        if service.process is not None and service.process.returncode is None:
            await service.terminate()
    assigned = [e for e in service.log_events() if e.get("event") == "partitions assigned"]
    assert len(assigned) >= 2, "both lives of the instance logged their assignment"
    assert assigned[-1]["partitions"] == [0, 1, 2]


async def test_two_live_instances_with_one_instance_id_end_the_replaced_one_not_flapping(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    """Issue 12, finding 7: two live instances under the same PMS_GROUP_INSTANCE_ID replaced
    each other every ~3 s, both reported ready, only a warning was logged. Now the one the
    broker replaced exits 4 saying why, and the other keeps the partitions undisturbed."""
    same = {"PMS_GROUP_INSTANCE_ID": "pms-twin-0", "PMS_SESSION_TIMEOUT_MS": "10000"}
    old = ServiceProcess(kafka_bootstrap, topics, tmp_path, "old", **same)
    new = ServiceProcess(kafka_bootstrap, topics, tmp_path, "new", **same)
    try:
        await old.start()
        await old.wait_ready(60)
        await new.start()
        await new.wait_ready(60)
        assert old.process is not None
        code = await asyncio.wait_for(old.process.wait(), 30)
        assert code == 4, old.tail()
        (failed,) = [e for e in old.log_events() if e.get("level") == "critical"]
        assert failed["error"] == (
            "another live instance uses group_instance_id 'pms-twin-0' (PMS_GROUP_INSTANCE_ID) "
            f"and took this instance's place in group '{topics.group}'; give every instance its "
            "own id"
        )
        assigned = sum(e.get("event") == "partitions assigned" for e in new.log_events())
        await asyncio.sleep(10)  # three heartbeats: the survivor is not replaced again
        await new.wait_ready(5)
        after = sum(e.get("event") == "partitions assigned" for e in new.log_events())
        assert after == assigned, "the surviving instance kept being rebalanced"
        assert not [e for e in new.log_events() if "not recognized" in str(e.get("event"))]
        assert await new.terminate() == 0
    finally:
        for service in (old, new):
            if service.process is not None and service.process.returncode is None:
                await service.kill()
