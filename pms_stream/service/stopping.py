"""The stop, bounded: whatever asked for it (SIGTERM/SIGINT, a failure, a stall), the process
ends within `shutdown_timeout_s` and a margin, and its log says where the time went.

`StopDeadline` is armed when the stop is asked for and ends the process `seconds` later if it
is still there. It runs on a thread of its own, so a stop stuck anywhere (an await that does not
end, a cancellation that is never honoured, asyncio.run waiting for leftover tasks, the event
loop itself blocked) still ends within the bound a supervisor expects (Kubernetes sends SIGKILL
30 s after SIGTERM by default). `drain_within` gives the graceful drain (publish and commit what
was processed) its share of the time; what is not committed by then replays after the restart.
`Laps` times the steps of closing the Kafka clients for the "kafka closed" line. `Stop` holds
them together for the runner: the flag the loop watches, when it was asked for, the time left.

Flow: stop asked (runner) -> **drain within its share -> close, timed -> deadline** -> exit.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterable

from pms_stream.service.logs import get_logger
from pms_stream.service.partitions import Partition

__all__ = ["STOP_MARGIN_S", "Laps", "Stop", "StopDeadline", "drain_within"]

STOP_MARGIN_S = 5.0  # after shutdown_timeout_s, the deadline's time for the last lines

log = get_logger("pms_stream.service")


class StopDeadline:
    """Ends the process `seconds` after `arm()` unless `disarm()` came first (see the module).
    `exit_code` is read when it fires (the service's own, else 1)."""

    def __init__(
        self,
        seconds: float,
        *,
        exit_code: Callable[[], int],
        hard_exit: Callable[[int], None] = os._exit,
    ) -> None:
        self.seconds = seconds
        self._exit_code = exit_code
        self._hard_exit = hard_exit
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.fired = False

    def arm(self) -> None:
        """Start the countdown, once: a second stop request does not extend it."""
        with self._lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.name = "pms-stop-deadline"
            self._timer.start()

    def disarm(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def _expire(self) -> None:
        self.fired = True
        code = self._exit_code() or 1
        log.critical("stop took longer than allowed; exiting", seconds=self.seconds, exit_code=code)
        self._hard_exit(code)


async def drain_within(seconds: float, lock: asyncio.Lock, parts: Iterable[Partition]) -> bool:
    """Drain the partitions' committers (`parts` read once the processing lock is held: a live
    view) for at most `seconds`; False (logged) when they did not end in time. A failed
    publication's error is raised."""
    started = time.monotonic()
    bound = asyncio.timeout(seconds)
    try:
        async with bound, lock:
            await asyncio.gather(*(part.commits.drain() for part in parts))
    except TimeoutError:
        if not bound.expired():
            raise  # a publication that failed with a timeout of its own: its error, not ours
        log.error(
            "staged outputs not committed in time at the stop; they replay",
            seconds=round(time.monotonic() - started, 3),
        )
        return False
    log.info("drained", seconds=round(time.monotonic() - started, 3))
    return True


class Laps:
    """Seconds each step of a sequence took (`lap(step)` at the end of each)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = round(now - self._mark, 3)
        self._mark = now


class Stop:
    """A service's stop: `ask()` sets `event` (what the loop and the start-up watch) and arms
    `deadline` the first time; `left(share)` is what remains of `share` of `seconds` since then.
    `Stop.bounded(seconds, exit_code)`: the deadline at `seconds` + `STOP_MARGIN_S`."""

    def __init__(self, seconds: float, deadline: StopDeadline) -> None:
        self.seconds = seconds
        self.deadline = deadline
        self.event = asyncio.Event()
        self.asked: float | None = None  # monotonic

    @classmethod
    def bounded(cls, seconds: float, exit_code: Callable[[], int]) -> Stop:
        return cls(seconds, StopDeadline(seconds + STOP_MARGIN_S, exit_code=exit_code))

    def ask(self, signal_name: str | None = None) -> None:
        if self.asked is None:
            self.asked = time.monotonic()
            self.deadline.arm()
            if signal_name is not None:
                log.info("stop requested", signal=signal_name)
        self.event.set()

    def left(self, share: float = 1.0) -> float:
        asked = self.asked if self.asked is not None else time.monotonic()
        return max(asked + share * self.seconds - time.monotonic(), 0.0)
