"""Observability: the Grafana dashboard and the Prometheus alert rules checked against a real
Prometheus scraping a real `pms-stream run` fed through the real broker, and promtool on the
config and rules. The docker compose file, the image's Dockerfile, the Kubernetes manifests and
the Grafana provisioning are checked, without a broker, in tests/test_deploy_files.py.

What is not checked here: that the image builds and the compose stack starts (no Docker engine
on the build machines), and Grafana itself (not installable here): its provisioning files and the
dashboard JSON are checked for structure, and every query in the dashboard runs through
Prometheus as Grafana would send it.

The real-Prometheus test needs Debian's `prometheus` package (`prometheus`, `promtool`; .ci/run
installs it) and fails, never skips, without it. How alert expressions are checked: see
`tests/integration/prometheus_harness.py` (`condition_vectors`).
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
import typing
from collections import Counter
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pms_stream.generator import GenerateOptions, generate
from pms_stream.packing import messages
from pms_stream.service.metrics import REJECT_KINDS, Metrics
from pms_stream.statements.model import RejectedEvent, Statement
from pms_stream.stream.partition_task import InputMessage, PartitionTask
from pms_testkit.kafka_helpers import poll_until, produce
from pms_testkit.service_harness import (
    ServiceProcess,
    Topics,
    http_get,
    reroute_request,
    topics_fixture,
)
from tests.core import statements_by_hand as sh
from tests.deploy_files import (
    K8S,
    OPERATIONS,
    PROMETHEUS_CONFIG,
    RULE_FILES,
    RULE_TESTS,
    alert_rules,
    dashboard,
    dashboard_queries,
    healthcheck_command,
    load_yaml,
    panels,
    template_variables,
)
from tests.integration.prometheus_harness import (
    PrometheusProcess,
    condition_vectors,
    grafana_expr,
    has_number,
    tool,
)

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
FORBIDDEN_LABELS = ("importer", "importer_number", "statement", "statement_number")


# ---- reading the files ------------------------------------------------------------------------


def families() -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, type, label names) of every metric of the service (prometheus_client keeps them in
    attributes of its metric objects; a labelled metric shows no sample before it has a child)."""
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for collector in Metrics().registry._collector_to_names:
        metric = typing.cast(Any, collector)
        out.append((metric._name, metric._type, tuple(metric._labelnames)))
    return out


def metric_labels() -> dict[str, frozenset[str]]:
    """Every sample name the service exports and the labels each can carry."""
    out: dict[str, frozenset[str]] = {}
    for base, kind, names in families():
        if kind == "counter":
            out[f"{base}_total"] = frozenset(names)
        elif kind == "histogram":
            out[f"{base}_bucket"] = frozenset((*names, "le"))
            out[f"{base}_sum"] = out[f"{base}_count"] = frozenset(names)
        else:
            out[base] = frozenset(names)
    return out


def referenced(expr: str) -> tuple[set[str], set[str]]:
    """The metric names and the label names (in matchers and in by/without/on/ignoring) that an
    expression mentions."""
    without_strings = re.sub(r'"(\\.|[^"\\])*"', '""', expr)
    metrics = set(re.findall(r"\b(pms_[a-z_]+|up)\b", without_strings))
    labels: set[str] = set()
    for matchers in re.findall(r"\{([^}]*)\}", without_strings):
        labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", without_strings):
        labels |= {name.strip() for name in group.split(",") if name.strip()}
    return metrics, labels


# ---- promtool and the files alone (no broker) ---------------------------------------------------


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_accepts_the_config_the_rules_and_the_rule_tests() -> None:
    assert RULE_FILES
    assert RULE_TESTS
    runs = [
        promtool("check", "config", str(PROMETHEUS_CONFIG)),
        promtool("check", "config", str(K8S / "prometheus-scrape.yml")),
        promtool("check", "rules", *map(str, RULE_FILES)),
        promtool("test", "rules", *map(str, RULE_TESTS)),
    ]
    for run in runs:
        assert run.returncode == 0, f"{' '.join(run.args)}:\n{run.stdout}{run.stderr}"
    assert f"{len(RULE_FILES)} rule files found" in runs[0].stdout  # the config loads the rules


