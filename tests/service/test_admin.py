"""The one line and exit status `service.admin.explain` gives each way the service can end, and
the HTTP bind failures; pure (the broker-facing checks are tests/integration/test_startup.py)."""

from __future__ import annotations

import errno
import socket

import pytest
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    IllegalOperation,
    InvalidSessionTimeoutError,
    KafkaConnectionError,
    ProducerFenced,
)

from pms_stream.service.admin import (
    EXIT_CONFIG,
    EXIT_FENCED,
    EXIT_INFRA,
    StartupError,
    explain,
    http_bind_failure,
    unreachable,
)
from pms_stream.service.config import Settings

SETTINGS = Settings(bootstrap_servers="kafka-0:9092", group_id="pms", sasl_username=None)


@pytest.mark.parametrize(
    ("exc", "code", "start"),
    [
        (StartupError("named", EXIT_CONFIG), EXIT_CONFIG, "named"),
        (ProducerFenced(), EXIT_FENCED, "producer fenced: another instance owns a partition"),
        (
            IllegalOperation("Can't send messages while not in transaction"),
            EXIT_FENCED,
            "producer fenced: another instance owns a partition",
        ),
        (
            InvalidSessionTimeoutError(),
            EXIT_CONFIG,
            "PMS_SESSION_TIMEOUT_MS is 10000, which the broker refuses",
        ),
        (
            GroupAuthorizationFailedError("pms"),
            EXIT_INFRA,
            "not authorized by Kafka at kafka-0:9092: GroupAuthorizationFailedError",
        ),
        (KafkaConnectionError("Unable to bootstrap"), EXIT_INFRA, "no Kafka broker at kafka-0"),
        (RuntimeError("boom"), EXIT_INFRA, "service failed: RuntimeError('boom')"),
    ],
)
def test_every_ending_has_one_line_and_a_documented_status(
    exc: BaseException, code: int, start: str
) -> None:
    got_code, line = explain(SETTINGS, exc)
    assert got_code == code
    assert line.startswith(start), line
    assert "\n" not in line


def test_an_unrelated_illegal_operation_is_not_called_fencing() -> None:
    assert explain(SETTINGS, IllegalOperation("no group id"))[0] == EXIT_INFRA


def test_unreachable_says_where_and_how_long() -> None:
    assert "did not answer within 10 s (PMS_CONNECT_TIMEOUT_S)" in str(unreachable(SETTINGS, 10))
    assert "refused the connection" in str(unreachable(SETTINGS))


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (OSError(errno.EADDRINUSE, "in use"), "port 8080 (PMS_HTTP_PORT) is already in use"),
        (OSError(errno.EADDRNOTAVAIL, "na"), "address '127.0.0.1' (PMS_HTTP_HOST) is not on"),
        (socket.gaierror(-2, "Name or service not known"), "(PMS_HTTP_HOST) cannot be resolved"),
        (OSError(errno.EACCES, "Permission denied"), "Permission denied"),
    ],
)
def test_http_bind_failures_are_configuration(exc: OSError, says: str) -> None:
    failure = http_bind_failure(SETTINGS, exc)
    assert failure.exit_code == EXIT_CONFIG
    assert str(failure).startswith("HTTP server cannot listen on 127.0.0.1:8080: ")
    assert says in str(failure)
