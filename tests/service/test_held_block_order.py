"""The held block's record order (`stream/held_blocks.py`, checked one record at a time across
messages) is the fast block's order (`fastblock.block_grammar`, checked whole): the two must
accept exactly the same sequences of record types, or a block held across messages could take
the fast path where a block in one message would not (or the reverse)."""

from __future__ import annotations

import itertools
import re

from pms_stream.statements.fastblock import BLOCK_TYPES, block_grammar
from pms_stream.stream import held_blocks

_GRAMMAR = re.compile(block_grammar({t: t for t in BLOCK_TYPES}))
_MIDDLE = [t for t in BLOCK_TYPES if t not in ("B", "Y")]


def _table_accepts(middle: tuple[str, ...]) -> bool:
    last = b"B"
    for tag in middle:
        if tag.encode() not in held_blocks._NEXT[last]:
            return False
        last = tag.encode()
    return last in held_blocks._BEFORE_Y


def test_the_held_order_table_accepts_exactly_the_block_grammar_up_to_five_records() -> None:
    checked = 0
    for length in range(6):
        for middle in itertools.product(_MIDDLE, repeat=length):
            text = "\n".join(("B", *middle, "Y"))
            assert _table_accepts(middle) == bool(_GRAMMAR.fullmatch(text)), middle
            checked += 1
    assert checked > 100_000


def test_long_blocks_the_table_accepts_match_the_grammar() -> None:
    """Every sequence the table accepts, up to nine records between B and Y."""
    frontier: list[tuple[str, ...]] = [()]
    accepted = 0
    for _ in range(9):
        grown = []
        for middle in frontier:
            last = middle[-1].encode() if middle else b"B"
            grown += [(*middle, n.decode()) for n in sorted(held_blocks._NEXT[last])]
        for middle in grown:
            if _table_accepts(middle):
                assert _GRAMMAR.fullmatch("\n".join(("B", *middle, "Y"))), middle
                accepted += 1
        frontier = grown
    assert accepted > 100
