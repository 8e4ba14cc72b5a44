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

Start-up (`service.admin`): the brokers must answer within `connect_timeout_s`, the settings
are checked against what the broker allows (exit 2), missing topics are created (or reported as
the broker refused them); SIGTERM/SIGINT end every stage of it at once.

Rebalances: `on_partitions_revoked` waits for the batch in flight (the processing lock) and parks
the tasks; `on_partitions_assigned` keeps the parked tasks of partitions that came back in the
same rebalance, pauses the others and starts their set-up beside the loop (`_set_up`: the
transactional producer, whose InitProducerId fences the previous owner, then the committed
checkpoint), a few at a time and retried with backoff; a set-up done seeks and resumes its
partition, which then replays. The loop never waits for a set-up, so the watchdog never sees one;
`/readyz` is 503 until every assigned partition is set up and restored. An exception in a set-up
(past its retries) or in the rebalance listener (which aiokafka would swallow) ends the service
with the reason; so does a static member whose `group_instance_id` another live instance uses.
A watchdog ends the process when the loop stalls; SIGTERM/SIGINT finish the batch in flight,
commit it, and leave the group within `shutdown_timeout_s`.

Flow: **consumer -> partition tasks -> producer (transactions)**, with metrics and HTTP beside.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    CorruptRecordException,
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    ProducerFenced,
    RecordTooLargeError,
    UnsupportedCodecError,
)
from aiokafka.structs import OffsetAndMetadata

from pms_stream.reroute.store import StatementStore
from pms_stream.service import admin
from pms_stream.service.admin import EXIT_CONFIG, EXIT_FENCED, StartupError, TopicSpec
from pms_stream.service.config import Settings, env_name, kafka_client_options
from pms_stream.service.http import HttpServer
from pms_stream.service.logs import get_logger
from pms_stream.service.metrics import Metrics
from pms_stream.service.store_feed import StoreFeed
from pms_stream.service.undecodable import Undecodable, locate
from pms_stream.service.watchdog import EXIT_STALLED, Watchdog
from pms_stream.stream.outputs import RECORD_OVERHEAD, Output, Sink, fit
from pms_stream.stream.partition_task import (
    OFFSET_METADATA_MAX,
    Checkpoint,
    InputMessage,
    Limits,
    PartitionTask,
    max_open_keys_for,
)
from pms_stream.stream.reroute_handler import RerouteHandler

__all__ = ["Service"]

_PUBLISH_RETRIES = 10  # about 30 s of backoff in all before the service gives up
_SEND_TIMEOUT_S = 10.0
_SETUP_CONCURRENCY = 8  # partition set-ups at once (each starts a transactional producer)
_SETUP_ATTEMPTS = 5  # tries of one partition's set-up before the service gives up
_SETUP_ATTEMPT_TIMEOUT_S = 30.0
_TWIN_CHECK_S = 5.0  # bound of the group description asked when static membership is lost
log = get_logger("pms_stream.service")


def _maybe_undecodable(exc: Exception) -> bool:
    """Whether a `getmany` error may come from decoding a fetched batch (a codec's own error, a
    corrupt CRC, an unknown codec); `Service._undecodable` then finds out, or re-raises."""
    if isinstance(exc, UnsupportedCodecError | CorruptRecordException):
        return True
    return not isinstance(exc, KafkaError)


