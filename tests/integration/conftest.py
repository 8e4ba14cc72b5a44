"""The security details of the broker the integration tests use: SASL/SCRAM and TLS.

``broker_security`` gives the SASL_PLAINTEXT and SASL_SSL bootstrap servers, the SCRAM user and
its password and the CA file clients trust, taken, first match wins:

1. from the file named by ``PMS_KAFKA_SECURITY_ENV``: KEY=VALUE lines as ``broker.sh env``
   prints them (for an external cluster, say docker compose's, set up the same way);
2. with ``KAFKA_BOOTSTRAP_SERVERS`` set (an external cluster) and no such file: none, so the
   tests that need them fail and say how to provide them;
3. from ``deploy/kafka/broker.sh env``: the local broker ``kafka_bootstrap`` answers on, which
   creates user ``pms`` with a fresh password and a fresh CA and broker certificate at each ``up``.

``denied_user`` gives, from the same source, the SCRAM user the broker's ACLs refuse (broker.sh
creates ``pms-denied``, denied topics and groups ``pms-denied.*`` and writes to ``pms-readonly.*``;
see deploy/kafka/acls.py) for the authorization tests.

When they cannot be had the tests that request them fail (also, and especially, under ``CI``);
they never skip. Only ``PMS_KAFKA_TEST_SECURITY=0``, set explicitly, deselects them (an external
cluster without SASL listeners). The variable is in the ``PMS_KAFKA_`` namespace, which
``pms-stream run`` leaves to the broker scripts: an exported ``PMS_TEST_...`` would make the
service refuse to start (unknown setting). See docs/local-broker.md.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import pytest
from aiokafka.helpers import create_ssl_context

REPO = Path(__file__).resolve().parents[2]
BROKER_SCRIPT = REPO / "deploy" / "kafka" / "broker.sh"
SECURITY_ENV = "PMS_KAFKA_SECURITY_ENV"
DESELECT_ENV = "PMS_KAFKA_TEST_SECURITY"
FIXTURE = "broker_security"

SaslProtocol = Literal["SASL_PLAINTEXT", "SASL_SSL"]


@dataclass(frozen=True)
class BrokerSecurity:
    """How to reach the broker's SASL listeners; the password is left out of the repr."""

    plaintext_bootstrap: str  # the PLAINTEXT listener of the same broker
    sasl_plaintext_bootstrap: str
    sasl_ssl_bootstrap: str
    mechanisms: tuple[str, ...]
    username: str
    password: str = field(repr=False)
    cafile: Path

    def bootstrap(self, protocol: SaslProtocol) -> str:
        return self.sasl_ssl_bootstrap if protocol == "SASL_SSL" else self.sasl_plaintext_bootstrap

    def client_options(
        self, protocol: SaslProtocol, mechanism: str, password: str | None = None
    ) -> dict[str, Any]:
        """Security keyword arguments of an aiokafka producer, consumer or admin client (the
        bootstrap servers are ``bootstrap(protocol)``)."""
        return {
            "security_protocol": protocol,
            "sasl_mechanism": mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password if password is None else password,
            "ssl_context": (
                create_ssl_context(cafile=str(self.cafile)) if protocol == "SASL_SSL" else None
            ),
        }

    def service_settings(
        self, protocol: SaslProtocol, mechanism: str, password: str | None = None
    ) -> dict[str, str]:
        """``pms-stream run``'s environment for the same connection (bootstrap aside)."""
        settings = {
            "PMS_SECURITY_PROTOCOL": protocol,
            "PMS_SASL_MECHANISM": mechanism,
            "PMS_SASL_USERNAME": self.username,
            "PMS_SASL_PASSWORD": self.password if password is None else password,
        }
        if protocol == "SASL_SSL":
            settings["PMS_SSL_CAFILE"] = str(self.cafile)
        return settings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(DESELECT_ENV, "").strip() != "0":
        return
    kept = [item for item in items if FIXTURE not in getattr(item, "fixturenames", ())]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def _no_security(reason: str) -> NoReturn:
    where = "CI is set: " if os.environ.get("CI") else ""
    pytest.fail(
        f"{where}no SASL/TLS details of the Kafka broker for the security tests (they never "
        f"skip).\n{reason}\nRestart the local broker with `make broker-down broker-up` (every "
        f"`up` creates them), give an external cluster's in {SECURITY_ENV}=FILE (KEY=VALUE lines "
        f"as `deploy/kafka/broker.sh env` prints), or deselect the tests with {DESELECT_ENV}=0 "
        "(docs/local-broker.md).",
        pytrace=False,
    )


def parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines, values shell-quoted as bash's printf %q writes them; # comments."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        if not equals:
            raise ValueError(f"not KEY=VALUE: {line[:60]!r}")
        words = shlex.split(value)
        values[key.strip()] = words[0] if words else ""
    return values


