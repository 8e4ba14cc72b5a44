"""The soak keeps working: bench/soak.py runs a tiny soak (about 20 s) against the real broker
and writes its CSV and summary, and its PNG when matplotlib is installed. No timing or
boundedness is asserted: only that every file is there, that the columns are sane, and that no
statement was lost or duplicated.

Like every test that needs Kafka it fails, never skips, when no broker can be had. matplotlib is
not a dependency (`make soak` installs it): where it is installed the PNG is checked; where it
is not, that no PNG was claimed and the CSV (checked above it) is the only record of the curves.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import struct
from pathlib import Path

import pytest

from bench import soak


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file (its IHDR chunk); fails on anything else."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    assert data[-8:-4] == b"IEND"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.kafka
def test_soak_writes_csv_and_png_with_sane_columns(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--bootstrap",
        kafka_bootstrap,
        "--minutes",
        "0.2",
        "--rate",
        "1000",
        "--pool-records",
        "4000",
        "--bad",
        "8",
        "--reroutes",
        "4",
        "--sample-s",
        "1",
        "--idle-timeout-s",
        "2",
        "--drain-timeout-s",
        "60",
        "--pause-at-s",
        "4",
        "--pause-s",
        "2",
        "--out",
        str(tmp_path),
        "--json",
    ]
    assert soak.main(argv) == 0
    report = json.loads(capsys.readouterr().out)

    csv_path = Path(report["csv"])
    assert csv_path.parent == tmp_path
    assert csv_path.with_suffix(".json").exists()
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == soak.COLUMNS
        rows = list(reader)
    assert rows[0]["phase"] == "idle"
    assert {r["phase"] for r in rows} == {"idle", "feed", "drain"}
    times = [float(r["t_s"]) for r in rows]
    assert times == sorted(times)
    for row in rows:
        assert float(row["rss_mib"]) > 0
        for column in ("records_fed", "records_done", "messages_fed", "messages_done", "lag"):
            assert int(row[column]) >= 0
        assert int(row["open_statements"]) >= 0
        assert int(row["store_statements"]) >= 0
    # the heap probe inside the service answered (glibc's malloc figures, Python's blocks)
    probed = [r for r in rows if r["phase"] != "idle"]
    assert all(float(r["py_blocks_k"]) > 0 and float(r["gc_objects_k"]) > 0 for r in probed)
    assert all(float(r["heap_mib"]) > 0 for r in probed)
    assert report["pause"] is not None
    assert report["pause"][1] - report["pause"][0] == pytest.approx(2, abs=0.11)
    assert report["heap"] is not None
    fed = [int(r["records_fed"]) for r in rows]
    assert fed == sorted(fed)
    assert fed[-1] == report["records_in"] > 0
    last = rows[-1]
    assert int(last["messages_done"]) == int(last["messages_fed"]) == report["messages_in"]
    assert int(last["lag"]) == 0
    assert int(last["statements_total"]) >= report["statements_seen"] > 0

    assert report["lost"] == 0
    assert report["duplicated"] == 0
    assert report["statements_seen"] == report["statements_expected"]
    assert sum(report["answers"].values()) == report["requests_sent"] > 0
    assert set(report["verdicts"]) == {
        "RSS bounded (peak held)",
        "heap not growing",
        "open state bounded",
        "lag back to 0",
        "no statement lost or duplicated",
    }
    if importlib.util.find_spec("matplotlib") is not None:
        width, height = png_size(Path(report["png"]))
        assert width > 400
        assert height > 400
    else:
        assert report["png"] is None
        assert not list(tmp_path.glob("*.png"))
        assert "no matplotlib" in soak.table(report)
    assert "PASS" in soak.table(report) or "MISS" in soak.table(report)
