"""`pms-stream parse` and `pms-stream schema` end to end on files (no Kafka)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pms_stream.cli import main
from pms_stream.commands.parse import parse_stream
from tests.core import statements_by_hand as sh


def _parse(data: bytes) -> list[dict[str, object]]:
    out = io.BytesIO()
    parse_stream(io.BytesIO(data), "in.txt", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _numbers(events: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (
            e["type"],
            e.get("statement_number"),
            e.get("status"),
            json.dumps(
                {
                    k: e[k]
                    for k in (
                        "daily_statements",
                        "preliminary_totals",
                        "final_totals",
                        "difference",
                        "deleted_entries",
                    )
                }
            ),
        )
        for e in events
    ]


@pytest.mark.parametrize("records", [sh.TRANSMISSION, sh.BARE], ids=["block", "bare"])
def test_lf_crlf_and_concatenated_give_the_same_statements(records: list[str]) -> None:
    lf = _parse("\n".join(records).encode() + b"\n")
    crlf = _parse("\r\n".join(records).encode() + b"\r\n")
    glued = _parse("".join(records).encode())
    assert [e["type"] for e in lf] == ["statement", "statement"]
    assert _numbers(lf) == _numbers(crlf) == _numbers(glued)
    assert lf[0]["source"] != glued[0]["source"]  # lines vs record numbers


def test_expected_json_through_the_cli(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = tmp_path / "hand.txt"
    path.write_text("\n".join(sh.TRANSMISSION) + "\n")
    assert main(["parse", str(path)]) == 0
    lines = capsysbinary.readouterr().out.splitlines()
    first = json.loads(lines[0])
    expected = dict(sh.EXPECTED_PRELIMINARY)
    expected["source"] = {"file": str(path), "first_line": 2, "last_line": 12}
    assert first == expected


def test_strict_exit_status_and_rejected_event(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("\n".join([*sh.TRANSMISSION, "Q9" + " " * 78, "short"]) + "\n")
    assert main(["parse", str(path)]) == 0
    assert main(["parse", "--strict", str(path)]) == 1
    out = capsysbinary.readouterr().out.splitlines()
    rejected = [json.loads(line) for line in out if b'"rejected"' in line][:2]
    assert rejected[0]["reason"].startswith("unknown record type '9'")
    assert rejected[0]["positions"] == "2"
    assert rejected[0]["raw"] == "Q9" + " " * 78
    assert rejected[0]["source"]["first_line"] == len(sh.TRANSMISSION) + 1
    assert rejected[1]["kind"] == "framing"


def test_a_statement_of_totals_alone_is_a_rejected_line_of_parse(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """The chapter: "Record Identifiers Q1, Q2, and QA are mandatory detail payment records".
    `pms-stream parse` prints a totals-only block as one `rejected` line with its raw records,
    no statement, and the statement after it as usual; --strict exits 1."""
    totals = [sh.b("P"), *sh.PRELIMINARY_TOTALS, sh.y(3)]
    path = tmp_path / "totals.txt"
    path.write_text("\n".join([sh.A, *totals, *sh.FINAL_BLOCK, sh.Z]) + "\n")
    assert main(["parse", "--strict", str(path)]) == 1
    events = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert [(e["type"], e.get("status")) for e in events] == [
        ("rejected", None),
        ("statement", "final"),
    ]
    assert events[0]["kind"] == "statement"
    assert events[0]["raw"].split("\n") == totals
    assert events[0]["source"] == {"file": str(path), "first_line": 2, "last_line": 6}


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "/nonexistent/file"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_schema_is_json_schema(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsysbinary.readouterr().out)
    statement = schema["$defs"]["Statement"]
    for name in (
        "type",
        "schema_version",
        "statement_number",
        "status",
        "payment_type",
        "filer_code",
        "importer_number",
        "client_branch",
        "district_port",
        "print_date",
        "due_date",
        "process_date",
        "daily_statements",
        "preliminary_totals",
        "final_totals",
        "difference",
        "deleted_entries",
        "checks",
        "source",
    ):
        assert name in statement["properties"], name


def test_console_script_version_and_stdin() -> None:
    exe = Path(sys.executable).with_name("pms-stream")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("pms-stream ")
    done = subprocess.run(
        [exe, "parse", "-"], input="\n".join(sh.BARE).encode(), capture_output=True, check=True
    )
    assert len(done.stdout.splitlines()) == 2


def test_broken_pipe_is_not_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    path.write_text("\n".join(sh.TRANSMISSION * 300) + "\n")
    exe = Path(sys.executable).with_name("pms-stream")
    done = subprocess.run(
        f"'{exe}' parse --quiet '{path}' | head -c 100 > /dev/null",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "cannot read" not in done.stderr
