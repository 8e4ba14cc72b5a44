"""The partition task's fast path (MS blocks held across the messages of their stream key, then
`fastblock.statement_line`; by default and with `hold_single`) against the assembler alone
(`PartitionTask(fast=False)`): the same outputs (sink, key, value bytes, headers, event), the
same record counts and the same state (checkpoint, open stream keys) after every message, on
generated input packed 1, 7 and 100 records per message, on mutated input and on hand-made bad
input (docs/performance.md, "The fast path in the partition task"). Each test also counts the
statements the fast path wrote, so that an agreement never comes from declining everything.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.mutate import Mutator
from pms_stream.generator import GenerateOptions, generate
from pms_stream.packing import messages
from pms_stream.statements.model import Event
from pms_stream.stream.outputs import Output, Sink
from pms_stream.stream.partition_task import Checkpoint, InputMessage, Limits, PartitionTask
from pms_testkit import records_by_hand as by_hand
from tests.core import statements_by_hand as hand
from tests.core import test_fastblock

taken = test_fastblock.taken  # the fixture counting the statements the fast path wrote
SECRET = b"statement-key-secret"
FIXED = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)


# what is compared of each output: sink, key, value, headers, event
Seen = tuple[Sink, bytes | None, bytes, tuple[tuple[str, bytes], ...], Event | None]


# called after each message of a run: the message's index, the task, its clock -> outputs
Between = Callable[[int, PartitionTask, list[float]], list[Output]]


def _run(
    msgs: list[InputMessage],
    fast: bool,
    limits: Limits | None = None,
    between: Between | None = None,
    hold_single: bool = True,
) -> tuple[list[Seen], list[object]]:
    """Outputs, and the task's state (and record counts) after each message, of one run."""
    now = [0.0]
    task = PartitionTask(
        "in",
        2,
        key_secret=SECRET,
        fast=fast,
        hold_single=hold_single,
        wall_clock=lambda: FIXED,
        limits=limits,
        clock=lambda: now[0],
    )
    outputs: list[Output] = []
    states: list[object] = []
    for n, m in enumerate(msgs):
        outputs += task.process(m)
        if between is not None:
            outputs += between(n, task, now)
        states.append((task.checkpoint(), task.open_streams, dict(task.take_stats())))
    stats = dict(task.take_stats())
    outputs += task.flush_all()
    states.append((stats, dict(task.take_stats())))
    return [(o.sink, o.key, o.value, o.headers, o.event) for o in outputs], states


def _both(
    msgs: list[InputMessage], limits: Limits | None = None, between: Between | None = None
) -> list[Seen]:
    """Outputs of the assembler alone; the same with the fast path holding blocks that begin in
    a message of one record (`hold_single`, the more held) and without (the default)."""
    precise, precise_states = _run(msgs, False, limits, between)
    assert _run(msgs, True, limits, between, hold_single=False) == (precise, precise_states)
    fast, fast_states = _run(msgs, True, limits, between)
    for n, (got, want) in enumerate(zip(fast, precise, strict=False)):
        assert got == want, f"output {n} differs:\nfast:    {got!r}\nprecise: {want!r}"
    assert len(fast) == len(precise)
    assert fast_states == precise_states
    return fast


def _packed(
    data: bytes, pack: int, key_by: str = "filer", concatenate: bool = False
) -> list[InputMessage]:
    packed = messages(io.BytesIO(data), pack, key_by, concatenate)
    return [InputMessage(n, key, value) for n, (key, value) in enumerate(packed)]


def _generated(options: GenerateOptions) -> bytes:
    return b"\n".join(generate(options).records)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    pack=st.sampled_from([1, 7, 100]),
    framing=st.sampled_from(["block", "block", "bare"]),
    key_by=st.sampled_from(["filer", "transmission", "none"]),
    concatenate=st.booleans(),
    finals=st.sampled_from([0.0, 0.6, 1.0]),
    deletions=st.sampled_from([0.0, 0.5]),
    bad=st.integers(0, 4),
    bad_inside=st.sampled_from([0.0, 0.5, 1.0]),
    daily_max=st.integers(1, 8),
)
def test_generated_input_gives_the_same_outputs(  # noqa: PLR0917 - hypothesis arguments
    seed: int,
    pack: int,
    framing: str,
    key_by: str,
    concatenate: bool,
    finals: float,
    deletions: float,
    bad: int,
    bad_inside: float,
    daily_max: int,
) -> None:
    options = GenerateOptions(
        statements=8,
        seed=seed,
        framing=framing,  # type: ignore[arg-type]
        finals=finals,
        deletions=deletions,
        bad=bad,
        bad_inside=bad_inside,
        daily=(1, daily_max),
    )
    _both(_packed(_generated(options), pack, key_by, concatenate))


