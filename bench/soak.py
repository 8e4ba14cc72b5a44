"""Soak: `pms-stream run` under a steady load for minutes, memory and open state over time.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 15000] [--start-broker] [--json] ...

Needs a running Kafka broker (`--bootstrap`, else `KAFKA_BOOTSTRAP_SERVERS`, else
127.0.0.1:9092), or `--start-broker`: a broker of its own on `--broker-port` (Kafka's JVM
defaults, state under `--out`), stopped at the end. `make soak` runs it that way, so that other
people's tests, which restart the shared test broker, cannot disturb a long run.

One service, exactly once, on uuid-named topics of 3 partitions, with a moderate idle timeout.
The input is a pool of generated transmissions (block framing, a few bad records, now and then a
reroute request), cut into messages keyed by filer as `pms-stream send` cuts them; a feeder sends
the pool over and over at a steady `--rate` records/s for `--minutes`, stopping at the end of a
transmission. Every `--sample-s` seconds it samples the service process: resident memory
(/proc/PID/status VmRSS), records/s processed (pms_records_total), consumer lag, open statements,
statements published, the reroute store, and the CPU of the service, the broker, this script and
the rest of the machine. After the feed it waits until the lag is back to 0 and the idle timeout
has flushed whatever was left open.

Then it checks the output: the statements on the topic (read_committed) against the pure core fed
the very messages that were sent (a `PartitionTask`, as tests/chaos does): zero lost, zero
duplicated; rejects compared by their raw bytes; one answer per reroute request.

A pause: `--pause-at-s` into the feed, at the end of a transmission, the feeder stops for
`--pause-s`, then sends the messages
that fell due meanwhile as fast as it can (an upstream outage and its backlog): the service
catches up with the largest batches it takes, which is when it needs the most memory. Putting
that peak early lets the rest of the run show whether memory stays under it.

Memory is sampled two ways: the RSS of the service (/proc), and a heap probe inside it
(bench/soak_probe/sitecustomize.py, put on the service's PYTHONPATH): bytes malloc has in use,
Python's small-object blocks, objects tracked by the garbage collector. RSS is a high-water mark
(freed memory is not always given back to the system), so it alone cannot tell a peak from a
leak; the heap figures can.

Verdicts: *RSS bounded* when the RSS peak of the feed's last half is no higher than the first
half's (which holds the pause), within `--tolerance-pct` and 4 MiB; *heap not growing* when the
mean of each heap figure over the feed's last third is within `--tolerance-pct` (and 2 MiB or
1,000) of its middle third's (the first third is warm-up: caches, the reroute store filling);
open state bounded likewise, and 0 once idle keys were flushed; lag back to 0 after the feed, and
its last third not above its middle third.

Writes `--out`/soak-<time>.csv (one row per sample), .json (the summary) and, when matplotlib is
installed (`make soak` installs it), .png (the curves); `--docs-png PATH` copies the PNG there.
`--replot CSV` only draws the PNG of an earlier run again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import importlib
import importlib.util
import io
import json
import os
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root holds pms_stream and tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer

from bench.bench_parse import cpu_model, git_state
from bench.bench_pipeline import (
    CpuSnapshot,
    CpuUse,
    OwnBroker,
    add_broker_arguments,
    bootstrap_of,
    broker_process,
    metric_sum,
    parse_metrics,
    service_env,
)
from pms_stream.catair.codec import parse_record
from pms_stream.catair.records import ARecord, BRecord
from pms_stream.errors import RecordError
from pms_stream.generator import GenerateOptions, generate
from pms_stream.packing import messages
from pms_stream.reroute.request import build_request
from pms_stream.stream.outputs import Sink
from pms_stream.stream.partition_task import InputMessage, Limits, PartitionTask
from pms_testkit.accounting import statement_identity
from pms_testkit.kafka_helpers import (
    assigned_consumer,
    create_topic,
    delete_topics,
    kafka_admin,
    port_open,
)
from pms_testkit.service_harness import ServiceProcess, Topics, http_get

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "out"
PARTITIONS = 3
PREFIX = "pms-soak"
# The statements topic is compacted, as the service creates it; the pool sends the same
# statements again and again, so the log cleaner would keep only the latest of each and the
# check below would count the others as lost. No record younger than a week is compacted here.
STATEMENTS_CONFIGS = {"cleanup.policy": "compact", "min.compaction.lag.ms": str(7 * 86_400_000)}
MIB = 1024 * 1024
COLUMNS = (
    "t_s",  # seconds since the feed started
    "phase",  # idle (before the feed), feed, drain
    "rss_mib",  # the service's VmRSS
    "records_fed",  # records sent so far
    "fed_per_s",  # records sent per second since the last sample
    "records_done",  # pms_records_total, all labels
    "records_per_s",  # its rate since the last sample
    "messages_fed",
    "messages_done",  # pms_messages_total
    "lag",  # pms_consumer_lag, sum over partitions (messages)
    "open_statements",  # pms_open_statements, sum over partitions
    "statements_total",  # pms_statements_total, all statuses (reroute copies included)
    "store_statements",  # pms_statement_store_statements
    "store_mib",  # pms_statement_store_bytes
    "heap_mib",  # the heap probe: bytes malloc has handed out (in use), MiB
    "heap_free_mib",  # the heap probe: bytes malloc holds free in its arenas, MiB
    "py_blocks_k",  # the heap probe: Python's small-object blocks, thousands
    "gc_objects_k",  # the heap probe: objects the garbage collector tracks, thousands
    "service_cpu",  # cores used since the last sample (1.0 = one core busy)
    "broker_cpu",
    "soak_cpu",  # this script (feeder, sampler)
    "other_cpu",  # the rest of the machine: other people's work
)


# ---- input --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """The messages sent over and over: generated transmissions and a few reroute requests."""

    pairs: list[tuple[bytes | None, bytes]]
    records: list[int]  # records in each message
    ends: list[bool]  # the message ends a transmission (a Z record): the feed may stop after it
    is_request: list[bool]  # the message is a reroute request
    statements: int  # statements the generator made (per pass)
    bad: int  # bad inputs injected (per pass)
    requests: int  # reroute requests (per pass)
    today: date  # the reroute rules' today (PMS_REROUTE_TODAY): the median transmission date


@dataclass
class _Transmission:
    index: int  # of the message that ends it
    filer: str
    site: str
    port: str
    office: str | None
    day: date


def _transmissions(pairs: list[tuple[bytes | None, bytes]]) -> list[_Transmission]:
    """Each transmission that ends with a Z record: the A record's filer, site and date, and the
    first B record's port and office (what a reroute request for it names)."""
    found: list[_Transmission] = []
    head: ARecord | None = None
    block: BRecord | None = None
    for index, (_, value) in enumerate(pairs):
        for raw in value.split(b"\n"):
            if raw[:1] not in (b"A", b"B"):
                continue
            try:
                record = parse_record(raw)
            except RecordError:
                continue
            if isinstance(record, ARecord):
                head, block = record, None
            elif isinstance(record, BRecord) and block is None:
                block = record
        if value.rsplit(b"\n", 1)[-1][:1] == b"Z" and head is not None and block is not None:
            if head.transmission_date is not None:
                found.append(
                    _Transmission(
                        index,
                        head.filer_code,
                        head.site_code,
                        block.district_port,
                        block.office_code,
                        head.transmission_date,
                    )
                )
            head = block = None
    return found


