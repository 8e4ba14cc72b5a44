"""End to end through a real broker: `pms-stream run` against a bare passthrough, in one run.

    .venv/bin/python bench/bench_pipeline.py [--records N] [--shapes 1,100] [--json] ...

Needs a running Kafka broker: `KAFKA_BOOTSTRAP_SERVERS`, else 127.0.0.1:9092 (`make broker-up`;
for throughput give it Kafka's own JVM defaults: `PMS_KAFKA_JVM_OPTS='-Xms1g -Xmx1g
-XX:+UseG1GC' make broker-up`). `--start-broker` starts such a broker of its own (on
`--broker-port`, state under `--out`) and stops it at the end; nothing else starts or stops one.

Input: a clean generated transmission file (block framing) of at least `--records` records, grouped
into messages keyed by filer exactly as `pms-stream send` does (`pms_stream.packing.messages`), in
two shapes: one record per message (pack 1) and up to 100 records per message (pack 100). Each
shape is preloaded once into a uuid-named input topic of 3 partitions; every run below reads all of
it from an empty consumer group, so each run processes the same messages.

Throughput runs, per shape (the baselines and the pipeline interleaved):
- passthrough, at_least_once: a bare aiokafka consumer group (read_committed) -> idempotent
  producer, every message copied unchanged to an output topic, per getmany batch and partition
  the sends awaited and then the offset committed: the service's at-least-once pattern;
- passthrough, exactly_once: the same with a transactional producer per input partition, one
  transaction per getmany batch and partition holding the copies and
  `send_offsets_to_transaction`: the service's exactly-once pattern, without parsing;
- pipeline: `pms-stream run` as a process (PMS_GUARANTEE at_least_once / exactly_once).
Both run as a child process with the same batch settings (PMS_BATCH_MAX_RECORDS,
PMS_BATCH_TIMEOUT_MS: the service's defaults unless set). Timed: start-up = process start to
ready (the service's /readyz 200; the passthrough's partitions assigned); processing = ready to
every output visible to a read_committed consumer (the pipeline: every expected statement, the
count known from the generator; the passthrough: the child has copied every message and the
output topic's last stable offset equals its high watermark). records/s = input records /
processing seconds. CPU: the process's own CPU seconds, and the machine's busy share of all
cores over the processing time (the broker and this script included).

Latency, per shape and guarantee: a fresh service, already ready, is fed another generated
input at a steady `--latency-rate` records/s for `--latency-seconds`; a statement's latency is
the time it became visible to a read_committed consumer minus the producer timestamp of the
input message holding its last record (the message its `pms-source` header names).

Restore, per guarantee: a fresh service is fed the first half of `--restore-keys` big
statements (one open transmission per key, `--restore-daily` daily statements each), and once
their checkpoints are committed it is killed with SIGKILL and started again: the time from the
restart to /readyz 200 (which answers "restoring partitions [...]" until the replay is done),
split into its phases, and the service's own `pms_restore_seconds` (assignment to end of
replay). The second halves are sent afterwards: every statement must then appear exactly once.

Peer, per shape (`--peer quix`, needs the optional bench extra, else skipped with a note): a
Quix Streams app building the same statements, exactly once (bench/peer_quix.py). Scale-out
(`--scale-out-pack`): 1 and then 2 pms-stream instances on a 6-partition input, records/s from
the first partitions assigned to the last statement. Per-partition costs (`--partition-costs
3,12,48`): one instance per input partition count, with its idle CPU afterwards
(bench/pipeline_rows.py).

Goals (issue 13; printed PASS/MISS, never tuned): pipeline >= 0.8 x passthrough at one record a
message, >= 0.5 x at 100 (same guarantee); exactly_once >= 0.9 x at_least_once (pipeline, same
shape); p99 statement latency < 250 ms (pack 1, exactly_once); pipeline exactly_once >= 1.0 x
the peer (same shape); 2 instances >= 1.6 x 1 on 6 partitions; restore < 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root holds pms_stream and tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import OffsetAndMetadata
from prometheus_client.parser import text_string_to_metric_families

from bench.bench_parse import cpu_model, git_state
from pms_stream.generator import GenerateOptions, generate
from pms_stream.packing import messages
from pms_stream.service.config import Settings
from pms_stream.stream.partition_task import Checkpoint
from pms_testkit.kafka_helpers import (
    consume_to_end,
    create_topic,
    delete_topics,
    kafka_admin,
    port_open,
)
from pms_testkit.service_harness import ServiceProcess, Topics, http_get

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "out"
BROKER_SCRIPT = REPO / "deploy" / "kafka" / "broker.sh"
BENCH_JVM_OPTS = "-Xms1g -Xmx1g -XX:+UseG1GC"
PARTITIONS = 3
PREFIX = "pms-bench"
GUARANTEES = ("at_least_once", "exactly_once")
# Issue 13's goals: pipeline / passthrough >= 0.8 at one record a message, >= 0.5 at 100.
GOAL_PIPELINE = 0.8  # pipeline / passthrough, small messages (pack < 100)
GOAL_PIPELINE_PACKED = 0.5  # the same, at 100 records a message or more
GOAL_EXACTLY_ONCE = 0.9  # exactly_once / at_least_once
GOAL_LATENCY_P99_MS = 250.0  # exactly_once, pack 1, at --latency-rate (2,000 records/s)
GOAL_RESTORE_S = 5.0
# Settings the bench itself gives the service (the rest may come from PMS_* or --set).
CONTROLLED = frozenset(
    {"PMS_GUARANTEE", "PMS_BOOTSTRAP_SERVERS", "PMS_HTTP_PORT", "PMS_LOG_FORMAT"}
    | {"PMS_INPUT_TOPIC", "PMS_STATEMENTS_TOPIC", "PMS_REROUTE_ACKS_TOPIC", "PMS_REJECTS_TOPIC"}
    | {"PMS_METRICS_TOPIC", "PMS_GROUP_ID", "PMS_TOPIC_PARTITIONS", "PMS_CONFIG"}
)


# ---- small helpers ------------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far: the whole machine (all cores), the measured process, the
    broker and this script (Linux /proc; None where unknown)."""

    wall: float
    machine_busy: float | None
    machine_total: float | None
    process: float | None
    broker: float | None
    bench: float

    @classmethod
    def take(cls, pid: int | None, broker_pid: int | None) -> CpuSnapshot:
        busy = total = None
        with contextlib.suppress(OSError, IndexError, ValueError):
            ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
            idle = ticks[3] + ticks[4]  # idle, iowait
            hz = os.sysconf("SC_CLK_TCK")
            busy, total = (sum(ticks) - idle) / hz, sum(ticks) / hz
        own = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            time.monotonic(),
            busy,
            total,
            process_cpu_s(pid) if pid is not None else None,
            process_cpu_s(broker_pid) if broker_pid is not None else None,
            own.ru_utime + own.ru_stime,
        )


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds between two snapshots; `other` is what the rest of the machine used
    (other people's work on a shared machine: a run with much of it is suspect)."""

    process_s: float | None
    broker_s: float | None
    bench_s: float
    other_s: float | None
    machine_busy: float | None  # share of all cores busy

    @classmethod
    def between(cls, a: CpuSnapshot, b: CpuSnapshot) -> CpuUse:
        def delta(x: float | None, y: float | None) -> float | None:
            return y - x if x is not None and y is not None else None

        process, broker = delta(a.process, b.process), delta(a.broker, b.broker)
        busy, total = delta(a.machine_busy, b.machine_busy), delta(a.machine_total, b.machine_total)
        other = None
        if busy is not None and process is not None and broker is not None:
            other = max(busy - process - broker - (b.bench - a.bench), 0.0)
        share = busy / total if busy is not None and total else None
        return cls(process, broker, b.bench - a.bench, other, share)


def broker_process(port: int) -> tuple[int, str] | None:
    """The local kafka.Kafka JVM listening on `port`: (pid, its -X JVM flags), or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = [a for a in (entry / "cmdline").read_bytes().decode().split("\0") if a]
        except (OSError, UnicodeDecodeError):
            continue
        if "kafka.Kafka" not in args or not args[-1].endswith(".properties"):
            continue
        try:
            config = Path(args[-1]).read_text()
        except OSError:
            continue
        listeners = [line for line in config.splitlines() if line.startswith("listeners=")]
        if any(f":{port}," in line or line.endswith(f":{port}") for line in listeners):
            flags = [a for a in args if a.startswith("-X")]
            return int(entry.name), " ".join(flags)
    return None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q from 0 to 100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {'name{labels}': value}, read by prometheus_client's own
    parser (the labels in the order the service writes them)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sample.labels.items())
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def metric_sum(metrics: dict[str, float], name: str) -> float:
    """The sum of a metric over all its label sets."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def restore_histogram(metrics: dict[str, float]) -> dict[str, Any]:
    count = metrics.get("pms_restore_seconds_count", 0.0)
    total = metrics.get("pms_restore_seconds_sum", 0.0)
    buckets = sorted(
        (float(k.split('le="')[1].split('"')[0]), v)
        for k, v in metrics.items()
        if k.startswith("pms_restore_seconds_bucket{")
    )
    top = next((le for le, v in buckets if v >= count), math.inf)  # the max is at most this
    return {"count": int(count), "sum_s": total, "max_at_most_s": top}


# ---- input --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    pairs: list[tuple[bytes | None, bytes]]
    records: int
    statements: int


def make_data(records: int, seed: int, pack: int, key_by: str = "filer") -> Data:
    generated = generate(GenerateOptions(records=records, seed=seed, framing="block"))
    buf = io.BytesIO()
    generated.write(buf)
    buf.seek(0)
    pairs = list(messages(buf, pack, key_by, concatenate=False))
    return Data(pairs, len(generated.records), generated.statement_count)


def records_in(value: bytes) -> int:
    return (len(value) + 1) // 81  # 80-character records joined by LF


async def send_all(
    bootstrap: str,
    topic: str,
    pairs: list[tuple[bytes | None, bytes]],
    partitions: list[int | None] | None = None,
) -> dict[int, int]:
    """Send every (key, value) (keyed: the default partitioner); returns messages per partition."""
    counts: dict[int, int] = {}
    async with AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=20
    ) as producer:
        futures = []
        for i, (key, value) in enumerate(pairs):
            partition = partitions[i] if partitions is not None else None
            futures.append(await producer.send(topic, value, key=key, partition=partition))
            if len(futures) >= 5000:
                for meta in await asyncio.gather(*futures):
                    counts[meta.partition] = counts.get(meta.partition, 0) + 1
                futures.clear()
        for meta in await asyncio.gather(*futures):
            counts[meta.partition] = counts.get(meta.partition, 0) + 1
    return dict(sorted(counts.items()))


