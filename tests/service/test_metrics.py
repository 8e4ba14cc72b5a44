"""Metrics: the counters fed from a real partition task's outputs, bounded labels (no importer
or statement number in any label, whatever the input), the text exposition and the snapshot."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pms_stream.service.metrics import Metrics
from pms_stream.statements.model import (
    RerouteAckEvent,
    RerouteRequestEvent,
    Source,
    Statement,
)
from pms_stream.stream.outputs import Output, with_summaries
from pms_stream.stream.partition_task import InputMessage, PartitionTask
from tests.core import statements_by_hand as sh

SSN = "123-45-6789"


def run_transmission(records: list[str]) -> tuple[PartitionTask, list[Output]]:
    task = PartitionTask("in", 0)
    outputs = task.process(InputMessage(0, b"k", "\n".join(records).encode()))
    return task, outputs


def feed(metrics: Metrics, records: list[str]) -> list[Output]:
    """Count the outputs as the publisher does: with the summaries folded in (one message)."""
    task, outputs = run_transmission(records)
    metrics.count_records(task.take_stats())
    outputs = with_summaries(outputs, {})
    for out in outputs:
        metrics.observe_output(out.sink.value, out.event)
    return outputs


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the text exposition, parsed back by prometheus_client."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def statements(records: list[str]) -> list[Statement]:
    _, outputs = run_transmission(records)
    return [o.event for o in outputs if isinstance(o.event, Statement)]


def test_every_name_has_the_prefix_and_its_attribute() -> None:
    metrics = Metrics()
    names = [family.name for family in metrics.registry.collect()]
    assert names
    for name in names:
        assert name.startswith("pms_")
        attribute = name.removeprefix("pms_")
        if not hasattr(metrics, attribute):  # counters are collected without `_total`
            attribute += "_total"
        assert hasattr(metrics, attribute), name


def test_records_statements_and_business_metrics_from_a_transmission() -> None:
    metrics = Metrics()
    feed(metrics, sh.TRANSMISSION)
    assert value(metrics, "pms_records_total", record_type="Q1", outcome="accepted") == 4
    assert value(metrics, "pms_records_total", record_type="A", outcome="accepted") == 1
    assert value(metrics, "pms_statements_total", status="preliminary") == 1
    assert value(metrics, "pms_statements_total", status="final") == 1
    assert value(metrics, "pms_outputs_total", sink="statements") == 2
    assert value(metrics, "pms_outputs_total", sink="metrics") == 1  # both summaries in one
    # preliminary: its preliminary totals; final: its final totals
    due = value(metrics, "pms_statement_amount_due_total", status="preliminary", filer="B76")
    assert due == pytest.approx(1469.05)
    due = value(metrics, "pms_statement_amount_due_total", status="final", filer="B76")
    assert due == pytest.approx(1459.05)
    fee = value(metrics, "pms_fee_amount_total", status="final", fee_class="499")
    assert fee == pytest.approx(54.61)
    diff = value(metrics, "pms_statement_difference_amount", filer="B76", component="duty")
    assert diff == pytest.approx(-10.0)
    assert (
        value(metrics, "pms_statement_difference_amount", filer="B76", component="amount_due")
        == -10.0
    )
    checks = value(metrics, "pms_statement_checks_total", code="final_difference", severity="info")
    assert checks == 1


def test_rejects_and_invalid_records_by_kind() -> None:
    metrics = Metrics()
    bad = "Q9" + " " * 78
    feed(metrics, [bad, "short"])
    assert value(metrics, "pms_records_total", record_type="unknown", outcome="invalid") == 1
    assert value(metrics, "pms_rejects_total", kind="record") == 1
    assert value(metrics, "pms_rejects_total", kind="framing") == 1


def test_reroute_requests_and_acks_by_result() -> None:
    metrics = Metrics()
    request = RerouteRequestEvent(
        transmission_date="111526",
        importer_number=SSN,
        client_branch=None,
        statement_number="27040000001",
        scope="A",
        preliminary_request="Y",
        final_request="N",
        problems=[],
        site_code=None,
        batch_filer_code=None,
        district_port=None,
        filer_code="B76",
        office_code=None,
        qr_in_block=1,
        raw="QR",
        source=Source(),
    )
    ack = RerouteAckEvent(
        code="00", message="ok", reroute_count=1, accepted=True, raw="QX", source=Source()
    )
    metrics.observe_output("reroute_acks", request)
    metrics.observe_output("reroute_acks", msgspec.structs.replace(request, problems=["bad"]))
    metrics.observe_output("reroute_acks", ack)
    metrics.observe_output("reroute_acks", msgspec.structs.replace(ack, accepted=False))
    metrics.observe_output("reroute_acks", msgspec.structs.replace(ack, accepted=False))
    for result, count in [("received", 1), ("invalid", 1), ("acknowledged", 1), ("refused", 2)]:
        assert value(metrics, "pms_reroute_requests_total", result=result) == count
    assert value(metrics, "pms_outputs_total", sink="reroute_acks") == 5


def test_labels_never_carry_importer_or_statement_numbers() -> None:
    metrics = Metrics()
    final = statements(sh.TRANSMISSION)[1]
    odd = msgspec.structs.replace(
        final,
        importer_number=SSN,
        filer_code=SSN,  # not a filer code's shape: counted as "other"
        checks=[*final.checks, msgspec.structs.replace(final.checks[0], code=SSN)],
    )
    metrics.observe_output("statements", odd)
    metrics.count_records({(SSN, SSN): 1})
    metrics.observe_output(SSN, None)
    text = metrics.render().decode()
    snapshot = json.dumps(metrics.snapshot())
    for number in (SSN, final.statement_number, "27040000001"):
        assert number not in text
        assert number not in snapshot
    assert value(metrics, "pms_statement_amount_due_total", status="final", filer="other") > 0
    assert value(metrics, "pms_records_total", record_type="other", outcome="other") == 1
    assert value(metrics, "pms_outputs_total", sink="other") == 1


def test_a_rerouted_statement_counts_once_in_the_amounts() -> None:
    metrics = Metrics()
    prelim = statements(sh.TRANSMISSION)[0]
    metrics.observe_output("statements", prelim)
    metrics.observe_output("statements", msgspec.structs.replace(prelim, reroute_of="req-1"))
    assert value(metrics, "pms_statements_total", status="preliminary") == 2
    due = value(metrics, "pms_statement_amount_due_total", status="preliminary", filer="B76")
    assert due == pytest.approx(float(prelim.preliminary_totals.amount_due))
    assert prelim.preliminary_totals.amount_due == Decimal("1469.05")


def test_partition_gauges_and_forgetting_a_partition() -> None:
    metrics = Metrics()
    metrics.open_statements.labels("3").set(2)
    metrics.consumer_lag.labels("3").set(40)
    metrics.consumer_lag.labels("4").set(1)
    assert value(metrics, "pms_open_statements", partition="3") == 2
    metrics.forget_partition(3)
    metrics.forget_partition(9)  # never seen: nothing to drop
    found = samples(metrics)
    assert ("pms_open_statements", (("partition", "3"),)) not in found
    assert found[("pms_consumer_lag", (("partition", "4"),))] == 1


def test_runner_instruments() -> None:
    metrics = Metrics()
    metrics.transactions_total.labels("committed").inc()
    metrics.transactions_total.labels("aborted").inc(2)
    metrics.rebalances_total.inc()
    metrics.loop_iterations_total.inc(3)
    metrics.messages_total.inc(5)
    metrics.last_loop_timestamp_seconds.set(1_700_000_000)
    metrics.assembly_latency_seconds.observe(0.002)
    metrics.end_to_end_latency_seconds.observe(1.5)
    metrics.restore_seconds.observe(0.3)
    assert value(metrics, "pms_transactions_total", result="aborted") == 2
    assert value(metrics, "pms_rebalances_total") == 1
    assert value(metrics, "pms_loop_iterations_total") == 3
    assert value(metrics, "pms_messages_total") == 5
    assert value(metrics, "pms_last_loop_timestamp_seconds") == 1_700_000_000
    assert value(metrics, "pms_end_to_end_latency_seconds_count") == 1
    assert value(metrics, "pms_end_to_end_latency_seconds_bucket", le="2.5") == 1
    assert value(metrics, "pms_end_to_end_latency_seconds_bucket", le="1.0") == 0
    assert value(metrics, "pms_restore_seconds_sum") == pytest.approx(0.3)


def test_snapshot_is_json_with_counters_gauges_and_histogram_sums() -> None:
    metrics = Metrics()
    feed(metrics, sh.TRANSMISSION)
    metrics.assembly_latency_seconds.observe(0.01)
    snapshot = json.loads(json.dumps(metrics.snapshot()))
    assert snapshot["type"] == "metrics_snapshot"
    assert snapshot["time"].endswith("+00:00")
    m = snapshot["metrics"]
    assert {"labels": {"status": "final"}, "value": 1.0} in m["pms_statements_total"]
    assert m["pms_assembly_latency_seconds_count"] == [{"labels": {}, "value": 1.0}]
    assert "pms_assembly_latency_seconds_sum" in m
    assert not [name for name in m if name.endswith(("_bucket", "_created"))]


def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.rebalances_total.inc()
    assert value(first, "pms_rebalances_total") == 1
    assert value(second, "pms_rebalances_total") == 0


def test_the_process_collector_is_on_metrics() -> None:
    text = Metrics().render().decode()
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ):
        assert re.search(rf"^{name} [0-9.e+]+$", text, re.MULTILINE), name
    assert "process_" not in json.dumps(Metrics().snapshot())  # the metrics topic: pms_* only