def _request(t: _Transmission, day: date) -> bytes:
    """A reroute request (MO block) for the statements of `t`'s filer and port on `day` (no
    password: the service does not check it)."""
    records = build_request(
        filer=t.filer,
        port=t.port,
        password=None,
        statements_of=day,
        site=t.site,
        office=t.office,
        preliminary=True,
        final=True,
    )
    return b"\n".join(records)


def make_pool(records: int, seed: int, bad: int, pack: int, reroutes: int) -> Pool:
    """Generated transmissions of at least `records` records with `bad` bad inputs, as messages of
    up to `pack` records keyed by filer; after `reroutes` evenly spaced transmissions a reroute
    request: three in four ask for a transmission date within the 14 days before `today` (the
    median date of the pool, so that they match statements), one in four for a date 30 days back
    (answered MS1)."""
    made = generate(
        GenerateOptions(records=records, seed=seed, framing="block", bad=bad, bad_inside=0.3)
    )
    buf = io.BytesIO()
    made.write(buf)
    pairs = list(messages(io.BytesIO(buf.getvalue()), pack, "filer", concatenate=False))
    found = _transmissions(pairs)
    if not found:
        raise RuntimeError("the generated pool holds no complete transmission")
    today = sorted(t.day for t in found)[len(found) // 2]
    recent = [t for t in found if today - timedelta(days=14) <= t.day <= today]
    inserts: dict[int, bytes] = {}
    step = max(len(found) // reroutes, 1) if reroutes > 0 else 0
    for n in range(min(reroutes, len(found))):
        slot = found[n * step]
        if n % 4 == 3 or not recent:
            inserts[slot.index] = _request(slot, today - timedelta(days=30))
        else:
            target = recent[n % len(recent)]
            inserts[slot.index] = _request(target, target.day)
    ended = {t.index for t in found}
    out: list[tuple[bytes | None, bytes]] = []
    ends: list[bool] = []
    is_request: list[bool] = []
    for index, pair in enumerate(pairs):
        out.append(pair)
        ends.append(index in ended and index not in inserts)
        is_request.append(False)
        if index in inserts:
            request = inserts[index]
            out.append((request[5:8].rstrip(), request))  # keyed by filer, as `reroute` sends
            ends.append(True)
            is_request.append(True)
    counts = [value.count(b"\n") + 1 for _, value in out]
    return Pool(out, counts, ends, is_request, made.statement_count, bad, len(inserts), today)


# ---- the oracle and the check -------------------------------------------------------------------


def _digest(doc: dict[str, Any]) -> bytes:
    return hashlib.blake2b(statement_identity(doc).encode(), digest_size=16).digest()


@dataclass
class Expected:
    statements: Counter[bytes] = field(default_factory=Counter)
    rejects: Counter[bytes] = field(default_factory=Counter)


def oracle(pool: Pool, sent: int) -> Expected:
    """What the pure core makes of the first `sent` messages of the pool repeated: one partition
    task fed them in order (each stream key's messages are in the same order on whichever
    partition they land), then flushed, as the idle timeout flushes the service's open keys."""
    task = PartitionTask("oracle", 0, limits=Limits(max_open_keys=1_000_000))
    want = Expected()

    def take(outputs: list[Any]) -> None:
        for out in outputs:
            if out.sink is Sink.STATEMENTS:
                want.statements[_digest(json.loads(out.value))] += 1
            elif out.sink is Sink.REJECTS:
                want.rejects[json.loads(out.value)["raw"].encode()] += 1

    n = len(pool.pairs)
    for offset in range(sent):
        key, value = pool.pairs[offset % n]
        take(task.process(InputMessage(offset, key, value)))
    take(task.flush_all())
    return want


@dataclass
class Seen:
    statements: Counter[bytes] = field(default_factory=Counter)
    reroute_copies: int = 0
    rejects: Counter[bytes] = field(default_factory=Counter)
    acks: Counter[str] = field(default_factory=Counter)  # reroute answers by code


async def read_topic(bootstrap: str, topic: str, each: Callable[[Any], None]) -> None:
    """Every record below the end offsets (read_committed: the last stable offsets) of `topic`,
    handed to `each` as it comes, without keeping them."""
    async with assigned_consumer(bootstrap, topic) as consumer:
        partitions = list(consumer.assignment())
        ends: dict[Any, int] = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + 600
        while True:
            behind = [tp for tp in partitions if await consumer.position(tp) < ends[tp]]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: end offsets {ends} not reached")
            batch: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for record in records:
                    each(record)


async def read_back(bootstrap: str, topics: Topics) -> Seen:
    seen = Seen()

    def statement(record: Any) -> None:
        doc = json.loads(record.value)
        if doc.get("reroute_of"):
            seen.reroute_copies += 1
        else:
            seen.statements[_digest(doc)] += 1

    def reject(record: Any) -> None:
        seen.rejects[json.loads(record.value)["raw"].encode()] += 1

    def ack(record: Any) -> None:
        if (("pms-type", b"reroute_ack") in record.headers) and record.value:
            seen.acks[json.loads(record.value)["code"]] += 1

    await read_topic(bootstrap, topics.statements, statement)
    await read_topic(bootstrap, topics.rejects, reject)
    await read_topic(bootstrap, topics.acks, ack)
    return seen


# ---- sampling -----------------------------------------------------------------------------------


@dataclass
class Progress:
    """What the feeder has sent so far."""

    messages: int = 0
    records: int = 0
    started: float = 0.0  # monotonic
    finished: float | None = None
    paused: tuple[float, float] | None = None  # the pause, seconds since the start of the feed


PROBE_DIR = Path(__file__).resolve().parent / "soak_probe"


def heap_figures(path: Path | None) -> dict[str, float | str]:
    """The heap probe's last line (bench/soak_probe/sitecustomize.py), as CSV columns."""
    empty: dict[str, float | str] = dict.fromkeys(
        ("heap_mib", "heap_free_mib", "py_blocks_k", "gc_objects_k"), ""
    )
    if path is None:
        return empty
    try:
        with path.open("rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - 4096, 0))
            last = json.loads(f.read().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return empty
    inuse, free = last.get("malloc_inuse"), last.get("malloc_free")
    return {
        "heap_mib": round(inuse / MIB, 1) if inuse is not None else "",
        "heap_free_mib": round(free / MIB, 1) if free is not None else "",
        "py_blocks_k": round(last["py_blocks"] / 1000, 1),
        "gc_objects_k": round(gc / 1000, 1) if (gc := last.get("gc_objects")) is not None else "",
    }


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class Sampler:
    """Samples the service every `every` seconds from the feed's start; rows go to the CSV at
    once (a run cut short keeps what it saw)."""

    def __init__(
        self,
        service: ServiceProcess,
        progress: Progress,
        broker_pid: int | None,
        every: float,
        csv_path: Path,
        *,
        heap_path: Path | None = None,
    ) -> None:
        assert service.process is not None
        self.heap_path = heap_path
        self.service = service
        self.pid = service.process.pid
        self.progress = progress
        self.broker_pid = broker_pid
        self.every = every
        self.rows: list[dict[str, Any]] = []
        self.phase = "idle"
        self._file = csv_path.open("w", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS)
        self._csv.writeheader()
        self._last: tuple[float, dict[str, float], CpuSnapshot, int] | None = None

    async def sample(self) -> dict[str, Any]:
        _, text = await asyncio.to_thread(http_get, self.service.port, "/metrics", 5.0)
        metrics = parse_metrics(text)
        cpu = CpuSnapshot.take(self.pid, self.broker_pid)
        now = time.monotonic()
        fed = self.progress.records
        t = now - self.progress.started if self.progress.started else 0.0
        row: dict[str, Any] = {
            "t_s": round(t, 2),
            "phase": self.phase,
            "rss_mib": _round(rss_mib(self.pid)),
            "records_fed": fed,
            "messages_fed": self.progress.messages,
            "records_done": int(metric_sum(metrics, "pms_records_total")),
            "messages_done": int(metrics.get("pms_messages_total", 0)),
            "lag": int(metric_sum(metrics, "pms_consumer_lag")),
            "open_statements": int(metric_sum(metrics, "pms_open_statements")),
            "statements_total": int(metric_sum(metrics, "pms_statements_total")),
            "store_statements": int(metrics.get("pms_statement_store_statements", 0)),
            "store_mib": round(metrics.get("pms_statement_store_bytes", 0) / MIB, 2),
            **heap_figures(self.heap_path),
        }
        if self._last is None:
            row |= {"fed_per_s": 0, "records_per_s": 0}
            row |= dict.fromkeys(("service_cpu", "broker_cpu", "soak_cpu", "other_cpu"), "")
        else:
            then, before, cpu0, fed0 = self._last
            span = max(now - then, 1e-6)
            done0 = metric_sum(before, "pms_records_total")
            use = CpuUse.between(cpu0, cpu)
            row |= {
                "fed_per_s": round((fed - fed0) / span),
                "records_per_s": round((row["records_done"] - done0) / span),
                "service_cpu": _round(_per(use.process_s, span), 3),
                "broker_cpu": _round(_per(use.broker_s, span), 3),
                "soak_cpu": _round(_per(use.bench_s, span), 3),
                "other_cpu": _round(_per(use.other_s, span), 3),
            }
        self._last = (now, metrics, cpu, fed)
        self.rows.append(row)
        self._csv.writerow(row)
        self._file.flush()
        return row

    async def run(self) -> None:
        """Sample on the grid of `every` seconds from the feed's start until cancelled (the
        first sample, of the idle service, is taken before the feed)."""
        while True:
            elapsed = time.monotonic() - self.progress.started
            await asyncio.sleep(self.every - elapsed % self.every)
            await self.sample()

    def close(self) -> None:
        self._file.close()


def _per(value: float | None, span: float) -> float | None:
    return value / span if value is not None else None


def _round(value: float | None, digits: int = 1) -> float | str:
    return round(value, digits) if value is not None else ""


# ---- feeding ------------------------------------------------------------------------------------


async def feed(
    bootstrap: str,
    topic: str,
    pool: Pool,
    *,
    rate: float,
    seconds: float,
    progress: Progress,
    pause_at: float = 0.0,
    pause: float = 0.0,
) -> None:
    """Send the pool over and over at `rate` records/s (each message when its first record is
    due) for `seconds`, then on to the end of the transmission under way. With `pause`, stop
    sending for `pause` seconds at the first end of a transmission after `pause_at` seconds (so
    that nothing is open: a statement left open longer than the idle timeout would be flushed
    as a reject, which the oracle does not model): the messages that fell due
    meanwhile then go as fast as the producer sends them (an upstream outage and its backlog),
    and the service catches up with the largest batches it takes."""
    n = len(pool.pairs)
    async with AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5
    ) as producer:
        pending: list[Any] = []
        i = 0
        while True:
            elapsed = time.monotonic() - progress.started
            between = i > 0 and pool.ends[(i - 1) % n]  # the last message ended a transmission
            if pause > 0 and progress.paused is None and elapsed >= pause_at and between:
                await asyncio.gather(*pending)
                pending.clear()
                progress.paused = (elapsed, elapsed + pause)
                await asyncio.sleep(pause)
            due = progress.started + progress.records / rate
            delay = due - time.monotonic()
            if delay > 0.002:
                await asyncio.sleep(delay)
            key, value = pool.pairs[i % n]
            pending.append(await producer.send(topic, value, key=key))
            progress.records += pool.records[i % n]
            i += 1
            progress.messages = i
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
            if pool.ends[(i - 1) % n] and time.monotonic() - progress.started >= seconds:
                break
        await asyncio.gather(*pending)
    progress.finished = time.monotonic()


# ---- one run ------------------------------------------------------------------------------------


@dataclass
class Run:
    bootstrap: str
    out: Path
    stamp: str
    settings: dict[str, str]  # the service's PMS_* settings
    topics: Topics = field(default_factory=lambda: Topics.new(PREFIX))

    @property
    def csv_path(self) -> Path:
        return self.out / f"soak-{self.stamp}.csv"

    @property
    def png_path(self) -> Path:
        return self.out / f"soak-{self.stamp}.png"

    @property
    def names(self) -> list[str]:
        t = self.topics
        return [t.input, t.statements, t.acks, t.rejects, t.metrics]


async def soak(args: argparse.Namespace, run: Run) -> dict[str, Any]:
    started = time.monotonic()
    pool = make_pool(args.pool_records, args.seed, args.bad, args.pack, args.reroutes)
    port = int(run.bootstrap.split(",")[0].rpartition(":")[2] or 9092)
    broker = broker_process(port)
    async with kafka_admin(run.bootstrap) as admin:
        for name in run.names:
            configs = STATEMENTS_CONFIGS if name == run.topics.statements else None
            await create_topic(admin, name, partitions=PARTITIONS, configs=configs)
    try:
        return await _soak(args, run, pool, broker, started)
    finally:
        async with kafka_admin(run.bootstrap) as admin:
            await delete_topics(admin, run.names)


async def _soak(
    args: argparse.Namespace,
    run: Run,
    pool: Pool,
    broker: tuple[int, str] | None,
    started: float,
) -> dict[str, Any]:
    logs = run.out / f"soak-{run.stamp}"
    logs.mkdir(parents=True, exist_ok=True)
    run.settings |= {
        "PMS_GUARANTEE": "exactly_once",
        "PMS_IDLE_TIMEOUT_S": f"{args.idle_timeout_s:g}",
        "PMS_REROUTE_TODAY": pool.today.isoformat(),  # the reroute rules' today
    }
    service = ServiceProcess(run.bootstrap, run.topics, logs, "service", **run.settings)
    heap_path = logs / "heap.jsonl"  # the heap probe's lines (see PROBE_DIR)
    service.env |= {
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(PROBE_DIR), service.env.get("PYTHONPATH", "")) if p
        ),
        "SOAK_HEAP_FILE": str(heap_path),
        "SOAK_HEAP_EVERY_S": str(min(args.sample_s / 2, 2.0)),
    }
    progress = Progress()
    await service.start()
    sampler: Sampler | None = None
    sampling: asyncio.Task[None] | None = None
    try:
        await service.wait_ready(timeout=120)
        sampler = Sampler(
            service,
            progress,
            broker[0] if broker else None,
            args.sample_s,
            run.csv_path,
            heap_path=heap_path,
        )
        await sampler.sample()  # before the feed: the service idle, ready
        progress.started = time.monotonic()
        sampler.phase = "feed"
        sampling = asyncio.create_task(sampler.run())
        if not args.json:
            print(
                f"soak: feeding {args.rate:,.0f} records/s for {args.minutes:g} min; samples in "
                f"{run.csv_path}",
                file=sys.stderr,
            )
        await feed(
            run.bootstrap,
            run.topics.input,
            pool,
            rate=args.rate,
            seconds=args.minutes * 60,
            progress=progress,
            pause_at=args.pause_at_s,
            pause=args.pause_s,
        )
        sampler.phase = "drain"
        drained = await _drain(sampler, progress, args)
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        await sampler.sample()
        exit_code = await service.terminate()
    finally:
        if sampling is not None and not sampling.done():
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
        if sampler is not None:
            sampler.close()
        if service.process is not None and service.process.returncode is None:
            await service.terminate()
    assert progress.finished is not None
    if not args.json:
        print("soak: checking the output against the pure core", file=sys.stderr)
    seen = await read_back(run.bootstrap, run.topics)
    want = oracle(pool, progress.messages)
    return summary(
        args=args,
        run=run,
        pool=pool,
        rows=sampler.rows,
        progress=progress,
        want=want,
        seen=seen,
        broker_jvm=broker[1] if broker else None,
        drained=drained,
        exit_code=exit_code,
        seconds=time.monotonic() - started,
    )


async def _drain(sampler: Sampler, progress: Progress, args: argparse.Namespace) -> bool:
    """After the feed: wait until every message sent was processed and the lag is 0, then until
    the idle timeout has flushed the keys left open (at most `--drain-timeout-s` in all)."""
    deadline = time.monotonic() + args.drain_timeout_s
    caught_up = None
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        row = sampler.rows[-1]
        fresh = row["t_s"] >= (progress.finished or 0) - progress.started
        if not fresh or row["messages_done"] < progress.messages or row["lag"] != 0:
            continue
        if caught_up is None:
            caught_up = time.monotonic()
        # the idle timeout, plus the loop's check and a sample to show it
        if row["open_statements"] == 0 and (
            time.monotonic() - caught_up >= args.idle_timeout_s + 2 * args.sample_s
        ):
            return True
    return False


# ---- the summary --------------------------------------------------------------------------------


def _window(
    rows: list[dict[str, Any]], column: str, start: float, stop: float
) -> list[tuple[float, float]]:
    """(t, value) of `column` from fraction `start` to fraction `stop` of the feed (by time; the
    last window takes the end)."""
    feed = [
        (float(r["t_s"]), float(r[column]))
        for r in rows
        if r["phase"] == "feed" and r[column] != ""
    ]
    end = max((t for t, _ in feed), default=0.0)
    return [(t, v) for t, v in feed if start * end <= t and (t < stop * end or stop >= 1)]


def _values(rows: list[dict[str, Any]], column: str, start: float, stop: float) -> list[float]:
    return [v for _, v in _window(rows, column, start, stop)]


def _thirds(rows: list[dict[str, Any]], column: str) -> tuple[list[float], list[float]]:
    """The values of `column` in the middle and the last third of the feed (by time)."""
    return _values(rows, column, 1 / 3, 2 / 3), _values(rows, column, 2 / 3, 1)


def _halves(rows: list[dict[str, Any]], column: str) -> tuple[list[float], list[float]]:
    """The values of `column` in the first and the last half of the feed (by time)."""
    return _values(rows, column, 0, 1 / 2), _values(rows, column, 1 / 2, 1)


def _peak_held(rows: list[dict[str, Any]], column: str, tolerance: float, slack: float) -> bool:
    """The last half's maximum no higher than the first half's (within the tolerance)."""
    first, last = _halves(rows, column)
    if not first or not last:
        return False
    return max(last) <= max(first) * (1 + tolerance) + slack


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def slope_per_min(rows: list[dict[str, Any]], column: str) -> float:
    """Least-squares slope of `column` over the last half of the feed, per minute."""
    points = _window(rows, column, 1 / 2, 1)
    if len(points) < 2:
        return 0.0
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def _bounded(rows: list[dict[str, Any]], column: str, tolerance: float, slack: float) -> bool:
    middle, last = _thirds(rows, column)
    if not middle or not last:
        return False
    return _mean(last) <= _mean(middle) * (1 + tolerance) + slack


def summary(
    *,
    args: argparse.Namespace,
    run: Run,
    pool: Pool,
    rows: list[dict[str, Any]],
    progress: Progress,
    want: Expected,
    seen: Seen,
    broker_jvm: str | None,
    drained: bool,
    exit_code: int,
    seconds: float,
) -> dict[str, Any]:
    assert progress.finished is not None
    feed_s = progress.finished - progress.started
    feed = [r for r in rows if r["phase"] == "feed"]
    rss = [float(r["rss_mib"]) for r in rows if r["rss_mib"] != ""]
    tolerance = args.tolerance_pct / 100
    rss_middle, rss_last = _thirds(rows, "rss_mib")
    rss_first_half, rss_last_half = _halves(rows, "rss_mib")
    heap = {c: _thirds(rows, c) for c in ("heap_mib", "py_blocks_k", "gc_objects_k")}
    probed = all(middle and last for middle, last in heap.values())
    open_middle, open_last = _thirds(rows, "open_statements")
    lag_middle, lag_last = _thirds(rows, "lag")
    per_s_msgs = args.rate / max(_mean(pool.records), 1)  # messages per second fed
    lost = sum((want.statements - seen.statements).values())
    missing = len(set(want.statements) - set(seen.statements))  # not even one copy seen
    duplicated = sum((seen.statements - want.statements).values())
    rejects_wrong = sum(((want.rejects - seen.rejects) + (seen.rejects - want.rejects)).values())
    passes = progress.messages / len(pool.pairs)
    end = rows[-1]
    verdicts = {
        # RSS is a high-water mark: its peak in the last half of the feed no higher than the
        # peak of the first half (which holds the pause and its catch-up), give or take the
        # tolerance and 4 MiB
        "RSS bounded (peak held)": _peak_held(rows, "rss_mib", tolerance, 4.0),
        # what the heap holds: malloc's bytes in use (give or take 2 MiB), Python's blocks and
        # the objects (give or take 1,000), last third within the tolerance of the middle third
        "heap not growing": probed
        and _bounded(rows, "heap_mib", tolerance, 2.0)
        and _bounded(rows, "py_blocks_k", tolerance, 1.0)
        and _bounded(rows, "gc_objects_k", tolerance, 1.0),
        # open statements: likewise (give or take 2), and none left after the idle timeout
        "open state bounded": _bounded(rows, "open_statements", tolerance, 2.0)
        and end["open_statements"] == 0,
        # lag: 0 at the end, and the last third no higher than the middle third (give or take a
        # second of messages)
        "lag back to 0": drained
        and end["lag"] == 0
        and _bounded(rows, "lag", tolerance, per_s_msgs),
        "no statement lost or duplicated": lost == 0 and duplicated == 0,
    }
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "python": sys.version.split()[0],
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "git": git_state(),
        "bootstrap": run.bootstrap,
        "broker_jvm": broker_jvm,
        "settings": run.settings,
        "command": args.command,
        "rate": args.rate,
        "minutes": args.minutes,
        "pack": args.pack,
        "sample_s": args.sample_s,
        "pool": {
            "records": sum(pool.records),
            "messages": len(pool.pairs),
            "statements": pool.statements,
            "bad": pool.bad,
            "requests": pool.requests,
            "passes": round(passes, 2),
        },
        "feed_s": round(feed_s, 1),
        "records_in": progress.records,
        "messages_in": progress.messages,
        "fed_per_s": round(progress.records / feed_s),
        "processed_per_s_mean": round(_mean([float(r["records_per_s"]) for r in feed[1:]])),
        "rss_start_mib": rss[0] if rss else None,
        "rss_max_mib": max(rss) if rss else None,
        "rss_end_mib": rss[-1] if rss else None,
        "rss_middle_third_mib": round(_mean(rss_middle), 1),
        "rss_last_third_mib": round(_mean(rss_last), 1),
        "rss_slope_mib_per_min": round(slope_per_min(rows, "rss_mib"), 2),
        "rss_first_half_max_mib": max(rss_first_half, default=None),
        "rss_last_half_max_mib": max(rss_last_half, default=None),
        "pause": [round(t, 1) for t in progress.paused] if progress.paused else None,
        "heap": {
            column: {
                "middle_third_mean": round(_mean(middle), 1),
                "last_third_mean": round(_mean(last), 1),
                "slope_per_min": round(slope_per_min(rows, column), 3),
            }
            for column, (middle, last) in heap.items()
        }
        if probed
        else None,
        "lag_max": max(int(r["lag"]) for r in rows),
        "lag_last_third_mean": round(_mean(lag_last), 1),
        "lag_middle_third_mean": round(_mean(lag_middle), 1),
        "lag_end": end["lag"],
        "open_max": max(int(r["open_statements"]) for r in rows),
        "open_middle_third_mean": round(_mean(open_middle), 2),
        "open_last_third_mean": round(_mean(open_last), 2),
        "open_end": end["open_statements"],
        "store_statements_end": end["store_statements"],
        "store_mib_end": end["store_mib"],
        "statements_expected": sum(want.statements.values()),
        "statements_seen": sum(seen.statements.values()),
        "lost": lost,
        "distinct_missing": missing,
        "duplicated": duplicated,
        "reroute_copies": seen.reroute_copies,
        "rejects_expected": sum(want.rejects.values()),
        "rejects_seen": sum(seen.rejects.values()),
        "rejects_wrong": rejects_wrong,
        "requests_sent": _requests_sent(pool, progress.messages),
        "answers": dict(sorted(seen.acks.items())),
        "cpu_us_per_record_middle_third": _us_per_record(rows, middle=True),
        "cpu_us_per_record_last_third": _us_per_record(rows, middle=False),
        "other_cpu_mean": round(
            _mean([float(r["other_cpu"]) for r in feed if r["other_cpu"] != ""]), 2
        ),
        "service_cpu_mean": round(
            _mean([float(r["service_cpu"]) for r in feed if r["service_cpu"] != ""]), 2
        ),
        "drained": drained,
        "service_exit": exit_code,
        "verdicts": verdicts,
        "csv": str(run.csv_path),
        "png": None,  # set once drawn (main)
        "logs": str(run.out / f"soak-{run.stamp}"),
        "seconds": round(seconds),
    }


