"""The Kafka service loop: consume, process, publish and commit; and the rebalances.

One `Service` per process. It joins the consumer group on the input topic (and the optional
requests topic) and keeps, for every assigned partition, a `PartitionTask` (the pure core) and,
under `exactly_once`, the partition's transactional producer. Each `getmany` batch is processed
per partition, and each partition's outputs and checkpoint are staged with its `commits`
(`Committer`): published in the background (one transaction per partition and commit interval
exactly once; send, then commit, at least once), one publication in flight per partition, while
the loop fetches and processes the next batches. A failed publication ends the service.

Start-up (`admin`, `topic_limits`): the brokers must answer within `connect_timeout_s`, the
settings are checked against the broker (exit 2), missing topics are created; SIGTERM/SIGINT end
every stage of it at once.

Rebalances: `revoke` waits for the batch in flight (the processing lock), publishes what is
staged (after the publication in flight) and parks the tasks;
`assign` keeps the parked tasks of partitions that came back, pauses the others and sets them up
beside the loop (`partitions.prepare`: producer, then the committed checkpoint); a set-up done
seeks and resumes its partition, which then replays. `/readyz` is 503 until every assigned
partition is set up and restored. An exception in a set-up or in the rebalance listener (which
aiokafka would swallow) ends the service with the reason; so does a static member whose
`group_instance_id` another live instance uses (`membership`). A watchdog ends the process when
the loop stalls. SIGTERM/SIGINT finish the batch in flight, commit everything staged (in half of
`shutdown_timeout_s`) and leave the group; a stop, whatever asked for it, ends the process
within `shutdown_timeout_s` and a margin (`stopping`).

Flow: **consumer -> partition tasks -> committers -> publisher (transactions)**, with metrics
and HTTP beside.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from pms_stream.reroute.store import StatementStore
from pms_stream.service import admin, membership, partitions
from pms_stream.service.admin import StartupError
from pms_stream.service.back_office import BackOffice
from pms_stream.service.client_options import INPUT_CONSUMER_DEFAULTS
from pms_stream.service.commits import Committer
from pms_stream.service.config import Settings, kafka_client_options
from pms_stream.service.http import HttpServer
from pms_stream.service.logs import get_logger
from pms_stream.service.metrics import Metrics
from pms_stream.service.partitions import Partition, Prepared, chunks, committed, prepare
from pms_stream.service.publisher import SEND_TIMEOUT_S, OutputTopicMissing, Publisher, Staged
from pms_stream.service.stopping import Laps, Stop, drain_within
from pms_stream.service.store_feed import OwnStatements, StoreFeed
from pms_stream.service.undecodable import find_from, maybe_undecodable
from pms_stream.service.watchdog import EXIT_STALLED, Watchdog
from pms_stream.stream.outputs import Output, Sink
from pms_stream.stream.partition_task import Checkpoint, InputMessage, Limits, PartitionTask
from pms_stream.stream.reroute_handler import RerouteHandler

__all__ = ["OutputTopicMissing", "Service"]

_SETUP_CONCURRENCY = 8  # partition set-ups at once (each starts a transactional producer)
# A member learns of a rebalance (a new instance joining) at its next heartbeat; the group waits
# for it: 1 s instead of a third of the session (3.3 s) hands partitions to a new instance sooner.
_HEARTBEAT_MS = 1000
log = get_logger("pms_stream.service")


class Service:
    """The long-running consume-transform-produce service. `await run()` until stopped."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.exactly_once = settings.guarantee == "exactly_once"
        self._kafka = kafka_client_options(settings)  # + the further [kafka.*] options by role:
        self._consumer_kafka = kafka_client_options(settings, "consumer")
        topics = {
            Sink.STATEMENTS: settings.statements_topic,
            Sink.REROUTE_ACKS: settings.reroute_acks_topic,
            Sink.REJECTS: settings.rejects_topic,
            Sink.METRICS: settings.metrics_topic,
        }
        self._inputs = [settings.input_topic]
        if settings.requests_topic and settings.requests_topic != settings.input_topic:
            self._inputs.append(settings.requests_topic)
        self.publisher = Publisher(settings, self.metrics, topics, admin.topic_specs(settings))
        self._limits = Limits(
            idle_timeout_s=settings.idle_timeout_s,
            max_message_bytes=settings.max_message_bytes,
            max_open_keys=settings.max_open_keys,
            max_records_per_statement=settings.max_records_per_statement,
        )
        self._fetch_bytes = max(settings.max_message_bytes + 65536, 1_048_576)
        secret = settings.statement_key_secret
        self._key_secret = secret.reveal().encode() if secret is not None else None
        self._partitions: dict[TopicPartition, Partition] = {}
        self._parked: dict[TopicPartition, Partition] = {}
        # assigned, paused, being set up
        self._setting_up: dict[TopicPartition, asyncio.Task[None]] = {}
        self._setup_slots = asyncio.Semaphore(_SETUP_CONCURRENCY)
        self._chores: set[asyncio.Task[Any]] = set()  # producers of moved partitions stopping
        self._member_id: str | None = None  # the last one the group gave this instance
        self._failed = False
        self._lock = asyncio.Lock()
        # asked for: the process ends within shutdown_timeout_s and a margin, whatever it waits
        # on (the drain gets half of the time, closing Kafka the rest; `stopping`)
        self._stop = Stop.bounded(settings.shutdown_timeout_s, lambda: self.exit_code)
        self._consumer: AIOKafkaConsumer = None  # started by _start_kafka
        self._admin: AIOKafkaAdminClient = None  # started by _start_kafka
        self._http: HttpServer | None = None
        self._watchdog = Watchdog(settings.stall_timeout_s, on_stall=self._on_stall)
        self._consuming = False
        self.exit_code = 0
        fixed = settings.reroute_today
        today = (lambda: date.fromisoformat(fixed)) if fixed else date.today
        self.store = StatementStore(today=today)
        self._requests = RerouteHandler(self.store, today=today)
        self._feed: StoreFeed | None = None
        self._feed_task: asyncio.Task[None] | None = None
        # this process's statements go into the stores as they commit, not through the feeds
        self.own = OwnStatements([self.store])
        self.publisher.own = self.own
        self.back_office = BackOffice(settings, today, self.metrics, self.own)  # issue 17

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
        self._stop.ask()

    # ---- lifecycle ----------------------------------------------------------------------------

    async def run(self, *, bound_exit: bool = False) -> int:
        """Run until stopped (SIGTERM/SIGINT or `request_stop`); returns the exit code. With
        `bound_exit` (the CLI's process) the stop's deadline stays armed after the return, so
        that asyncio.run's end (leftover tasks cancelled) is bounded too."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.ask, sig.name)
        background: list[asyncio.Task[None]] = []
        try:
            await self._start_http()
            log.info("starting", settings=self.settings.redacted(), http_port=self.http_port)
            background.append(asyncio.create_task(self._watchdog.watch()))
            background.append(asyncio.create_task(self._snapshots()))
            if await admin.unless_stopped(self._start_kafka(), self._stop.event):
                await self._loop()
        except Exception as exc:
            self._fail(exc)
        finally:
            for task in background:
                task.cancel()
            await self._shutdown()
            if not bound_exit:
                self._stop.deadline.disarm()
        return self.exit_code

    @property
    def http_port(self) -> int | None:
        return self._http.port if self._http is not None else None

    async def _start_http(self) -> None:
        s = self.settings
        http = HttpServer(
            s.http_host,
            s.http_port,
            self.metrics,
            self.healthy,
            self.ready,
            app=self.back_office.app,
        )
        try:
            await http.start()
        except OSError as exc:
            raise admin.http_bind_failure(s, exc) from None
        self._http = http

    async def _bounded(self, step: Awaitable[Any], what: str) -> Any:
        return await admin.bounded(self.settings, step, what)

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
        specs = admin.topic_specs(s)
        await self._bounded(admin.check_against_broker(s, self._admin, specs), "configuration")
        publisher = self.publisher
        publisher.use_admin(self._admin)
        if s.create_topics:
            await self._bounded(publisher.create_topics(), "topic creation")
        await self._bounded(publisher.read_limits(at_start=True), "topic limits")
        await self._bounded(publisher.start(), "producer start")
        # The reroute store is loaded before any input is read: no request meets a half store.
        self._feed = StoreFeed(
            self._consumer_kafka, self.settings.statements_topic, self.store, self.own.instance
        )
        await self._feed.start()
        self._feed_task = asyncio.create_task(self._feed.run())
        await self.back_office.start(self._kafka, self._partitions.keys)
        self._consumer = AIOKafkaConsumer(
            **{**INPUT_CONSUMER_DEFAULTS, **self._consumer_kafka},
            group_id=self.settings.group_id,
            group_instance_id=self.settings.group_instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=min(self.settings.session_timeout_ms // 3, _HEARTBEAT_MS),
            max_partition_fetch_bytes=self._fetch_bytes,
        )
        await self._bounded(self._consumer.start(), "consumer start")
        self._consumer.subscribe(self._inputs, listener=membership.Listener(self))

    async def _shutdown(self) -> None:
        self._stop.ask()  # unless asked already: the loop ended by itself (it failed)
        try:
            await asyncio.wait_for(self._close_kafka(), timeout=self._stop.left())
        except TimeoutError:
            log.error("shutdown took longer than allowed", seconds=self.settings.shutdown_timeout_s)
            self.exit_code = self.exit_code or 1
        if self._http is not None:
            await self._http.stop()
        log.info("stopped", exit_code=self.exit_code)

    async def _close_kafka(self) -> None:
        laps = Laps()  # a slow stop says where it waited
        try:
            await self.back_office.stop()
            laps.lap("back_office")
            setting_up = list(self._setting_up.values())
            for task in setting_up:
                task.cancel()  # each stops the producer it started
            await asyncio.gather(*setting_up, *self._chores, return_exceptions=True)
            self._setting_up.clear()
            laps.lap("partition_set_up")
            if self._feed_task is not None:
                self._feed_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._feed_task
            if self._feed is not None:
                await self._feed.stop()
            laps.lap("store_feed")
            parts = [*self._partitions.values(), *self._parked.values()]
            # only after a failure is a publication still in flight: it is cancelled (replays)
            await asyncio.gather(*(part.commits.close() for part in parts))
            laps.lap("publications")
            if self._consumer is not None:
                await self._consumer.stop()  # leaves the group
            laps.lap("consumer")
            await asyncio.gather(*(p.producer.stop() for p in parts if p.producer is not None))
            self._partitions.clear()
            self._parked.clear()
            laps.lap("partition_producers")
            await self.publisher.stop()
            if self._admin is not None:
                await self._admin.close()
            laps.lap("publisher_admin")
        finally:
            log.info("kafka closed", seconds=laps.seconds)

    # ---- the loop -----------------------------------------------------------------------------

    async def _loop(self) -> None:
        s = self.settings
        self._consuming = True
        while not self._stop.event.is_set():
            now = time.monotonic()
            for committing in self._partitions.values():
                committing.commits.check()  # a failed publication ends the service
                now = min(now, committing.commits.started or now)
            self._watchdog.beat(now)  # a publication in flight too long is a stall, as inline
            self.metrics.loop_iterations_total.inc()
            self.metrics.last_loop_timestamp_seconds.set(time.time())
            try:
                batch = await self._consumer.getmany(
                    timeout_ms=s.batch_timeout_ms, max_records=s.batch_max_messages
                )
            except Exception as exc:
                if not maybe_undecodable(exc):
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
        # a graceful stop publishes and commits what was processed, in half the stop's time
        if not await drain_within(self._stop.left(0.5), self._lock, self._partitions.values()):
            self.exit_code = self.exit_code or 1

    async def _process(self, part: Partition, messages: list[Any]) -> None:
        s = self.settings
        for chunk, records in chunks(messages, s.batch_max_records, s.batch_max_bytes):
            await self._process_batch(part, chunk, records)

    async def _process_batch(self, part: Partition, messages: list[Any], records: int) -> None:
        started = time.monotonic()
        self.metrics.messages_total.inc(len(messages))
        outputs: list[Output] = []
        process = part.task.process
        for m in messages:
            outputs += process(InputMessage(m.offset, m.key, m.value, m.timestamp))
        outputs += part.task.expire()
        self.metrics.assembly_latency_seconds.observe(time.monotonic() - started)
        self.metrics.count_records(part.task.take_stats())
        newest = max((m.timestamp for m in messages if m.timestamp is not None), default=None)
        await self._publish(part, outputs, newest, records)

    async def _undecodable(self, error: Exception) -> None:
        """aiokafka failed to decode a fetched batch (and dropped what it had decoded of that
        fetch): put every partition back where its task is, find the undecodable batch
        (`undecodable.locate`), process the messages before it, dead-letter it with its
        offsets, and move its partition past it. Re-raises `error` when no batch is at fault."""
        found = False
        for part in list(self._partitions.values()):
            self._watchdog.beat()  # one bounded fetch per partition: the loop is alive
            tp = part.tp
            try:
                bad, before = await find_from(
                    self._consumer, tp, part.task.next_offset, self._fetch_bytes, SEND_TIMEOUT_S
                )
            except (KafkaError, TimeoutError) as exc:
                log.warning("could not fetch to look for an undecodable batch", error=repr(exc))
                continue
            if bad is None:
                continue
            found = True
            if before:
                await self._process(part, before)
            log.error(
                "undecodable record batch dead-lettered",
                partition=tp.partition,
                first_offset=bad.first_offset,
                last_offset=bad.last_offset,
                reason=bad.reason,
            )
            outputs = part.task.skip(bad.first_offset, bad.last_offset, bad.reason, bad.raw)
            await self._publish(part, outputs, None)
            await part.commits.drain()
            self._consumer.seek(tp, bad.last_offset + 1)
        if not found:
            raise error

    async def _expire(self, part: Partition) -> None:
        outputs = part.task.expire()
        if outputs:
            self.metrics.count_records(part.task.take_stats())
            await self._publish(part, outputs, None)

    async def _publish(
        self, part: Partition, outputs: list[Output], newest_ms: int | None, records: int = 0
    ) -> None:
        """Stage a processed batch's outputs and checkpoint; they are published in the
        background with the partition's other staged batches once the oldest is
        `commit_interval_ms` old or they hold `transaction_max_records` input records
        (`Committer.stage`)."""
        if not part.restored and not part.task.restoring:
            part.restored = True
            self.metrics.restore_seconds.observe(time.monotonic() - part.restore_started)
            log.info(
                "partition restored",
                partition=part.tp.partition,
                seconds=round(time.monotonic() - part.restore_started, 3),
            )
        await part.commits.stage(outputs, part.task.checkpoint(), records, newest_ms)

    def _update_gauges(self) -> None:
        self.metrics.statement_store_statements.set(len(self.store))
        self.metrics.statement_store_bytes.set(self.store.value_bytes)
        partitions.partition_gauges(self.metrics, self._partitions.values(), self._consumer)

    # ---- rebalances ---------------------------------------------------------------------------

    async def revoke(self, revoked: list[TopicPartition]) -> None:
        asked = time.monotonic()
        async with self._lock:  # the batch in flight is processed, then all is committed
            await self._end_if_twin()
            for tp in revoked:
                setting_up = self._setting_up.pop(tp, None)
                if setting_up is not None:
                    setting_up.cancel()  # it stops the producer it started
                part = self._partitions.pop(tp, None)
                if part is not None and await self._flushed_on_revoke(part):
                    self._parked[tp] = part
            self.metrics.rebalances_total.inc()
            self.metrics.partitions_setting_up.set(len(self._setting_up))
            log.info(
                "partitions revoked",
                partitions=sorted(tp.partition for tp in revoked),
                seconds=round(time.monotonic() - asked, 3),  # the batch in flight, the commits
            )

    async def _flushed_on_revoke(self, part: Partition) -> bool:
        """Publish what a revoked partition has staged, after its publication in flight. When
        either fails its task is dropped, not parked: it is ahead of the committed checkpoint, so
        if the partition comes back it is set up again from that checkpoint (and replays), and
        nothing staged is lost."""
        try:
            await part.commits.drain()
        except Exception as exc:
            log.warning(
                "staged outputs of a revoked partition not published; it will replay",
                partition=part.tp.partition,
                error=repr(exc),
            )
            self.metrics.forget_partition(part.tp.partition)
            await part.commits.close()
            if part.producer is not None:
                self._chore(part.producer.stop())
            return False
        return True

    async def assign(self, assigned: list[TopicPartition]) -> None:
        """Keep the partitions that came back; pause the others and set them up beside the loop.
        Nothing here waits for the brokers, so a rebalance never holds the loop."""
        async with self._lock:
            keep = {tp: self._parked.pop(tp) for tp in assigned if tp in self._parked}
            moved = list(self._parked.values())  # now owned by another instance
            self._parked.clear()
            for part in moved:
                self.metrics.forget_partition(part.tp.partition)
                await part.commits.close()  # drained at the revocation: nothing in flight
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

    async def _set_up(self, tp: TopicPartition) -> None:
        """Make an assigned partition ready (`partitions.prepare`: producer and committed
        checkpoint), then seek and resume it. Cancelled by a revocation or the shutdown; failing
        past the retries ends the service."""
        started = time.monotonic()
        producer = None
        try:
            prepared = await prepare(
                tp,
                publisher=self.publisher,
                read_committed=self._committed,
                metrics=self.metrics,
                slots=self._setup_slots,
            )
            producer = prepared.producer
            async with self._lock:
                if self._setting_up.get(tp) is not asyncio.current_task():
                    return  # revoked meanwhile (the finally stops the producer)
                del self._setting_up[tp]
                self.metrics.partitions_setting_up.set(len(self._setting_up))
                self._start_partition(tp, prepared, started)
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

    async def _committed(self, tp: TopicPartition) -> tuple[Checkpoint | None, int]:
        return await committed(self._admin, self._consumer, self.settings.group_id, tp)

    def _start_partition(self, tp: TopicPartition, prepared: Prepared, started: float) -> None:
        """Seek, make the partition's task and resume it; nothing here waits (the loop's lock)."""
        self._consumer.seek(tp, prepared.offset)
        task = PartitionTask(
            tp.topic,
            tp.partition,
            checkpoint=prepared.checkpoint,
            limits=self._limits,
            requests=self._requests,
            key_secret=self._key_secret,
        )
        producer = prepared.producer

        async def flush(staged: Staged) -> None:
            await self.publisher.flush(tp, producer, self._consumer, staged)

        s = self.settings
        commits = Committer(
            Staged(prepared.checkpoint),
            flush,
            interval_ms=s.commit_interval_ms,
            max_records=s.transaction_max_records,
        )
        part = Partition(tp, task, producer, commits, started)
        part.restored = not task.restoring
        if part.restored:
            self.metrics.restore_seconds.observe(time.monotonic() - started)
        self._partitions[tp] = part
        self._consumer.resume(tp)

    def _note_member_id(self) -> None:
        self._member_id = membership.member_id(self._consumer) or self._member_id

    async def _end_if_twin(self) -> None:
        """A static member whose `group_instance_id` another live member took ends here with
        exit 4, before it rejoins and takes the id back (`membership.twin_error`)."""
        error = await membership.twin_error(
            self.settings, self._admin, self._consumer, self._member_id
        )
        if error is not None:
            self._fail(error)
            # The listener runs inside aiokafka's coordination task: ending that task here is
            # the only way to keep it from rejoining (and fencing the other instance).
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
            snapshot = self.metrics.snapshot()
            snapshot["time"] = datetime.now(UTC).isoformat()
            await self.publisher.send_snapshot(msgspec.json.encode(snapshot))
