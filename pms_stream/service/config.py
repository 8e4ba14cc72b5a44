"""Service configuration: one frozen `Settings`, from flags, environment, a TOML file, defaults.

Precedence, highest first: command-line flags (`overrides`) > `PMS_*` environment variables >
the TOML file (`--config FILE`, else `PMS_CONFIG`) > the defaults below. Every source is
converted and checked in one place, and all problems are reported together in one
`ConfigError`; each line names the setting, where the value came from (flag, environment
variable, file) and what is accepted. The SASL password never appears in a message, a repr or
a log line: it is a `Password` and only `kafka_client_options` reveals it.

Names: the field names below are the TOML keys (at the top level, or all under a `[pms]` table);
the environment variable is `PMS_` + the upper-case field name (`PMS_HTTP_PORT`); the flag is
`--` + the field name with dashes (`--http-port`).

Environment policy: an unknown `PMS_*` variable is an error (a typo such as
`PMS_BOOTSTRAP_SERVER` must not silently fall back to the default), except `PMS_CONFIG` (the
file), the further Kafka client options `PMS_KAFKA_{CLIENT,CONSUMER,PRODUCER,ADMIN}_*`
(client_options.py, checked there), the rest of the `PMS_KAFKA_*` namespace, which belongs to
the local broker scripts (deploy/kafka/broker.sh: `PMS_KAFKA_CACHE`, `PMS_KAFKA_STATE_DIR`,
...), `COMMAND_ENV` (`PMS_ABI_PASSWORD`, read by `pms-stream reroute` itself), and the
variables Kubernetes injects for a Service whose name starts with `pms`
(`PMS_PORT=tcp://10.0.0.7:8080`, `PMS_SERVICE_HOST`, `PMS_PORT_8080_TCP_ADDR`, ...: name *and*
value of the service-link shape), which are ignored with one warning on standard error
(`SERVICE_LINK`). The values of unknown
variables are never printed (one may be a misspelt password). An empty environment value sets
an optional setting to None and is an error for the others.

Checks: choices as listed; booleans true/false, 1/0, yes/no, on/off (any case); numbers
positive and finite (http_port 0-65535, 0 meaning any free port); broker lists host[:port],...;
topic names as Kafka allows them; no output topic equal to a consumed one (input, requests);
SASL protocols need mechanism, user name and password, and SASL settings need a SASL protocol;
SSL files must exist and need an SSL protocol; a key file needs a certificate file; the batch
timeout under half the stall timeout. What only the broker knows (its transaction and session
limits, its broker count, which topics exist) is checked at start by `service.admin`.

Flow: **config** -> runner (consumer, producers, admin), http, logs, metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import os
import re
import sys
import tomllib
import types
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from pms_stream.errors import ConfigError
from pms_stream.service import client_options
from pms_stream.service.settings import (
    SASL_PROTOCOLS,
    SSL_PROTOCOLS,
    Password,
    Settings,
    kafka_client_options,
)
from pms_stream.stream.partition_task import OFFSET_METADATA_MAX, max_open_keys_for

__all__ = [
    "ENV_PREFIX",
    "Password",
    "Settings",
    "add_arguments",
    "kafka_client_options",
    "load_settings",
    "settings_from_args",
]

ENV_PREFIX = "PMS_"
CONFIG_ENV = "PMS_CONFIG"
# Variables of the local broker scripts (deploy/kafka/broker.sh); not settings of the service.
FOREIGN_ENV_PREFIXES = ("PMS_KAFKA_",)
# Variables one command reads itself, not settings: `pms-stream reroute`'s A record password.
COMMAND_ENV = frozenset({"PMS_ABI_PASSWORD"})

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_VALUE_SHOWN = 60  # characters of a rejected value quoted in a message


# ---- field kinds, derived once from the annotations ----------------------------------------


@dataclass(frozen=True)
class _Kind:
    base: type  # str, int, float, bool or Password
    optional: bool
    choices: tuple[str, ...] = ()


def _kind_of(hint: Any) -> _Kind:
    optional = False
    if get_origin(hint) in (Union, types.UnionType):
        members = [a for a in get_args(hint) if a is not type(None)]
        optional = len(members) < len(get_args(hint))
        (hint,) = members
    if get_origin(hint) is Literal:
        return _Kind(str, optional, tuple(str(a) for a in get_args(hint)))
    assert hint in (str, int, float, bool, Password), hint
    return _Kind(hint, optional)


_NOT_SETTINGS = ("client_options", "ignored_env")
_KINDS: dict[str, _Kind] = {
    name: _kind_of(hint)
    for name, hint in get_type_hints(Settings).items()
    if name not in _NOT_SETTINGS
}
FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Settings) if f.name not in _NOT_SETTINGS
)
_TOPICS = tuple(name for name in FIELDS if name.endswith("_topic"))
_CONSUMED_TOPICS = ("input_topic", "requests_topic")


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


class _Problems:
    """Collects every problem so that one run reports them all."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)

    def raise_if_any(self) -> None:
        if self.lines:
            count = len(self.lines)
            head = "invalid configuration" + (f" ({count} problems)" if count > 1 else "")
            raise ConfigError(head + ":\n  " + "\n  ".join(self.lines))