def _us_per_record(rows: list[dict[str, Any]], *, middle: bool) -> float:
    """The service's CPU microseconds per record processed, over the middle or the last third
    of the feed."""
    cpu, records = _thirds(rows, "service_cpu"), _thirds(rows, "records_per_s")
    i = 0 if middle else 1
    done = sum(records[i])
    return round(sum(cpu[i]) / done * 1e6, 1) if done else 0.0


def _requests_sent(pool: Pool, sent: int) -> int:
    full, rest = divmod(sent, len(pool.pairs))
    return full * pool.requests + sum(pool.is_request[:rest])


def table(report: dict[str, Any]) -> str:
    p = report["pool"]
    out = [
        f"pms-stream soak, {report['date']}: Python {report['python']}, CPU {report['cpu']}, "
        f"{report['cpus']} CPUs; pms_stream at {report['git']}",
        f"broker {report['bootstrap']}, JVM {report['broker_jvm'] or 'unknown'}; service "
        f"settings: {' '.join(f'{k}={v}' for k, v in sorted(report['settings'].items()))}",
        f"input: a pool of {p['records']:,} records ({p['statements']:,} statements, "
        f"{p['bad']} bad inputs, {p['requests']} reroute requests) in {p['messages']:,} messages "
        f"of up to {report['pack']} records, sent {p['passes']} times; a sample every "
        f"{report['sample_s']:g} s",
        f"command: {report['command']}",
        "",
        f"{'figure':<44} {'value':>14}",
    ]
    rows: list[tuple[str, str]] = [
        ("duration of the feed", f"{report['feed_s']:,.0f} s"),
        ("records in", f"{report['records_in']:,}"),
        ("records/s fed (mean)", f"{report['fed_per_s']:,}"),
        ("records/s processed (mean of the samples)", f"{report['processed_per_s_mean']:,}"),
        ("service CPU, cores (mean)", f"{report['service_cpu_mean']:.2f}"),
        (
            "service CPU per record, middle / last third",
            _pair(
                report["cpu_us_per_record_middle_third"],
                report["cpu_us_per_record_last_third"],
                "µs",
            ),
        ),
        ("other work on the machine, cores (mean)", f"{report['other_cpu_mean']:.2f}"),
        ("RSS start (ready, idle)", _mib(report["rss_start_mib"])),
        ("RSS max", _mib(report["rss_max_mib"])),
        ("RSS end", _mib(report["rss_end_mib"])),
        ("RSS mean, middle third of the feed", _mib(report["rss_middle_third_mib"])),
        ("RSS mean, last third of the feed", _mib(report["rss_last_third_mib"])),
        ("RSS max, first / last half of the feed", _max_halves(report)),
        ("RSS slope, last half", f"{report['rss_slope_mib_per_min']:+.2f} MiB/min"),
        *_heap_rows(report),
        ("lag max (messages)", f"{report['lag_max']:,}"),
        (
            "lag mean, middle / last third",
            _pair(report["lag_middle_third_mean"], report["lag_last_third_mean"]),
        ),
        ("lag end", f"{report['lag_end']:,}"),
        ("open statements max", f"{report['open_max']:,}"),
        (
            "open statements mean, middle / last third",
            _pair(report["open_middle_third_mean"], report["open_last_third_mean"]),
        ),
        ("open statements end (after the idle timeout)", f"{report['open_end']:,}"),
        ("reroute store at the end", f"{report['store_statements_end']:,} statements"),
        ("reroute store JSON at the end", _mib(report["store_mib_end"])),
        ("statements expected (pure core)", f"{report['statements_expected']:,}"),
        ("statements seen (read_committed)", f"{report['statements_seen']:,}"),
        ("lost", f"{report['lost']:,}"),
        ("distinct statements never seen", f"{report['distinct_missing']:,}"),
        ("duplicated", f"{report['duplicated']:,}"),
        ("rejects expected / seen / differing", _rejects(report)),
        ("reroute requests sent / answered", _answers(report)),
        ("statements sent again for reroutes", f"{report['reroute_copies']:,}"),
    ]
    out += [f"{name:<44} {value:>14}" for name, value in rows]
    out += ["", f"{'verdict':<44} {'result':>14}"]
    out += [f"{k:<44} {'PASS' if v else 'MISS':>14}" for k, v in report["verdicts"].items()]
    out.append(
        f"CSV {report['csv']}; PNG {report['png'] or 'none (no matplotlib)'}; "
        f"service log in {report['logs']}; "
        f"whole run {report['seconds']} s"
    )
    return "\n".join(out)


