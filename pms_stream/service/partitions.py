"""An assigned input partition and its set-up: the transactional producer, then the committed
checkpoint, retried with backoff.

Set-up runs beside the loop (the runner pauses the partition until it is done, then seeks and
resumes it): `prepare` starts the partition's transactional producer under exactly once (its
InitProducerId fences the previous owner and completes or aborts its transaction, so the offset
fetched next is stable), then reads the group's committed checkpoint with the admin client
(`committed`). A few set-ups run at once (the runner's semaphore); each try is bounded and
retried with backoff, and a partition that cannot be set up in `_SETUP_ATTEMPTS` tries ends the
service with the reason.

Flow: rebalance (runner) -> **partition set-up** -> partition task + producer -> the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from pms_stream.service.admin import StartupError
from pms_stream.service.commits import Committer
from pms_stream.service.logs import get_logger
from pms_stream.service.metrics import Metrics
from pms_stream.service.publisher import Publisher
from pms_stream.stream.partition_task import Checkpoint, PartitionTask

__all__ = ["Partition", "Prepared", "chunks", "committed", "partition_gauges", "prepare"]

_SETUP_ATTEMPTS = 5  # tries of one partition's set-up before the service gives up
_SETUP_ATTEMPT_TIMEOUT_S = 30.0
log = get_logger("pms_stream.service")


@dataclass
class Partition:
    """An assigned input partition: its task, its producer (exactly once), its publications."""

    tp: TopicPartition
    task: PartitionTask
    producer: AIOKafkaProducer | None  # transactional; None at least once
    commits: Committer  # processed batches staged, the publication in flight (in the background)
    restore_started: float = field(default_factory=time.monotonic)
    restored: bool = False


@dataclass
class Prepared:
    """What a set-up got: the started producer (exactly once), the checkpoint, where to read."""

    producer: AIOKafkaProducer | None
    checkpoint: Checkpoint | None
    offset: int


async def committed(
    admin_client: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, tp: TopicPartition
) -> tuple[Checkpoint | None, int]:
    """The partition's committed checkpoint (None when the group never committed one) and
    the offset to start reading at: the checkpoint's, else the partition's first. (Asked
    here rather than with `seek_to_beginning`, which waits for the consumer's next fetch
    round, up to its fetch_max_wait_ms of 500, per partition: the 160-partition stall of
    issue 12.)"""
    found = await admin_client.list_consumer_group_offsets(group, partitions=[tp])
    entry = found.get(tp)
    if entry is not None and entry.offset >= 0:
        checkpoint = Checkpoint.from_committed(entry.offset, entry.metadata or "")
        return checkpoint, checkpoint.offset
    first: dict[TopicPartition, int] = await consumer.beginning_offsets([tp])
    return None, first[tp]


async def prepare(
    tp: TopicPartition,
    *,
    publisher: Publisher,
    read_committed: Callable[[TopicPartition], Awaitable[tuple[Checkpoint | None, int]]],
    metrics: Metrics,
    slots: asyncio.Semaphore,
) -> Prepared:
    """Producer (exactly once) and committed checkpoint of `tp` (`read_committed`, normally
    `committed`), retried with backoff, `slots` at a time. Cancelling it stops the producer it
    started; failing past the retries raises `StartupError`."""
    producer: AIOKafkaProducer | None = None
    try:
        for attempt in range(1, _SETUP_ATTEMPTS + 1):
            try:
                async with slots:
                    if publisher.exactly_once and producer is None:
                        producer = await asyncio.wait_for(
                            publisher.transactional_producer(tp), _SETUP_ATTEMPT_TIMEOUT_S
                        )
                    checkpoint, offset = await asyncio.wait_for(
                        read_committed(tp), _SETUP_ATTEMPT_TIMEOUT_S
                    )
                prepared = Prepared(producer, checkpoint, offset)
                producer = None  # the caller owns it now
                return prepared
            except (KafkaError, TimeoutError, OSError) as exc:
                metrics.partition_setup_failures_total.inc()
                if attempt == _SETUP_ATTEMPTS:
                    raise StartupError(
                        f"partition {tp.partition} of {tp.topic!r} could not be set up in "
                        f"{attempt} attempts: {exc!r}"
                    ) from None
                log.warning(
                    "partition set-up failed; retrying",
                    partition=tp.partition,
                    attempt=attempt,
                    error=repr(exc),
                )
                await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()


def chunks(
    messages: list[Any], max_records: int, max_bytes: int
) -> Iterator[tuple[list[Any], int]]:
    """`messages` (aiokafka's ConsumerRecords) in batches of at most `max_records` records
    (estimated: 80 bytes a record) and `max_bytes` bytes, each with its records; a message over
    either is a batch of its own."""
    chunk: list[Any] = []
    records = size = 0
    for m in messages:
        n = len(m.value) if m.value is not None else 0
        r = n // 80 or 1
        if chunk and (records + r > max_records or size + n > max_bytes):
            yield chunk, records
            chunk = []
            records = size = 0
        chunk.append(m)
        records += r
        size += n
    if chunk:
        yield chunk, records


def partition_gauges(
    metrics: Metrics, parts: Iterable[Partition], consumer: AIOKafkaConsumer
) -> None:
    """Each partition's open statements and lag (to its last stable offset), after a batch."""
    for part in parts:
        label = str(part.tp.partition)
        metrics.child(metrics.open_statements, label).set(part.task.open_streams)
        stable = consumer.last_stable_offset(part.tp)
        position = part.task.next_offset
        if stable is not None and position is not None:
            metrics.child(metrics.consumer_lag, label).set(max(stable - position, 0))
