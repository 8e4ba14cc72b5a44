"""The deployment files, checked without a broker for structure and for agreement with each other
and with the service's configuration: the docker compose file (and the Grafana provisioning it
mounts), the image's Dockerfile, and the Kubernetes manifests. No Docker engine is on the build
machines: the image is not built and the stack not started here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from pms_stream.service import http as service_http
from pms_stream.service.stopping import STOP_MARGIN_S
from tests.deploy_files import (
    COMPOSE,
    DASHBOARD,
    DOCKERFILE,
    DOCKERIGNORE,
    GRAFANA_PROVISIONING,
    K8S,
    POM,
    PROMETHEUS_CONFIG,
    REPO,
    dashboard,
    dockerfile_env,
    healthcheck_command,
    load_yaml,
    load_yaml_all,
    template_variables,
    validate_env,
)


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
    if "pms-stream reroute" in producer["command"][0]:  # it refuses to send without one
        assert producer["environment"]["PMS_ABI_PASSWORD"]

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
        for doc in load_yaml_all((K8S / resource).read_text(), resource):
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
    # the process ends by itself within shutdown_timeout_s + the stop deadline's margin
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace > settings.shutdown_timeout_s + STOP_MARGIN_S
    assert pod["spec"]["enableServiceLinks"] is False  # no PMS_PORT & co. from a Service "pms"
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


def test_plain_scalars_that_yaml_1_1_and_1_2_read_differently_are_refused() -> None:
    assert load_yaml_all("a: 'yes'\nb: [1, 2.5]\n---\nc: true\n") == [
        {"a": "yes", "b": [1, 2.5]},
        {"c": True},
    ]
    for bad in ("a: yes", "a: 0755", "a: 2026-01-01", "a: [on]", "a: 1:30"):
        with pytest.raises(ValueError, match="quote it"):
            load_yaml_all(bad)