def _shown(name: str, value: object) -> str:
    """The value as a message may quote it: never the password, never very long."""
    if name == "sasl_password" or isinstance(value, Password):
        return "(value hidden)"
    text = repr(value)
    return text if len(text) <= _VALUE_SHOWN else text[: _VALUE_SHOWN - 3] + "..."


def _accepted(name: str) -> str:
    kind = _KINDS[name]
    if kind.choices:
        text = "one of " + ", ".join(kind.choices)
    elif name == "log_level":
        text = "one of " + ", ".join(LOG_LEVELS) + " (any case)"
    elif kind.base is bool:
        text = "true/false, 1/0, yes/no, on/off (any case)"
    elif name == "http_port":
        text = "an integer 0-65535 (0: any free port)"
    elif name == "bootstrap_servers":
        text = "host:port[,host:port...] with ports 1-65535"
    elif name in _TOPICS:
        text = "a Kafka topic name: 1-249 characters of A-Z a-z 0-9 . _ -"
    elif kind.base is int:
        text = "a positive integer"
    elif kind.base is float:
        text = "a positive number"
    else:
        text = "a non-empty string"
    return text + (", or empty for none" if kind.optional else "")


def _convert(name: str, value: object) -> object:
    """The typed, checked value of one setting, or ValueError (the caller says where from)."""
    typed = _typed(name, value)
    if typed is None:
        return None
    if isinstance(typed, int | float) and not isinstance(typed, bool):
        in_range = 0 <= typed <= 65535 if name == "http_port" else typed > 0
        if not in_range:
            raise ValueError
    if name == "bootstrap_servers" and not all(map(_is_server, str(typed).split(","))):
        raise ValueError
    if name in _TOPICS and (not _TOPIC.fullmatch(str(typed)) or typed in (".", "..")):
        raise ValueError
    return typed


def _is_server(entry: str) -> bool:
    host, colon, port = entry.strip().rpartition(":")
    if not colon:
        return bool(port)  # a host alone: aiokafka's default port
    return bool(host) and port.isdigit() and 1 <= int(port) <= 65535


def _typed(name: str, value: object) -> object:
    kind = _KINDS[name]
    if isinstance(value, str):
        value = value.strip()
        if value == "" and kind.optional:
            return None
    if kind.base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError
    if kind.base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.replace("_", "")):
            return int(value.replace("_", ""))
        raise ValueError
    if kind.base is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            number = float(value)  # ValueError when not a number
        else:
            raise ValueError
        if not math.isfinite(number):
            raise ValueError
        return number
    if kind.base is Password:
        if isinstance(value, Password):
            return value
        if isinstance(value, str) and value:
            return Password(value)
        raise ValueError
    if not isinstance(value, str) or not value:
        raise ValueError
    if name == "log_level":
        if value.upper() not in LOG_LEVELS:
            raise ValueError
        return value.upper()
    if kind.choices and value not in kind.choices:
        raise ValueError
    return value


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


# ---- sources ------------------------------------------------------------------------------


