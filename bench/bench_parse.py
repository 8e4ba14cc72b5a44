"""Offline parse of a generated file: records/s and peak memory against only splitting it.

    .venv/bin/python bench/bench_parse.py [--records N] [--repeat R] [--seed S] [--out DIR] [--json]

The input is a clean generated transmission file (`pms_stream.generator.RecordStream`, block
framing, LF line ends) of at least `--records` records (default 1,000,000), written once to
`--out` (default bench/out/, gitignored) and reused by later runs with the same size and seed.

Every measurement runs in a child process of its own, so that its peak RSS (`ru_maxrss` of that
child, from `os.wait4`) is its own:
- baseline: RecordFramer — read the file in 1 MiB chunks (as `pms-stream parse` does) and cut it
  into 80-byte records with the project's `RecordFramer`; count them, nothing else;
- baseline: for line in f — the same file split by Python's buffered line iterator; count only;
- `pms-stream parse FILE > /dev/null` — the real command line (JSON lines streamed out); its
  time is the child's wall time, interpreter start and imports included;
- `parse_stream` in-process — the function behind the command, writing to a sink that only
  counts bytes and lines: the pipeline (framing, codec, assembler, checks, JSON) alone.
The Python children time their own loop (imports excluded). A last child, `pms-stream parse` of
an empty file, measures what starting the command costs. Each measurement is repeated
`--repeat` times (default 3): the best and the median are reported, and the largest peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

if __package__ in (None, ""):  # run as a script: the repository root holds pms_stream and bench
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "out"
EXE = str(Path(sys.executable).with_name("pms-stream"))
CHUNK = 1 << 20  # what pms-stream parse reads at a time
LINE = 81  # an 80-character record and its LF

# name in the results: (label in the table, child mode or None for the command line)
RUNS: tuple[tuple[str, str, str | None], ...] = (
    ("split_framer", "baseline: RecordFramer split", "split_framer"),
    ("split_lines", "baseline: for line in f", "split_lines"),
    ("cli", "pms-stream parse FILE > /dev/null", None),
    ("parse_stream", "parse_stream in-process, null sink", "parse_stream"),
    ("parse_stream_precise", "parse_stream, precise path only", "parse_stream_precise"),
)
PRECISE = "parse_stream_precise"  # the assembler alone (fast=False): before the fast path
GOAL = 2.0  # issue 13: the fast path at least twice the precise path's records/s
BASELINE = "split_framer"


# ---- the input file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    path: Path
    records: int
    statements: int
    bytes: int
    generated_s: float | None  # None: reused from an earlier run


def input_file(records: int, seed: int, out: Path) -> InputFile:
    """The generated file of at least `records` records, made now or reused from `out`."""
    path = out / f"parse-{records}-seed{seed}.txt"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text(encoding="utf-8"))
        size = path.stat().st_size
        if size == info["bytes"] and size == info["records"] * LINE:
            return InputFile(path, info["records"], info["statements"], size, None)
    from pms_stream.generator import GenerateOptions, RecordStream, write

    out.mkdir(parents=True, exist_ok=True)
    stream = RecordStream(GenerateOptions(records=records, seed=seed, framing="block"))
    started = time.perf_counter()
    count = 0
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as fh:
        for chunk in stream:
            write(chunk, fh, "lf")
            count += len(chunk)
    elapsed = time.perf_counter() - started
    tmp.replace(path)
    size = path.stat().st_size
    info = {"records": count, "statements": stream.statement_count, "bytes": size, "seed": seed}
    meta.write_text(json.dumps(info), encoding="utf-8")
    return InputFile(path, count, stream.statement_count, size, elapsed)


# ---- the children -------------------------------------------------------------------------------


class NullSink:
    """A binary sink that keeps nothing: counts the bytes and lines written to it."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    def write(self, data: bytes | bytearray) -> int:
        self.bytes += len(data)
        self.lines += data.count(b"\n")
        return len(data)

    def flush(self) -> None:
        pass


def _cpu(since: float) -> float:
    """CPU seconds this process used since `since` (`time.process_time`)."""
    return time.process_time() - since


