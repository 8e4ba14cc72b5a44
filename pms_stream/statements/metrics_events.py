"""The metrics topic's events, as msgspec Structs: the contract of what
`stream/outputs.summary_outputs` and `service/metrics.Metrics.snapshot` write there, so that
`pms-stream schema` can describe them (the producers build their own structs and dicts; tests
convert real ones into these types to keep the two in step).

- `statement_summaries` (key: the filer code; metrics topic contract 2): the summaries of the
  statements of one filer published in one transaction, as a list of `statement_summary`
  objects (amounts as money strings, the importer number redacted when SSN-shaped, the codes of
  failed checks). Contract 1 wrote each `statement_summary` as a message of its own;
- `metrics_snapshot` (no key): every counter and gauge of /metrics every
  `metrics_interval_s`, as {sample name: [{labels, value}]}.

Flow: outputs / metrics -> **metrics_events** (schema only) -> `pms-stream schema`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = [
    "MONEY",
    "MetricsSample",
    "MetricsSnapshot",
    "StatementSummaries",
    "StatementSummary",
    "SummaryTotals",
]

MONEY = r"^-?[0-9]+\.[0-9]{2}$"  # "1234.56", "-10.00": never a float
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
Money = Annotated[str, msgspec.Meta(pattern=MONEY)]


class SummaryTotals(msgspec.Struct, frozen=True):
    duty: Money
    tax: Money
    add: Money
    cvd: Money
    amount_due: Money
    fees: dict[str, Money]  # fee class code -> amount


class StatementSummary(
    msgspec.Struct, frozen=True, tag="statement_summary", tag_field="type", kw_only=True
):
    statement_number: str
    status: Literal["preliminary", "final"]
    filer_code: str
    importer_number: str | None  # SSN-shaped numbers redacted
    payment_type: str | None
    district_port: str | None
    daily_statements: int
    deleted_entries: int
    preliminary_totals: SummaryTotals | None
    final_totals: SummaryTotals | None
    difference: SummaryTotals | None
    checks: list[str]  # codes of the checks that did not pass


class StatementSummaries(
    msgspec.Struct, frozen=True, tag="statement_summaries", tag_field="type", kw_only=True
):
    filer_code: str  # the message's key too; every summary in it is this filer's
    summaries: list[StatementSummary]  # in publication order


class MetricsSample(msgspec.Struct, frozen=True):
    labels: dict[str, str]
    value: float


class MetricsSnapshot(
    msgspec.Struct, frozen=True, tag="metrics_snapshot", tag_field="type", kw_only=True
):
    time: str  # ISO 8601, UTC
    metrics: dict[str, list[MetricsSample]]