def _read_file(
    path: str,
    problems: _Problems,
    via: str = "",
    kafka: list[dict[str, dict[str, object]]] | None = None,
) -> dict[str, tuple[object, str]]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        problems.add(f"config file {path}{via}: cannot be read ({exc.strerror or exc})")
        return {}
    except tomllib.TOMLDecodeError as exc:
        problems.add(f"config file {path}{via}: not valid TOML ({exc})")
        return {}
    table: dict[str, Any] = data
    where = path
    if "pms" in data:
        if not isinstance(data["pms"], dict):
            problems.add(f"config file {path}: 'pms' must be a table ([pms])")
            return {}
        for key in data:
            if key in _KINDS:
                problems.add(
                    f"config file {path}: key {key!r} is outside the [pms] table; "
                    "put every setting under [pms] (or use no [pms] table at all)"
                )
        table, where = data["pms"], f"{path} [pms]"
    found: dict[str, tuple[object, str]] = {}
    for key, value in table.items():
        if key == "kafka" and kafka is not None:
            kafka.append(client_options.read_table(value, where, problems.lines))
            continue
        if key not in _KINDS:
            problems.add(
                f"config file {where}: unknown key {key!r}{_suggest(key, list(FIELDS))}; "
                "valid keys: " + ", ".join(FIELDS)
            )
            continue
        if isinstance(value, dict | list):
            problems.add(
                f"{key} (config file {where}): a table or array; expected {_accepted(key)}"
            )
            continue
        found[key] = (value, f"config file {where}")
    return found


# Kubernetes service links (enableServiceLinks): for a Service "pms-x", PMS_X_SERVICE_HOST=ip,
# PMS_X_SERVICE_PORT[_NAME]=port, PMS_X_PORT=tcp://ip:port, PMS_X_PORT_<port>_TCP=tcp://ip:port,
# PMS_X_PORT_<port>_TCP_PROTO=tcp, ..._PORT=port, ..._ADDR=ip. Name and value must both fit.
_HOST = r"[0-9A-Za-z.:\[\]-]+"
SERVICE_LINK: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(name), re.compile(value))
    for name, value in (
        (r"PMS(_\w+)?_SERVICE_HOST", _HOST),
        (r"PMS(_\w+)?_SERVICE_PORT(_\w+)?", r"\d{1,5}"),
        (r"PMS(_\w+)?_PORT", rf"(tcp|udp|sctp)://{_HOST}:\d{{1,5}}"),
        (r"PMS(_\w+)?_PORT_\d{1,5}_(TCP|UDP|SCTP)", rf"(tcp|udp|sctp)://{_HOST}:\d{{1,5}}"),
        (r"PMS(_\w+)?_PORT_\d{1,5}_(TCP|UDP|SCTP)_PROTO", r"tcp|udp|sctp"),
        (r"PMS(_\w+)?_PORT_\d{1,5}_(TCP|UDP|SCTP)_PORT", r"\d{1,5}"),
        (r"PMS(_\w+)?_PORT_\d{1,5}_(TCP|UDP|SCTP)_ADDR", _HOST),
    )
)


def is_service_link(var: str, value: str) -> bool:
    """Whether `var=value` has the shape of a variable Kubernetes injects for a Service."""
    return any(n.fullmatch(var) and v.fullmatch(value) for n, v in SERVICE_LINK)


def _read_env(
    env: Mapping[str, str], problems: _Problems, ignored: list[str] | None = None
) -> dict[str, tuple[object, str]]:
    names = {env_name(n): n for n in FIELDS}
    found: dict[str, tuple[object, str]] = {}
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV or var in COMMAND_ENV:
            continue
        if var.startswith(FOREIGN_ENV_PREFIXES):
            continue
        name = names.get(var)
        if name is None and is_service_link(var, env[var]):
            if ignored is not None:
                ignored.append(var)
            continue
        if name is None:
            problems.add(
                f"unknown environment variable {var}{_suggest(var, list(names))}; "
                "valid names: " + ", ".join([*names, CONFIG_ENV])
            )
            continue
        found[name] = (env[var], f"environment variable {var}")
    return found


def _read_overrides(overrides: Mapping[str, object]) -> dict[str, tuple[object, str]]:
    found: dict[str, tuple[object, str]] = {}
    for name, value in overrides.items():
        if name not in _KINDS:
            raise KeyError(f"no setting named {name!r}")  # a programming error, not a user's
        if value is not None:
            found[name] = (value, f"flag {flag_name(name)}")
    return found


# ---- validation ---------------------------------------------------------------------------


_INSTANCE_ID = re.compile(r"[A-Za-z0-9._-]{1,249}")


