"""The statement stores fed from this instance's own committed outputs (pure, plain objects):
the order guard (a version older than the one held never replaces it, whichever way it came),
the `pms-instance` stamp on statements only, and the publisher's hook putting what it published
into every store with its position, reroute copies and other outputs left out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec
import pytest

from pms_stream.missing.detect import PayerIndex
from pms_stream.query.store import QueryStore
from pms_stream.reroute.store import StatementStore
from pms_stream.service.store_feed import INSTANCE_HEADER, OwnStatements
from pms_stream.statements.model import Statement
from pms_stream.statements.position import not_newer
from pms_stream.stream.outputs import Output, Sink, statement_key, to_outputs
from tests.core.test_reroute import TODAY, statements

ENCODE = msgspec.json.encode


@dataclass
class Report:  # what aiokafka's send future gives (RecordMetadata): the fields used
    partition: int
    offset: int


Store = StatementStore | QueryStore


def stores() -> list[Store]:
    return [StatementStore(today=lambda: TODAY), QueryStore(today=lambda: TODAY)]


def held(store: Store, key: bytes) -> bytes | None:
    if isinstance(store, QueryStore):
        versions = [v for v in store if v.key == key]
        return versions[0].value if versions else None
    found = [e for entries in store._by_filer.values() for e in entries.values() if e.key == key]
    return found[0].value if found else None


def test_the_guard_orders_versions_of_one_partition_only() -> None:
    assert not_newer((0, 5), (0, 5))
    assert not_newer((0, 4), (0, 5))
    assert not not_newer((0, 6), (0, 5))
    assert not not_newer((1, 4), (0, 5))  # another partition: the arrival wins
    assert not not_newer(None, (0, 5))
    assert not not_newer((0, 4), None)


@pytest.mark.parametrize("store", stores(), ids=["reroute", "query"])
def test_a_lagging_feed_never_replaces_a_newer_version(store: Store) -> None:
    st = statements()[0]
    key = statement_key(st)
    newer = ENCODE(msgspec.structs.replace(st, office_code="09"))
    older = ENCODE(st)
    assert store.put_statement(key, newer, msgspec.json.decode(newer, type=Statement), (2, 50))
    assert store.put(key, older, (2, 40)) is False  # another instance's, read late
    assert store.put(key, None, (2, 45)) is False  # an older tombstone neither
    assert held(store, key) == newer
    assert store.put(key, older, (2, 60))  # a newer one does
    assert held(store, key) == older
    assert store.put_statement(key, newer, st, (2, 55)) is False
    assert store.put(key, None, (2, 61)) is True
    assert held(store, key) is None
    assert len(store) == 0


@pytest.mark.parametrize("store", stores(), ids=["reroute", "query"])
def test_reroute_copies_are_not_stored_from_the_hook_either(store: Store) -> None:
    st = msgspec.structs.replace(statements()[0], reroute_of="in:0:1:0")
    assert store.put_statement(b"k", ENCODE(st), st, (0, 1)) is False
    assert len(store) == 0


def published(sts: list[Statement]) -> list[Output]:
    outputs = [o for st in sts for o in to_outputs(st, b"in-key", "in:0:7")]
    copy = Output(
        Sink.STATEMENTS,
        outputs[0].key,
        ENCODE(msgspec.structs.replace(sts[0], reroute_of="r1")),
        (("pms-type", b"statement"), ("pms-reroute-of", b"r1")),
    )
    ack = Output(Sink.REROUTE_ACKS, b"B76", b"{}", (("pms-type", b"reroute_ack"),))
    return [*outputs, copy, ack]


def test_only_statements_are_stamped_with_the_process_id() -> None:
    own, other = OwnStatements(), OwnStatements()
    assert own.instance != other.instance  # random per process (and per service)
    outputs = published(statements()[:2])
    stamped = own.stamp(outputs)
    for before, after in zip(outputs, stamped, strict=True):
        if before.sink is Sink.STATEMENTS:
            assert after.headers == (*before.headers, (INSTANCE_HEADER, own.instance))
            assert (after.key, after.value, after.event) == (before.key, before.value, before.event)
        else:
            assert after is before


def test_the_hook_puts_what_was_published_into_every_store_with_its_position() -> None:
    reroute, query = StatementStore(today=lambda: TODAY), QueryStore(today=lambda: TODAY)
    index = PayerIndex(datetime(2026, 11, 20, 12))
    own = OwnStatements([reroute, query, index])
    sts = statements()[:3]
    outputs = own.stamp(published(sts))
    reports = [Report(1, 100 + i) for i in range(len(outputs))]
    own.published(outputs, reports)
    assert own.put == 3  # the reroute copy and the ack left out
    assert len(reroute) == len(query) == 3
    for i, st in enumerate(sts):
        assert reroute._held(statement_key(st)) == (1, 100 + i)
        assert query._held(statement_key(st)) == (1, 100 + i)
        assert held(reroute, statement_key(st)) == ENCODE(st)
    # the feed then brings an older version of the first: ignored
    assert reroute.put(statement_key(sts[0]), ENCODE(sts[1]), (1, 99)) is False
    assert len(index) == 1  # the missing watch's payer index: filer B76
