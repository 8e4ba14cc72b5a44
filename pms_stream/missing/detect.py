"""Which payers are missing their statement: the payer index and the detection rule.

The index keeps, per payer (the filer for payment type 6, the importer for 7 and 8), the
statement numbers it had per payment month (the due date's month) and how to ask for its
statements again (filer code, processing port, office, importer). `missing(now)`: once the
local date is past the 11th working day of the current payment month, every payer that had a
statement due in the previous payment month and has none (preliminary or final) due in the
current one. Months before the previous one are evicted as the clock moves.

Pure: no I/O. Flow: statements topic -> **index** -> missing -> event -> metrics topic.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import msgspec

from pms_stream.domain.calendar import PaymentMonth
from pms_stream.domain.importer_numbers import redact
from pms_stream.forecast.aggregate import payer_of
from pms_stream.forecast.event import PayerKind
from pms_stream.missing.event import StatementMissingEvent
from pms_stream.statements.model import Statement

__all__ = ["PayerIndex", "reroute_command"]

_DECODER = msgspec.json.Decoder(Statement)


@dataclass(slots=True)
class _Payer:
    kind: PayerKind
    filer: str
    port: str | None
    office: str | None
    importer: str | None
    months: dict[PaymentMonth, set[str]] = field(default_factory=dict)


class PayerIndex:
    """Statement numbers per payer and payment month (a `FedStore` for the statements feed)."""

    def __init__(self, now: datetime) -> None:
        self._payers: dict[tuple[PayerKind, str, str], _Payer] = {}
        self._now = now
        # the feed reads statements published in the last 100 days: the previous payment
        # month's were published 1 to 3 months ago
        self.retention = timedelta(days=100)

    def __len__(self) -> int:
        return len(self._payers)

    def put(self, key: bytes | None, value: bytes | None, at: object = None) -> bool:
        """A statement read from the statements topic (its position does not matter: the index
        only adds statement numbers to sets)."""
        if value is None:
            return False
        try:
            statement = _DECODER.decode(value)
        except msgspec.DecodeError:
            return False
        return self.add(statement)

    def put_statement(self, key: bytes, value: bytes, statement: Statement, at: object) -> bool:
        """A statement this instance published (in hand: no decoding)."""
        return self.add(statement)

    def add(self, statement: Statement) -> bool:
        if statement.reroute_of is not None:
            return False
        month = PaymentMonth.of(statement.due_date)
        if month < PaymentMonth.of(self._now.date()).previous:
            return False
        kind, payer = payer_of(statement)
        ident = (kind, statement.filer_code, payer)
        entry = self._payers.get(ident)
        if entry is None:
            importer = statement.importer_number if kind == "importer" else None
            entry = self._payers[ident] = _Payer(kind, statement.filer_code, None, None, importer)
        entry.port = statement.district_port or entry.port
        entry.office = statement.office_code or entry.office
        entry.months.setdefault(month, set()).add(statement.statement_number)
        return True

    def missing(self, now: datetime) -> list[StatementMissingEvent]:
        """Every payer missing its statement of the current payment month, as of `now` (local
        time of CBP's working day). Empty until the 11th working day is over."""
        self._now = now
        current = PaymentMonth.of(now.date())
        previous = current.previous
        self._evict(previous)
        if now.date() <= current.print_date:
            return []
        found = []
        for (kind, _, payer), entry in sorted(self._payers.items()):
            before = entry.months.get(previous)
            if not before or entry.months.get(current):
                continue
            found.append(
                StatementMissingEvent(
                    payer=redact(payer) or payer if kind == "importer" else payer,
                    payer_kind=kind,
                    filer_code=entry.filer,
                    payment_month=str(current),
                    expected_print_date=current.print_date,
                    due_date=current.due_date,
                    previous_month=str(previous),
                    previous_statements=sorted(before),
                    reroute_command=reroute_command(
                        entry.filer, entry.port, entry.office, entry.importer, current.print_date
                    ),
                    detected_at=now,
                )
            )
        return found

    def _evict(self, oldest: PaymentMonth) -> None:
        for ident, entry in list(self._payers.items()):
            for month in [m for m in entry.months if m < oldest]:
                del entry.months[month]
            if not entry.months:
                del self._payers[ident]


def reroute_command(
    filer: str, port: str | None, office: str | None, importer: str | None, day: date
) -> str:
    """The `pms-stream reroute` command line asking for the preliminary statements of `day`."""
    words = ["pms-stream", "reroute", "--filer", filer, "--port", port or "PORT"]
    if office:
        words += ["--office", office]
    if importer:
        words += ["--importer", redact(importer) or importer]
    words += ["--date", day.isoformat(), "--preliminary"]
    return shlex.join(words)
