"""The partition task without Kafka: outputs, keys, limits, timeouts, and the exactly-once
replay (crash anywhere, restore from the last committed checkpoint: the committed outputs equal
an uninterrupted run's, none lost, none twice)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from pms_stream.stream.outputs import Output, Sink
from pms_stream.stream.partition_task import (
    OFFSET_METADATA_MAX,
    Checkpoint,
    InputMessage,
    Limits,
    PartitionTask,
    max_open_keys_for,
    metadata_bound,
)
from tests.core import statements_by_hand as sh

FIXED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def task(
    checkpoint: Checkpoint | None = None,
    fast: bool = True,
    hold_single: bool = False,
    **limits: float,
) -> PartitionTask:
    return PartitionTask(
        "in",
        0,
        checkpoint=checkpoint,
        limits=Limits(**limits),  # type: ignore[arg-type]
        wall_clock=lambda: FIXED,
        fast=fast,
        hold_single=hold_single,
    )


def messages(keys: list[bytes | None], pack: int) -> list[InputMessage]:
    """The hand-built transmission for each key, interleaved, `pack` records per message."""
    streams = {k: list(sh.TRANSMISSION) + list(sh.BARE) for k in keys}
    out: list[InputMessage] = []
    while any(streams.values()):
        for k in keys:
            records, streams[k] = streams[k][:pack], streams[k][pack:]
            if records:
                value = "\n".join(records).encode()
                out.append(InputMessage(len(out), k, value))
    return out


def values(outputs: list[Output]) -> list[tuple[Sink, bytes | None, bytes]]:
    return [(o.sink, o.key, o.value) for o in outputs]


def until_crash(
    t: PartitionTask, msgs: list[InputMessage], crash: int | None
) -> tuple[list[Output], bool]:
    """`msgs` through `t` until the first at or past offset `crash`, where the process dies:
    the outputs so far, and whether it died."""
    outputs: list[Output] = []
    for m in msgs:
        if crash is not None and m.offset >= crash:
            return outputs, True
        outputs += t.process(m)
    return outputs, False


def reopened(checkpoint: Checkpoint | None) -> Checkpoint | None:
    """The checkpoint a new owner reads back: the committed offset and its metadata."""
    if checkpoint is None:
        return None
    return Checkpoint.from_committed(checkpoint.offset, checkpoint.metadata())


def test_outputs_and_keys() -> None:
    t = task()
    out: list[Output] = []
    for m in messages([b"filer-B76"], 5):
        out += t.process(m)
    out += t.flush_all()
    sinks = [o.sink for o in out]
    assert sinks.count(Sink.STATEMENTS) == 4  # two block statements, two bare
    assert sinks.count(Sink.METRICS) == 0  # the summaries: when published (test_summaries)
    keys = [o.key for o in out if o.sink is Sink.STATEMENTS]
    assert keys[0] == b"B76||2726P10001|preliminary"
    assert keys[1] == b"B76||2726P10001|final"
    doc = msgspec.json.decode(next(o.value for o in out if o.sink is Sink.STATEMENTS))
    assert doc["source"] == {"topic": "in", "partition": 0, "first_offset": 0, "last_offset": 2}


def test_checkpoint_is_the_low_water_mark_and_metadata_round_trips() -> None:
    t = task()
    msgs = messages([b"a", b"b"], 3)
    for m in msgs[:5]:
        t.process(m)
    cp = t.checkpoint()
    assert cp is not None
    assert cp.emitted_through == 5
    assert cp.offset == 0  # key a opened at 0 with its A record
    assert cp.opened_at == (0, 1)
    assert cp.metadata() == "2:5:0,1"
    again = Checkpoint.from_committed(cp.offset, cp.metadata())
    assert again == cp
    assert b"a" not in cp.metadata().encode()
    assert Checkpoint.from_committed(7, "") == Checkpoint(7, 7)
    assert Checkpoint.from_committed(7, "not json") == Checkpoint(7, 7)
    assert Checkpoint.from_committed(7, "2:x!:") == Checkpoint(7, 7)


def test_version_1_metadata_still_restores() -> None:
    """A checkpoint committed before the compact encoding (JSON with key hashes) restores."""
    old = '{"v":1,"n":12,"k":{"00112233aabbccdd":9,"ffeeddccbbaa9988":4}}'
    assert Checkpoint.from_committed(4, old) == Checkpoint(4, 12, (4, 9))


@given(
    st.lists(st.integers(0, 2**63 - 2), min_size=1, max_size=50, unique=True),
    st.integers(0, 2**20),
)
def test_metadata_round_trips_for_any_offsets(opened: list[int], ahead: int) -> None:
    opened.sort()
    through = min(opened[-1] + 1 + ahead, 2**63 - 1)
    cp = Checkpoint(opened[0], through, tuple(opened))
    assert Checkpoint.from_committed(cp.offset, cp.metadata()) == cp
    assert len(cp.metadata()) <= metadata_bound(len(opened))


def test_metadata_fits_kafkas_limit_for_every_accepted_max_open_keys() -> None:
    """Finding 4 of issue 12: 200 open keys made 6 KB of metadata (OffsetMetadataTooLarge)."""
    limit = max_open_keys_for()
    assert limit >= 300
    assert metadata_bound(limit) <= OFFSET_METADATA_MAX < metadata_bound(limit + 1)
    spread = (2**63 - 1) // limit  # the widest spread of opening offsets
    worst = Checkpoint(0, 2**63 - 1, tuple(i * spread for i in range(limit)))
    assert len(worst.metadata()) <= OFFSET_METADATA_MAX
    t = task(max_open_keys=300)
    for i in range(300):
        t.process(InputMessage(1_000_000_000 + i * 7919, f"key-{i}".encode(), b"A" * 80))
    cp = t.checkpoint()
    assert cp is not None
    assert len(cp.opened_at) <= 300
    assert len(cp.metadata()) <= OFFSET_METADATA_MAX


def test_oversized_and_empty_messages_are_rejects() -> None:
    t = task(max_message_bytes=100)
    out = t.process(InputMessage(0, None, b"Q" * 200)) + t.process(InputMessage(1, None, None))
    reasons = [msgspec.json.decode(o.value)["reason"] for o in out]
    assert "200 bytes is over the limit of 100" in reasons[0]
    assert "tombstone" in reasons[1]
    assert t.checkpoint() == Checkpoint(2, 2)


def test_idle_timeout_flushes_with_the_reason() -> None:
    now = [0.0]
    t = PartitionTask(
        "in", 3, limits=Limits(idle_timeout_s=10), clock=lambda: now[0], wall_clock=lambda: FIXED
    )
    t.process(InputMessage(0, None, "\n".join(sh.TRANSMISSION[:4]).encode()))
    assert t.expire() == []
    now[0] = 11.0
    (out,) = t.expire()
    doc = msgspec.json.decode(out.value)
    assert out.sink is Sink.REJECTS
    assert doc["kind"] == "statement"
    assert doc["reason"].endswith("(idle timeout)")
    assert doc["time"] == "2026-11-20T12:00:00Z"
    assert doc["raw"].split("\n") == sh.TRANSMISSION[1:4]
    assert t.checkpoint() == Checkpoint(1, 1)


def test_bare_statement_completes_at_idle_timeout() -> None:
    now = [0.0]
    t = PartitionTask("in", 0, limits=Limits(idle_timeout_s=5), clock=lambda: now[0])
    t.process(InputMessage(0, b"k", "\n".join(sh.PRELIMINARY_Q).encode()))
    now[0] = 6.0
    out = t.expire()
    assert [o.sink for o in out] == [Sink.STATEMENTS]


def test_too_many_open_keys_flushes_the_least_recently_active() -> None:
    t = task(max_open_keys=2)
    out: list[Output] = []
    for i, k in enumerate([b"a", b"b", b"c"]):
        out += t.process(InputMessage(i, k, sh.PRELIMINARY_Q[0].encode()))
    assert t.open_streams == 2
    (flushed,) = [o for o in out if o.sink is Sink.REJECTS]
    doc = msgspec.json.decode(flushed.value)
    assert doc["reason"] == (
        "Q1 of daily statement 2704A00001 is not followed by its Q2 (too many open stream keys)"
    )


@settings(max_examples=200, deadline=None)
@given(
    pack=st.sampled_from([1, 2, 3, 4, 5, 6, 12, 16, 28, 50]),
    keys=st.sampled_from([[None], [b"a", b"b"], [b"a", None, b"c"]]),
    batch=st.integers(1, 7),
    crash_at=st.integers(0, 200),
    second_crash=st.integers(0, 200),
    fast=st.booleans(),
    hold_single=st.booleans(),
)
def test_crash_anywhere_restores_exactly_once(  # noqa: PLR0917 - hypothesis arguments
    pack: int,
    keys: list[bytes | None],
    batch: int,
    crash_at: int,
    second_crash: int,
    fast: bool,
    hold_single: bool,
) -> None:
    """The committed outputs equal an uninterrupted run's of the assembler alone, with the fast
    path (blocks held across messages at every pack, a crash anywhere inside them) and
    without."""
    msgs = messages(keys, pack)
    reference = task(fast=False)
    expected: list[Output] = []
    for m in msgs:
        expected += reference.process(m)
    expected += reference.flush_all()

    committed: list[Output] = []
    checkpoint: Checkpoint | None = None
    crashes = sorted({crash_at % (len(msgs) + 1), second_crash % (len(msgs) + 1)})
    position = 0
    t = task(fast=fast, hold_single=hold_single)
    while True:
        end = min(position + batch, len(msgs))
        pending, crashed = until_crash(t, msgs[position:end], crashes[0] if crashes else None)
        if crashed:
            crashes.pop(0)
            # the transaction in flight is aborted; a new owner restores from the commit
            restored = reopened(checkpoint)
            t = task(restored, fast, hold_single)
            position = restored.offset if restored else 0
            continue
        position = end
        cp = t.checkpoint()
        committed += pending
        if cp is not None:
            checkpoint = cp
        if position >= len(msgs):
            break
    committed += t.flush_all()
    assert values(committed) == values(expected)


def test_an_undecodable_batch_is_skipped_with_one_dead_letter_and_not_again_on_replay() -> None:
    t = task()
    t.process(InputMessage(0, b"a", sh.TRANSMISSION[0].encode()))  # an open transmission
    (out,) = t.skip(1, 4, "zstd: DecompressionError('bad')", b"\x00batch")
    doc = msgspec.json.decode(out.value)
    assert out.sink is Sink.REJECTS
    assert doc["kind"] == "message"
    assert doc["source"] == {"topic": "in", "partition": 0, "first_offset": 1, "last_offset": 4}
    assert doc["reason"].startswith("record batch at offsets 1-4 could not be decoded (zstd:")
    assert doc["raw"] == "\x00batch"
    assert t.next_offset == 5
    assert t.skip(1, 4, "again", b"") == []  # a re-delivery of the same batch
    cp = t.checkpoint()
    assert cp == Checkpoint(0, 5, (0,))
    again = task(Checkpoint.from_committed(cp.offset, cp.metadata()))
    assert again.process(InputMessage(0, b"a", sh.TRANSMISSION[0].encode())) == []
    assert again.skip(1, 4, "zstd", b"") == []  # published before the crash: not twice
    assert not again.restoring