# ---- the passthrough child ----------------------------------------------------------------------


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_assigned: Callable[[list[Any]], Awaitable[None]]) -> None:
        self.on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: list[Any]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[Any]) -> None:
        await self.on_assigned(list(assigned))


async def passthrough(cfg: dict[str, Any]) -> None:
    """Copy `expect` messages from the input topic to the output topic, then exit.

    Prints "ready" once its partitions are assigned (and, exactly once, their producers
    started), and "done <messages> <cpu seconds>" once the last batch is committed.
    """
    bootstrap, group, source, target = cfg["bootstrap"], cfg["group"], cfg["input"], cfg["output"]
    exactly_once = cfg["guarantee"] == "exactly_once"
    producers: dict[Any, Any] = {}
    shared: Any = None
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        session_timeout_ms=cfg["session_timeout_ms"],
        heartbeat_interval_ms=max(cfg["session_timeout_ms"] // 3, 1000),
        max_partition_fetch_bytes=max(cfg["max_message_bytes"] + 65536, 1_048_576),
    )
    size = max(cfg["max_message_bytes"] * 2, 1_048_576)
    # aiokafka may hand out records before the assignment callback has finished: as the service
    # does, the callback holds a lock that processing takes too.
    lock = asyncio.Lock()

    async def assigned(tps: list[Any]) -> None:
        async with lock:
            await start_producers(tps)
        print("ready", flush=True)

    async def start_producers(tps: list[Any]) -> None:
        if exactly_once:
            for tp in tps:
                if tp not in producers:
                    producer = AIOKafkaProducer(
                        bootstrap_servers=bootstrap,
                        transactional_id=f"{group}.{tp.topic}.{tp.partition}",
                        enable_idempotence=True,
                        linger_ms=5,
                        max_request_size=size,
                    )
                    await producer.start()
                    producers[tp] = producer

    async def copy(tp: Any, batch: list[Any]) -> None:
        offsets = {tp: OffsetAndMetadata(batch[-1].offset + 1, "")}
        if exactly_once:
            producer = producers[tp]
            async with producer.transaction():
                for m in batch:
                    await producer.send(target, m.value, key=m.key)
                await producer.send_offsets_to_transaction(offsets, group)
        else:
            futures = [await shared.send(target, m.value, key=m.key) for m in batch]
            await asyncio.gather(*futures)
            await consumer.commit(offsets)

    if not exactly_once:
        shared = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_request_size=size,
        )
        await shared.start()
    await consumer.start()
    consumer.subscribe([source], listener=_Listener(assigned))
    done = 0
    try:
        while done < cfg["expect"]:
            batch = await consumer.getmany(
                timeout_ms=cfg["batch_timeout_ms"], max_records=cfg["batch_max_records"]
            )
            async with lock:
                await asyncio.gather(*(copy(tp, ms) for tp, ms in batch.items() if ms))
            done += sum(len(ms) for ms in batch.values())
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(f"done {done} {usage.ru_utime + usage.ru_stime:.3f}", flush=True)
    finally:
        await consumer.stop()
        for producer in [*producers.values(), shared]:
            if producer is not None:
                await producer.stop()


