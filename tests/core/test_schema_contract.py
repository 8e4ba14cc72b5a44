"""The event contract (issue 16): money and date patterns in `pms-stream schema`, the metrics
topic's events described there and in step with what the service writes, and every topic's key
and headers written down in docs/statement-contract.md."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import msgspec

from pms_stream.commands.parse import parse_stream
from pms_stream.commands.schema import json_schema
from pms_stream.generator import GenerateOptions, generate
from pms_stream.service.metrics import Metrics
from pms_stream.statements.metrics_events import (
    DATE,
    MONEY,
    MetricsSnapshot,
    StatementSummaries,
    StatementSummary,
)
from pms_stream.statements.model import Statement
from pms_stream.stream.outputs import statement_summary, summary_outputs

REPO = Path(__file__).resolve().parents[2]


def nodes(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += nodes(value)
    elif isinstance(node, list):
        for value in node:
            found += nodes(value)
    return found


def statements() -> list[Statement]:
    buf = io.BytesIO()
    generate(GenerateOptions(statements=30, seed=11)).write(buf)
    out = io.BytesIO()
    parse_stream(io.BytesIO(buf.getvalue()), "x", out)
    decoder = msgspec.json.Decoder(Statement)
    return [
        decoder.decode(line) for line in out.getvalue().splitlines() if b'"statement"' in line[:30]
    ]


def test_money_and_dates_have_patterns() -> None:
    schema = json_schema()
    strings = [n for n in nodes(schema) if n.get("type") == "string"]
    money = [n for n in strings if n.get("format") == "decimal"]
    dates = [n for n in strings if n.get("format") == "date"]
    assert money
    assert dates
    assert all(n["pattern"] == MONEY for n in money)
    assert all(n["pattern"] == DATE for n in dates)
    for good in ("0.00", "1234.56", "-10.00"):
        assert re.fullmatch(MONEY, good)
    for bad in ("abc", "12", "1.5", "1e3", "12.345", ""):
        assert not re.fullmatch(MONEY, bad)
    assert not re.fullmatch(DATE, "11/15/26")


def test_every_amount_and_date_written_matches_its_pattern() -> None:
    schema = json_schema("statement")
    daily = schema["$defs"]["DailyStatement"]["properties"]
    for statement in statements():
        doc = json.loads(msgspec.json.encode(statement))
        for d in doc["daily_statements"]:
            for name, prop in daily.items():
                if "pattern" in prop:
                    assert re.fullmatch(prop["pattern"], d[name]), (name, d[name])
        for name in ("print_date", "due_date"):
            assert re.fullmatch(DATE, doc[name])


def test_the_metrics_topic_events_are_in_the_schema_and_match_what_is_written() -> None:
    schema = json_schema()
    assert {"StatementSummaries", "StatementSummary", "MetricsSnapshot"} <= set(schema["$defs"])
    for statement in statements():
        summary = json.loads(statement_summary(statement))
        msgspec.convert(summary, StatementSummary)  # raises when the two drift apart
    for message in summary_outputs(statements()):
        msgspec.convert(json.loads(message.value), StatementSummaries)
    metrics = Metrics()
    snapshot = json.loads(msgspec.json.encode(metrics.snapshot()))
    converted = msgspec.convert(snapshot, MetricsSnapshot)
    assert converted.metrics


def test_the_contract_names_every_topics_key_and_headers() -> None:
    doc = (REPO / "docs" / "statement-contract.md").read_text()
    section = doc.split("## Topics, keys and headers", 1)[1]
    for topic in ("statements", "reroute-acks", "rejects", "metrics", "records"):
        assert f"pms.{topic}" in section, topic
    for header in ("pms-type", "pms-source", "pms-redrive-of"):
        assert header in section, header
