"""Start-up against the broker: bootstrap diagnosis, configuration checked against the broker,
topic administration, and the one-line reason (and exit status) of a failure.

Before anything is consumed the runner asks the broker what it allows and compares the
settings with it (`check_against_broker`): the transaction timeout with
`transaction.max.timeout.ms`, the session timeout with `group.min/max.session.timeout.ms`, the
replication factor of the topics it would create with the number of brokers, and, with
`create_topics` off, that every consumed and output topic exists. Each problem is one line naming
the setting, its value and what the broker allows; together they end the process with exit 2
before it joins the group. Topics are created with the broker's own per-topic errors reported
(`create_topics`), never "created" when they were not. `explain` turns any exception of the
start-up or of the loop into (exit status, one line) for the final log line.

Exit statuses (docs/operations.md): 0 clean stop, 1 infrastructure (brokers unreachable or not
answering, authentication or authorization refused, broker errors), 2 configuration (including
what the broker refuses), 3 stalled loop (watchdog), 4 fenced (another live instance took this
one's partitions or its `group_instance_id`).

Flow: config -> **admin** (checks, topics) -> runner (consumer, producers).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    IllegalOperation,
    IllegalSaslStateError,
    InvalidSessionTimeoutError,
    KafkaConnectionError,
    KafkaError,
    ProducerFenced,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from pms_stream.service.config import Settings, env_name
from pms_stream.service.logs import get_logger

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FENCED",
    "EXIT_INFRA",
    "StartupError",
    "TopicSpec",
    "bounded",
    "check_against_broker",
    "create_topics",
    "explain",
    "explain_bootstrap_failure",
    "http_bind_failure",
    "max_request_bytes",
    "topic_specs",
    "undescribable",
    "unless_stopped",
    "unreachable",
]

EXIT_INFRA = 1
EXIT_CONFIG = 2
EXIT_FENCED = 4
_AUTH_PROBE_TIMEOUT_MS = 10_000
_SASL_ERRORS = (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError)
_TOPIC_ALREADY_EXISTS = 36
_BROKER_LIMITS = (
    "transaction.max.timeout.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
)
log = get_logger("pms_stream.service")


class StartupError(Exception):
    """The service cannot run: `str()` is the one line for the operator, `exit_code` its status."""

    def __init__(self, message: str, exit_code: int = EXIT_INFRA) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class TopicSpec:
    """A topic the service reads or writes, and how it would create it."""

    name: str
    setting: str  # the setting that names it, e.g. "input_topic"
    configs: tuple[tuple[str, str], ...] = ()


async def unless_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` (SIGTERM/SIGINT) comes first: then cancel it, return False."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        task.result()  # raises what the work raised
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    log.info("stopped during start-up")
    return False


async def bounded(settings: Settings, step: Awaitable[Any], what: str) -> Any:
    """One start-up step that needs the brokers, within `connect_timeout_s`."""
    timeout = settings.connect_timeout_s
    try:
        return await asyncio.wait_for(step, timeout)
    except TimeoutError:
        raise StartupError(
            f"the Kafka brokers at {settings.bootstrap_servers} did not answer "
            f"({what}) within {timeout:g} s ({env_name('connect_timeout_s')}): check the "
            "address, that the brokers run, and the network between"
        ) from None


def max_request_bytes(settings: Settings) -> int:
    """The largest request a producer sends, and the `max.message.bytes` the statements and
    rejects topics are created with. A statement of 9,999 daily statements is about 3.5 MB of
    JSON, over Kafka's default 1 MB: those topics take max_statement_bytes, the producers send
    it; a larger output becomes a reject (`outputs.fit`)."""
    return max(settings.max_statement_bytes, settings.max_message_bytes) + 65_536


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the service reads or writes, with the configuration it creates them with."""
    s = settings
    big = (("max.message.bytes", str(max_request_bytes(s))),)
    specs = [TopicSpec(s.input_topic, "input_topic")]
    if s.requests_topic and s.requests_topic != s.input_topic:
        specs.append(TopicSpec(s.requests_topic, "requests_topic"))
    specs += [
        TopicSpec(s.statements_topic, "statements_topic", (("cleanup.policy", "compact"), *big)),
        TopicSpec(s.rejects_topic, "rejects_topic", big),
        TopicSpec(s.reroute_acks_topic, "reroute_acks_topic"),
        TopicSpec(s.metrics_topic, "metrics_topic"),
    ]
    if s.forecast:  # the back office's compacted forecasts topic (issue 17)
        specs.append(
            TopicSpec(s.forecasts_topic, "forecasts_topic", (("cleanup.policy", "compact"),))
        )
    return specs


def _setting(name: str) -> str:
    return env_name(name)