# ---- watching the outputs -----------------------------------------------------------------------


class Watcher:
    """A read_committed consumer without a group, on every partition of a topic from the start."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
        self.topic = topic
        self.partitions = partitions
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            fetch_max_wait_ms=100,
        )
        self.seen: list[tuple[float, float, Any]] = []  # (monotonic, wall clock, record)

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.assign([TopicPartition(self.topic, p) for p in range(self.partitions)])

    async def stop(self) -> None:
        await self.consumer.stop()

    async def until(self, count: int, timeout: float, keep: bool = False) -> float:
        """Read until `count` records were seen; returns the monotonic time of the last one."""
        deadline = time.monotonic() + timeout
        seen = 0
        while seen < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic}: {seen} of {count} records in {timeout:g} s")
            batch = await self.consumer.getmany(timeout_ms=100)
            mono, wall = time.monotonic(), time.time()
            for records in batch.values():
                seen += len(records)
                if keep:
                    self.seen += [(mono, wall, r) for r in records]
        return time.monotonic()


class StableProbe:
    """Tells when a topic's last stable offset equals its high watermark on every partition:
    every transaction on it completed and its markers written. Started before the run, so that
    connecting is not timed."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        self.committed = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, isolation_level="read_committed"
        )
        self.uncommitted = AIOKafkaConsumer(bootstrap_servers=bootstrap)

    async def start(self) -> None:
        await self.committed.start()
        await self.uncommitted.start()
        await self.until_stable(30.0)  # fetches the topic's metadata now (it is empty)

    async def stop(self) -> None:
        await self.committed.stop()
        await self.uncommitted.stop()

    async def until_stable(self, timeout: float) -> float:
        """Poll every 10 ms; returns the monotonic time it was first seen stable."""
        deadline = time.monotonic() + timeout
        while True:
            lso, hw = await asyncio.gather(
                self.committed.end_offsets(self.tps), self.uncommitted.end_offsets(self.tps)
            )
            now = time.monotonic()
            if lso == hw:
                return now
            if now > deadline:
                raise TimeoutError(f"{self.tps[0].topic}: last stable {lso} != high watermark {hw}")
            await asyncio.sleep(0.01)


# ---- one context for the whole run --------------------------------------------------------------


@dataclass
class Context:
    bootstrap: str
    out: Path
    logs: Path
    seed: int
    service_env: dict[str, str]
    batch_max_records: int
    batch_timeout_ms: int
    session_timeout_ms: int
    max_message_bytes: int
    timeout: float
    broker_pid: int | None = None
    topics: list[str] = field(default_factory=list)
    runs: int = 0

    def name(self, what: str) -> str:
        self.runs += 1
        return f"{self.runs:02d}-{what}"

    async def create(self, topics: Topics, with_input: bool, partitions: int = PARTITIONS) -> None:
        names = [topics.statements, topics.acks, topics.rejects, topics.metrics]
        async with kafka_admin(self.bootstrap) as admin:
            if with_input:
                await create_topic(admin, topics.input, partitions=partitions)
                self.topics.append(topics.input)
            for name in names:
                configs = {"cleanup.policy": "compact"} if name == topics.statements else None
                await create_topic(admin, name, partitions=partitions, configs=configs)
            self.topics += names

    def service(self, topics: Topics, name: str, guarantee: str) -> ServiceProcess:
        return ServiceProcess(
            self.bootstrap, topics, self.logs, name, PMS_GUARANTEE=guarantee, **self.service_env
        )


@dataclass(frozen=True)
class Preloaded:
    pack: int
    topic: str
    messages: int
    records: int
    statements: int
    per_partition: dict[int, int]
    seconds: float


async def preload(ctx: Context, data: Data, pack: int, partitions: int = PARTITIONS) -> Preloaded:
    topic = f"{PREFIX}-{os.urandom(6).hex()}-in-pack{pack}"
    async with kafka_admin(ctx.bootstrap) as admin:
        await create_topic(admin, topic, partitions=partitions)
    ctx.topics.append(topic)
    started = time.monotonic()
    per_partition = await send_all(ctx.bootstrap, topic, data.pairs)
    return Preloaded(
        pack,
        topic,
        len(data.pairs),
        data.records,
        data.statements,
        per_partition,
        time.monotonic() - started,
    )


async def wait_ready(
    service: ServiceProcess, timeout: float
) -> tuple[float, list[tuple[float, str]]]:
    """Poll /readyz every 50 ms: the monotonic time of the first 200, and each new 503 reason
    with the time it was first seen."""
    deadline = time.monotonic() + timeout
    reasons: list[tuple[float, str]] = []
    while True:
        if service.process is not None and service.process.returncode is not None:
            raise RuntimeError(f"{service.name} exited:\n{service.tail()}")
        try:
            status, body = await asyncio.to_thread(http_get, service.port, "/readyz", 1.0)
        except OSError:
            status, body = 0, "no answer yet"
        now = time.monotonic()
        if status == 200:
            return now, reasons
        reason = body.strip().split("[")[0].strip() or f"HTTP {status}"
        if not reasons or reasons[-1][1] != reason:
            reasons.append((now, reason))
        if now > deadline:
            raise TimeoutError(f"{service.name} not ready in {timeout:g} s:\n{service.tail()}")
        await asyncio.sleep(0.05)


async def metrics_of(service: ServiceProcess) -> dict[str, float]:
    _, text = await asyncio.to_thread(http_get, service.port, "/metrics", 5.0)
    return parse_metrics(text)


@contextlib.asynccontextmanager
async def service_watched(
    ctx: Context, topics: Topics, name: str, guarantee: str
) -> AsyncIterator[tuple[ServiceProcess, Watcher]]:
    """A service (not started yet) and a watcher on its statements topic (started); on exit the
    watcher is stopped and the service, if still running, stopped with SIGTERM."""
    watcher = Watcher(ctx.bootstrap, topics.statements)
    await watcher.start()
    service = ctx.service(topics, name, guarantee)
    try:
        yield service, watcher
    finally:
        await watcher.stop()
        if service.process is not None and service.process.returncode is None:
            await service.terminate()