def _check(settings: Settings, origin: Mapping[str, str], problems: _Problems) -> None:
    def where(name: str) -> str:
        return origin.get(name, "default")

    consumed = {getattr(settings, n): n for n in _CONSUMED_TOPICS if getattr(settings, n)}
    for name in _TOPICS:
        topic = getattr(settings, name)
        if name not in _CONSUMED_TOPICS and topic in consumed:
            problems.add(
                f"{name} ({where(name)}) and {consumed[topic]} ({where(consumed[topic])}) are "
                f"both {topic!r}; the service would read its own output: use another topic"
            )
    protocol = settings.security_protocol
    sasl = ("sasl_mechanism", "sasl_username", "sasl_password")
    if protocol in SASL_PROTOCOLS:
        for name in sasl:
            if getattr(settings, name) is None:
                problems.add(
                    f"{name}: required with security_protocol {protocol} "
                    f"({where('security_protocol')}); set {env_name(name)} or '{name}' in the "
                    "config file"
                )
    else:
        for name in sasl:
            if getattr(settings, name) is not None:
                problems.add(
                    f"{name} ({where(name)}): set, but security_protocol is {protocol} "
                    f"({where('security_protocol')}); SASL settings need SASL_PLAINTEXT or "
                    "SASL_SSL"
                )
    ssl_files = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    for name in ssl_files:
        path = getattr(settings, name)
        if path is None:
            continue
        if protocol not in SSL_PROTOCOLS:
            problems.add(
                f"{name} ({where(name)}): set, but security_protocol is {protocol} "
                f"({where('security_protocol')}); SSL files need SSL or SASL_SSL"
            )
        elif not os.path.isfile(path):
            problems.add(f"{name} ({where(name)}): no such file: {path!r}")
    instance = settings.group_instance_id
    if instance is not None and not _INSTANCE_ID.fullmatch(instance):
        problems.add(
            f"group_instance_id ({where('group_instance_id')}): {instance!r}; expected 1 to 249 "
            "letters, digits, '.', '_' or '-' (a pod name, say), unique to each instance"
        )
    if settings.reroute_today is not None:
        try:
            date.fromisoformat(settings.reroute_today)
        except ValueError:
            problems.add(
                f"reroute_today ({where('reroute_today')}): {settings.reroute_today!r} is not a "
                "date YYYY-MM-DD"
            )
    keys_limit = max_open_keys_for(OFFSET_METADATA_MAX)
    if settings.max_open_keys > keys_limit:
        problems.add(
            f"max_open_keys ({where('max_open_keys')}): {settings.max_open_keys}; at most "
            f"{keys_limit}: the offsets where open stream keys began are committed as offset "
            f"metadata, which Kafka limits to {OFFSET_METADATA_MAX} bytes "
            "(offset.metadata.max.bytes)"
        )
    if settings.batch_timeout_ms / 1000 >= settings.stall_timeout_s / 2:
        problems.add(
            f"batch_timeout_ms ({where('batch_timeout_ms')}): {settings.batch_timeout_ms} ms is "
            f"not under half of stall_timeout_s ({where('stall_timeout_s')}: "
            f"{settings.stall_timeout_s:g} s); an idle loop would look stalled: lower it below "
            f"{int(settings.stall_timeout_s * 500)}"
        )
    _check_back_office(settings, where, problems)
    if settings.ssl_keyfile is not None and settings.ssl_certfile is None:
        problems.add(
            f"ssl_keyfile ({where('ssl_keyfile')}): set without ssl_certfile; the key belongs "
            "to a client certificate"
        )


# ---- entry points -------------------------------------------------------------------------


