"""Two instances against the real broker (issue 13, item 2): each puts the statements it
publishes into its own stores as their transactions commit, and its feeds skip them without
decoding; the statements the other instance publishes reach every store through the feeds, so
reroute requests and statement queries on either instance find every statement."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from pms_stream.generator import GenerateOptions, generate
from pms_stream.query.store import QueryStore
from pms_stream.reroute.rules import Criteria
from pms_stream.service.runner import Service
from pms_stream.service.settings import Password
from pms_testkit.kafka_helpers import consume, consume_to_end, produce
from pms_testkit.service_harness import Topics, as_bytes, offline, pairs, topics_fixture
from tests.integration.test_partition_setup import in_process

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

topics = topics_fixture("pms-own")


def instance(bootstrap: str, topics: Topics) -> Service:
    service = in_process(
        bootstrap,
        topics,
        session_timeout_ms=6000,
        query_token=Password("own-statements-token"),
        query_retention_days=4000,  # generated statements fall anywhere in 2021-2027
    )
    service.store.retention = timedelta(days=4000)
    return service


async def stop_all(runs: list[asyncio.Task[int]], *services: Service) -> list[int]:
    """Stop the in-process services, wait for their `run`s, and give the signals back."""
    for service in services:
        service.request_stop()
    codes = await asyncio.gather(*runs)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    return list(codes)


async def until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_own_statements_skip_the_feed_and_the_others_reach_every_store(
    kafka_bootstrap: str, topics: Topics
) -> None:
    data = as_bytes(generate(GenerateOptions(statements=60, seed=13, framing="block")))
    expected = [e for e in offline(data) if e["type"] == "statement"]
    a, b = instance(kafka_bootstrap, topics), instance(kafka_bootstrap, topics)
    assert a.own.instance != b.own.instance
    runs = [asyncio.create_task(a.run())]
    try:
        await until(lambda: a.ready()[0], "A ready")
        runs.append(asyncio.create_task(b.run()))
        await until(lambda: bool(a._partitions) and bool(b._partitions), "one partition each")
        await until(lambda: a.ready()[0] and b.ready()[0], "both ready")
        sent = await produce(kafka_bootstrap, topics.input, pairs(data, pack=7))
        assert {m.partition for m in sent} == {0, 1}
        got = await consume(kafka_bootstrap, topics.statements, count=len(expected), timeout=60)
        assert len(got) == len(expected)
        keys = {r.key for r in got}
        total = len(got)
        await until(lambda: a.own.put + b.own.put == total, "every statement published")
        assert a.own.put > 0, "each instance published some"
        assert b.own.put > 0, "each instance published some"
        for me, other in ((a, b), (b, a)):
            assert me._feed is not None
            assert me.back_office._feed is not None
            query = me.back_office.store
            assert query is not None
            for feed in (me._feed, me.back_office._feed):
                # the feed decoded the other's statements only; its own it skipped undecoded
                await until(lambda: feed.read + feed.skipped == total, "the feed at the end")  # noqa: B023
                assert feed.read == other.own.put
                assert feed.skipped == me.own.put
            assert set(me.store._filer_of) == keys  # the reroute store: every statement
            assert {v.key for v in query} == keys  # the query store too
        # a reroute request on A finds a statement B published, and a query on A answers it
        at_b = next(r for r in got if dict(r.headers).get("pms-instance") == b.own.instance)
        stored = [e for by_key in a.store._by_filer.values() for e in by_key.values()]
        facts = next(e.facts for e in stored if e.key == at_b.key)
        assert facts.transmission_date is not None
        criteria = Criteria(
            transmission_date=facts.transmission_date,
            filer_code=facts.filer_code,
            importer_number=facts.importer_number,
            client_branch=None,
            statement_number=facts.statement_number,
            district=None,
            district_port=None,
            office_code=None,
            preliminary=True,
            final=True,
        )
        assert at_b.key in [e.key for e in a.store.find(criteria)]
        assert a.back_office.store is not None
        assert a.back_office.store.versions(facts.statement_number)
    finally:
        codes = await stop_all(runs, a, b)
    assert codes == [0, 0][: len(codes)]
    # the positions held are the statements topic's: what a lagging feed is checked against
    everything = await consume_to_end(kafka_bootstrap, topics.statements)
    positions = {r.key: (r.partition, r.offset) for r in everything}
    assert {k: a.store._held(k) for k in keys if k is not None} == positions


async def test_a_partition_moved_mid_stream_leaves_every_store_with_the_newest_versions(
    kafka_bootstrap: str, topics: Topics
) -> None:
    """A publishes every statement alone; B joins and takes a partition from it; the same input
    again makes a second version of every statement, published by whichever instance owns its
    partition now. B's statement feed lags on purpose: what it reads (A's first versions, then
    A's second ones) reaches B's reroute store only after B put its own second versions. Every
    store of both instances ends with the newest version of each key (the statements topic's
    last position): a version read late through a feed never replaces a newer one put from an
    own commit (`statements/position.py`), nor the other way round."""
    data = as_bytes(generate(GenerateOptions(statements=40, seed=1320, framing="block")))
    count = sum(1 for e in offline(data) if e["type"] == "statement")
    a, b = instance(kafka_bootstrap, topics), instance(kafka_bootstrap, topics)
    late: list[tuple[Any, ...]] = []  # what B's feed read, held back
    put = b.store.put

    def lagging(*args: Any) -> bool:
        late.append(args)
        return True

    b.store.put = lagging  # type: ignore[method-assign,assignment]
    runs = [asyncio.create_task(a.run())]
    try:
        await until(lambda: a.ready()[0], "A ready")
        await produce(kafka_bootstrap, topics.input, pairs(data, pack=7))
        await until(lambda: a.own.put == count, "A published the first versions")
        runs.append(asyncio.create_task(b.run()))
        await until(lambda: bool(a._partitions) and bool(b._partitions), "one partition each")
        await until(lambda: a.ready()[0] and b.ready()[0], "both ready")
        await produce(kafka_bootstrap, topics.input, pairs(data, pack=7))
        await consume(kafka_bootstrap, topics.statements, count=2 * count, timeout=60)
        await until(lambda: a.own.put + b.own.put == 2 * count, "the second versions published")
        assert b.own.put > 0, "B published some of the second versions"
        await until(lambda: len(late) == a.own.put, "B's feed read all A published")
        b.store.put = put  # type: ignore[method-assign]
        for args in late:  # the lagging feed delivers: A's first versions come after B's own
            put(*args)
        everything = await consume_to_end(kafka_bootstrap, topics.statements)
        newest = {r.key: (r.partition, r.offset) for r in everything if r.key is not None}
        assert len(newest) == count
        for me in (a, b):
            query = me.back_office.store
            assert query is not None

            def held(me: Service = me, query: QueryStore = query) -> bool:
                return all(
                    me.store._held(k) == at and query._held(k) == at for k, at in newest.items()
                )

            await until(held, "the newest version of every key in both stores")
    finally:
        codes = await stop_all(runs, a, b)
    assert codes == [0, 0]