async def statements_seen(
    service: ServiceProcess, watcher: Watcher, count: int, timeout: float, keep: bool = False
) -> float:
    """`watcher.until`, and when it times out, the service log's tail in the error."""
    try:
        return await watcher.until(count, timeout, keep)
    except TimeoutError as exc:
        raise RuntimeError(f"{exc}\n{service.tail()}") from exc


# ---- throughput ---------------------------------------------------------------------------------


@dataclass
class Throughput:
    kind: str  # passthrough or pipeline
    pack: int
    guarantee: str
    records: int
    messages: int
    outputs: int  # what was waited for: statements (pipeline) or copied messages (passthrough)
    startup_s: float
    processing_s: float
    records_per_s: float
    messages_per_s: float
    cpu: CpuUse  # during processing
    transactions: int | None = None
    loop_iterations: int | None = None
    batches: int | None = None  # partition batches processed (one transaction each, exactly once)
    assembly_s: float | None = None  # time in framing and assembly (the pure core)


async def start_child(
    ctx: Context, name: str, argv: list[str], cfg: dict[str, Any]
) -> asyncio.subprocess.Process:
    """A bench child process (the passthrough, the peer): `python ARGV... CFG-JSON`, its standard
    output piped (it prints "ready", then its figures), its standard error to `<name>.log`."""
    with (ctx.logs / f"{name}.log").open("ab") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *argv,
            json.dumps(cfg),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            stdin=asyncio.subprocess.DEVNULL,
        )


