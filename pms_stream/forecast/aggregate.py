"""The forecast book: statements in, forecasts out, one per (payer, due date) they change.

Each statement is identified by filer code, importer number and statement number; the book
keeps the latest version of each (a final replaces its preliminary, never the other way round;
among versions of one status the last one seen wins; reroute copies are ignored). The payer is
the filer for payment type 6 and the importer for types 7 and 8 (any other or missing payment
type: the filer). A statement's amounts are its final totals when it has them, else its
preliminary totals. `apply` returns the forecast of every key whose amounts or counts changed,
with the change since the key's previous forecast.

Pure and deterministic: the offline `pms-stream forecast`, the stream stage and the tests use
the same book. Flow: statements -> **aggregate** -> forecast events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from pms_stream.domain.calendar import PaymentMonth
from pms_stream.domain.fee_classes import fee_class
from pms_stream.forecast.event import ForecastEvent, PayerKind
from pms_stream.statements.model import FeeAmount, Statement

__all__ = ["ForecastBook", "ForecastKey", "Holding", "holding_of", "payer_of"]

ZERO: Final = Decimal("0.00")
_IMPORTER_TYPES: Final = frozenset({"7", "8"})

StatementId = tuple[str, str, str]  # filer code, importer number ("" when none), number


@dataclass(frozen=True, slots=True, order=True)
class ForecastKey:
    payer: str
    due_date: date

    def __str__(self) -> str:
        return f"{self.payer}|{self.due_date.isoformat()}"


@dataclass(frozen=True, slots=True)
class Holding:
    """What one statement version adds to its payer's forecast."""

    number: str
    final: bool
    payer_kind: PayerKind
    key: ForecastKey
    amount_due: Decimal
    duty: Decimal
    tax: Decimal
    add: Decimal
    cvd: Decimal
    fees: tuple[tuple[str, Decimal], ...]


def payer_of(statement: Statement) -> tuple[PayerKind, str]:
    """Who pays `statement`: ("importer", number) for payment types 7 and 8, else the filer."""
    if statement.payment_type in _IMPORTER_TYPES and statement.importer_number:
        return "importer", statement.importer_number
    return "filer", statement.filer_code


def statement_id(statement: Statement) -> StatementId:
    return (statement.filer_code, statement.importer_number or "", statement.statement_number)


def holding_of(statement: Statement) -> Holding:
    totals = statement.final_totals or statement.preliminary_totals
    kind, payer = payer_of(statement)
    fees: dict[str, Decimal] = {}
    for fee in totals.fees:
        fees[fee.code] = fees.get(fee.code, ZERO) + fee.amount
    return Holding(
        number=statement.statement_number,
        final=statement.final_totals is not None or statement.status == "final",
        payer_kind=kind,
        key=ForecastKey(payer, statement.due_date),
        amount_due=totals.amount_due,
        duty=totals.duty,
        tax=totals.tax,
        add=totals.add,
        cvd=totals.cvd,
        fees=tuple(sorted(fees.items())),
    )


class ForecastBook:
    """The latest version of every statement, grouped by (payer, due date)."""

    def __init__(self) -> None:
        self._held: dict[StatementId, Holding] = {}
        self._by_key: dict[ForecastKey, dict[StatementId, Holding]] = {}
        self._published: dict[ForecastKey, ForecastEvent] = {}

    def __len__(self) -> int:
        return len(self._held)

    def apply(self, statement: Statement) -> list[ForecastEvent]:
        """Take in `statement`; the forecasts it changed (none when it is an older version)."""
        if statement.reroute_of is not None:
            return []
        old = self._held.get(statement_id(statement))
        self.load(statement)
        new = self._held.get(statement_id(statement))
        if new is None or new == old:
            return []
        keys = [new.key] if old is None or old.key == new.key else sorted({old.key, new.key})
        return [event for key in keys if (event := self._publish(key)) is not None]

    def load(self, statement: Statement) -> None:
        """Take in `statement` while restoring: holdings only, nothing published (the
        forecasts it made were published before; `restore` seeds them)."""
        if statement.reroute_of is not None:
            return
        sid = statement_id(statement)
        new = holding_of(statement)
        old = self._held.get(sid)
        if old is not None and old.final and not new.final:
            return
        if old is not None:
            group = self._by_key[old.key]
            del group[sid]
            if not group:
                del self._by_key[old.key]
        self._held[sid] = new
        self._by_key.setdefault(new.key, {})[sid] = new

    def reconcile(self) -> list[ForecastEvent]:
        """After a restore: the forecast of every key whose holdings and published forecast
        disagree (none when the restore was complete)."""
        keys = sorted(set(self._by_key) | set(self._published))
        return [event for key in keys if (event := self._publish(key)) is not None]

    def amount_due_by_date(self) -> dict[date, Decimal]:
        """Amount due over all payers, per due date."""
        out: dict[date, Decimal] = {}
        for key, event in self._published.items():
            out[key.due_date] = out.get(key.due_date, ZERO) + event.amount_due
        return out

    def forecasts(self) -> list[ForecastEvent]:
        """The current forecast of every key that has one, in key order."""
        return [self._published[key] for key in sorted(self._published)]

    def restore(self, event: ForecastEvent) -> None:
        """Seed a key's previous forecast (from the forecasts topic) without changing holdings."""
        self._published[ForecastKey(event.payer, event.due_date)] = event

    def _publish(self, key: ForecastKey) -> ForecastEvent | None:
        event = self._compute(key)
        previous = self._published.get(key)
        if previous is not None and _same(previous, event):
            return None
        self._published[key] = event
        return event

    def _compute(self, key: ForecastKey) -> ForecastEvent:
        group = self._by_key.get(key, {})
        holdings = sorted(group.values(), key=lambda h: h.number)
        fees: dict[str, Decimal] = {}
        for h in holdings:
            for code, amount in h.fees:
                fees[code] = fees.get(code, ZERO) + amount
        previous = self._published.get(key)
        before = previous.amount_due if previous is not None else ZERO
        amount_due = sum((h.amount_due for h in holdings), ZERO)
        kind: PayerKind = holdings[0].payer_kind if holdings else _kind_of(previous)
        return ForecastEvent(
            payer=key.payer,
            payer_kind=kind,
            due_date=key.due_date,
            payment_month=str(PaymentMonth.of(key.due_date)),
            amount_due=amount_due,
            duty=sum((h.duty for h in holdings), ZERO),
            tax=sum((h.tax for h in holdings), ZERO),
            add=sum((h.add for h in holdings), ZERO),
            cvd=sum((h.cvd for h in holdings), ZERO),
            fees=[FeeAmount(code, fee_class(code).name, fees[code]) for code in sorted(fees)],
            statements=len(holdings),
            preliminary=sum(1 for h in holdings if not h.final),
            statement_numbers=[h.number for h in holdings],
            previous_amount_due=before,
            change=amount_due - before,
        )


def _kind_of(previous: ForecastEvent | None) -> PayerKind:
    return previous.payer_kind if previous is not None else "filer"


def _same(a: ForecastEvent, b: ForecastEvent) -> bool:
    """Equal amounts, counts and statements (the previous/change fields aside)."""
    return (
        a.amount_due,
        a.duty,
        a.tax,
        a.add,
        a.cvd,
        a.fees,
        a.statements,
        a.preliminary,
        a.statement_numbers,
    ) == (
        b.amount_due,
        b.duty,
        b.tax,
        b.add,
        b.cvd,
        b.fees,
        b.statements,
        b.preliminary,
        b.statement_numbers,
    )
