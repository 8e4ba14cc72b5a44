"""Service settings: sources and their precedence, conversion, validation, the messages (which
name setting, source and what is accepted, and never the password), flags, client options."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import ssl
from pathlib import Path

import pytest

from pms_stream.errors import ConfigError
from pms_stream.service.config import (
    FIELDS,
    FLAGS,
    Password,
    Settings,
    add_arguments,
    kafka_client_options,
    load_settings,
    settings_from_args,
)

SECRET = "hunter2-s3cret"
SASL_ENV = {
    "PMS_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "PMS_SASL_MECHANISM": "SCRAM-SHA-512",
    "PMS_SASL_USERNAME": "pms",
    "PMS_SASL_PASSWORD": SECRET,
}


def error_of(**kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)  # type: ignore[arg-type]
    text = str(info.value)
    assert SECRET not in text
    return text


def toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pms.toml"
    path.write_text(text)
    return str(path)


# ---- defaults and names ------------------------------------------------------------------


def test_defaults_without_any_source() -> None:
    assert load_settings(env={}) == Settings()
    s = Settings()
    assert (s.bootstrap_servers, s.group_id, s.guarantee) == (
        "127.0.0.1:9092",
        "pms-stream",
        "exactly_once",
    )
    assert (s.http_port, s.transaction_timeout_ms, s.sasl_password) == (8080, 60000, None)


def test_every_field_has_an_environment_variable() -> None:
    env = {
        "PMS_BOOTSTRAP_SERVERS": "k1:9093,k2:9093",
        "PMS_GROUP_ID": "g",
        "PMS_INPUT_TOPIC": "in",
        "PMS_STATEMENTS_TOPIC": "st",
        "PMS_REROUTE_ACKS_TOPIC": "ra",
        "PMS_REJECTS_TOPIC": "rj",
        "PMS_METRICS_TOPIC": "mt",
        "PMS_REQUESTS_TOPIC": "rq",
        "PMS_GUARANTEE": "at_least_once",
        "PMS_IDLE_TIMEOUT_S": "1.5",
        "PMS_HTTP_HOST": "0.0.0.0",
        "PMS_HTTP_PORT": "0",
        "PMS_LOG_FORMAT": "console",
        "PMS_LOG_LEVEL": "debug",
        "PMS_CREATE_TOPICS": "No",
        "PMS_TOPIC_PARTITIONS": "12",
        "PMS_REPLICATION_FACTOR": "3",
        "PMS_MAX_MESSAGE_BYTES": "1_000",
        "PMS_MAX_OPEN_KEYS": "7",
        "PMS_MAX_RECORDS_PER_STATEMENT": "500",
        "PMS_MAX_STATEMENT_BYTES": "2000000",
        "PMS_BATCH_MAX_RECORDS": "50",
        "PMS_BATCH_MAX_BYTES": "4000",
        "PMS_BATCH_MAX_MESSAGES": "40",
        "PMS_BATCH_TIMEOUT_MS": "20",
        "PMS_PRODUCER_BATCH_BYTES": "65536",
        "PMS_PRODUCER_LINGER_MS": "2",
        "PMS_COMMIT_INTERVAL_MS": "30",
        "PMS_TRANSACTION_MAX_RECORDS": "900",
        "PMS_METRICS_INTERVAL_S": "5",
        "PMS_STALL_TIMEOUT_S": "6",
        "PMS_SHUTDOWN_TIMEOUT_S": "7",
        "PMS_TRANSACTION_TIMEOUT_MS": "30000",
        "PMS_TRANSACTION_RETRY_BACKOFF_MS": "50",
        "PMS_SESSION_TIMEOUT_MS": "6000",
        "PMS_GROUP_INSTANCE_ID": "pms-stream-0",
        "PMS_REROUTE_TODAY": "2026-11-20",
        "PMS_STATEMENT_KEY_SECRET": "k3y",
        "PMS_CONNECT_TIMEOUT_S": "4",
        "PMS_COMMAND_TIMEOUT_S": "4.5",
        "PMS_QUERY_TOKEN": "query-secret",
        "PMS_QUERY_RETENTION_DAYS": "30",
        "PMS_QUERY_MAX_STATEMENTS": "1000",
        "PMS_MISSING_WATCH": "true",
        "PMS_MISSING_WATCH_TIMEZONE": "America/Chicago",
        "PMS_MISSING_WATCH_NOW": "2026-11-18T09:00",
        "PMS_MISSING_WATCH_INTERVAL_S": "5",
        "PMS_FORECAST": "true",
        "PMS_FORECASTS_TOPIC": "fc",
        **SASL_ENV,
    }
    s = load_settings(env=env)
    assert s == Settings(
        bootstrap_servers="k1:9093,k2:9093",
        group_id="g",
        input_topic="in",
        statements_topic="st",
        reroute_acks_topic="ra",
        rejects_topic="rj",
        metrics_topic="mt",
        requests_topic="rq",
        guarantee="at_least_once",
        idle_timeout_s=1.5,
        http_host="0.0.0.0",
        http_port=0,
        log_format="console",
        log_level="DEBUG",
        create_topics=False,
        topic_partitions=12,
        replication_factor=3,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="pms",
        sasl_password=Password(SECRET),
        max_message_bytes=1000,
        max_open_keys=7,
        max_records_per_statement=500,
        max_statement_bytes=2000000,
        batch_max_records=50,
        batch_max_bytes=4000,
        batch_max_messages=40,
        batch_timeout_ms=20,
        producer_batch_bytes=65536,
        producer_linger_ms=2,
        commit_interval_ms=30,
        transaction_max_records=900,
        metrics_interval_s=5.0,
        stall_timeout_s=6.0,
        shutdown_timeout_s=7.0,
        transaction_timeout_ms=30000,
        transaction_retry_backoff_ms=50,
        session_timeout_ms=6000,
        command_timeout_s=4.5,
        group_instance_id="pms-stream-0",
        reroute_today="2026-11-20",
        statement_key_secret=Password("k3y"),
        connect_timeout_s=4.0,
        query_token=Password("query-secret"),
        query_retention_days=30,
        query_max_statements=1000,
        missing_watch=True,
        missing_watch_timezone="America/Chicago",
        missing_watch_now="2026-11-18T09:00",
        missing_watch_interval_s=5.0,
        forecast=True,
        forecasts_topic="fc",
    )
    assert "k3y" not in repr(s.redacted())
    assert "query-secret" not in repr(s.redacted())
    untested = {f for f in FIELDS if f not in {"ssl_cafile", "ssl_certfile", "ssl_keyfile"}}
    assert {n.removeprefix("PMS_").lower() for n in env} == untested


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("On", True),
        ("false", False),
        ("0", False),
        ("NO", False),
        ("off", False),
    ],
)
def test_booleans(text: str, expected: bool) -> None:
    assert load_settings(env={"PMS_CREATE_TOPICS": text}).create_topics is expected


def test_empty_value_unsets_an_optional_setting_and_is_an_error_for_others() -> None:
    s = load_settings(env={"PMS_REQUESTS_TOPIC": ""}, overrides={"requests_topic": None})
    assert s.requests_topic is None
    text = error_of(env={"PMS_GROUP_ID": " "})
    assert "group_id (environment variable PMS_GROUP_ID)" in text
    assert "a non-empty string" in text


# ---- precedence --------------------------------------------------------------------------


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    path = toml(tmp_path, 'group_id = "file"\ninput_topic = "file-in"\nhttp_port = 9000\n')
    env = {"PMS_GROUP_ID": "env", "PMS_INPUT_TOPIC": "env-in"}
    s = load_settings(env=env, config_file=path, overrides={"group_id": "flag"})
    assert (s.group_id, s.input_topic, s.http_port, s.rejects_topic) == (
        "flag",
        "env-in",
        9000,
        "pms.rejects",
    )


def test_overrides_of_none_mean_not_given() -> None:
    s = load_settings(env={"PMS_GROUP_ID": "env"}, overrides={"group_id": None})
    assert s.group_id == "env"


def test_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="no_such"):
        load_settings(env={}, overrides={"no_such": 1})


def test_file_under_a_pms_table_and_other_tools_tables_ignored(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        "[pms]\nhttp_port = 9100\ncreate_topics = false\nidle_timeout_s = 2\n"
        '[other-tool]\nanything = "goes"\n',
    )
    s = load_settings(env={}, config_file=path)
    assert (s.http_port, s.create_topics, s.idle_timeout_s) == (9100, False, 2.0)


def test_file_from_pms_config_variable(tmp_path: Path) -> None:
    path = toml(tmp_path, 'group_id = "via-env"\n')
    assert load_settings(env={"PMS_CONFIG": path}).group_id == "via-env"
    text = error_of(env={"PMS_CONFIG": str(tmp_path / "missing.toml")})
    assert "missing.toml (from PMS_CONFIG): cannot be read" in text


def test_file_values_may_be_strings_too(tmp_path: Path) -> None:
    path = toml(tmp_path, 'http_port = "9200"\ncreate_topics = "yes"\n')
    s = load_settings(env={}, config_file=path)
    assert (s.http_port, s.create_topics) == (9200, True)


# ---- validation and messages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "value", "accepted"),
    [
        ("PMS_HTTP_PORT", "abc", "an integer 0-65535"),
        ("PMS_HTTP_PORT", "65536", "an integer 0-65535"),
        ("PMS_HTTP_PORT", "-1", "an integer 0-65535"),
        ("PMS_TOPIC_PARTITIONS", "0", "a positive integer"),
        ("PMS_MAX_OPEN_KEYS", "1.5", "a positive integer"),
        ("PMS_IDLE_TIMEOUT_S", "-3", "a positive number"),
        ("PMS_IDLE_TIMEOUT_S", "nan", "a positive number"),
        ("PMS_STALL_TIMEOUT_S", "inf", "a positive number"),
        ("PMS_GUARANTEE", "exactly-once", "one of exactly_once, at_least_once"),
        ("PMS_LOG_FORMAT", "xml", "one of json, console"),
        ("PMS_LOG_LEVEL", "verbose", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("PMS_CREATE_TOPICS", "maybe", "true/false, 1/0, yes/no"),
        ("PMS_SECURITY_PROTOCOL", "TLS", "one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        ("PMS_BOOTSTRAP_SERVERS", "k1:90x2", "host:port[,host:port...]"),
        ("PMS_BOOTSTRAP_SERVERS", "k1:9092,", "host:port[,host:port...]"),
        ("PMS_INPUT_TOPIC", "in put", "a Kafka topic name"),
        ("PMS_REJECTS_TOPIC", "..", "a Kafka topic name"),
    ],
)
def test_bad_value_names_setting_source_value_and_accepted(
    var: str, value: str, accepted: str
) -> None:
    text = error_of(env={var: value})
    name = var.removeprefix("PMS_").lower()
    assert f"{name} (environment variable {var}): {value!r}; expected {accepted}" in text


def test_every_problem_is_reported_at_once() -> None:
    text = error_of(env={"PMS_HTTP_PORT": "x", "PMS_TOPIC_PARTITIONS": "0", "PMS_GROUP_ID": ""})
    assert text.startswith("invalid configuration (3 problems):")
    for name in ("http_port", "topic_partitions", "group_id"):
        assert f"{name} (environment variable" in text


def test_bad_flag_names_the_flag() -> None:
    text = error_of(env={}, overrides={"http_port": "eighty"})
    assert "http_port (flag --http-port): 'eighty'" in text


def test_bad_file_value_names_the_file(tmp_path: Path) -> None:
    path = toml(tmp_path, "[pms]\ntopic_partitions = 2.5\n")
    text = error_of(env={}, config_file=path)
    assert f"topic_partitions (config file {path} [pms]): 2.5; expected a positive integer" in text


def test_unknown_file_key_lists_valid_keys_and_suggests(tmp_path: Path) -> None:
    path = toml(tmp_path, 'bootstrap_server = "k:9092"\n')
    text = error_of(env={}, config_file=path)
    assert "unknown key 'bootstrap_server' (did you mean bootstrap_servers?)" in text
    assert "valid keys: bootstrap_servers, group_id," in text


def test_setting_outside_the_pms_table_is_an_error(tmp_path: Path) -> None:
    path = toml(tmp_path, 'group_id = "top"\n[pms]\ninput_topic = "in"\n')
    assert "key 'group_id' is outside the [pms] table" in error_of(env={}, config_file=path)


def test_file_problems(tmp_path: Path) -> None:
    assert "cannot be read" in error_of(env={}, config_file=str(tmp_path / "none.toml"))
    path = toml(tmp_path, f'sasl_password = "{SECRET}\n')  # unterminated string
    assert "not valid TOML" in error_of(env={}, config_file=path)
    path = toml(tmp_path, "pms = 3\n")
    assert "'pms' must be a table" in error_of(env={}, config_file=path)
    path = toml(tmp_path, "group_id = [1]\n")
    assert "group_id (config file" in error_of(env={}, config_file=path)


def test_unknown_pms_variable_is_an_error_without_its_value() -> None:
    text = error_of(env={"PMS_SASL_PASSWD": SECRET, "PMS_BOOTSTRAP_SERVER": "k:1"})
    assert "unknown environment variable PMS_SASL_PASSWD" in text
    assert "(did you mean PMS_BOOTSTRAP_SERVERS?)" in text
    assert "valid names: PMS_BOOTSTRAP_SERVERS," in text
    assert "'k:1'" not in text


def test_broker_script_variables_and_others_are_ignored() -> None:
    env = {
        "PMS_KAFKA_CACHE": "/cache",
        "PMS_KAFKA_STATE_DIR": "/state",
        "PMS_KAFKA_JVM_OPTS": "-Xmx1g",
        "HOME": "/root",
        "KAFKA_BOOTSTRAP_SERVERS": "elsewhere:9092",
    }
    assert load_settings(env=env) == Settings()


def test_output_topic_may_not_be_a_consumed_topic() -> None:
    text = error_of(env={"PMS_REJECTS_TOPIC": "pms.records"})
    assert "rejects_topic (environment variable PMS_REJECTS_TOPIC) and input_topic (default)" in (
        text
    )
    text = error_of(env={"PMS_REQUESTS_TOPIC": "rq", "PMS_METRICS_TOPIC": "rq"})
    assert "metrics_topic" in text
    assert "requests_topic" in text
    # The same topic as input and requests topic is read once (the runner's choice).
    assert load_settings(env={"PMS_REQUESTS_TOPIC": "pms.records"}).requests_topic == "pms.records"


@pytest.mark.parametrize(
    "missing", ["PMS_SASL_MECHANISM", "PMS_SASL_USERNAME", "PMS_SASL_PASSWORD"]
)
def test_sasl_needs_mechanism_user_and_password(missing: str) -> None:
    env = {k: v for k, v in SASL_ENV.items() if k != missing}
    text = error_of(env=env)
    name = missing.removeprefix("PMS_").lower()
    assert f"{name}: required with security_protocol SASL_PLAINTEXT" in text


def test_sasl_settings_without_sasl_protocol_are_an_error() -> None:
    env = {k: v for k, v in SASL_ENV.items() if k != "PMS_SECURITY_PROTOCOL"}
    text = error_of(env=env)
    assert "sasl_password (environment variable PMS_SASL_PASSWORD): set, but" in text
    assert "(value hidden)" not in text  # never quoted at all here


def test_a_bad_password_value_is_never_quoted(tmp_path: Path) -> None:
    path = toml(tmp_path, "sasl_password = 987654321\n")  # not a string
    text = error_of(env={}, config_file=path)
    assert "sasl_password (config file" in text
    assert "(value hidden)" in text
    assert "987654321" not in text


def test_reprs_never_show_the_password() -> None:
    s = load_settings(env=SASL_ENV)
    assert SECRET not in repr(s)
    assert SECRET not in str(s.redacted())


def test_ssl_files_must_exist_and_need_an_ssl_protocol(tmp_path: Path) -> None:
    text = error_of(
        env={"PMS_SECURITY_PROTOCOL": "SSL", "PMS_SSL_CAFILE": str(tmp_path / "ca.pem")}
    )
    assert "ssl_cafile (environment variable PMS_SSL_CAFILE): no such file" in text
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    text = error_of(env={"PMS_SSL_CAFILE": str(ca)})
    assert "ssl_cafile (environment variable PMS_SSL_CAFILE): set, but security_protocol is" in text
    text = error_of(
        env={"PMS_SECURITY_PROTOCOL": "SSL", "PMS_SSL_KEYFILE": str(ca)},
    )
    assert "ssl_keyfile (environment variable PMS_SSL_KEYFILE): set without ssl_certfile" in text


# ---- password ------------------------------------------------------------------------------


def test_group_instance_id_is_checked() -> None:
    assert load_settings(env={}).group_instance_id is None
    s = load_settings(env={"PMS_GROUP_INSTANCE_ID": "pms-stream-7f9c_a.b"})
    assert s.group_instance_id == "pms-stream-7f9c_a.b"
    for bad in ("has space", "x" * 250, "ünï"):
        text = error_of(env={"PMS_GROUP_INSTANCE_ID": bad})
        assert "group_instance_id (environment" in text
        assert "unique to each instance" in text


def test_password_hides_its_value() -> None:
    p = Password(SECRET)
    assert repr(p) == str(p) == f"{p}" == "Password('******')"
    assert p.reveal() == SECRET
    assert p == Password(SECRET)
    assert p != Password("other")
    assert p != SECRET
    assert len({p, Password(SECRET)}) == 1


def test_redacted_masks_the_password() -> None:
    r = load_settings(env=SASL_ENV).redacted()
    assert r["sasl_password"] == "******"
    assert r["sasl_username"] == "pms"
    assert set(r) == {f.name for f in dataclasses.fields(Settings)}
    assert Settings().redacted()["sasl_password"] is None


# ---- flags ---------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pms-stream run")
    add_arguments(p)
    return p


def test_flags_default_to_none_and_leave_env_in_charge() -> None:
    args = parser().parse_args([])
    assert all(getattr(args, name) is None for name in FLAGS)
    assert args.config is None
    assert settings_from_args(args, {"PMS_GROUP_ID": "env"}).group_id == "env"


# flag: (argument, the setting's value)
FLAG_VALUES: dict[str, tuple[str, object]] = {
    "bootstrap_servers": ("k:1", "k:1"),
    "group_id": ("g", "g"),
    "input_topic": ("i", "i"),
    "statements_topic": ("s", "s"),
    "reroute_acks_topic": ("ra", "ra"),
    "rejects_topic": ("rj", "rj"),
    "metrics_topic": ("m", "m"),
    "requests_topic": ("rq", "rq"),
    "guarantee": ("at_least_once", "at_least_once"),
    "idle_timeout_s": ("9", 9.0),
    "http_host": ("::1", "::1"),
    "http_port": ("0", 0),
    "log_format": ("console", "console"),
    "log_level": ("warning", "WARNING"),
}


def test_flags_override(tmp_path: Path) -> None:
    assert set(FLAGS) == {*FLAG_VALUES, "create_topics", "topic_partitions"}
    path = toml(tmp_path, "topic_partitions = 3\n")
    argv = ["--config", path, "--no-create-topics"]
    for name, (text, _) in FLAG_VALUES.items():
        argv += ["--" + name.replace("_", "-"), text]
    s = settings_from_args(parser().parse_args(argv), {"PMS_GROUP_ID": "env"})
    expected = {name: value for name, (_, value) in FLAG_VALUES.items()}
    assert s == dataclasses.replace(
        Settings(),
        create_topics=False,
        topic_partitions=3,
        **expected,  # type: ignore[arg-type]
    )
    assert settings_from_args(parser().parse_args(["--create-topics"]), {}).create_topics
    s = settings_from_args(parser().parse_args(["--topic-partitions", "4"]), {})
    assert s.topic_partitions == 4


def test_flag_choices_come_from_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--guarantee", "maybe"])
    err = capsys.readouterr().err
    assert "invalid choice" in err
    assert "exactly_once" in err
    assert "at_least_once" in err


# ---- kafka client options ------------------------------------------------------------------


def test_client_options_plaintext() -> None:
    assert kafka_client_options(Settings()) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "client_id": "pms-stream",
        "security_protocol": "PLAINTEXT",
        "ssl_context": None,
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": None,
        "sasl_plain_password": None,
    }


def test_client_options_sasl_ssl_reveal_the_password_only_here() -> None:
    s = load_settings(env={**SASL_ENV, "PMS_SECURITY_PROTOCOL": "SASL_SSL"})
    options = kafka_client_options(s)
    assert options["sasl_plain_password"] == SECRET
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "pms"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_max_open_keys_is_bounded_by_kafkas_offset_metadata_limit() -> None:
    """Issue 12, finding 4: more open keys than the offset metadata can carry is refused at start,
    naming the limit; up to it every value is accepted (300 included)."""
    assert load_settings(env={"PMS_MAX_OPEN_KEYS": "325"}).max_open_keys == 325
    text = error_of(env={"PMS_MAX_OPEN_KEYS": "326"})
    assert "max_open_keys (environment variable PMS_MAX_OPEN_KEYS): 326; at most 325" in text
    assert "4096 bytes (offset.metadata.max.bytes)" in text


def test_a_batch_timeout_not_under_half_the_stall_timeout_is_refused_naming_both() -> None:
    env = {"PMS_BATCH_TIMEOUT_MS": "40000", "PMS_STALL_TIMEOUT_S": "60"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    message = str(caught.value)
    assert "batch_timeout_ms (environment variable PMS_BATCH_TIMEOUT_MS): 40000 ms" in message
    assert "stall_timeout_s (environment variable PMS_STALL_TIMEOUT_S: 60 s)" in message
    assert "lower it below 30000" in message
    load_settings(env={"PMS_BATCH_TIMEOUT_MS": "29999", "PMS_STALL_TIMEOUT_S": "60"})


# ---- issue 16: Kubernetes service links, further aiokafka options ---------------------------

SERVICE_LINKS = {
    "PMS_PORT": "tcp://10.96.0.12:8080",
    "PMS_SERVICE_HOST": "10.96.0.12",
    "PMS_SERVICE_PORT": "8080",
    "PMS_SERVICE_PORT_METRICS": "8080",
    "PMS_PORT_8080_TCP": "tcp://10.96.0.12:8080",
    "PMS_PORT_8080_TCP_PROTO": "tcp",
    "PMS_PORT_8080_TCP_PORT": "8080",
    "PMS_PORT_8080_TCP_ADDR": "10.96.0.12",
    "PMS_STREAM_METRICS_SERVICE_HOST": "10.96.0.13",
    "PMS_STREAM_METRICS_PORT": "tcp://10.96.0.13:8080",
}


def test_kubernetes_service_link_variables_are_ignored_with_one_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = load_settings(env={**SERVICE_LINKS, "PMS_HTTP_PORT": "9100"})
    assert settings.http_port == 9100
    assert set(settings.ignored_env) == set(SERVICE_LINKS)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    settings_from_args(parser.parse_args([]), SERVICE_LINKS)
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "10.96.0.12" not in err  # names only, never values
    assert "enableServiceLinks: false" in err


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("PMS_HTTP_PROT", "8080"),  # a typo stays an error
        ("PMS_PORT", "8080"),  # the service-link PMS_PORT is tcp://host:port
        ("PMS_SERVICE_HOST_NAME", "10.0.0.1"),
        ("PMS_BOOTSTRAP_SERVER", "kafka:9092"),
    ],
)
def test_a_real_typo_still_fails(var: str, value: str) -> None:
    assert var in error_of(env={var: value})


def test_further_kafka_options_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "pms.toml"
    path.write_text(
        "[pms]\nhttp_port = 9000\n"
        "[pms.kafka.client]\nclient_id = 'pms-eu'\nrequest_timeout_ms = 20000\n"
        "[pms.kafka.producer]\ncompression_type = 'gzip'\n"
        "[pms.kafka.consumer]\nfetch_max_wait_ms = 100\n"
    )
    env = {"PMS_KAFKA_PRODUCER_COMPRESSION_TYPE": "lz4", "PMS_KAFKA_CONSUMER_CHECK_CRCS": "false"}
    s = load_settings(env=env, config_file=str(path))
    producer = kafka_client_options(s, "producer")
    consumer = kafka_client_options(s, "consumer")
    admin = kafka_client_options(s, "admin")
    assert producer["compression_type"] == "lz4"  # the environment over the file
    assert producer["client_id"] == consumer["client_id"] == admin["client_id"] == "pms-eu"
    assert consumer["fetch_max_wait_ms"] == 100
    assert consumer["check_crcs"] is False
    assert "compression_type" not in consumer
    assert "compression_type" not in admin
    assert kafka_client_options(s)["client_id"] == "pms-stream"  # no role: no further options
    # and aiokafka's constructors take them, next to what pms-stream sets itself
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient

    inspect.signature(AIOKafkaConsumer).bind(**consumer, isolation_level="read_committed")
    inspect.signature(AIOKafkaProducer).bind(**producer, enable_idempotence=True, linger_ms=5)
    inspect.signature(AIOKafkaAdminClient).bind(**admin)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PMS_KAFKA_PRODUCER_COMPRESION_TYPE": "gzip"}, "did you mean compression_type?"),
        ({"PMS_KAFKA_CONSUMER_ISOLATION_LEVEL": "read_uncommitted"}, "set by pms-stream"),
        ({"PMS_KAFKA_PRODUCER_TRANSACTIONAL_ID": "x"}, "set by pms-stream"),
        ({"PMS_KAFKA_CLIENT_REQUEST_TIMEOUT_MS": "soon"}, "expected an integer"),
        ({"PMS_KAFKA_CLIENT_COMPRESSION_TYPE": "gzip"}, "client option 'compression_type'"),
        ({"PMS_KAFKA_ADMIN_SASL_PLAIN_PASSWORD": "x"}, "set by pms-stream"),
    ],
)
def test_further_kafka_options_are_checked(env: dict[str, str], expected: str) -> None:
    assert expected in error_of(env=env)


def test_an_unknown_kafka_table_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pms.toml"
    path.write_text("[kafka.streams]\nx = 1\n")
    assert "[kafka.streams] is not one of" in error_of(env={}, config_file=str(path))


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"PMS_MISSING_WATCH_TIMEZONE": "Mars/Olympus"}, "not an IANA time zone"),
        ({"PMS_MISSING_WATCH_NOW": "yesterday"}, "not a time YYYY-MM-DDTHH:MM"),
    ],
)
def test_missing_watch_clock_settings_are_checked(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_settings(env={"PMS_MISSING_WATCH": "true", **env})
    load_settings(env=env)  # not checked while the watchdog is off