async def until_ready(
    ctx: Context, name: str, proc: asyncio.subprocess.Process
) -> tuple[float, CpuSnapshot]:
    """Wait for the child's "ready" line: when it came, and the CPU used so far."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), ctx.timeout)
    ready = time.monotonic()
    cpu0 = CpuSnapshot.take(proc.pid, ctx.broker_pid)
    if line.strip() != b"ready":
        raise RuntimeError(f"{name}: {line!r} instead of ready (see {ctx.logs / name}.log)")
    return ready, cpu0


async def run_passthrough(ctx: Context, data: Preloaded, guarantee: str) -> Throughput:
    output = f"{PREFIX}-{os.urandom(6).hex()}-copy"
    async with kafka_admin(ctx.bootstrap) as admin:
        await create_topic(admin, output, partitions=PARTITIONS)
    ctx.topics.append(output)
    cfg = {
        "bootstrap": ctx.bootstrap,
        "group": f"{output}-group",
        "input": data.topic,
        "output": output,
        "guarantee": guarantee,
        "expect": data.messages,
        "batch_max_records": ctx.batch_max_records,
        "batch_timeout_ms": ctx.batch_timeout_ms,
        "session_timeout_ms": ctx.session_timeout_ms,
        "max_message_bytes": ctx.max_message_bytes,
    }
    name = ctx.name(f"passthrough-pack{data.pack}-{guarantee}")
    probe = StableProbe(ctx.bootstrap, output)
    await probe.start()
    started = time.monotonic()
    proc = await start_child(ctx, name, [str(Path(__file__).resolve()), "--passthrough-child"], cfg)
    assert proc.stdout is not None
    try:
        ready, cpu0 = await until_ready(ctx, name, proc)
        line = await asyncio.wait_for(proc.stdout.readline(), ctx.timeout)
        cpu1 = CpuSnapshot.take(proc.pid, ctx.broker_pid)  # the child exits after this line
        if not line.startswith(b"done "):
            raise RuntimeError(f"{name}: {line!r} instead of done (see {ctx.logs / name}.log)")
        done = await probe.until_stable(ctx.timeout)
        await asyncio.wait_for(proc.wait(), ctx.timeout)
    finally:
        await probe.stop()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    copied = await consume_to_end(ctx.bootstrap, output, timeout=ctx.timeout)
    if len(copied) != data.messages:
        raise RuntimeError(f"{name}: {len(copied)} messages copied, expected {data.messages}")
    seconds = done - ready
    return Throughput(
        "passthrough",
        data.pack,
        guarantee,
        data.records,
        data.messages,
        len(copied),
        ready - started,
        seconds,
        data.records / seconds,
        data.messages / seconds,
        CpuUse.between(cpu0, cpu1),
    )


async def run_pipeline(ctx: Context, data: Preloaded, guarantee: str) -> Throughput:
    topics = dataclasses.replace(Topics.new(PREFIX), input=data.topic)
    await ctx.create(topics, with_input=False)
    name = ctx.name(f"pipeline-pack{data.pack}-{guarantee}")
    async with service_watched(ctx, topics, name, guarantee) as (service, watcher):
        started, started_wall = time.monotonic(), time.time()
        await service.start()
        ready, _ = await wait_ready(service, ctx.timeout)
        assert service.process is not None
        cpu0 = CpuSnapshot.take(service.process.pid, ctx.broker_pid)
        done = await statements_seen(service, watcher, data.statements, ctx.timeout)
        cpu1 = CpuSnapshot.take(service.process.pid, ctx.broker_pid)
        metrics = await metrics_of(service)
    got = await consume_to_end(ctx.bootstrap, topics.statements, timeout=ctx.timeout)
    if len(got) != data.statements:
        raise RuntimeError(f"{service.name}: {len(got)} statements, expected {data.statements}")
    # Processing starts when the partitions are assigned (the log line, to the millisecond), which
    # /readyz, polled every 50 ms, reports a little later.
    assigned, _ = log_seconds_after(service, 0, started_wall)
    begin = min(ready, started + assigned) if assigned is not None else ready
    seconds = done - begin
    return Throughput(
        "pipeline",
        data.pack,
        guarantee,
        data.records,
        data.messages,
        len(got),
        ready - started,
        seconds,
        data.records / seconds,
        data.messages / seconds,
        CpuUse.between(cpu0, cpu1),
        int(metrics.get('pms_transactions_total{result="committed"}', 0)),
        int(metrics.get("pms_loop_iterations_total", 0)),
        int(metrics.get("pms_assembly_latency_seconds_count", 0)),
        metrics.get("pms_assembly_latency_seconds_sum"),
    )


# ---- latency ------------------------------------------------------------------------------------


@dataclass
class Latency:
    pack: int
    guarantee: str
    rate: float  # records/s offered
    records: int
    statements: int
    feed_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    transactions: int  # the service's committed transactions during the run
    batches: int  # partition batches it processed
    # the slowest statements: (seconds after the feed began that it became visible, latency ms)
    worst: list[tuple[float, float]] = field(default_factory=list)


async def run_latency(
    ctx: Context, pack: int, guarantee: str, rate: float, seconds: float
) -> Latency:
    data = make_data(max(int(rate * seconds), 1), ctx.seed + 1, pack)
    topics = Topics.new(PREFIX)
    await ctx.create(topics, with_input=True)
    sent: dict[tuple[int, int], float] = {}
    name = ctx.name(f"latency-pack{pack}-{guarantee}")
    async with service_watched(ctx, topics, name, guarantee) as (service, watcher):
        await service.start()
        await wait_ready(service, ctx.timeout)
        collecting = asyncio.create_task(
            statements_seen(service, watcher, data.statements, ctx.timeout + seconds, keep=True)
        )
        async with AIOKafkaProducer(
            bootstrap_servers=ctx.bootstrap, enable_idempotence=True, acks="all"
        ) as producer:
            futures: list[tuple[asyncio.Future[Any], float]] = []
            fed = 0
            start = time.monotonic()
            fed_at = time.time()  # the watcher's clock
            for key, value in data.pairs:
                wait = start + fed / rate - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                stamp = int(time.time() * 1000)
                future = await producer.send(topics.input, value, key=key, timestamp_ms=stamp)
                futures.append((future, stamp / 1000))
                fed += records_in(value)
            feed_s = time.monotonic() - start
            for future, stamp_s in futures:
                meta = await future
                sent[meta.partition, meta.offset] = stamp_s
        await collecting
        metrics = await metrics_of(service)
    latencies = []
    when = []
    for _, wall, record in watcher.seen:
        source = dict(record.headers).get("pms-source", b"").decode()
        _, partition, offset = source.rsplit(":", 2)
        latencies.append(wall - sent[int(partition), int(offset)])
        when.append(wall - fed_at)
    worst = sorted(zip(when, latencies, strict=True), key=lambda w: -w[1])[:12]
    return Latency(
        pack,
        guarantee,
        rate,
        data.records,
        len(latencies),
        feed_s,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        max(latencies) * 1000,
        int(metrics.get('pms_transactions_total{result="committed"}', 0)),
        int(metrics.get("pms_assembly_latency_seconds_count", 0)),
        [(round(at, 2), round(ms * 1000, 1)) for at, ms in sorted(worst)],
    )


# ---- restore after a kill -----------------------------------------------------------------------


@dataclass
class Restore:
    guarantee: str
    keys: int
    open_records: int
    open_statements: int  # pms_open_statements summed over partitions, just before the kill
    restart_to_ready_s: float
    phases: list[tuple[str, float]]  # each /readyz reason and when it was first seen (s)
    assigned_after_s: float | None  # the "partitions assigned" log line, after the restart
    replay_s: list[float]  # the "partition restored" log lines: seconds per partition
    restore_histogram: dict[str, Any]
    statements_after: int  # statements once the second halves were sent (must equal keys)


def restore_input(keys: int, daily: int, seed: int) -> list[tuple[list[bytes], list[bytes]]]:
    """Per key, one transmission holding one big statement, cut in two halves."""
    halves = []
    for i in range(keys):
        g = generate(
            GenerateOptions(
                statements=1, daily=(daily, daily), seed=seed + i, finals=0.0, final_only=0.0
            )
        )
        cut = len(g.records) // 2
        halves.append((g.records[:cut], g.records[cut:]))
    return halves


def keyed(
    halves: list[tuple[list[bytes], list[bytes]]], half: int, pack: int
) -> tuple[list[tuple[bytes | None, bytes]], list[int | None]]:
    """The messages of one half of every key (key RESTORE<i>, `pack` records a message) and
    the partition of each: key i on partition i mod 3."""
    pairs: list[tuple[bytes | None, bytes]] = []
    partitions: list[int | None] = []
    for i, halved in enumerate(halves):
        records = halved[half]
        for start in range(0, len(records), pack):
            pairs.append((f"RESTORE{i:04d}".encode(), b"\n".join(records[start : start + pack])))
            partitions.append(i % PARTITIONS)
    return pairs, partitions


async def checkpoints_at_end(ctx: Context, topics: Topics, ends: dict[int, int]) -> None:
    """Wait until the group's committed checkpoint says every message was processed
    ("emitted through", read from the offset metadata as the service reads it, at the end of
    every partition that got input)."""
    deadline = time.monotonic() + ctx.timeout
    async with kafka_admin(ctx.bootstrap) as admin:
        while True:
            offsets: dict[Any, Any] = await admin.list_consumer_group_offsets(topics.group)
            through = {}
            for tp, meta in offsets.items():
                checkpoint = Checkpoint.from_committed(meta.offset, meta.metadata or "")
                through[tp.partition] = checkpoint.emitted_through
            if all(through.get(p, -1) >= end for p, end in ends.items()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"checkpoints {through}, input ends {ends}")
            await asyncio.sleep(0.1)


def log_seconds_after(
    service: ServiceProcess, offset: int, restart_wall: float
) -> tuple[float | None, list[float]]:
    """From the service log written after `offset`: seconds from the restart to the
    "partitions assigned" line, and the seconds of each "partition restored" line."""
    assigned: float | None = None
    replay: list[float] = []
    with service.log_path.open("rb") as fh:
        fh.seek(offset)
        for line in fh.read().decode(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "partitions assigned" and assigned is None:
                with contextlib.suppress(KeyError, ValueError):
                    at = datetime.fromisoformat(event["timestamp"]).timestamp()
                    assigned = at - restart_wall
            elif event.get("event") == "partition restored":
                replay.append(float(event["seconds"]))
    return assigned, replay


async def run_restore(ctx: Context, guarantee: str, keys: int, daily: int, pack: int) -> Restore:
    halves = restore_input(keys, daily, ctx.seed + 1000)
    topics = Topics.new(PREFIX)
    await ctx.create(topics, with_input=True)
    name = ctx.name(f"restore-{guarantee}")
    async with service_watched(ctx, topics, name, guarantee) as (service, watcher):
        await service.start()
        await wait_ready(service, ctx.timeout)
        counts = await send_all(ctx.bootstrap, topics.input, *keyed(halves, 0, pack))
        await checkpoints_at_end(ctx, topics, counts)  # one input message per offset
        open_statements = int(metric_sum(await metrics_of(service), "pms_open_statements"))
        await service.kill()
        offset = service.log_path.stat().st_size
        restart_wall = time.time()
        restarted = time.monotonic()
        await service.start()
        ready, reasons = await wait_ready(service, ctx.timeout)
        histogram = restore_histogram(await metrics_of(service))
        assigned, replay = log_seconds_after(service, offset, restart_wall)
        await send_all(ctx.bootstrap, topics.input, *keyed(halves, 1, pack))
        await statements_seen(service, watcher, keys, ctx.timeout)
    got = await consume_to_end(ctx.bootstrap, topics.statements, timeout=ctx.timeout)
    return Restore(
        guarantee,
        keys,
        sum(len(head) for head, _ in halves),
        open_statements,
        ready - restarted,
        [(reason, at - restarted) for at, reason in reasons],
        assigned,
        replay,
        histogram,
        len(got),
    )


# ---- the whole run ------------------------------------------------------------------------------


def _at_least(goal: str, measured: float, target: float) -> dict[str, Any]:
    return {
        "goal": goal,
        "measured": measured,
        "target": f">= {target}",
        "pass": measured >= target,
    }


def _under(goal: str, measured: float, target: float, unit: str = "s") -> dict[str, Any]:
    return {
        "goal": goal,
        "measured": measured,
        "target": f"< {target:g} {unit}",
        "pass": measured < target,
    }


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal against what was measured: PASS or MISS, nothing adjusted."""
    rows: list[dict[str, Any]] = []
    rate = {
        (t["kind"], t["pack"], t["guarantee"]): t["records_per_s"] for t in report["throughput"]
    }
    for pack in report["shapes"]:
        for guarantee in report["guarantees"]:
            pipe = rate.get(("pipeline", pack, guarantee))
            base = rate.get(("passthrough", pack, guarantee))
            if pipe and base:
                what = f"pipeline / passthrough, pack {pack}, {guarantee}"
                goal = GOAL_PIPELINE if pack < 100 else GOAL_PIPELINE_PACKED
                rows.append(_at_least(what, pipe / base, goal))
        eos = rate.get(("pipeline", pack, "exactly_once"))
        alo = rate.get(("pipeline", pack, "at_least_once"))
        if eos and alo:
            what = f"pipeline exactly_once / at_least_once, pack {pack}"
            rows.append(_at_least(what, eos / alo, GOAL_EXACTLY_ONCE))
    for lat in report["latency"]:
        if lat["pack"] == 1 and lat["guarantee"] == "exactly_once":
            what = f"p99 statement latency, pack 1, exactly_once, {lat['rate']:,.0f} rec/s"
            rows.append(_under(what, lat["p99_ms"], GOAL_LATENCY_P99_MS, "ms"))
    from bench.pipeline_rows import GOAL_PEER, GOAL_SCALE_OUT

    for peer in report.get("peer", []):
        pipe = rate.get(("pipeline", peer["pack"], "exactly_once"))
        if pipe:
            what = f"pipeline exactly_once / peer (Quix), pack {peer['pack']}"
            rows.append(_at_least(what, pipe / peer["records_per_s"], GOAL_PEER))
    scale = {r["instances"]: r["records_per_s"] for r in report.get("scale_out", [])}
    if scale.get(1) and scale.get(2):
        what = "scale-out: 2 instances / 1, 6 partitions, whole run"
        rows.append(_at_least(what, scale[2] / scale[1], GOAL_SCALE_OUT))
    for r in report["restore"]:
        if r["replay_s"]:
            what = f"restore: replay of open statements, {r['guarantee']}"
            rows.append(_under(what, max(r["replay_s"]), GOAL_RESTORE_S))
        what = f"restore: restart after SIGKILL to /readyz, {r['guarantee']}"
        rows.append(_under(what, r["restart_to_ready_s"], GOAL_RESTORE_S))
    return rows


