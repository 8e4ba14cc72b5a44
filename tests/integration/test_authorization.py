"""Authorization refused by the real broker's ACLs (issues 12 and 16): `pms-stream run`, `send`,
`tail`, `reroute` and `redrive`, logged in as the SCRAM user the local broker's ACLs refuse
(``denied_user``: deploy/kafka/acls.py), end with one line saying "not authorized", where, for
which user and topic or group, with the documented exit status (commands 6, run 1), no
traceback, within 15 s.

Two kinds of refusal: topics ``pms-denied.*`` the user may not even describe (a metadata answer
for all topics leaves them out: they must not be reported as missing), and topics
``pms-readonly.*`` it may read but not write (the refusal comes with the first send). The topics
exist (made over PLAINTEXT, whose ANONYMOUS principal is a super user), so a "does not exist"
would be wrong."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient

from pms_testkit.kafka_helpers import create_topic, delete_topics, produce
from pms_testkit.service_harness import ServiceProcess, Topics, run_until_exit
from tests.integration.conftest import BrokerSecurity, DeniedUser
from tests.integration.test_operability import cli, failed

pytestmark = [pytest.mark.kafka]

BOUND_S = 15.0  # every refusal ends the command or the service within this


@dataclasses.dataclass(frozen=True)
class Scene:
    """Existing topics under one prefix, and the denied user's settings on the SASL listener."""

    topics: Topics
    requests: str
    login: dict[str, str]

    def env(self) -> dict[str, str]:
        return {**self.topics.env(), "PMS_REQUESTS_TOPIC": self.requests, **self.login}


def requests_topic(t: Topics) -> str:
    return t.input.removesuffix("-in") + "-requests"


def all_topics(t: Topics) -> list[str]:
    return [t.input, t.statements, t.acks, t.rejects, t.metrics, requests_topic(t)]


@pytest.fixture
def login(broker_security: BrokerSecurity, denied_user: DeniedUser) -> dict[str, str]:
    """The denied user's settings on the SASL_PLAINTEXT listener."""
    return {
        "PMS_BOOTSTRAP_SERVERS": broker_security.bootstrap("SASL_PLAINTEXT"),
        "PMS_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "PMS_SASL_MECHANISM": broker_security.mechanisms[-1],
        "PMS_SASL_USERNAME": denied_user.username,
        "PMS_SASL_PASSWORD": denied_user.password,
    }


@pytest_asyncio.fixture
async def scene(
    request: pytest.FixtureRequest,
    admin: AIOKafkaAdminClient,
    denied_user: DeniedUser,
    login: dict[str, str],
) -> AsyncIterator[Scene]:
    """Existing topics (and group) the user may not use at all ("denied", the default), or may
    describe and read but never write ("readonly"); select with indirect parametrization."""
    kind = getattr(request, "param", "denied")
    prefix = denied_user.denied_prefix if kind == "denied" else denied_user.readonly_prefix
    t = Topics.new(prefix + "auth")
    for name in all_topics(t):
        await create_topic(admin, name, partitions=1)
    yield Scene(t, requests_topic(t), login)
    await delete_topics(admin, all_topics(t))


DENIED = pytest.mark.parametrize("scene", ["denied"], indirect=True)
READONLY = pytest.mark.parametrize("scene", ["readonly"], indirect=True)


def commands(s: Scene, tmp_path: Path) -> dict[str, list[str]]:
    """Each command, aimed at the scene's topics (reroute sends to the requests topic)."""
    records = tmp_path / "records.txt"
    records.write_text("A" * 80 + "\n")
    return {
        "send": ["send", str(records)],
        "tail": ["tail", "--idle", "1"],
        "reroute": ["reroute", "--filer", "B76", "--port", "2704", "--final"],
        "redrive": ["redrive", "--send", "--to-topic", s.topics.input],
    }


