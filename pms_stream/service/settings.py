"""The service's settings as one frozen dataclass, and the Kafka client options they make.

Where it stands in the flow: `config.py` reads flags, environment and the TOML file into a
`Settings` (and says what each name means and accepts); every module of the service takes its
settings from here; `kafka_client_options` is the one place the SASL password is revealed, when
aiokafka's consumer, producer and admin client are built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from aiokafka.helpers import create_ssl_context

from pms_stream.catair.records import Secret
from pms_stream.service import client_options
from pms_stream.service.client_options import ClientOptions

__all__ = ["CLIENT_ID", "MASK", "Password", "Settings", "kafka_client_options"]

CLIENT_ID = "pms-stream"
MASK = Secret.MASK
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SSL_PROTOCOLS = ("SSL", "SASL_SSL")

Guarantee = Literal["exactly_once", "at_least_once"]
LogFormat = Literal["json", "console"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Password(Secret):
    """A secret setting: prints as `Password('******')`; `reveal()` gives the value."""

    __slots__ = ()


@dataclass(frozen=True)
class Settings:
    """Everything `pms-stream run` can be told. See the module docstring for the sources."""

    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "pms-stream"
    # Static group membership (KIP-345): a member restarted under the same id within the session
    # timeout gets its partitions back at once, without a rebalance. One id per instance.
    group_instance_id: str | None = None
    input_topic: str = "pms.records"
    statements_topic: str = "pms.statements"
    reroute_acks_topic: str = "pms.reroute-acks"
    rejects_topic: str = "pms.rejects"
    metrics_topic: str = "pms.metrics"
    requests_topic: str | None = None
    guarantee: Guarantee = "exactly_once"
    idle_timeout_s: float = 300.0
    http_host: str = "127.0.0.1"
    http_port: int = 8080  # 0: any free port
    log_format: LogFormat = "json"
    log_level: str = "INFO"
    create_topics: bool = True
    topic_partitions: int = 6
    replication_factor: int = 1
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: Password | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    max_message_bytes: int = 1_048_576
    max_open_keys: int = 100
    max_records_per_statement: int = 100_000
    max_statement_bytes: int = 10_485_760  # largest output message (statement JSON) published
    # A batch (one publication per partition) is bounded by input records (estimated as 80 bytes
    # a record), bytes and messages, whichever comes first (runner._chunks).
    batch_max_records: int = 20_000
    batch_max_bytes: int = 4_194_304
    batch_max_messages: int = 2_000  # the `getmany` max_records
    batch_timeout_ms: int = 200
    producer_batch_bytes: int = 1_048_576  # the producers' max_batch_size (aiokafka: 16384)
    # A partition's batches are published together (one transaction exactly once) once the
    # oldest is this old or they hold this many input records: transactions follow time.
    commit_interval_ms: int = 100
    transaction_max_records: int = 10_000
    producer_linger_ms: int = 5
    metrics_interval_s: float = 30.0
    stall_timeout_s: float = 60.0
    shutdown_timeout_s: float = 20.0
    transaction_timeout_ms: int = 60_000
    transaction_retry_backoff_ms: int = 20  # the transactional producers' retry_backoff_ms
    session_timeout_ms: int = 10_000  # consumer group session; the broker allows 6000 and up
    reroute_today: str | None = None  # YYYY-MM-DD the reroute rules take as today (tests, replays)
    # when set, SSN-shaped importer numbers in statement keys are an HMAC under it (outputs.py)
    statement_key_secret: Password | None = None
    # Longest wait for the brokers at start (bootstrap, the checks against the broker, topic
    # creation, joining): past it `run` exits 1 naming the servers, instead of hanging.
    connect_timeout_s: float = 10.0
    # The bound on each step of the Kafka-facing commands (send, tail, reroute, redrive):
    # connecting, finding the topic, each send. Past it: one line and exit 3 (kafka_access.py).
    command_timeout_s: float = 10.0
    # Not settings of their own (no env name, flag or key): the checked further aiokafka options
    # (`[kafka.*]` tables, PMS_KAFKA_{CLIENT,CONSUMER,PRODUCER,ADMIN}_*) and the names of the
    # Kubernetes service-link variables that were ignored.
    client_options: ClientOptions = client_options.NONE
    ignored_env: tuple[str, ...] = ()
    # Back office (issue 17; docs/back-office.md): statement and forecast queries over HTTP,
    # off unless a bearer token is set; the query store's retention (by due date) and size.
    query_token: Password | None = None
    query_retention_days: int = 400
    query_max_statements: int = 100_000
    # Missing-statement watchdog (issue 17): off by default; CBP's working-day time zone; a
    # fixed local clock YYYY-MM-DDTHH:MM[:SS] for tests and replays; how often it looks.
    missing_watch: bool = False
    missing_watch_timezone: str = "America/New_York"
    missing_watch_now: str | None = None
    missing_watch_interval_s: float = 60.0
    # The ACH cash forecast stage (issue 17): off by default; its compacted output topic.
    forecast: bool = False
    forecasts_topic: str = "pms.forecasts"

    def redacted(self) -> dict[str, object]:
        """The settings as a dict fit for a log line: the password is masked."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = MASK if isinstance(value, Password) else value
        return out


def kafka_client_options(
    settings: Settings, role: Literal["consumer", "producer", "admin"] | None = None
) -> dict[str, object]:
    """The keyword arguments that AIOKafkaConsumer, AIOKafkaProducer and AIOKafkaAdminClient
    share: brokers, client id, security; with `role`, the further `[kafka.client]` options and
    that role's own (client_options.py). The only place the SASL password is revealed."""
    ssl_context = None
    if settings.security_protocol in SSL_PROTOCOLS:
        ssl_context = create_ssl_context(
            cafile=settings.ssl_cafile,
            certfile=settings.ssl_certfile,
            keyfile=settings.ssl_keyfile,
        )
    password = settings.sasl_password
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": CLIENT_ID,
        "security_protocol": settings.security_protocol,
        "ssl_context": ssl_context,
        "sasl_mechanism": settings.sasl_mechanism or "PLAIN",  # aiokafka's default; unused
        "sasl_plain_username": settings.sasl_username,
        "sasl_plain_password": password.reveal() if password is not None else None,
        **(settings.client_options.for_role(role) if role else {}),
    }