async def bench(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "python": sys.version.split()[0],
        "cpu": cpu_model(),
        "git": git_state(),
        "cpus": os.cpu_count(),
        "bootstrap": ctx.bootstrap,
        "records_asked": args.records,
        "seed": args.seed,
        "shapes": args.shapes,
        "guarantees": args.guarantees,
        "batch_max_records": ctx.batch_max_records,
        "batch_timeout_ms": ctx.batch_timeout_ms,
        "service_env": ctx.service_env,
        "logs": str(ctx.logs),
        "throughput": [],
        "latency": [],
        "restore": [],
    }
    port = int(ctx.bootstrap.split(",")[0].rpartition(":")[2] or 9092)
    broker = broker_process(port)
    report["broker_jvm"] = broker[1] if broker else None
    ctx.broker_pid = broker[0] if broker else None
    broker_cpu0 = process_cpu_s(broker[0]) if broker else None
    started = time.monotonic()
    from bench import peer_quix, pipeline_rows

    peer = args.peer == "quix" and peer_quix.AVAILABLE
    if args.peer == "quix" and not peer:
        report["peer_note"] = peer_quix.MISSING
        print(f"  {peer_quix.MISSING}", file=sys.stderr)
    report["peer"], report["scale_out"], report["partition_costs"] = [], [], []
    for pack in args.shapes:
        data = make_data(args.records, args.seed, pack)
        loaded = await preload(ctx, data, pack)
        report.setdefault("inputs", []).append(asdict(loaded))
        for guarantee in args.guarantees:
            for kind in ("passthrough", "pipeline"):
                run = run_passthrough if kind == "passthrough" else run_pipeline
                result = await run(ctx, loaded, guarantee)
                report["throughput"].append(asdict(result))
                _progress(args, f"{kind} pack {pack} {guarantee}", result.records_per_s)
        if peer:
            row = await pipeline_rows.run_peer(ctx, loaded, data)
            report["peer"].append(asdict(row))
            _progress(args, f"peer quix pack {pack} exactly_once", row.records_per_s)
    if args.scale_out_pack:
        pack = args.scale_out_pack
        data = make_data(args.records, args.seed, pack, args.key_by)
        loaded = await preload(ctx, data, pack, pipeline_rows.SCALE_PARTITIONS)
        for instances in (1, 2):
            scaled = await pipeline_rows.run_instances(
                ctx, loaded, instances, pipeline_rows.SCALE_PARTITIONS, key_by=args.key_by
            )
            report["scale_out"].append(asdict(scaled))
            _progress(args, f"scale-out {instances} instance(s)", scaled.records_per_s)
    for partitions in args.partition_costs:
        data = make_data(args.records, args.seed, 1, args.key_by)
        loaded = await preload(ctx, data, 1, partitions)
        cost = await pipeline_rows.run_instances(
            ctx, loaded, 1, partitions, key_by=args.key_by, idle_s=args.idle_seconds
        )
        report["partition_costs"].append(asdict(cost))
        _progress(args, f"one instance on {partitions} partitions", cost.records_per_s)
    if args.latency_seconds > 0:
        for pack in args.shapes:
            for guarantee in args.guarantees:
                lat = await run_latency(
                    ctx, pack, guarantee, args.latency_rate, args.latency_seconds
                )
                report["latency"].append(asdict(lat))
    for guarantee in args.restore_guarantees:
        res = await run_restore(
            ctx, guarantee, args.restore_keys, args.restore_daily, args.restore_pack
        )
        report["restore"].append(asdict(res))
    report["restore_setup"] = {
        "keys": args.restore_keys,
        "daily": args.restore_daily,
        "pack": args.restore_pack,
    }
    report["seconds"] = time.monotonic() - started
    if broker is not None and broker_cpu0 is not None:
        broker_cpu1 = process_cpu_s(broker[0])
        report["broker_cpu_s"] = broker_cpu1 - broker_cpu0 if broker_cpu1 is not None else None
    report["goals"] = goals(report)
    return report


