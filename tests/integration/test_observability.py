"""Deployment and observability: the Grafana dashboard and the Prometheus alert rules checked
against a real Prometheus scraping a real `pms-stream run` fed through the real broker, promtool
on the config and rules, and the docker compose file, the image's Dockerfile, the Kubernetes
manifests and the Grafana provisioning checked for structure and for agreement with each other
and with the service's configuration.

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
import json
import re
import shlex
import subprocess
import sys
import typing
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from pms_stream.commands.send import messages
from pms_stream.errors import ConfigError
from pms_stream.generator import GenerateOptions, generate
from pms_stream.service import config as service_config
from pms_stream.service import http as service_http
from pms_stream.service.metrics import REJECT_KINDS, Metrics
from pms_stream.service.partition_task import InputMessage, PartitionTask
from pms_stream.statements.model import RejectedEvent, Statement
from tests.core import statements_by_hand as sh
from tests.integration import yaml_subset
from tests.integration.prometheus_harness import (
    PrometheusProcess,
    condition_vectors,
    grafana_expr,
    has_number,
    tool,
)
from tests.integration.service_harness import ServiceProcess, Topics, http_get
from tests.integration.test_reroute import request as reroute_request
from tests.kafka_helpers import delete_topics, poll_until, produce

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "pms-stream.json"
GRAFANA_PROVISIONING = DEPLOY / "grafana" / "provisioning"
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
K8S = DEPLOY / "k8s"
OPERATIONS = REPO / "docs" / "operations.md"
POM = DEPLOY / "kafka" / "pom.xml"

# Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
FORBIDDEN_LABELS = ("importer", "importer_number", "statement", "statement_number")


# ---- reading the files ------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml_subset.load(path.read_text())


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included (rows themselves left out)."""
    out: list[dict[str, Any]] = []
    for panel in doc["panels"]:
        if panel["type"] == "row":
            out += panel.get("panels", [])
        else:
            out.append(panel)
    return out


def dashboard_queries(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title / refId, expr) of every target of every panel."""
    return [(f"{p['title']} / {t['refId']}", t["expr"]) for p in panels(doc) for t in p["targets"]]


def template_variables(doc: dict[str, Any]) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = doc["templating"]["list"]
    return variables


def alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            rules += group["rules"]
    return rules


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


def validate_env(env: dict[str, str], what: str) -> service_config.Settings:
    """The settings `pms-stream run` would make of `env` (fails the test with the reasons)."""
    try:
        return service_config.load_settings(env=env)
    except ConfigError as exc:
        raise AssertionError(f"{what}: pms-stream would refuse this configuration:\n{exc}") from exc


def dockerfile_env() -> dict[str, str]:
    """The PMS_* variables the image's last stage sets with ENV."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stage = text.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for line in stage.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                name, _, value = pair.partition("=")
                if name.startswith("PMS_"):
                    env[name] = value
    return env


def healthcheck_command() -> list[str]:
    match = re.search(r"^HEALTHCHECK [^\n]*?\\\n\s*CMD (\[.*\])$", DOCKERFILE.read_text(), re.M)
    assert match, "HEALTHCHECK ... CMD [exec form] in deploy/Dockerfile"
    command: list[str] = json.loads(match.group(1))
    return command


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


