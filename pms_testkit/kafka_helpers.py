"""Helpers for integration tests that run against a real Kafka broker through aiokafka.

The fixtures in ``tests/conftest.py`` (``kafka_bootstrap``, ``admin``, ``topic_factory``) are built
from these, and integration tests use them directly to produce, consume and wait:

- ``produce`` writes records with an idempotent producer and returns where each one landed;
- ``consume`` reads a topic from the beginning of every partition, without a consumer group, until
  it has ``count`` records or the timeout passes (``read_committed`` unless told otherwise);
- ``consume_to_end`` reads everything below the end offsets seen at its start (the high watermark,
  or the last stable offset under ``read_committed``);
- ``poll_until`` re-runs an async probe until its result is accepted: use it instead of sleeping
  whenever the broker finishes something in the background (transaction markers, compaction).

aiokafka ships no type information, so its classes are ``Any`` to mypy: the helpers convert what
they return into typed values (``Received``, ``Landed``, plain dicts).

Two aiokafka facts the helpers rely on: a ``commit_transaction()`` that has returned does not mean
that its markers are written, so committed records and transactional offsets become visible a
moment later (poll); and aiokafka's OffsetFetch (v3) does not ask for stable offsets, so it may
return the offsets from before a transaction that is still being completed.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

IsolationLevel = Literal["read_committed", "read_uncommitted"]

TOPIC_PREFIX = "pms-test"
UNKNOWN_TOPIC_OR_PARTITION = 3

T = TypeVar("T")


class TopicFactory(Protocol):
    """The ``topic_factory`` fixture: creates a uuid-named topic and returns its name."""

    async def __call__(
        self, partitions: int = 1, *, configs: Mapping[str, str] | None = None
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class Received:
    """One consumed record, typed (aiokafka's ConsumerRecord is untyped)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, record: Any) -> Received:
        headers = tuple((name, bytes(value)) for name, value in record.headers or ())
        return cls(record.topic, record.partition, record.offset, record.key, record.value, headers)


@dataclass(frozen=True, slots=True)
class Landed:
    """Where a produced record was written."""

    partition: int
    offset: int


def fresh_hex(length: int = 32) -> str:
    """`length` hex digits of a new uuid4, never with nine or more decimal digits in a row: the
    logs mask such a run as an SSN-shaped importer number, and a test would not find its topic's
    name there."""
    while True:
        text = uuid.uuid4().hex[:length]
        if not re.search(r"[0-9]{9}", text):
            return text


def new_topic_name(prefix: str = TOPIC_PREFIX) -> str:
    """A fresh name, ``<prefix>-<uuid hex>``, so tests never share a topic or a group."""
    return f"{prefix}-{fresh_hex()}"


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


async def poll_until(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
) -> T:
    """Run ``probe`` until ``accept`` holds for its result, and return that result.

    Raises AssertionError naming ``what`` and the last result when ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if accept(result):
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s; last seen {result!r}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def kafka_admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="pms-test-admin")
    await client.start()
    try:
        yield client
    finally:
        await client.close()


def _raise_for_errors(errors: Iterable[Mapping[str, Any]], action: str, *, ignore: int = 0) -> None:
    for entry in errors:
        code: int = entry["error_code"]
        if code not in (0, ignore):
            message = entry.get("error_message") or ""
            raise for_code(code)(f"{action} {entry['topic']}: {message}".rstrip(": "))


async def partition_leaders(admin: AIOKafkaAdminClient, topic: str) -> dict[int, int]:
    """Partition number to leader id, for the partitions that have a leader."""
    described: list[dict[str, Any]] = await admin.describe_topics([topic])
    leaders: dict[int, int] = {}
    for entry in described:
        if entry["topic"] == topic and entry["error_code"] == 0:
            for part in entry["partitions"]:
                if part["error_code"] == 0 and part["leader"] >= 0:
                    leaders[part["partition"]] = part["leader"]
    return leaders


async def create_topic(
    admin: AIOKafkaAdminClient,
    name: str,
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    configs: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create a topic and wait until every partition has a leader, so clients can use it at once."""
    new = NewTopic(name, partitions, replication_factor, topic_configs=dict(configs or {}))
    response = await admin.create_topics([new])
    _raise_for_errors(response.to_object()["topic_errors"], "creating topic")

    async def probe() -> dict[int, int]:
        return await partition_leaders(admin, name)

    await poll_until(
        probe,
        lambda leaders: len(leaders) == partitions,
        timeout=timeout,
        what=f"leaders for the {partitions} partitions of {name}",
    )


async def delete_topics(admin: AIOKafkaAdminClient, names: Iterable[str]) -> None:
    """Delete topics; one that does not exist (any more) is not an error."""
    names = list(names)
    if names:
        response = await admin.delete_topics(names)
        _raise_for_errors(
            response.to_object()["topic_error_codes"],
            "deleting topic",
            ignore=UNKNOWN_TOPIC_OR_PARTITION,
        )


async def topic_config(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    """Every config entry of a topic, as the broker describes it (set and default values)."""
    responses: list[Any] = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic)]
    )
    config: dict[str, str] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                raise for_code(resource["error_code"])(resource["error_message"])
            for entry in resource["config_entries"]:
                config[entry["config_names"]] = entry["config_value"]
    return config


