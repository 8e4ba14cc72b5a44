"""The Kafka service loop: consume, process, publish and commit, exactly once.

One `Service` per process. It joins the consumer group on the input topic (and the optional
requests topic), and for every assigned partition keeps a `PartitionTask` (the pure core) and,
under `exactly_once`, a transactional producer whose id is fixed by the partition
(`<group>.<topic>.<partition>`): a new owner's producer fences any zombie of the old owner, the
pre-KIP-447 pattern aiokafka supports. Each `getmany` batch is processed per partition, and each
partition's outputs and checkpoint (the replay offset and metadata, see `partition_task`) go in
one transaction, so a read_committed consumer sees every statement exactly once whatever is
killed when. Under `at_least_once` one idempotent producer publishes and the consumer commits
the same checkpoint after delivery: a crash may repeat outputs, never lose them.

Rebalances: `on_partitions_revoked` waits for the batch in flight (the processing lock) and parks
the tasks; `on_partitions_assigned` keeps the parked tasks of partitions that came back in the
same rebalance and restores the others from their committed checkpoint (seek, then replay).
A watchdog ends the process when the loop stalls; SIGTERM/SIGINT finish the batch in flight,
commit it, and leave the group within `shutdown_timeout_s`.

Flow: **consumer -> partition tasks -> producer (transactions)**, with metrics and HTTP beside.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    ProducerFenced,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    UnsupportedSaslMechanismError,
)
from aiokafka.structs import OffsetAndMetadata

from pms_stream.reroute.handler import RerouteHandler
from pms_stream.reroute.store import StatementStore
from pms_stream.service.back_office import BackOffice
from pms_stream.service.config import Settings, kafka_client_options
from pms_stream.service.http import HttpServer
from pms_stream.service.logs import get_logger
from pms_stream.service.metrics import Metrics
from pms_stream.service.outputs import Output, Sink
from pms_stream.service.partition_task import Checkpoint, InputMessage, Limits, PartitionTask
from pms_stream.service.store_feed import StoreFeed
from pms_stream.service.watchdog import EXIT_STALLED, Watchdog
from pms_stream.statements.model import RejectedEvent, Source, Statement

__all__ = ["Service"]

_PUBLISH_RETRIES = 10  # about 30 s of backoff in all before the service gives up
_SEND_TIMEOUT_S = 10.0
_AUTH_PROBE_TIMEOUT_MS = 10_000
_SASL_ERRORS = (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError)
log = get_logger("pms_stream.service")


class OutputTopicMissing(Exception):  # noqa: N818 - named for what the operator reads
    """An output topic was deleted and the service may not create topics."""


class KafkaAuthenticationError(Exception):
    """The brokers refused the credentials (SASL) or the certificate (TLS): no retry can help."""


@dataclass
class _Partition:
    """An assigned input partition: its task, its producer (exactly once) and what is committed."""

    tp: Any  # TopicPartition
    task: PartitionTask
    producer: Any | None  # AIOKafkaProducer, transactional; None at least once
    committed: Checkpoint | None
    restore_started: float = field(default_factory=time.monotonic)
    restored: bool = False


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, service: Service) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        await self.service.revoke(list(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        await self.service.assign(list(assigned))


class Service:
    """The long-running consume-transform-produce service. `await run()` until stopped."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.exactly_once = settings.guarantee == "exactly_once"
        self._kafka = kafka_client_options(settings)
        self._topics = {
            Sink.STATEMENTS: settings.statements_topic,
            Sink.REROUTE_ACKS: settings.reroute_acks_topic,
            Sink.REJECTS: settings.rejects_topic,
            Sink.METRICS: settings.metrics_topic,
        }
        self._inputs = [settings.input_topic]
        if settings.requests_topic and settings.requests_topic != settings.input_topic:
            self._inputs.append(settings.requests_topic)
        self._limits = Limits(
            idle_timeout_s=settings.idle_timeout_s,
            max_message_bytes=settings.max_message_bytes,
            max_open_keys=settings.max_open_keys,
            max_records_per_statement=settings.max_records_per_statement,
        )
        # A statement of 9,999 daily statements is about 3.5 MB of JSON, over Kafka's default
        # 1 MB: the statements and rejects topics are created to take max_statement_bytes, the
        # producers to send it; a larger output becomes a reject (see _fit).
        self._max_request = max(settings.max_statement_bytes, settings.max_message_bytes) + 65_536
        self._topic_max = str(self._max_request)
        self._partitions: dict[Any, _Partition] = {}
        self._parked: dict[Any, _Partition] = {}
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._consumer: Any = None
        self._producer: Any = None  # shared, idempotent: at-least-once outputs and snapshots
        self._admin: Any = None
        self._http: HttpServer | None = None
        self._watchdog = Watchdog(
            settings.stall_timeout_s, on_stall=self._on_stall, grace_s=settings.shutdown_timeout_s
        )
        self._consuming = False
        self.exit_code = 0
        fixed = settings.reroute_today
        today = (lambda: date.fromisoformat(fixed)) if fixed else date.today
        self.store = StatementStore(today=today)
        self._requests = RerouteHandler(self.store, today=today)
        self._feed: StoreFeed | None = None
        self._feed_task: asyncio.Task[None] | None = None
        self.back_office = BackOffice(settings, today, self.metrics)  # issue 17

    # ---- health -------------------------------------------------------------------------------

    def healthy(self) -> tuple[bool, str]:
        age = self._watchdog.age
        if not self._watchdog.healthy():
            return False, f"processing loop stalled for {age:.0f}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        if self._feed is not None and not self._feed.ready:
            return False, "loading the statement store"
        if not self._consuming:
            return False, "not consuming yet"
        if not self._partitions:
            return False, "no partition assigned"
        restoring = [p.tp.partition for p in self._partitions.values() if not p.restored]
        if restoring:
            return False, f"restoring partitions {restoring}"
        return True, "ok"

    def _runs_forecast(self) -> bool:
        """The forecast task runs where partition 0 of the input topic is (issue 17)."""
        return any(
            tp.topic == self.settings.input_topic and tp.partition == 0 for tp in self._partitions
        )

    def request_stop(self) -> None:
        self._stop.set()

    # ---- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped (SIGTERM/SIGINT or `request_stop`); returns the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        self._http = HttpServer(
            self.settings.http_host,
            self.settings.http_port,
            self.metrics,
            self.healthy,
            self.ready,
            app=self.back_office.app,
        )
        await self._http.start()
        log.info("starting", settings=self.settings.redacted(), http_port=self._http.port)
        watchdog = asyncio.create_task(self._watchdog.watch())
        snapshots = asyncio.create_task(self._snapshots())
        try:
            await self._start_kafka()
            await self._loop()
        except Exception as exc:
            log.critical("service failed", error=repr(exc))
            self.exit_code = self.exit_code or 1
        finally:
            watchdog.cancel()
            snapshots.cancel()
            await self._shutdown()
        return self.exit_code

    async def _start_kafka(self) -> None:
        self._admin = AIOKafkaAdminClient(**self._kafka)
        try:
            await self._admin.start()
        except KafkaConnectionError:
            await self._explain_bootstrap_failure()
            raise
        if self.settings.create_topics:
            await self._create_topics()
        self._producer = AIOKafkaProducer(
            **self._kafka,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_request_size=self._max_request,
        )
        await self._producer.start()
        # The reroute store is loaded before any input is read: no request meets a half store.
        self._feed = StoreFeed(self._kafka, self.settings.statements_topic, self.store)
        await self._feed.start()
        self._feed_task = asyncio.create_task(self._feed.run())
        await self.back_office.start(self._kafka, self._runs_forecast)
        self._consumer = AIOKafkaConsumer(
            **self._kafka,
            group_id=self.settings.group_id,
            group_instance_id=self.settings.group_instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=max(self.settings.session_timeout_ms // 3, 1000),
            max_partition_fetch_bytes=max(self.settings.max_message_bytes + 65536, 1_048_576),
        )
        await self._consumer.start()
        self._consumer.subscribe(self._inputs, listener=_Listener(self))

    async def _explain_bootstrap_failure(self) -> None:
        """Raise `KafkaAuthenticationError` when SASL or TLS is why no bootstrap server answered.

        aiokafka logs each server's error but raises only "Unable to bootstrap"; one more
        connection per server (bounded by `_AUTH_PROBE_TIMEOUT_MS`) tells an authentication
        failure apart from an unreachable broker. Returns when it is not one.
        """
        s = self.settings
        options = {k: v for k, v in self._kafka.items() if k != "bootstrap_servers"}
        for host, port, _ in collect_hosts(s.bootstrap_servers, randomize=False):
            try:
                conn = await create_conn(
                    host, port, request_timeout_ms=_AUTH_PROBE_TIMEOUT_MS, **options
                )
            except _SASL_ERRORS as exc:
                raise KafkaAuthenticationError(
                    f"authentication failed for user {s.sasl_username!r} (SASL "
                    f"{s.sasl_mechanism} over {s.security_protocol}) on {host}:{port}: {exc}"
                ) from None
            except ssl.SSLError as exc:
                raise KafkaAuthenticationError(
                    f"TLS handshake with {host}:{port} failed ({s.security_protocol}, CA file "
                    f"{s.ssl_cafile or 'system default'}): {exc}"
                ) from None
            except (OSError, KafkaError, TimeoutError):
                continue
            conn.close()

    async def _create_topics(self) -> None:
        s = self.settings
        topics = [NewTopic(t, s.topic_partitions, s.replication_factor) for t in self._inputs]
        topics.append(
            NewTopic(
                s.statements_topic,
                s.topic_partitions,
                s.replication_factor,
                topic_configs={"cleanup.policy": "compact", "max.message.bytes": self._topic_max},
            )
        )
        topics.append(
            NewTopic(
                s.rejects_topic,
                s.topic_partitions,
                s.replication_factor,
                topic_configs={"max.message.bytes": self._topic_max},
            )
        )
        for name in (s.reroute_acks_topic, s.metrics_topic):
            topics.append(NewTopic(name, s.topic_partitions, s.replication_factor))
        existing = set(await self._admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await self._admin.create_topics(missing)
            log.info("created topics", topics=[t.name for t in missing])

    async def _shutdown(self) -> None:
        deadline = self.settings.shutdown_timeout_s
        try:
            await asyncio.wait_for(self._close_kafka(), timeout=deadline)
        except TimeoutError:
            log.error("shutdown took longer than allowed", seconds=deadline)
            self.exit_code = self.exit_code or 1
        if self._http is not None:
            await self._http.stop()
        log.info("stopped", exit_code=self.exit_code)

    async def _close_kafka(self) -> None:
        await self.back_office.stop()
        if self._feed_task is not None:
            self._feed_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feed_task
        if self._feed is not None:
            await self._feed.stop()
        if self._consumer is not None:
            await self._consumer.stop()  # leaves the group; the batch in flight is committed
        for part in [*self._partitions.values(), *self._parked.values()]:
            if part.producer is not None:
                await part.producer.stop()
        self._partitions.clear()
        self._parked.clear()
        if self._producer is not None:
            await self._producer.stop()
        if self._admin is not None:
            await self._admin.close()

    # ---- the loop -----------------------------------------------------------------------------

    async def _loop(self) -> None:
        s = self.settings
        self._consuming = True
        while not self._stop.is_set():
            self._watchdog.beat()
            self.metrics.loop_iterations_total.inc()
            self.metrics.last_loop_timestamp_seconds.set(time.time())
            batch = await self._consumer.getmany(
                timeout_ms=s.batch_timeout_ms, max_records=s.batch_max_records
            )
            async with self._lock:
                jobs = []
                for tp, messages in batch.items():
                    part = self._partitions.get(tp)
                    if part is not None and messages:
                        jobs.append(self._process(part, messages))
                for part in self._partitions.values():
                    if part.tp not in batch:
                        jobs.append(self._expire(part))
                if jobs:
                    await asyncio.gather(*jobs)
                self._update_gauges()

    async def _process(self, part: _Partition, messages: list[Any]) -> None:
        started = time.monotonic()
        self.metrics.messages_total.inc(len(messages))
        outputs: list[Output] = []
        for m in messages:
            outputs += part.task.process(InputMessage(m.offset, m.key, m.value, m.timestamp))
        outputs += part.task.expire()
        self.metrics.assembly_latency_seconds.observe(time.monotonic() - started)
        self.metrics.count_records(part.task.record_stats)
        part.task.record_stats.clear()
        newest = max((m.timestamp for m in messages if m.timestamp is not None), default=None)
        await self._publish(part, outputs, newest)

    async def _expire(self, part: _Partition) -> None:
        outputs = part.task.expire()
        if outputs:
            self.metrics.count_records(part.task.record_stats)
            part.task.record_stats.clear()
            await self._publish(part, outputs, None)

    async def _publish(
        self, part: _Partition, outputs: list[Output], newest_ms: int | None
    ) -> None:
        checkpoint = part.task.checkpoint()
        if not part.restored and not part.task.restoring:
            part.restored = True
            self.metrics.restore_seconds.observe(time.monotonic() - part.restore_started)
            log.info(
                "partition restored",
                partition=part.tp.partition,
                seconds=round(time.monotonic() - part.restore_started, 3),
            )
        moved = checkpoint is not None and checkpoint != part.committed
        if not outputs and not moved:
            return
        outputs = [self._fit(out) for out in outputs]
        if self.exactly_once:
            await self._publish_transaction(part, outputs, checkpoint)
        else:
            await self._publish_at_least_once(part, outputs, checkpoint)
        if checkpoint is not None:
            part.committed = checkpoint
        now = time.time()
        for out in outputs:
            self.metrics.observe_output(out.sink.value, out.event)
            if newest_ms is not None and out.sink is Sink.STATEMENTS:
                self.metrics.end_to_end_latency_seconds.observe(max(now - newest_ms / 1000, 0.0))

    def _fit(self, out: Output) -> Output:
        """An output over max_statement_bytes cannot be published: it becomes a reject that says
        so (with the start of its JSON and its source), instead of failing the transaction."""
        limit = self.settings.max_statement_bytes
        if len(out.value) <= limit:
            return out
        source = out.event.source if isinstance(out.event, Statement | RejectedEvent) else Source()
        count = out.event.record_count if isinstance(out.event, Statement | RejectedEvent) else 0
        reject = RejectedEvent(
            kind="statement",
            reason=f"{out.sink.value} output of {len(out.value)} bytes is over max_statement_bytes "
            f"({limit}); raise it (and the topic's max.message.bytes) to publish it",
            raw=out.value[:4096].decode("latin-1"),
            record_count=count,
            source=source,
            time=datetime.now(UTC),
        )
        log.error(
            "output over max_statement_bytes rejected",
            sink=out.sink.value,
            size=len(out.value),
            limit=limit,
        )
        return Output(
            Sink.REJECTS, out.key, msgspec.json.encode(reject), (("pms-type", b"rejected"),), reject
        )

    async def _publish_transaction(
        self, part: _Partition, outputs: list[Output], checkpoint: Checkpoint | None
    ) -> None:
        producer = part.producer
        assert producer is not None, "exactly once needs the partition's transactional producer"

        async def attempt() -> None:
            async with producer.transaction():
                # Every send must be acknowledged before the offsets join the transaction: a
                # failed send then aborts it, and nothing is committed that was not produced.
                futures = await self._send_all(producer, outputs)
                if futures:
                    await asyncio.gather(*futures)
                if checkpoint is not None:
                    await producer.send_offsets_to_transaction(
                        {part.tp: OffsetAndMetadata(checkpoint.offset, checkpoint.metadata())},
                        self.settings.group_id,
                    )

        await self._retrying(part, attempt, transactional=True)

    async def _publish_at_least_once(
        self, part: _Partition, outputs: list[Output], checkpoint: Checkpoint | None
    ) -> None:
        async def attempt() -> None:
            futures = await self._send_all(self._producer, outputs)
            if futures:
                await asyncio.gather(*futures)
            if checkpoint is not None:
                await self._consumer.commit(
                    {part.tp: OffsetAndMetadata(checkpoint.offset, checkpoint.metadata())}
                )

        await self._retrying(part, attempt, transactional=False)

    async def _send_all(self, producer: Any, outputs: list[Output]) -> list[Any]:
        """Enqueue every output. A send waits for its topic's metadata: bounded here, so that a
        deleted output topic shows up as an error instead of a 40-second hang per message."""
        futures = []
        for out in outputs:
            futures.append(
                await asyncio.wait_for(
                    producer.send(
                        self._topics[out.sink], out.value, key=out.key, headers=list(out.headers)
                    ),
                    _SEND_TIMEOUT_S,
                )
            )
        return futures

    async def _retrying(
        self, part: _Partition, attempt: Callable[[], Awaitable[None]], *, transactional: bool
    ) -> None:
        """Run one publication attempt until it succeeds. Between attempts: back off (up to 5 s)
        and make sure the output topics exist (recreating them when `create_topics` is on). A
        fenced producer, or errors past `_PUBLISH_RETRIES` attempts, end the service: nothing
        that was not published is committed."""
        for n in range(1, _PUBLISH_RETRIES + 1):
            try:
                await attempt()
            except ProducerFenced:
                self.metrics.transactions_total.labels("aborted").inc()
                log.error(
                    "producer fenced: another instance owns the partition",
                    partition=part.tp.partition,
                )
                raise
            except (KafkaError, TimeoutError) as exc:
                if transactional:
                    self.metrics.transactions_total.labels("aborted").inc()
                log.warning(
                    "publication failed; retrying",
                    partition=part.tp.partition,
                    attempt=n,
                    error=repr(exc),
                )
                if n == _PUBLISH_RETRIES:
                    raise
                await asyncio.sleep(min(0.5 * 2 ** (n - 1), 5.0))
                await self._ensure_output_topics()
            else:
                if transactional:
                    self.metrics.transactions_total.labels("committed").inc()
                return

    async def _ensure_output_topics(self) -> None:
        """Recreate output topics that were deleted under the service (or fail loudly)."""
        try:
            existing = set(await self._admin.list_topics())
        except KafkaError:
            return  # the broker is unreachable: the next attempt tells
        missing = sorted(t for t in self._topics.values() if t not in existing)
        if not missing:
            return
        if not self.settings.create_topics:
            raise OutputTopicMissing(
                f"output topics {missing} do not exist and create_topics is off: create them"
            )
        log.error("output topics were deleted; recreating them", topics=missing)
        await self._create_topics()

    def _update_gauges(self) -> None:
        self.metrics.statement_store_statements.set(len(self.store))
        self.metrics.statement_store_bytes.set(self.store.value_bytes)
        for part in self._partitions.values():
            label = str(part.tp.partition)
            self.metrics.open_statements.labels(label).set(part.task.open_streams)
            stable = self._consumer.last_stable_offset(part.tp)
            position = part.task.next_offset
            if stable is not None and position is not None:
                self.metrics.consumer_lag.labels(label).set(max(stable - position, 0))

    # ---- rebalances ---------------------------------------------------------------------------

    async def revoke(self, revoked: list[Any]) -> None:
        async with self._lock:  # the batch in flight is published and committed first
            for tp in revoked:
                part = self._partitions.pop(tp, None)
                if part is not None:
                    self._parked[tp] = part
            self.metrics.rebalances_total.inc()
            log.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    async def assign(self, assigned: list[Any]) -> None:
        async with self._lock:
            keep = {tp: self._parked.pop(tp) for tp in assigned if tp in self._parked}
            for part in self._parked.values():  # moved to another instance
                self.metrics.forget_partition(part.tp.partition)
                if part.producer is not None:
                    await part.producer.stop()
            self._parked.clear()
            self._partitions.update(keep)
            fresh = [tp for tp in assigned if tp not in keep]
            if fresh:
                await self._restore(fresh)
            log.info(
                "partitions assigned",
                partitions=sorted(tp.partition for tp in assigned),
                restored=sorted(tp.partition for tp in fresh),
            )

    async def _restore(self, tps: list[Any]) -> None:
        started = time.monotonic()
        producers: dict[Any, Any] = {}
        if self.exactly_once:
            # Starting the producer (InitProducerId) fences the previous owner's producer and
            # completes or aborts its transaction, so the offsets fetched next are stable.
            async def start(tp: Any) -> None:
                producer = AIOKafkaProducer(
                    **self._kafka,
                    transactional_id=f"{self.settings.group_id}.{tp.topic}.{tp.partition}",
                    enable_idempotence=True,
                    transaction_timeout_ms=self.settings.transaction_timeout_ms,
                    # The coordinator answers CONCURRENT_TRANSACTIONS while the previous
                    # transaction's markers are written; aiokafka then waits retry_backoff_ms
                    # (100 by default) before adding the offsets again: most of a small batch's
                    # latency (docs/performance.md). 20 ms by default keeps the retries cheap.
                    retry_backoff_ms=self.settings.transaction_retry_backoff_ms,
                    linger_ms=5,
                    max_request_size=self._max_request,
                )
                await producer.start()
                producers[tp] = producer

            await asyncio.gather(*(start(tp) for tp in tps))
        committed: dict[Any, Any] = await self._admin.list_consumer_group_offsets(
            self.settings.group_id, partitions=tps
        )
        for tp in tps:
            entry = committed.get(tp)
            checkpoint: Checkpoint | None = None
            if entry is not None and entry.offset >= 0:
                checkpoint = Checkpoint.from_committed(entry.offset, entry.metadata or "")
                self._consumer.seek(tp, checkpoint.offset)
            else:
                await self._consumer.seek_to_beginning(tp)
            task = PartitionTask(
                tp.topic,
                tp.partition,
                checkpoint=checkpoint,
                limits=self._limits,
                requests=self._requests,
            )
            part = _Partition(tp, task, producers.get(tp), checkpoint, started)
            part.restored = not task.restoring
            if part.restored:
                self.metrics.restore_seconds.observe(time.monotonic() - started)
            self._partitions[tp] = part

    # ---- background ---------------------------------------------------------------------------

    def _on_stall(self, age: float) -> None:
        log.critical("processing loop stalled; exiting", seconds=round(age, 1))
        self.exit_code = EXIT_STALLED
        self.request_stop()

    async def _snapshots(self) -> None:
        while True:
            await asyncio.sleep(self.settings.metrics_interval_s)
            if self._producer is None:
                continue
            snapshot = self.metrics.snapshot()
            snapshot["time"] = datetime.now(UTC).isoformat()
            try:
                await self._producer.send_and_wait(
                    self.settings.metrics_topic,
                    msgspec.json.encode(snapshot),
                    headers=[("pms-type", b"metrics_snapshot")],
                )
            except KafkaError as exc:
                log.warning("metrics snapshot not published", error=repr(exc))
