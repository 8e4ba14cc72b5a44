"""Logging: JSON and console lines on a real stream, context binding, library loggers in the same
pipeline, idempotent set-up, and redaction: no secret and no SSN-shaped number gets out, from
values, nested values, messages, library messages or tracebacks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from pms_stream.errors import ConfigError
from pms_stream.service.config import Password
from pms_stream.service.logs import configure_logging, get_logger, redact_event

SSN = "123-45-6789"
BARE_SSN = "987654321"
SECRET = "hunter2-s3cret"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Each test configures logging on its own stream; put the process back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def json_stream(level: str = "INFO") -> io.StringIO:
    stream = io.StringIO()
    configure_logging("json", level, stream=stream)
    return stream


def test_json_line_has_level_logger_timestamp_and_context() -> None:
    stream = json_stream()
    structlog.contextvars.bind_contextvars(topic="pms.records", partition=3, offset=41)
    get_logger("pms_stream.test").info("statement emitted", statements=2)
    (line,) = lines(stream)
    assert line["event"] == "statement emitted"
    assert line["level"] == "info"
    assert line["logger"] == "pms_stream.test"
    assert line["timestamp"].endswith("Z")
    assert (line["topic"], line["partition"], line["offset"], line["statements"]) == (
        "pms.records",
        3,
        41,
        2,
    )


def test_level_filters() -> None:
    stream = json_stream("WARNING")
    log = get_logger("x")
    log.info("hidden")
    log.warning("shown")
    assert [line["event"] for line in lines(stream)] == ["shown"]


def test_library_loggers_share_the_pipeline() -> None:
    stream = json_stream()
    logging.getLogger("aiokafka.consumer").warning("heartbeat for %s failed", SSN)
    (line,) = lines(stream)
    assert line["logger"] == "aiokafka.consumer"
    assert line["level"] == "warning"
    assert line["event"] == "heartbeat for ***-**-**** failed"


def test_configure_twice_keeps_one_handler_and_the_last_stream() -> None:
    first = json_stream()
    second = json_stream()
    get_logger("x").info("once")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1


def test_logger_taken_before_configure_follows_it() -> None:
    log = get_logger("early")
    stream = json_stream()
    log.info("late")
    assert lines(stream)[0]["event"] == "late"


def test_console_format() -> None:
    stream = io.StringIO()
    configure_logging("console", "DEBUG", stream=stream)
    get_logger("x").debug("hello", importer_number=SSN, sasl_password=SECRET)
    text = stream.getvalue()
    assert "hello" in text
    assert "debug" in text
    assert "importer_number=***-**-****" in text
    assert SECRET not in text
    assert SSN not in text
    assert "\x1b[" not in text  # no colours on a non-terminal


def test_bad_format_or_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="log_format"):
        configure_logging("xml", "INFO", stream=io.StringIO())
    with pytest.raises(ConfigError, match="log_level"):
        configure_logging("json", "LOUD", stream=io.StringIO())


def test_default_stream_is_standard_error(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    get_logger("x").info("to stderr")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err)["event"] == "to stderr"


# ---- redaction -----------------------------------------------------------------------------


def test_nothing_secret_or_personal_reaches_the_stream() -> None:
    stream = json_stream()
    log = get_logger("x")
    log.info(
        f"record for importer {SSN} rejected",
        importer_number=BARE_SSN,
        password=SECRET,
        settings={"sasl_password": SECRET, "nested": {"api_key": SECRET, "Token": SECRET}},
        credentials=[SECRET],
        values=[f"raw {SSN}", (BARE_SSN,)],
        raw=f"Q1 {BARE_SSN}   ".encode(),
        secret_password=Password(SECRET),
        error=ValueError(f"bad importer {SSN}"),
    )
    try:
        raise ValueError(f"cannot place importer {SSN}")
    except ValueError:
        log.exception("failed", client_secret=SECRET)
    text = stream.getvalue()
    assert SECRET not in text
    assert SSN not in text
    assert BARE_SSN not in text
    first, second = lines(stream)
    assert first["event"] == "record for importer ***-**-**** rejected"
    assert first["importer_number"] == "***-**-****"
    assert first["password"] == "******"
    assert first["settings"] == {
        "sasl_password": "******",
        "nested": {"api_key": "******", "Token": "******"},
    }
    assert first["credentials"] == "******"
    assert first["values"] == ["raw ***-**-****", ["***-**-****"]]
    assert first["raw"] == "Q1 ***-**-****   "
    assert first["error"] == "bad importer ***-**-****"
    assert "Traceback" in second["exception"]
    assert "cannot place importer ***-**-****" in second["exception"]
    assert second["client_secret"] == "******"


def test_redact_event_leaves_ordinary_values_alone() -> None:
    event = {
        "event": "committed",
        "partition": 2,
        "offset": 123456789,  # nine digits, but an int: offsets are not masked
        "lag": 0.5,
        "ok": True,
        "none": None,
        "importer_number": "12-3456789AB",  # an employer number is not personal
        "statement": "171234567",  # nine digits in a string: masked, as scrub documents
        "password": None,
    }
    assert redact_event(None, "info", dict(event)) == {
        **event,
        "statement": "***-**-****",
    }


def test_capture_logs_with_the_redaction_processor() -> None:
    configure_logging("json", "DEBUG", stream=io.StringIO())
    with capture_logs(processors=[redact_event]) as captured:
        get_logger("x").info("importer %s", importer_number=SSN, sasl_password=SECRET)
    assert captured == [
        {
            "event": "importer %s",
            "importer_number": "***-**-****",
            "sasl_password": "******",
            "log_level": "info",
        }
    ]


def test_aiokafka_stays_at_info_even_at_debug() -> None:
    import logging

    from pms_stream.service.logs import configure_logging

    configure_logging("json", "DEBUG")
    assert logging.getLogger("aiokafka").getEffectiveLevel() == logging.INFO
    configure_logging("json", "WARNING")
    assert logging.getLogger("aiokafka").getEffectiveLevel() == logging.WARNING
