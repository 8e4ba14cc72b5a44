"""The codec benchmark keeps working: bench/bench_codec.py runs end to end on a tiny mix.

No timing is asserted; this only guards against the benchmark rotting as the codec changes.
"""

from __future__ import annotations

import json

import pytest

from bench import bench_codec


@pytest.mark.parametrize("source", bench_codec.SOURCES)
def test_bench_runs_and_prints_a_table(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--records", "2000", "--repeat", "1", "--pool", "4", "--source", source]
    assert bench_codec.main(argv) == 0
    out = capsys.readouterr().out
    assert "CPU:" in out
    for name in ("baseline", "parse_record(bytes)", "parse_record(str)", "encode_record"):
        assert name in out
    for record_type in bench_codec.PER_TYPE:
        assert f"{record_type} only" in out


def test_bench_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_codec.main(["--records", "2000", "--repeat", "1", "--pool", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(report["mix"].values()) == 2000
    assert {"Q1", "Q2", "QA", "Q7", "A", "B", "Y", "Z"} <= set(report["mix"])
    assert all(r["best_per_s"] > 0 for r in report["results"])
    assert report["results"][0]["vs_baseline"] == 1.0


def test_mix_is_deterministic() -> None:
    assert bench_codec.record_mix(300, 4, "strategies") == bench_codec.record_mix(
        300, 4, "strategies"
    )
    assert bench_codec.record_mix(300, 4, "hand") == bench_codec.record_mix(300, 4, "hand")
