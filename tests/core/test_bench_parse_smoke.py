"""The parse benchmark keeps working: bench/bench_parse.py runs end to end on a tiny file.

No timing is asserted; this only guards against the benchmark rotting as the parser changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_parse


def test_bench_parse_json_has_every_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--records", "300", "--repeat", "1", "--out", str(tmp_path), "--json"]
    assert bench_parse.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["records"] >= 300
    assert report["statements"] > 0
    assert report["generated_s"] is not None
    results = {r["name"]: r for r in report["results"]}
    assert set(results) == {name for name, _, _ in bench_parse.RUNS}
    for r in results.values():
        assert r["records"] == report["records"]
        assert r["best_per_s"] > 0
        assert r["rss_mb"] > 0
    assert results[bench_parse.BASELINE]["vs_baseline"] == 1.0
    assert report["startup_s"] > 0


def test_bench_parse_reuses_its_file_and_prints_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--records", "200", "--repeat", "1", "--out", str(tmp_path)]
    assert bench_parse.main(argv) == 0
    first = capsys.readouterr().out
    assert "generated in" in first
    assert bench_parse.main(argv) == 0
    second = capsys.readouterr().out
    assert "(reused)" in second
    for _, label, _ in bench_parse.RUNS:
        assert label in second
    assert len(list(tmp_path.glob("parse-200-seed1.*"))) == 2  # the file and its record count


def test_null_sink_counts_what_parse_stream_writes() -> None:
    sink = bench_parse.NullSink()
    sink.write(b'{"a":1}\n{"b":2}\n')
    sink.write(bytearray(b"x\n"))
    assert (sink.bytes, sink.lines) == (18, 3)
