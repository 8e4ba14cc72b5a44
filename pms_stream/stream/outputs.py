"""Outputs: how each event becomes a Kafka message (topic, key, value, headers).

Keys follow the design notes so that compaction and partitioning follow filer and importer:
- statements: `filer|importer|statement number|status` — a compacted statements topic keeps the
  latest version of each preliminary and each final statement (the reroute store reads it);
- reroute requests and acknowledgements: the filer code;
- rejects: the input message's key (so rejects of one stream stay in order);
- metrics: the filer code for statement summaries, none for snapshots.
Values are the JSON of `pms_stream.statements.model` (msgspec, one shared encoder).

Flow: assembler -> **outputs** -> producer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

from pms_stream.domain.importer_numbers import redact
from pms_stream.domain.money import money_text as _money
from pms_stream.statements.model import (
    Event,
    RejectedEvent,
    RerouteAckEvent,
    RerouteRequestEvent,
    Statement,
    Totals,
)

__all__ = ["Output", "Sink", "statement_key", "statement_summary", "to_outputs"]

_ENCODER = msgspec.json.Encoder()


class Sink(StrEnum):
    """Which configured topic an output goes to."""

    STATEMENTS = "statements"
    REROUTE_ACKS = "reroute_acks"
    REJECTS = "rejects"
    METRICS = "metrics"


@dataclass(frozen=True, slots=True)
class Output:
    sink: Sink
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    event: Event | None = None


def statement_key(statement: Statement) -> bytes:
    """`filer|importer|number|status`: one key per version a downstream store keeps."""
    return (
        f"{statement.filer_code}|{statement.importer_number or ''}|"
        f"{statement.statement_number}|{statement.status}"
    ).encode()


def _totals(totals: Totals | None) -> dict[str, Any] | None:
    if totals is None:
        return None
    return {
        "duty": _money(totals.duty),
        "tax": _money(totals.tax),
        "add": _money(totals.add),
        "cvd": _money(totals.cvd),
        "amount_due": _money(totals.amount_due),
        "fees": {f.code: _money(f.amount) for f in totals.fees},
    }


def statement_summary(statement: Statement) -> dict[str, Any]:
    """The per-statement summary for the metrics topic (dashboards downstream). The importer
    number is redacted when it is shaped like a Social Security number."""
    return {
        "type": "statement_summary",
        "statement_number": statement.statement_number,
        "status": statement.status,
        "filer_code": statement.filer_code,
        "importer_number": redact(statement.importer_number),
        "payment_type": statement.payment_type,
        "district_port": statement.district_port,
        "daily_statements": len(statement.daily_statements),
        "deleted_entries": len(statement.deleted_entries),
        "preliminary_totals": _totals(statement.preliminary_totals),
        "final_totals": _totals(statement.final_totals),
        "difference": _totals(statement.difference),
        "checks": sorted({c.code for c in statement.checks}),
    }


def to_outputs(event: Event, input_key: bytes | None, source: str) -> list[Output]:
    """The messages for one event. `source` ("topic:partition:offset") goes in a header."""
    kind = event.__struct_config__.tag
    assert isinstance(kind, str)
    headers = (("pms-type", kind.encode()), ("pms-source", source.encode()))
    value = _ENCODER.encode(event)
    if isinstance(event, Statement):
        summary = _ENCODER.encode(statement_summary(event))
        return [
            Output(Sink.STATEMENTS, statement_key(event), value, headers, event),
            Output(
                Sink.METRICS,
                event.filer_code.encode(),
                summary,
                (("pms-type", b"statement_summary"),),
                None,
            ),
        ]
    if isinstance(event, RerouteRequestEvent | RerouteAckEvent):
        key = (event.filer_code or "").encode() if isinstance(event, RerouteRequestEvent) else None
        return [Output(Sink.REROUTE_ACKS, key, value, headers, event)]
    assert isinstance(event, RejectedEvent)
    return [Output(Sink.REJECTS, input_key, value, headers, event)]