async def _broker_limits(admin: AIOKafkaAdminClient, broker: int) -> dict[str, int]:
    """The group and transaction limits of one broker; empty when it will not tell (ACLs)."""
    resource = ConfigResource(ConfigResourceType.BROKER, str(broker), dict.fromkeys(_BROKER_LIMITS))
    found: dict[str, int] = {}
    for response in await admin.describe_configs([resource]):
        for res in response.to_object()["resources"]:
            if res["error_code"]:
                log.warning(
                    "broker configuration not readable; its limits are not checked at start",
                    error=res["error_message"] or res["error_code"],
                )
                continue
            for entry in res["config_entries"]:
                value = entry["config_value"]
                if entry["config_names"] in _BROKER_LIMITS and value is not None:
                    found[entry["config_names"]] = int(value)
    return found


async def undescribable(client: Any, names: Iterable[str]) -> set[str]:
    """The topics of `names` the broker refuses to describe to this user (ACLs). Asked by name:
    a metadata answer for all topics leaves them out, as if they did not exist. `client` is an
    `AIOKafkaClient`; the request never creates a topic."""
    wanted = sorted(set(names))
    if not wanted:
        return set()
    request = MetadataRequest(wanted, allow_auto_topic_creation=False)
    response = await client.send(client.get_random_node(), request)
    denied = TopicAuthorizationFailedError.errno
    return {entry[1] for entry in response.topics if entry[0] == denied}


def not_authorized(settings: Settings, what: str) -> StartupError:
    """The line (exit 1) for a user the broker's ACLs refuse `what`."""
    user = settings.sasl_username or "ANONYMOUS"
    return StartupError(
        f"not authorized by Kafka at {settings.bootstrap_servers}: {what} for user {user!r}; "
        f"grant it the ACLs of docs/operations.md on group {settings.group_id!r} and the "
        "service's topics"
    )


async def check_against_broker(
    settings: Settings, admin: AIOKafkaAdminClient, topics: Iterable[TopicSpec]
) -> None:
    """Raise `StartupError` (exit 2), one line per problem, when the broker refuses a setting."""
    s = settings
    problems: list[str] = []
    cluster = await admin.describe_cluster()
    brokers = [b["node_id"] for b in cluster["brokers"]]
    limits = await _broker_limits(admin, cluster.get("controller_id") or brokers[0])
    tx_max = limits.get("transaction.max.timeout.ms")
    if s.guarantee == "exactly_once" and tx_max is not None and s.transaction_timeout_ms > tx_max:
        problems.append(
            f"{_setting('transaction_timeout_ms')} is {s.transaction_timeout_ms}, above the "
            f"broker's transaction.max.timeout.ms of {tx_max}: set it to {tx_max} or less"
        )
    low = limits.get("group.min.session.timeout.ms")
    high = limits.get("group.max.session.timeout.ms")
    if (low is not None and s.session_timeout_ms < low) or (
        high is not None and s.session_timeout_ms > high
    ):
        problems.append(
            f"{_setting('session_timeout_ms')} is {s.session_timeout_ms}, outside the broker's "
            f"group.min.session.timeout.ms..group.max.session.timeout.ms ({low}..{high})"
        )
    existing = set(await admin.list_topics())
    specs = list(topics)
    hidden = await undescribable(admin._client, [t.name for t in specs if t.name not in existing])
    if hidden:
        settings_of = {t.name: _setting(t.setting) for t in specs}
        names = ", ".join(f"{name!r} ({settings_of[name]})" for name in sorted(hidden))
        raise not_authorized(s, f"topics {names} may not be described (TOPIC_AUTHORIZATION_FAILED)")
    if s.create_topics:
        missing = [t for t in specs if t.name not in existing]
        if missing and s.replication_factor > len(brokers):
            problems.append(
                f"{_setting('replication_factor')} is {s.replication_factor}, but the cluster "
                f"has {len(brokers)} broker(s), so topics "
                f"{sorted(t.name for t in missing)} cannot be created: set it to "
                f"{len(brokers)} or less"
            )
    else:
        absent = [f"{t.name!r} ({_setting(t.setting)})" for t in specs if t.name not in existing]
        if absent:
            problems.append(
                f"{_setting('create_topics')} is false and these topics do not exist: "
                f"{', '.join(absent)}; create them, or let the service do so"
            )
    if problems:
        raise StartupError("; ".join(problems), EXIT_CONFIG)


