"""bench_pipeline.py's rows beyond one service against the passthrough: the peer (a Quix Streams
app building the same statements, bench/peer_quix.py), the scale-out row (1 vs 2 pms-stream
instances on 6 partitions) and the per-partition costs (one instance on 3, 12, 48 partitions).

Each returns a dataclass that bench_pipeline.py puts in its report and table. Same broker, same
generated messages, same run as the passthrough and pipeline rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import peer_quix
from bench.bench_pipeline import (
    PREFIX,
    Context,
    CpuSnapshot,
    CpuUse,
    Data,
    Preloaded,
    StableProbe,
    Watcher,
    log_seconds_after,
    metrics_of,
    process_cpu_s,
    start_child,
    until_ready,
    wait_ready,
)
from pms_stream.commands.parse import parse_stream
from pms_testkit.kafka_helpers import consume_to_end, create_topic, kafka_admin
from pms_testkit.service_harness import ServiceProcess, Topics

SCALE_PARTITIONS = 6
GOAL_SCALE_OUT = 1.6  # two instances / one, records/s over the whole run
GOAL_PEER = 1.0  # pms-stream exactly_once / the tuned Quix app


def _without_source(line: bytes) -> bytes:
    event = json.loads(line)
    event.pop("source", None)
    return json.dumps(event, sort_keys=True).encode()


def parse_statements(data: Data) -> Counter[bytes]:
    """What `pms-stream parse` makes of the same records: its statements, without `source`."""
    text = b"\n".join(value for _, value in data.pairs) + b"\n"
    out = io.BytesIO()
    parse_stream(io.BytesIO(text), "bench", out)
    lines = [line for line in out.getvalue().split(b"\n") if line]
    return Counter(_without_source(x) for x in lines if x.startswith(b'{"type":"statement"'))


# ---- the peer -----------------------------------------------------------------------------------


@dataclass
class Peer:
    kind: str  # "quix"
    pack: int
    guarantee: str
    records: int
    messages: int
    outputs: int
    startup_s: float
    processing_s: float
    records_per_s: float
    cpu: CpuUse
    identical_to_parse: bool  # every statement as `pms-stream parse` writes it (but `source`)
    peak_rss_mb: float | None


def _peak_rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


async def run_peer(ctx: Context, data: Preloaded, source: Data) -> Peer:
    """The tuned Quix app, exactly once, over the preloaded input: ready (partitions assigned)
    to every statement visible read_committed, then SIGTERM."""
    output = f"{PREFIX}-{os.urandom(6).hex()}-quix-statements"
    group = f"{output}-group"
    async with kafka_admin(ctx.bootstrap) as admin:
        await create_topic(admin, output, partitions=3)
    ctx.topics.append(output)
    name = ctx.name(f"peer-quix-pack{data.pack}")
    state_dir = ctx.logs / f"{name}-state"
    cfg = {
        "bootstrap": ctx.bootstrap,
        "group": group,
        "input": data.topic,
        "output": output,
        "state_dir": str(state_dir),
    }
    watcher = Watcher(ctx.bootstrap, output)
    await watcher.start()
    probe = StableProbe(ctx.bootstrap, output)
    await probe.start()
    started = time.monotonic()
    proc = await start_child(ctx, name, [str(Path(peer_quix.__file__).resolve())], cfg)
    try:
        ready, cpu0 = await until_ready(ctx, name, proc)
        done = await watcher.until(data.statements, ctx.timeout)
        cpu1 = CpuSnapshot.take(proc.pid, ctx.broker_pid)
        rss = _peak_rss_mb(proc.pid)
        await probe.until_stable(ctx.timeout)
    finally:
        await watcher.stop()
        await probe.stop()
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await _drop_internal_topics(ctx, group)
        shutil.rmtree(state_dir, ignore_errors=True)
    got = await consume_to_end(ctx.bootstrap, output, timeout=ctx.timeout)
    made = Counter(_without_source(m.value or b"{}") for m in got)
    seconds = done - ready
    return Peer(
        "quix",
        data.pack,
        "exactly_once",
        data.records,
        data.messages,
        len(got),
        ready - started,
        seconds,
        data.records / seconds,
        CpuUse.between(cpu0, cpu1),
        made == parse_statements(source),
        rss,
    )


async def _drop_internal_topics(ctx: Context, group: str) -> None:
    """Quix's changelog topics for this group (changelog__<group>--...)."""
    async with kafka_admin(ctx.bootstrap) as admin:
        names = [t for t in await admin.list_topics() if group in t]
        if names:
            with contextlib.suppress(Exception):
                await admin.delete_topics(names)