class OutputTopicMissing(Exception):  # noqa: N818 - named for what the operator reads
    """An output topic was deleted and the service may not create topics."""


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
    """Hands rebalances to the service; aiokafka logs and drops a listener's exceptions, so
    they are caught here and end the service with the reason instead."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        try:
            await self.service.revoke(list(revoked))
        except Exception as exc:
            self.service.listener_failed("revoked", exc)

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        try:
            await self.service.assign(list(assigned))
        except Exception as exc:
            self.service.listener_failed("assigned", exc)


class Service:
    """The long-running consume-transform-produce service. `await run()` until stopped."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.exactly_once = settings.guarantee == "exactly_once"
        self._kafka = kafka_client_options(settings)  # + the further [kafka.*] options by role:
        self._consumer_kafka = kafka_client_options(settings, "consumer")
        self._producer_kafka = kafka_client_options(settings, "producer")
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
        # the largest record each output topic takes (outputs.fit): read from the broker at start
        # and whenever a topic may have changed (recreated, a size error); see _read_limits
        self._sink_limits: dict[Sink, int] = {}
        self._fetch_bytes = max(settings.max_message_bytes + 65536, 1_048_576)
        secret = settings.statement_key_secret
        self._key_secret = secret.reveal().encode() if secret is not None else None
        self._partitions: dict[Any, _Partition] = {}
        self._parked: dict[Any, _Partition] = {}
        self._setting_up: dict[Any, asyncio.Task[None]] = {}  # assigned, paused, being set up
        self._setup_slots = asyncio.Semaphore(_SETUP_CONCURRENCY)
        self._chores: set[asyncio.Task[Any]] = set()  # producers of moved partitions stopping
        self._member_id: str | None = None  # the last one the group gave this instance
        self._failed = False
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
        if self._setting_up:
            total = len(self._setting_up) + len(self._partitions)
            return False, f"setting up {len(self._setting_up)} of {total} assigned partitions"
        if not self._partitions:
            return False, "no partition assigned"
        restoring = [p.tp.partition for p in self._partitions.values() if not p.restored]
        if restoring:
            return False, f"restoring partitions {restoring}"
        return True, "ok"

    def request_stop(self) -> None:
        self._stop.set()

    # ---- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped (SIGTERM/SIGINT or `request_stop`); returns the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        background: list[asyncio.Task[None]] = []
        try:
            await self._start_http()
            log.info("starting", settings=self.settings.redacted(), http_port=self.http_port)
            background.append(asyncio.create_task(self._watchdog.watch()))
            background.append(asyncio.create_task(self._snapshots()))
            if await self._unless_stopped(self._start_kafka()):
                await self._loop()
        except Exception as exc:
            self._fail(exc)
        finally:
            for task in background:
                task.cancel()
            await self._shutdown()
        return self.exit_code

    @property
    def http_port(self) -> int | None:
        return self._http.port if self._http is not None else None

    async def _start_http(self) -> None:
        s = self.settings
        http = HttpServer(s.http_host, s.http_port, self.metrics, self.healthy, self.ready)
        try:
            await http.start()
        except OSError as exc:
            raise admin.http_bind_failure(s, exc) from None
        self._http = http

    async def _unless_stopped(self, work: Awaitable[None]) -> bool:
        """Run `work` unless SIGTERM/SIGINT comes first: then cancel it and return False."""
        task = asyncio.ensure_future(work)
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            task.result()  # raises what the work raised
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        log.info("stopped during start-up")
        return False

    async def _bounded(self, step: Awaitable[Any], what: str) -> Any:
        """One start-up step that needs the brokers, within `connect_timeout_s`."""
        timeout = self.settings.connect_timeout_s
        try:
            return await asyncio.wait_for(step, timeout)
        except TimeoutError:
            raise StartupError(
                f"the Kafka brokers at {self.settings.bootstrap_servers} did not answer "
                f"({what}) within {timeout:g} s ({env_name('connect_timeout_s')}): check the "
                "address, that the brokers run, and the network between"
            ) from None

    def _topic_specs(self) -> list[TopicSpec]:
        """Every topic the service reads or writes, with the configuration it creates them with."""
        s = self.settings
        big = (("max.message.bytes", self._topic_max),)
        specs = [TopicSpec(s.input_topic, "input_topic")]
        if len(self._inputs) > 1:
            specs.append(TopicSpec(self._inputs[1], "requests_topic"))
        specs += [
            TopicSpec(
                s.statements_topic, "statements_topic", (("cleanup.policy", "compact"), *big)
            ),
            TopicSpec(s.rejects_topic, "rejects_topic", big),
            TopicSpec(s.reroute_acks_topic, "reroute_acks_topic"),
            TopicSpec(s.metrics_topic, "metrics_topic"),
        ]
        return specs

    async def _start_kafka(self) -> None:
        s = self.settings
        self._admin = AIOKafkaAdminClient(**kafka_client_options(s, "admin"))
        try:
            await self._bounded(self._admin.start(), "bootstrap")
        except KafkaConnectionError:
            await self._bounded(
                admin.explain_bootstrap_failure(s, self._kafka), "authentication probe"
            )
            raise admin.unreachable(s) from None
        specs = self._topic_specs()
        await self._bounded(admin.check_against_broker(s, self._admin, specs), "configuration")
        if s.create_topics:
            await self._bounded(self._create_topics(), "topic creation")
        await self._bounded(self._read_limits(at_start=True), "topic limits")
        self._producer = AIOKafkaProducer(
            **self._producer_kafka,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_request_size=self._max_request,
        )
        await self._bounded(self._producer.start(), "producer start")
        # The reroute store is loaded before any input is read: no request meets a half store.
        self._feed = StoreFeed(self._consumer_kafka, self.settings.statements_topic, self.store)
        await self._feed.start()
        self._feed_task = asyncio.create_task(self._feed.run())
        self._consumer = AIOKafkaConsumer(
            **self._consumer_kafka,
            group_id=self.settings.group_id,
            group_instance_id=self.settings.group_instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=max(self.settings.session_timeout_ms // 3, 1000),
            max_partition_fetch_bytes=self._fetch_bytes,
        )
        await self._bounded(self._consumer.start(), "consumer start")
        self._consumer.subscribe(self._inputs, listener=_Listener(self))

    async def _create_topics(self) -> None:
        """Create the missing topics; the broker's refusal is a `StartupError` with its reason."""
        await admin.create_topics(self.settings, self._admin, self._topic_specs())

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
        setting_up = list(self._setting_up.values())
        for task in setting_up:
            task.cancel()  # each stops the producer it started
        await asyncio.gather(*setting_up, *self._chores, return_exceptions=True)
        self._setting_up.clear()
        if self._feed_task is not None:
            self._feed_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feed_task
        if self._feed is not None:
            await self._feed.stop()
        if self._consumer is not None:
            await self._consumer.stop()  # leaves the group; the batch in flight is committed
        await asyncio.gather(
            *(
                part.producer.stop()
                for part in [*self._partitions.values(), *self._parked.values()]
                if part.producer is not None
            )
        )
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
            try:
                batch = await self._consumer.getmany(
                    timeout_ms=s.batch_timeout_ms, max_records=s.batch_max_records
                )
            except Exception as exc:
                if not _maybe_undecodable(exc):
                    raise
                async with self._lock:
                    await self._undecodable(exc)
                continue
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
        self.metrics.count_records(part.task.take_stats())
        newest = max((m.timestamp for m in messages if m.timestamp is not None), default=None)
        await self._publish(part, outputs, newest)

    async def _undecodable(self, error: Exception) -> None:
        """aiokafka failed to decode a fetched batch (and dropped what it had decoded of that
        fetch): put every partition back where its task is, find the undecodable batch
        (`undecodable.locate`), process the messages before it, dead-letter it with its
        offsets, and move its partition past it. Re-raises `error` when no batch is at fault."""
        found = False
        for part in list(self._partitions.values()):
            self._watchdog.beat()  # one bounded fetch per partition: the loop is alive
            tp = part.tp
            start = part.task.next_offset
            if start is None:
                await self._consumer.seek_to_beginning(tp)
                start = await self._consumer.position(tp)
            else:
                self._consumer.seek(tp, start)
            try:
                bad = await asyncio.wait_for(
                    locate(self._consumer._client, tp, start, self._fetch_bytes), _SEND_TIMEOUT_S
                )
            except (KafkaError, TimeoutError) as exc:
                log.warning("could not fetch to look for an undecodable batch", error=repr(exc))
                continue
            if bad is None:
                continue
            found = True
            await self._read_up_to(part, bad)
            log.error(
                "undecodable record batch dead-lettered",
                partition=tp.partition,
                first_offset=bad.first_offset,
                last_offset=bad.last_offset,
                reason=bad.reason,
            )
            outputs = part.task.skip(bad.first_offset, bad.last_offset, bad.reason, bad.raw)
            await self._publish(part, outputs, None)
            self._consumer.seek(tp, bad.last_offset + 1)
        if not found:
            raise error

    async def _read_up_to(self, part: _Partition, bad: Undecodable) -> None:
        """Process the messages of `part` before the undecodable batch `bad`, one at a time
        (aiokafka then keeps its position at each), until it fails on `bad` again."""
        messages: list[Any] = []
        deadline = time.monotonic() + _SEND_TIMEOUT_S * 3
        while time.monotonic() < deadline:
            if await self._consumer.position(part.tp) >= bad.first_offset:
                break
            try:
                got = await self._consumer.getmany(part.tp, timeout_ms=200, max_records=1)
            except Exception as exc:
                if _maybe_undecodable(exc):
                    break
                raise
            messages += [m for m in got.get(part.tp, []) if m.offset < bad.first_offset]
        if messages:
            await self._process(part, messages)

    async def _expire(self, part: _Partition) -> None:
        outputs = part.task.expire()
        if outputs:
            self.metrics.count_records(part.task.take_stats())
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
        if self.exactly_once:
            outputs = await self._publish_transaction(part, outputs, checkpoint)
        else:
            outputs = await self._publish_at_least_once(part, outputs, checkpoint)
        if checkpoint is not None:
            part.committed = checkpoint
        now = time.time()
        for out in outputs:
            self.metrics.observe_output(out.sink.value, out.event)
            if newest_ms is not None and out.sink is Sink.STATEMENTS:
                self.metrics.end_to_end_latency_seconds.observe(max(now - newest_ms / 1000, 0.0))

    def _fit(self, outputs: list[Output]) -> list[Output]:
        """Each output checked against its topic's limit (`outputs.fit`): too large, it becomes a
        dead letter saying so; a dead letter too large for the rejects topic is split."""
        fitted: list[Output] = []
        now = datetime.now(UTC)
        for out in outputs:
            fit_ = fit(out, self._sink_limits, now)
            fitted += fit_
            if fit_[-1] is out:
                continue
            if out.sink is not Sink.REJECTS:
                log.error(
                    "output too large for its topic: dead-lettered",
                    sink=out.sink.value,
                    size=len(out.value),
                    limit=self._sink_limits.get(out.sink),
                )
            if len(fit_) > 1:
                log.warning(
                    "dead letter too large for the rejects topic: split in parts",
                    parts=len(fit_),
                    limit=self._sink_limits.get(Sink.REJECTS),
                )
        return fitted

    async def _read_limits(self, *, at_start: bool = False) -> None:
        """The largest record each output topic takes: its `max.message.bytes` (the broker's
        `message.max.bytes` when the topic cannot be described), capped by what the producers
        send (`max_request_size`) and, for outputs other than dead letters, by
        `max_statement_bytes`. Kept as they were when the broker cannot be asked. At start,
        also `max_open_keys` against the broker's `offset.metadata.max.bytes` (exit 2)."""
        names = self._topics
        found: dict[str, int] = {}
        broker: int | None = None
        metadata_max = OFFSET_METADATA_MAX
        try:
            resources = [
                ConfigResource(ConfigResourceType.TOPIC, t, {"max.message.bytes": None})
                for t in sorted(set(names.values()))
            ]
            node = next(iter(self._admin._client.cluster.brokers()), None)
            if node is not None:
                resources.append(
                    ConfigResource(
                        ConfigResourceType.BROKER,
                        str(node.nodeId),
                        {"message.max.bytes": None, "offset.metadata.max.bytes": None},
                    )
                )
            for response in await self._admin.describe_configs(resources):
                for res in response.to_object()["resources"]:
                    if res["error_code"]:
                        continue
                    for entry in res["config_entries"]:
                        value = entry["config_value"]
                        if value is None:
                            continue
                        if entry["config_names"] == "max.message.bytes":
                            found[res["resource_name"]] = int(value)
                        elif entry["config_names"] == "message.max.bytes":
                            broker = int(value)
                        elif entry["config_names"] == "offset.metadata.max.bytes":
                            metadata_max = int(value)
        except (KafkaError, TimeoutError, ValueError) as exc:
            log.warning("topic limits not read; keeping the last known", error=repr(exc))
            return
        keys_limit = max_open_keys_for(metadata_max)
        if at_start and self.settings.max_open_keys > keys_limit:
            raise StartupError(
                f"max_open_keys (PMS_MAX_OPEN_KEYS) is {self.settings.max_open_keys}; this "
                f"broker's offset.metadata.max.bytes ({metadata_max}) allows at most {keys_limit}",
                EXIT_CONFIG,
            )
        statement_cap = self.settings.max_statement_bytes + RECORD_OVERHEAD + 1024
        limits: dict[Sink, int] = {}
        for sink, topic in names.items():
            limit = min(found.get(topic, broker or self._max_request), self._max_request)
            if sink is not Sink.REJECTS:
                limit = min(limit, statement_cap)
            limits[sink] = limit
        if limits != self._sink_limits:
            log.info(
                "output limits",
                broker_message_max_bytes=broker,
                **{sink.value: limit for sink, limit in limits.items()},
            )
        self._sink_limits = limits

    async def _publish_transaction(
        self, part: _Partition, outputs: list[Output], checkpoint: Checkpoint | None
    ) -> list[Output]:
        producer = part.producer
        assert producer is not None, "exactly once needs the partition's transactional producer"
        fitted = outputs

        async def attempt() -> None:
            nonlocal fitted
            fitted = self._fit(outputs)  # again at each attempt: the limits may have changed
            async with producer.transaction():
                # Every send must be acknowledged before the offsets join the transaction: a
                # failed send then aborts it, and nothing is committed that was not produced.
                futures = await self._send_all(producer, fitted)
                if futures:
                    await asyncio.gather(*futures)
                if checkpoint is not None:
                    await producer.send_offsets_to_transaction(
                        {part.tp: OffsetAndMetadata(checkpoint.offset, checkpoint.metadata())},
                        self.settings.group_id,
                    )

        await self._retrying(part, attempt, transactional=True)
        return fitted

    async def _publish_at_least_once(
        self, part: _Partition, outputs: list[Output], checkpoint: Checkpoint | None
    ) -> list[Output]:
        fitted = outputs

        async def attempt() -> None:
            nonlocal fitted
            fitted = self._fit(outputs)
            futures = await self._send_all(self._producer, fitted)
            if futures:
                await asyncio.gather(*futures)
            if checkpoint is not None:
                await self._consumer.commit(
                    {part.tp: OffsetAndMetadata(checkpoint.offset, checkpoint.metadata())}
                )

        await self._retrying(part, attempt, transactional=False)
        return fitted

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
                if isinstance(exc, MessageSizeTooLargeError | RecordTooLargeError):
                    await self._read_limits()  # a topic's max.message.bytes was lowered
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
        await self._read_limits()

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
            await self._end_if_twin()
            for tp in revoked:
                setting_up = self._setting_up.pop(tp, None)
                if setting_up is not None:
                    setting_up.cancel()  # it stops the producer it started
                part = self._partitions.pop(tp, None)
                if part is not None:
                    self._parked[tp] = part
            self.metrics.rebalances_total.inc()
            self.metrics.partitions_setting_up.set(len(self._setting_up))
            log.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    async def assign(self, assigned: list[Any]) -> None:
        """Keep the partitions that came back; pause the others and set them up beside the loop.
        Nothing here waits for the brokers, so a rebalance never holds the loop."""
        async with self._lock:
            keep = {tp: self._parked.pop(tp) for tp in assigned if tp in self._parked}
            moved = list(self._parked.values())  # now owned by another instance
            self._parked.clear()
            for part in moved:
                self.metrics.forget_partition(part.tp.partition)
            producers = [p.producer for p in moved if p.producer is not None]
            if producers:
                self._chore(asyncio.gather(*(p.stop() for p in producers)))
            self._partitions.update(keep)
            fresh = [tp for tp in assigned if tp not in keep and tp not in self._setting_up]
            if fresh:
                self._consumer.pause(*fresh)
                for tp in fresh:
                    self._setting_up[tp] = asyncio.create_task(self._set_up(tp))
            self.metrics.partitions_setting_up.set(len(self._setting_up))
            self._note_member_id()
            log.info(
                "partitions assigned",
                partitions=sorted(tp.partition for tp in assigned),
                restored=sorted(tp.partition for tp in fresh),
            )

    def _chore(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _set_up(self, tp: Any) -> None:
        """Make an assigned partition ready: producer and committed checkpoint (retried with
        backoff, `_SETUP_CONCURRENCY` at a time), then seek and resume it. Cancelled by a
        revocation or the shutdown; failing past the retries ends the service."""
        started = time.monotonic()
        producer: Any = None
        try:
            for attempt in range(1, _SETUP_ATTEMPTS + 1):
                try:
                    async with self._setup_slots:
                        if self.exactly_once and producer is None:
                            producer = await asyncio.wait_for(
                                self._transactional_producer(tp), _SETUP_ATTEMPT_TIMEOUT_S
                            )
                        checkpoint, offset = await asyncio.wait_for(
                            self._committed(tp), _SETUP_ATTEMPT_TIMEOUT_S
                        )
                    break
                except (KafkaError, TimeoutError, OSError) as exc:
                    self.metrics.partition_setup_failures_total.inc()
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
            async with self._lock:
                if self._setting_up.get(tp) is not asyncio.current_task():
                    return  # revoked meanwhile (the finally stops the producer)
                del self._setting_up[tp]
                self.metrics.partitions_setting_up.set(len(self._setting_up))
                self._start_partition(tp, producer, checkpoint, offset, started)
                producer = None  # the partition owns it now
            log.debug(
                "partition set up", partition=tp.partition, seconds=time.monotonic() - started
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(exc)
        finally:
            if producer is not None:
                with contextlib.suppress(Exception):
                    await producer.stop()

    async def _transactional_producer(self, tp: Any) -> Any:
        """The partition's transactional producer, started. Starting it (InitProducerId) fences
        the previous owner's producer and completes or aborts its transaction, so the offset
        fetched next is stable."""
        producer = AIOKafkaProducer(
            **self._producer_kafka,
            transactional_id=f"{self.settings.group_id}.{tp.topic}.{tp.partition}",
            enable_idempotence=True,
            transaction_timeout_ms=self.settings.transaction_timeout_ms,
            # The coordinator answers CONCURRENT_TRANSACTIONS while the previous transaction's
            # markers are written; aiokafka then waits retry_backoff_ms (100 by default) before
            # adding the offsets again: most of a small batch's latency (docs/performance.md).
            # 20 ms by default keeps the retries cheap.
            retry_backoff_ms=self.settings.transaction_retry_backoff_ms,
            linger_ms=5,
            max_request_size=self._max_request,
        )
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        return producer

    async def _committed(self, tp: Any) -> tuple[Checkpoint | None, int]:
        """The partition's committed checkpoint (None when the group never committed one) and
        the offset to start reading at: the checkpoint's, else the partition's first. (Asked
        here rather than with `seek_to_beginning`, which waits for the consumer's next fetch
        round, up to its fetch_max_wait_ms of 500, per partition: the 160-partition stall of
        issue 12.)"""
        committed: dict[Any, Any] = await self._admin.list_consumer_group_offsets(
            self.settings.group_id, partitions=[tp]
        )
        entry = committed.get(tp)
        if entry is not None and entry.offset >= 0:
            checkpoint = Checkpoint.from_committed(entry.offset, entry.metadata or "")
            return checkpoint, checkpoint.offset
        first: dict[Any, int] = await self._consumer.beginning_offsets([tp])
        return None, first[tp]

    def _start_partition(
        self, tp: Any, producer: Any, checkpoint: Checkpoint | None, offset: int, started: float
    ) -> None:
        """Seek, make the partition's task and resume it; nothing here waits (the loop's lock)."""
        self._consumer.seek(tp, offset)
        task = PartitionTask(
            tp.topic,
            tp.partition,
            checkpoint=checkpoint,
            limits=self._limits,
            requests=self._requests,
            key_secret=self._key_secret,
        )
        part = _Partition(tp, task, producer, checkpoint, started)
        part.restored = not task.restoring
        if part.restored:
            self.metrics.restore_seconds.observe(time.monotonic() - started)
        self._partitions[tp] = part
        self._consumer.resume(tp)

    def _note_member_id(self) -> None:
        coordinator = getattr(self._consumer, "_coordinator", None)  # aiokafka has no public id
        member = getattr(coordinator, "member_id", None)
        if isinstance(member, str) and member:
            self._member_id = member

    async def _end_if_twin(self) -> None:
        """A static member that lost its membership while another live member holds its
        `group_instance_id` (the broker hands the id to the newest joiner and answers the old
        one UNKNOWN_MEMBER_ID) ends here with exit 4, before it rejoins and takes the id back:
        otherwise the two would replace each other at every heartbeat. A membership lost to a
        session timeout (no other member holds the id) rejoins as before."""
        instance = self.settings.group_instance_id
        coordinator: Any = getattr(self._consumer, "_coordinator", None)
        lost = coordinator is not None and coordinator.member_id == ""  # UNKNOWN_MEMBER_ID
        if instance is None or self._member_id is None or not lost:
            return  # not static, never joined, or still a member (an ordinary rebalance)
        try:
            described = await asyncio.wait_for(
                self._admin.describe_consumer_groups([self.settings.group_id]), _TWIN_CHECK_S
            )
        except (KafkaError, TimeoutError) as exc:
            log.warning("static membership lost; group not described", error=repr(exc))
            return
        members = [
            m["member_id"]
            for response in described
            for group in response.to_object()["groups"]
            for m in group["members"]
        ]
        # The broker names a static member "<group_instance_id>-<uuid>".
        twins = [m for m in members if m.startswith(instance + "-") and m != self._member_id]
        if not twins:
            return
        self._fail(
            StartupError(
                f"another live instance uses group_instance_id {instance!r} "
                f"({env_name('group_instance_id')}) and took this instance's place in group "
                f"{self.settings.group_id!r}; give every instance its own id",
                EXIT_FENCED,
            )
        )
        # The listener runs inside aiokafka's coordination task: ending that task here is the
        # only way to keep it from rejoining (and fencing the other instance) before the stop.
        raise asyncio.CancelledError

    def listener_failed(self, event: str, exc: Exception) -> None:
        """An exception in the rebalance listener: counted, then the service ends with it."""
        self.metrics.partition_setup_failures_total.inc()
        self._fail(StartupError(f"handling partitions {event} failed: {exc!r}"))

    def _fail(self, exc: BaseException) -> None:
        """End the service for `exc`: one critical line with the reason, the exit status."""
        code, line = admin.explain(self.settings, exc)
        if not self._failed:
            self._failed = True
            log.critical("service failed", error=line, exit_code=code)
            self.exit_code = self.exit_code or code
        self.request_stop()

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
