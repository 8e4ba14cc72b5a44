"""The fast block path against the precise path (the assembler): byte-identical JSON lines and the
same rejects on generated, mutated and hand-made bad input (docs/performance.md, "The fast path").

`parse_stream(..., fast=False)` is the precise path: every record through the codec and the
assembler. Each test also checks that the fast path did take blocks where it should, so that an
agreement is never the fast path declining everything.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.mutate import Mutator
from pms_stream.commands.parse import parse_stream
from pms_stream.generator import GenerateOptions, generate
from pms_stream.generator.options import LineEnd
from pms_stream.statements import fastblock, fastfeed
from pms_testkit import records_by_hand as by_hand
from tests.core import statements_by_hand as hand

NAME = "input.txt"


@pytest.fixture(autouse=True)
def taken() -> Iterator[list[int]]:
    """Counts the statements the fast path wrote (the module's `statement_line`, for `Piece`s,
    `block_line`, for runs, and `matched_statement_line`, for the partition task's held
    blocks, wrapped)."""
    count = [0]
    originals = fastblock.statement_line, fastblock.block_line, fastblock.matched_statement_line

    def counting(original: Callable[..., bytes | None]) -> Callable[..., bytes | None]:
        def wrapped(*args: object) -> bytes | None:
            line = original(*args)
            count[0] += line is not None
            return line

        return wrapped

    fastblock.statement_line = counting(originals[0])
    fastblock.block_line = counting(originals[1])
    fastblock.matched_statement_line = counting(originals[2])
    try:
        yield count
    finally:
        (
            fastblock.statement_line,
            fastblock.block_line,
            fastblock.matched_statement_line,
        ) = originals


class _Trickle(io.BytesIO):
    """A stream whose reads return chunks of the given sizes (cycled), whatever was asked."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        super().__init__(data)
        self._sizes = sizes
        self._n = 0

    def read(self, size: int | None = -1) -> bytes:
        self._n += 1
        return super().read(self._sizes[self._n % len(self._sizes)])


def _both(
    data: bytes, name: str | None = NAME, sizes: list[int] | None = None
) -> tuple[bytes, int]:
    """The output and rejects of both paths, which must be the same; the fast path reads the
    input in chunks of `sizes` when given (the framer's runs, blocks across chunks)."""
    fast_out, precise_out = io.BytesIO(), io.BytesIO()
    stream = io.BytesIO(data) if sizes is None else _Trickle(data, sizes)
    fast_rejects = parse_stream(stream, name, fast_out, fast=True)
    precise_rejects = parse_stream(io.BytesIO(data), name, precise_out, fast=False)
    fast_lines = fast_out.getvalue().splitlines()
    precise_lines = precise_out.getvalue().splitlines()
    for n, (got, want) in enumerate(zip(fast_lines, precise_lines, strict=False), 1):
        assert got == want, f"line {n} differs:\nfast:    {got!r}\nprecise: {want!r}"
    assert len(fast_lines) == len(precise_lines)
    assert fast_rejects == precise_rejects
    return precise_out.getvalue(), precise_rejects


def _generated(options: GenerateOptions) -> bytes:
    out = io.BytesIO()
    generate(options).write(out)
    return out.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    framing=st.sampled_from(["block", "bare"]),
    line_end=st.sampled_from(["lf", "crlf", "none"]),
    finals=st.sampled_from([0.0, 0.6, 1.0]),
    final_changes=st.sampled_from([0.0, 0.3, 1.0]),
    deletions=st.sampled_from([0.0, 0.2, 1.0]),
    final_only=st.sampled_from([0.0, 0.05, 0.5]),
    bad=st.integers(0, 4),
    bad_inside=st.sampled_from([0.0, 0.5, 1.0]),
    daily_max=st.integers(1, 8),
)
def test_generated_input_gives_the_same_output(  # noqa: PLR0917 - hypothesis arguments
    seed: int,
    framing: str,
    line_end: str,
    finals: float,
    final_changes: float,
    deletions: float,
    final_only: float,
    bad: int,
    bad_inside: float,
    daily_max: int,
) -> None:
    options = GenerateOptions(
        statements=6,
        seed=seed,
        framing=framing,  # type: ignore[arg-type]
        line_end=line_end,  # type: ignore[arg-type]
        finals=finals,
        final_changes=final_changes,
        deletions=deletions,
        final_only=final_only,
        bad=bad,
        bad_inside=bad_inside,
        daily=(1, daily_max),
    )
    _both(_generated(options))


