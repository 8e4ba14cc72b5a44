"""Keeps the statement store current from the compacted statements topic.

At start it reads every partition of the statements topic (read_committed, no consumer group)
from the first message younger than the store's retention (`offsets_for_times`), up to the end
offsets seen at start: only then does the service start consuming input, so a request is never
answered from a half-built store. Afterwards it keeps tailing, so statements published by any
instance (this one included, once its transaction commits) become matchable.

Flow: statements topic -> **store feed** -> statement store -> reroute handler.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer

from pms_stream.service.logs import get_logger

__all__ = ["FedStore", "StoreFeed"]

log = get_logger("pms_stream.store")


class FedStore(Protocol):
    """What a feed fills: the reroute store, or the query store (pms_stream.query.store)."""

    retention: timedelta

    def put(self, key: bytes | None, value: bytes | None) -> bool: ...

    def __len__(self) -> int: ...


class StoreFeed:
    def __init__(self, kafka: dict[str, Any], topic: str, store: FedStore) -> None:
        self.topic = topic
        self.store = store
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
        self.read = 0

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
        count = 0
        for messages in batch.values():
            for m in messages:
                self.store.put(m.key, m.value)
                count += 1
        self.read += count
        return count

    async def run(self) -> None:
        """Tail the topic until cancelled."""
        while True:
            await self._poll()

    async def stop(self) -> None:
        await self._consumer.stop()