@pytest.mark.parametrize("pack", [1, 7, 100])
def test_clean_blocks_take_the_fast_path_when_a_message_holds_them(
    pack: int, taken: list[int]
) -> None:
    """Blocks are held across the messages of their stream key: every clean block takes the
    fast path, whether a message holds it whole (most at 100 records a message, some at 7) or
    one record of it (at 1)."""
    small = (1, 1) if pack == 7 else (1, 6)  # daily statements per statement
    options = GenerateOptions(statements=60, seed=pack, finals=0.7, deletions=0.5, daily=small)
    data = _generated(options)
    out = _both(_packed(data, pack))
    statements = sum(1 for o in out if o[0] is Sink.STATEMENTS)
    assert statements == 60
    assert taken[0] >= 55


def test_mutated_messages_give_the_same_outputs(taken: list[int]) -> None:
    """The fuzzer's mutations of generated transmissions (then packed), and of the packed
    messages themselves (bytes, records, lines changed inside a message)."""
    seeds = [
        _generated(GenerateOptions(statements=6, seed=s, line_end=end, deletions=0.5))  # type: ignore[arg-type]
        for s, end in enumerate(("lf", "crlf", "none", "lf"))
    ]
    mutate = Mutator("framing", seeds, seed=20261201)
    for n in range(150):
        _both(_packed(mutate(), (1, 7, 100)[n % 3], concatenate=n % 4 == 0))
    rng = random.Random(13)
    clean = _packed(seeds[0], 100)
    values = [m.value or b"" for m in clean]
    for _ in range(100):
        per_message = Mutator("framing", values, seed=rng.randrange(1 << 30))
        changed = list(clean)
        at = rng.randrange(len(changed))
        changed[at] = InputMessage(at, changed[at].key, per_message())
        _both(changed)
    assert taken[0] > 300


def _hand_variants() -> Iterator[list[str]]:
    """The hand-made transmission, each record with one field-sized change, dropped, doubled;
    and every hand-built record of `records_by_hand` put inside the first block."""
    records = hand.TRANSMISSION
    yield records
    rng = random.Random(7)
    for i, record in enumerate(records):
        for _ in range(6):
            at = rng.randrange(80)
            changed = record[:at] + rng.choice(' 09AZaz"\\-*') + record[at + 1 :]
            yield [*records[:i], changed, *records[i + 1 :]]
        yield records[:i] + records[i + 1 :]
        yield records[: i + 1] + records[i:]
    for record in by_hand.ALL.values():
        yield [*records[:5], record, *records[5:]]


@pytest.mark.parametrize("pack", [1, 3, 7, 28])
def test_hand_made_bad_input_gives_the_same_outputs(pack: int, taken: list[int]) -> None:
    for records in _hand_variants():
        data = "\n".join(records).encode()
        _both(_packed(data, pack))
        # two stream keys interleaved on the partition
        a, b = _packed(data, pack), _packed(data, pack, key_by="none")
        mixed = [m for pair in zip(a, b, strict=False) for m in pair]
        _both([InputMessage(n, m.key, m.value) for n, m in enumerate(mixed)])
    assert taken[0] > 100 or pack < len(hand.PRELIMINARY_BLOCK)


def test_a_block_split_between_messages_takes_the_fast_path(taken: list[int]) -> None:
    """A message that ends a block held since the message before and holds a whole one: both
    by the fast path, the first with the source of its two messages."""
    records = hand.TRANSMISSION
    first = InputMessage(0, b"k", "\n".join(records[:5]).encode())
    second = InputMessage(1, b"k", "\n".join(records[5:]).encode())
    out = _both([first, second])
    assert taken[0] == 2 * 2  # with `hold_single` and without: both messages hold several
    assert sum(1 for o in out if o[0] is Sink.STATEMENTS) == 2


def _pieces(records: list[str], rng: random.Random, key: bytes | None) -> list[InputMessage]:
    """The records cut into messages of 1 to 4 records at random places (offsets from 0)."""
    out: list[InputMessage] = []
    at = 0
    while at < len(records):
        size = rng.randint(1, 4)
        value = "\n".join(records[at : at + size]).encode()
        out.append(InputMessage(len(out), key, value))
        at += size
    return out


