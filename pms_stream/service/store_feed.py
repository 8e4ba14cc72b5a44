"""Keeps the statement stores current: from the compacted statements topic, and from what this
instance publishes.

At start a feed reads every partition of the statements topic (read_committed, no consumer
group) from the first message younger than the store's retention (`offsets_for_times`), up to
the end offsets seen at start: only then does the service start consuming input, so a request is
never answered from a half-built store. Afterwards it keeps tailing, so statements published by
other instances (and by this instance's earlier processes) become matchable.

The instance's own statements do not come back through the feed (issue 13): `OwnStatements`
stamps every statement this process publishes with a `pms-instance` header (a random id per
process) and, once the transaction that publishes them commits (the publisher's hook), puts them
into the stores from the objects in hand; the feeds skip messages bearing this process's id
before decoding anything. Every version is stored with its position in the statements topic
(partition, offset: the publisher's delivery reports, the feed's records), and the stores keep a
key's newest (`statements.position`): a lagging feed bringing another instance's older version
after this one's newer never replaces it. After a rebalance the partition's statements come
from its new owner, through the feed; a restarted process has a new id and reads its previous
life's statements like any other instance's.

Flow: statements topic -> **store feed** -> statement stores -> reroute handler, query API;
publisher -> **own statements** -> the same stores.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer

from pms_stream.service.logs import get_logger
from pms_stream.statements.model import Statement
from pms_stream.statements.position import Position
from pms_stream.stream.outputs import Output, Sink, published_statement

__all__ = ["INSTANCE_HEADER", "FedStore", "OwnStatements", "OwnStore", "StoreFeed"]

INSTANCE_HEADER = "pms-instance"
log = get_logger("pms_stream.store")


class FedStore(Protocol):
    """What a feed fills: the reroute store, the query store (pms_stream.query.store), the
    missing watch's payer index, the forecast view; `at` is the record's (partition, offset)."""

    retention: timedelta

    def put(self, key: bytes | None, value: bytes | None, at: Position | None = None) -> bool: ...

    def __len__(self) -> int: ...


class OwnStore(Protocol):
    """A statement store that also takes the statements this instance publishes."""

    def put_statement(
        self, key: bytes, value: bytes, statement: Statement, at: Position | None
    ) -> bool: ...


class OwnStatements:
    """This process's statements, into the stores once published (the publisher's hook)."""

    def __init__(self, stores: Sequence[OwnStore] = ()) -> None:
        self.instance = secrets.token_hex(8).encode()
        self._header = (INSTANCE_HEADER, self.instance)
        self.stores: list[OwnStore] = list(stores)
        self.put = 0  # statements put

    def stamp(self, outputs: list[Output]) -> list[Output]:
        """The outputs, statements with this process's `pms-instance` header."""
        header = self._header
        return [
            Output(out.sink, out.key, out.value, (*out.headers, header), out.event)
            if out.sink is Sink.STATEMENTS
            else out
            for out in outputs
        ]

    def published(self, outputs: Sequence[Output], delivered: Sequence[Any]) -> None:
        """`outputs` committed; `delivered` their delivery reports (RecordMetadata), in order."""
        stores = self.stores
        for out, report in zip(outputs, delivered, strict=True):
            if out.sink is not Sink.STATEMENTS or out.key is None:
                continue
            statement = published_statement(out)
            if statement is None:
                continue
            at = (report.partition, report.offset)
            for store in stores:
                store.put_statement(out.key, out.value, statement, at)
            self.put += 1


class StoreFeed:
    def __init__(
        self, kafka: dict[str, Any], topic: str, store: FedStore, own: bytes | None = None
    ) -> None:
        """`own`: this process's instance id; messages stamped with it are skipped."""
        self.topic = topic
        self.store = store
        self._own = None if own is None else (INSTANCE_HEADER, own)
        self._consumer = AIOKafkaConsumer(
            topic,
            **kafka,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=16 * 1024 * 1024,  # statements of up to 10 MiB and more
        )
        self.ready = False
        self.read = 0  # messages handed to the store
        self.skipped = 0  # this process's own, not decoded

    async def start(self, timeout: float = 300.0) -> None:
        """Read the statements topic up to its end as of now; raises TimeoutError past `timeout`."""
        started = time.monotonic()
        await self._consumer.start()
        tps = list(self._consumer.assignment())
        since = datetime.now(UTC).timestamp() - self.store.retention.total_seconds()
        found = await self._consumer.offsets_for_times({tp: int(since * 1000) for tp in tps})
        end = await self._consumer.end_offsets(tps)
        for tp in tps:
            at = found.get(tp)
            if at is None:
                self._consumer.seek(tp, end[tp])
            else:
                self._consumer.seek(tp, at.offset)
        await asyncio.wait_for(self._catch_up(end), timeout)
        self.ready = True
        log.info(
            "statement store loaded",
            statements=len(self.store),
            read=self.read,
            own_skipped=self.skipped,
            seconds=round(time.monotonic() - started, 3),
        )

    async def _catch_up(self, end: dict[Any, int]) -> None:
        idle = 0
        while True:
            behind = [tp for tp, last in end.items() if await self._consumer.position(tp) < last]
            if not behind:
                return
            got = await self._poll()
            idle = 0 if got else idle + 1
            if idle >= 10:  # nothing readable left below the end offsets (transaction markers)
                return

    async def _poll(self) -> int:
        batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
        count = skipped = 0
        own, put = self._own, self.store.put
        for messages in batch.values():
            for m in messages:
                if own is not None and own in m.headers:
                    skipped += 1
                    continue
                put(m.key, m.value, (m.partition, m.offset))
                count += 1
        self.read += count
        self.skipped += skipped
        return count + skipped

    async def run(self) -> None:
        """Tail the topic until cancelled."""
        while True:
            await self._poll()

    async def stop(self) -> None:
        await self._consumer.stop()
