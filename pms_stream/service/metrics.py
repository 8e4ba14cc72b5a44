"""Prometheus metrics of the service: one `Metrics` per process, on its own registry.

Served as text at `/metrics` (`render`) and published as JSON snapshots on the metrics topic
(`snapshot`). Every name starts with `pms_`; the attribute is the name without the prefix
(`metrics.records_total` is `pms_records_total`). Labels are bounded: record type, outcome,
status, reject kind, sink, result, check code and severity, fee class, filer code, component,
and the partition number only on `open_statements` and `consumer_lag`. Never an importer
number or a statement number: a value that does not have the shape of its label (a filer code
is three letters or digits, a fee class three digits, ...) is counted as "other", so no input
can grow the label sets.

The business metrics (`statement_amount_due_total`, `fee_amount_total`,
`statement_difference_amount`) are floats made from the statements' `Decimal` amounts: they are
for dashboards and alerts, not accounting, which reads the statements themselves. They count
each statement once: a statement re-published for a reroute request (`reroute_of` set) counts
in `statements_total` but not again in the amounts (nor in `filer_statements_total`).

The counters whose labels are a small fixed set (statement status, reject kind, reroute result,
transaction result) start with every label value at 0, so a rate or an alert on a value that
has not happened yet (say, an aborted transaction) has a series to read rather than none.

Flow: runner (partition tasks, producer) -> **metrics** -> http (/metrics), metrics topic.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from pms_stream.catair.layouts import LAYOUTS
from pms_stream.statements.model import (
    RejectedEvent,
    RerouteAckEvent,
    RerouteRequestEvent,
    Statement,
    Totals,
)

__all__ = ["Metrics"]

OTHER = "other"
RECORD_TYPES = frozenset({layout.record_type for layout in LAYOUTS} | {"unknown"})
OUTCOMES = frozenset({"accepted", "rejected", "invalid"})
STATUSES = ("preliminary", "final")
REJECT_KINDS = ("record", "framing", "statement", "message")
REROUTE_RESULTS = ("received", "invalid", "acknowledged", "refused")
TRANSACTION_RESULTS = ("committed", "aborted")
DIFFERENCE_COMPONENTS = ("duty", "tax", "add", "cvd", "amount_due")
_FILER = re.compile(r"[A-Z0-9]{3}")
_FEE_CLASS = re.compile(r"\d{3}")
_WORD = re.compile(r"[a-z][a-z0-9_]{0,39}")

# Seconds. Assembly: one batch through the pure core; end to end: input timestamp to publish
# (includes waiting for the Y trailer); restore: replay after an assignment.
_ASSEMBLY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
_RESTORE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def _bounded(value: str | None, allowed: frozenset[str] | re.Pattern[str]) -> str:
    if value is None:
        return OTHER
    if isinstance(allowed, frozenset):
        return value if value in allowed else OTHER
    return value if allowed.fullmatch(value) else OTHER


class Metrics:
    """The service's metrics. The runner updates the instruments directly (`.labels(...).inc()`,
    `.set()`, `.observe()`) and through `count_records` and `observe_outputs`; labelled
    children through `child`, which caches them."""

    def __init__(self) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        # The standard process_* metrics (CPU seconds, resident and virtual memory, open and
        # maximum file descriptors, start time) on /metrics, from prometheus_client's collector.
        # On a registry of their own: the snapshots on the metrics topic stay pms_* only.
        self.process_registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.process_registry)
        r = self.registry
        # -- input and outputs
        self.messages_total = Counter("pms_messages_total", "Input messages consumed.", registry=r)
        self.records_total = Counter(
            "pms_records_total",
            "Input records by record type and outcome (accepted, rejected, invalid).",
            ["record_type", "outcome"],
            registry=r,
        )
        self.statements_total = Counter(
            "pms_statements_total", "Statements published, by status.", ["status"], registry=r
        )
        self.rejects_total = Counter(
            "pms_rejects_total",
            "Rejects dead-lettered, by kind (record, framing, statement, message).",
            ["kind"],
            registry=r,
        )
        self.outputs_total = Counter(
            "pms_outputs_total", "Messages published, by sink.", ["sink"], registry=r
        )
        self.reroute_requests_total = Counter(
            "pms_reroute_requests_total",
            "Reroute requests (received, invalid) and acknowledgements (acknowledged, refused).",
            ["result"],
            registry=r,
        )
        # -- business (floats of Decimal amounts: dashboards, not accounting)
        self.statement_amount_due_total = Counter(
            "pms_statement_amount_due_total",
            "Sum of statements' amount due (final totals for final statements), by status and "
            "filer code.",
            ["status", "filer"],
            registry=r,
        )
        self.fee_amount_total = Counter(
            "pms_fee_amount_total",
            "Sum of statements' fees, by status and fee class.",
            ["status", "fee_class"],
            registry=r,
        )
        self.statement_difference_amount = Gauge(
            "pms_statement_difference_amount",
            "Last final statement's final minus preliminary total, by filer code and component.",
            ["filer", "component"],
            registry=r,
        )
        self.filer_statements_total = Counter(
            "pms_filer_statements_total",
            "Statements published, by status and filer code (a statement sent again for a "
            "reroute request is not counted again).",
            ["status", "filer"],
            registry=r,
        )
        self.statement_checks_total = Counter(
            "pms_statement_checks_total",
            "Consistency checks that did not pass, by check code and severity.",
            ["code", "severity"],
            registry=r,
        )
        # -- state and progress
        self.open_statements = Gauge(
            "pms_open_statements",
            "Stream keys with an open statement, by input partition.",
            ["partition"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "pms_consumer_lag",
            "Last stable offset minus the next offset to process, by input partition.",
            ["partition"],
            registry=r,
        )
        self.assembly_latency_seconds = Histogram(
            "pms_assembly_latency_seconds",
            "Time to run one batch of a partition through framing and assembly.",
            buckets=_ASSEMBLY_BUCKETS,
            registry=r,
        )
        self.end_to_end_latency_seconds = Histogram(
            "pms_end_to_end_latency_seconds",
            "From the newest input message's timestamp to the statement's publication.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.transactions_total = Counter(
            "pms_transactions_total",
            "Producer transactions, by result (committed, aborted).",
            ["result"],
            registry=r,
        )
        self.restore_seconds = Histogram(
            "pms_restore_seconds",
            "Time from a partition's assignment to the end of its replay.",
            buckets=_RESTORE_BUCKETS,
            registry=r,
        )
        self.statement_store_statements = Gauge(
            "pms_statement_store_statements",
            "Statements held in the reroute store (the latest version of each, 16 days).",
            registry=r,
        )
        self.statement_store_bytes = Gauge(
            "pms_statement_store_bytes",
            "Bytes of statement JSON held in the reroute store.",
            registry=r,
        )
        self.statements_missing = Gauge(
            "pms_statements_missing",
            "Payers missing their statement of the current payment month after its 11th "
            "working day (the missing-statement watchdog; 0 when it is off).",
            registry=r,
        )
        self.forecast_amount_due = Gauge(
            "pms_forecast_amount_due",
            "ACH cash forecast: amount due over all payers on each of the latest 24 due dates, "
            "in USD (the instance running the forecast task; a float for dashboards).",
            ["due_date"],
            registry=r,
        )
        self.rebalances_total = Counter(
            "pms_rebalances_total", "Consumer group rebalances (revocations).", registry=r
        )
        self.partition_setup_failures_total = Counter(
            "pms_partition_setup_failures_total",
            "Failed attempts to set up an assigned partition (producer, committed offset) or "
            "to handle a rebalance; past the retries the service exits.",
            registry=r,
        )
        self.partitions_setting_up = Gauge(
            "pms_partitions_setting_up",
            "Assigned partitions whose set-up (producer, committed offset) is not done yet.",
            registry=r,
        )
        self.loop_iterations_total = Counter(
            "pms_loop_iterations_total", "Iterations of the processing loop.", registry=r
        )
        self.last_loop_timestamp_seconds = Gauge(
            "pms_last_loop_timestamp_seconds",
            "Unix time of the processing loop's last iteration.",
            registry=r,
        )
        # Every value of the fixed label sets exists from the start (at 0).
        for counter, values in (
            (self.statements_total, STATUSES),
            (self.rejects_total, REJECT_KINDS),
            (self.reroute_requests_total, REROUTE_RESULTS),
            (self.transactions_total, TRANSACTION_RESULTS),
        ):
            for value in values:
                counter.labels(value)

    # ---- updates ------------------------------------------------------------------------------

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, cached: `labels()` costs 0.87 µs a call where a cached child
        costs 0.24 (issue 13). Labels must already be bounded."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def count_records(self, stats: Mapping[tuple[str, str], int]) -> None:
        """Add a partition task's record counts, keyed by (record type, outcome)."""
        for (record_type, outcome), count in stats.items():
            if count > 0:
                self.child(
                    self.records_total,
                    _bounded(record_type, RECORD_TYPES),
                    _bounded(outcome, OUTCOMES),
                ).inc(count)

    def observe_outputs(self, outputs: Iterable[tuple[str, object]]) -> None:
        """Count a batch of published outputs, (`Output.sink`, `Output.event`) each: the
        outputs per sink once per batch, each event's own counters as it comes."""
        per_sink: dict[str, int] = {}
        for sink, event in outputs:
            per_sink[sink] = per_sink.get(sink, 0) + 1
            self._observe_event(event)
        for sink, count in per_sink.items():
            self.child(self.outputs_total, _bounded(sink, _WORD)).inc(count)

    def observe_output(self, sink: str, event: object) -> None:
        """Count one published output (`Output.sink`, `Output.event`; the event may be None)."""
        self.observe_outputs([(sink, event)])

    def _observe_event(self, event: object) -> None:
        if isinstance(event, Statement):
            self._observe_statement(event)
        elif isinstance(event, RejectedEvent):
            self.child(self.rejects_total, _bounded(event.kind, _WORD)).inc()
        elif isinstance(event, RerouteRequestEvent):
            result = "invalid" if event.problems else "received"
            self.child(self.reroute_requests_total, result).inc()
        elif isinstance(event, RerouteAckEvent):
            result = "acknowledged" if event.accepted else "refused"
            self.child(self.reroute_requests_total, result).inc()

    def _observe_statement(self, statement: Statement) -> None:
        status = _bounded(statement.status, frozenset(STATUSES))
        self.child(self.statements_total, status).inc()
        if statement.reroute_of is not None:
            return  # counted when first published
        filer = _bounded(statement.filer_code, _FILER)
        self.child(self.filer_statements_total, status, filer).inc()
        totals: Totals = statement.preliminary_totals
        if statement.status == "final" and statement.final_totals is not None:
            totals = statement.final_totals
        if totals.amount_due >= 0:  # amounts are unsigned in CATAIR; a counter cannot go down
            self.child(self.statement_amount_due_total, status, filer).inc(float(totals.amount_due))
        for fee in totals.fees:
            if fee.amount >= 0:
                self.child(self.fee_amount_total, status, _bounded(fee.code, _FEE_CLASS)).inc(
                    float(fee.amount)
                )
        if statement.difference is not None:
            for component in DIFFERENCE_COMPONENTS:
                value = getattr(statement.difference, component)
                self.child(self.statement_difference_amount, filer, component).set(float(value))
        for check in statement.checks:
            self.child(
                self.statement_checks_total,
                _bounded(check.code, _WORD),
                _bounded(check.severity, _WORD),
            ).inc()

    def forget_partition(self, partition: int) -> None:
        """Drop the per-partition series of a partition this process no longer owns."""
        for gauge in (self.open_statements, self.consumer_lag):
            self._children.pop((id(gauge), (str(partition),)), None)
            with contextlib.suppress(KeyError):  # older prometheus-client versions raise it
                gauge.remove(str(partition))

    # ---- output -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """Every counter and gauge (and each histogram's `_count` and `_sum`) as JSON-able data:
        `{"type": "metrics_snapshot", "time": ISO-8601, "metrics": {sample name: [{"labels":
        {...}, "value": float}]}}`. Bucket and `_created` samples are left out."""
        metrics: dict[str, list[dict[str, object]]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith(("_created", "_bucket")):
                    continue
                metrics.setdefault(sample.name, []).append(
                    {"labels": dict(sample.labels), "value": sample.value}
                )
        return {
            "type": "metrics_snapshot",
            "time": datetime.now(UTC).isoformat(),
            "metrics": metrics,
        }

    def render(self) -> bytes:
        """The Prometheus text exposition format (version 0.0.4) of the registry, then the
        process collector's."""
        return generate_latest(self.registry) + generate_latest(self.process_registry)
