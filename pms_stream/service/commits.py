"""A partition's publications in the background, so that the loop fetches and processes the next
batches while the previous ones commit (issue 13).

The loop stages each processed batch (its outputs and the checkpoint after it) here. Once the
oldest staged batch is `commit_interval_ms` old (a timer), or the staged batches hold
`transaction_max_records` input records, everything staged is taken at once and published
(`Publisher.flush`: one transaction exactly once) by a background task. At most one publication
per partition is in flight, so the partition's transactions commit in order; batches processed
meanwhile are staged for the next. Exactly once holds because a publication carries the outputs
of its batches with the checkpoint after the last of them, taken together, and because nothing
is published after a failed publication: its error stays (`error`), the loop raises it (the
service ends, as when the loop published itself), a revocation drops the partition's task so
that it replays from the committed checkpoint. The size bound waits for the publication in
flight before it starts the next, so at most two batches' worth of outputs are held.

Flow: partition tasks -> **committer** (staged, one publication in flight) -> publisher.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pms_stream.service.publisher import Staged
from pms_stream.stream.outputs import Output
from pms_stream.stream.partition_task import Checkpoint

__all__ = ["Committer"]


class Committer:
    """One partition's staged batches and its publication in flight (see the module)."""

    def __init__(
        self,
        staged: Staged,
        flush: Callable[[Staged], Awaitable[None]],
        *,
        interval_ms: int,
        max_records: int,
    ) -> None:
        self.staged = staged
        self._flush = flush
        self._interval_s = interval_ms / 1000
        self._max_records = max_records
        self._inflight: asyncio.Task[None] | None = None
        self.started: float | None = None  # when the publication in flight started (monotonic)
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.error: Exception | None = None  # a failed publication's: nothing is published after

    @property
    def busy(self) -> bool:
        return self._inflight is not None

    async def stage(
        self, outputs: list[Output], checkpoint: Checkpoint | None, records: int, newest: int | None
    ) -> None:
        """Stage a processed batch (`Staged.add`). Its publication starts when the oldest staged
        batch is due, or now when the staged batches hold `max_records` input records (after
        the publication in flight, which this waits for)."""
        self.staged.add(outputs, checkpoint, records, newest)
        if self.staged.records >= self._max_records:
            await self.wait()
            self.start()
        else:
            self._arm()

    def start(self) -> None:
        """Publish everything staged now, in the background, unless a publication is in flight
        (it arms the timer again when it ends), one failed, or there is nothing staged."""
        if self._inflight is not None or self.error is not None or self._closed:
            return
        if self.staged.since is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.started = time.monotonic()
        self._inflight = asyncio.create_task(self._run(self.staged.take()))

    async def wait(self) -> None:
        """Until the publication in flight (if any) ends; raises the error of a failed one.
        Cancelling the waiter does not cancel the publication."""
        task = self._inflight
        if task is not None:
            await asyncio.wait({task})
        self.check()

    async def drain(self) -> None:
        """Publish everything staged and wait until it is committed (revocation, stop,
        undecodable batch); raises the error of a failed publication."""
        while self._inflight is not None or (self.staged.since is not None and not self._closed):
            self.start()  # unless one is in flight (a timer may have started it meanwhile)
            await self.wait()
        self.check()

    def check(self) -> None:
        """Raise the error of a failed publication, if one failed."""
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        """Stop the timer and cancel the publication in flight (the service is ending or the
        partition was dropped: whatever was not committed replays from the checkpoint)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = self._inflight
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    def _arm(self) -> None:
        """Start the publication when the oldest staged batch is due (a timer)."""
        since = self.staged.since
        if since is None or self._timer is not None or self._inflight is not None:
            return
        delay = max(since + self._interval_s - time.monotonic(), 0.0)
        self._timer = asyncio.get_running_loop().call_later(delay, self._due)

    def _due(self) -> None:
        self._timer = None
        self.start()

    async def _run(self, batch: Staged) -> None:
        try:
            await self._flush(batch)
        except Exception as exc:
            self.error = exc
            return
        finally:
            self._inflight = self.started = None
        self._arm()
