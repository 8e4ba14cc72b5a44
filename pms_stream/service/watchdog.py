"""The stall watchdog: a processing loop that stops beating is detected, and the process ends.

The loop calls `beat()` at every iteration. `watch()` runs beside it: when no beat came for
`stall_timeout_s`, it marks the service unhealthy (`/healthz` fails) and calls `on_stall`: the
runner sets exit status 3 and asks for a stop, whose deadline (`stopping.StopDeadline`, a thread)
ends the process if it is still there at the stop's bound (a loop stuck inside a call never sees
the stop flag), so a supervisor restarts it instead of it hanging silently. Clocks are
injectable for tests.

Flow: runner loop -> **watchdog** -> health / stop / exit.
"""

from __future__ import annotations

import asyncio
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
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.stall_timeout_s = stall_timeout_s
        self._on_stall = on_stall
        self._clock = clock
        self._sleep = sleep
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
        """Run until cancelled, or until a stall (then `on_stall` once, and return)."""
        interval = max(self.stall_timeout_s / 4, 0.05)
        while True:
            await self._sleep(interval)
            if self.armed and self.age > self.stall_timeout_s:
                self.stalled = True
                self._on_stall(self.age)
                return
