"""`make demo` (deploy/demo.sh) on a broker that already holds data: it uses the broker at
KAFKA_PORT and shows only its own run's 24 statements (topics of its own, deleted after)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pms_testkit.kafka_helpers import delete_topics
from pms_testkit.service_harness import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]
REPO = Path(__file__).resolve().parents[2]


async def test_demo_uses_kafka_port_and_shows_its_own_statements(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient
) -> None:
    host, _, port = kafka_bootstrap.split(",", maxsplit=1)[0].rpartition(":")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PMS_")},
        "BIN": str(Path(sys.executable).parent),
        "KAFKA_HOST": host,
        "KAFKA_PORT": port,
        "DEMO_HTTP_PORT": str(free_port()),
    }
    kept: list[str] = []
    try:
        # the first run keeps its topics (DEMO_KEEP=1): the second meets its data on the broker
        for keep in ("1", "0"):
            done = subprocess.run(
                ["deploy/demo.sh"],
                cwd=REPO,
                env={**env, "DEMO_KEEP": keep},
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            assert re.search(r"^24 statements$", done.stdout, re.MULTILINE), done.stdout[-3000:]
            assert f"Kafka broker at {host}:{port}" in done.stdout
            assert "pms-stream stopped cleanly" in done.stdout
            run = re.search(r"this run's topics: (\S+)\.\*", done.stdout)
            assert run is not None, done.stdout[:2000]
            kept += [t for t in await admin.list_topics() if t.startswith(run.group(1) + ".")]
        assert kept, "the first run's topics were kept"
    finally:
        await delete_topics(admin, kept)