def _progress(args: argparse.Namespace, what: str, rate: float) -> None:
    if not args.json:
        print(f"  {what}: {rate:,.0f} rec/s", file=sys.stderr)


def table(report: dict[str, Any]) -> str:
    out = [
        f"pms-stream pipeline benchmark, {report['date']}: Python {report['python']}, "
        f"CPU {report['cpu']}, {report['cpus']} CPUs",
        f"broker {report['bootstrap']}, JVM {report['broker_jvm'] or 'unknown'}; "
        f"batches: <= {report['batch_max_records']} messages, {report['batch_timeout_ms']} ms; "
        f"service settings: {report['service_env'] or 'defaults'}",
        f"pms_stream at {report['git']}",
    ]
    for i in report.get("inputs", []):
        spread = "/".join(f"{n:,}" for n in i["per_partition"].values())
        out.append(
            f"input pack {i['pack']}: {i['records']:,} records, {i['statements']:,} statements, "
            f"{i['messages']:,} messages ({spread} on partitions 0/1/2), preloaded in "
            f"{i['seconds']:.1f} s"
        )
    out += [
        "",
        "throughput: records/s = input records / (all outputs visible read_committed - ready)",
        "CPU seconds during processing: the process, the broker, the rest of the machine "
        "(other work);",
        "busy: share of all cores busy; txns: the service's committed transactions",
        f"{'run':<12} {'pack':>4} {'guarantee':<14} {'start s':>7} {'proc s':>7} "
        f"{'records/s':>10} {'msgs/s':>9} {'proc':>5} {'broker':>6} {'other':>5} {'busy':>5} "
        f"{'txns':>5} {'x base':>7}",
    ]
    base = {
        (t["pack"], t["guarantee"]): t["records_per_s"]
        for t in report["throughput"]
        if t["kind"] == "passthrough"
    }
    for t in report["throughput"]:
        b = base.get((t["pack"], t["guarantee"]))
        cpu = t["cpu"]
        out.append(
            f"{t['kind']:<12} {t['pack']:>4} {t['guarantee']:<14} {t['startup_s']:>7.2f} "
            f"{t['processing_s']:>7.2f} {t['records_per_s']:>10,.0f} {t['messages_per_s']:>9,.0f} "
            f"{_num(cpu['process_s'], '5.1f')} {_num(cpu['broker_s'], '6.1f')} "
            f"{_num(cpu['other_s'], '5.1f')} {_pct(cpu['machine_busy'])} "
            f"{_num(t['transactions'], '5d')} {t['records_per_s'] / b if b else 0:>7.2f}"
        )
    if report["latency"]:
        out += [
            "",
            "statement latency: visible read_committed - input timestamp of its last record",
            f"{'pack':>4} {'guarantee':<14} {'rate rec/s':>10} {'records':>8} {'stmts':>6} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'batches':>7} {'txns':>5}",
        ]
        for lat in report["latency"]:
            out.append(
                f"{lat['pack']:>4} {lat['guarantee']:<14} {lat['rate']:>10,.0f} "
                f"{lat['records']:>8,} {lat['statements']:>6} {lat['p50_ms']:>7.0f} "
                f"{lat['p99_ms']:>7.0f} {lat['max_ms']:>7.0f} {_num(lat.get('batches'), '7d')} "
                f"{_num(lat.get('transactions'), '5d')}"
            )
            if lat.get("worst"):  # when the slowest statements became visible: a stall's time
                out.append(
                    "  slowest (s after the feed began: ms): "
                    + ", ".join(f"{at:.1f}: {ms:.0f}" for at, ms in lat["worst"])
                )
    if report["restore"]:
        setup = report["restore_setup"]
        out += [
            "",
            f"restore after SIGKILL: {setup['keys']} keys, each the first half of one statement "
            f"of {setup['daily']} daily statements, pack {setup['pack']}",
        ]
        out += [
            "restart: from the restart to /readyz 200; assigned: the 'partitions assigned' log "
            "line; replay: each partition's 'partition restored' seconds (pms_restore_seconds)",
            f"{'guarantee':<14} {'open recs':>9} {'open stmts':>10} {'restart s':>9} "
            f"{'assigned s':>10} {'replay s':>16} {'histogram':>13} {'after':>9}",
        ]
        for r in report["restore"]:
            hist = r["restore_histogram"]
            replay = "/".join(f"{x:.2f}" for x in r["replay_s"]) or "-"
            out.append(
                f"{r['guarantee']:<14} {r['open_records']:>9,} {r['open_statements']:>10} "
                f"{r['restart_to_ready_s']:>9.2f} {_num(r['assigned_after_s'], '10.2f')} "
                f"{replay:>16} {hist['count']:>3} / {hist['sum_s']:>5.2f} s "
                f"{r['statements_after']:>3} of {setup['keys']}"
            )
            phases = ", ".join(f"{reason} at {at:.2f} s" for reason, at in r["phases"])
            out.append(f"  {r['guarantee']}: /readyz said {phases}")
    from bench import pipeline_rows

    out += pipeline_rows.rows_table(report)
    out += ["", f"{'goal':<58} {'measured':>9} {'target':>8} result"]
    for g in report["goals"]:
        out.append(
            f"{g['goal']:<58} {g['measured']:>9.2f} {g['target']:>8} "
            f"{'PASS' if g['pass'] else 'MISS'}"
        )
    if report.get("broker_cpu_s") is not None:
        out.append(f"broker CPU over the whole run: {report['broker_cpu_s']:.1f} s")
    out.append(f"service logs: {report['logs']}; whole run {report['seconds']:.0f} s")
    return "\n".join(out)


def _num(value: float | None, spec: str) -> str:
    width = int(spec.split(".", maxsplit=1)[0].rstrip("df") or 0)
    return f"{value:{spec}}" if value is not None else "-".rjust(width)


