"""How the Kafka-facing commands (send, tail, reroute, redrive) meet Kafka: every step bounded
by `command_timeout_s` (PMS_COMMAND_TIMEOUT_S, default 10 s), every failure one line that says
what failed, where, and what to check, with its own exit status, and the client always closed
(no "Unclosed AIOKafkaProducer", no traceback, none of aiokafka's own log lines).

exit status of those commands (docs/configuration.md, "Exit status"):
  0 done; 1 another Kafka error (named); 2 bad configuration or arguments;
  3 Kafka not reachable (connection refused, no answer within the bound);
  4 a topic does not exist; 5 authentication failed (SASL, TLS); 6 not authorized (ACLs).

(`pms-stream run` diagnoses its start-up in the service itself; the two may share this later.)

Flow: commands (send, tail, reroute, redrive) -> **kafka_access** -> aiokafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any, TypeVar

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    UnknownTopicOrPartitionError,
    UnsupportedSaslMechanismError,
)

from pms_stream.service.config import Settings, kafka_client_options

__all__ = [
    "EXIT_AUTHENTICATION",
    "EXIT_AUTHORIZATION",
    "EXIT_KAFKA",
    "EXIT_NO_TOPIC",
    "EXIT_UNREACHABLE",
    "KafkaCommandError",
    "bounded",
    "connected",
    "require_topic",
    "run_command",
]

EXIT_KAFKA = 1
EXIT_UNREACHABLE = 3
EXIT_NO_TOPIC = 4
EXIT_AUTHENTICATION = 5
EXIT_AUTHORIZATION = 6

_SASL = (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError)
_DENIED = (
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)
T = TypeVar("T")


class KafkaCommandError(Exception):
    """One line for the operator and the exit status that goes with it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _quiet_aiokafka() -> None:
    """aiokafka logs each retry (a missing topic: hundreds of lines); the commands say it once."""
    logger = logging.getLogger("aiokafka")
    logger.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


async def bounded(step: Awaitable[T], settings: Settings, what: str) -> T:
    """`step` within `command_timeout_s`, else the "no answer" error."""
    try:
        return await asyncio.wait_for(step, settings.command_timeout_s)
    except TimeoutError:
        raise KafkaCommandError(
            f"no answer from Kafka at {settings.bootstrap_servers} within "
            f"{settings.command_timeout_s:g} s while {what}; check that the address is a Kafka "
            "broker's listener for this security protocol and that it is up "
            "(PMS_COMMAND_TIMEOUT_S sets the bound)",
            EXIT_UNREACHABLE,
        ) from None


async def _authentication_problem(settings: Settings) -> str | None:
    """Why no bootstrap server answered, when SASL or TLS is the reason (one probe per host)."""
    if settings.security_protocol == "PLAINTEXT":
        return None
    options = {k: v for k, v in kafka_client_options(settings).items() if k != "bootstrap_servers"}
    timeout_ms = int(min(settings.command_timeout_s, 10) * 1000)
    for host, port, _ in collect_hosts(settings.bootstrap_servers, randomize=False):
        try:
            conn = await create_conn(host, port, request_timeout_ms=timeout_ms, **options)
        except _SASL as exc:
            return (
                f"authentication failed for user {settings.sasl_username!r} (SASL "
                f"{settings.sasl_mechanism} over {settings.security_protocol}) at {host}:{port}: "
                f"{exc}; check PMS_SASL_USERNAME, PMS_SASL_PASSWORD and PMS_SASL_MECHANISM"
            )
        except ssl.SSLError as exc:
            return (
                f"TLS handshake with {host}:{port} failed ({exc}); check PMS_SSL_CAFILE "
                f"({settings.ssl_cafile or 'system default'}) and the listener's protocol"
            )
        except (OSError, KafkaError, TimeoutError):
            continue
        conn.close()
    return None


