"""Statement queries through the real broker: a statement published by one instance is returned
by `GET /statements/{number}` from a second instance that did not publish it (its own input
topic and group, the same statements topic), with every version held latest first; 401 without
the bearer token; and an instance without PMS_QUERY_TOKEN serves no queries at all."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from pms_stream.generator import GenerateOptions, generate
from pms_testkit.kafka_helpers import consume, delete_topics, poll_until, produce
from pms_testkit.service_harness import ServiceProcess, Topics, as_bytes, offline, pairs

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]
TOKEN = "integration-query-token"


@pytest_asyncio.fixture
async def topics(admin: AIOKafkaAdminClient) -> AsyncIterator[Topics]:
    t = Topics.new("pms-q")
    yield t
    await delete_topics(
        admin, [t.input, t.input + "-b", t.statements, t.acks, t.rejects, t.metrics]
    )


def query(port: int, path: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return int(r.status), dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers), exc.read()


async def test_a_second_instance_answers_for_a_statement_it_did_not_publish(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    made = generate(GenerateOptions(statements=12, seed=21, finals=1.0))
    data = as_bytes(made)
    expected = [e for e in offline(data) if e["type"] == "statement"]
    publisher = ServiceProcess(kafka_bootstrap, topics, tmp_path, "publisher")
    await publisher.start()
    try:
        await publisher.wait_ready()
        await produce(kafka_bootstrap, topics.input, pairs(data, 10))
        got = await consume(kafka_bootstrap, topics.statements, count=len(expected), timeout=60)
        assert len(got) == len(expected)
    finally:
        assert await publisher.terminate() == 0

    other = replace(topics, input=topics.input + "-b", group=topics.group + "-b")
    # generated statements fall anywhere in 2021-2027: a retention that keeps them all
    settings = {"PMS_QUERY_TOKEN": TOKEN, "PMS_QUERY_RETENTION_DAYS": "4000"}
    reader = ServiceProcess(kafka_bootstrap, other, tmp_path, "reader", **settings)
    await reader.start()
    try:
        await reader.wait_ready()
        final = next(e for e in expected if e["status"] == "final")
        number = final["statement_number"]

        async def probe() -> int:
            status, _, _ = await asyncio.to_thread(
                query, reader.port, f"/statements/{number}", TOKEN
            )
            return status

        await poll_until(probe, lambda s: s == 200, timeout=30, what="query store loaded")
        status, headers, body = query(reader.port, f"/statements/{number}", TOKEN)
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        versions = json.loads(body)["versions"]
        assert [v["status"] for v in versions] == ["final", "preliminary"]
        assert versions[0]["source"]["topic"] == topics.input  # published by the other one
        mine = [e for e in expected if e["statement_number"] == number]
        strip = lambda d: {k: v for k, v in d.items() if k not in ("source", "time")}  # noqa: E731
        assert sorted(map(json.dumps, map(strip, versions))) == sorted(
            map(json.dumps, map(strip, mine))
        )
        status, _, body = query(reader.port, "/statements?limit=1000", TOKEN)
        assert json.loads(body)["total"] == len(expected)
        for token in (None, "wrong-token"):
            status, headers, body = query(reader.port, f"/statements/{number}", token)
            assert status == 401
            assert headers["WWW-Authenticate"] == "Bearer"
            assert number.encode() not in body
        assert query(reader.port, "/readyz", None)[0] == 200
    finally:
        assert await reader.terminate() == 0

    plain = ServiceProcess(kafka_bootstrap, other, tmp_path, "plain")
    await plain.start()
    try:
        await plain.wait_ready()
        assert query(plain.port, f"/statements/{number}", TOKEN)[0] == 404
    finally:
        assert await plain.terminate() == 0