def _pct(value: float | None) -> str:
    return f"{value * 100:>4.0f}%" if value is not None else "    -"


# ---- the broker, and main -----------------------------------------------------------------------


class OwnBroker:
    """A local broker started for this run (--start-broker), with Kafka's default JVM."""

    def __init__(self, port: int, out: Path) -> None:
        self.port = port
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(port),
            "KAFKA_CONTROLLER_PORT": str(port + 1),
            "KAFKA_SASL_PORT": str(port + 2),  # broker.sh versions with SASL listeners
            "KAFKA_SASL_SSL_PORT": str(port + 3),
            "PMS_KAFKA_STATE_DIR": str(out / f"kafka-{port}"),
            "PMS_KAFKA_JVM_OPTS": os.environ.get("PMS_KAFKA_JVM_OPTS") or BENCH_JVM_OPTS,
        }
        self.started = False

    def up(self) -> None:
        running = subprocess.run(
            [str(BROKER_SCRIPT), "status"], env=self.env, capture_output=True, check=False
        )
        if running.returncode != 0:
            subprocess.run([str(BROKER_SCRIPT), "up"], env=self.env, check=True)
            self.started = True

    def down(self) -> None:
        if self.started:
            subprocess.run([str(BROKER_SCRIPT), "down"], env=self.env, check=False)


def _csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _csv_guarantees(text: str) -> list[str]:
    names = [x for x in text.split(",") if x]
    for name in names:
        if name not in GUARANTEES:
            raise argparse.ArgumentTypeError(f"{name!r}: one of {', '.join(GUARANTEES)}")
    return names


def add_broker_arguments(parser: argparse.ArgumentParser, *, default_port: int) -> None:
    """--bootstrap, --start-broker and --broker-port, as this script and bench/soak.py take them."""
    parser.add_argument("--bootstrap", help="default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092")
    parser.add_argument(
        "--start-broker",
        action="store_true",
        help="start a broker (Kafka's JVM defaults) for this run, then stop it",
    )
    parser.add_argument(
        "--broker-port",
        type=int,
        default=default_port,
        help="--start-broker: its port (+1..+3 too)",
    )


def bootstrap_of(args: argparse.Namespace, own: OwnBroker | None) -> str:
    """The brokers to use: the own broker's, else --bootstrap, $KAFKA_BOOTSTRAP_SERVERS, 9092."""
    if own is not None:
        return f"127.0.0.1:{args.broker_port}"
    return args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000, help="input records (at least)")
    parser.add_argument("--shapes", type=_csv_ints, default=[1, 100], help="records per message")
    parser.add_argument("--guarantees", type=_csv_guarantees, default=list(GUARANTEES))
    parser.add_argument("--seed", type=int, default=1)
    add_broker_arguments(parser, default_port=29092)
    parser.add_argument(
        "--peer",
        choices=("quix", "none"),
        default="quix",
        help="the peer rows: a Quix Streams app (needs the bench extra), or none",
    )
    parser.add_argument(
        "--scale-out-pack",
        type=int,
        default=1,
        help="records per message of the scale-out rows (1 vs 2 instances); 0: none",
    )
    parser.add_argument(
        "--partition-costs",
        type=_csv_ints,
        default=[],
        help="input partition counts for one instance each, e.g. 3,12,48 (default: none)",
    )
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="partition costs: idle")
    parser.add_argument(
        "--key-by",
        choices=("filer", "transmission"),
        default="filer",
        help="keys of the scale-out and partition-cost inputs (send's default: filer)",
    )
    parser.add_argument("--latency-rate", type=float, default=2000.0, help="records/s fed")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="0: no latency runs")
    parser.add_argument("--restore-keys", type=int, default=30)
    parser.add_argument("--restore-daily", type=int, default=1000)
    parser.add_argument("--restore-pack", type=int, default=100)
    parser.add_argument(
        "--restore-guarantees",
        type=_csv_guarantees,
        default=list(GUARANTEES),
        help="'' for no restore runs",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PMS_NAME=VALUE",
        help="a service setting for every service run (also taken from PMS_*)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds any wait may take")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="logs (and --start-broker)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--passthrough-child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.records < 1 or not args.shapes or min(args.shapes) < 1:
        parser.error("--records and every shape must be at least 1")
    return args


def service_env(extra: list[str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("PMS_") and not k.startswith("PMS_KAFKA_") and k not in CONTROLLED
    }
    for item in extra:
        name, _, value = item.partition("=")
        if not name.startswith("PMS_") or name in CONTROLLED:
            raise SystemExit(f"--set {item}: a PMS_* setting the bench does not set itself")
        env[name] = value
    return env


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.passthrough_child:
        asyncio.run(passthrough(json.loads(args.passthrough_child)))
        return 0
    own = OwnBroker(args.broker_port, args.out) if args.start_broker else None
    bootstrap = bootstrap_of(args, own)
    env = service_env(args.set)
    defaults = Settings()

    def setting(name: str, default: int) -> int:
        return int(env.get("PMS_" + name.upper(), default))

    logs = args.out / f"pipeline-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    ctx = Context(
        bootstrap=bootstrap,
        out=args.out,
        logs=logs,
        seed=args.seed,
        service_env=env,
        batch_max_records=setting("batch_max_records", defaults.batch_max_records),
        batch_timeout_ms=setting("batch_timeout_ms", defaults.batch_timeout_ms),
        session_timeout_ms=setting("session_timeout_ms", defaults.session_timeout_ms),
        max_message_bytes=setting("max_message_bytes", defaults.max_message_bytes),
        timeout=args.timeout,
    )
    try:
        if own is not None:
            own.up()
        host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
        if not port_open(host or "127.0.0.1", int(port or 9092)):
            print(
                f"bench_pipeline: no Kafka broker answers at {bootstrap}. Start one with "
                "`make broker-up` (for throughput: PMS_KAFKA_JVM_OPTS='-Xms1g -Xmx1g "
                "-XX:+UseG1GC' make broker-up), set KAFKA_BOOTSTRAP_SERVERS, or pass "
                "--start-broker.",
                file=sys.stderr,
            )
            return 2
        logs.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(_bench_and_clean(args, ctx))
    finally:
        if own is not None:
            own.down()
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


async def _bench_and_clean(args: argparse.Namespace, ctx: Context) -> dict[str, Any]:
    try:
        return await bench(args, ctx)
    finally:
        async with kafka_admin(ctx.bootstrap) as admin:
            await delete_topics(admin, ctx.topics)


if __name__ == "__main__":
    sys.exit(main())
