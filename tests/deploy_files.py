"""The deployment files read the way the tests check them: paths, YAML and JSON readers, and
the settings `pms-stream run` would make of an environment. Used by tests/test_deploy_files.py
(compose, Dockerfile, Kubernetes, Grafana provisioning, no broker) and by
tests/integration/test_observability.py (dashboard and alerts against a real Prometheus).

YAML is read by PyYAML (`safe_load_all`), with one policy on top: the project's YAML is read by
go-yaml (docker compose, Kubernetes, Prometheus) and Grafana too, which follow YAML 1.2, while
PyYAML follows YAML 1.1. A plain (unquoted) scalar the two read differently (`yes`, `no`, `on`,
`off`, `y`, `n`, octal-looking `0755`, dates, sexagesimal `1:30`, `1_000`) is refused: quote it.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from pms_stream.errors import ConfigError
from pms_stream.service import config as service_config

REPO = Path(__file__).resolve().parents[1]
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


# Plain scalars that YAML 1.1 (PyYAML) and YAML 1.2 (go-yaml, Grafana) read differently.
_AMBIGUOUS = re.compile(
    r"(?i:y|n|yes|no|on|off)"  # booleans in YAML 1.1
    r"|[-+]?0[0-9_]+"  # octal in YAML 1.1
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?"  # timestamps
    r"|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?"  # base 60 in YAML 1.1
    r"|[-+]?[0-9][0-9_]*_[0-9_]*"  # 1_000 in YAML 1.1
)


def load_yaml_all(text: str, where: str = "<text>") -> list[Any]:
    """Every document of `text` (PyYAML's `safe_load_all`), after refusing the plain scalars
    that YAML 1.1 and 1.2 read differently."""
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if (
            isinstance(token, yaml.ScalarToken)
            and token.plain
            and _AMBIGUOUS.fullmatch(token.value)
        ):
            line = token.start_mark.line + 1
            raise ValueError(
                f"{where}:{line}: plain scalar {token.value!r} means different things in YAML 1.1 "
                "and 1.2: quote it"
            )
    return list(yaml.safe_load_all(text))


def load_yaml(path: Path) -> Any:
    """The one document of a YAML file."""
    (doc,) = load_yaml_all(path.read_text(), str(path))
    return doc


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
