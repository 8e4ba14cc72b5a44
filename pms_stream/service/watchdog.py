"""The stall watchdog: a processing loop that stops beating is detected, and the process ends.

The loop calls `beat()` at every iteration. `watch()` runs beside it: when no beat came for
`stall_timeout_s`, it marks the service unhealthy (`/healthz` fails), asks for a graceful stop,
and if the process is still there `grace_s` later (a loop stuck inside a call never sees the stop
flag), ends it with `hard_exit` (default `os._exit(3)`), so a supervisor restarts it instead of
it hanging silently. Clocks and the exit are injectable for tests.

Flow: runner loop -> **watchdog** -> health / stop / exit.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

__all__ = ["EXIT_STALLED", "Watchdog"]

EXIT_STALLED = 3


class Watchdog:
    def __init__(
        self,
        stall_timeout_s: float,
        *,
        on_stall: Callable[[float], None],
        grace_s: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        hard_exit: Callable[[int], None] = os._exit,
    ) -> None:
        self.stall_timeout_s = stall_timeout_s
        self.grace_s = grace_s
        self._on_stall = on_stall
        self._clock = clock
        self._sleep = sleep
        self._hard_exit = hard_exit
        self._last = clock()
        self.armed = False  # beats are expected only once the loop runs
        self.stalled = False

    def beat(self, at: float | None = None) -> None:
        """The loop is alive; `at` (a time of `clock`) when its oldest work still waited on
        began earlier than now (a publication in flight: the runner)."""
        self._last = self._clock() if at is None else at
        self.armed = True

    @property
    def age(self) -> float:
        """Seconds since the last beat."""
        return self._clock() - self._last

    def healthy(self) -> bool:
        return not self.stalled and (not self.armed or self.age <= self.stall_timeout_s)

    async def watch(self) -> None:
        """Run until cancelled, or until a stall ends the process."""
        interval = max(self.stall_timeout_s / 4, 0.05)
        while True:
            await self._sleep(interval)
            if self.armed and self.age > self.stall_timeout_s:
                self.stalled = True
                self._on_stall(self.age)
                await self._sleep(self.grace_s)
                self._hard_exit(EXIT_STALLED)
                return