# ---- several pms-stream instances ---------------------------------------------------------------


@dataclass
class Instances:
    """N pms-stream instances (exactly once) on one input topic of `partitions` partitions."""

    instances: int
    partitions: int
    pack: int
    key_by: str
    records: int
    statements: int
    startup_s: float  # the first process start to its partitions assigned
    seconds: float  # the first partitions assigned (first record) to the last statement visible
    records_per_s: float
    process_cpu_s: float  # all instances, over `seconds`
    broker_cpu_s: float | None
    transactions: int
    peak_rss_mb: list[float]  # per instance
    sockets: list[int]  # open sockets per instance at the end (its Kafka connections)
    messages_per_instance: list[int]  # input messages each instance processed
    rebalances: int
    idle_cpu_s_per_min: float | None = None  # all instances, idle after the run, per minute
    idle_broker_cpu_s_per_min: float | None = None


def _sockets(pid: int) -> int:
    count = 0
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd).startswith("socket:"):
                    count += 1
    return count


async def run_instances(
    ctx: Context,
    data: Preloaded,
    instances: int,
    partitions: int,
    *,
    key_by: str,
    idle_s: float = 0.0,
) -> Instances:
    topics = dataclasses.replace(Topics.new(PREFIX), input=data.topic)
    await ctx.create(topics, with_input=False, partitions=partitions)
    services = [
        ServiceProcess(
            ctx.bootstrap,
            topics,
            ctx.logs,
            ctx.name(f"scale-{instances}of-p{partitions}-{i}"),
            PMS_GUARANTEE="exactly_once",
            PMS_TOPIC_PARTITIONS=str(partitions),
            **ctx.service_env,
        )
        for i in range(instances)
    ]
    watcher = Watcher(ctx.bootstrap, topics.statements, partitions)
    await watcher.start()
    broker0 = process_cpu_s(ctx.broker_pid) if ctx.broker_pid else None
    try:
        started, started_wall = time.monotonic(), time.time()
        await asyncio.gather(*(s.start() for s in services))
        pids = [s.process.pid for s in services if s.process is not None]
        cpu0 = sum(process_cpu_s(p) or 0.0 for p in pids)
        try:
            done = await watcher.until(data.statements, ctx.timeout)
        except TimeoutError as exc:
            tails = "\n".join(s.tail() for s in services)
            raise RuntimeError(f"{exc}\n{tails}") from exc
        cpu1 = sum(process_cpu_s(p) or 0.0 for p in pids)
        broker1 = process_cpu_s(ctx.broker_pid) if ctx.broker_pid else None
        for s in services:  # every instance ready (the last may still be setting up)
            await wait_ready(s, ctx.timeout)
        metrics = [await metrics_of(s) for s in services]
        rss = [_peak_rss_mb(p) or 0.0 for p in pids]
        sockets = [_sockets(p) for p in pids]
        idle = idle_broker = None
        if idle_s > 0:
            i0 = sum(process_cpu_s(p) or 0.0 for p in pids)
            b0 = process_cpu_s(ctx.broker_pid) if ctx.broker_pid else None
            await asyncio.sleep(idle_s)
            idle = (sum(process_cpu_s(p) or 0.0 for p in pids) - i0) * 60 / idle_s
            b1 = process_cpu_s(ctx.broker_pid) if ctx.broker_pid else None
            if b0 is not None and b1 is not None:
                idle_broker = (b1 - b0) * 60 / idle_s
    finally:
        await watcher.stop()
        for s in services:
            if s.process is not None and s.process.returncode is None:
                await s.terminate()
    assigned = [log_seconds_after(s, 0, started_wall)[0] for s in services]
    first = min((a for a in assigned if a is not None), default=0.0)
    begin = started + first
    seconds = done - begin
    got = await consume_to_end(ctx.bootstrap, topics.statements, timeout=ctx.timeout)
    if len(got) != data.statements:
        raise RuntimeError(f"{instances} instances: {len(got)} statements, not {data.statements}")
    return Instances(
        instances,
        partitions,
        data.pack,
        key_by,
        data.records,
        data.statements,
        first,
        seconds,
        data.records / seconds,
        cpu1 - cpu0,
        broker1 - broker0 if broker0 is not None and broker1 is not None else None,
        sum(int(m.get('pms_transactions_total{result="committed"}', 0)) for m in metrics),
        rss,
        sockets,
        [int(m.get("pms_messages_total", 0)) for m in metrics],
        sum(int(m.get("pms_rebalances_total", 0)) for m in metrics),
        idle,
        idle_broker,
    )


