"""The statement store: the latest version of every published statement, for reroute requests.

The service fills it from the compacted statements topic (rebuilt from the beginning at start,
then kept current by tailing it; see `pms_stream.service.store_feed`), and with the statements
the instance itself publishes as their transaction commits (`put_statement`, no decoding; the
feed skips them). Each version keeps its position in the statements topic: an older one never
replaces a newer (`statements.position`). It keeps each statement's
JSON as published, so a reroute sends exactly the bytes downstream saw, plus the few facts the
rules match on, indexed by filer code (a request only ever matches its own filer's statements).

Bounded memory: a request may not ask for a transmission date more than 14 days back (MS1), so
statements older than `retention_days` (default 16: 14 plus margin for time zones and late
requests) are evicted; and at most `max_statements` are kept (the oldest go first). The footprint
is about the statement's JSON size plus ~400 bytes of index per statement: 2-5 KB for a typical
statement (docs/reroute.md has the measurement). Versions re-published for a reroute
(`reroute_of` set) do not replace the stored one.

Pure: no I/O. Flow: statements topic -> **store** -> rules -> answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import msgspec

from pms_stream.reroute.rules import Criteria, StatementFacts, matches
from pms_stream.statements.model import Statement
from pms_stream.statements.position import Position, not_newer

__all__ = ["StatementStore", "StoredStatement"]

_DECODER = msgspec.json.Decoder(Statement)


@dataclass(frozen=True, slots=True)
class StoredStatement:
    key: bytes
    value: bytes
    facts: StatementFacts
    at: Position | None = None  # where it is in the statements topic


def facts_of(statement: Statement) -> StatementFacts:
    return StatementFacts(
        transmission_date=statement.process_date or statement.print_date,
        filer_code=statement.filer_code,
        importer_number=statement.importer_number,
        client_branch=statement.client_branch,
        statement_number=statement.statement_number,
        district_port=statement.district_port,
        office_code=statement.office_code,
        status=statement.status,
    )


class StatementStore:
    """Latest statement per key, indexed by filer code, bounded by age and count."""

    def __init__(
        self,
        *,
        today: Callable[[], date] = date.today,
        retention_days: int = 16,
        max_statements: int = 100_000,
    ) -> None:
        self._today = today
        self.retention = timedelta(days=retention_days)
        self.max_statements = max_statements
        self._by_filer: dict[str, dict[bytes, StoredStatement]] = {}
        self._filer_of: dict[bytes, str] = {}
        self._bytes = 0
        self._puts = 0

    def __len__(self) -> int:
        return len(self._filer_of)

    @property
    def value_bytes(self) -> int:
        """Bytes of statement JSON held (the bulk of the footprint)."""
        return self._bytes

    def put(self, key: bytes | None, value: bytes | None, at: Position | None = None) -> bool:
        """Add or replace the statement under `key` (a null value deletes it), read at `at` in
        the statements topic. Returns whether the store changed; values that are not
        statements, reroute copies, and versions not newer than the one held are ignored."""
        if key is None or not_newer(at, self._held(key)):
            return False
        if value is None:
            return self.delete(key)
        try:
            statement = _DECODER.decode(value)
        except msgspec.DecodeError:
            return False
        return self._put(key, value, statement, at)

    def put_statement(
        self, key: bytes, value: bytes, statement: Statement, at: Position | None
    ) -> bool:
        """`put` for a statement in hand (`value` is its JSON as published)."""
        if not_newer(at, self._held(key)):
            return False
        return self._put(key, value, statement, at)

    def _held(self, key: bytes) -> Position | None:
        filer = self._filer_of.get(key)
        return None if filer is None else self._by_filer[filer][key].at

    def _put(self, key: bytes, value: bytes, statement: Statement, at: Position | None) -> bool:
        if statement.reroute_of is not None:
            return False
        facts = facts_of(statement)
        if self._too_old(facts, self._today()):
            return False
        self.delete(key)
        stored = StoredStatement(key, value, facts, at)
        self._by_filer.setdefault(facts.filer_code, {})[key] = stored
        self._filer_of[key] = facts.filer_code
        self._bytes += len(value)
        self._puts += 1
        if len(self) > self.max_statements or self._puts % 10_000 == 0:
            self.evict()
        return True

    def delete(self, key: bytes) -> bool:
        filer = self._filer_of.pop(key, None)
        if filer is None:
            return False
        entries = self._by_filer[filer]
        self._bytes -= len(entries.pop(key).value)
        if not entries:
            del self._by_filer[filer]
        return True

    def find(self, criteria: Criteria) -> list[StoredStatement]:
        """The statements `criteria` match, in key order (deterministic answers)."""
        entries = self._by_filer.get(criteria.filer_code, {})
        return sorted(
            (e for e in entries.values() if matches(criteria, e.facts)), key=lambda e: e.key
        )

    def evict(self) -> int:
        """Drop statements past the retention, then the oldest past `max_statements`."""
        today = self._today()
        old = [
            key
            for entries in self._by_filer.values()
            for key, e in entries.items()
            if self._too_old(e.facts, today)
        ]
        for key in old:
            self.delete(key)
        excess = len(self) - self.max_statements
        if excess > 0:
            by_age = sorted(
                (e for entries in self._by_filer.values() for e in entries.values()),
                key=lambda e: (e.facts.transmission_date or date.min, e.key),
            )
            for e in by_age[:excess]:
                self.delete(e.key)
            return len(old) + excess
        return len(old)

    def _too_old(self, facts: StatementFacts, today: date) -> bool:
        when = facts.transmission_date
        return when is not None and today - when > self.retention
