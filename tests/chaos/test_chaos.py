"""Chaos against the real broker: the service is killed, rebalanced and fed poison, and every
scenario counts statements lost, statements duplicated and rejects that differ from the oracle.

The oracle is the pure core: a `PartitionTask` fed the same messages in the same order (each
stream key's records are the same, whatever partition they land on). Each scenario runs
`pms-stream run` processes against uuid-named topics, feeds generated transmissions (with bad
records) while the chaos happens, then reads the statements and rejects topics back with a
read_committed consumer. Run alone with `make chaos` (prints the table); the figures go to
bench/out/chaos-results.json and docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from pms_stream.generator import GenerateOptions, generate
from pms_stream.packing import messages
from pms_stream.stream.outputs import Sink
from pms_stream.stream.partition_task import InputMessage, Limits, PartitionTask
from pms_testkit.accounting import count, statement_identity
from pms_testkit.kafka_helpers import Received, consume, consume_to_end, delete_topics, produce
from pms_testkit.service_harness import ServiceProcess, Topics, topics_fixture

pytestmark = [pytest.mark.kafka, pytest.mark.chaos, pytest.mark.asyncio]

FAST = {"PMS_SESSION_TIMEOUT_MS": "6000", "PMS_BATCH_MAX_RECORDS": "20"}
Pairs = list[tuple[bytes | None, bytes]]


topics = topics_fixture("pms-chaos")


def generated_pairs(statements: int, seed: int, bad: int, pack: int) -> Pairs:
    made = generate(GenerateOptions(statements=statements, seed=seed, framing="block", bad=bad))
    buf = io.BytesIO()
    made.write(buf)
    return list(messages(io.BytesIO(buf.getvalue()), pack, "filer", concatenate=False))


def oracle(pairs: Pairs, limits: Limits) -> tuple[list[str], list[str]]:
    """Statements (identities) and rejects (raw) the pure core gives for these messages."""
    task = PartitionTask("oracle", 0, limits=limits)
    statements: list[str] = []
    rejects: list[str] = []
    for offset, (key, value) in enumerate(pairs):
        for out in task.process(InputMessage(offset, key, value)):
            if out.sink is Sink.STATEMENTS:
                statements.append(statement_identity(json.loads(out.value)))
            elif out.sink is Sink.REJECTS:
                rejects.append(json.loads(out.value)["raw"])
    return statements, rejects


async def read_back(
    bootstrap: str, topics: Topics, want: tuple[list[str], list[str]]
) -> tuple[list[Received], list[Received]]:
    """Everything on the statements and rejects topics once the expected counts arrived: wait for
    the counts, give the service a moment to publish anything more (a duplicate would), then read
    each topic to its end."""
    await consume(bootstrap, topics.statements, count=len(want[0]), timeout=150)
    await consume(bootstrap, topics.rejects, count=len(want[1]), timeout=30)
    await asyncio.sleep(3)
    statements = await consume_to_end(bootstrap, topics.statements, timeout=30)
    rejects = await consume_to_end(bootstrap, topics.rejects, timeout=30)
    return statements, rejects


async def _send(bootstrap: str, topic: str, chunk: Pairs) -> None:
    """One chunk with an idempotent producer that is closed whatever fails (start included)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    try:
        await producer.start()
        futures = [await producer.send(topic, value, key=key) for key, value in chunk]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def feed(bootstrap: str, topic: str, pairs: Pairs, seconds: float) -> None:
    """Send the messages in order, spread over about `seconds`; a chunk that fails (the broker
    is down) is sent again until it goes through, as an upstream producer would."""
    chunks = 20
    step = max(len(pairs) // chunks, 1)
    for i in range(0, len(pairs), step):
        for attempt in range(120):
            try:
                await _send(bootstrap, topic, pairs[i : i + step])
                break
            except KafkaError:
                if attempt == 119:
                    raise
                await asyncio.sleep(0.5)
        await asyncio.sleep(seconds / chunks)


async def supervise(service: ServiceProcess, exits: list[int]) -> None:
    """Restart the service whenever it ends by itself (a stall, a failure it cannot ride out),
    as systemd or Kubernetes would; `exits` gets each exit code. Cancel it before stopping."""
    while True:
        assert service.process is not None
        exits.append(await service.process.wait())
        await service.start()


async def stop_all(*services: ServiceProcess) -> None:
    for s in services:
        if s.process is not None and s.process.returncode is None:
            await s.terminate()


async def test_sigkill_at_random_points_twenty_times(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    pairs = generated_pairs(statements=200, seed=21, bad=10, pack=2)
    want = oracle(pairs, Limits())
    started = time.monotonic()
    a = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a", **FAST)
    b = ServiceProcess(kafka_bootstrap, topics, tmp_path, "b", **FAST)
    for s in (a, b):
        await s.start()
        await s.wait_ready()
    rng = random.Random(20261122)
    kills = 0
    try:
        feeder = asyncio.create_task(feed(kafka_bootstrap, topics.input, pairs, seconds=60))
        while kills < 20:
            await asyncio.sleep(rng.uniform(0.3, 3.0))
            victim = rng.choice([a, b])
            await victim.kill()
            kills += 1
            await victim.start()
        await feeder
        statements, rejects = await read_back(kafka_bootstrap, topics, want)
    finally:
        await stop_all(a, b)
    outcome = count(
        "sigkill x20",
        iterations=kills,
        want=want,
        statements=statements,
        rejects=rejects,
        started=started,
    )
    assert outcome.ok, outcome


async def test_rebalance_storm(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    pairs = generated_pairs(statements=150, seed=22, bad=8, pack=3)
    want = oracle(pairs, Limits())
    started = time.monotonic()
    instances = [
        ServiceProcess(kafka_bootstrap, topics, tmp_path, f"i{n}", **FAST) for n in range(3)
    ]
    await instances[0].start()
    await instances[0].wait_ready()
    running = {0}
    rng = random.Random(7)
    changes = 0
    try:
        feeder = asyncio.create_task(feed(kafka_bootstrap, topics.input, pairs, seconds=45))
        while not feeder.done() or changes < 12:
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            n = rng.randrange(3)
            if n in running and len(running) > 1:
                await instances[n].terminate()  # leaves the group
                running.discard(n)
            elif n not in running:
                await instances[n].start()  # joins the group
                running.add(n)
            changes += 1
        await feeder
        statements, rejects = await read_back(kafka_bootstrap, topics, want)
    finally:
        await stop_all(*instances)
    outcome = count(
        "rebalance storm",
        iterations=changes,
        want=want,
        statements=statements,
        rejects=rejects,
        started=started,
    )
    assert outcome.ok, outcome


async def test_poison_and_oversized_messages(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    limits = Limits(max_message_bytes=100_000)
    good = generated_pairs(statements=40, seed=23, bad=0, pack=5)
    poison: Pairs = [
        (b"poison", bytes(range(256)) * 40),  # every byte value, no record in it
        (b"poison", b"\n" * 5000 + b"\r\n" * 100),  # only line ends
        (b"poison", b"Q1" + b"\xff" * 78 + b"\n" + b"A" * 80),  # not ASCII, then garbage
        (b"poison", b"Z" * 200_000),  # over the 100,000-byte limit
        (None, b"\x00" * 79),  # a partial record, no key
    ]
    rng = random.Random(3)
    pairs = list(good)
    for p in poison:
        pairs.insert(rng.randrange(len(pairs) + 1), p)
    want = oracle(pairs, limits)
    started = time.monotonic()
    service = ServiceProcess(
        kafka_bootstrap, topics, tmp_path, "a", PMS_MAX_MESSAGE_BYTES=str(limits.max_message_bytes)
    )
    await service.start()
    await service.wait_ready()
    try:
        await produce(kafka_bootstrap, topics.input, pairs, max_request_size=1_048_576)
        statements, rejects = await read_back(kafka_bootstrap, topics, want)
        assert service.process is not None
        assert service.process.returncode is None, "the service survived the poison"
    finally:
        await service.terminate()
    outcome = count(
        "poison and oversized",
        iterations=len(poison),
        want=want,
        statements=statements,
        rejects=rejects,
        started=started,
    )
    kinds = {json.loads(r.value or b"")["kind"] for r in rejects}
    assert "message" in kinds  # the oversized one was refused unread
    assert outcome.ok, outcome


BROKER = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "broker.sh"


async def test_broker_stopped_and_restarted_under_the_service(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.fail(
            "this scenario restarts the local broker (deploy/kafka/broker.sh restart); "
            "it cannot run against KAFKA_BOOTSTRAP_SERVERS: deselect it with "
            "-k 'not broker_stopped' when testing an external cluster"
        )
    pairs = generated_pairs(statements=100, seed=24, bad=6, pack=2)
    want = oracle(pairs, Limits())
    started = time.monotonic()
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a", **FAST)
    await service.start()
    await service.wait_ready()
    restarts = 0
    exits: list[int] = []  # codes of the service's own exits, each followed by a restart
    supervisor = asyncio.create_task(supervise(service, exits))
    try:
        feeder = asyncio.create_task(feed(kafka_bootstrap, topics.input, pairs, seconds=40))
        for down in (5, 2):  # two restarts: 5 s down, then 2 s down
            await asyncio.sleep(8)
            broker = await asyncio.create_subprocess_exec(
                str(BROKER),
                "restart",
                env={**os.environ, "DOWN_SECONDS": str(down)},
                stdout=asyncio.subprocess.DEVNULL,
            )
            assert await broker.wait() == 0, "the broker restarted"
            restarts += 1
        await feeder
        statements, rejects = await read_back(kafka_bootstrap, topics, want)
    except BaseException as exc:
        exc.add_note(f"service exits restarted: {exits}; the service's log:\n{service.story()}")
        raise
    finally:
        supervisor.cancel()
        await stop_all(service)
    supervised = len(exits)
    outcome = count(
        f"broker restarted x{restarts} (service restarts: {supervised})",
        iterations=restarts,
        want=want,
        statements=statements,
        rejects=rejects,
        started=started,
    )
    assert outcome.ok, outcome


async def test_output_topic_deleted_under_the_service(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, topics: Topics, tmp_path: Path
) -> None:
    clean = generated_pairs(statements=40, seed=25, bad=0, pack=2)
    with_bad = generated_pairs(statements=40, seed=26, bad=8, pack=2)
    want = oracle(clean + with_bad, Limits())
    assert len(want[1]) == 8  # every reject comes after the deletion
    started = time.monotonic()
    service = ServiceProcess(kafka_bootstrap, topics, tmp_path, "a", **FAST)
    await service.start()
    await service.wait_ready()
    try:
        await feed(kafka_bootstrap, topics.input, clean, seconds=8)
        await delete_topics(admin, [topics.rejects])  # the dead-letter topic disappears
        await feed(kafka_bootstrap, topics.input, with_bad, seconds=8)
        statements, rejects = await read_back(kafka_bootstrap, topics, want)
        assert service.process is not None
        assert service.process.returncode is None, "the service recreated the topic and went on"
    finally:
        await stop_all(service)
    recreated = [e for e in service.log_events() if e.get("event", "").startswith("output topics")]
    assert recreated, "the service logged the recreation"
    outcome = count(
        "output topic deleted",
        iterations=1,
        want=want,
        statements=statements,
        rejects=rejects,
        started=started,
    )
    assert outcome.ok, outcome