def rows_table(report: dict[str, Any]) -> list[str]:
    """The peer, scale-out and partition-cost sections of bench_pipeline's table."""
    out: list[str] = []
    if report.get("peer_note"):
        out += ["", report["peer_note"]]
    if report.get("peer"):
        out += [
            "",
            "peer: a Quix Streams app (exactly-once, commit interval 0.2 s, poll 0.1 s) building "
            "the same statements with pms-stream's Assembler; same input topic",
            f"{'run':<12} {'pack':>4} {'start s':>7} {'proc s':>7} {'records/s':>10} "
            f"{'proc':>5} {'broker':>6} {'other':>5} {'RSS MB':>6} {'same as parse':>13} "
            f"{'pms/peer':>8}",
        ]
        pipe = {
            t["pack"]: t["records_per_s"]
            for t in report["throughput"]
            if t["kind"] == "pipeline" and t["guarantee"] == "exactly_once"
        }
        for p in report["peer"]:
            cpu = p["cpu"]
            ratio = pipe.get(p["pack"], 0.0) / p["records_per_s"]
            out.append(
                f"{'peer quix':<12} {p['pack']:>4} {p['startup_s']:>7.2f} "
                f"{p['processing_s']:>7.2f} "
                f"{p['records_per_s']:>10,.0f} {_f(cpu['process_s'], 5)} {_f(cpu['broker_s'], 6)} "
                f"{_f(cpu['other_s'], 5)} {_f(p['peak_rss_mb'], 6, 0)} "
                f"{'yes' if p['identical_to_parse'] else 'NO':>13} {ratio:>8.2f}"
            )
    for title, key in (
        (
            "scale-out: pms-stream exactly_once, 6 partitions; seconds = first partitions "
            "assigned to last statement visible",
            "scale_out",
        ),
        ("per-partition costs: one pms-stream instance, exactly_once", "partition_costs"),
    ):
        if not report.get(key):
            continue
        out += [
            "",
            title,
            f"{'inst':>4} {'parts':>5} {'pack':>4} {'key by':<12} {'records':>8} {'assign s':>8} "
            f"{'seconds':>7} {'records/s':>10} {'cpu s':>6} {'broker':>6} {'txns':>5} "
            f"{'RSS MB':>11} {'sockets':>9} {'msgs per inst':>15} {'rebal':>5} "
            f"{'idle cpu/min':>12} {'idle brk/min':>12}",
        ]
        for r in report[key]:
            out.append(
                f"{r['instances']:>4} {r['partitions']:>5} {r['pack']:>4} {r['key_by']:<12} "
                f"{r['records']:>8,} {r['startup_s']:>8.2f} {r['seconds']:>7.2f} "
                f"{r['records_per_s']:>10,.0f} {r['process_cpu_s']:>6.1f} "
                f"{_f(r['broker_cpu_s'], 6)} {r['transactions']:>5} "
                f"{'/'.join(f'{x:.0f}' for x in r['peak_rss_mb']):>11} "
                f"{'/'.join(str(x) for x in r['sockets']):>9} "
                f"{'/'.join(str(x) for x in r['messages_per_instance']):>15} "
                f"{r['rebalances']:>5} {_f(r['idle_cpu_s_per_min'], 12, 2)} "
                f"{_f(r['idle_broker_cpu_s_per_min'], 12, 2)}"
            )
    return out


def _f(value: float | None, width: int, digits: int = 1) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else "-".rjust(width)