def test_compose_file_runs_the_whole_stack() -> None:
    compose = load_yaml(COMPOSE)
    assert set(compose) <= {"services", "volumes", "networks", "name"} | {
        k for k in compose if k.startswith("x-")
    }
    services: dict[str, dict[str, Any]] = compose["services"]
    assert set(services) == {
        "kafka",
        "kafka-topics",
        "pms-stream",
        "demo-producer",
        "prometheus",
        "grafana",
    }
    known_keys = {
        "build",
        "command",
        "depends_on",
        "entrypoint",
        "environment",
        "healthcheck",
        "hostname",
        "image",
        "ports",
        "profiles",
        "restart",
        "stop_grace_period",
        "volumes",
    }
    version = re.search(r"<kafka.version>(.+)</kafka.version>", POM.read_text())
    assert version
    for name, service in services.items():
        assert set(service) <= known_keys, f"{name}: {set(service) - known_keys}"
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image {image!r} has a tag"
        assert not image.endswith(":latest"), name
        if image.split(":")[0].endswith("apache/kafka"):
            assert image.split(":")[1] == version.group(1), f"{name}: Kafka {version.group(1)}"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if condition["condition"] == "service_healthy":
                target = services[dependency]
                has_check = "healthcheck" in target or "build" in target  # the image's own
                assert has_check, f"{name} waits for {dependency}'s health, which has no check"
        for volume in service.get("volumes", []):
            source, target, *_ = volume.split(":")
            assert source.startswith("./"), f"{name}: bind mounts from the repository only"
            assert (REPO / source).exists(), f"{name}: {source} does not exist"
        for port in service.get("ports", []):
            assert re.fullmatch(r"\d+:\d+", port), f"{name}: quoted host:container port"
        restart = service.get("restart", "no")
        assert restart in {"no", "unless-stopped", "always", "on-failure"}
    assert services["demo-producer"]["profiles"] == ["demo"]
    assert all("profiles" not in s for n, s in services.items() if n != "demo-producer")

    # pms-stream: built from deploy/Dockerfile, configured by PMS_* only, and valid as such
    app = services["pms-stream"]
    assert app["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
    env = {**dockerfile_env(), **{k: str(v) for k, v in app["environment"].items()}}
    assert all(k.startswith("PMS_") for k in app["environment"])
    settings = validate_env(env, "docker-compose.yml pms-stream")
    assert settings.bootstrap_servers == "kafka:19092"
    assert (
        "INTERNAL://kafka:19092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    )
    assert settings.http_host == "0.0.0.0"
    assert f"{settings.http_port}:{settings.http_port}" in app["ports"]
    producer = services["demo-producer"]
    assert producer["image"] == app["image"]
    assert producer["depends_on"]["pms-stream"]["condition"] == "service_healthy"
    validate_env(
        {k: str(v) for k, v in producer["environment"].items() if k.startswith("PMS_")},
        "docker-compose.yml demo-producer",
    )

    # the topic setup creates every topic the service uses, the statements topic compacted
    assert not settings.create_topics
    script = services["kafka-topics"]["command"][0]
    assert services["kafka-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert app["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully"
    for topic in (
        settings.input_topic,
        settings.reroute_acks_topic,
        settings.rejects_topic,
        settings.metrics_topic,
    ):
        assert f"create {topic}\n" in script, topic
    assert f"create {settings.statements_topic} --config cleanup.policy=compact\n" in script

    # Prometheus scrapes the service where compose runs it, and loads the rules
    prometheus = services["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    scrape = {j["job_name"]: j for j in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    targets = scrape["pms-stream"]["static_configs"][0]["targets"]
    assert targets == [f"pms-stream:{settings.http_port}"]

    # Grafana gets the provisioning, and the dashboards where the provider looks
    grafana = services["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":") for v in grafana["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = load_yaml(GRAFANA_PROVISIONING / "dashboards" / "pms-stream.yml")["providers"][0]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"
    datasource = load_yaml(GRAFANA_PROVISIONING / "datasources" / "prometheus.yml")["datasources"]
    assert [d["url"] for d in datasource] == ["http://prometheus:9090"]
    variables = {v["name"]: v for v in template_variables(dashboard())}
    assert variables["datasource"]["current"]["value"] == datasource[0]["uid"]


def test_dockerfile_is_multi_stage_slim_pinned_and_non_root() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1))
    froms = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.M)
    assert froms == [("${PYTHON_IMAGE}", "build"), ("${PYTHON_IMAGE}", "runtime")]
    runtime = text.split("AS runtime")[1]
    assert "COPY --from=build /opt/pms-stream /opt/pms-stream" in runtime
    assert re.search(r"^USER \$\{UID\}:\$\{UID\}$", runtime, re.M)
    assert re.search(r"^ARG UID=10001$", runtime, re.M)
    assert 'ENTRYPOINT ["pms-stream"]' in runtime
    assert 'CMD ["run"]' in runtime
    assert "EXPOSE 8080" in runtime
    assert "pip" not in runtime, "the runtime stage installs nothing"
    assert not re.search(r"^(COPY|ADD) (?!--from)", runtime, re.M), "runtime copies only /opt"
    env = dockerfile_env()
    assert set(env) == {"PMS_HTTP_HOST", "PMS_HTTP_PORT", "PMS_LOG_FORMAT"}
    validate_env(env, "deploy/Dockerfile ENV")
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2]
    # the build context holds what the Dockerfile copies and nothing else
    rules = [line for line in DOCKERIGNORE.read_text().splitlines() if line and line[0] != "#"]
    assert rules[0] == "*"
    included = {r[1:] for r in rules if r.startswith("!")}
    copied = {
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M)
        for source in line.split()[:-1]
    }
    assert copied == {"pyproject.toml", "README.md", "pms_stream"}
    assert copied == included
    for source in copied:
        assert (REPO / source).exists()


