"""Print the JSON Schema of every event pms-stream writes (statement, reroute_request,
reroute_ack, rejected; forecast, on the forecasts topic; and on the metrics topic
statement_summaries (a list of statement_summary), metrics_snapshot and statement_missing),
generated from the msgspec model.
Money is a string with two decimals ("1234.56", with a pattern), dates YYYY-MM-DD (a pattern
too); docs/statement-contract.md has each topic's key and headers.

examples:
  pms-stream schema > pms-stream.schema.json
  pms-stream schema --event statement
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from pms_stream.forecast.event import ForecastEvent
from pms_stream.missing.event import StatementMissingEvent
from pms_stream.statements.metrics_events import (
    DATE,
    MONEY,
    MetricsSnapshot,
    StatementSummaries,
    StatementSummary,
)
from pms_stream.statements.model import (
    SCHEMA_VERSION,
    Event,
    RejectedEvent,
    RerouteAckEvent,
    RerouteRequestEvent,
    Statement,
)

NAME = "schema"
HELP = "print the JSON Schema of the events"

_EVENTS: dict[str, Any] = {
    "statement": Statement,
    "reroute_request": RerouteRequestEvent,
    "reroute_ack": RerouteAckEvent,
    "rejected": RejectedEvent,
    "statement_summaries": StatementSummaries,  # on the metrics topic, a list of:
    "statement_summary": StatementSummary,
    "metrics_snapshot": MetricsSnapshot,
    "forecast": ForecastEvent,  # on the forecasts topic
    "statement_missing": StatementMissingEvent,  # on the metrics topic
}
_EVENTS["all"] = (
    Event | StatementSummaries | MetricsSnapshot | ForecastEvent | StatementMissingEvent
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--event",
        choices=sorted(_EVENTS),
        default="all",
        help="one event type only (default: the union of all)",
    )


def json_schema(event: str = "all") -> dict[str, Any]:
    schema: dict[str, Any] = _tightened(msgspec.json.schema(_EVENTS[event]))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"pms-stream {event} event, schema_version {SCHEMA_VERSION}"
    return schema


def _tightened(node: Any) -> Any:
    """msgspec writes Decimal and date as bare strings with a format; every Decimal of the model
    is money: both get the pattern that holds them to the contract."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "decimal":
            node["pattern"] = MONEY
        elif node.get("type") == "string" and node.get("format") == "date":
            node["pattern"] = DATE
        for value in node.values():
            _tightened(value)
    elif isinstance(node, list):
        for value in node:
            _tightened(value)
    return node


def run(args: argparse.Namespace) -> int:
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(json_schema(args.event))))
    sys.stdout.buffer.write(b"\n")
    return 0
