"""The stall watchdog with a fake clock: beats keep it quiet, a stall is reported once (the
runner then stops, and its stop deadline ends the process: tests/service/test_stopping.py)."""

from __future__ import annotations

import pytest

from pms_stream.service.watchdog import Watchdog


class Fake:
    def __init__(self) -> None:
        self.now = 0.0
        self.stalls: list[float] = []
        self.beating = True
        self.dog: Watchdog | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.beating and self.dog is not None and self.now < 100:
            self.dog.beat()
        if self.now > 1000:
            raise TimeoutError("the watchdog never fired")


def make(fake: Fake) -> Watchdog:
    dog = Watchdog(
        10,
        on_stall=fake.stalls.append,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    fake.dog = dog
    return dog


@pytest.mark.asyncio
async def test_a_stalled_loop_is_reported_once_and_the_watch_ends() -> None:
    fake = Fake()
    dog = make(fake)
    dog.beat()
    assert dog.healthy()
    await dog.watch()  # beats until t=100, then nothing: it fires past t=110
    assert dog.stalled
    assert not dog.healthy()
    assert len(fake.stalls) == 1
    assert fake.stalls[0] > 10
    assert 110 <= fake.now <= 115  # (the runner's stop deadline ends the process: stopping.py)


@pytest.mark.asyncio
async def test_before_the_loop_runs_there_is_no_stall() -> None:
    fake = Fake()
    fake.beating = False
    dog = make(fake)
    with pytest.raises(TimeoutError):
        await dog.watch()  # never armed: never fires
    assert dog.healthy()
    assert not fake.stalls


def test_a_beat_dated_back_to_the_oldest_work_in_flight_counts_its_age() -> None:
    fake = Fake()
    dog = make(fake)
    fake.now = 30.0
    dog.beat(at=25.0)  # the loop runs, but a publication has been in flight since 25
    assert dog.age == 5.0
    assert dog.healthy()
    fake.now = 36.0
    dog.beat(at=25.0)
    assert not dog.healthy()  # in flight for 11 s > 10
