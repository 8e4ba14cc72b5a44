"""What pms-stream needs from aiokafka, proven against the real broker (Kafka 4.x, KRaft).

Each test uses fresh uuid-named topics and groups, and waits by polling with generous deadlines,
never by sleeping a fixed time: the broker completes transactions (markers), rebalances and
compaction in the background.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import ProducerFenced

from pms_testkit.kafka_helpers import (
    Received,
    TopicFactory,
    committed_offsets,
    consume,
    consume_to_end,
    new_topic_name,
    partition_leaders,
    poll_until,
    produce,
    topic_config,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90)]


def group_consumer(bootstrap: str, group: str, **config: Any) -> AIOKafkaConsumer:
    """A group member as the service will run it: manual commits, read_committed."""
    settings: dict[str, Any] = {
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        # Fast rebalances for tests: members notice a rebalance at their next heartbeat.
        "heartbeat_interval_ms": 300,
        "session_timeout_ms": 10_000,
        **config,
    }
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, **settings)


class RecordingListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped: its base class is Any
    """Remembers every revocation and assignment the consumer went through."""

    def __init__(self) -> None:
        self.revoked: list[frozenset[Any]] = []
        self.assigned: list[frozenset[Any]] = []

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.revoked.append(frozenset(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.assigned.append(frozenset(assigned))


@pytest.mark.asyncio
async def test_topic_has_the_requested_partitions(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory(partitions=4)

    assert sorted(await partition_leaders(admin, topic)) == [0, 1, 2, 3]
    for partition in range(4):
        await produce(kafka_bootstrap, topic, [(None, b"p%d" % partition)], partition=partition)
    received = await consume(kafka_bootstrap, topic, count=4)
    assert [(r.partition, r.offset, r.value) for r in received] == [
        (p, 0, b"p%d" % p) for p in range(4)
    ]


@pytest.mark.asyncio
async def test_idempotent_producer_round_trip(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory(partitions=3)
    sent = [(b"key-%d" % (i % 7), b"value-%d" % i) for i in range(300)]

    landed = await produce(
        kafka_bootstrap, topic, sent, enable_idempotence=True, acks="all", linger_ms=5
    )
    received = await consume(kafka_bootstrap, topic, count=len(sent))

    # Nothing lost, nothing doubled, and each partition's offsets are dense from 0.
    assert len(received) == len(sent)
    assert sorted((r.partition, r.offset) for r in received) == sorted(
        (x.partition, x.offset) for x in landed
    )
    for partition in {r.partition for r in received}:
        offsets = [r.offset for r in received if r.partition == partition]
        assert offsets == list(range(len(offsets)))
    # Per key, one partition and the order of sending.
    sent_by_key: dict[bytes | None, list[bytes]] = defaultdict(list)
    for key, value in sent:
        sent_by_key[key].append(value)
    got_by_key: dict[bytes | None, list[bytes | None]] = defaultdict(list)
    for record in received:
        got_by_key[record.key].append(record.value)
    assert got_by_key == sent_by_key
    assert all(len({r.partition for r in received if r.key == key}) == 1 for key in sent_by_key)


@pytest.mark.asyncio
async def test_group_members_split_the_partitions(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory(partitions=4)
    everything = frozenset(TopicPartition(topic, p) for p in range(4))
    group = new_topic_name("pms-test-group")
    first, second = RecordingListener(), RecordingListener()

    async with (
        group_consumer(kafka_bootstrap, group) as one,
        group_consumer(kafka_bootstrap, group) as two,
    ):
        one.subscribe([topic], listener=first)
        await poll_until(
            lambda: one.getmany(timeout_ms=200),
            lambda _: one.assignment() == everything,
            timeout=20,
            what="the first member owning every partition",
        )
        two.subscribe([topic], listener=second)

        async def both_poll() -> tuple[frozenset[Any], frozenset[Any]]:
            await asyncio.gather(one.getmany(timeout_ms=200), two.getmany(timeout_ms=200))
            return frozenset(one.assignment()), frozenset(two.assignment())

        def split(assignments: tuple[frozenset[Any], frozenset[Any]]) -> bool:
            a, b = assignments
            return bool(a) and bool(b) and not a & b and a | b == everything

        mine, theirs = await poll_until(
            both_poll, split, timeout=30, what="two members splitting 4 partitions"
        )

        # Records written now are each read once, by the member that owns their partition.
        await produce(
            kafka_bootstrap, topic, [(None, b"%d-%d" % (p, i)) for p in range(4) for i in range(10)]
        )
        read: dict[str, list[Received]] = {"one": [], "two": []}

        async def read_both() -> int:
            batches = await asyncio.gather(one.getmany(timeout_ms=200), two.getmany(timeout_ms=200))
            for name, batch in zip(("one", "two"), batches, strict=True):
                read[name] += [Received.of(r) for records in batch.values() for r in records]
            return len(read["one"]) + len(read["two"])

        await poll_until(read_both, lambda n: n >= 40, timeout=20, what="40 records read")

    assert {TopicPartition(topic, r.partition) for r in read["one"]} == mine
    assert {TopicPartition(topic, r.partition) for r in read["two"]} == theirs
    assert len(read["one"]) + len(read["two"]) == 40
    # aiokafka rebalances eagerly: the first member gave up all four partitions, not just two.
    assert everything in first.revoked
    assert first.assigned[-1] == mine
    assert second.assigned[-1] == theirs


@pytest.mark.asyncio
async def test_transactional_consume_transform_produce(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topic_factory: TopicFactory
) -> None:
    source = await topic_factory(partitions=2)
    sink = await topic_factory(partitions=2)
    group = new_topic_name("pms-test-group")
    inputs = [(b"k%d" % (i % 5), b"record-%d" % i) for i in range(60)]
    landed = await produce(kafka_bootstrap, source, inputs)

    async with (
        group_consumer(kafka_bootstrap, group) as consumer,
        AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, transactional_id=f"{group}-tx"
        ) as producer,
    ):
        consumer.subscribe([source])
        done = 0
        transactions = 0

        async def process_one_batch() -> int:
            nonlocal done, transactions
            batches: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=500, max_records=25)
            if not batches:
                return done
            async with producer.transaction():
                for records in batches.values():
                    for record in records:
                        await producer.send(sink, record.value.upper(), key=record.key)
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1 for tp, records in batches.items()}, group
                )
            transactions += 1
            done += sum(len(records) for records in batches.values())
            return done

        await poll_until(
            process_one_batch,
            lambda n: n >= len(inputs),
            timeout=30,
            interval=0,
            what="every input processed in transactions",
        )
    assert done == len(inputs)
    assert transactions >= 2

    output = await consume(
        kafka_bootstrap, sink, count=len(inputs), isolation_level="read_committed"
    )
    assert sorted((r.key, r.value) for r in output) == sorted((k, v.upper()) for k, v in inputs)

    # The group's offsets moved with the transactions (their markers land a moment after commit).
    expected = {
        TopicPartition(source, p): max(x.offset for x in landed if x.partition == p) + 1
        for p in {x.partition for x in landed}
    }

    async def probe() -> dict[Any, int]:
        return await committed_offsets(admin, group)

    await poll_until(probe, lambda got: got == expected, timeout=20, what="committed offsets")


@pytest.mark.asyncio
async def test_aborted_transaction_is_seen_only_by_read_uncommitted(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory(partitions=1)
    aborted = [b"aborted-%d" % i for i in range(3)]
    async with AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=new_topic_name("pms-test-tx")
    ) as producer:
        await producer.begin_transaction()
        for value in aborted:
            await producer.send_and_wait(topic, value)
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed")

    uncommitted = await consume(kafka_bootstrap, topic, count=4, isolation_level="read_uncommitted")
    assert [r.value for r in uncommitted] == [*aborted, b"committed"]

    committed = await consume(kafka_bootstrap, topic, count=1, isolation_level="read_committed")
    assert [r.value for r in committed] == [b"committed"]
    # It stands after the aborted records: reading it means the consumer went past and skipped them.
    assert committed[0].offset == uncommitted[-1].offset > uncommitted[-2].offset
    assert [r.value for r in await consume_to_end(kafka_bootstrap, topic)] == [b"committed"]


@pytest.mark.asyncio
async def test_new_producer_with_the_same_transactional_id_fences_the_old_one(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory(partitions=1)
    transactional_id = new_topic_name("pms-test-tx")

    async with AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=transactional_id
    ) as zombie:
        await zombie.begin_transaction()
        await zombie.send_and_wait(topic, b"from the zombie")
        # Starting the new producer bumps the epoch and aborts the zombie's open transaction.
        async with (
            AIOKafkaProducer(
                bootstrap_servers=kafka_bootstrap, transactional_id=transactional_id
            ) as successor,
            successor.transaction(),
        ):
            await successor.send(topic, b"from the successor")
        with pytest.raises(ProducerFenced):
            await zombie.commit_transaction()

    committed = await consume(kafka_bootstrap, topic, count=1)
    assert [r.value for r in committed] == [b"from the successor"]


@pytest.mark.asyncio
async def test_compacted_topic_keeps_the_latest_value_per_key(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topic_factory: TopicFactory
) -> None:
    # Segments below 1 MiB are refused by Kafka 4, so a short segment.ms closes segments instead.
    topic = await topic_factory(
        configs={
            "cleanup.policy": "compact",
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.01",
        }
    )
    assert (await topic_config(admin, topic))["cleanup.policy"] == "compact"

    keys = [b"a", b"b", b"c"]
    await produce(kafka_bootstrap, topic, [(k, k + b"%d" % v) for v in range(5) for k in keys])

    async with AIOKafkaProducer(bootstrap_servers=kafka_bootstrap) as producer:

        async def probe() -> list[Received]:
            # Each tick, once segment.ms has passed, rolls the segment so the cleaner may take it.
            await producer.send_and_wait(topic, b"tick", key=b"tick")
            return await consume_to_end(kafka_bootstrap, topic, isolation_level="read_uncommitted")

        compacted = await poll_until(
            probe,
            lambda records: [r.key for r in records if r.key != b"tick"] == keys,
            timeout=30,
            interval=0.3,
            what="compaction of the a/b/c history",
        )
    assert [(r.key, r.value) for r in compacted if r.key != b"tick"] == [
        (b"a", b"a4"),
        (b"b", b"b4"),
        (b"c", b"c4"),
    ]
