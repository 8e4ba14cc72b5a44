"""`pms-stream run` against the real broker: the statements equal the offline parse, repeated
SIGKILLs lose and duplicate nothing, the idle timeout, the rejects topic, HTTP endpoints and a
graceful stop. Every test runs the installed console script as a separate process."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pms_stream.generator import GenerateOptions, generate
from pms_testkit.kafka_helpers import consume, consume_to_end, delete_topics, produce
from pms_testkit.records_by_hand import put
from pms_testkit.service_harness import (
    ServiceProcess,
    Topics,
    as_bytes,
    http_get,
    offline,
    pairs,
    reassembled,
    topics_fixture,
    without_source,
)
from tests.core import statements_by_hand as sh

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]


topics = topics_fixture("pms-svc")


async def start(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, name: str, **settings: str
) -> ServiceProcess:
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, name, **settings)
    await service.start()
    await service.wait_ready()
    return service


async def test_statements_equal_the_offline_parse_across_partitions(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    data = as_bytes(generate(GenerateOptions(statements=40, seed=7, framing="block")))
    expected = [e for e in offline(data) if e["type"] == "statement"]
    service = await start(kafka_bootstrap, topics, tmp_path, "a")
    try:
        sent = await produce(kafka_bootstrap, topics.input, pairs(data, pack=7))
        assert len({landed.partition for landed in sent}) >= 3, "input must span 3 partitions"
        got = await consume(kafka_bootstrap, topics.statements, count=len(expected), timeout=60)
        assert Counter(without_source(json.loads(r.value or b"")) for r in got) == Counter(
            without_source(e) for e in expected
        )
        for r in got:
            doc = json.loads(r.value or b"")
            assert doc["source"]["topic"] == topics.input
            key = (
                f"{doc['filer_code']}|{doc['importer_number'] or ''}|"
                f"{doc['statement_number']}|{doc['status']}"
            )
            assert r.key == key.encode()
        rejects = await consume(kafka_bootstrap, topics.rejects, count=1, timeout=2)
        assert rejects == []
        # metrics topic contract 2: the summaries folded per transaction and filer, committed
        # with their statements (all read above)
        messages = await consume_to_end(kafka_bootstrap, topics.metrics)
        docs = [json.loads(r.value or b"") for r in messages]
        folded = [d for d in docs if d["type"] == "statement_summaries"]
        summaries = [s for d in folded for s in d["summaries"]]
        assert Counter(s["type"] for s in summaries) == {"statement_summary": len(expected)}
        assert len(folded) < len(expected)
    finally:
        assert await service.terminate() == 0, service.tail()


async def test_repeated_sigkill_loses_and_duplicates_nothing(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    # seed 12: no 81-character wrong_length line whose first 80 are a valid record (a message
    # without a line end frames it as that record and a 1-byte remainder, the file as one
    # wrong-length line: a framing difference reported in issue 17's notes)
    generated = generate(GenerateOptions(statements=120, seed=12, framing="block", bad=12))
    data = as_bytes(generated)
    events = offline(data)
    expected = Counter(without_source(e) for e in events if e["type"] == "statement")
    expected_rejects = Counter(e["raw"] for e in events if e["type"] == "rejected")
    assert sum(expected_rejects.values()) == 12
    fast = {"PMS_SESSION_TIMEOUT_MS": "6000", "PMS_BATCH_MAX_RECORDS": "20"}
    a = await start(kafka_bootstrap, topics, tmp_path, "a", **fast)
    b = await start(kafka_bootstrap, topics, tmp_path, "b", **fast)
    rng = random.Random(5)
    kills = 0
    try:
        chunks = pairs(data, pack=1)
        step = max(len(chunks) // 10, 1)

        async def feed() -> None:
            for i in range(0, len(chunks), step):
                await produce(kafka_bootstrap, topics.input, chunks[i : i + step])
                await asyncio.sleep(1.5)

        feeder = asyncio.create_task(feed())
        while not feeder.done() or kills < 5:
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            victim = a if kills % 2 == 0 else b
            await victim.kill()
            kills += 1
            await victim.start()
            if kills >= 8:
                break
        await feeder
        await a.wait_ready(90)
        await b.wait_ready(90)
        got = await consume(
            kafka_bootstrap, topics.statements, count=sum(expected.values()) + 1, timeout=90
        )
        seen = Counter(without_source(json.loads(r.value or b"")) for r in got)
        lost = expected - seen
        duplicated = seen - expected
        assert kills >= 5
        assert not lost, f"{sum(lost.values())} statements lost"
        assert not duplicated, f"{sum(duplicated.values())} statements duplicated"
        rejects = await consume(
            kafka_bootstrap, topics.rejects, count=sum(expected_rejects.values()) + 1, timeout=10
        )
        assert Counter(json.loads(r.value or b"")["raw"] for r in rejects) == expected_rejects
        # each statement's summary exactly once too: it goes in its statement's transaction
        docs = [
            json.loads(r.value or b"")
            for r in await consume_to_end(kafka_bootstrap, topics.metrics)
        ]
        summaries = Counter(
            (summary["statement_number"], summary["status"], summary["filer_code"])
            for d in docs
            if d["type"] == "statement_summaries"
            for summary in d["summaries"]
        )
        wanted = Counter(
            (e["statement_number"], e["status"], e["filer_code"])
            for e in events
            if e["type"] == "statement"
        )
        assert summaries == wanted
    finally:
        for s in (a, b):
            if s.process is not None and s.process.returncode is None:
                await s.terminate()
    starts = [e for s in (a, b) for e in s.log_events() if e.get("event") == "partitions assigned"]
    assert starts, "the instances logged their assignments"


async def test_two_instances_share_the_partitions(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    a = await start(kafka_bootstrap, topics, tmp_path, "a")
    b = await start(kafka_bootstrap, topics, tmp_path, "b")
    try:

        async def owned(s: ServiceProcess) -> set[str]:
            _, text = await asyncio.to_thread(http_get, s.port, "/metrics")
            return {
                line.split('partition="')[1].split('"')[0]
                for line in text.splitlines()
                if line.startswith("pms_open_statements{")
            }

        for _ in range(100):
            mine, theirs = await owned(a), await owned(b)
            if mine and theirs and not mine & theirs and mine | theirs == {"0", "1", "2"}:
                break
            await asyncio.sleep(0.3)
        assert mine
        assert theirs
        assert not mine & theirs
        assert mine | theirs == {"0", "1", "2"}
    finally:
        await a.terminate()
        await b.terminate()


async def test_idle_timeout_rejects_an_open_statement_with_its_records(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    service = await start(kafka_bootstrap, topics, tmp_path, "a", PMS_IDLE_TIMEOUT_S="2")
    try:
        partial = sh.TRANSMISSION[:5]  # A, B, Q1, Q2, QA: the block never ends
        await produce(kafka_bootstrap, topics.input, [(b"B76", "\n".join(partial).encode())])
        (reject,) = await consume(kafka_bootstrap, topics.rejects, count=1, timeout=30)
        doc = json.loads(reject.value or b"")
        assert doc["kind"] == "statement"
        assert doc["reason"].endswith("(idle timeout)")
        assert doc["raw"].split("\n") == partial[1:]
        assert doc["time"] is not None
        assert doc["source"]["topic"] == topics.input
    finally:
        await service.terminate()


async def test_bad_input_goes_to_the_rejects_topic_with_reason_and_bytes(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    service = await start(kafka_bootstrap, topics, tmp_path, "a", PMS_MAX_MESSAGE_BYTES="4000")
    try:
        bad_amount = sh.D1[0][:49] + "X" + sh.D1[0][50:]
        await produce(
            kafka_bootstrap,
            topics.input,
            [
                (b"k", bad_amount.encode()),
                (b"k", b"\xff\xfe not a record"),
                (b"k", b"Q" * 5000),
                (b"k", "\n".join(sh.TRANSMISSION).encode()),
            ],
        )
        rejects = await consume(kafka_bootstrap, topics.rejects, count=3, timeout=30)
        assert len(rejects) == 3
        docs = [json.loads(r.value or b"") for r in rejects]
        by_kind = Counter(d["kind"] for d in docs)
        assert by_kind["message"] == 1  # the oversized one
        amount = next(d for d in docs if d.get("field") == "duty")
        assert amount["positions"] == "44-54"
        assert amount["raw"] == bad_amount
        assert amount["source"]["topic"] == topics.input
        raw_bytes = next(d for d in docs if d["raw"].startswith("\xff"))
        assert raw_bytes["raw"].encode("latin-1") == b"\xff\xfe not a record"
        statements = await consume(kafka_bootstrap, topics.statements, count=2, timeout=30)
        assert len(statements) == 2  # the good statements after the bad input still came out
    finally:
        await service.terminate()


async def test_statements_that_are_not_monthly_statements_go_whole_to_the_rejects_topic(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    """The chapter: "Record Identifiers Q1, Q2, and QA are mandatory detail payment records",
    and reports are for entry summary data "with a payment indicator of 6 ..., 7 ..., or 8". A
    statement of totals alone (bare, and in an MS block) and a block with payment type 1 each
    come out as one `rejected` event holding all their raw records, never as a statement; the
    good statements around them are published, and the offline parse says the same."""
    totals_block = [sh.b("P"), *sh.PRELIMINARY_TOTALS, sh.y(3)]
    single_pay = [put(sh.b("P"), 30, "1"), *sh.PRELIMINARY_Q, sh.y(len(sh.PRELIMINARY_Q))]
    transmission = [sh.A, *totals_block, *sh.FINAL_BLOCK, *single_pay, sh.Z]
    bare = [*sh.PRELIMINARY_TOTALS, *sh.PRELIMINARY_Q]  # totals alone, then a good statement
    inputs = [(b"B76", "\n".join(transmission).encode()), (b"C12", "\n".join(bare).encode())]
    expected = [
        e for data in (v for _, v in inputs) for e in offline(data) if e["type"] == "rejected"
    ]
    assert len(expected) == 3
    # the bare good statement has no end but the idle timeout (the totals before it end at its Q1)
    service = await start(kafka_bootstrap, topics, tmp_path, "a", PMS_IDLE_TIMEOUT_S="2")
    try:
        await produce(kafka_bootstrap, topics.input, inputs)
        rejects = await consume(kafka_bootstrap, topics.rejects, count=3, timeout=30)
        docs = [json.loads(r.value or b"") for r in rejects]
        assert Counter(without_source(d) for d in docs) == Counter(
            without_source(e) for e in expected
        )
        by_raw = {d["raw"]: d for d in docs}
        for records, reason in [
            (totals_block, "no daily statement: Q1 and Q2"),
            (sh.PRELIMINARY_TOTALS, "no daily statement: Q1 and Q2"),
            (single_pay, "payment type 6, 7 or 8"),
        ]:
            doc = by_raw["\n".join(records)]
            assert doc["kind"] == "statement"
            assert reason in doc["reason"]
            assert doc["record_count"] == len(records)
            assert doc["source"]["topic"] == topics.input
        paid = by_raw["\n".join(single_pay)]
        assert (paid["record_type"], paid["field"], paid["positions"], paid["value"]) == (
            "B",
            "payment_type",
            "30",
            "1",
        )
        statements = await consume(kafka_bootstrap, topics.statements, count=2, timeout=30)
        published = [json.loads(r.value or b"") for r in statements]
        assert sorted((d["statement_number"], d["status"]) for d in published) == [
            ("2726P10001", "final"),
            ("2726P10001", "preliminary"),
        ]
        assert all(d["daily_statements"] for d in published)
    finally:
        assert await service.terminate() == 0, service.tail()


async def test_http_endpoints_and_graceful_stop(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    service = await start(kafka_bootstrap, topics, tmp_path, "a")
    await produce(kafka_bootstrap, topics.input, [(b"k", "\n".join(sh.TRANSMISSION).encode())])
    await consume(kafka_bootstrap, topics.statements, count=2, timeout=30)
    status, text = await asyncio.to_thread(http_get, service.port, "/metrics")
    assert status == 200
    for name in (
        "pms_records_total",
        "pms_statements_total",
        "pms_transactions_total",
        "pms_open_statements",
        "pms_consumer_lag",
        "pms_restore_seconds",
        "pms_rebalances_total",
        "pms_end_to_end_latency_seconds",
        "pms_assembly_latency_seconds",
    ):
        assert name in text, name
    assert 'pms_statements_total{status="final"} 1.0' in text
    assert await asyncio.to_thread(http_get, service.port, "/healthz") == (200, "ok\n")
    assert await asyncio.to_thread(http_get, service.port, "/readyz") == (200, "ok\n")
    assert (await asyncio.to_thread(http_get, service.port, "/other"))[0] == 404
    assert await service.terminate(timeout=30) == 0
    stopped = [e["event"] for e in service.log_events()]
    assert "stopped" in stopped
    for line in service.log_path.read_text().splitlines():
        msgspec.json.decode(line)  # every log line is JSON


async def test_a_statement_over_one_megabyte_is_published_and_one_over_the_limit_rejected(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topics: Topics, tmp_path: Path
) -> None:
    big = generate(
        GenerateOptions(
            statements=1, seed=3, framing="block", daily=(3500, 3500), finals=0.0, final_only=0.0
        )
    )
    data = as_bytes(big)
    (expected,) = [e for e in offline(data) if e["type"] == "statement"]
    assert len(json.dumps(expected)) > 1_048_576  # over Kafka's default message size
    service = await start(kafka_bootstrap, topics, tmp_path, "a")
    try:
        await produce(kafka_bootstrap, topics.input, pairs(data, pack=100))
        got = await consume(kafka_bootstrap, topics.statements, count=1, timeout=60)
        assert [without_source(json.loads(r.value or b"")) for r in got] == [
            without_source(expected)
        ]
    finally:
        await service.terminate()

    small = Topics.new("pms-svc-small")
    service = await start(kafka_bootstrap, small, tmp_path, "b", PMS_MAX_STATEMENT_BYTES="200000")
    try:
        await produce(kafka_bootstrap, small.input, pairs(data, pack=100))
        await consume(kafka_bootstrap, small.rejects, count=1, timeout=60)
        parts = await consume_to_end(kafka_bootstrap, small.rejects)  # one transaction
        doc = json.loads(parts[0].value or b"")
        assert "is over the statements topic's limit of 201152 bytes" in doc["reason"]
        assert doc["record_count"] == expected["record_count"]
        # the dead letter holds the whole statement (its JSON as raw text), split in parts when
        # the rejects topic cannot take it in one
        raw = reassembled(parts) if len(parts) > 1 else doc["raw"].encode("latin-1")
        assert without_source(json.loads(raw)) == without_source(expected)
        assert await consume(kafka_bootstrap, small.statements, count=1, timeout=3) == []
    finally:
        await service.terminate()
        await delete_topics(
            admin, [small.input, small.statements, small.acks, small.rejects, small.metrics]
        )
