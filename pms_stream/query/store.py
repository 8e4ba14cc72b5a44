"""The query store: every version of every statement published in the last months, for
`GET /statements/{number}` and `GET /statements?...`.

Fed from the compacted statements topic (key `filer|importer|number|status`: a preliminary and
its final are two keys, both kept), by its own feed (`pms_stream.service.back_office`), and
with the statements the instance itself publishes as their transaction commits
(`put_statement`, no decoding; the feed skips them). Each version keeps its position in the
statements topic: an older one never replaces a newer (`statements.position`). Each
value is kept zlib-compressed (statement JSON compresses 5-8x) with the few facts the queries
filter on. Versions re-published for a reroute (`reroute_of` set) do not replace the stored one.

Bounded memory: statements due more than `retention_days` before today are evicted (default
400: 13 months and a few weeks), and at most `max_statements` versions are kept (when full, the
earliest due 5% go). docs/back-office.md has the measured footprint per statement.

Pure: no I/O. Flow: statements topic -> **query store** -> query API -> HTTP.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import msgspec

from pms_stream.statements.model import Statement, Status
from pms_stream.statements.position import Position, not_newer

__all__ = ["QueryStore", "Version"]


class _Facts(msgspec.Struct):
    """The fields of a statement the queries need (the rest of the JSON is skipped)."""

    statement_number: str
    status: Status
    filer_code: str
    importer_number: str | None
    print_date: date
    due_date: date
    reroute_of: str | None = None


_DECODER = msgspec.json.Decoder(_Facts)


@dataclass(frozen=True, slots=True)
class Version:
    """One stored statement version."""

    key: bytes
    packed: bytes  # zlib-compressed statement JSON, as published
    number: str
    status: Status
    filer: str
    importer: str | None
    print_date: date
    due_date: date
    seq: int  # arrival order
    at: Position | None = None  # where it is in the statements topic

    @property
    def value(self) -> bytes:
        return zlib.decompress(self.packed)

    @property
    def month(self) -> str:
        """The payment month (the due date's), YYYY-MM."""
        return f"{self.due_date.year:04d}-{self.due_date.month:02d}"

    def latest_first(self) -> tuple[bool, date, int]:
        return (self.status == "final", self.print_date, self.seq)


class QueryStore:
    """Every statement version by key, indexed by statement number, bounded by age and count."""

    def __init__(
        self,
        *,
        today: Callable[[], date] = date.today,
        retention_days: int = 400,
        max_statements: int = 100_000,
    ) -> None:
        self._today = today
        self.retention = timedelta(days=retention_days)
        self.max_statements = max_statements
        self._by_key: dict[bytes, Version] = {}
        self._by_number: dict[str, dict[bytes, Version]] = {}
        self._seq = 0
        self.packed_bytes = 0

    def __len__(self) -> int:
        return len(self._by_key)

    def put(self, key: bytes | None, value: bytes | None, at: Position | None = None) -> bool:
        """Add or replace the version under `key` (a null value deletes it), read at `at` in the
        statements topic; whether it changed (a version not newer than the one held: no)."""
        if key is None or not_newer(at, self._held(key)):
            return False
        if value is None:
            return self.delete(key)
        try:
            facts = _DECODER.decode(value)
        except msgspec.DecodeError:
            return False
        return self._put(key, value, facts, at)

    def put_statement(
        self, key: bytes, value: bytes, statement: Statement, at: Position | None
    ) -> bool:
        """`put` for a statement in hand (`value` is its JSON as published)."""
        if not_newer(at, self._held(key)):
            return False
        facts = _Facts(
            statement.statement_number,
            statement.status,
            statement.filer_code,
            statement.importer_number,
            statement.print_date,
            statement.due_date,
            statement.reroute_of,
        )
        return self._put(key, value, facts, at)

    def _held(self, key: bytes) -> Position | None:
        version = self._by_key.get(key)
        return None if version is None else version.at

    def _put(self, key: bytes, value: bytes, facts: _Facts, at: Position | None) -> bool:
        if facts.reroute_of is not None or self._too_old(facts.due_date, self._today()):
            return False
        self.delete(key)
        self._seq += 1
        version = Version(
            key=key,
            packed=zlib.compress(value, 6),
            number=facts.statement_number,
            status=facts.status,
            filer=facts.filer_code,
            importer=facts.importer_number,
            print_date=facts.print_date,
            due_date=facts.due_date,
            seq=self._seq,
            at=at,
        )
        self._by_key[key] = version
        self._by_number.setdefault(version.number, {})[key] = version
        self.packed_bytes += len(version.packed)
        if len(self) > self.max_statements or self._seq % 10_000 == 0:
            self.evict()
        return True

    def delete(self, key: bytes) -> bool:
        version = self._by_key.pop(key, None)
        if version is None:
            return False
        versions = self._by_number[version.number]
        del versions[key]
        if not versions:
            del self._by_number[version.number]
        self.packed_bytes -= len(version.packed)
        return True

    def versions(self, number: str) -> list[Version]:
        """Every version held of statement `number`, latest first (final before preliminary)."""
        held = self._by_number.get(number, {})
        return sorted(held.values(), key=Version.latest_first, reverse=True)

    def __iter__(self) -> Iterator[Version]:
        return iter(self._by_key.values())

    def evict(self) -> int:
        """Drop versions past the retention, then the earliest due past `max_statements`."""
        today = self._today()
        old = [k for k, v in self._by_key.items() if self._too_old(v.due_date, today)]
        for key in old:
            self.delete(key)
        excess = len(self) - self.max_statements
        if excess <= 0:
            return len(old)
        excess += self.max_statements // 20  # room for the next puts: no sort per put when full
        by_age = sorted(self._by_key.values(), key=lambda v: (v.due_date, v.seq))
        for version in by_age[:excess]:
            self.delete(version.key)
        return len(old) + excess

    def _too_old(self, due: date, today: date) -> bool:
        return today - due > self.retention