def _classify(exc: BaseException, settings: Settings, topic: str | None) -> KafkaCommandError:
    servers = settings.bootstrap_servers
    name = type(exc).__name__
    if isinstance(exc, _DENIED):
        what = f"topic {topic!r}" if isinstance(exc, TopicAuthorizationFailedError) else name
        return KafkaCommandError(
            f"not authorized by Kafka at {servers}: {what} ({exc}); ask for the ACL "
            f"(user {settings.sasl_username or 'ANONYMOUS'!r})",
            EXIT_AUTHORIZATION,
        )
    if isinstance(exc, (AuthenticationFailedError, *_SASL)):
        return KafkaCommandError(
            f"authentication with Kafka at {servers} failed ({name}: {exc}); check "
            "PMS_SASL_USERNAME, PMS_SASL_PASSWORD and PMS_SASL_MECHANISM",
            EXIT_AUTHENTICATION,
        )
    if isinstance(exc, UnknownTopicOrPartitionError):
        return KafkaCommandError(
            f"topic {topic!r} does not exist on Kafka at {servers}", EXIT_NO_TOPIC
        )
    if isinstance(exc, KafkaConnectionError):
        return KafkaCommandError(
            f"cannot connect to Kafka at {servers} (connection refused or host unreachable); "
            "check that a broker runs there and --bootstrap-servers / PMS_BOOTSTRAP_SERVERS",
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, KafkaTimeoutError | TimeoutError):
        return KafkaCommandError(
            f"Kafka at {servers} did not answer in time ({name}); check the broker's health",
            EXIT_UNREACHABLE,
        )
    return KafkaCommandError(f"Kafka at {servers} failed: {name}: {exc}", EXIT_KAFKA)


@contextlib.asynccontextmanager
async def connected(
    client: Any, settings: Settings, *, topic: str | None = None
) -> AsyncIterator[Any]:
    """Start `client` (bounded), run the body, always stop it; every Kafka failure on the way
    becomes a `KafkaCommandError` (`topic`: the one the body works on, for the message)."""
    _quiet_aiokafka()
    try:
        try:
            await bounded(client.start(), settings, "connecting")
        except KafkaConnectionError:
            problem = await _authentication_problem(settings)
            if problem is not None:
                raise KafkaCommandError(problem, EXIT_AUTHENTICATION) from None
            raise
        yield client
    except (KafkaCommandError, BrokenPipeError):
        raise  # a closed pipe (`tail | head`) is the CLI's to end quietly
    except (KafkaError, OSError, TimeoutError) as exc:
        raise _classify(exc, settings, topic) from None
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), 5)


async def require_topic(client: Any, settings: Settings, topic: str) -> Any:
    """Fail with exit 4 (6 when denied) unless `topic` exists; names close ones in the message.
    `client` is the producer's or consumer's `AIOKafkaClient`; returns its ClusterMetadata."""
    # service.admin (structlog and all) only once a command talks to Kafka, not at CLI import
    from pms_stream.service.admin import undescribable  # noqa: PLC0415

    what = f"reading the metadata of {topic!r}"
    cluster = await bounded(client.fetch_all_metadata(), settings, what)
    topics = set(cluster.topics(exclude_internal_topics=True))
    # A topic the user may not describe is left out of an answer for all topics: ask by name.
    if topic in cluster.unauthorized_topics or (
        topic not in topics
        and topic in await bounded(undescribable(client, [topic]), settings, what)
    ):
        raise _classify(TopicAuthorizationFailedError(), settings, topic)
    if topic not in topics:
        close = difflib.get_close_matches(topic, sorted(topics), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KafkaCommandError(
            f"topic {topic!r} does not exist on Kafka at {settings.bootstrap_servers}{hint} "
            "(check --topic and the PMS_*_TOPIC settings)",
            EXIT_NO_TOPIC,
        )
    return cluster


def run_command(name: str, main: Coroutine[Any, Any, int]) -> int:
    """`asyncio.run(main)`, a `KafkaCommandError` written as one line with its exit status."""
    try:
        return asyncio.run(main)
    except KafkaCommandError as exc:
        sys.stderr.write(f"pms-stream {name}: {exc}\n")
        return exc.code
