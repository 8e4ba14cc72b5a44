"""A stalled processing loop is detected and the process exits 3 instead of hanging silently.

The stall is real: the test starts a private broker (its own ports and state directory, so no
other test's broker is touched), lets the service open a statement, freezes the broker with
SIGSTOP, and waits: the idle timeout makes the service publish, the publication cannot finish,
the loop stops beating, `/healthz` fails and the watchdog ends the process with exit status 3.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pms_testkit.kafka_helpers import poll_until, produce
from pms_testkit.service_harness import ServiceProcess, Topics, free_port, http_get
from tests.core import statements_by_hand as sh

BROKER = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "broker.sh"
pytestmark = [pytest.mark.kafka]


@pytest.fixture
def private_broker(tmp_path: Path, kafka_bootstrap: str) -> Iterator[tuple[str, int]]:
    """A broker of its own: (bootstrap, pid). Depends on kafka_bootstrap only so that a missing
    broker setup fails the same way as everywhere else."""
    del kafka_bootstrap
    env = {
        **os.environ,
        "KAFKA_PORT": str(free_port()),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_SASL_PORT": str(free_port()),
        "KAFKA_SASL_SSL_PORT": str(free_port()),
        "PMS_KAFKA_STATE_DIR": str(tmp_path / "kafka"),
    }
    up = subprocess.run(
        [str(BROKER), "up"], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert up.returncode == 0, up.stdout + up.stderr
    pid = int((tmp_path / "kafka" / "broker.pid").read_text())
    try:
        yield f"127.0.0.1:{env['KAFKA_PORT']}", pid
    finally:
        os.kill(pid, signal.SIGCONT)
        subprocess.run([str(BROKER), "down"], env=env, capture_output=True, timeout=60, check=False)


@pytest.mark.asyncio
async def test_a_stalled_loop_ends_the_process_with_status_3(
    private_broker: tuple[str, int], tmp_path: Path
) -> None:
    bootstrap, broker_pid = private_broker
    topics = Topics.new("pms-stall")
    service = ServiceProcess(
        bootstrap,
        topics,
        tmp_path,
        "a",
        PMS_IDLE_TIMEOUT_S="2",
        PMS_STALL_TIMEOUT_S="3",
        PMS_SHUTDOWN_TIMEOUT_S="3",
    )
    await service.start()
    await service.wait_ready()
    try:
        await produce(bootstrap, topics.input, [(b"k", "\n".join(sh.TRANSMISSION[:4]).encode())])

        async def open_statements() -> str:
            return (await asyncio.to_thread(http_get, service.port, "/metrics"))[1]

        await poll_until(
            open_statements,
            lambda text: (
                "pms_open_statements{partition" in text
                and any(
                    line.startswith("pms_open_statements{") and not line.endswith(" 0.0")
                    for line in text.splitlines()
                )
            ),
            timeout=30,
            what="the statement is open",
        )
        os.kill(broker_pid, signal.SIGSTOP)  # the broker freezes: nothing it is asked finishes
        started = time.monotonic()
        assert service.process is not None
        unhealthy = False
        while service.process.returncode is None and time.monotonic() - started < 60:
            status, _ = await asyncio.to_thread(lambda: _probe(service.port))
            unhealthy = unhealthy or status == 503
            await asyncio.sleep(0.3)
        code = await asyncio.wait_for(service.process.wait(), 5)
    finally:
        os.kill(broker_pid, signal.SIGCONT)
        if service.process is not None and service.process.returncode is None:
            service.process.kill()
            await service.process.wait()
    assert code == 3, service.tail()
    assert unhealthy, "/healthz reported the stall before the exit"
    assert any(
        e.get("event", "").startswith("processing loop stalled") for e in service.log_events()
    )
    assert time.monotonic() - started < 30


def _probe(port: int) -> tuple[int, str]:
    try:
        return http_get(port, "/healthz", timeout=1.0)
    except OSError as exc:
        return 0, repr(exc)
