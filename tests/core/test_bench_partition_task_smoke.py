"""The partition task benchmark keeps working: bench/bench_partition_task.py on a tiny input.

No timing is asserted; the benchmark itself fails when its rows' outputs differ."""

from __future__ import annotations

import json

import pytest

from bench import bench_partition_task


def test_bench_partition_task_runs_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--records", "300", "--repeat", "1", "--packs", "1,100", "--before", "", "--json"]
    assert bench_partition_task.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    rows = [(r["pack"], r["name"]) for r in report["rows"]]
    names = ("fast path off", "fast path on", "held from one record")
    assert rows == [(p, n) for p in (1, 100) for n in names]
    assert all(r["best_cpu_us"] > 0 and r["outputs"] > 0 for r in report["rows"])
