"""The fuzzing run: `python -m fuzz.run --inputs 1000000` (or `make fuzz`).

Splits the inputs over the targets (codec 40 %, framing 25 %, assembler 20 %, partition 15 % by
default), runs each target in its own process, two at a time (`--jobs`), and prints a table:
inputs, undocumented exceptions (hangs included), broken checks, inputs that broke a suspended
check (a known bug, see `fuzz/targets.py` SUSPENDED), the slowest input, the process's peak
memory and how much it grew after the first tenth of the run. Then a soak: one assembler and one
partition task fed a long mutated stream, their traced memory at each tenth of it.

Engines: `atheris` (coverage-guided, libFuzzer; the default when atheris is installed) saves
the inputs that reach new code under fuzz/work/ and, at the end, merges those that add coverage
into the committed corpus fuzz/corpus/<target>/. `random` (the seeded mutator of
fuzz/mutate.py) saves nothing. Both start from the seed inputs and the committed corpus.
`--replay` runs the whole committed corpus through every target instead, and `--reproduce FILE`
runs one saved input, letting its failure end the command with the traceback.

Exit status: 0 when no input failed; 1 otherwise (failing inputs are saved under
fuzz/artifacts/<target>/, the first few are shown).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import os
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from fuzz.engine import Runner, Stats, watchdog
from fuzz.mutate import Mutator
from fuzz.seeds import seed_inputs
from fuzz.targets import TARGETS, known_hits
from pms_stream.framing import frame_message
from pms_stream.generator import GenerateOptions, RecordStream
from pms_stream.statements.assembler import Assembler, Origin
from pms_stream.stream.partition_task import InputMessage, Limits, PartitionTask

__all__ = ["corpus_files", "main", "replay", "soak"]

FUZZ = Path(__file__).resolve().parent
CORPUS = FUZZ / "corpus"
WORK = FUZZ / "work"
ARTIFACTS = FUZZ / "artifacts"
SHARES = {"codec": 40, "framing": 25, "assembler": 20, "partition": 15}


def corpus_files(target: str | None = None) -> list[Path]:
    """The committed corpus of `target` (of every target when None), sorted."""
    folders = [CORPUS / target] if target else sorted(p for p in CORPUS.iterdir() if p.is_dir())
    return sorted(f for d in folders if d.is_dir() for f in d.iterdir() if f.is_file())


def _write(folder: Path, inputs: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for data in inputs:
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)  # noqa: S324 - a name


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------
# One target in this process
# --------------------------------------------------------------------------------------------


def random_run(
    target: str,
    inputs: int,
    seed: int,
    bound: float | None,
    *,
    artifacts: Path | None = ARTIFACTS,
) -> Stats:
    """`inputs` inputs of the random engine: the seeds first, then mutants of the seeds and
    the corpus.
    Failing inputs are saved under `artifacts`/<target>/ (not at all when None)."""

    t = TARGETS[target]
    start = seed_inputs(target)
    mutator = Mutator(target, start + [f.read_bytes() for f in corpus_files(target)], seed)
    runner = Runner(
        target,
        t.run,
        "random",
        planned=inputs,
        artifacts=artifacts / target if artifacts else None,
        bound=bound,
        known=lambda: known_hits,
    )
    with watchdog(bound):
        for data in start[:inputs]:
            runner(data)
        for _ in range(inputs - min(inputs, len(start))):
            runner(mutator())
    runner.sample()
    return runner.stats


def replay(files: list[Path], bound: float | None = 10.0) -> list[Stats]:
    """Every file through every target."""

    out: list[Stats] = []
    for t in TARGETS.values():
        known_hits.clear()
        runner = Runner(
            t.name, t.run, "replay", planned=len(files), bound=bound, known=lambda: known_hits
        )
        with watchdog(bound):
            for f in files:
                runner(f.read_bytes())
        runner.sample()
        out.append(runner.stats)
    return out


# --------------------------------------------------------------------------------------------
# Soak: memory of long-lived state
# --------------------------------------------------------------------------------------------


def _soak_stream(records: int, seed: int) -> Iterator[bytes]:
    """A generated transmission with about one record in 50 broken by the mutator."""

    rng = random.Random(seed)  # noqa: S311 - test inputs, not secrets
    mutator = Mutator("framing", [b""], seed)
    n = 0
    for chunk in RecordStream(GenerateOptions(records=records, seed=seed, daily=(1, 20))):
        for record in chunk:
            if n >= records:
                return
            n += 1
            if rng.random() < 0.02:
                mutator.seeds = [record]
                yield mutator()
            else:
                yield record


_STATE_FILES = ("*/statements/assembler.py", "*/stream/partition_task.py")


def _kib(snapshot: tracemalloc.Snapshot, base: int) -> tuple[float, float]:
    """(all traced memory, the part allocated in the assembler and partition task) in KiB."""
    state = snapshot.filter_traces([tracemalloc.Filter(True, f) for f in _STATE_FILES])
    total = sum(s.size for s in snapshot.statistics("filename"))
    return (total - base) / 1024, sum(s.size for s in state.statistics("filename")) / 1024


def soak(records: int, seed: int = 1) -> dict[str, list[tuple[float, float]]]:
    """Traced memory (KiB: all, and the part held by the assembler or partition task's own
    code) of one assembler and one partition task at each tenth of a stream of `records`
    records (four message keys, five records a message)."""

    series: dict[str, list[tuple[float, float]]] = {}
    step = max(records // 10, 1)
    stream = list(_soak_stream(records, seed))  # made first: its memory is not traced
    for name in ("assembler", "partition"):
        gc.collect()
        tracemalloc.start()
        asm = Assembler(file="soak")
        task = PartitionTask("in", 0, limits=Limits(max_open_keys=8))
        base = tracemalloc.get_traced_memory()[0]
        points: list[tuple[float, float]] = []
        batch: list[bytes] = []
        for n, record in enumerate(stream, 1):
            if name == "assembler":
                for piece in frame_message(record):
                    if piece.problem is None:
                        asm.feed(piece.raw, Origin(record=n))
                    else:
                        asm.feed_fragment(piece.raw, Origin(record=n), piece.problem)
            else:
                batch.append(record)
                if len(batch) == 5:
                    key = b"k%d" % (n // 500 % 4)
                    task.process(InputMessage(n, key, b"\n".join(batch)))
                    batch = []
            if n % step == 0:
                gc.collect()  # what is still alive, not garbage the collector has not met yet
                points.append(_kib(tracemalloc.take_snapshot(), base))
        tracemalloc.stop()
        series[name] = points
    return series


# --------------------------------------------------------------------------------------------
# The run: workers in subprocesses
# --------------------------------------------------------------------------------------------


def _worker_command(
    target: str, inputs: int, *, engine: str, seed: int, timeout: float, stats: Path
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if engine == "random":
        command = [
            sys.executable,
            "-m",
            "fuzz.run",
            "--worker",
            target,
            "--inputs",
            str(inputs),
            "--seed",
            str(seed),
            "--timeout",
            str(timeout),
            "--stats",
            str(stats),
        ]
        return command, env
    seeds = WORK / "seeds" / target
    found = WORK / target

    _write(seeds, seed_inputs(target))
    for folder in (found, CORPUS / target, ARTIFACTS / target):
        folder.mkdir(parents=True, exist_ok=True)
    env.update(
        FUZZ_TARGET=target,
        FUZZ_STATS=str(stats),
        FUZZ_ARTIFACTS=str(ARTIFACTS / target),
        FUZZ_PLANNED=str(inputs),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    command = [
        sys.executable,
        str(FUZZ / "atheris_target.py"),
        f"-runs={inputs}",
        f"-seed={seed}",
        f"-timeout={int(timeout)}",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={ARTIFACTS / target}/",
        str(found),
        str(CORPUS / target),
        str(seeds),
    ]
    return command, env


def _merge(target: str) -> int:
    """Add to the committed corpus the found inputs that reach code it does not; returns how
    many files were added."""
    folder = CORPUS / target
    before = len(list(folder.iterdir()))
    env = dict(os.environ)
    env.update(
        FUZZ_TARGET=target,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.pop("FUZZ_STATS", None)
    command = [
        sys.executable,
        str(FUZZ / "atheris_target.py"),
        "-merge=1",
        f"-artifact_prefix={ARTIFACTS / target}/",
        str(folder),
        str(WORK / target),
        str(WORK / "seeds" / target),
    ]
    log = WORK / f"{target}.merge.log"
    with log.open("wb") as out:
        subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    return len(list(folder.iterdir())) - before


def _run_all(args: argparse.Namespace, engine: str) -> list[tuple[Stats, int, str]]:
    """Runs the targets in subprocesses, `args.jobs` at a time; (stats, exit code, log)."""
    shares = {t: SHARES[t] for t in args.targets}
    total = sum(shares.values())
    planned = {t: args.inputs * s // total for t, s in shares.items()}
    planned[args.targets[0]] += args.inputs - sum(planned.values())
    WORK.mkdir(parents=True, exist_ok=True)
    waiting = sorted(args.targets, key=lambda t: -planned[t])
    running: list[tuple[str, subprocess.Popen[bytes], Path, Path, float]] = []
    results: list[tuple[Stats, int, str]] = []
    while waiting or running:
        while waiting and len(running) < args.jobs:
            t = waiting.pop(0)
            stats = WORK / f"{t}.stats.json"
            stats.unlink(missing_ok=True)
            log = WORK / f"{t}.log"
            command, env = _worker_command(
                t, planned[t], engine=engine, seed=args.seed, timeout=args.timeout, stats=stats
            )
            with log.open("wb") as out:
                proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
            running.append((t, proc, stats, log, time.monotonic()))
            _out(f"started {t}: {planned[t]:,} inputs ({engine}), log {log}")
        time.sleep(0.5)
        for entry in list(running):
            t, proc, stats, log, started = entry
            code = proc.poll()
            if code is None:
                continue
            running.remove(entry)
            s = Stats.load(stats) if stats.exists() else Stats(t, engine)
            s.seconds = time.monotonic() - started
            results.append((s, code, str(log)))
            _out(f"finished {t} in {s.seconds:,.0f} s (exit {code})")
    order = list(SHARES)
    return sorted(results, key=lambda r: order.index(r[0].target))


def table(rows: list[Stats], codes: dict[str, int] | None = None) -> list[str]:
    """The figures as a Markdown table."""
    head = (
        "| target | engine | inputs | exceptions | violations | known bugs hit | max ms/input "
        "| peak RSS MiB | RSS growth after 10 % (MiB) | seconds |"
    )
    lines = [head, "|---|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    for s in rows:
        code = (codes or {}).get(s.target, 0)
        exceptions = f"{s.exceptions}" + (f" (exit {code})" if code else "")
        known = ", ".join(f"{k.split('.', 1)[1]} {v:,}" for k, v in sorted(s.known.items()))
        growth = s.rss_end_mb - s.rss_warm_mb if s.rss_warm_mb else 0.0
        lines.append(
            f"| {s.target} | {s.engine} | {s.inputs:,} | {exceptions} | {s.violations} "
            f"| {known or '-'} | {s.max_ms:,.1f} | {s.rss_peak_mb:,.0f} | {growth:+.1f} "
            f"| {s.seconds:,.0f} |"
        )
    inputs = sum(s.inputs for s in rows)
    lines.append(
        f"| **all** | | **{inputs:,}** | {sum(s.exceptions for s in rows)} "
        f"| {sum(s.violations for s in rows)} | | {max(s.max_ms for s in rows):,.1f} "
        f"| {max(s.rss_peak_mb for s in rows):,.0f} | | |"
    )
    return lines


def _failures(rows: list[Stats]) -> None:
    for s in rows:
        for f in s.failures[:3]:
            _out(f"\n{s.target}: {f['kind']}: {f['message']}\n  input: {f['input']}")
            _out(f["traceback"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs in all")
    parser.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto")
    parser.add_argument("--targets", default=",".join(SHARES), help="comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="targets run at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one input may take")
    parser.add_argument("--soak", type=int, default=200_000, help="records of the soak (0: none)")
    parser.add_argument("--no-merge", action="store_true", help="leave the corpus as it is")
    parser.add_argument("--replay", action="store_true", help="the corpus through every target")
    parser.add_argument(
        "--reproduce",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="run these inputs through --targets, showing the first failure's traceback",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = sorted(set(args.targets) - set(SHARES))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(SHARES)}")

    if args.worker:
        stats = random_run(args.worker, args.inputs, args.seed, args.timeout)
        if args.stats:
            stats.save(args.stats)
        return 0

    if args.reproduce:
        for f in args.reproduce:
            for t in args.targets:
                TARGETS[t].run(f.read_bytes())  # a failure propagates with its traceback
            _out(f"{f}: passes {', '.join(args.targets)}")
        return 0

    if args.replay:
        files = corpus_files()
        rows = replay(files, args.timeout)
        _out(f"{len(files)} corpus files through every target")
        _out("\n".join(table(rows)))
        _failures(rows)
        return 1 if any(s.failed for s in rows) else 0

    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "random"
    started = time.monotonic()
    _out(
        f"fuzz.run: {args.inputs:,} inputs, engine {engine}, {args.jobs} jobs, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}"
    )
    results = _run_all(args, engine)
    rows = [s for s, _, _ in results]
    codes = {s.target: code for s, code, _ in results}
    if engine == "atheris" and not args.no_merge:
        for t in args.targets:
            if codes.get(t) == 0:
                _out(f"corpus/{t}: {_merge(t)} new files")
    elapsed = time.monotonic() - started
    _out("")
    _out("\n".join(table(rows, codes)))
    _out(f"\nwall time {elapsed:,.0f} s")
    for s, code, log in results:
        if code:
            _out(f"{s.target} exited {code}: see {log}")
    _failures(rows)
    if args.soak:
        _out(
            f"\nsoak: traced memory (KiB) at each tenth of {args.soak:,} records: all / "
            "held by the assembler's or partition task's own code"
        )
        for name, points in soak(args.soak, args.seed).items():
            _out(f"  {name:10} " + " ".join(f"{a:,.0f}/{b:,.0f}" for a, b in points))
    failed = any(s.failed for s in rows) or any(codes.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
