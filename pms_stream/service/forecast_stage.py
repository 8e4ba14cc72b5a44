"""The ACH cash forecast as a stream: a second consume-aggregate-produce stage that reads the
statements topic and keeps the compacted forecasts topic (key `payer|due date`) current,
exactly once, consistent after crashes and rebalances (docs/exactly-once.md, "The forecast").

One payer's statements arrive on any partition of the statements topic, so the aggregation is a
single task over all of them (a book of a few thousand payers fits any instance): it runs in the
instance that owns partition 0 of the input topic, and moves with that partition. Its
transactional producer has one id for the whole group (`<group id>.forecast`), so whichever
instance runs the task fences the previous one, whose transaction in flight is aborted. Each
transaction holds the forecasts a batch of statements changed and the statements-topic offsets
of that batch (committed for the group `<group id>.forecast`): outputs and progress together.

Restore, on taking the task: the previous forecasts from the forecasts topic (read_committed,
to its end), then the statements topic from the beginning up to the committed offsets into the
book without publishing (the compacted topic keeps the latest version of each statement key,
which is all the book needs: a final beats its preliminary whatever the order). Statements past
the committed offsets are then applied and published as usual. Whatever was committed before a
crash is exactly what is restored, so no forecast is published twice or lost.

The gauge `pms_forecast_amount_due{due_date}` (the 24 latest due dates, summed over payers) feeds
the dashboard's "amount due by due date" panel; it is cleared when the task moves away.

Flow: statements topic -> **forecast stage** (book) -> forecasts topic -> view -> /forecast.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from pms_stream.forecast.aggregate import ForecastBook
from pms_stream.forecast.event import ForecastEvent
from pms_stream.service.config import Settings
from pms_stream.service.logs import get_logger
from pms_stream.service.metrics import Metrics
from pms_stream.statements.model import Statement

__all__ = ["ForecastStage"]

log = get_logger("pms_stream.forecast")
GAUGE_DATES: Final = 24
HEADER: Final = ("pms-type", b"forecast")
_STATEMENT = msgspec.json.Decoder(Statement)
_FORECAST = msgspec.json.Decoder(ForecastEvent)
_ENCODER = msgspec.json.Encoder()


class ForecastStage:
    def __init__(
        self,
        settings: Settings,
        kafka: dict[str, Any],
        metrics: Metrics,
        leader: Callable[[], bool],
    ) -> None:
        self.settings = settings
        self._kafka = kafka
        self._metrics = metrics
        self._leader = leader
        self.group = f"{settings.group_id}.forecast"
        self.book = ForecastBook()
        self.published = 0
        self.leading = False
        self._gauge_dates: set[str] = set()
        self._pending: list[Any] = []

    async def run(self) -> None:
        """Run the task whenever this instance leads, until cancelled."""
        while True:
            if self._leader():
                try:
                    await self._lead()
                except KafkaError as exc:  # fenced by a new leader, or the broker: start over
                    log.warning("forecast task stopped", error=repr(exc))
                finally:
                    self.leading = False
                    self._clear_gauge()
            await asyncio.sleep(1.0)

    async def create_topic(self) -> None:
        """The compacted forecasts topic, when topics are created at start."""
        if not self.settings.create_topics:
            return
        admin = AIOKafkaAdminClient(**self._kafka)
        await admin.start()
        try:
            topic = NewTopic(
                self.settings.forecasts_topic,
                self.settings.topic_partitions,
                self.settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            )
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
        finally:
            await admin.close()

    async def _lead(self) -> None:
        producer = AIOKafkaProducer(
            **self._kafka,
            transactional_id=f"{self.settings.group_id}.forecast",
            enable_idempotence=True,
            acks="all",
        )
        consumer = _reader(self._kafka, self.settings.statements_topic)
        await producer.start()  # init_transactions: the previous leader is fenced from here on
        try:
            await consumer.start()
            try:
                book = await self._restore(consumer)
                self.book = book
                self.leading = True
                log.info("forecast task restored", statements=len(book), keys=len(book.forecasts()))
                await self._process(producer, consumer, book)
            finally:
                await consumer.stop()
        finally:
            await producer.stop()

    async def _committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(**self._kafka)
        await admin.start()
        try:
            found = await admin.list_consumer_group_offsets(self.group, partitions=tps)
        finally:
            await admin.close()
        return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}

    async def _restore(self, consumer: Any) -> ForecastBook:
        book = ForecastBook()
        reader = _reader(self._kafka, self.settings.forecasts_topic)
        await reader.start()
        try:
            for m in await _read_to_end(reader):
                if m.value is not None:
                    with contextlib.suppress(msgspec.DecodeError):
                        book.restore(_FORECAST.decode(m.value))
        finally:
            await reader.stop()
        tps = list(consumer.assignment())
        committed = await self._committed(tps)
        await consumer.seek_to_beginning(*tps)
        self._pending = []
        for m in await _read_to_end(consumer, committed):
            tp = TopicPartition(m.topic, m.partition)
            if m.offset < committed.get(tp, 0):
                statement = _decode(m.value)
                if statement is not None:
                    book.load(statement)
            else:
                self._pending.append(m)  # past the committed offsets: applied and published
        return book

    async def _process(self, producer: Any, consumer: Any, book: ForecastBook) -> None:
        pending, self._pending = self._pending, []
        while self._leader():
            if pending:
                messages, pending = pending, []
            else:
                batch = await consumer.getmany(timeout_ms=500, max_records=1000)
                messages = [m for ms in batch.values() for m in ms]
            if not messages:
                continue
            events: list[ForecastEvent] = []
            offsets: dict[TopicPartition, int] = {}
            for m in messages:
                statement = _decode(m.value)
                if statement is not None:
                    events += book.apply(statement)
                offsets[TopicPartition(m.topic, m.partition)] = m.offset + 1
            await producer.begin_transaction()
            try:
                for event in events:
                    await producer.send(
                        self.settings.forecasts_topic,
                        _ENCODER.encode(event),
                        key=event.key.encode(),
                        headers=[HEADER],
                    )
                await producer.send_offsets_to_transaction(offsets, self.group)
                await producer.commit_transaction()
            except BaseException:
                with contextlib.suppress(KafkaError):
                    await producer.abort_transaction()
                raise
            self.published += len(events)
            self._set_gauge(book)

    def _set_gauge(self, book: ForecastBook) -> None:
        by_date = book.amount_due_by_date()
        latest = sorted(by_date)[-GAUGE_DATES:]
        shown = {d.isoformat() for d in latest}
        for gone in self._gauge_dates - shown:
            with contextlib.suppress(KeyError):
                self._metrics.forecast_amount_due.remove(gone)
        for day in latest:
            self._metrics.forecast_amount_due.labels(day.isoformat()).set(float(by_date[day]))
        self._gauge_dates = shown

    def _clear_gauge(self) -> None:
        for gone in self._gauge_dates:
            with contextlib.suppress(KeyError):
                self._metrics.forecast_amount_due.remove(gone)
        self._gauge_dates = set()


def _reader(kafka: dict[str, Any], topic: str) -> AIOKafkaConsumer:
    """A read_committed consumer of every partition of `topic`, no group."""
    return AIOKafkaConsumer(
        topic,
        **kafka,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,  # statements of up to 10 MiB and more
    )


def _decode(value: bytes | None) -> Statement | None:
    if value is None:
        return None
    try:
        return _STATEMENT.decode(value)
    except msgspec.DecodeError:
        return None


async def _read_to_end(consumer: Any, until: dict[TopicPartition, int] | None = None) -> list[Any]:
    """Everything below the end offsets as of now (or below `until` where that is further
    along nothing: the end offsets bound it), read_committed."""
    tps = list(consumer.assignment())
    end = await consumer.end_offsets(tps)
    if until is not None:
        end = {tp: min(end[tp], until.get(tp, 0)) for tp in tps}
    out: list[Any] = []
    idle = 0
    while idle < 10:
        behind = [tp for tp in tps if await consumer.position(tp) < end[tp]]
        if not behind:
            break
        batch = await consumer.getmany(*behind, timeout_ms=200, max_records=5000)
        idle = 0 if batch else idle + 1
        out += [m for ms in batch.values() for m in ms]
    return out
