"""Print the JSON Schema of every event pms-stream writes (statement, reroute_request,
reroute_ack, rejected; forecast, on the forecasts topic; statement_missing, on the metrics
topic), generated from the msgspec model.

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
    "all": Event | ForecastEvent | StatementMissingEvent,
    "statement": Statement,
    "reroute_request": RerouteRequestEvent,
    "reroute_ack": RerouteAckEvent,
    "rejected": RejectedEvent,
    "forecast": ForecastEvent,  # on the forecasts topic
    "statement_missing": StatementMissingEvent,  # on the metrics topic
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--event",
        choices=sorted(_EVENTS),
        default="all",
        help="one event type only (default: the union of all)",
    )


def json_schema(event: str = "all") -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.schema(_EVENTS[event])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"pms-stream {event} event, schema_version {SCHEMA_VERSION}"
    return schema


def run(args: argparse.Namespace) -> int:
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(json_schema(args.event))))
    sys.stdout.buffer.write(b"\n")
    return 0
