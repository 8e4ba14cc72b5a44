"""Throughput of the record codec on one core, against a naive slicing baseline, in one run.

    .venv/bin/python bench/bench_codec.py [--records N] [--repeat R] [--source S] [--json]

The input is a realistic mix: records in the order and proportions of a monthly statement file
(A, B, then per daily statement Q1, Q2, QA, a second QA for every third, a Q7 for every eighth;
then Q3, Q4, QE, Q5, Q6, QJ, Y, Z), each drawn from a pool of valid records of its type. By
default (`--source strategies`) the pools are examples of tests/core/strategies.py drawn
deterministically (hypothesis, derandomized): varied, but about half of the optional fields are
blank. `--source hand` varies the hand-built records of tests/core/records_by_hand.py instead:
every field they fill is filled with a new value (amounts, dates in one statement month), so
more fields carry values, as in a real statement.

Measured, each over the whole mix unless named by a record type:
- baseline: a dict of every field's text, sliced by positions precomputed from the layouts (no
  conversion, no validation) — the floor any parser in pure Python pays;
- parse_record on bytes, parse_record on str, encode_record (which parses its output again);
- parse_record on bytes of the Q1, Q2 and QA records of the mix alone.

Each measurement runs once untimed (warm caches), then `--repeat` times with the garbage
collector off (as `timeit` does); best and median rates are reported. The process is pinned
to one CPU while it measures, where the OS allows it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from itertools import cycle, islice
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root holds pms_stream and tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, settings

from pms_stream import encode_record, parse_record
from pms_stream.catair.fields import Cls, Field, Kind, Layout
from pms_stream.catair.layouts import LAYOUTS, LAYOUTS_BY_TYPE
from pms_testkit import records_by_hand as hand
from pms_testkit.strategies import valid_record

DAILY_STATEMENTS = 40  # daily statements on the monthly statement of the mix
PER_TYPE = ("Q1", "Q2", "QA")  # record types also measured alone
SOURCES = ("strategies", "hand")


def statement_types() -> list[str]:
    """The record types of one transmission holding one monthly statement, in file order."""
    types = ["A", "B"]
    for i in range(DAILY_STATEMENTS):
        types += ["Q1", "Q2", "QA"]
        if i % 3 == 0:
            types.append("QA")
        if i % 8 == 0:
            types.append("Q7")
    return [*types, "Q3", "Q4", "QE", "Q5", "Q6", "QJ", "Y", "Z"]


# ---- pools of valid records -------------------------------------------------------------------


def drawn_pool(layout: Layout, count: int) -> list[str]:
    """`count` examples of tests/core/strategies.py for `layout`, the same on every run."""
    drawn: list[str] = []

    @settings(
        database=None,
        derandomize=True,
        max_examples=count,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(valid_record(layout))
    def collect(raw: str) -> None:
        drawn.append(raw)

    collect()
    return drawn


_HAND_TEMPLATES = {"A": hand.A_OUTPUT, "B": hand.B_MS} | {
    name: raw for name, raw in hand.ALL.items() if name in LAYOUTS_BY_TYPE
}
_ALPHABETS = {
    Cls.A: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    Cls.N: "0123456789",
    Cls.AN: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    Cls.X: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
}


def _new_text(f: Field, old: str, rng: random.Random) -> str:
    """A new valid value for field `f`, filled where the template `old` is filled."""
    if f.kind is Kind.AMOUNT:
        return f"{rng.randrange(10 ** rng.randint(2, 9)):0{f.width}d}"
    if f.kind is Kind.DATE:
        return date(2026, rng.randint(10, 11), rng.randint(1, 28)).strftime("%m%d%y")
    if f.kind is Kind.INT or f.values is not None:
        return old  # sequence numbers, counts and coded values stay as the template has them
    length = len(old.rstrip(" "))
    return "".join(rng.choices(_ALPHABETS[f.cls], k=length)).ljust(f.width)


def hand_pool(layout: Layout, count: int, seed: int = 2026) -> list[str]:
    """`count` variations of the hand-built record of `layout`: every filled field refilled."""
    rng = random.Random(f"{seed}-{layout.record_type}")
    template = _HAND_TEMPLATES[layout.record_type]
    pool: list[str] = []
    for _ in range(count):
        chars = list(template)
        for f in layout.fields:
            old = template[f.start - 1 : f.end]
            if f.kind not in (Kind.CONST, Kind.FILLER) and old.strip(" "):
                chars[f.start - 1 : f.end] = _new_text(f, old, rng)
        raw = "".join(chars)
        parse_record(raw)  # raises if the variation is not valid
        pool.append(raw)
    return pool


def record_mix(count: int, pool_size: int, source: str) -> list[bytes]:
    """`count` records in statement order, each type cycling through its pool."""
    make_pool = drawn_pool if source == "strategies" else hand_pool
    types = statement_types()
    pools: dict[str, Iterator[str]] = {
        t: cycle(make_pool(LAYOUTS_BY_TYPE[t], pool_size)) for t in dict.fromkeys(types)
    }
    return [next(pools[t]).encode("ascii") for t in islice(cycle(types), count)]


# ---- the naive baseline -----------------------------------------------------------------------


def naive_parser(layouts: Sequence[Layout]) -> Callable[[str], dict[str, str]]:
    """Slice every field of the record's layout into a dict: no conversion, no validation."""
    plans: dict[str, list[tuple[str, slice]]] = {
        layout.identifier: [
            (f"{f.name}@{f.positions}", slice(f.start - 1, f.end)) for f in layout.fields
        ]
        for layout in layouts
    }

    def parse(s: str) -> dict[str, str]:
        fields = plans.get(s[:2]) or plans[s[:1]]
        return {name: s[sl] for name, sl in fields}

    return parse


