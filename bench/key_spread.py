"""How evenly `pms-stream send`'s keys spread records over input partitions (no broker needed).

    .venv/bin/python bench/key_spread.py [--records N] [--seeds 1,2,3] [--partitions 3,6,12]
        [--key-by filer,transmission]

Generated data (block framing, as bench_pipeline.py sends it) is cut into messages by
`pms_stream.packing.messages` (pack 1, keyed as `send` keys them: `filer`, today's default, or
`transmission`, filer and transmission date) and each key is placed as
Kafka's default partitioner places it (murmur2 of the key, the Java client's and aiokafka's
`DefaultPartitioner`). Printed per partition count: the distinct keys, each partition's share of
the records, and the skew = the largest partition's records / the mean (1.00 is even; with two
instances on N partitions the slower one has about skew x its fair share). "best" is the skew of
the best possible placement of the same keys (largest first onto the emptiest partition): what
any hash could reach without changing the keys. "2 inst": the larger half / the mean half when
two instances share the partitions (the service's round-robin assignor, one input topic:
the even partitions and the odd ones).
No goal in the issue: printed to explain scale-out, not judged.

Flow: generator -> packing -> (this) partitioner arithmetic. Pure: no Kafka here.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root holds pms_stream
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka.partitioner import murmur2

from bench.bench_parse import git_state
from pms_stream.generator import GenerateOptions, generate
from pms_stream.packing import messages


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner for a keyed message (murmur2, positive, modulo)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def records_per_key(records: int, seed: int, key_by: str) -> Counter[bytes]:
    generated = generate(GenerateOptions(records=records, seed=seed, framing="block"))
    buf = io.BytesIO()
    generated.write(buf)
    buf.seek(0)
    per_key: Counter[bytes] = Counter()
    for key, value in messages(buf, 1, key_by, concatenate=False):
        per_key[key or b""] += (len(value) + 1) // 81
    return per_key


def spread(per_key: Counter[bytes], partitions: int) -> dict[str, Any]:
    loads = [0] * partitions
    for key, n in per_key.items():
        loads[partition_of(key, partitions)] += n
    best = [0] * partitions
    for n in sorted(per_key.values(), reverse=True):
        best[best.index(min(best))] += n
    total = sum(loads)
    mean = total / partitions
    return {
        "partitions": partitions,
        "keys": len(per_key),
        "shares": [n / total for n in loads],
        "skew": max(loads) / mean,
        "best_skew": max(best) / mean,
        "two_instances": max(sum(loads[0::2]), sum(loads[1::2])) / (total / 2),
        "largest_key_share": max(per_key.values()) / total,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--partitions", default="3,6,12")
    parser.add_argument("--key-by", default="filer,transmission")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for key_by in (k for k in args.key_by.split(",") if k):
        for seed in (int(s) for s in args.seeds.split(",") if s):
            per_key = records_per_key(args.records, seed, key_by)
            for n in (int(p) for p in args.partitions.split(",") if p):
                row = {"key_by": key_by, "seed": seed, "records": sum(per_key.values())}
                rows.append({**row, **spread(per_key, n)})
    if args.json:
        print(json.dumps({"git": git_state(), "rows": rows}, indent=2))
        return 0
    print(f"key spread of `pms-stream send` (pack 1, murmur2), pms_stream at {git_state()}")
    print(
        f"{'key by':<12} {'seed':>4} {'records':>8} {'parts':>5} {'keys':>5} {'skew':>5} "
        f"{'best':>5} {'2 inst':>6} {'top key':>7}  shares (%)"
    )
    for r in rows:
        shares = "/".join(f"{s * 100:.0f}" for s in r["shares"])
        print(
            f"{r['key_by']:<12} {r['seed']:>4} {r['records']:>8,} {r['partitions']:>5} "
            f"{r['keys']:>5} {r['skew']:>5.2f} {r['best_skew']:>5.2f} {r['two_instances']:>6.2f} "
            f"{r['largest_key_share'] * 100:>6.1f}%  {shares}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