def test_every_alert_has_a_severity_a_summary_a_runbook_and_a_firing_unit_test() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    assert "record" not in {k for r in rules for k in r}, "alert rules only (no recording rule)"
    tested = {
        t["alertname"]
        for f in RULE_TESTS
        for c in load_yaml(f)["tests"]
        for t in c.get("alert_rule_test", [])
        if t.get("exp_alerts")
    }
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        runbook = rule["annotations"]["runbook"]
        assert runbook == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
        assert runbook.split("#")[1] in headings, f"no section {runbook} in docs/operations.md"
        assert rule["alert"] in tested, f"{rule['alert']}: no promtool test where it fires"
    wanted = {  # the list, each by the metric it watches
        "consumer lag growing": "pms_consumer_lag",
        "reject rate": "pms_rejects_total",
        "incomplete statements": 'kind="statement"',
        "transaction aborts": 'result="aborted"',
        "service down": "up{",
        "stalled loop": "pms_last_loop_timestamp_seconds",
        "final-versus-preliminary difference": "pms_statement_difference_amount",
    }
    for what, needle in wanted.items():
        assert any(needle in r["expr"] for r in rules), f"no alert on {what}"


def test_dashboard_json_is_a_grafana_dashboard_with_the_two_rows() -> None:
    doc = dashboard()
    assert doc["uid"] == "pms-stream"
    assert doc["title"]
    assert isinstance(doc["schemaVersion"], int)
    assert doc["schemaVersion"] >= 36
    rows = [p["title"] for p in doc["panels"] if p["type"] == "row"]
    assert rows == ["Operations", "Business"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    occupied: set[tuple[int, int]] = set()
    for panel in doc["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0
        assert g["x"] + g["w"] <= 24
        assert g["h"] > 0
        cells = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
    for panel in panels(doc):
        assert panel["type"] in {"timeseries", "stat", "bargauge", "table", "gauge"}
        assert panel["description"], f"{panel['title']}: a description says what it shows"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for t in panel["targets"]:
            assert t["datasource"] == panel["datasource"]
            assert t["expr"].strip()
    variables = {v["name"]: v for v in template_variables(doc)}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    titles = " | ".join(p["title"].lower() for p in panels(doc))
    for wanted in (
        "throughput by record type",
        "statements by status",
        "rejects by reason",
        "consumer lag",
        "latency",
        "open statements",
        "transactions",
        "reroutes by result",
        "statements by filer",
        "amount due by filer",
        "fee class",
        "final minus preliminary",
        "amount due by due date",
    ):
        assert wanted in titles, f"no panel for {wanted!r}"


def test_queries_name_only_exported_metrics_and_their_labels_never_an_importer() -> None:
    exported = metric_labels()
    exported["up"] = frozenset()
    doc = dashboard()
    queries = [
        (name, grafana_expr(expr, {"job": "j", "instance": "i", "filer": "f"}))
        for name, expr in dashboard_queries(doc)
    ]
    queries += [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()]
    queries += [
        (f"variable {v['name']}", v["definition"])
        for v in template_variables(doc)
        if v["type"] == "query"
    ]
    used: set[str] = set()
    for name, expr in queries:
        metrics, labels = referenced(expr)
        assert metrics, f"{name}: names no metric"
        unknown = metrics - set(exported)
        assert not unknown, f"{name}: {sorted(unknown)} are not exported by pms-stream"
        allowed = set(TARGET_LABELS).union(*(exported[m] for m in metrics))
        assert labels <= allowed, f"{name}: labels {sorted(labels - allowed)} do not exist"
        for forbidden in FORBIDDEN_LABELS:
            assert forbidden not in labels, f"{name}: {forbidden} as a label"
        used |= metrics
    # every family of the service is on the dashboard or behind an alert
    families = {re.sub(r"_(bucket|sum|count)$", "", m) for m in used}
    missing = {re.sub(r"_(bucket|sum|count)$", "", m) for m in exported} - families - {"up"}
    assert missing <= {"pms_messages_total"}, f"metrics on no panel and in no alert: {missing}"


def test_operations_doc_lists_every_metric_with_its_labels() -> None:
    text = OPERATIONS.read_text()
    for base, kind, labels in families():
        name = f"{base}_total" if kind == "counter" else base
        rows = [line for line in text.splitlines() if line.startswith(f"| `{name}`")]
        assert len(rows) == 1, f"docs/operations.md: one table row for {name}"
        for label in labels:
            assert f"`{label}`" in rows[0], f"{name}: label {label} not described"


def test_fixed_label_sets_start_at_zero_and_statements_count_once_per_filer() -> None:
    metrics = Metrics()
    lines = metrics.render().decode().splitlines()
    for line in (
        'pms_transactions_total{result="aborted"} 0.0',
        'pms_transactions_total{result="committed"} 0.0',
        'pms_rejects_total{kind="statement"} 0.0',
        'pms_reroute_requests_total{result="refused"} 0.0',
        'pms_statements_total{status="final"} 0.0',
    ):
        assert line in lines
    kinds = typing.get_args(typing.get_type_hints(RejectedEvent)["kind"])
    assert set(REJECT_KINDS) == set(kinds)
    task = PartitionTask("in", 0)
    outputs = task.process(InputMessage(0, b"k", "\n".join(sh.TRANSMISSION).encode()))
    for out in outputs:
        metrics.observe_output(out.sink.value, out.event)
    first = next(o.event for o in outputs if isinstance(o.event, Statement))
    metrics.observe_output("statements", msgspec.structs.replace(first, reroute_of="t:0:1:0"))
    lines = metrics.render().decode().splitlines()
    assert 'pms_filer_statements_total{filer="B76",status="preliminary"} 1.0' in lines
    assert 'pms_filer_statements_total{filer="B76",status="final"} 1.0' in lines
    assert 'pms_statements_total{status="preliminary"} 2.0' in lines  # the re-send counts here


@pytest.mark.parametrize(
    ("expr", "vectors"),
    [
        ("up == 0", ["up"]),
        ('absent(up{job="a"})', ['up{job="a"}']),
        ("a / b > 0.01", ["a / b"]),
        ("time() - t > 30", ["time() - t"]),
        ("a > 1 and on (job) group_left b > 0", ["a", "b"]),
        ("(x > 1) or (y < bool 2) unless ignoring(i) z", ["x", "y", "z"]),
        ("0 < x", ["x"]),
        ("a > b", ["a", "b"]),
        ('x{l="a > b and c"} > 1', ['x{l="a > b and c"}']),
        ("sum by (le) (rate(h[5m])) >= 3", ["sum by (le) (rate(h[5m]))"]),
    ],
)
def test_condition_vectors_are_what_an_alert_compares(expr: str, vectors: list[str]) -> None:
    assert condition_vectors(expr) == vectors


# ---- the real thing: a Prometheus scraping pms-stream fed through the broker -----------------


topics = topics_fixture("pms-obs")


def scrape_config(prometheus: PrometheusProcess, service_port: int) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with the test's targets, a 1 s scrape and evaluation
    interval, and the rule files by absolute path."""
    project = load_yaml(PROMETHEUS_CONFIG)
    targets = {"pms-stream": f"127.0.0.1:{service_port}", "prometheus": prometheus.address}
    jobs = project["scrape_configs"]
    assert {j["job_name"] for j in jobs} == set(targets)
    for job in jobs:
        (static,) = job["static_configs"]
        static["targets"] = [targets[job["job_name"]]]
    project["global"] = {
        **project["global"],
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "1s",
    }
    project["rule_files"] = [str(PROMETHEUS_CONFIG.parent / r) for r in project["rule_files"]]
    return dict(project)


async def scraped_value(prometheus: PrometheusProcess, expr: str) -> float:
    data = await prometheus.query(expr)
    return sum(float(s["value"][1]) for s in data["result"])


async def service_metric(service: ServiceProcess, prefix: str) -> float:
    _, text = await asyncio.to_thread(http_get, service.port, "/metrics")
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


@pytest.mark.kafka
@pytest.mark.asyncio
@pytest.mark.timeout(180)
async def test_every_dashboard_query_and_alert_expression_returns_data_from_a_real_prometheus(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    # Input that gives every metric a value: statements of several filers, finals that differ
    # from their preliminaries, bad records between and inside statements, a statement that
    # never completes (rejected whole at the idle timeout), and a reroute request answered MS0.
    generated = generate(
        GenerateOptions(statements=30, seed=5, bad=8, bad_inside=0.5, finals=1.0, final_changes=1.0)
    )
    buffer = io.BytesIO()
    generated.write(buffer)
    expected = generated.statements("x")
    final = next(
        s
        for s in expected
        if s.status == "final" and s.difference is not None and s.difference.amount_due != 0
    )
    assert final.process_date is not None
    reroute_today = final.process_date + timedelta(days=1)
    service = ServiceProcess(
        kafka_bootstrap,
        topics,
        tmp_path,
        "obs",
        PMS_IDLE_TIMEOUT_S="4",
        PMS_REROUTE_TODAY=reroute_today.isoformat(),
        PMS_METRICS_INTERVAL_S="5",
        PMS_FORECAST="true",  # the "amount due by due date" panel
        PMS_FORECASTS_TOPIC=topics.statements + "-forecasts",
    )
    prometheus = PrometheusProcess(tmp_path / "prometheus")
    config = scrape_config(prometheus, service.port)
    await prometheus.start(config)
    try:
        await prometheus.wait_ready()
        await service.start()
        await service.wait_ready()
        # Prometheus hands new targets to its scrapers after about 5 s: wait for two scrapes of
        # the idle service, so that every counter's rise is seen by rate() and increase().
        await poll_until(
            partial(scraped_value, prometheus, 'count_over_time(up{job="pms-stream"}[1m])'),
            lambda n: n >= 2,
            timeout=30,
            what="two scrapes of pms-stream",
        )

        await produce(
            kafka_bootstrap, topics.input, [(b"PARTIAL", "\n".join(sh.TRANSMISSION[:5]).encode())]
        )
        chunks = list(messages(io.BytesIO(buffer.getvalue()), 10, "filer", concatenate=False))
        third = len(chunks) // 3 + 1
        for start in range(0, len(chunks), third):  # across several scrapes: rates are not 0
            await produce(kafka_bootstrap, topics.input, chunks[start : start + third])
            await asyncio.sleep(1.3)
        await poll_until(
            lambda: service_metric(service, "pms_statements_total{"),
            lambda n: n >= len(expected),
            timeout=60,
            what="statements published",
        )
        request = reroute_request(
            filer=final.filer_code,
            port=final.district_port,
            office=final.office_code,
            statements_of=final.process_date,
        )
        await produce(kafka_bootstrap, topics.input, [(final.filer_code.encode(), request)])
        for prefix in (
            'pms_reroute_requests_total{result="acknowledged"}',
            'pms_rejects_total{kind="statement"}',
        ):
            await poll_until(
                partial(service_metric, service, prefix),
                lambda n: n >= 1,
                timeout=30,
                what=prefix,
            )
            await poll_until(
                partial(scraped_value, prometheus, prefix),
                lambda n: n >= 1,
                timeout=30,
                what=f"{prefix} scraped by Prometheus",
            )
        await asyncio.sleep(2.5)  # a few more scrapes and rule evaluations after the last change

        failures: list[str] = []
        targets = await asyncio.to_thread(prometheus.api, "targets")
        health = {t["labels"]["job"]: t["health"] for t in targets["activeTargets"]}
        assert health == {"pms-stream": "up", "prometheus": "up"}, targets

        # Grafana's variables, from Prometheus as Grafana would ask for them
        doc = dashboard()
        variables: dict[str, str] = {}
        for variable in template_variables(doc):
            if variable["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["definition"])
            assert match, variable["definition"]
            selector = grafana_expr(match.group(1), variables)
            values = await prometheus.label_values(selector, match.group(2))
            if not values:
                failures.append(f"variable {variable['name']}: no values for {selector}")
                continue
            # "All" where the variable has it (the dashboard's default), else the first value
            variables[variable["name"]] = (
                variable["allValue"] if variable.get("includeAll") else values[0]
            )
        assert variables.get("job") == "pms-stream", variables

        checked: Counter[str] = Counter()
        for name, expr in dashboard_queries(doc):
            query = grafana_expr(expr, variables)
            try:
                data = await prometheus.query(query)
            except AssertionError as exc:
                failures.append(f"panel {name}: {exc}")
                continue
            checked["dashboard queries"] += 1
            if not has_number(data):
                failures.append(f"panel {name}: no data for {query} -> {data}")

        for rule in alert_rules():
            try:
                await prometheus.query(rule["expr"])  # the whole condition is valid PromQL
            except AssertionError as exc:
                failures.append(f"alert {rule['alert']}: {exc}")
            for vector in condition_vectors(rule["expr"]):
                data = await prometheus.query(vector)
                checked["alert vectors"] += 1
                if not has_number(data):
                    failures.append(f"alert {rule['alert']}: no data for {vector} -> {data}")

        groups = (await asyncio.to_thread(prometheus.api, "rules"))["groups"]
        loaded = {r["name"]: r for g in groups for r in g["rules"]}
        assert set(loaded) == {r["alert"] for r in alert_rules()}
        for name, rule in loaded.items():
            assert rule["type"] == "alerting"
            if rule["health"] != "ok" or rule.get("lastError"):
                failures.append(f"rule {name}: health {rule['health']} {rule.get('lastError')}")
            if rule["lastEvaluation"].startswith("0001-"):
                failures.append(f"rule {name}: never evaluated")

        assert not failures, "\n".join(failures)
        assert checked["dashboard queries"] == len(dashboard_queries(doc))
        assert checked["alert vectors"] >= len(alert_rules())

        # the image's HEALTHCHECK command, run against the live service
        command = healthcheck_command()
        probe = subprocess.run(
            [sys.executable, *command[1:]],
            env={"PMS_HTTP_PORT": str(service.port)},
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert probe.returncode == 0, probe.stderr
    finally:
        await prometheus.stop()
        code = await service.terminate() if service.process is not None else 0
    assert code == 0, service.tail()
    assert prometheus.process is not None
    assert prometheus.process.returncode is not None
