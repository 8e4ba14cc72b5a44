"""The command line as an operator meets it (issue 16): closed pipes end quietly for every
command that writes to stdout, progress lines only on a terminal, tail's JSON wrapper, and the
redrive plan's grouping and selection (the Kafka side: tests/integration/test_operability.py)."""

from __future__ import annotations

import argparse
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pms_stream.commands import progress, redrive, tail
from pms_stream.commands.kafka_access import KafkaCommandError, run_command

EXE = str(Path(sys.executable).with_name("pms-stream"))


def piped_to_head(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    """`pms-stream ARGS | head -c 100`, the reader gone before the writer is done."""
    writer = subprocess.Popen([EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert writer.stdout is not None
    writer.stdout.read(100)
    writer.stdout.close()
    _, err = writer.communicate(timeout=120)
    return subprocess.CompletedProcess(args, writer.returncode, b"", err)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pipe") / "records.txt"
    subprocess.run(
        [EXE, "generate", "--statements", "3000", "--seed", "2", "-o", str(path), "--quiet"],
        check=True,
    )
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "--statements", "20000", "--seed", "3"],
        ["parse", "{records}"],
        ["report", "{records}"],
        ["schema"],
    ],
)
def test_a_closed_pipe_ends_quietly(command: list[str], records: Path, tmp_path: Path) -> None:
    args = [a.format(records=records) for a in command]
    done = piped_to_head(*args, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"Broken pipe" not in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    "command", [["generate", "--statements", "3000", "-o", "{out}"], ["report", "{records}"]]
)
def test_no_progress_line_when_stderr_is_not_a_terminal(
    command: list[str], records: Path, tmp_path: Path
) -> None:
    args = [a.format(records=records, out=tmp_path / "o.txt") for a in command]
    done = subprocess.run([EXE, *args], capture_output=True, check=True)
    assert b"\r" not in done.stderr


def test_a_progress_line_on_a_terminal() -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [EXE, "generate", "--records", "400000", "--seed", "4", "-o", os.devnull],
            stderr=follower,
            check=True,
            timeout=120,
        )
        assert done.returncode == 0
        shown = os.read(leader, 65536)
    finally:
        os.close(leader)
        os.close(follower)
    assert b"\r" in shown
    assert b"records," in shown


def test_progress_writes_nothing_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    bar = progress.Progress(interval=0)
    bar.update("1 of 2")
    bar.done()
    assert err.getvalue() == "\r1 of 2\n"
    off = io.StringIO()
    monkeypatch.setattr(sys, "stderr", off)
    quiet = progress.Progress(interval=0)
    quiet.update("1 of 2")
    quiet.done()
    assert off.getvalue() == ""


def message(value: bytes | None, **extra: object) -> SimpleNamespace:
    base = {"topic": "t", "partition": 1, "offset": 7, "key": b"B76", "headers": []}
    return SimpleNamespace(value=value, **{**base, **extra})


def test_tail_passes_json_objects_and_wraps_everything_else() -> None:
    assert tail.as_json_line(message(b'{"type":"statement"}')) == b'{"type":"statement"}'
    block = b"A  2704B76\nQX" + bytes([0xE9])
    wrapped = json.loads(tail.as_json_line(message(block, headers=[("pms-type", b"x")])))
    assert wrapped == {
        "type": "raw",
        "topic": "t",
        "partition": 1,
        "offset": 7,
        "key": "B76",
        "text": block.decode("latin-1"),
        "headers": {"pms-type": "x"},
    }
    assert wrapped["text"].encode("latin-1") == block
    for odd in (b"[1, 2]", b"{not json", b"", None, b'{"a":\n1}'):
        line = tail.as_json_line(message(odd))
        assert b"\n" not in line
        assert isinstance(json.loads(line), dict)


def letter(
    offset: int, first: int, last: int, key: bytes | None = b"K", **event: object
) -> redrive.DeadLetter:
    doc = {
        "type": "rejected",
        "kind": "record",
        "reason": "record of a statement rejected (max_records_per_statement)",
        "raw": "Q1" + " " * 78,
        "source": {"topic": "in", "partition": 0, "first_offset": first, "last_offset": last},
        **event,
    }
    return redrive.DeadLetter(0, offset, 1_700_000_000_000, key, doc, f"rj:0:{offset}")


def test_redrive_groups_the_records_of_one_input_message() -> None:
    letters = [
        letter(0, 0, 5, kind="statement"),
        letter(1, 6, 6),
        letter(2, 6, 6),
        letter(3, 7, 7),
        letter(4, 7, 7, key=b"other"),
    ]
    groups = redrive.messages_of(letters)
    assert [[d.offset for d in g] for g in groups] == [[0], [1, 2], [3], [4]]


def test_redrive_refuses_what_is_not_input() -> None:
    assert letter(0, 0, 0).problem() is None
    assert "max_statement_bytes" in str(letter(0, 0, 0, raw='{"type":"statement"}').problem())
    assert "whole message" in str(letter(0, 0, 0, kind="message").problem())
    assert "offline" in str(letter(0, 0, 0, source={"file": "x"}).problem())
    part = letter(0, 0, 0)
    part = redrive.DeadLetter(0, 0, 0, b"K", part.event, "rj:0:0", (("pms-chunk", b"1/2"),))
    assert "in parts" in str(part.problem())


def test_redrive_selection() -> None:
    parser = argparse.ArgumentParser()
    redrive.add_arguments(parser)
    d = letter(9, 10, 20)
    assert redrive._selected(parser.parse_args(["--reason", "MAX_RECORDS"]), d)
    assert not redrive._selected(parser.parse_args(["--reason", "tombstone"]), d)
    assert redrive._selected(parser.parse_args(["--offsets", "20-30"]), d)
    assert not redrive._selected(parser.parse_args(["--offsets", "21-30"]), d)
    assert redrive._selected(parser.parse_args(["--source-partition", "0", "--key", "K"]), d)
    assert not redrive._selected(parser.parse_args(["--key", "L"]), d)
    assert redrive._selected(parser.parse_args(["--since", "2023-11-14"]), d)
    assert not redrive._selected(parser.parse_args(["--until", "2023-11-14"]), d)


def test_a_kafka_command_error_is_one_line_and_its_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def fail() -> int:
        raise KafkaCommandError("no answer from Kafka at h:1 within 15 s", 3)

    assert run_command("tail", fail()) == 3
    assert capsys.readouterr().err == "pms-stream tail: no answer from Kafka at h:1 within 15 s\n"


def test_kafka_errors_map_to_their_exit_status() -> None:
    from aiokafka.errors import (
        GroupAuthorizationFailedError,
        KafkaConnectionError,
        SaslAuthenticationFailed,
        TopicAuthorizationFailedError,
        UnknownTopicOrPartitionError,
    )

    from pms_stream.commands.kafka_access import _classify
    from pms_stream.service.config import load_settings

    settings = load_settings(env={})
    cases = {
        TopicAuthorizationFailedError(): (6, "not authorized"),
        GroupAuthorizationFailedError(): (6, "not authorized"),
        SaslAuthenticationFailed(): (5, "authentication"),
        UnknownTopicOrPartitionError(): (4, "does not exist"),
        KafkaConnectionError(): (3, "cannot connect"),
        TimeoutError(): (3, "did not answer"),
        OSError("x"): (1, "failed"),
    }
    for exc, (code, text) in cases.items():
        error = _classify(exc, settings, "pms.statements")
        assert error.code == code, exc
        assert text in str(error), exc
        assert "\n" not in str(error)
