"""The bounded stop (`service/stopping.py`): the deadline ends the process once, unless disarmed;
the graceful drain gets its share of the time and says so when it ran out."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from pms_stream.service.stopping import STOP_MARGIN_S, Laps, Stop, StopDeadline, drain_within


class Exits:
    def __init__(self) -> None:
        self.codes: list[int] = []
        self.done = threading.Event()

    def __call__(self, code: int) -> None:
        self.codes.append(code)
        self.done.set()


def test_the_deadline_ends_the_process_with_the_services_code_once_it_expires() -> None:
    exits = Exits()
    deadline = StopDeadline(0.05, exit_code=lambda: 3, hard_exit=exits)
    deadline.arm()
    assert exits.done.wait(5)
    assert exits.codes == [3]
    assert deadline.fired


def test_a_clean_exit_code_becomes_1_when_the_stop_overran() -> None:
    exits = Exits()
    StopDeadline(0.01, exit_code=lambda: 0, hard_exit=exits).arm()
    assert exits.done.wait(5)
    assert exits.codes == [1]


def test_a_disarmed_deadline_never_fires_and_a_second_arm_does_not_restart_it() -> None:
    exits = Exits()
    deadline = StopDeadline(0.2, exit_code=lambda: 0, hard_exit=exits)
    deadline.arm()
    time.sleep(0.1)
    deadline.arm()  # the countdown is not extended
    assert exits.done.wait(5)
    exits = Exits()
    quiet = StopDeadline(0.05, exit_code=lambda: 0, hard_exit=exits)
    quiet.arm()
    quiet.disarm()
    assert not exits.done.wait(0.3)
    assert not quiet.fired


def test_stop_arms_its_deadline_at_the_first_ask_and_counts_the_time_left_from_it() -> None:
    exits = Exits()
    stop = Stop(10.0, StopDeadline(10.0 + STOP_MARGIN_S, exit_code=lambda: 0, hard_exit=exits))
    assert stop.left() == pytest.approx(10.0, abs=0.01)  # not asked: the whole bound
    assert not stop.event.is_set()
    stop.ask("SIGTERM")
    first = stop.asked
    time.sleep(0.05)
    stop.ask()
    assert stop.asked == first
    assert stop.event.is_set()
    assert 0 < stop.left(0.5) <= 4.95  # half of 10 s, less the time since the first ask
    assert stop.deadline.seconds == 10.0 + STOP_MARGIN_S
    stop.deadline.disarm()
    assert not exits.codes


def committers(*drains: Any) -> list[Any]:
    return [SimpleNamespace(commits=SimpleNamespace(drain=drain)) for drain in drains]


@pytest.mark.asyncio
async def test_the_drain_gets_its_share_and_a_stuck_one_is_given_up_in_time() -> None:
    drained: list[str] = []

    async def quick() -> None:
        drained.append("quick")

    async def stuck() -> None:
        await asyncio.Event().wait()  # a transaction the broker never answers

    lock = asyncio.Lock()
    assert await drain_within(1.0, lock, committers(quick, quick))
    assert drained == ["quick", "quick"]
    started = time.monotonic()
    assert not await drain_within(0.2, lock, committers(quick, stuck))
    assert time.monotonic() - started < 1.0
    assert not lock.locked()


@pytest.mark.asyncio
async def test_the_drain_waits_for_the_batch_in_flight_within_its_share() -> None:
    lock = asyncio.Lock()
    await lock.acquire()  # the loop is processing a batch that never ends
    started = time.monotonic()
    assert not await drain_within(0.2, lock, committers())
    assert time.monotonic() - started < 1.0


@pytest.mark.asyncio
@pytest.mark.parametrize("error", [RuntimeError, TimeoutError])
async def test_a_failed_publication_is_raised_by_the_drain(error: type[Exception]) -> None:
    async def failed() -> None:
        raise error("the publication failed")  # a TimeoutError too: not the drain's own

    with pytest.raises(error, match="the publication failed"):
        await drain_within(1.0, asyncio.Lock(), committers(failed))


def test_laps_time_each_step() -> None:
    laps = Laps()
    time.sleep(0.02)
    laps.lap("first")
    laps.lap("second")
    assert laps.seconds["first"] >= 0.02
    assert laps.seconds["second"] < 0.02
