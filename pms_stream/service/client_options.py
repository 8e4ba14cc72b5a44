"""Further aiokafka client settings: the options pms-stream has no setting of its own for
(client id, request timeout, metadata age, output compression, fetch sizes, ...).

Sources (docs/configuration.md, "Further Kafka client settings"):
- the TOML file: tables `[kafka.client]` (every client), `[kafka.consumer]`, `[kafka.producer]`,
  `[kafka.admin]`, at the top level or under `[pms]` (`[pms.kafka.producer]`);
- the environment: `PMS_KAFKA_CLIENT_<OPTION>`, `PMS_KAFKA_CONSUMER_<OPTION>`,
  `PMS_KAFKA_PRODUCER_<OPTION>`, `PMS_KAFKA_ADMIN_<OPTION>` (the option's name in upper case,
  e.g. `PMS_KAFKA_PRODUCER_COMPRESSION_TYPE=gzip`), over the file.

Each option is checked against the keyword arguments of aiokafka's own constructor
(`AIOKafkaConsumer`, `AIOKafkaProducer`, `AIOKafkaAdminClient`; `client` options must suit all
three) and against the type of its default there; environment values are read as integers,
numbers or booleans when the default is one. Refused: options pms-stream sets itself (brokers,
security, group, isolation, idempotence, transactions, ...: correctness depends on them; use
the `PMS_*` setting where there is one) and options that take Python objects (serializers,
partitioner, SSL context). The other `PMS_KAFKA_*` variables belong to the local broker
scripts (deploy/kafka/broker.sh) and are not read here.

Flow: config -> **client_options** -> `config.kafka_client_options(settings, role)` -> the
consumers, producers and admin clients of the runner and the commands.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

__all__ = [
    "INPUT_CONSUMER_DEFAULTS",
    "NONE",
    "ROLES",
    "ClientOptions",
    "Role",
    "merge",
    "read_env",
    "read_table",
]

Role = Literal["client", "consumer", "producer", "admin"]
ROLES: tuple[Role, ...] = ("client", "consumer", "producer", "admin")
ENV_PREFIXES: dict[str, Role] = {f"PMS_KAFKA_{role.upper()}_": role for role in ROLES}

# The service's input consumer, unless `[kafka.consumer]` says otherwise. A fetch in flight to a
# broker holds back the partitions resumed after it was sent (the other partitions of a start or
# a rebalance, as their set-ups end one by one) until it returns: when its own partitions are
# empty, after fetch_max_wait_ms. aiokafka's 500 made the first statements wait 0.6 s in 2 of 5
# latency runs; 100 bounds that (docs/performance.md, "p99 latency").
INPUT_CONSUMER_DEFAULTS: Mapping[str, object] = {"fetch_max_wait_ms": 100}

_CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    "consumer": AIOKafkaConsumer.__init__,
    "producer": AIOKafkaProducer.__init__,
    "admin": AIOKafkaAdminClient.__init__,
}
# Set by pms-stream from its own settings or fixed for correctness: never from here.
_OWN = frozenset(
    {
        "loop",
        "bootstrap_servers",
        "security_protocol",
        "ssl_context",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "sasl_oauth_token_provider",
        "group_id",
        "group_instance_id",
        "enable_auto_commit",
        "auto_offset_reset",
        "isolation_level",
        "session_timeout_ms",
        "heartbeat_interval_ms",
        "max_partition_fetch_bytes",
        "enable_idempotence",
        "acks",
        "linger_ms",
        "max_batch_size",
        "max_request_size",
        "transactional_id",
        "transaction_timeout_ms",
        "retry_backoff_ms",
        "key_serializer",
        "value_serializer",
        "key_deserializer",
        "value_deserializer",
        "partitioner",
        "partition_assignment_strategy",
        "consumer_timeout_ms",
    }
)
_PLAIN = (bool, int, float, str, type(None))


def _accepted(role: str) -> dict[str, object]:
    """Option name -> default, of what aiokafka's constructor takes and pms-stream leaves open."""
    if role == "client":
        each = [_accepted(r) for r in _CONSTRUCTORS]
        return {k: v for k, v in each[0].items() if all(k in e for e in each[1:])}
    params = inspect.signature(_CONSTRUCTORS[role]).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.name not in _OWN
        and isinstance(p.default, _PLAIN)
    }


