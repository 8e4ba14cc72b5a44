"""A seeded random mutator: the inputs of the random engine (CI's sample, and any run without
atheris). It is not coverage-guided; it starts from valid inputs and breaks them the way real
input breaks: bytes changed, inserted, dropped; records duplicated, dropped, swapped, cut, joined
or replaced by another valid record; line ends added or lost; pieces of two inputs spliced.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from fuzz.seeds import PRINTABLE, valid_record
from pms_stream.catair.layouts import LAYOUTS

__all__ = ["Mutator"]

# Bytes worth trying besides printable ASCII: line ends, NUL, TAB, DEL, Latin-1 and UTF-8 bytes.
_SPECIAL = b"\r\n\x00\t\x7f\xe9\xc3\xa9\xff"
_BYTES = PRINTABLE.encode() + _SPECIAL


class Mutator:
    """Makes inputs for one target from its seed inputs and fresh valid records."""

    def __init__(self, target: str, seeds: list[bytes], seed: int) -> None:
        self.target = target
        self.seeds = seeds or [b""]
        self.rng = random.Random(seed)  # noqa: S311 - test inputs, not secrets
        self._ops: list[Callable[[bytes], bytes]] = [
            self._set_byte,
            self._set_byte,
            self._insert_byte,
            self._delete_byte,
            self._delete_range,
            self._duplicate_range,
            self._line_op,
            self._line_op,
            self._line_op,
            self._splice,
        ]

    def __call__(self) -> bytes:
        rng = self.rng
        if self.target == "codec" and rng.random() < 0.7:
            data = valid_record(rng, rng.choice(LAYOUTS)).encode()
        else:
            data = rng.choice(self.seeds)
        if rng.random() < 0.03:
            return bytes(rng.choice(_BYTES) for _ in range(rng.randrange(200)))
        for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3, 4, 8])):
            data = rng.choice(self._ops)(data)
        return data

    # ---- bytes ------------------------------------------------------------------------------

    def _at(self, data: bytes) -> int:
        return self.rng.randrange(len(data)) if data else 0

    def _set_byte(self, data: bytes) -> bytes:
        if not data:
            return data
        i = self._at(data)
        return data[:i] + bytes([self.rng.choice(_BYTES)]) + data[i + 1 :]

    def _insert_byte(self, data: bytes) -> bytes:
        i = self._at(data)
        return data[:i] + bytes([self.rng.choice(_BYTES)]) + data[i:]

    def _delete_byte(self, data: bytes) -> bytes:
        i = self._at(data)
        return data[:i] + data[i + 1 :]

    def _delete_range(self, data: bytes) -> bytes:
        i = self._at(data)
        return data[:i] + data[i + self.rng.randint(1, 100) :]

    def _duplicate_range(self, data: bytes) -> bytes:
        i = self._at(data)
        j = min(len(data), i + self.rng.randint(1, 200))
        return data[:j] + data[i:j] + data[j:]

    def _splice(self, data: bytes) -> bytes:
        other = self.rng.choice(self.seeds)
        return data[: self._at(data)] + other[self._at(other) :]

    # ---- records ----------------------------------------------------------------------------

    def _line_op(self, data: bytes) -> bytes:
        rng = self.rng
        lines = data.split(b"\n")
        i = rng.randrange(len(lines))
        op = rng.randrange(8)
        if op == 0:
            lines.insert(i, lines[rng.randrange(len(lines))])  # a duplicate
        elif op == 1 and len(lines) > 1:
            del lines[i]
        elif op == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            lines.insert(i, valid_record(rng, rng.choice(LAYOUTS)).encode())
        elif op == 4:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]  # cut short
        elif op == 5 and i + 1 < len(lines):
            lines[i : i + 2] = [lines[i] + rng.choice([b"", b"\r"]) + lines[i + 1]]  # joined
        elif op == 6:
            lines[i] = lines[i].rstrip(b"\r") if lines[i].endswith(b"\r") else lines[i] + b"\r"
        else:
            directive = rng.choice([b"@m", b"@b", b"@x", b"@c", b"@t", b"@k", b"@k0", b"@k5"])
            lines.insert(i, directive if self.target == "partition" else b"")
        return b"\n".join(lines)