async def create_topics(
    settings: Settings, admin: AIOKafkaAdminClient, topics: list[TopicSpec]
) -> None:
    """Create the topics that do not exist yet; a topic the broker refuses is a `StartupError`
    quoting the broker's own reason (exit 2: each refusal so far is a setting)."""
    existing = set(await admin.list_topics())
    missing = [t for t in topics if t.name not in existing]
    if not missing:
        return
    s = settings
    response = await admin.create_topics(
        [
            NewTopic(
                t.name, s.topic_partitions, s.replication_factor, topic_configs=dict(t.configs)
            )
            for t in missing
        ]
    )
    refused = [
        f"topic {e['topic']!r}: {e['error_message'] or 'no reason given'} (error {e['error_code']})"
        for e in response.to_object()["topic_errors"]
        if e["error_code"] not in (0, _TOPIC_ALREADY_EXISTS)
    ]
    if refused:
        raise StartupError("the broker refused to create " + "; ".join(refused), EXIT_CONFIG)
    log.info("created topics", topics=[t.name for t in missing])


async def explain_bootstrap_failure(settings: Settings, kafka: dict[str, Any]) -> None:
    """Raise `StartupError` when SASL or TLS is why no bootstrap server answered.

    aiokafka logs each server's error but raises only "Unable to bootstrap"; one more
    connection per server (bounded by `_AUTH_PROBE_TIMEOUT_MS`) tells an authentication
    failure apart from an unreachable broker. Returns when it is not one.
    """
    s = settings
    options = {k: v for k, v in kafka.items() if k != "bootstrap_servers"}
    for host, port, _ in collect_hosts(s.bootstrap_servers, randomize=False):
        try:
            conn = await create_conn(
                host, port, request_timeout_ms=_AUTH_PROBE_TIMEOUT_MS, **options
            )
        except _SASL_ERRORS as exc:
            raise StartupError(
                f"authentication failed for user {s.sasl_username!r} (SASL "
                f"{s.sasl_mechanism} over {s.security_protocol}) on {host}:{port}: {exc}; check "
                f"{env_name('sasl_username')}, {env_name('sasl_password')} and "
                f"{env_name('sasl_mechanism')}"
            ) from None
        except ssl.SSLError as exc:
            raise StartupError(
                f"TLS handshake with {host}:{port} failed ({s.security_protocol}, CA file "
                f"{s.ssl_cafile or 'system default'}): {exc}; check {env_name('ssl_cafile')} and "
                "the broker's certificate"
            ) from None
        except (OSError, KafkaError, TimeoutError):
            continue
        conn.close()


def unreachable(settings: Settings, waited_s: float | None = None) -> StartupError:
    """The line for brokers that refused the connection, or did not answer in time."""
    how = (
        f"did not answer within {waited_s:g} s ({_setting('connect_timeout_s')})"
        if waited_s is not None
        else "refused the connection or could not be resolved"
    )
    return StartupError(
        f"no Kafka broker at {settings.bootstrap_servers} ({_setting('bootstrap_servers')}) "
        f"{how}: check the address, that the broker runs, and the network between"
    )


def http_bind_failure(settings: Settings, exc: OSError) -> StartupError:
    """The line for an HTTP server that cannot listen (port in use, unknown host)."""
    where = f"{settings.http_host}:{settings.http_port}"
    if isinstance(exc, socket.gaierror):
        why = f"host {settings.http_host!r} ({_setting('http_host')}) cannot be resolved"
    elif exc.errno == errno.EADDRINUSE:
        why = f"port {settings.http_port} ({_setting('http_port')}) is already in use"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = f"address {settings.http_host!r} ({_setting('http_host')}) is not on this host"
    else:
        why = exc.strerror or repr(exc)
    return StartupError(f"HTTP server cannot listen on {where}: {why}", EXIT_CONFIG)


def explain(settings: Settings, exc: BaseException) -> tuple[int, str]:
    """(exit status, one line) for an exception that ends the service."""
    if isinstance(exc, StartupError):
        return exc.exit_code, str(exc)
    if isinstance(exc, ProducerFenced) or (
        isinstance(exc, IllegalOperation) and "not in transaction" in str(exc)
    ):
        return EXIT_FENCED, (
            "producer fenced: another instance owns a partition of this one (its transaction "
            f"was aborted: {exc!r}); this instance exits so that the group settles"
        )
    if isinstance(exc, InvalidSessionTimeoutError):
        return EXIT_CONFIG, (
            f"{_setting('session_timeout_ms')} is {settings.session_timeout_ms}, which the "
            "broker refuses (group.min.session.timeout.ms..group.max.session.timeout.ms)"
        )
    name = type(exc).__name__
    if "Authorization" in name:
        return EXIT_INFRA, str(not_authorized(settings, f"{name} ({exc})"))
    if isinstance(exc, KafkaConnectionError):
        return EXIT_INFRA, str(unreachable(settings)) + f" ({exc})"
    return EXIT_INFRA, f"service failed: {exc!r}"