def test_kubernetes_manifests_agree_with_the_image_and_the_service() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    docs: dict[str, dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for doc in yaml_subset.load_all((K8S / resource).read_text()):
            docs[doc["kind"]] = doc
    assert set(docs) == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }
    assert {p.name for p in K8S.glob("*.yaml")} == {
        *kustomization["resources"],
        "kustomization.yaml",
    }
    deployment = docs["Deployment"]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert docs["Service"]["spec"]["selector"].items() <= labels.items()
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert docs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    (container,) = pod["spec"]["containers"]
    refs = {k: e[k]["name"] for e in container["envFrom"] for k in e}
    assert refs == {
        "configMapRef": docs["ConfigMap"]["metadata"]["name"],
        "secretRef": docs["Secret"]["metadata"]["name"],
    }
    secret = docs["Secret"]["stringData"]
    assert set(secret) == {"PMS_SASL_USERNAME", "PMS_SASL_PASSWORD"}
    settings = validate_env({**docs["ConfigMap"]["data"], **secret}, "deploy/k8s configmap+secret")
    assert settings.security_protocol.startswith("SASL")
    assert pod["spec"]["terminationGracePeriodSeconds"] > settings.shutdown_timeout_s
    (port,) = container["ports"]
    assert port["containerPort"] == settings.http_port
    assert settings.http_host == "0.0.0.0"
    paths = {}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] == port["name"]
        paths[probe] = get["path"]
    assert paths == {
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
        "startupProbe": "/healthz",
    }
    assert set(paths.values()) <= service_http._PATHS
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    uid = re.search(r"^ARG UID=(\d+)$", DOCKERFILE.read_text(), re.M)
    assert uid
    assert security["runAsUser"] == int(uid.group(1))
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    service_port = docs["Service"]["spec"]["ports"][0]
    assert service_port["targetPort"] == port["name"]
    assert docs["Service"]["spec"]["publishNotReadyAddresses"] is True
    scrape = load_yaml(K8S / "prometheus-scrape.yml")["scrape_configs"][0]
    assert scrape["job_name"] == "pms-stream"  # what the alert rules select on
    dns = scrape["dns_sd_configs"][0]
    name = docs["Service"]["metadata"]["name"]
    assert dns["names"] == [f"{name}.{kustomization['namespace']}.svc.cluster.local"]
    assert dns["port"] == settings.http_port
    readme = (K8S / "README.md").read_text()
    assert "partitions" in readme
    assert "## Scaling" in readme


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


def test_the_yaml_reader_reads_the_subset_and_refuses_the_rest() -> None:
    text = "a: 1\nb:\n- x\n- {k: 'v'}\nc: |\n  one\n  two\nd: \"q: #\"  # note\n---\ne: [1, 2.5]\n"
    assert yaml_subset.load_all(text) == [
        {"a": 1, "b": ["x", {"k": "v"}], "c": "one\ntwo\n", "d": "q: #"},
        {"e": [1, 2.5]},
    ]
    for bad in ("a: yes", "a: 0755", "a: 2026-01-01", "a: &x 1", "a: *x", 'a: "open', "a: b\n  c"):
        with pytest.raises(yaml_subset.YamlError):
            yaml_subset.load(bad)


# ---- the real thing: a Prometheus scraping pms-stream fed through the broker -----------------


@pytest_asyncio.fixture
async def topics(admin: AIOKafkaAdminClient) -> AsyncIterator[Topics]:
    t = Topics.new("pms-obs")
    yield t
    await delete_topics(admin, [t.input, t.statements, t.acks, t.rejects, t.metrics])


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
            date=final.process_date.isoformat(),
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
