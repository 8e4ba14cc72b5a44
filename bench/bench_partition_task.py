"""CPU per record of the Kafka partition task's core (`PartitionTask.process`), no Kafka.

    .venv/bin/python bench/bench_partition_task.py [--records N] [--packs 1,100] [--repeat R]
        [--before REF] [--json] [--once none|before|off|on|held]

The input is a clean generated file (block framing, `--records` records, default 30,000) cut
into messages as `pms-stream send` cuts it (`pms_stream.packing.messages`, keyed by filer,
records joined by LF), `--packs` records per message (default 1 and 100). Every row feeds the
same messages to a new `PartitionTask` (offsets in order, as the runner does), then
`flush_all` and `take_stats`, and counts the outputs: the service's work between the consumer
and the producer, without Kafka.

Rows, per pack:
- `before (REF)`: `pms_stream/stream/partition_task.py` as it is at the git revision `--before`
  (default `main`), loaded from git into a module of its own (the rest of pms_stream is this
  tree's): the partition task before this change, in the same run;
- `fast path off`: this tree's task with `PartitionTask(fast=False)`: every record through the
  assembler (the precise path the fast one is held to);
- `fast path on`: this tree's task as the service runs it;
- `held from one record`: `PartitionTask(hold_single=True)`: blocks also begin to be held in a
  message of one record (at pack 1 every block takes the fast path, held across messages).
Each row runs once untimed, then `--repeat` times (default 5), interleaved so that drift on a
busy machine hits every row alike; CPU time of this process (`time.process_time`, garbage
collection on, as in the service). Reported: best and median CPU µs per record, and the best
against the first row's. Every row must give the same outputs (sink, key, value, headers) as
the first, or the benchmark fails. The load average (`/proc/loadavg`, as `uptime` shows it) is
printed before and after: compare ratios within one run.

`--once ROW` (none, before, off, on) makes the input and runs that row once on the first pack,
untimed: under `valgrind --tool=callgrind` a row's instructions less those of `--once none`
are its instructions, which a busy machine does not disturb (bench/README.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root holds pms_stream and bench
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pms_stream.generator import GenerateOptions, generate
from pms_stream.packing import messages
from pms_stream.stream import partition_task
from pms_stream.stream.outputs import Output

REPO = Path(__file__).resolve().parents[1]
MODULE = "pms_stream/stream/partition_task.py"

Task = Any  # a PartitionTask of this tree or of the `before` revision (same interface)


@dataclass(frozen=True)
class Row:
    pack: int
    name: str
    records: int
    messages: int
    outputs: int
    best_cpu_us: float  # CPU µs per record, best run
    median_cpu_us: float
    vs_first: float  # best CPU per record / the first row's (of the same pack)


def before_module(ref: str) -> Any | None:
    """`partition_task.py` at git revision `ref` as a module of its own, or None without git."""
    try:
        text = subprocess.run(
            ["git", "show", f"{ref}:{MODULE}"], cwd=REPO, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "partition_task_before.py"
    path.write_bytes(text)
    spec = importlib.util.spec_from_file_location("partition_task_before", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def input_messages(records: int, pack: int, seed: int) -> tuple[int, list[tuple[Any, ...]]]:
    """(records, [(offset, key, value)]) of the generated file cut `pack` records a message."""
    out = io.BytesIO()
    generate(GenerateOptions(records=records, seed=seed)).write(out)
    data = out.getvalue()
    packed = messages(io.BytesIO(data), pack, "filer", False)
    return data.count(b"\n"), [(n, key, value) for n, (key, value) in enumerate(packed)]


def run_once(make: Callable[[], Task], module: Any, msgs: list[tuple[Any, ...]]) -> list[Output]:
    task = make()
    message = module.InputMessage
    out: list[Output] = []
    for offset, key, value in msgs:
        out += task.process(message(offset, key, value))
    out += task.flush_all()
    task.take_stats()
    return out


def _same(a: list[Output], b: list[Output]) -> bool:
    return [(o.sink, o.key, o.value, o.headers) for o in a] == [
        (o.sink, o.key, o.value, o.headers) for o in b
    ]


Variant = tuple[str, Any, Callable[[], Task]]  # name, module, a new task


def variants(before: str) -> list[Variant]:
    old = before_module(before) if before else None
    here = partition_task
    found: list[Variant] = []
    if old is not None:
        found.append((f"before ({before})", old, lambda: old.PartitionTask("in", 0)))
    found += [
        ("fast path off", here, lambda: here.PartitionTask("in", 0, fast=False)),
        ("fast path on", here, lambda: here.PartitionTask("in", 0)),
        ("held from one record", here, lambda: here.PartitionTask("in", 0, hold_single=True)),
    ]
    return found


def once(row: str, records: int, pack: int, before: str, seed: int) -> None:
    """Make the input and run the row named `row` ("before", "off", "on", "held") once, or none
    ("none"): under `valgrind --tool=callgrind`, a row's instructions are its run's less those
    of "none" (bench/README.md)."""
    chosen = {
        "before": "before",
        "off": "fast path off",
        "on": "fast path on",
        "held": "held from one record",
    }.get(row)
    _, msgs = input_messages(records, pack, seed)
    for name, module, make in variants(before):
        if chosen is not None and name.startswith(chosen):
            run_once(make, module, msgs)


def measure(records: int, packs: Sequence[int], repeat: int, before: str, seed: int) -> list[Row]:
    rows_of = variants(before)
    rows: list[Row] = []
    for pack in packs:
        count, msgs = input_messages(records, pack, seed)
        reference = run_once(rows_of[0][2], rows_of[0][1], msgs)  # untimed: warm caches
        for name, module, make in rows_of[1:]:
            if not _same(run_once(make, module, msgs), reference):
                raise SystemExit(f"pack {pack}: {name} gives other outputs than {rows_of[0][0]}")
        times: dict[str, list[float]] = {name: [] for name, _, _ in rows_of}
        for _ in range(repeat):
            for name, module, make in rows_of:
                start = time.process_time()
                run_once(make, module, msgs)
                times[name].append(time.process_time() - start)
        first = min(times[rows_of[0][0]])
        for name, _, _ in rows_of:
            best = min(times[name])
            rows.append(
                Row(
                    pack,
                    name,
                    count,
                    len(msgs),
                    len(reference),
                    best / count * 1e6,
                    statistics.median(times[name]) / count * 1e6,
                    best / first,
                )
            )
    return rows


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--packs", default="1,100", help="records per message, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--before", default="main", help="git revision of the 'before' row")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--once",
        choices=("none", "before", "off", "on", "held"),
        help="run one row once on the first pack, untimed (for callgrind), or only make the input",
    )
    args = parser.parse_args(argv)
    packs = [int(p) for p in args.packs.split(",") if p]
    if args.once:
        once(args.once, args.records, packs[0], args.before, args.seed)
        return 0
    load_before = load_average()
    rows = measure(args.records, packs, args.repeat, args.before, args.seed)
    report = {
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "repeat": args.repeat,
        "rows": [asdict(r) for r in rows],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"PartitionTask.process, Python {report['python']}, {report['date']}; "
        f"best and median of {args.repeat}, CPU µs per record"
    )
    print(
        f"{'pack':>4} {'row':<20} {'records':>8} {'messages':>8} {'outputs':>7} "
        f"{'best':>7} {'median':>7} {'x first':>7}"
    )
    for r in rows:
        print(
            f"{r.pack:>4} {r.name:<20} {r.records:>8,} {r.messages:>8,} {r.outputs:>7,} "
            f"{r.best_cpu_us:>7.2f} {r.median_cpu_us:>7.2f} {r.vs_first:>7.2f}"
        )
    print(
        f"load average (1, 5, 15 min) before: {load_before}; after: {report['load_average_after']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
