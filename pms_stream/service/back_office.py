"""The back-office stage of the service: the statement query store, fed from the statements
topic, and the query API on the HTTP server; the missing-statement watchdog
(`missing_watch`, when `PMS_MISSING_WATCH` is on); the ACH cash forecast stage
(`forecast_stage`, when `PMS_FORECAST` is on) and its view for `GET /forecast`
(docs/back-office.md).

Off unless `PMS_QUERY_TOKEN` is set. When on, its own feed (a second reader of the compacted
statements topic, no consumer group, read_committed) loads the last `query_retention_days` of
statements in the background and keeps tailing; until it has caught up, queries answer 503 with
Retry-After. The statements this instance publishes go into the query store and the payer index
as they commit (`store_feed.OwnStatements`); the feeds skip them. It never blocks the service's
start or changes `/readyz`: a query store of 13 months may take a while to load, while
statements must keep flowing.

Runner hooks: `app` for the HTTP server, `start(kafka)` once Kafka is up, `stop()`.

Flow: statements topic -> feed -> query store -> **back office** -> HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterable
from datetime import date
from typing import Any

from pms_stream.forecast.view import ForecastView
from pms_stream.query.api import QueryApi
from pms_stream.query.store import QueryStore
from pms_stream.service.config import Settings
from pms_stream.service.forecast_stage import ForecastStage
from pms_stream.service.http import App
from pms_stream.service.logs import get_logger
from pms_stream.service.metrics import Metrics
from pms_stream.service.missing_watch import MissingWatch
from pms_stream.service.store_feed import OwnStatements, StoreFeed

__all__ = ["BackOffice"]

log = get_logger("pms_stream.back_office")
LOAD_TIMEOUT_S = 3600.0


class BackOffice:
    def __init__(
        self,
        settings: Settings,
        today: Callable[[], date] = date.today,
        metrics: Metrics | None = None,
        own: OwnStatements | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.own = own
        self.missing: MissingWatch | None = None
        self.forecast: ForecastStage | None = None
        self.view = ForecastView()
        self._view_feed: StoreFeed | None = None
        self.store: QueryStore | None = None
        self.app: App | None = None
        self._feed: StoreFeed | None = None
        self._tasks: list[asyncio.Task[None]] = []
        if settings.query_token is not None:
            self.store = QueryStore(
                today=today,
                retention_days=settings.query_retention_days,
                max_statements=settings.query_max_statements,
            )
            forecasts = self.view.forecasts if settings.forecast else None
            api = QueryApi(self.store, settings.query_token.reveal(), self.loaded, forecasts)
            self.app = api.answer
            if own is not None:
                own.stores.append(self.store)

    def loaded(self) -> bool:
        return self._feed is not None and self._feed.ready

    async def start(self, kafka: dict[str, Any], assigned: Callable[[], Iterable[Any]]) -> None:
        """Start what is configured; `assigned` gives the input partitions this instance holds:
        the one that holds partition 0 of the input topic runs the forecast task."""
        topic = self.settings.input_topic

        def leader() -> bool:
            return any(tp.topic == topic and tp.partition == 0 for tp in assigned())

        if self.settings.forecast:
            self.forecast = ForecastStage(self.settings, kafka, self.metrics, leader)
            await self.forecast.create_topic()
            self._tasks.append(asyncio.create_task(self._guard("forecast", self.forecast.run())))
            if self.store is not None:
                self._view_feed = StoreFeed(kafka, self.settings.forecasts_topic, self.view)
                feed = self._view_feed
                self._tasks.append(asyncio.create_task(self._guard("forecast view", _tail(feed))))
        if self.settings.missing_watch:
            gauge = self.metrics.statements_missing.set
            self.missing = MissingWatch(self.settings, kafka, gauge, self.own)
            watch = self.missing.run()
            self._tasks.append(asyncio.create_task(self._guard("missing watch", watch)))
        if self.store is None:
            return
        instance = None if self.own is None else self.own.instance
        self._feed = StoreFeed(kafka, self.settings.statements_topic, self.store, instance)
        self._tasks.append(asyncio.create_task(self._load_and_tail(self._feed)))

    async def _load_and_tail(self, feed: StoreFeed) -> None:
        started = time.monotonic()
        try:
            await feed.start(timeout=LOAD_TIMEOUT_S)
            log.info(
                "query store loaded",
                versions=len(self.store or ()),
                seconds=round(time.monotonic() - started, 3),
            )
            await feed.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the queries stay at 503; statements keep flowing
            log.error("query store feed failed", error=repr(exc))

    async def _guard(self, what: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # this stage stops; statements keep flowing
            log.error("back-office stage failed", stage=what, error=repr(exc))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for feed in (self._feed, self._view_feed):
            if feed is not None:
                await feed.stop()


async def _tail(feed: StoreFeed) -> None:
    await feed.start(timeout=LOAD_TIMEOUT_S)
    await feed.run()
