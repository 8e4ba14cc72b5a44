"""Run `pms-stream run` as a real process against the real broker, for integration tests.

Each `ServiceProcess` is the installed console script with its own environment: uuid-named
topics and group, an HTTP port of its own, JSON logs to a file. Tests start it, wait until it
is ready (`/readyz`), send input with `pms_testkit.kafka_helpers`, read the read_committed
output, and stop it with SIGTERM or kill it with SIGKILL. `as_bytes` and `pairs` make the input
(messages keyed by filer as `pms-stream send` cuts them); `offline` and `without_source` what
the service should publish: the offline parse of the same bytes, compared without `source` and
`time`.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from pms_stream.catair.records import Secret
from pms_stream.commands.parse import parse_stream
from pms_stream.generator import Generated
from pms_stream.packing import messages
from pms_stream.reroute.request import build_request
from pms_stream.stream.outputs import reassemble
from pms_testkit.kafka_helpers import Received, delete_topics, fresh_hex

EXE = str(Path(sys.executable).with_name("pms-stream"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Topics:
    input: str
    statements: str
    acks: str
    rejects: str
    metrics: str
    group: str

    @classmethod
    def new(cls, prefix: str) -> Topics:
        u = fresh_hex(12)
        return cls(
            f"{prefix}-{u}-in",
            f"{prefix}-{u}-statements",
            f"{prefix}-{u}-acks",
            f"{prefix}-{u}-rejects",
            f"{prefix}-{u}-metrics",
            f"{prefix}-{u}-group",
        )

    def names(self) -> list[str]:
        """The topics (not the group), e.g. to delete them after a test."""
        return [self.input, self.statements, self.acks, self.rejects, self.metrics]

    def env(self) -> dict[str, str]:
        return {
            "PMS_INPUT_TOPIC": self.input,
            "PMS_STATEMENTS_TOPIC": self.statements,
            "PMS_REROUTE_ACKS_TOPIC": self.acks,
            "PMS_REJECTS_TOPIC": self.rejects,
            "PMS_METRICS_TOPIC": self.metrics,
            "PMS_GROUP_ID": self.group,
        }


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


class ServiceProcess:
    """One `pms-stream run` process."""

    def __init__(
        self, bootstrap: str, topics: Topics, log_dir: Path, name: str, **settings: str
    ) -> None:
        self.port = free_port()
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PMS_")},
            **topics.env(),
            "PMS_BOOTSTRAP_SERVERS": bootstrap,
            "PMS_HTTP_PORT": str(self.port),
            "PMS_TOPIC_PARTITIONS": "3",
            "PMS_LOG_FORMAT": "json",
            **settings,
        }
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.command = [EXE, "run"]  # a test may start the service another way

    async def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            *self.command, env=self.env, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL
        )
        log.close()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = (0, "")
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(
                    f"{self.name} exited {self.process.returncode}:\n{self.tail()}"
                )
            last = await asyncio.to_thread(self._probe)
            if last[0] == 200:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not ready in {timeout}s (last {last}):\n{self.tail()}")

    def _probe(self) -> tuple[int, str]:
        try:
            return http_get(self.port, "/readyz", timeout=1.0)
        except OSError as exc:
            return 0, repr(exc)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, and the exit code once the process ended. A process still there after
        `timeout` is killed (so the test's clean-up goes on) and the stop fails with its log."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"{self.name} still running {timeout:g}s after SIGTERM (killed):\n{self.story()}"
            ) from None

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def story(self, own: int = 60, others: int = 15) -> str:
        """The log's last `own` lines of pms-stream's loggers, then its last `others` lines
        (aiokafka's retries can fill a log with thousands of lines while the broker is away)."""
        if not self.log_path.exists():
            return "(no log)"
        lines = self.log_path.read_text(errors="replace").splitlines()
        mine = [line for line in lines if '"logger": "pms_stream' in line]
        return "\n".join([*mine[-own:], "--- the log's last lines ---", *lines[-others:]])

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


async def run_until_exit(service: ServiceProcess, within: float) -> tuple[int, float]:
    """Start the service and wait for it to end by itself: (exit code, seconds taken)."""
    started = time.monotonic()
    await service.start()
    assert service.process is not None
    try:
        code = await asyncio.wait_for(service.process.wait(), within)
    except TimeoutError:
        await service.kill()
        raise AssertionError(
            f"{service.name} still running after {within:g}s:\n{service.tail()}"
        ) from None
    return code, time.monotonic() - started


def as_bytes(generated: Generated) -> bytes:
    """A generated transmission as the bytes of its file."""
    buf = io.BytesIO()
    generated.write(buf)
    return buf.getvalue()


def pairs(data: bytes, pack: int) -> list[tuple[bytes | None, bytes]]:
    """(key, value) messages of up to `pack` records, keyed by filer, as `pms-stream send` does."""
    return list(messages(io.BytesIO(data), pack, "filer", concatenate=False))


def offline(data: bytes) -> list[dict[str, Any]]:
    """The events `pms-stream parse` makes of `data` (statements, rejects, ...), as JSON objects."""
    out = io.BytesIO()
    parse_stream(io.BytesIO(data), "file", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def reassembled(parts: list[Received]) -> bytes:
    """The raw bytes of a dead letter the service split in parts (docs/statement-contract.md)."""
    return reassemble((dict(p.headers), p.value or b"") for p in parts)


def without_source(doc: dict[str, Any]) -> str:
    """An event's JSON without where and when it was made: equal for the same statement."""
    return json.dumps({k: v for k, v in doc.items() if k not in ("source", "time")}, sort_keys=True)


def reroute_request(**changes: Any) -> bytes:
    """A QR reroute request block as `pms-stream reroute` builds it: B76's port 2704, office 01,
    statements of 15 November 2026, preliminary and final, with a communication password, unless
    `changes` (keyword arguments of `build_request`) say otherwise."""
    options: dict[str, Any] = {
        "filer": "B76",
        "port": "2704",
        "office": "01",
        "password": Secret("PW1526"),
        "statements_of": "111526",
        "preliminary": True,
        "final": True,
        **changes,
    }
    return b"\n".join(build_request(**options))


def topics_fixture(prefix: str) -> Any:
    """A test module's `topics` fixture: fresh uuid-named topics `<prefix>-...` for each test,
    deleted after it (`topics = topics_fixture("pms-svc")` at module level)."""

    @pytest_asyncio.fixture(name="topics")
    async def topics(admin: AIOKafkaAdminClient) -> Any:
        made = Topics.new(prefix)
        yield made
        await delete_topics(admin, made.names())

    return topics
