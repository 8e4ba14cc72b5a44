"""The missing-statement watchdog stage: publishes one `statement_missing` event per payer and
payment month on the metrics topic, however many instances run and however often they restart.

How "exactly one" holds (docs/back-office.md): the events are written in transactions of one
transactional producer whose id is the same in every instance (`<group id>.statement-missing`).
Before a transaction writes anything, the stage reads the metrics topic (read_committed) up to
its end and collects the keys of the `statement_missing` events already there: any instance's,
from before any restart. It then writes only the events whose keys are not among them, and
commits. Two instances cannot both commit the same event: each one's `init_transactions` fences
the other (and aborts its open transaction), so when both try, one commit fails, and that
instance re-initialises and reads the other's committed events before trying again.

Its own statements feed (a reader of the statements topic, like the reroute store's) fills the
payer index, with the statements this instance publishes put in as they commit
(`store_feed.OwnStatements`; the feed skips them); the watchdog looks every
`missing_watch_interval_s` once the feed has caught up, on the wall clock of
`missing_watch_timezone` (or the fixed `missing_watch_now`). The gauge `pms_statements_missing`
is the number of payers missing their statement this payment month.

Runner hooks through `BackOffice`. Flow: statements topic -> index -> **missing watch** ->
metrics topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerFenced

from pms_stream.missing.detect import PayerIndex
from pms_stream.missing.event import StatementMissingEvent
from pms_stream.service.config import Settings
from pms_stream.service.logs import get_logger
from pms_stream.service.store_feed import OwnStatements, StoreFeed

__all__ = ["MissingWatch"]

log = get_logger("pms_stream.missing")
HEADER = ("pms-type", b"statement_missing")
_ENCODER = msgspec.json.Encoder()


def clock(settings: Settings) -> Callable[[], datetime]:
    """The local wall clock of CBP's working day, or the fixed test clock (naive local time)."""
    zone = zoneinfo.ZoneInfo(settings.missing_watch_timezone)
    fixed = settings.missing_watch_now
    if fixed is not None:
        at = datetime.fromisoformat(fixed).replace(tzinfo=None)
        return lambda: at
    return lambda: datetime.now(zone).replace(tzinfo=None)


class MissingWatch:
    def __init__(
        self,
        settings: Settings,
        kafka: dict[str, Any],
        set_gauge: Callable[[int], None],
        own: OwnStatements | None = None,
    ) -> None:
        self.settings = settings
        self._kafka = kafka
        self._now = clock(settings)
        self._set_gauge = set_gauge
        self.index = PayerIndex(self._now())
        instance = None
        if own is not None:
            own.stores.append(self.index)
            instance = own.instance
        self._feed = StoreFeed(kafka, settings.statements_topic, self.index, instance)
        self._producer: Any = None
        self._reader: Any = None
        self._emitted: set[str] = set()
        self.published = 0

    async def run(self) -> None:
        """Load, then look every interval until cancelled."""
        try:
            await self._feed.start(timeout=3600.0)
            tail = asyncio.create_task(self._feed.run())
            try:
                while True:
                    try:
                        await self.check()
                    except KafkaError as exc:
                        log.warning("statement_missing not published; retrying", error=repr(exc))
                        await self._reset()
                    await asyncio.sleep(self.settings.missing_watch_interval_s)
            finally:
                tail.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tail
        finally:
            await self._reset()
            await self._feed.stop()

    async def check(self) -> list[StatementMissingEvent]:
        """Publish the missing statements not published yet; returns those published now."""
        found = self.index.missing(self._now())
        self._set_gauge(len(found))
        if not [e for e in found if e.key not in self._emitted]:
            return []
        await self._connect()
        await self._producer.begin_transaction()
        try:
            await self._read_emitted()
            new = [e for e in found if e.key not in self._emitted]
            for event in new:
                await self._producer.send(
                    self.settings.metrics_topic,
                    _ENCODER.encode(event),
                    key=event.key.encode(),
                    headers=[HEADER],
                )
            await self._producer.commit_transaction()
        except ProducerFenced:
            log.info("statement_missing: another instance took over; reading its events")
            await self._reset()
            raise
        except BaseException:
            with contextlib.suppress(KafkaError):
                await self._producer.abort_transaction()
            raise
        self._emitted.update(e.key for e in new)
        self.published += len(new)
        for event in new:
            log.info(
                "statement missing",
                payer_kind=event.payer_kind,
                filer=event.filer_code,
                payment_month=event.payment_month,
                expected_print_date=event.expected_print_date.isoformat(),
            )
        return new

    async def _connect(self) -> None:
        if self._producer is not None:
            return
        self._producer = AIOKafkaProducer(
            **self._kafka,
            transactional_id=f"{self.settings.group_id}.statement-missing",
            enable_idempotence=True,
            acks="all",
        )
        await self._producer.start()  # init_transactions: fences any other instance's
        self._reader = AIOKafkaConsumer(
            self.settings.metrics_topic,
            **self._kafka,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        await self._reader.start()
        tps = list(self._reader.assignment())
        # events of the previous and current payment months only: from 100 days back
        since = (datetime.now(UTC) - timedelta(days=100)).timestamp()
        found = await self._reader.offsets_for_times({tp: int(since * 1000) for tp in tps})
        end = await self._reader.end_offsets(tps)
        for tp in tps:
            at = found.get(tp)
            self._reader.seek(tp, end[tp] if at is None else at.offset)

    async def _read_emitted(self) -> None:
        """Every committed statement_missing key on the metrics topic, up to its end now."""
        tps = list(self._reader.assignment())
        end = await self._reader.end_offsets(tps)
        idle = 0
        while any([await self._reader.position(tp) < end[tp] for tp in tps]) and idle < 10:
            batch = await self._reader.getmany(timeout_ms=200, max_records=5000)
            idle = 0 if batch else idle + 1
            for messages in batch.values():
                for m in messages:
                    if m.key is not None and m.key.startswith(b"statement_missing|"):
                        self._emitted.add(m.key.decode())

    async def _reset(self) -> None:
        producer, reader = self._producer, self._reader
        self._producer = self._reader = None
        for client in (producer, reader):
            if client is not None:
                with contextlib.suppress(KafkaError):
                    await client.stop()