# ---- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    name: str
    records: int
    best_per_s: float
    median_per_s: float
    vs_baseline: float = 0.0  # best rate / best baseline rate


def measure(name: str, fn: Callable[[Any], object], items: Sequence[Any], repeat: int) -> Result:
    """Run `fn` over `items` once untimed, then `repeat` times timed, GC off."""

    def once() -> float:
        start = time.perf_counter()
        for item in items:
            fn(item)
        return time.perf_counter() - start

    once()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        times = [once() for _ in range(repeat)]
    finally:
        if was_enabled:
            gc.enable()
    n = len(items)
    return Result(name, n, n / min(times), n / statistics.median(times))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def run(count: int, repeat: int, pool_size: int, source: str) -> dict[str, Any]:
    mix = record_mix(count, pool_size, source)
    texts = [b.decode("ascii") for b in mix]
    parsed = [parse_record(b) for b in mix]
    results = [
        measure("baseline: slice to dict (str)", naive_parser(LAYOUTS), texts, repeat),
        measure("parse_record(bytes)", parse_record, mix, repeat),
        measure("parse_record(str)", parse_record, texts, repeat),
        measure("encode_record", encode_record, parsed, repeat),
    ]
    for record_type in PER_TYPE:
        alone = [b for b in mix if b.startswith(record_type.encode("ascii"))]
        results.append(
            measure(f"parse_record(bytes), {record_type} only", parse_record, alone, repeat)
        )
    base = results[0].best_per_s
    results = [
        Result(r.name, r.records, r.best_per_s, r.median_per_s, r.best_per_s / base)
        for r in results
    ]
    counts: dict[str, int] = {}
    for raw in texts:
        key = raw[:2] if raw[0] == "Q" else raw[0]
        counts[key] = counts.get(key, 0) + 1
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu": cpu_model(),
        "records": count,
        "repeat": repeat,
        "source": source,
        "pool": pool_size,
        "mix": counts,
        "results": [asdict(r) for r in results],
    }


def table(report: dict[str, Any]) -> str:
    mix = ", ".join(f"{t} {n}" for t, n in sorted(report["mix"].items()))
    lines = [
        f"Python {report['python']} ({report['implementation']}), CPU: {report['cpu']}",
        f"{report['records']} records, best and median of {report['repeat']}, "
        f"source {report['source']} (pool {report['pool']} per type)",
        f"mix: {mix}",
        "",
        f"{'benchmark':<36} {'records':>8} {'best rec/s':>12} {'median rec/s':>13} "
        f"{'us/rec':>7} {'x baseline':>10}",
    ]
    for r in report["results"]:
        lines.append(
            f"{r['name']:<36} {r['records']:>8} {r['best_per_s']:>12,.0f} "
            f"{r['median_per_s']:>13,.0f} {1e6 / r['best_per_s']:>7.2f} {r['vs_baseline']:>10.2f}"
        )
    return "\n".join(lines)


def _pinned() -> set[int] | None:
    """Pin this process to one CPU; return the CPUs it had, to restore, or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    return before


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000, help="records in the mix")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--pool", type=int, default=64, help="distinct records per type")
    parser.add_argument("--source", choices=SOURCES, default="strategies")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.records < 1 or args.repeat < 1 or args.pool < 1:
        parser.error("--records, --repeat and --pool must be at least 1")
    before = _pinned()
    try:
        report = run(args.records, args.repeat, args.pool, args.source)
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
