"""Subcommands of the `pms-stream` CLI, one module each (see `pms_stream.cli`)."""

from __future__ import annotations

from types import ModuleType

from pms_stream.commands import (
    forecast,
    generate,
    parse,
    redrive,
    report,
    reroute,
    run,
    schema,
    send,
    tail,
)

COMMANDS: tuple[ModuleType, ...] = (
    parse,
    report,
    generate,
    schema,
    run,
    send,
    tail,
    reroute,
    redrive,
    forecast,
)
