"""Publishing a partition's outputs with its checkpoint: exactly once or at least once.

Exactly once: the partition's transactional producer (id `<group>.<topic>.<partition>`, made by
`transactional_producer`; starting it fences the previous owner) sends the outputs and
`send_offsets_to_transaction` adds the checkpoint in one transaction, so a read_committed
consumer sees every statement exactly once whatever is killed when. At least once: the shared
idempotent producer sends, and the consumer commits the same checkpoint after delivery.

Both go through one retry loop (`_retrying`): between attempts it backs off (up to 5 s), makes
sure the output topics exist (recreating them when `create_topics` is on) and re-reads the topic
limits after a size error; every attempt fits the outputs to the limits again (`outputs.fit`:
too large becomes a dead letter). A fenced producer, or errors past `_PUBLISH_RETRIES`
attempts, end the service: nothing that was not published is committed.

Flow: partition tasks -> **publisher** (producers, transactions) -> output topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    ProducerFenced,
    RecordTooLargeError,
)
from aiokafka.structs import OffsetAndMetadata

from pms_stream.service import admin, topic_limits
from pms_stream.service.admin import TopicSpec
from pms_stream.service.config import Settings, kafka_client_options
from pms_stream.service.logs import get_logger
from pms_stream.service.metrics import Metrics
from pms_stream.service.store_feed import OwnStatements
from pms_stream.stream.outputs import Output, Sink, fit, with_summaries
from pms_stream.stream.partition_task import Checkpoint

__all__ = ["SEND_TIMEOUT_S", "OutputTopicMissing", "Publisher", "Staged"]

_PUBLISH_RETRIES = 10  # about 30 s of backoff in all before the service gives up
SEND_TIMEOUT_S = 10.0
log = get_logger("pms_stream.service")


@dataclass
class Staged:
    """A partition's processed batches not yet published: their outputs, the newest checkpoint,
    their input records, when the first was staged, and (newest input timestamp ms, statements)
    per batch for the end-to-end latency; and the checkpoint last committed."""

    committed: Checkpoint | None = None
    outputs: list[Output] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    records: int = 0
    since: float | None = None
    latency: list[tuple[int, int]] = field(default_factory=list)

    def add(
        self, outputs: list[Output], checkpoint: Checkpoint | None, records: int, newest: int | None
    ) -> None:
        """Stage a batch: its outputs, the checkpoint after it (None while replaying: the old one
        still holds), its input records and its newest input timestamp."""
        last = self.checkpoint or self.committed
        if not outputs and (checkpoint is None or checkpoint == last):
            return  # nothing to publish, the checkpoint did not move
        if self.since is None:
            self.since = time.monotonic()
        self.outputs += outputs
        if checkpoint is not None:
            self.checkpoint = checkpoint
        self.records += records
        if newest is not None:
            statements = sum(1 for out in outputs if out.sink is Sink.STATEMENTS)
            if statements:
                self.latency.append((newest, statements))

    def take(self) -> Staged:
        """Everything staged, to publish (`Publisher.flush`) while the next batches are staged
        here; its checkpoint counts as committed from now on (a failed publication ends the
        partition's publications: `commits.Committer`)."""
        taken = Staged(
            self.committed, self.outputs, self.checkpoint, self.records, self.since, self.latency
        )
        if self.checkpoint is not None:
            self.committed = self.checkpoint
        self.outputs, self.latency = [], []
        self.checkpoint, self.records, self.since = None, 0, None
        return taken


class OutputTopicMissing(Exception):  # noqa: N818 - named for what the operator reads
    """An output topic was deleted and the service may not create topics."""


class Publisher:
    """The producers and the publication protocols of one service instance."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        topics: dict[Sink, str],
        specs: Sequence[TopicSpec],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.exactly_once = settings.guarantee == "exactly_once"
        self.topics = topics
        self._specs = list(specs)
        self._producer_kafka = kafka_client_options(settings, "producer")
        self.max_request = admin.max_request_bytes(settings)
        # the largest record each output topic takes (outputs.fit): see read_limits
        self.sink_limits: dict[Sink, int] = {}
        # shared, idempotent: at-least-once outputs and metrics snapshots
        self.producer: AIOKafkaProducer | None = None
        # the statement stores' hook: stamps statements, takes them once published (store_feed)
        self.own: OwnStatements | None = None
        self._admin: AIOKafkaAdminClient | None = None

    # ---- producers ----------------------------------------------------------------------------

    def _producer_options(self) -> dict[str, object]:
        return {
            **self._producer_kafka,
            "enable_idempotence": True,
            # 1 MiB batches by default (aiokafka's 16 KB split a batch of statements into many
            # Produce requests; issue 13's profile: +61% with the send path below)
            "max_batch_size": self.settings.producer_batch_bytes,
            "linger_ms": self.settings.producer_linger_ms,
            "max_request_size": self.max_request,
        }

    def use_admin(self, admin_client: AIOKafkaAdminClient) -> None:
        """The admin client the topic checks, creation and limits use."""
        self._admin = admin_client

    async def start(self) -> None:
        """Start the shared idempotent producer."""
        self.producer = AIOKafkaProducer(**self._producer_options(), acks="all")
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def transactional_producer(self, tp: TopicPartition) -> AIOKafkaProducer:
        """The partition's transactional producer, started. Starting it (InitProducerId) fences
        the previous owner's producer and completes or aborts its transaction, so the offset
        fetched next is stable."""
        producer = AIOKafkaProducer(
            **self._producer_options(),
            transactional_id=f"{self.settings.group_id}.{tp.topic}.{tp.partition}",
            transaction_timeout_ms=self.settings.transaction_timeout_ms,
            # The coordinator answers CONCURRENT_TRANSACTIONS while the previous transaction's
            # markers are written; aiokafka then waits retry_backoff_ms (100 by default) before
            # adding the offsets again: most of a small batch's latency (docs/performance.md).
            # 20 ms by default keeps the retries cheap.
            retry_backoff_ms=self.settings.transaction_retry_backoff_ms,
        )
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        return producer

    # ---- limits and topics --------------------------------------------------------------------

    async def read_limits(self, *, at_start: bool = False) -> None:
        """The largest record each output topic takes (`topic_limits`); at start also
        `max_open_keys` against the broker's `offset.metadata.max.bytes` (exit 2)."""
        assert self._admin is not None
        try:
            broker = await topic_limits.describe(self._admin, self.topics)
        except (KafkaError, TimeoutError, ValueError) as exc:
            log.warning("topic limits not read; keeping the last known", error=repr(exc))
            return
        if at_start:
            topic_limits.check_open_keys(self.settings, broker.metadata_max)
        limits = topic_limits.sink_limits(self.settings, self.topics, broker, self.max_request)
        if limits != self.sink_limits:
            log.info(
                "output limits",
                broker_message_max_bytes=broker.message_max,
                **{sink.value: limit for sink, limit in limits.items()},
            )
        self.sink_limits = limits

    async def create_topics(self) -> None:
        """Create the missing topics; the broker's refusal is a `StartupError` with its reason."""
        assert self._admin is not None
        await admin.create_topics(self.settings, self._admin, self._specs)

    async def _ensure_output_topics(self) -> None:
        """Recreate output topics that were deleted under the service (or fail loudly)."""
        assert self._admin is not None
        try:
            existing = set(await self._admin.list_topics())
        except KafkaError:
            return  # the broker is unreachable: the next attempt tells
        missing = sorted(t for t in self.topics.values() if t not in existing)
        if not missing:
            return
        if not self.settings.create_topics:
            raise OutputTopicMissing(
                f"output topics {missing} do not exist and create_topics is off: create them"
            )
        log.error("output topics were deleted; recreating them", topics=missing)
        await self.create_topics()
        await self.read_limits()

    def fit(self, outputs: list[Output]) -> list[Output]:
        """The outputs and their statements' summaries (`outputs.with_summaries`: folded into
        `statement_summaries` messages, in the same transaction), each checked against its
        topic's limit (`outputs.fit`): too large, it becomes a dead letter saying so; a dead
        letter too large for the rejects topic is split."""
        fitted: list[Output] = []
        now = datetime.now(UTC)
        if self.own is not None:
            outputs = self.own.stamp(outputs)
        for out in with_summaries(outputs, self.sink_limits):
            fit_ = fit(out, self.sink_limits, now)
            fitted += fit_
            if fit_[-1] is out:
                continue
            if out.sink is not Sink.REJECTS:
                log.error(
                    "output too large for its topic: dead-lettered",
                    sink=out.sink.value,
                    size=len(out.value),
                    limit=self.sink_limits.get(out.sink),
                )
            if len(fit_) > 1:
                log.warning(
                    "dead letter too large for the rejects topic: split in parts",
                    parts=len(fit_),
                    limit=self.sink_limits.get(Sink.REJECTS),
                )
        return fitted

    # ---- publication --------------------------------------------------------------------------

    async def flush(
        self,
        tp: TopicPartition,
        producer: AIOKafkaProducer | None,
        consumer: AIOKafkaConsumer,
        staged: Staged,
    ) -> None:
        """Publish a partition's staged batches with the newest checkpoint (`publish`), then
        count the outputs and the statements' end-to-end latency."""
        if staged.since is None:
            return
        checkpoint = staged.checkpoint
        outputs = await self.publish(tp, producer, consumer, staged.outputs, checkpoint)
        latencies = staged.latency
        staged.outputs, staged.latency = [], []
        staged.checkpoint, staged.records, staged.since = None, 0, None
        if checkpoint is not None:
            staged.committed = checkpoint
        self.metrics.observe_outputs((out.sink.value, out.event) for out in outputs)
        now = time.time()
        latency = self.metrics.end_to_end_latency_seconds
        for newest_ms, statements in latencies:
            for _ in range(statements):
                latency.observe(max(now - newest_ms / 1000, 0.0))

    async def publish(
        self,
        tp: TopicPartition,
        producer: AIOKafkaProducer | None,
        consumer: AIOKafkaConsumer,
        outputs: list[Output],
        checkpoint: Checkpoint | None,
    ) -> list[Output]:
        """Publish `outputs` and commit `checkpoint` for `tp` (in the partition's transaction
        with its `producer` exactly once; with the shared producer, then the `consumer`'s commit,
        at least once). Returns the outputs as published (fitted to the topics' limits); the
        statement stores' hook (`own`) gets them once committed."""
        fitted = outputs
        delivered: list[object] = []
        offsets = (
            {tp: OffsetAndMetadata(checkpoint.offset, checkpoint.metadata())}
            if checkpoint is not None
            else None
        )

        if self.exactly_once:
            assert producer is not None, "exactly once needs the partition's producer"

            async def attempt() -> None:
                nonlocal fitted, delivered
                fitted = self.fit(outputs)  # again at each attempt: the limits may have changed
                async with producer.transaction():
                    # Every send must be acknowledged before the offsets join the transaction: a
                    # failed send then aborts it, and nothing is committed that was not produced.
                    futures = await self._send_all(producer, fitted)
                    delivered = await asyncio.gather(*futures)
                    if offsets is not None:
                        await producer.send_offsets_to_transaction(offsets, self.settings.group_id)

        else:
            shared = self.producer
            assert shared is not None

            async def attempt() -> None:
                nonlocal fitted, delivered
                fitted = self.fit(outputs)
                futures = await self._send_all(shared, fitted)
                delivered = await asyncio.gather(*futures)
                if offsets is not None:
                    await consumer.commit(offsets)

        await self._retrying(tp, attempt)
        if self.own is not None:
            self.own.published(fitted, delivered)
        return fitted

    async def _send_all(
        self, producer: AIOKafkaProducer, outputs: list[Output]
    ) -> list[asyncio.Future[object]]:
        """Enqueue every output. A send waits for its topic's metadata (and for room in the
        producer's buffer): each is bounded by `SEND_TIMEOUT_S`, so that a deleted output topic
        shows up as an error instead of a 40-second hang per message. One timeout rescheduled
        per send, not a `wait_for` task per send (issue 13)."""
        futures = []
        topics = self.topics
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(None) as bound:
            for out in outputs:
                bound.reschedule(loop.time() + SEND_TIMEOUT_S)
                futures.append(
                    await producer.send(
                        topics[out.sink], out.value, key=out.key, headers=list(out.headers)
                    )
                )
        return futures

    async def _retrying(self, tp: TopicPartition, attempt: Callable[[], Awaitable[None]]) -> None:
        """Run one publication attempt until it succeeds (see the module's docstring)."""
        transactional = self.exactly_once
        for n in range(1, _PUBLISH_RETRIES + 1):
            try:
                await attempt()
            except ProducerFenced:
                self.metrics.child(self.metrics.transactions_total, "aborted").inc()
                log.error(
                    "producer fenced: another instance owns the partition", partition=tp.partition
                )
                raise
            except (KafkaError, TimeoutError) as exc:
                if transactional:
                    self.metrics.child(self.metrics.transactions_total, "aborted").inc()
                log.warning(
                    "publication failed; retrying",
                    partition=tp.partition,
                    attempt=n,
                    error=repr(exc),
                )
                if n == _PUBLISH_RETRIES:
                    raise
                await asyncio.sleep(min(0.5 * 2 ** (n - 1), 5.0))
                await self._ensure_output_topics()
                if isinstance(exc, MessageSizeTooLargeError | RecordTooLargeError):
                    await self.read_limits()  # a topic's max.message.bytes was lowered
            else:
                if transactional:
                    self.metrics.child(self.metrics.transactions_total, "committed").inc()
                return

    async def send_snapshot(self, value: bytes) -> None:
        """One metrics snapshot to the metrics topic (shared producer; errors are logged)."""
        if self.producer is None:
            return
        try:
            await self.producer.send_and_wait(
                self.settings.metrics_topic, value, headers=[("pms-type", b"metrics_snapshot")]
            )
        except KafkaError as exc:
            log.warning("metrics snapshot not published", error=repr(exc))
