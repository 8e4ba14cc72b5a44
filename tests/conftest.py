"""Shared pytest fixtures: a real Kafka broker, an admin client and uuid-named topics.

Which broker ``kafka_bootstrap`` uses, first match wins:

1. ``KAFKA_BOOTSTRAP_SERVERS`` when set (any reachable cluster);
2. the one that already answers on ``127.0.0.1:${KAFKA_PORT:-9092}`` (``make broker-up``, or the
   one ``make test`` started);
3. a local broker started here with ``deploy/kafka/broker.sh up`` once per session, and stopped at
   the end of the session (only a broker this fixture started is stopped).

Tests that need Kafka are real integration tests: when no broker can be had they fail, with the
reason and the broker log's tail, and never skip (under CI or not). A test that requests
``kafka_bootstrap`` (directly or through ``admin`` / ``topic_factory``) gets the ``kafka`` marker
even if it forgot it, so ``pytest -m "not kafka"`` runs exactly the tests that need no broker.
See docs/local-broker.md.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import NoReturn

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from pms_testkit.kafka_helpers import (
    TopicFactory,
    create_topic,
    delete_topics,
    kafka_admin,
    new_topic_name,
    port_open,
)

REPO = Path(__file__).resolve().parent.parent
BROKER_SCRIPT = REPO / "deploy" / "kafka" / "broker.sh"
LOCAL_HOST = "127.0.0.1"
# A cold start fetches the broker jars with mvn first; broker.sh itself gives up after 90 s of JVM.
BROKER_UP_TIMEOUT = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
            "kafka"
        ):
            item.add_marker(pytest.mark.kafka)


def _broker(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BROKER_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _no_broker(reason: str) -> NoReturn:
    where = "CI is set: " if os.environ.get("CI") else ""
    pytest.fail(
        f"{where}no Kafka broker for the tests marked kafka (they never skip).\n{reason}\n"
        "Start one with `make broker-up`, or point KAFKA_BOOTSTRAP_SERVERS at one "
        "(docs/local-broker.md).",
        pytrace=False,
    )


def _start_local_broker(port: int) -> None:
    tried = (
        f"KAFKA_BOOTSTRAP_SERVERS is unset and nothing answers on {LOCAL_HOST}:{port}, "
        f"so `{BROKER_SCRIPT.relative_to(REPO)} up` was run"
    )
    try:
        result = _broker("up", timeout=BROKER_UP_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _no_broker(f"{tried} and could not finish: {exc}")
    if result.returncode != 0:
        output = result.stdout + result.stderr
        if "last lines of" not in output:  # broker.sh shows the log's tail when the JVM fails
            log = _broker("logs", "-n", "40", timeout=30)
            output += f"\nbroker log tail:\n{log.stdout}{log.stderr}"
        _no_broker(f"{tried} and failed (exit {result.returncode}):\n{output}")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a running Kafka broker, as ``host:port[,host:port...]``."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if configured:
        yield configured
        return
    port = int(os.environ.get("KAFKA_PORT", "9092"))
    local = f"{LOCAL_HOST}:{port}"
    if port_open(LOCAL_HOST, port):
        yield local
        return
    _start_local_broker(port)
    try:
        yield local
    finally:
        _broker("down", timeout=120)


@pytest_asyncio.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started aiokafka admin client on the test's event loop."""
    async with kafka_admin(kafka_bootstrap) as client:
        yield client


@pytest_asyncio.fixture
async def topic_factory(admin: AIOKafkaAdminClient) -> AsyncIterator[TopicFactory]:
    """Creates ``pms-test-<uuid hex>`` topics (partitions, configs); deletes them at teardown."""
    created: list[str] = []

    async def create(partitions: int = 1, *, configs: Mapping[str, str] | None = None) -> str:
        name = new_topic_name()
        created.append(name)
        await create_topic(admin, name, partitions=partitions, configs=configs)
        return name

    yield create
    await delete_topics(admin, created)
