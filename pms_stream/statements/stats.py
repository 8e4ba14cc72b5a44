"""Record statistics: how many records of each type an assembler accepted, could not place, or
found invalid. The assembler counts them; `Assembler.take_stats` hands them over (and starts
again from zero); the partition task adds them up for the service's `pms_records_total`.

Flow: assembler -> **stats** -> partition task -> metrics.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

__all__ = ["Outcome", "RecordStats"]

# "accepted": placed in a statement or block; "rejected": well formed but could not be placed;
# "invalid": the codec refused it.
Outcome = Literal["accepted", "rejected", "invalid"]


class RecordStats(Mapping[tuple[str, str], int]):
    """Counts by (record type, outcome); immutable. `a + b` adds two of them up. (Keys are
    typed `tuple[str, str]`, so that it is any `Mapping` the metrics take; the outcome is an
    `Outcome`.)"""

    __slots__ = ("_counts",)

    def __init__(self, counts: Mapping[tuple[str, str], int] | None = None) -> None:
        self._counts: dict[tuple[str, str], int] = dict(counts or {})

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self._counts[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._counts)

    def __len__(self) -> int:
        return len(self._counts)

    def __add__(self, other: RecordStats) -> RecordStats:
        total = dict(self._counts)
        for key, count in other.items():
            total[key] = total.get(key, 0) + count
        return RecordStats(total)

    def __repr__(self) -> str:
        return f"RecordStats({self._counts!r})"
