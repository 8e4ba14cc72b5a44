"""The operator's view against the real broker (issue 16): dead letters sent again with
`pms-stream redrive` (exactly once, never twice), `tail` as JSON on every output topic, and the
Kafka-facing commands failing in one line, within the bound, with their exit status."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pms_stream.generator import GenerateOptions, generate
from pms_testkit.kafka_helpers import consume, produce
from pms_testkit.service_harness import (
    EXE,
    ServiceProcess,
    Topics,
    as_bytes,
    offline,
    pairs,
    topics_fixture,
)
from tests.integration.conftest import BrokerSecurity

pytestmark = [pytest.mark.kafka]


topics = topics_fixture("pms-ops")


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PMS_")}
    base["PMS_ABI_PASSWORD"] = "PW1526"  # `reroute` refuses to send a request without one
    return subprocess.run(
        [EXE, *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        input="",
        timeout=timeout,
        check=False,
    )


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def identity(statement: dict[str, Any]) -> str:
    """A statement as redriven input gives it again: without source and the A record's date
    (a redriven block has no A record before it: its process_date is null)."""
    return json.dumps(
        {k: v for k, v in statement.items() if k not in ("source", "process_date")}, sort_keys=True
    )


@pytest.mark.asyncio
async def test_redrive_after_raising_a_limit_gives_each_statement_once(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    data = as_bytes(generate(GenerateOptions(statements=12, seed=5, daily=(1, 8), finals=0.0)))
    expected = [e for e in offline(data) if e["type"] == "statement"]
    sizes = sorted(s["record_count"] for s in expected)
    limit = sizes[len(sizes) // 2]  # about half the statements are over it
    small = [s for s in expected if s["record_count"] <= limit]
    assert 0 < len(small) < len(expected)
    env = {**topics.env(), "PMS_BOOTSTRAP_SERVERS": kafka_bootstrap}

    service = ServiceProcess(
        kafka_bootstrap,
        topics,
        tmp_path,
        "limited",
        PMS_MAX_RECORDS_PER_STATEMENT=str(limit),
    )
    await service.start()
    await service.wait_ready()
    try:
        await produce(kafka_bootstrap, topics.input, pairs(data, pack=3))
        got = await consume(kafka_bootstrap, topics.statements, count=len(small), timeout=60)
        assert sorted(map(identity, map(json.loads, (r.value or b"" for r in got)))) == sorted(
            map(identity, small)
        )
        # every record of the big statements, Y records included, is dead-lettered
        await asyncio.sleep(1)
    finally:
        assert await service.terminate() == 0

    dry = await asyncio.to_thread(cli, "redrive", "--reason", "max_records_per_statement", env=env)
    assert dry.returncode == 0, dry.stderr
    planned = lines(dry.stdout)
    assert planned
    assert {p["status"] for p in planned} == {"would send"}
    assert "dry run" in dry.stderr

    raised = ServiceProcess(kafka_bootstrap, topics, tmp_path, "raised")
    await raised.start()
    await raised.wait_ready()
    try:
        sent = await asyncio.to_thread(
            cli, "redrive", "--reason", "max_records_per_statement", "--send", env=env
        )
        assert sent.returncode == 0, sent.stderr
        assert {p["status"] for p in lines(sent.stdout)} == {"sent"}
        got = await consume(kafka_bootstrap, topics.statements, count=len(expected), timeout=60)
        keys = Counter(r.key for r in got)
        assert max(keys.values()) == 1, "a statement came out twice"
        redriven = sorted(map(identity, map(json.loads, (r.value or b"" for r in got))))
        assert redriven == sorted(map(identity, expected))

        again = await asyncio.to_thread(
            cli, "redrive", "--reason", "max_records_per_statement", "--send", env=env
        )
        assert again.returncode == 0, again.stderr
        assert {p["status"] for p in lines(again.stdout)} == {"already redriven"}
        assert ", 0 sent" in again.stderr
        forced = await asyncio.to_thread(
            cli, "redrive", "--reason", "max_records_per_statement", "--force", env=env
        )
        assert {p["status"] for p in lines(forced.stdout)} == {"would send"}
        dead = tmp_path / "dead.txt"
        written = await asyncio.to_thread(
            cli, "redrive", "--reason", "max_records_per_statement", "--output", str(dead), env=env
        )
        assert written.returncode == 0, written.stderr
        assert {p["status"] for p in lines(written.stdout)} == {"written"}
        records = dead.read_bytes().split(b"\n")
        assert all(len(r) == 80 for r in records if r)
        assert sum(1 for r in records if r) == sum(p["records"] for p in lines(written.stdout))

        # a closed pipe ends tail quietly
        head = await asyncio.to_thread(piped_to_head, ["tail", "--topic", topics.statements], env)
        assert head.returncode == 0, head.stderr
        assert "Traceback" not in head.stderr

        # tail: one JSON object per line on every output topic (reroute acks hold MQ blocks)
        reroute = await asyncio.to_thread(
            cli, "reroute", "--filer", "B76", "--port", "2704", "--final", env=env
        )
        assert reroute.returncode == 0, reroute.stderr
        await consume(kafka_bootstrap, topics.acks, count=3, timeout=30)
        for topic in (topics.statements, topics.rejects, topics.acks, topics.metrics, topics.input):
            tail = await asyncio.to_thread(cli, "tail", "--topic", topic, "--idle", "2", env=env)
            assert tail.returncode == 0, tail.stderr
            parsed = lines(tail.stdout)
            assert parsed, topic
            assert all(isinstance(p, dict) and "type" in p for p in parsed), topic
        acks = lines(
            (
                await asyncio.to_thread(cli, "tail", "--topic", topics.acks, "--idle", "2", env=env)
            ).stdout
        )
        assert any(a["type"] == "raw" and a["text"].startswith("A") for a in acks)
    finally:
        assert await raised.terminate() == 0


def piped_to_head(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`pms-stream ARGS | head -c 100`: the reader gone before the writer is done."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PMS_")}
    writer = subprocess.Popen(
        [EXE, *args], env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert writer.stdout is not None
    writer.stdout.read(100)
    writer.stdout.close()
    _, err = writer.communicate(timeout=60)
    return subprocess.CompletedProcess(args, writer.returncode, "", err.decode())


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts connections and never answers (127.0.0.1 only)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


COMMANDS = {
    "send": ["send", "-"],
    "tail": ["tail"],
    "reroute": ["reroute", "--filer", "B76", "--port", "2704", "--final"],
    "redrive": ["redrive", "--send"],
}


def failed(args: list[str], env: dict[str, str], bound: float) -> tuple[int, str, float]:
    started = time.monotonic()
    done = cli(*args, env=env, timeout=bound + 30)
    elapsed = time.monotonic() - started
    assert "Traceback" not in done.stderr, done.stderr
    assert "Unclosed" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert elapsed < bound + 5, f"{args[0]} took {elapsed:.1f} s"
    return done.returncode, done.stderr, elapsed


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_connection_refused_is_one_line_exit_3(command: str) -> None:
    env = {"PMS_BOOTSTRAP_SERVERS": f"127.0.0.1:{refused_port()}"}
    code, err, _ = failed(COMMANDS[command], env, 15)
    assert code == 3
    assert "cannot connect to Kafka" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_host_that_never_answers_is_one_line_within_the_bound(
    command: str, silent_port: int
) -> None:
    env = {"PMS_BOOTSTRAP_SERVERS": f"127.0.0.1:{silent_port}", "PMS_COMMAND_TIMEOUT_S": "3"}
    code, err, elapsed = failed(COMMANDS[command], env, 3)
    assert code == 3
    assert "no answer from Kafka" in err
    assert "within 3 s" in err
    assert elapsed >= 2.5


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_missing_topic_is_one_line_exit_4(command: str, kafka_bootstrap: str) -> None:
    missing = f"pms-ops-missing-{os.getpid()}-{command}"
    env = {
        "PMS_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PMS_INPUT_TOPIC": missing,
        "PMS_STATEMENTS_TOPIC": missing + "-out",
        "PMS_REJECTS_TOPIC": missing + "-rejects",
    }
    code, err, _ = failed(COMMANDS[command], env, 15)
    assert code == 4
    assert "does not exist" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_authentication_failure_is_one_line_exit_5(
    command: str, broker_security: BrokerSecurity
) -> None:
    env = {
        "PMS_BOOTSTRAP_SERVERS": broker_security.bootstrap("SASL_PLAINTEXT"),
        "PMS_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "PMS_SASL_MECHANISM": broker_security.mechanisms[0],
        "PMS_SASL_USERNAME": broker_security.username,
        "PMS_SASL_PASSWORD": "not-the-password",
    }
    code, err, _ = failed(COMMANDS[command], env, 15)
    assert code == 5
    assert "authentication failed" in err
    assert "not-the-password" not in err


def test_the_default_bound_stays_under_15_seconds(silent_port: int) -> None:
    code, err, elapsed = failed(["tail"], {"PMS_BOOTSTRAP_SERVERS": f"127.0.0.1:{silent_port}"}, 10)
    assert code == 3
    assert "within 10 s" in err
    assert elapsed < 15
