"""The size rule of `stream.outputs` (pure): an output over its topic's limit becomes a dead
letter saying so, a dead letter over the rejects topic's limit is split into parts that
reassemble byte for byte (issue 12, findings 3 and 9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pms_stream.statements.model import RejectedEvent, Source
from pms_stream.stream.outputs import (
    Output,
    Sink,
    fit,
    reassemble,
    record_size,
    to_outputs,
)
from pms_stream.stream.partition_task import InputMessage, PartitionTask

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SOURCE = Source(topic="in", partition=2, first_offset=10, last_offset=12)


def reject(raw: bytes) -> Output:
    event = RejectedEvent(
        kind="message", reason="too big to read", raw=raw.decode("latin-1"), source=SOURCE
    )
    (out,) = to_outputs(event, b"key", "in:2:10")
    return out


def parts_of(outputs: list[Output]) -> bytes:
    return reassemble((dict(o.headers), o.value) for o in outputs)


def test_an_output_that_fits_is_itself() -> None:
    out = reject(b"Q1" * 40)
    assert fit(out, {Sink.REJECTS: 10_000}, NOW) == [out]
    assert fit(out, {}, NOW) == [out]


def test_a_statement_over_its_topics_limit_becomes_a_dead_letter_with_its_whole_json() -> None:
    from tests.service.test_partition_task import messages, task

    t = task()
    outs = [o for m in messages([b"k"], 20) for o in t.process(m)] + t.flush_all()
    statement = next(o for o in outs if o.sink is Sink.STATEMENTS)
    limit = record_size(statement) - 1
    (dead,) = fit(statement, {Sink.STATEMENTS: limit, Sink.REJECTS: 1_000_000}, NOW)
    assert dead.sink is Sink.REJECTS
    assert dead.key == statement.key
    doc = json.loads(dead.value)
    assert doc["kind"] == "statement"
    assert f"is over the statements topic's limit of {limit} bytes" in doc["reason"]
    assert doc["raw"].encode("latin-1") == statement.value  # the whole output, not 4,096 bytes
    assert doc["source"] == {"topic": "in", "partition": 0, "first_offset": 0, "last_offset": 0}
    assert doc["time"] == "2026-12-01T12:00:00Z"
    assert isinstance(dead.event, RejectedEvent)
    assert ("pms-type", b"rejected") in dead.headers


def test_a_dead_letter_over_the_rejects_limit_is_split_and_reassembles() -> None:
    raw = bytes(range(256)) * 200  # every byte value: JSON escapes cost up to 6 bytes each
    out = reject(raw)
    parts = fit(out, {Sink.REJECTS: 4_000}, NOW)
    assert len(parts) > 10
    assert all(record_size(p) <= 4_000 for p in parts)
    assert all(p.key == b"key" for p in parts)
    assert parts_of(parts) == raw
    assert parts_of(list(reversed(parts))) == raw
    headers = dict(parts[0].headers)
    assert headers["pms-chunk"] == f"1/{len(parts)}".encode()
    assert headers["pms-raw-bytes"] == str(len(raw)).encode()
    first = msgspec.json.decode(parts[0].value, type=RejectedEvent)
    assert first.reason.startswith(f"too big to read [part 1 of {len(parts)}: the 51200 raw bytes")
    assert first.source == SOURCE
    # counted once: only the first part carries the event (metrics)
    assert [p.event is not None for p in parts] == [True] + [False] * (len(parts) - 1)


def test_reassembly_refuses_missing_or_altered_parts() -> None:
    parts = fit(reject(b"x" * 10_000), {Sink.REJECTS: 3_000}, NOW)
    with pytest.raises(ValueError, match="missing"):
        parts_of(parts[1:])
    doc = json.loads(parts[0].value)
    doc["raw"] = "y" + doc["raw"][1:]
    altered = Output(parts[0].sink, parts[0].key, json.dumps(doc).encode(), parts[0].headers)
    with pytest.raises(ValueError, match="sha256"):
        parts_of([altered, *parts[1:]])


def test_a_dead_letter_of_a_statement_too_large_for_both_topics_is_split() -> None:
    big = reject(b"Q" * 5_000)
    as_statement = Output(Sink.STATEMENTS, b"B76||x|final", big.value, big.headers, big.event)
    parts = fit(as_statement, {Sink.STATEMENTS: 2_000, Sink.REJECTS: 2_000}, NOW)
    assert len(parts) > 2
    assert json.loads(parts_of(parts)) == json.loads(big.value)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=5_000), st.integers(600, 3_000))
def test_any_raw_bytes_split_within_the_limit_and_reassemble(raw: bytes, limit: int) -> None:
    parts = fit(reject(raw), {Sink.REJECTS: limit}, NOW)
    if len(parts) == 1 and "pms-chunk" not in dict(parts[0].headers):
        assert record_size(parts[0]) <= limit
        return
    assert all(record_size(p) <= limit for p in parts)
    assert parts_of(parts) == raw


def test_statement_keys_with_a_secret_hold_an_hmac_of_ssn_shaped_importers_only() -> None:
    from pms_testkit.records_by_hand import put
    from tests.core import statements_by_hand as sh

    def key_of(importer: str, secret: bytes | None) -> bytes:
        b = put(put(sh.b("P"), 30, "7"), 31, importer.ljust(12))
        q = [put(sh.D1[0], 20, importer.ljust(12)), *sh.PRELIMINARY_Q[1:]]
        records = [sh.A, b, *q, sh.y(len(q)), sh.Z]
        t = PartitionTask("in", 0, key_secret=secret)
        outs = t.process(InputMessage(0, b"B76", "\n".join(records).encode()))
        (statement,) = [o for o in outs if o.sink is Sink.STATEMENTS]
        assert statement.key is not None
        return statement.key

    plain = key_of("123-45-6789", None)
    assert plain == b"B76|123-45-6789|2726P10001|preliminary"  # the default: unchanged
    keyed = key_of("123-45-6789", b"s3cret")
    assert keyed.startswith(b"B76|hmac:")
    assert b"6789" not in keyed
    assert keyed == key_of("123-45-6789", b"s3cret")  # stable: compaction still works
    assert keyed != key_of("123-45-6788", b"s3cret")
    assert keyed != key_of("123-45-6789", b"other")
    assert key_of("987654321", b"s3cret").startswith(b"B76|hmac:")  # bare SSN shape too
    assert key_of("12-3456789AB", b"s3cret") == b"B76|12-3456789AB|2726P10001|preliminary"