ACCEPTED: dict[str, dict[str, object]] = {role: _accepted(role) for role in ROLES}


@dataclass(frozen=True)
class ClientOptions:
    """The checked further options, per role; `for_role` merges `client` with the role's own."""

    client: tuple[tuple[str, object], ...] = ()
    consumer: tuple[tuple[str, object], ...] = ()
    producer: tuple[tuple[str, object], ...] = ()
    admin: tuple[tuple[str, object], ...] = ()

    def for_role(self, role: Literal["consumer", "producer", "admin"]) -> dict[str, object]:
        return {**dict(self.client), **dict(getattr(self, role))}


NONE = ClientOptions()


def _typed(role: str, name: str, value: object, from_env: bool) -> object:
    """The value in the type of aiokafka's default for `name`, or ValueError."""
    default = ACCEPTED[role][name]
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if from_env and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError("true or false")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise ValueError("an integer")
    if isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_env and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError("a number")
    if isinstance(value, str) and value:
        return value
    raise ValueError("a non-empty string")


def _check(
    role: str, name: str, value: object, where: str, *, from_env: bool, problems: list[str]
) -> tuple[str, object] | None:
    accepted = ACCEPTED[role]
    if name not in accepted:
        if name in _OWN:
            why = "set by pms-stream itself (use its PMS_* setting where there is one)"
        else:
            close = difflib.get_close_matches(name, list(accepted), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            why = f"not an option aiokafka's {role} takes as plain text or number{hint}"
        problems.append(f"Kafka {role} option {name!r} ({where}): {why}")
        return None
    try:
        return name, _typed(role, name, value, from_env)
    except ValueError as exc:
        problems.append(f"Kafka {role} option {name} ({where}): {value!r}; expected {exc}")
        return None


def read_table(table: object, where: str, problems: list[str]) -> dict[str, dict[str, object]]:
    """The options of a TOML `[kafka]` table: {role: {option: value}}."""
    found: dict[str, dict[str, object]] = {}
    if not isinstance(table, dict):
        problems.append(f"config file {where}: 'kafka' must be a table of " + ", ".join(ROLES))
        return found
    for role, options in table.items():
        if role not in ROLES or not isinstance(options, dict):
            problems.append(
                f"config file {where}: [kafka.{role}] is not one of "
                + ", ".join(f"[kafka.{r}]" for r in ROLES)
            )
            continue
        for name, value in options.items():
            checked = _check(
                role, name, value, f"{where} [kafka.{role}]", from_env=False, problems=problems
            )
            if checked is not None:
                found.setdefault(role, {})[checked[0]] = checked[1]
    return found


def read_env(env: Mapping[str, str], problems: list[str]) -> dict[str, dict[str, object]]:
    """The options of `PMS_KAFKA_{CLIENT,CONSUMER,PRODUCER,ADMIN}_*` variables."""
    found: dict[str, dict[str, object]] = {}
    for var in sorted(env):
        for prefix, role in ENV_PREFIXES.items():
            if var.startswith(prefix):
                name = var[len(prefix) :].lower()
                where = f"environment variable {var}"
                checked = _check(role, name, env[var], where, from_env=True, problems=problems)
                if checked is not None:
                    found.setdefault(role, {})[checked[0]] = checked[1]
    return found


def merge(*sources: dict[str, dict[str, object]]) -> ClientOptions:
    """Later sources win, option by option."""
    merged: dict[str, dict[str, object]] = {role: {} for role in ROLES}
    for source in sources:
        for role, options in source.items():
            merged[role].update(options)
    return ClientOptions(**{role: tuple(sorted(merged[role].items())) for role in ROLES})
