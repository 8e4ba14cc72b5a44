"""A stop is bounded whatever it waits on (`service/stopping.py`), against the real broker.

- In this process: a publication that the broker never answers (injected into the publisher's
  flush) while SIGTERM arrives; the drain gives up after half of `shutdown_timeout_s`, the
  Kafka clients close, `run` returns exit 1 within the bound, and nothing is committed that was
  not published (the statements come out once from the next instance, which replays).
- In a real `pms-stream run` process: a publication that even ignores its cancellation; the
  stop deadline's thread ends the process within `shutdown_timeout_s` and its margin, exit 1,
  saying so, where the harness would otherwise wait for ever (CI's failure of stop 19: a
  service still running 30 s after SIGTERM).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pms_stream.generator import GenerateOptions, generate
from pms_stream.service.stopping import STOP_MARGIN_S
from pms_testkit.kafka_helpers import consume, consume_to_end, produce
from pms_testkit.service_harness import (
    ServiceProcess,
    Topics,
    as_bytes,
    offline,
    pairs,
    topics_fixture,
    without_source,
)
from tests.integration.test_partition_setup import in_process, run_in_process

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

topics = topics_fixture("pms-stop")

SHUTDOWN_S = 4.0

# A `pms-stream run` whose publications hang and ignore their cancellation (an aiokafka call
# stuck on a broker that never answers, at its worst).
STUBBORN = """
import asyncio, sys
from pms_stream.service.publisher import Publisher

async def stubborn(self, *args, **kwargs):
    print("publication hangs", file=sys.stderr, flush=True)
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass

Publisher.flush = stubborn
from pms_stream.cli import main
sys.exit(main(["run"]))
"""


def data() -> bytes:
    return as_bytes(generate(GenerateOptions(statements=12, seed=1913, framing="block")))


async def test_sigterm_while_a_publication_hangs_ends_run_within_the_shutdown_timeout(
    kafka_bootstrap: str, topics: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    service = in_process(kafka_bootstrap, topics, shutdown_timeout_s=SHUTDOWN_S)
    hung = asyncio.Event()

    async def hanging(*args: Any) -> None:
        hung.set()
        await asyncio.Event().wait()  # a transaction the broker never answers

    service.publisher.flush = hanging  # type: ignore[method-assign,assignment]
    runner = asyncio.create_task(run_in_process(service, 120))
    await produce(kafka_bootstrap, topics.input, pairs(data(), pack=5))
    await asyncio.wait_for(hung.wait(), 60)
    signalled = time.monotonic()
    os.kill(os.getpid(), signal.SIGTERM)  # the service's own handler on this loop takes it
    code = await asyncio.wait_for(runner, 30)
    seconds = time.monotonic() - signalled
    assert code == 1
    assert seconds <= SHUTDOWN_S + 1.0, f"{seconds:.1f} s"
    assert not service._stop.deadline.fired  # ended by itself, within the bound
    out = capsys.readouterr()
    assert "staged outputs not committed in time at the stop; they replay" in out.out + out.err
    # nothing was committed: a fresh instance replays everything, each statement once
    expected = Counter(without_source(e) for e in offline(data()) if e["type"] == "statement")
    again = in_process(kafka_bootstrap, topics)
    rerun = asyncio.create_task(run_in_process(again, 120))
    try:
        await consume(kafka_bootstrap, topics.statements, count=sum(expected.values()), timeout=60)
    finally:
        again.request_stop()
        assert await rerun == 0
    got = await consume_to_end(kafka_bootstrap, topics.statements, timeout=30)
    assert Counter(without_source(json.loads(r.value or b"")) for r in got) == expected


async def test_a_stop_stuck_past_cancellation_is_ended_by_the_deadline(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    service = ServiceProcess(
        kafka_bootstrap, topics, tmp_path, "stubborn", PMS_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_S)
    )
    service.command = [sys.executable, "-c", STUBBORN]
    await service.start()
    try:
        await produce(kafka_bootstrap, topics.input, pairs(data(), pack=5))
        for _ in range(600):
            if "publication hangs" in service.log_path.read_text(errors="replace"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"no publication started:\n{service.story()}")
        signalled = time.monotonic()
        code = await service.terminate(timeout=SHUTDOWN_S + STOP_MARGIN_S + 10)
        seconds = time.monotonic() - signalled
    finally:
        if service.process is not None and service.process.returncode is None:
            await service.kill()
    assert code == 1, service.story()
    assert seconds <= SHUTDOWN_S + STOP_MARGIN_S + 2.0, f"{seconds:.1f} s"
    events = [e.get("event") for e in service.log_events()]
    assert "stop requested" in events
    assert "stop took longer than allowed; exiting" in events, service.story()
