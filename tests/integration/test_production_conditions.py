"""Issue 12 (data path), against the real broker with `pms-stream run`: compressed input with
every codec Kafka producers use, a statement larger than its topic's own limit, and 200 stream
keys open at once. Each reproduced a crash loop before the fix (docs/reliability.md)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from pms_stream.generator import GenerateOptions, generate
from pms_stream.service.partition_task import OFFSET_METADATA_MAX
from tests.core import statements_by_hand as sh
from tests.integration.service_harness import (
    ServiceProcess,
    Topics,
    as_bytes,
    http_get,
    offline,
    pairs,
    reassembled,
    without_source,
)
from tests.kafka_helpers import (
    consume,
    consume_to_end,
    create_topic,
    delete_topics,
    poll_until,
    produce,
)

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

CODECS = ("gzip", "snappy", "lz4", "zstd")


@pytest_asyncio.fixture
async def topics(admin: AIOKafkaAdminClient) -> AsyncIterator[Topics]:
    t = Topics.new("pms-prod")
    yield t
    await delete_topics(admin, [t.input, t.statements, t.acks, t.rejects, t.metrics])


async def test_every_compression_codec_is_read_exactly_once(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topics: Topics, tmp_path: Path
) -> None:
    """Finding 1: one codec per partition (a zstd batch used to stop every partition)."""
    await create_topic(admin, topics.input, partitions=len(CODECS))
    expected: Counter[str] = Counter()
    batches = []
    for partition, codec in enumerate(CODECS):
        data = as_bytes(generate(GenerateOptions(statements=8, seed=20 + partition)))
        expected += Counter(without_source(e) for e in offline(data) if e["type"] == "statement")
        batches.append((partition, codec, pairs(data, pack=5)))
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a")
    await service.start()
    try:
        await service.wait_ready()
        for partition, codec, messages in batches:
            await produce(
                kafka_bootstrap,
                topics.input,
                messages,
                partition=partition,
                compression_type=codec,
                linger_ms=50,  # several messages to a batch: one compressed batch, many records
            )
        got = await consume(
            kafka_bootstrap, topics.statements, count=sum(expected.values()) + 1, timeout=60
        )
        seen = Counter(without_source(json.loads(r.value or b"")) for r in got)
        assert seen == expected, f"lost {expected - seen}, duplicated {seen - expected}"
        partitions = Counter(json.loads(r.value or b"")["source"]["partition"] for r in got)
        assert sorted(partitions) == [0, 1, 2, 3]
        assert await consume(kafka_bootstrap, topics.rejects, count=1, timeout=2) == []
    finally:
        assert await service.terminate() == 0, service.tail()


async def test_a_statement_over_its_topics_own_limit_is_dead_lettered_and_the_rest_published(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topics: Topics, tmp_path: Path
) -> None:
    """Finding 3: the statements topic created beforehand with Kafka's default 1 MiB limit, one
    statement of ~1.3 MB among ten ordinary ones."""
    await create_topic(
        admin,
        topics.statements,
        partitions=3,
        configs={"cleanup.policy": "compact", "max.message.bytes": "1048576"},
    )
    large = as_bytes(
        generate(
            GenerateOptions(
                statements=1,
                seed=3,
                framing="block",
                daily=(4300, 4300),
                finals=0.0,
                final_only=0.0,
            )
        )
    )
    (big,) = [e for e in offline(large) if e["type"] == "statement"]
    assert len(json.dumps(big)) > 1_200_000
    ordinary = as_bytes(generate(GenerateOptions(statements=10, seed=4, finals=0.0)))
    expected = [e for e in offline(ordinary) if e["type"] == "statement"]
    assert len(expected) == 10
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a")
    await service.start()
    try:
        await service.wait_ready()
        half = pairs(ordinary, pack=4)
        await produce(kafka_bootstrap, topics.input, half[: len(half) // 2], partition=0)
        await produce(kafka_bootstrap, topics.input, pairs(large, pack=100), partition=0)
        await produce(kafka_bootstrap, topics.input, half[len(half) // 2 :], partition=0)
        got = await consume(kafka_bootstrap, topics.statements, count=11, timeout=90)
        assert Counter(without_source(json.loads(r.value or b"")) for r in got) == Counter(
            without_source(e) for e in expected
        )
        parts = await consume_to_end(kafka_bootstrap, topics.rejects)
        assert parts, "the large statement is dead-lettered"
        first = json.loads(parts[0].value or b"")
        assert first["kind"] == "statement"
        assert "is over the statements topic's limit of 1048576 bytes" in first["reason"]
        raw = reassembled(parts) if len(parts) > 1 else first["raw"].encode("latin-1")
        assert without_source(json.loads(raw)) == without_source(big)
        assert (
            await poll_until(
                lambda: _get(service, "/readyz"), lambda r: r[0] == 200, timeout=10, what="ready"
            )
        )[0] == 200
        assert (await _get(service, "/healthz"))[0] == 200
        assert service.process is not None
        assert service.process.returncode is None
        events = [e.get("event") for e in service.log_events()]
        assert "output too large for its topic: dead-lettered" in events
    finally:
        assert await service.terminate() == 0, service.tail()


async def _get(service: ServiceProcess, path: str) -> tuple[int, str]:
    import asyncio

    return await asyncio.to_thread(http_get, service.port, path)


async def test_200_open_stream_keys_with_max_open_keys_300_survive_a_sigkill(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topics: Topics, tmp_path: Path
) -> None:
    """Finding 4: 200 keys open at once made 6 KB of offset metadata (OffsetMetadataTooLarge,
    then exit 1). Now every statement comes out, also after a SIGKILL with all 200 open."""
    await create_topic(admin, topics.input, partitions=1)
    keys = [f"filer-{i:03}".encode() for i in range(200)]
    head, tail = sh.TRANSMISSION[:5], sh.TRANSMISSION[5:]  # A B Q1 Q2 QA | the rest
    expected = [e for e in offline("\n".join(sh.TRANSMISSION).encode()) if e["type"] == "statement"]
    settings = {"PMS_MAX_OPEN_KEYS": "300", "PMS_SESSION_TIMEOUT_MS": "6000"}
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a", **settings)
    await service.start()
    try:
        await service.wait_ready()
        await produce(kafka_bootstrap, topics.input, [(k, "\n".join(head).encode()) for k in keys])

        async def committed() -> str:
            offsets = await admin.list_consumer_group_offsets(topics.group)
            return "".join(meta.metadata or "" for meta in offsets.values() if meta.offset >= 0)

        metadata = await poll_until(
            committed, lambda m: m.count(",") == 199, timeout=60, what="200 open keys committed"
        )
        assert metadata.startswith("2:")
        assert len(metadata) <= OFFSET_METADATA_MAX
        await service.kill()  # all 200 open: the restart rebuilds them from the metadata
        await service.start()
        await service.wait_ready(90)
        await produce(kafka_bootstrap, topics.input, [(k, "\n".join(tail).encode()) for k in keys])
        want = 200 * len(expected)
        got = await consume(kafka_bootstrap, topics.statements, count=want + 1, timeout=90)
        seen = Counter(without_source(json.loads(r.value or b"")) for r in got)
        assert seen == Counter({without_source(e): 200 for e in expected})
        assert await consume(kafka_bootstrap, topics.rejects, count=1, timeout=2) == []
    finally:
        if service.process is not None and service.process.returncode is None:
            assert await service.terminate() == 0, service.tail()