def _max_halves(report: dict[str, Any]) -> str:
    first, last = report["rss_first_half_max_mib"], report["rss_last_half_max_mib"]
    return f"{first} / {last} MiB" if first is not None and last is not None else "-"


def _heap_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    heap = report["heap"]
    if not heap:
        return [("heap probe", "no figures")]
    names = {
        "heap_mib": "malloc in use, MiB",
        "py_blocks_k": "Python blocks, thousands",
        "gc_objects_k": "gc objects, thousands",
    }
    return [
        (
            f"{names[c]}: middle / last third",
            _pair(h["middle_third_mean"], h["last_third_mean"]),
        )
        for c, h in heap.items()
    ]


def _mib(value: float | None) -> str:
    return f"{value:,.1f} MiB" if value is not None else "-"


def _pair(middle: float, last: float, unit: str = "") -> str:
    return f"{middle:,} / {last:,}" + (f" {unit}" if unit else "")


def _rejects(report: dict[str, Any]) -> str:
    return f"{report['rejects_expected']} / {report['rejects_seen']} / {report['rejects_wrong']}"


def _answers(report: dict[str, Any]) -> str:
    codes = " ".join(f"{k} {v}" for k, v in report["answers"].items())
    return f"{report['requests_sent']} / {sum(report['answers'].values())} ({codes})"