def refused(command: list[str], env: dict[str, str], user: DeniedUser, topic: str) -> None:
    """One line, exit 6, naming the refusal, the broker, the user and the topic."""
    code, err, elapsed = failed(command, env, BOUND_S - 5)
    assert code == 6, err
    assert err.startswith(f"pms-stream {command[0]}: not authorized by Kafka at "), err
    assert env["PMS_BOOTSTRAP_SERVERS"] in err
    assert f"topic {topic!r}" in err
    assert f"user {user.username!r}" in err
    assert elapsed < BOUND_S


@DENIED
@pytest.mark.parametrize("command", ["send", "tail", "reroute", "redrive"])
def test_a_topic_the_user_may_not_describe_is_not_authorized_not_missing(
    command: str, scene: Scene, denied_user: DeniedUser, tmp_path: Path
) -> None:
    # send writes the input topic, tail reads statements, reroute the requests, redrive rejects
    topic = {
        "send": scene.topics.input,
        "tail": scene.topics.statements,
        "reroute": scene.requests,
        "redrive": scene.topics.rejects,
    }[command]
    refused(commands(scene, tmp_path)[command], scene.env(), denied_user, topic)


@pytest.mark.asyncio
@READONLY
@pytest.mark.parametrize("command", ["send", "reroute", "redrive"])
async def test_a_write_to_a_read_only_topic_is_not_authorized(
    command: str, scene: Scene, denied_user: DeniedUser, kafka_bootstrap: str, tmp_path: Path
) -> None:
    if command == "redrive":  # a dead letter to send again, read from the (readable) rejects
        letter = {
            "type": "rejected",
            "reason": "test",
            "raw": "A" * 80,
            "source": {"topic": scene.topics.input, "partition": 0, "offset": 0},
        }
        await produce(kafka_bootstrap, scene.topics.rejects, [(b"k", json.dumps(letter).encode())])
    topic = scene.requests if command == "reroute" else scene.topics.input
    await asyncio.to_thread(
        refused, commands(scene, tmp_path)[command], scene.env(), denied_user, topic
    )


@READONLY
def test_reading_a_read_only_topic_is_allowed(scene: Scene) -> None:
    """The control: the ACLs refuse what they say, not everything."""
    done = cli("tail", "--topic", scene.topics.input, "--idle", "1", env=scene.env())
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


async def service_refused(service: ServiceProcess, *needles: str) -> str:
    code, seconds = await run_until_exit(service, BOUND_S * 3)
    assert code == 1, service.tail()
    assert seconds < BOUND_S, f"took {seconds:.1f}s:\n{service.tail()}"
    (failed_,) = [e for e in service.log_events() if e.get("level") == "critical"]
    error = str(failed_["error"])
    assert error.startswith("not authorized by Kafka at "), error
    for needle in needles:
        assert needle in error, error
    assert "Traceback" not in service.log_path.read_text()
    return error


@pytest.mark.asyncio
@DENIED
async def test_run_on_topics_it_may_not_describe_ends_at_start_naming_them(
    scene: Scene, denied_user: DeniedUser, tmp_path: Path
) -> None:
    bootstrap = scene.login["PMS_BOOTSTRAP_SERVERS"]
    service = ServiceProcess(bootstrap, scene.topics, tmp_path, "denied-topics", **scene.env())
    error = await service_refused(
        service, f"user {denied_user.username!r}", f"{scene.topics.input!r} (PMS_INPUT_TOPIC)"
    )
    assert "does not exist" not in error


@pytest.mark.asyncio
async def test_run_in_a_group_it_may_not_join_ends_naming_the_group(
    login: dict[str, str], denied_user: DeniedUser, tmp_path: Path, admin: AIOKafkaAdminClient
) -> None:
    # topics it may use fully (no ACL names them; the service creates them), a group it may not
    t = Topics.new("pms-auth-open")
    t = dataclasses.replace(t, group=denied_user.denied_prefix + t.group)
    bootstrap = login["PMS_BOOTSTRAP_SERVERS"]
    settings = {**login, "PMS_REQUESTS_TOPIC": requests_topic(t)}
    service = ServiceProcess(bootstrap, t, tmp_path, "denied-group", **settings)
    try:
        await service_refused(service, "GroupAuthorizationFailedError", repr(t.group))
    finally:
        await delete_topics(admin, all_topics(t))