def _local_env() -> str:
    try:
        result = subprocess.run(
            [str(BROKER_SCRIPT), "env"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _no_security(f"`{BROKER_SCRIPT.relative_to(REPO)} env` could not run: {exc}")
    if result.returncode != 0:
        _no_security(
            f"`{BROKER_SCRIPT.relative_to(REPO)} env` failed (exit {result.returncode}): "
            f"{result.stderr.strip()}"
        )
    return result.stdout


def _security(values: dict[str, str], where: str) -> BrokerSecurity:
    def need(key: str) -> str:
        value = values.get(key, "")
        if not value:
            tls = "SSL" in key and " (broker.sh has a SASL_SSL listener only with openssl)"
            _no_security(f"{where}: no {key}{tls or ''}")
        return value

    cafile = Path(need("PMS_KAFKA_SSL_CAFILE"))
    password_file = Path(need("PMS_KAFKA_SASL_PASSWORD_FILE"))
    try:
        password = password_file.read_text().strip()
        cafile.read_bytes()
    except OSError as exc:
        _no_security(f"{where}: {exc}")
    if not password:
        _no_security(f"{where}: the password file {password_file} is empty")
    return BrokerSecurity(
        plaintext_bootstrap=need("PMS_KAFKA_BOOTSTRAP_SERVERS"),
        sasl_plaintext_bootstrap=need("PMS_KAFKA_SASL_PLAINTEXT_BOOTSTRAP_SERVERS"),
        sasl_ssl_bootstrap=need("PMS_KAFKA_SASL_SSL_BOOTSTRAP_SERVERS"),
        mechanisms=tuple(need("PMS_KAFKA_SASL_MECHANISMS").split(",")),
        username=need("PMS_KAFKA_SASL_USERNAME"),
        password=password,
        cafile=cafile,
    )


@dataclass(frozen=True)
class DeniedUser:
    """The SCRAM user the broker's ACLs refuse: every topic and group named ``denied_prefix``...,
    and writes to topics named ``readonly_prefix``... (it may describe and read those)."""

    username: str
    password: str = field(repr=False)
    denied_prefix: str
    readonly_prefix: str


def _security_env(kafka_bootstrap: str) -> tuple[dict[str, str], str]:
    """The KEY=VALUE lines that describe the broker, and where they came from."""
    configured = os.environ.get(SECURITY_ENV, "").strip()
    if configured:
        try:
            text = Path(configured).read_text()
        except OSError as exc:
            _no_security(f"{SECURITY_ENV}={configured}: {exc}")
        where = f"{SECURITY_ENV}={configured}"
    elif os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip():
        _no_security(
            f"KAFKA_BOOTSTRAP_SERVERS={kafka_bootstrap} names an external cluster and "
            f"{SECURITY_ENV} is unset"
        )
    else:
        text, where = _local_env(), f"`{BROKER_SCRIPT.relative_to(REPO)} env`"
    try:
        return parse_env(text), where
    except ValueError as exc:
        _no_security(f"{where}: {exc}")


@pytest.fixture(scope="session")
def broker_security(kafka_bootstrap: str) -> BrokerSecurity:
    """The SASL/SCRAM and TLS details of the broker at ``kafka_bootstrap`` (module docstring)."""
    values, where = _security_env(kafka_bootstrap)
    security = _security(values, where)
    if (
        not os.environ.get(SECURITY_ENV, "").strip()
        and security.plaintext_bootstrap != kafka_bootstrap
    ):
        _no_security(
            f"{where} describes the broker at {security.plaintext_bootstrap}, but the tests use "
            f"{kafka_bootstrap} (another broker answers there)"
        )
    return security


@pytest.fixture(scope="session")
def denied_user(kafka_bootstrap: str, broker_security: BrokerSecurity) -> DeniedUser:
    """The user the broker's ACLs refuse, on the listeners of ``broker_security``."""
    values, where = _security_env(kafka_bootstrap)
    keys = ("USERNAME", "PASSWORD_FILE", "PREFIX")
    names = [f"PMS_KAFKA_DENIED_{k}" for k in keys] + ["PMS_KAFKA_READONLY_PREFIX"]
    if missing := [name for name in names if not values.get(name)]:
        _no_security(f"{where}: no {', '.join(missing)} (the user the ACLs refuse)")
    password_file = Path(values["PMS_KAFKA_DENIED_PASSWORD_FILE"])
    try:
        password = password_file.read_text().strip()
    except OSError as exc:
        _no_security(f"{where}: {exc}")
    return DeniedUser(
        username=values["PMS_KAFKA_DENIED_USERNAME"],
        password=password,
        denied_prefix=values["PMS_KAFKA_DENIED_PREFIX"],
        readonly_prefix=values["PMS_KAFKA_READONLY_PREFIX"],
    )