# ---- the plot -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    left: tuple[tuple[str, str], ...]  # (column, label)
    right: tuple[tuple[str, str], ...] = ()  # on a second axis


PANELS = (
    Panel(
        "memory",
        "MiB",
        (
            ("rss_mib", "service RSS"),
            ("heap_mib", "malloc in use (heap probe)"),
            ("store_mib", "reroute store (statement JSON)"),
        ),
    ),
    Panel(
        "throughput",
        "records/s",
        (("records_per_s", "processed (pms_records_total)"), ("fed_per_s", "fed")),
    ),
    Panel("consumer lag", "messages", (("lag", "sum over partitions"),)),
    Panel(
        "open state",
        "open statements",
        (("open_statements", "open statements (all partitions)"),),
        (("store_statements", "statements in the reroute store"),),
    ),
)
NO_MATPLOTLIB = "matplotlib is not installed (`make soak` installs it); the CSV holds the curves"
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def read_csv(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with path.open(newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if key == "phase" or value == "":
                    row[key] = value
                else:
                    row[key] = float(value)
            rows.append(row)
    return rows


def _series(rows: list[dict[str, Any]], column: str) -> tuple[list[float], list[float]]:
    points = [(float(r["t_s"]) / 60, float(r[column])) for r in rows if r[column] != ""]
    return [x for x, _ in points], [y for _, y in points]


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> bool:
    """Draw the panels to a PNG with matplotlib; False (and no file) when matplotlib is not
    installed: the CSV holds the same curves (`make soak` installs matplotlib)."""
    if importlib.util.find_spec("matplotlib") is None:
        return False
    _plot_matplotlib(rows, path, title)
    return True


def _plot_matplotlib(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    matplotlib = importlib.import_module("matplotlib")  # not a dependency: `make soak` adds it
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    ticker = importlib.import_module("matplotlib.ticker")
    fig, axes = plt.subplots(len(PANELS), 1, sharex=True, figsize=(9, 9.5), dpi=80)
    warm_up, feed_end = _feed_marks(rows)
    for ax, panel in zip(axes, PANELS, strict=True):
        handles = []
        for n, (column, label) in enumerate(panel.left):
            xs, ys = _series(rows, column)
            handles += ax.plot(xs, ys, color=COLORS[n], linewidth=1.2, label=label)
        ax.set_ylabel(panel.unit)
        ax.set_title(panel.title, loc="left", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=5, integer=True))
        ax.grid(True, alpha=0.3)
        if panel.right:
            twin = ax.twinx()
            for n, (column, label) in enumerate(panel.right, start=len(panel.left)):
                xs, ys = _series(rows, column)
                handles += twin.plot(
                    xs, ys, color=COLORS[n], linewidth=1.2, linestyle="--", label=label
                )
            twin.set_ylim(bottom=0)
            twin.set_ylabel("statements")
        ax.axvspan(0, warm_up, color="0.9", zorder=0)
        ax.axvline(feed_end, color="0.4", linewidth=0.8, linestyle=":")
        ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.8)
    axes[-1].set_xlabel(
        "minutes since the feed started (grey: warm-up, not judged; dotted: end of the feed)"
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _feed_marks(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Minutes: the end of the warm-up third (as the verdicts take it) and the end of the feed
    (the first sample after it)."""
    feed = [float(r["t_s"]) for r in rows if r["phase"] == "feed"]
    drain = [float(r["t_s"]) for r in rows if r["phase"] == "drain"]
    end = max(feed, default=0.0)
    return end / 3 / 60, min(drain, default=end) / 60


def plot_title(report: dict[str, Any]) -> str:
    idle = report["settings"].get("PMS_IDLE_TIMEOUT_S", "?")
    return (
        f"pms-stream soak, {report['date']}: {report['fed_per_s']:,} records/s for "
        f"{report['feed_s'] / 60:.1f} min\nexactly once, {PARTITIONS} partitions, messages of up "
        f"to {report['pack']} records, idle timeout {idle} s"
    )


# ---- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to feed")
    parser.add_argument("--rate", type=float, default=15_000.0, help="records/s fed")
    parser.add_argument(
        "--pause-at-s", type=float, default=120.0, help="when the feed pauses (s into the feed)"
    )
    parser.add_argument(
        "--pause-s", type=float, default=45.0, help="how long it pauses (0: no pause)"
    )
    parser.add_argument("--pack", type=int, default=20, help="records per message (at most)")
    parser.add_argument("--pool-records", type=int, default=1_000_000, help="records in the pool")
    parser.add_argument("--bad", type=int, default=200, help="bad inputs in the pool")
    parser.add_argument("--reroutes", type=int, default=40, help="reroute requests in the pool")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--idle-timeout-s", type=float, default=30.0, help="PMS_IDLE_TIMEOUT_S")
    parser.add_argument(
        "--drain-timeout-s", type=float, default=300.0, help="longest wait after the feed"
    )
    parser.add_argument(
        "--tolerance-pct",
        type=float,
        default=5.0,
        help="growth allowed: last third vs middle, last half's peak vs first's",
    )
    add_broker_arguments(parser, default_port=39092)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PMS_NAME=VALUE",
        help="a service setting (also taken from PMS_*)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV, PNG, JSON and logs")
    parser.add_argument("--docs-png", type=Path, help="copy the PNG here too")
    parser.add_argument("--replot", type=Path, metavar="CSV", help="only draw this CSV again")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.minutes <= 0 or args.pack < 1 or args.sample_s <= 0:
        parser.error("--rate, --minutes, --sample-s must be positive and --pack at least 1")
    args.command = " ".join(["bench/soak.py", *(argv if argv is not None else sys.argv[1:])])
    return args


def replot(args: argparse.Namespace) -> int:
    rows = read_csv(args.replot)
    png = args.replot.with_suffix(".png")
    report_path = args.replot.with_suffix(".json")
    title = f"pms-stream soak ({args.replot.name})"
    if report_path.exists():
        title = plot_title(json.loads(report_path.read_text()))
    if not plot(rows, png, title):
        print(f"soak: no PNG drawn: {NO_MATPLOTLIB}", file=sys.stderr)
        return 2
    copy_to_docs(args, png)
    print(png)
    return 0


def copy_to_docs(args: argparse.Namespace, png: Path) -> None:
    if args.docs_png:
        args.docs_png.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, args.docs_png)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replot:
        return replot(args)
    own = OwnBroker(args.broker_port, args.out) if args.start_broker else None
    bootstrap = bootstrap_of(args, own)
    run = Run(bootstrap, args.out, time.strftime("%Y%m%d-%H%M%S"), service_env(args.set))
    try:
        if own is not None:
            own.up()
        host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
        if not port_open(host or "127.0.0.1", int(port or 9092)):
            print(
                f"soak: no Kafka broker answers at {bootstrap}. Start one with `make broker-up`, "
                "set KAFKA_BOOTSTRAP_SERVERS, or pass --start-broker (`make soak` does).",
                file=sys.stderr,
            )
            return 2
        args.out.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(soak(args, run))
    finally:
        if own is not None:
            own.down()
    if plot(read_csv(run.csv_path), run.png_path, plot_title(report)):
        report["png"] = str(run.png_path)
        copy_to_docs(args, run.png_path)
    elif args.docs_png:
        print(f"soak: --docs-png: no PNG drawn: {NO_MATPLOTLIB}", file=sys.stderr)
    run.csv_path.with_suffix(".json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0 if report["verdicts"]["no statement lost or duplicated"] else 1


if __name__ == "__main__":
    sys.exit(main())
