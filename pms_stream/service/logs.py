"""Logging: structlog lines (JSON for machines, console for humans) on standard error.

One pipeline for pms-stream's own loggers and for the standard-library loggers of the
libraries (aiokafka): every line goes through `structlog.stdlib.ProcessorFormatter` on one
handler of the root logger, so every line is rendered the same way and redacted the same way.

Processors, in order: context variables (`structlog.contextvars.bind_contextvars(topic=...,
partition=..., offset=...)` in the runner), log level, logger name, ISO-8601 UTC timestamp,
stack and exception rendering, then `redact_event`, then the renderer. `redact_event` runs after
the exception is rendered, so tracebacks are scrubbed too:
- values under keys named like a secret (password, passwd, secret, token, credential(s),
  api key, private key; at any depth) become "******";
- values under `importer_number` keys go through `importer_numbers.redact`;
- every string (and bytes, read as Latin-1) goes through `importer_numbers.scrub`, so a
  Social Security number never reaches a log line, wherever it hides. Integers are left alone
  (offsets and counts would be masked for nothing); an SSN must not be logged as an int.
- any other object is logged as its scrubbed `str()` (the JSON renderer would use `repr()`).
aiokafka's own loggers are kept at INFO and up: at DEBUG they print message payloads.

Flow: config -> **logs** -> every stage of the async shell.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from pms_stream.domain.importer_numbers import redact, scrub
from pms_stream.errors import ConfigError
from pms_stream.service.settings import MASK

__all__ = ["FORMATS", "LEVELS", "configure_logging", "get_logger", "redact_event"]

FORMATS = ("json", "console")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SECRET_KEY = re.compile(
    r"passw(or)?d|secret|token|credential|api[_-]?key|private[_-]?key", re.IGNORECASE
)
_IMPORTER_KEY = "importer_number"
_HANDLER_NAME = "pms-stream"


def _clean(key: str | None, value: object) -> object:
    if key is not None and _SECRET_KEY.search(key):
        return MASK if value is not None else None
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if key == _IMPORTER_KEY:
            value = redact(value)
            assert value is not None
        return scrub(value)
    if isinstance(value, bytes | bytearray):
        return scrub(bytes(value).decode("latin-1"))
    if isinstance(value, Mapping):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(key, v) for v in value]
    return scrub(str(value))


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """The structlog processor that masks secrets and SSN-shaped numbers (module docstring)."""
    return {key: _clean(key, value) for key, value in event_dict.items()}


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    fmt: str = "json", level: str = "INFO", *, stream: TextIO | None = None
) -> None:
    """Set up structlog and the root logger to write `fmt` lines of `level` and up to `stream`
    (standard error by default). Calling it again replaces the previous set-up."""
    if fmt not in FORMATS:
        raise ConfigError(f"log_format: {fmt!r}; expected one of {', '.join(FORMATS)}")
    if level.upper() not in LEVELS:
        raise ConfigError(f"log_level: {level!r}; expected one of {', '.join(LEVELS)}")
    target = stream if stream is not None else sys.stderr
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        # Exceptions arrive already rendered to text (and scrubbed): printed as they are.
        renderer = structlog.dev.ConsoleRenderer(colors=target.isatty())
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(target)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiokafka's DEBUG lines print whole message payloads (raw records, statements): data, not
    # logs. Its loggers stay at INFO and up whatever the level asked for.
    logging.getLogger("aiokafka").setLevel(max(logging.INFO, logging.getLevelName(level.upper())))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger taken at import time follows a later configure_logging().
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A logger of the pipeline `configure_logging` set up (named after its module, say)."""
    return structlog.stdlib.get_logger(name)