async def committed_offsets(admin: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    """The group's committed offset per partition (partitions without a commit are left out)."""
    offsets: dict[Any, Any] = await admin.list_consumer_group_offsets(group)
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    *,
    partition: int | None = None,
    **producer_config: Any,
) -> list[Landed]:
    """Send (key, value) records with an idempotent producer; return where each one landed."""
    config: dict[str, Any] = {"enable_idempotence": True, "acks": "all", **producer_config}
    async with AIOKafkaProducer(bootstrap_servers=bootstrap, **config) as producer:
        futures = [
            await producer.send(topic, value, key=key, partition=partition)
            for key, value in records
        ]
        metadata = await asyncio.gather(*futures)
    return [Landed(m.partition, m.offset) for m in metadata]


@asynccontextmanager
async def assigned_consumer(
    bootstrap: str, topic: str, *, isolation_level: IsolationLevel = "read_committed"
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer without a group, assigned every partition of ``topic`` from the start."""
    # Subscribed without a group_id, start() waits for the topic's metadata and assigns every
    # partition (an unknown topic raises UnknownTopicOrPartitionError).
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=isolation_level,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _fetch(consumer: AIOKafkaConsumer, wait: float) -> list[Received]:
    batches: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=int(wait * 1000))
    return [Received.of(r) for records in batches.values() for r in records]


async def consume(
    bootstrap: str,
    topic: str,
    *,
    count: int,
    timeout: float = 20.0,
    isolation_level: IsolationLevel = "read_committed",
) -> list[Received]:
    """Read ``topic`` from the start until at least ``count`` records arrived or ``timeout`` passed.

    Returns what was read, in (partition, offset) order; the caller asserts on it, so a shortfall
    shows up as a readable difference rather than a timeout error.
    """
    received: list[Received] = []
    deadline = time.monotonic() + timeout
    async with assigned_consumer(bootstrap, topic, isolation_level=isolation_level) as consumer:
        while len(received) < count and (left := deadline - time.monotonic()) > 0:
            received += await _fetch(consumer, min(left, 0.5))
    return sorted(received, key=lambda r: (r.partition, r.offset))


async def consume_to_end(
    bootstrap: str,
    topic: str,
    *,
    timeout: float = 20.0,
    isolation_level: IsolationLevel = "read_committed",
) -> list[Received]:
    """Read everything below the end offsets taken when it starts, in (partition, offset) order.

    Under ``read_committed`` the end is the last stable offset, so records of transactions whose
    markers are not written yet are not waited for: after a commit, prefer ``consume(count=...)``.
    """
    received: list[Received] = []
    async with assigned_consumer(bootstrap, topic, isolation_level=isolation_level) as consumer:
        partitions = list(consumer.assignment())
        ends: dict[Any, int] = await consumer.end_offsets(partitions)

        async def behind() -> list[Any]:
            return [tp for tp in partitions if await consumer.position(tp) < ends[tp]]

        deadline = time.monotonic() + timeout
        while await behind():
            if time.monotonic() >= deadline:
                raise AssertionError(f"{topic}: end offsets {ends} not reached in {timeout:g}s")
            received += await _fetch(consumer, 0.5)
    return sorted(received, key=lambda r: (r.partition, r.offset))