def child(mode: str, path: str) -> dict[str, Any]:
    """One measurement inside this (child) process; imports only what the mode needs."""
    if mode == "split_framer":
        from pms_stream.framing import RecordFramer

        framer = RecordFramer()
        cpu, started = time.process_time(), time.perf_counter()
        count = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                count += len(framer.feed(chunk))
        count += len(framer.close())
        return {"records": count, "seconds": time.perf_counter() - started, "cpu": _cpu(cpu)}
    if mode == "split_lines":
        cpu, started = time.process_time(), time.perf_counter()
        count = 0
        with open(path, "rb") as fh:
            for _line in fh:
                count += 1
        return {"records": count, "seconds": time.perf_counter() - started, "cpu": _cpu(cpu)}
    if mode in ("parse_stream", PRECISE):
        from pms_stream.commands.parse import parse_stream

        sink = NullSink()
        cpu, started = time.process_time(), time.perf_counter()
        with open(path, "rb") as fh:
            rejected = parse_stream(fh, path, cast(BinaryIO, sink), fast=mode != PRECISE)
        return {
            "seconds": time.perf_counter() - started,
            "cpu": _cpu(cpu),
            "rejected": rejected,
            "events": sink.lines,
            "out_bytes": sink.bytes,
        }
    raise ValueError(f"unknown mode {mode!r}")


@dataclass(frozen=True)
class Spawned:
    wall: float  # seconds
    rss_mb: float  # peak RSS of the child
    cpu_s: float  # the child's user + system CPU
    other_cpu_s: float | None  # CPU the rest of the machine used meanwhile (other work)
    out: str  # its standard output


def _busy_s() -> float | None:
    """CPU seconds all cores have been busy since boot (Linux /proc/stat), or None."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _spawn(cmd: list[str], capture: bool) -> Spawned:
    """Run `cmd` to its end and measure it."""
    busy = _busy_s()
    started = time.perf_counter()
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stdin=subprocess.DEVNULL
    ) as proc:
        out = proc.stdout.read().decode() if proc.stdout is not None else ""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    after = _busy_s()
    other = max(after - busy - cpu, 0.0) if busy is not None and after is not None else None
    return Spawned(wall, usage.ru_maxrss / 1024, cpu, other, out)  # ru_maxrss: KiB on Linux


def measure_once(name: str, mode: str | None, data: InputFile) -> dict[str, Any]:
    if mode is None:
        run = _spawn([EXE, "parse", "--quiet", str(data.path)], capture=False)
        return {
            "seconds": run.wall,
            "cpu": run.cpu_s,
            "rss_mb": run.rss_mb,
            "wall": run.wall,
            "other": run.other_cpu_s,
        }
    run = _spawn(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(data.path)],
        capture=True,
    )
    found: dict[str, Any] = json.loads(run.out)
    found.update(rss_mb=run.rss_mb, wall=run.wall, other=run.other_cpu_s)
    if found.get("records", data.records) != data.records:
        raise RuntimeError(f"{name}: {found['records']} records, the file has {data.records}")
    if mode in ("parse_stream", PRECISE) and (
        found["rejected"] or found["events"] != data.statements
    ):
        raise RuntimeError(
            f"{name}: {found['events']} events ({found['rejected']} rejected), "
            f"expected {data.statements} statements"
        )
    return found


# ---- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    name: str
    label: str
    records: int
    best_s: float
    median_s: float
    best_per_s: float
    median_per_s: float
    rss_mb: float  # the largest peak RSS of its runs
    other_cpu_s: float | None  # the most CPU other work used during one of its runs
    best_cpu_us: float = 0.0  # the least CPU per record of its runs, microseconds
    vs_baseline: float = 0.0  # best rate / best rate of the baseline


def git_state() -> str:
    """The commit measured, and whether pms_stream/ differs from it (others' edits)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "pms_stream"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (
        f" + uncommitted changes to {len(dirty)} file(s) in pms_stream/" if dirty else ""
    )


def cpu_model() -> str:
    """The CPU's model name, as bench_codec.py reports it (imported late: it loads hypothesis,
    which the measured children must not)."""
    from bench.bench_codec import cpu_model as model

    return model()


