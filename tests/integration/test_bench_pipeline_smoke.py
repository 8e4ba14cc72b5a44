"""The pipeline benchmark keeps working: bench/bench_pipeline.py runs end to end, tiny, against
the real broker, and returns every figure. No timing is asserted.

Like every test that needs Kafka it fails, never skips, when no broker can be had (the
`kafka_bootstrap` fixture in tests/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_pipeline, peer_quix
from pms_testkit.service_harness import free_port


@pytest.mark.kafka
def test_bench_pipeline_completes_with_every_figure(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--bootstrap",
        kafka_bootstrap,
        "--records",
        "400",
        "--latency-rate",
        "400",
        "--latency-seconds",
        "1",
        "--restore-keys",
        "3",
        "--restore-daily",
        "12",
        "--restore-guarantees",
        "exactly_once",  # at_least_once restores the same way
        "--set",
        "PMS_SESSION_TIMEOUT_MS=6000",  # the broker's minimum: the restart waits for it
        "--timeout",
        "120",
        "--out",
        str(tmp_path),
        "--json",
    ]
    assert bench_pipeline.main(argv) == 0
    report = json.loads(capsys.readouterr().out)

    runs = {(t["kind"], t["pack"], t["guarantee"]) for t in report["throughput"]}
    assert runs == {
        (kind, pack, guarantee)
        for kind in ("passthrough", "pipeline")
        for pack in (1, 100)
        for guarantee in bench_pipeline.GUARANTEES
    }
    for t in report["throughput"]:
        assert t["records"] >= 400
        assert t["records_per_s"] > 0
        assert t["startup_s"] > 0
        if t["kind"] == "pipeline":
            assert t["outputs"] == report["inputs"][0]["statements"]

    assert len(report["latency"]) == 4
    for lat in report["latency"]:
        assert lat["statements"] > 0
        assert 0 <= lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"]

    assert [r["guarantee"] for r in report["restore"]] == ["exactly_once"]
    for r in report["restore"]:
        assert r["open_statements"] == 3
        assert r["statements_after"] == 3  # each statement once after the kill and restore
        assert r["restart_to_ready_s"] > 0
        assert len(r["replay_s"]) == r["restore_histogram"]["count"] == 3

    # The peer rows run with the optional bench extra (quixstreams), else a note says why not.
    if peer_quix.AVAILABLE:
        assert [p["pack"] for p in report["peer"]] == [1, 100]
        assert all(p["identical_to_parse"] and p["records_per_s"] > 0 for p in report["peer"])
    else:
        assert report["peer"] == []
        assert "pip install -e '.[bench]'" in report["peer_note"]
    scale = report["scale_out"]
    assert [(r["instances"], r["partitions"]) for r in scale] == [(1, 6), (2, 6)]
    assert all(r["records_per_s"] > 0 and r["statements"] > 0 for r in scale)

    goals = {g["goal"] for g in report["goals"]}
    # ratios per shape and guarantee; replay, restart; p99 latency (pack 1, exactly_once);
    # pms-stream / peer per shape; scale-out
    assert len(goals) == 2 * 2 + 2 + 2 + 1 + len(report["peer"]) + 1
    assert all(isinstance(g["pass"], bool) for g in report["goals"])
    assert "PASS" in bench_pipeline.table(report) or "MISS" in bench_pipeline.table(report)


def test_bench_pipeline_without_a_broker_says_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    argv = ["--bootstrap", f"127.0.0.1:{port}", "--out", str(tmp_path)]
    assert bench_pipeline.main(argv) == 2
    assert "make broker-up" in capsys.readouterr().err