def _interleaved(*runs: list[InputMessage]) -> list[InputMessage]:
    mixed = [m for group in zip(*runs, strict=False) for m in group]
    return [InputMessage(n, m.key, m.value) for n, m in enumerate(mixed)]


def test_blocks_split_anywhere_and_keys_interleaved(taken: list[int]) -> None:
    """The hand-made transmission and its variants cut at random places, alone and with
    another key's messages between its own: a block held across 1-record to 4-record
    messages, with its bad records found at the message that holds them."""
    rng = random.Random(2026)
    for records in _hand_variants():
        one = _pieces(records, rng, b"k")
        _both(one)
        _both(_interleaved(one, _pieces(records, rng, b"j"), _pieces(records, rng, None)))
    assert taken[0] > 500


@pytest.mark.parametrize("when", [2, 3, 6, 9, 12])
@pytest.mark.parametrize("what", ["expire", "flush", "stats"])
def test_expiry_and_flush_while_a_block_is_held(when: int, what: str, taken: list[int]) -> None:
    """Idle expiry, `flush_all` and record counts taken in the middle of held blocks (the
    held records go to the assembler first, with their own offsets)."""
    records = hand.TRANSMISSION
    msgs = _interleaved(
        _packed("\n".join(records).encode(), 1), _packed("\n".join(records).encode(), 2, "none")
    )

    def between(n: int, task: PartitionTask, now: list[float]) -> list[Output]:
        if n % when != when - 1:
            return []
        if what == "expire":
            now[0] += 400.0  # past the idle timeout: every open key is flushed
            return task.expire()
        if what == "flush":
            return task.flush_all()
        task.take_stats()
        return []

    out = _both(msgs, between=between)
    if what == "stats":  # counts taken while held; the blocks then end by the fast path
        assert taken[0] >= 2
    else:  # flushed in the middle of a held block
        assert any(o[0] is Sink.REJECTS for o in out)


@pytest.mark.parametrize("pack", [1, 2, 5])
def test_the_open_key_limit_flushes_held_blocks(pack: int, taken: list[int]) -> None:
    """More keys than `max_open_keys` holding blocks at once: the least recently active are
    flushed, their held records rejected as the assembler rejects them."""
    data = _generated(GenerateOptions(statements=12, seed=5, finals=0.5))
    keyed = [
        [InputMessage(m.offset, key, m.value) for m in _packed(data, pack, "none")]
        for key in (b"a", b"b", b"c", None)
    ]
    msgs = _interleaved(*keyed)
    out = _both(msgs, limits=Limits(max_open_keys=2))
    assert any(o[0] is Sink.REJECTS for o in out)
    out = _both(msgs, limits=Limits(max_open_keys=4))
    assert sum(1 for o in out if o[0] is Sink.STATEMENTS) == 48
    assert taken[0] >= 48


@pytest.mark.parametrize("crash", range(1, 40, 3))
def test_a_crash_inside_a_held_block_replays_to_the_same_outputs(
    crash: int, taken: list[int]
) -> None:
    """A new task restored from the checkpoint committed at a message inside held blocks
    (two keys, one record a message) rebuilds them by replay and publishes what an
    uninterrupted run of the assembler alone publishes after that message."""
    records = hand.TRANSMISSION
    data = "\n".join(records).encode()
    msgs = _interleaved(_packed(data, 1), _packed(data, 3, "none"))
    whole, _ = _run(msgs, False)
    reference = PartitionTask("in", 2, key_secret=SECRET, fast=False, wall_clock=lambda: FIXED)
    before: list[Output] = []
    for m in msgs[:crash]:
        before += reference.process(m)
    for fast in (True, False):
        first = PartitionTask("in", 2, key_secret=SECRET, fast=fast, wall_clock=lambda: FIXED)
        published: list[Output] = []
        for m in msgs[:crash]:
            published += first.process(m)
        checkpoint = first.checkpoint()
        assert checkpoint == reference.checkpoint()
        assert checkpoint is not None
        restored = Checkpoint.from_committed(checkpoint.offset, checkpoint.metadata())
        second = PartitionTask(
            "in", 2, checkpoint=restored, key_secret=SECRET, fast=fast, wall_clock=lambda: FIXED
        )
        for m in msgs[restored.offset :]:
            published += second.process(m)
        published += second.flush_all()
        got = [(o.sink, o.key, o.value, o.headers, o.event) for o in published]
        assert got == whole
    assert taken[0] >= 1
