"""The committer without Kafka: one publication in flight per partition, in order, the next
batches staged meanwhile; a failed publication stops the partition's publications; and the
crash-anywhere property with the commits overlapping the next batches (the partition task and
the committer, a crash while a transaction is in flight landing it or not: the committed outputs
equal an uninterrupted run's, none lost, none twice)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pms_stream.service.commits import Committer
from pms_stream.service.publisher import Staged
from pms_stream.stream.outputs import Output, Sink
from pms_stream.stream.partition_task import Checkpoint
from tests.service.test_partition_task import messages, reopened, task, until_crash, values


def out(n: int) -> Output:
    return Output(Sink.STATEMENTS, None, str(n).encode(), ())


@dataclass
class Broker:
    """Publications held in flight until `land` (or `fail`) ends the oldest."""

    committed: list[Output] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    inflight: list[tuple[Staged, asyncio.Future[None]]] = field(default_factory=list)
    publications: int = 0

    async def flush(self, staged: Staged) -> None:
        done = asyncio.get_running_loop().create_future()
        self.inflight.append((staged, done))
        self.publications += 1
        await done

    def land(self) -> None:
        """The oldest publication in flight commits: its outputs and checkpoint at once."""
        staged, done = self.inflight.pop(0)
        self.committed += staged.outputs
        if staged.checkpoint is not None:
            self.checkpoint = staged.checkpoint
        done.set_result(None)

    def fail(self, error: Exception) -> None:
        _, done = self.inflight.pop(0)
        done.set_exception(error)


async def tick() -> None:
    for _ in range(4):  # the timer, the task's start, its first step
        await asyncio.sleep(0)


async def settle(broker: Broker, work: asyncio.Future[None] | asyncio.Task[None]) -> None:
    """Run `work` to its end, landing every publication it waits for."""
    await tick()
    while not work.done():
        if broker.inflight:
            broker.land()
        await tick()
    await work


def cp(offset: int) -> Checkpoint:
    return Checkpoint.from_committed(offset, "")


@pytest.mark.asyncio
async def test_one_publication_in_flight_and_the_next_batches_staged_meanwhile() -> None:
    broker = Broker()
    commits = Committer(Staged(), broker.flush, interval_ms=0, max_records=1000)
    await commits.stage([out(0)], cp(1), 1, None)
    await tick()
    assert commits.busy
    assert len(broker.inflight) == 1
    await commits.stage([out(1)], cp(2), 1, None)
    await commits.stage([out(2)], cp(3), 1, None)
    await tick()
    assert len(broker.inflight) == 1  # the later batches wait, staged
    broker.land()
    await tick()
    assert len(broker.inflight) == 1
    assert broker.inflight[0][0].checkpoint == cp(3)
    broker.land()
    await tick()
    assert [o.value for o in broker.committed] == [b"0", b"1", b"2"]
    assert broker.checkpoint == cp(3)
    assert broker.publications == 2
    assert not commits.busy


@pytest.mark.asyncio
async def test_the_size_bound_waits_for_the_publication_in_flight() -> None:
    broker = Broker()
    commits = Committer(Staged(), broker.flush, interval_ms=60_000, max_records=2)
    await commits.stage([out(0)], cp(1), 2, None)  # full: published now
    await tick()
    staging = asyncio.ensure_future(commits.stage([out(1)], cp(2), 2, None))
    await tick()
    assert not staging.done()  # the second full batch waits for the first publication
    broker.land()
    await tick()
    assert staging.done()
    assert broker.inflight[0][0].outputs == [out(1)]
    await settle(broker, asyncio.ensure_future(commits.drain()))
    assert broker.checkpoint == cp(2)


@pytest.mark.asyncio
async def test_nothing_is_published_after_a_failed_publication() -> None:
    broker = Broker()
    commits = Committer(Staged(), broker.flush, interval_ms=0, max_records=1000)
    await commits.stage([out(0)], cp(1), 1, None)
    await tick()
    await commits.stage([out(1)], cp(2), 1, None)
    broker.fail(ValueError("fenced"))
    await tick()
    assert not broker.inflight
    assert broker.publications == 1
    with pytest.raises(ValueError, match="fenced"):
        commits.check()
    with pytest.raises(ValueError, match="fenced"):
        await commits.drain()
    assert broker.publications == 1
    assert broker.checkpoint is None


@pytest.mark.asyncio
async def test_close_cancels_the_publication_in_flight() -> None:
    broker = Broker()
    commits = Committer(Staged(), broker.flush, interval_ms=0, max_records=1000)
    await commits.stage([out(0)], cp(1), 1, None)
    await tick()
    await commits.close()
    assert not commits.busy
    assert broker.inflight[0][1].cancelled()
    await commits.stage([out(1)], cp(2), 1, None)
    await tick()
    assert broker.publications == 1


@settings(max_examples=150, deadline=None)
@given(
    pack=st.integers(1, 6),
    keys=st.sampled_from([[None], [b"a", b"b"], [b"a", None, b"c"]]),
    batch=st.integers(1, 7),
    crash_points=st.lists(st.integers(0, 200), max_size=2),
    lands=st.lists(st.booleans(), min_size=1, max_size=20),
    landed_at_crash=st.booleans(),
    interval_ms=st.sampled_from([0, 10**9]),
    max_records=st.integers(1, 12),
)
def test_crash_anywhere_with_overlapping_commits_restores_exactly_once(
    *,
    pack: int,
    keys: list[bytes | None],
    batch: int,
    crash_points: list[int],
    lands: list[bool],
    landed_at_crash: bool,
    interval_ms: int,
    max_records: int,
) -> None:
    msgs = messages(keys, pack)
    reference = task()
    expected: list[Output] = []
    for m in msgs:
        expected += reference.process(m)
    expected += reference.flush_all()
    crashes = sorted({c % (len(msgs) + 1) for c in crash_points})

    async def run() -> list[Output]:
        broker = Broker()

        def committer() -> Committer:
            staged = Staged(broker.checkpoint)
            return Committer(staged, broker.flush, interval_ms=interval_ms, max_records=max_records)

        t, commits, position, step = task(), committer(), 0, 0
        while position < len(msgs):
            end = min(position + batch, len(msgs))
            outputs, crashed = until_crash(t, msgs[position:end], crashes[0] if crashes else None)
            if crashed:
                crashes.pop(0)
                if broker.inflight and landed_at_crash:
                    broker.land()  # the transaction in flight committed just before the crash
                await commits.close()  # ... or it is aborted
                broker.inflight.clear()
                restored = reopened(broker.checkpoint)
                t, commits = task(restored), committer()
                position = restored.offset if restored else 0
                continue
            # the next batch is staged while the previous publication may still be in flight
            await settle(
                broker,
                asyncio.ensure_future(commits.stage(outputs, t.checkpoint(), end - position, None)),
            )
            position = end
            if broker.inflight and lands[step % len(lands)]:
                broker.land()
            step += 1
            await tick()
        await commits.stage(t.flush_all(), t.checkpoint(), 0, None)
        await settle(broker, asyncio.ensure_future(commits.drain()))
        return broker.committed

    assert values(asyncio.run(run())) == values(expected)
