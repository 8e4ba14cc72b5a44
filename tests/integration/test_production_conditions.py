"""Issue 12 (data path), against the real broker with `pms-stream run`: compressed input with
every codec Kafka producers use, a statement larger than its topic's own limit, and 200 stream
keys open at once. Each reproduced a crash loop before the fix (docs/reliability.md)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pms_stream.generator import GenerateOptions, generate
from pms_stream.stream.partition_task import OFFSET_METADATA_MAX
from pms_testkit.kafka_helpers import (
    Received,
    consume,
    consume_to_end,
    create_topic,
    poll_until,
    produce,
)
from pms_testkit.service_harness import (
    ServiceProcess,
    Topics,
    as_bytes,
    http_get,
    offline,
    pairs,
    reassembled,
    topics_fixture,
    without_source,
)
from tests.core import statements_by_hand as sh

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

REPO = Path(__file__).resolve().parents[2]

CODECS = ("gzip", "snappy", "lz4", "zstd")


topics = topics_fixture("pms-prod")


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
        got = await _all(kafka_bootstrap, topics.statements, sum(expected.values()))
        seen = Counter(without_source(json.loads(r.value or b"")) for r in got)
        assert seen == expected, f"lost {expected - seen}, duplicated {seen - expected}"
        partitions = Counter(json.loads(r.value or b"")["source"]["partition"] for r in got)
        assert sorted(partitions) == [0, 1, 2, 3]
        assert await consume(kafka_bootstrap, topics.rejects, count=1, timeout=1) == []
    finally:
        assert await service.terminate() == 0, service.tail()


async def test_a_statement_over_its_topics_own_limit_is_dead_lettered_and_the_rest_published(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topics: Topics, tmp_path: Path
) -> None:
    """Finding 3: the statements topic created beforehand with Kafka's default 1 MiB limit, one
    statement of ~1.5 MB among ten ordinary ones. The rejects topic too (finding 9): the dead
    letter is then split in parts, which reassemble into the statement's JSON."""
    await create_topic(
        admin,
        topics.statements,
        partitions=3,
        configs={"cleanup.policy": "compact", "max.message.bytes": "1048576"},
    )
    await create_topic(
        admin, topics.rejects, partitions=3, configs={"max.message.bytes": "1048576"}
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
        got = await _all(kafka_bootstrap, topics.statements, 10)
        assert Counter(without_source(json.loads(r.value or b"")) for r in got) == Counter(
            without_source(e) for e in expected
        )
        parts = await consume_to_end(kafka_bootstrap, topics.rejects)
        assert parts, "the large statement is dead-lettered"
        first = json.loads(parts[0].value or b"")
        assert first["kind"] == "statement"
        assert "is over the statements topic's limit of 1048576 bytes" in first["reason"]
        assert len(parts) == 2  # the JSON escaped in `raw` is over the rejects topic's 1 MiB
        assert {r.partition for r in parts} == {parts[0].partition}  # one key, one partition
        assert [dict(r.headers)["pms-chunk"] for r in parts] == [b"1/2", b"2/2"]
        assert without_source(json.loads(reassembled(parts))) == without_source(big)
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


async def _all(bootstrap: str, topic: str, count: int) -> list[Received]:
    """Everything on `topic` once `count` records are there: a duplicate would show as more."""
    await consume(bootstrap, topic, count=count, timeout=90)
    return await consume_to_end(bootstrap, topic)


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
        got = await _all(kafka_bootstrap, topics.statements, want)
        seen = Counter(without_source(json.loads(r.value or b"")) for r in got)
        assert seen == Counter({without_source(e): 200 for e in expected})
        assert await consume(kafka_bootstrap, topics.rejects, count=1, timeout=1) == []
    finally:
        if service.process is not None and service.process.returncode is None:
            assert await service.terminate() == 0, service.tail()


# ---- undecodable batches: made real by corrupting the broker's own log segment --------------


def _segment(topic: str, partition: int) -> Path:
    """The broker's log segment of a partition (the local broker of deploy/kafka/broker.sh)."""
    import os

    state = Path(os.environ.get("PMS_KAFKA_STATE_DIR") or REPO / ".kafka")
    found = sorted((state / "data" / f"{topic}-{partition}").glob("*.log"))
    assert found, (
        f"no log segment of {topic}-{partition} under {state}/data: this test corrupts a batch "
        "in the local broker's files, so it needs the broker of deploy/kafka/broker.sh (its state "
        "in PMS_KAFKA_STATE_DIR or .kafka), not one named by KAFKA_BOOTSTRAP_SERVERS elsewhere"
    )
    return found[0]


def _corrupt(segment: Path, first_offset: int, *, fix_crc: bool) -> tuple[int, int]:
    """Overwrite the start of the compressed payload of the batch at `first_offset` in place;
    with `fix_crc` the CRC is recomputed, so only decompression fails. Returns the batch's
    first and last offset."""
    import struct

    from aiokafka.record.util import calc_crc32c

    data = bytearray(segment.read_bytes())
    pos = 0
    while pos + 12 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if base == first_offset:
            last = base + struct.unpack_from(">i", data, pos + 23)[0]
            data[pos + 61 : pos + 69] = b"\xde\xad\xbe\xef" * 2  # the codec's frame header
            if fix_crc:
                struct.pack_into(
                    ">I", data, pos + 17, calc_crc32c(bytes(data[pos + 21 : pos + 12 + length]))
                )
            with segment.open("r+b") as f:  # in place: the broker serves the same file
                f.seek(pos)
                f.write(data[pos : pos + 12 + length])
            return base, last
        pos += 12 + length
    raise AssertionError(f"no batch at offset {first_offset} in {segment}")


async def test_an_undecodable_batch_is_dead_lettered_with_its_offsets_and_the_rest_flows(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topics: Topics, tmp_path: Path
) -> None:
    """Finding 1, the batch that still cannot be decoded: two batches on partition 0 are broken
    in the broker's log file after they were written (a zstd payload that cannot be decompressed,
    with a valid CRC; an lz4 batch whose CRC no longer matches). Each becomes one dead letter with
    its topic, partition and offset range; every statement before, between and after them on
    partition 0, and on partition 1, comes out exactly once; the service stays up."""
    await create_topic(admin, topics.input, partitions=2)
    good = [as_bytes(generate(GenerateOptions(statements=4, seed=40 + i))) for i in range(4)]
    expected = Counter(
        without_source(e) for data in good for e in offline(data) if e["type"] == "statement"
    )
    lost = [(b"lost", line.encode()) for line in sh.TRANSMISSION]  # one record per message

    async def send(data: bytes, partition: int, codec: str) -> None:
        await produce(
            kafka_bootstrap,
            topics.input,
            pairs(data, pack=5),
            partition=partition,
            compression_type=codec,
            linger_ms=20,
        )

    await send(good[0], 0, "zstd")
    zstd = await produce(
        kafka_bootstrap, topics.input, lost, partition=0, compression_type="zstd", linger_ms=50
    )
    await send(good[1], 0, "gzip")
    lz4 = await produce(
        kafka_bootstrap, topics.input, lost, partition=0, compression_type="lz4", linger_ms=50
    )
    await send(good[2], 0, "snappy")
    await send(good[3], 1, "zstd")
    segment = _segment(topics.input, 0)
    broken = [
        _corrupt(segment, zstd[0].offset, fix_crc=True),
        _corrupt(segment, lz4[0].offset, fix_crc=False),
    ]
    assert broken == [(zstd[0].offset, zstd[-1].offset), (lz4[0].offset, lz4[-1].offset)]

    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a")
    await service.start()
    try:
        await service.wait_ready()
        got = await _all(kafka_bootstrap, topics.statements, sum(expected.values()))
        seen = Counter(without_source(json.loads(r.value or b"")) for r in got)
        assert seen == expected, f"lost {expected - seen}, duplicated {seen - expected}"
        rejects = await _all(kafka_bootstrap, topics.rejects, 2)
        docs = sorted(
            (json.loads(r.value or b"") for r in rejects),
            key=lambda d: d["source"]["first_offset"],
        )
        assert [(d["kind"], d["source"]) for d in docs] == [
            (
                "message",
                {"topic": topics.input, "partition": 0, "first_offset": a, "last_offset": b},
            )
            for a, b in broken
        ]
        assert "could not be decoded (zstd:" in docs[0]["reason"]
        assert "CRC" in docs[1]["reason"]
        assert all(len(d["raw"]) > 61 for d in docs)  # the batch as stored
        assert (await _get(service, "/readyz"))[0] == 200
        events = [e.get("event") for e in service.log_events()]
        assert events.count("undecodable record batch dead-lettered") == 2
    finally:
        assert await service.terminate() == 0, service.tail()