def run(records: int, repeat: int, seed: int, out: Path) -> dict[str, Any]:
    data = input_file(records, seed, out)
    load = _load_average()
    found: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in RUNS}
    for _ in range(repeat):  # interleaved, so drift on a busy machine hits every row alike
        for name, _, mode in RUNS:
            found[name].append(measure_once(name, mode, data))
    results: list[Result] = []
    for name, label, _ in RUNS:
        times = [f["seconds"] for f in found[name]]
        best, median = min(times), statistics.median(times)
        rss = max(f["rss_mb"] for f in found[name])
        others = [f["other"] for f in found[name] if f["other"] is not None]
        results.append(
            Result(
                name,
                label,
                data.records,
                best,
                median,
                data.records / best,
                data.records / median,
                rss,
                max(others) if others else None,
                min(f["cpu"] for f in found[name]) / data.records * 1e6,
            )
        )
    base = next(r for r in results if r.name == BASELINE).best_per_s
    results = [Result(**{**asdict(r), "vs_baseline": r.best_per_s / base}) for r in results]
    empty = out / "empty.txt"
    empty.write_bytes(b"")
    startup = [_spawn([EXE, "parse", "--quiet", str(empty)], capture=False) for _ in range(repeat)]
    parsed = found["parse_stream"][0]
    by_name = {r.name: r for r in results}
    fast, precise = by_name["parse_stream"], by_name[PRECISE]
    return {
        "load_average": load,
        "fast_vs_precise": fast.best_per_s / precise.best_per_s,
        "cpu_precise_vs_fast": precise.best_cpu_us / fast.best_cpu_us,
        "fast_vs_precise_median": fast.median_per_s / precise.median_per_s,
        "rss_fast_vs_precise": fast.rss_mb / precise.rss_mb,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu": cpu_model(),
        "git": git_state(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "file": str(data.path),
        "records": data.records,
        "statements": data.statements,
        "file_mb": data.bytes / 1e6,
        "generated_s": data.generated_s,
        "json_out_mb": parsed["out_bytes"] / 1e6,
        "repeat": repeat,
        "startup_s": min(s.wall for s in startup),
        "startup_rss_mb": max(s.rss_mb for s in startup),
        "results": [asdict(r) for r in results],
    }


def _load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes (as `uptime` shows them)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def table(report: dict[str, Any]) -> str:
    made = (
        f"generated in {report['generated_s']:.1f} s"
        if report["generated_s"] is not None
        else "reused"
    )
    lines = [
        f"Python {report['python']} ({report['implementation']}), CPU: {report['cpu']}, "
        f"{report['cpus']} CPUs, {report['date']}",
        f"{report['file']} ({made}): {report['records']:,} records, "
        f"{report['statements']:,} statements, {report['file_mb']:.1f} MB, block framing, LF; "
        f"JSON out {report['json_out_mb']:.0f} MB",
        f"pms_stream at {report['git']}; best and median of {report['repeat']}; "
        "peak RSS: the largest of the runs; other CPU s: the most CPU the rest of the machine "
        "used during one run (other work: high means disturbed)",
        "",
        f"{'run':<36} {'records':>9} {'best s':>7} {'best rec/s':>11} {'median rec/s':>12} "
        f"{'peak RSS MB':>11} {'x baseline':>10} {'other CPU s':>11} {'CPU us/rec':>10}",
    ]
    for r in report["results"]:
        other = f"{r['other_cpu_s']:>11.1f}" if r["other_cpu_s"] is not None else f"{'-':>11}"
        lines.append(
            f"{r['label']:<36} {r['records']:>9,} {r['best_s']:>7.2f} {r['best_per_s']:>11,.0f} "
            f"{r['median_per_s']:>12,.0f} {r['rss_mb']:>11.1f} {r['vs_baseline']:>10.3f} {other} "
            f"{r['best_cpu_us']:>10.2f}"
        )
    lines.append(
        f"(pms-stream parse: wall time, with its start-up: {report['startup_s']:.2f} s and "
        f"{report['startup_rss_mb']:.1f} MB for an empty file; the others time their own loop)"
    )
    ratio = report["fast_vs_precise"]
    lines += [
        f"load average before the runs (1, 5, 15 min): {report['load_average']}",
        f"goal: parse_stream / precise path records/s >= {GOAL}: best {ratio:.2f}, median "
        f"{report['fast_vs_precise_median']:.2f} -> {'PASS' if ratio >= GOAL else 'MISS'}; "
        f"peak RSS {report['rss_fast_vs_precise']:.2f}x the precise path's",
        f"goal: CPU per record, parse_stream <= half the precise path's: precise / fast = "
        f"{report['cpu_precise_vs_fast']:.2f} -> "
        f"{'PASS' if report['cpu_precise_vs_fast'] >= GOAL else 'MISS'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000, help="at least this many")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--seed", type=int, default=1, help="generator seed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the file is kept")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    if args.records < 1 or args.repeat < 1:
        parser.error("--records and --repeat must be at least 1")
    report = run(args.records, args.repeat, args.seed, args.out)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