def test_clean_blocks_all_take_the_fast_path(taken: list[int]) -> None:
    """Every statement of clean generated block input (finals, deletions, changes, every line
    end), and the same lines as the precise path, reroute of none; a nameless stream too."""
    statements = 0
    ends: tuple[LineEnd, ...] = ("lf", "crlf", "none")
    for seed, line_end in enumerate(ends):
        options = GenerateOptions(
            statements=40, seed=seed, line_end=line_end, finals=0.7, deletions=0.5
        )
        out, rejects = _both(_generated(options), NAME if seed else None)
        assert rejects == 0
        statements += out.count(b"\n")
    assert taken[0] == statements > 100


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    line_end=st.sampled_from(["lf", "crlf", "none"]),
    bad=st.integers(0, 6),
    sizes=st.lists(st.integers(1, 9_000), min_size=1, max_size=4),
    big=st.integers(66_000, 140_000),
)
def test_chunked_input_gives_the_same_output(
    seed: int, line_end: str, bad: int, sizes: list[int], big: int
) -> None:
    """The input read in chunks of any size: blocks carried from one run to the next, runs
    and framing pieces mixed (bad records), records without line ends cut past 64 KiB."""
    options = GenerateOptions(
        statements=60,
        seed=seed,
        line_end=line_end,  # type: ignore[arg-type]
        finals=0.5,
        deletions=0.3,
        bad=bad,
        bad_inside=0.5,
    )
    data = _generated(options)
    _both(data, sizes=[big] if line_end == "none" else sizes)
    _both(data, sizes=[*sizes, big])
    _both(data[: len(data) // 2], sizes=sizes)  # the input ends inside a block


def test_chunked_clean_input_takes_the_fast_path(taken: list[int]) -> None:
    """Blocks cut by the end of a chunk still take the fast path, with any line end."""
    statements = 0
    for seed, (line_end, size) in enumerate((("lf", 1000), ("crlf", 333), ("none", 70_000))):
        options = GenerateOptions(statements=150, seed=seed, line_end=line_end, finals=0.5)  # type: ignore[arg-type]
        out, rejects = _both(_generated(options), sizes=[size])
        assert rejects == 0
        statements += out.count(b"\n")
    assert taken[0] == statements


def test_the_hold_limit(monkeypatch: pytest.MonkeyPatch, taken: list[int]) -> None:
    """Blocks longer than the hold limit go to the assembler; shorter ones are still taken."""
    monkeypatch.setattr(fastfeed, "HOLD_LIMIT", 12)
    options = GenerateOptions(statements=60, seed=5, finals=0.5, daily=(1, 6))
    data = _generated(options)
    for sizes in (None, [700], [81 * 12], [81 * 11 + 40]):
        _both(data, sizes=sizes)
    assert 0 < taken[0] < 4 * 60


def test_mutated_input_gives_the_same_output(taken: list[int]) -> None:
    """The fuzzer's mutations (bytes, records and lines changed, dropped, swapped, spliced) of
    generated block transmissions."""
    seeds = [
        _generated(GenerateOptions(statements=4, seed=s, line_end=end, deletions=0.5))  # type: ignore[arg-type]
        for s, end in enumerate(("lf", "crlf", "none", "lf"))
    ]
    mutate = Mutator("framing", seeds, seed=20261201)
    for n in range(400):
        data = mutate()
        _both(data)
        if n % 4 == 0:  # read in small chunks: blocks carried, runs and pieces mixed
            _both(data, sizes=[97 + n * 13 % 2000, 1 + n * 7 % 500])
    assert taken[0] > 200


def _hand_variants() -> Iterator[bytes]:
    """The hand-made transmission, then each of its records with one field-sized change."""
    records = hand.TRANSMISSION
    yield "\n".join(records).encode()
    rng = random.Random(13)
    for i, record in enumerate(records):
        for _ in range(12):
            at = rng.randrange(80)
            ch = rng.choice(' 09AZaz"\\-*')
            changed = record[:at] + ch + record[at + 1 :]
            yield "\n".join([*records[:i], changed, *records[i + 1 :]]).encode()
        # the record dropped, and doubled
        yield "\n".join(records[:i] + records[i + 1 :]).encode()
        yield "\n".join(records[: i + 1] + records[i:]).encode()


def test_hand_made_bad_input_gives_the_same_output(taken: list[int]) -> None:
    for data in _hand_variants():
        _both(data)
    assert taken[0] > 100


def test_hand_made_records_in_and_around_blocks() -> None:
    """The hand-built records of every type (QR, QX, A, Z, MO blocks) inside an MS block, and
    blocks that are not MS."""
    block = hand.PRELIMINARY_BLOCK
    for name, record in by_hand.ALL.items():
        for at in (1, len(block) // 2, len(block) - 1):
            data = [hand.A, *block[:at], record, *block[at:], hand.Z]
            _both("\n".join(data).encode())
        assert name
    mo = [by_hand.A, by_hand.B_MO, by_hand.QR, by_hand.Y.replace("MS", "MO"), by_hand.Z]
    _both("\n".join(mo + hand.TRANSMISSION).encode())


@pytest.mark.parametrize(
    "change",
    [
        ("B", 13, " "),  # no statement status: status_missing
        ("B", 13, "P"),  # a final statement's B says P: Q5 on a preliminary is rejected
        ("B", 30, "5"),  # not a monthly payment type: the statement is rejected
        ("B", 14, "2726P10002"),  # B statement number differs from Q3: header difference
        ("Y", 13, "00099"),  # record count wrong
        ("Y", 13, "     "),  # record count blank
        ("Y", 4, "2705"),  # trailer mismatch
        ("Q3", 3, "2799P10001"),  # statement district
        ("Q3", 3, "27X6P10001"),  # statement number shape
        ("Q3", 13, "011526"),  # statement month
        ("Q3", 13, "023026"),  # impossible date
        ("Q2", 25, "00000000001"),  # daily amount due
        ("Q4", 25, "00000000001"),  # total amount due
        ("QA", 3, "02"),  # QA out of sequence
    ],
)
def test_each_check_and_reject_is_left_to_the_precise_path(
    change: tuple[str, int, str], taken: list[int]
) -> None:
    kind, position, text = change
    records = list(hand.TRANSMISSION)
    final_block = 1 + len(hand.PRELIMINARY_BLOCK)  # the change goes into the final statement
    i = next(i for i, r in enumerate(records) if r.startswith(kind) and i >= final_block)
    records[i] = by_hand.put(records[i], position, text)
    out, _ = _both("\n".join(records).encode())
    assert taken[0] == 1  # the other, untouched statement
    assert out.count(b"\n") >= 2


def _recoded(records: list[str], old: str, new: str) -> list[str]:
    """Fee class `old` written as `new` in every fee slot of QA, QE and QJ records."""
    out = []
    for record in records:
        changed = record
        if record[:2] in ("QA", "QE", "QJ"):
            for start in (5, 19, 33, 47, 61):
                if changed[start - 1 : start + 2] == old:
                    changed = by_hand.put(changed, start, new)
        out.append(changed)
    return out


@pytest.mark.parametrize(
    "edit",
    [
        lambda rs: _recoded(rs, "499", "49 "),  # a short fee class code (padded)
        lambda rs: _recoded(rs, "501", "7  "),  # an unknown one (generic name)
        lambda rs: [r.replace("2704A00001", "2704A     ") for r in rs],  # a short daily number
        lambda rs: [by_hand.put(r, 31, "12-34 67 9") if r[0] == "B" else r for r in rs],
        lambda rs: [by_hand.put(r, 13, "27  ") if r[:2] == "Q1" else r for r in rs],  # short port
    ],
)
def test_unusual_but_valid_values_take_the_fast_path(edit: object, taken: list[int]) -> None:
    records = edit(list(hand.TRANSMISSION))  # type: ignore[operator]
    out, rejects = _both("\n".join(records).encode())
    assert rejects == 0
    assert taken[0] == 2 == out.count(b"\n")