def load_settings(
    *,
    env: Mapping[str, str],
    config_file: str | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """The settings from flags (`overrides`, None values ignored) > `env` > file > defaults.

    `config_file` defaults to `env["PMS_CONFIG"]` when that is set. Raises `ConfigError`
    listing every problem found.
    """
    problems = _Problems()
    raw: dict[str, tuple[object, str]] = {}
    kafka: list[dict[str, dict[str, object]]] = []
    ignored: list[str] = []
    if config_file is not None:
        raw.update(_read_file(config_file, problems, "", kafka))
    elif env.get(CONFIG_ENV):
        raw.update(_read_file(env[CONFIG_ENV], problems, f" (from {CONFIG_ENV})", kafka))
    raw.update(_read_env(env, problems, ignored))
    kafka.append(client_options.read_env(env, problems.lines))
    raw.update(_read_overrides(overrides or {}))
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    for name, (value, source) in raw.items():
        try:
            values[name] = _convert(name, value)
        except ValueError:
            problems.add(f"{name} ({source}): {_shown(name, value)}; expected {_accepted(name)}")
        else:
            origin[name] = source
    problems.raise_if_any()
    settings = Settings(
        **values,  # type: ignore[arg-type]  # each value converted to its kind
        client_options=client_options.merge(*kafka),
        ignored_env=tuple(ignored),
    )
    _check(settings, origin, problems)
    problems.raise_if_any()
    return settings


_FLAG_HELP: dict[str, tuple[str, str]] = {  # setting: (metavar, help) of each flag
    "bootstrap_servers": ("HOST:PORT[,...]", "Kafka brokers"),
    "group_id": ("ID", "consumer group id"),
    "input_topic": ("TOPIC", "topic of the raw 80-character records"),
    "statements_topic": ("TOPIC", "topic the statements are published to"),
    "reroute_acks_topic": ("TOPIC", "topic of reroute requests and acknowledgements"),
    "rejects_topic": ("TOPIC", "dead-letter topic of rejected input"),
    "metrics_topic": ("TOPIC", "topic of statement summaries and metrics snapshots"),
    "requests_topic": ("TOPIC", "extra input topic of reroute requests"),
    "guarantee": ("", "delivery guarantee"),
    "idle_timeout_s": ("SECONDS", "an idle open statement is flushed after this long"),
    "http_host": ("HOST", "address the /metrics, /healthz, /readyz server binds to"),
    "http_port": ("PORT", "port of that HTTP server (0: any free port)"),
    "log_format": ("", "log lines as JSON, or for humans"),
    "log_level": ("LEVEL", "lowest level logged: DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    "create_topics": ("", "create missing topics at start"),
    "topic_partitions": ("N", "partitions of the topics created at start"),
}
# The settings that have a command-line flag (the most used ones); the rest: env or file.
FLAGS: tuple[str, ...] = tuple(_FLAG_HELP)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` and a flag per setting in `FLAGS`; every default is None ("not given")."""
    group = parser.add_argument_group(
        "settings",
        "Each flag overrides the environment variable PMS_<NAME> and the config file's key. "
        "Settings without a flag: environment or config file (pms_stream/service/config.py).",
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help=f"TOML file of settings (keys: field names, optionally under [pms]); "
        f"default: ${CONFIG_ENV}",
    )
    for name in FLAGS:
        kind = _KINDS[name]
        metavar, text = _FLAG_HELP[name]
        default = getattr(Settings, name)
        text += f" (${env_name(name)}; default: {'none' if default is None else default})"
        if kind.base is bool:
            group.add_argument(
                flag_name(name),
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=text,
            )
        else:
            group.add_argument(
                flag_name(name),
                dest=name,
                default=None,
                choices=kind.choices or None,
                metavar=metavar or None,
                help=text,
            )


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """The settings for parsed `args` (from a parser given `add_arguments`) and `env`."""
    overrides = {name: getattr(args, name, None) for name in FLAGS}
    settings = load_settings(
        env=env, config_file=getattr(args, "config", None), overrides=overrides
    )
    if settings.ignored_env:
        sys.stderr.write(service_link_warning(settings.ignored_env) + "\n")
    return settings


def service_link_warning(names: tuple[str, ...]) -> str:
    """The one warning for ignored service-link variables: their names, never their values."""
    return (
        f"pms-stream: warning: ignored {len(names)} Kubernetes service-link variable(s) "
        f"({', '.join(names)}); set enableServiceLinks: false in the pod spec to drop them"
    )


def _check_back_office(
    settings: Settings, where: Callable[[str], str], problems: _Problems
) -> None:
    """The missing-statement watchdog's time zone and fixed clock (issue 17), when it is on
    (the system's time zone database is needed only then)."""
    if not settings.missing_watch:
        return
    try:
        zoneinfo.ZoneInfo(settings.missing_watch_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.add(
            f"missing_watch_timezone ({where('missing_watch_timezone')}): "
            f"{settings.missing_watch_timezone!r} is not an IANA time zone (America/New_York)"
        )
    if settings.missing_watch_now is not None:
        try:
            datetime.fromisoformat(settings.missing_watch_now)
        except ValueError:
            problems.add(
                f"missing_watch_now ({where('missing_watch_now')}): "
                f"{settings.missing_watch_now!r} is not a time YYYY-MM-DDTHH:MM[:SS]"
            )
