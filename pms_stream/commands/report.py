"""Print the chapter's reports (Figures 1-4) for each statement: 132-column text, 54-line pages.

Reports: detail (one line per daily statement) and preliminary totals for a preliminary
statement; detail and final totals (preliminary, final, DIFERENCE) for a final one; entry
summaries deleted when the statement lists any. --report picks some of them (repeatable).
Every page repeats the header and is numbered (PAGE: per report); each page after the first
starts with a form feed (\\f) and every page has 54 lines of exactly 132 characters.

Input is a records file (parsed as `pms-stream parse` does; rejected input is not reported but
counted on stderr) or the JSON lines `pms-stream parse` writes (only "statement" events are
used). By default the first non-blank byte decides: `{` means JSON lines.

The "Statement For" name comes from --names: CSV lines `key,name` or a JSON object
{"key": "name"}, keyed by filer code (broker statements, payment type 6) or importer number
(importer statements, payment types 7 and 8). A key without a name prints as itself.

exit status: 0; 1 when a JSON line could not be read as an event (the rest is still printed);
2 for usage errors and unreadable files.

examples:
  pms-stream report statements.txt > reports.txt
  pms-stream report --names brokers.csv --report final -o final.txt statements.txt
  pms-stream parse statements.txt | pms-stream report --report deleted -
  pms-stream report --input json --names names.json events.jsonl > reports.txt
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

import msgspec

from pms_stream.commands.parse import parse_stream
from pms_stream.commands.progress import Progress
from pms_stream.reports.layout import PAGE_SEPARATOR
from pms_stream.reports.render import REPORT_KINDS, Names, ReportKind, render_statement
from pms_stream.statements.model import Event, RejectedEvent, Statement

if TYPE_CHECKING:
    from _typeshed import OpenBinaryMode, ReadableBuffer, WriteableBuffer

NAME = "report"
HELP = "print the chapter's statement reports (detail, preliminary, final, deleted)"
CHUNK = 1 << 16


class UsageError(Exception):
    """A problem with the command line or its files: exit status 2."""


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE|- and --input (also used by `pms-stream forecast`)."""
    parser.add_argument(
        "file", metavar="FILE|-", help="records or JSON lines, or - for standard input"
    )
    parser.add_argument(
        "--input",
        choices=("auto", "records", "json"),
        default="auto",
        help="what FILE holds (default auto: JSON lines when it starts with '{')",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument(
        "--names",
        metavar="NAMES_FILE",
        help="'Statement For' names: CSV key,name lines or a JSON object (key: filer code or "
        "importer number)",
    )
    parser.add_argument(
        "--report",
        action="append",
        choices=(*REPORT_KINDS, "all"),
        help="which reports to print (repeatable; default all that apply to each statement)",
    )
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")


# ---- names ------------------------------------------------------------------------------------


def load_names(data: bytes, where: str) -> dict[str, str]:
    """The names file: a JSON object of strings, or CSV `key,name` rows (blank lines and lines
    starting with # skipped; a name with commas is quoted, CSV-style). Keys and names are
    stripped of surrounding spaces."""
    text = data.decode("utf-8-sig")
    if text.lstrip().startswith("{"):
        try:
            names = msgspec.json.decode(text, type=dict[str, str])
        except msgspec.ValidationError as exc:
            raise UsageError(f"{where}: not a JSON object of names: {exc}") from None
        except msgspec.DecodeError as exc:
            raise UsageError(f"{where}: not valid JSON: {exc}") from None
        return {key.strip(): name.strip() for key, name in names.items()}
    names = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 2:
            raise UsageError(
                f"{where} line {number}: expected key,name (quote a name that has commas)"
            )
        names[row[0].strip()] = row[1].strip()
    return names


# ---- input ------------------------------------------------------------------------------------


class _Replay(io.RawIOBase):
    """The bytes already read to detect the input's kind, then the rest of the stream."""

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            data, self._head = self._head[: len(view)], self._head[len(view) :]
        else:
            data = self._tail.read(len(view))
        view[: len(data)] = data
        return len(data)


def _detect(stream: BinaryIO) -> tuple[str, BinaryIO]:
    """Whether `stream` holds JSON lines or records (by its first non-blank byte), and a stream
    that reads it from the start."""
    head = b""
    while True:
        chunk = stream.read(CHUNK)
        head += chunk
        text = head.lstrip()
        if text or not chunk:
            kind = "json" if text.startswith(b"{") else "records"
            return kind, io.BufferedReader(_Replay(head, stream))


class _JsonLines(io.BytesIO):
    """A binary sink for JSON lines: each complete line is handed on (with its number) as it
    arrives. `parse_stream` writes into it, so statements are printed as they are assembled.
    (A BytesIO only to be a BinaryIO; nothing is kept in its buffer.)"""

    def __init__(self, handle: Callable[[int, bytes], None]) -> None:
        super().__init__()
        self._handle = handle
        self._rest = b""
        self._line = 0

    def write(self, data: ReadableBuffer) -> int:
        chunk = bytes(data)
        lines = (self._rest + chunk).split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            self._line += 1
            self._handle(self._line, line)
        return len(chunk)

    def close(self) -> None:
        if self._rest:
            self._line += 1
            self._handle(self._line, self._rest)
            self._rest = b""
        super().close()


class _Printer:
    """Decodes events, prints the reports of each statement and counts what it saw."""

    def __init__(self, out: BinaryIO, names: Names, selected: tuple[ReportKind, ...]) -> None:
        self.out = out
        self.names = names
        self.selected = selected
        self.decoder = msgspec.json.Decoder(Event)
        self.statements = 0
        self.reports = 0
        self.pages = 0
        self.other = 0
        self.rejected = 0
        self.unreadable = 0
        self.progress = Progress()  # on a terminal only

    def line(self, number: int, data: bytes) -> None:
        if not data.strip():
            return
        try:
            event = self.decoder.decode(data)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            self.unreadable += 1
            sys.stderr.write(f"pms-stream report: line {number}: not an event: {exc}\n")
            return
        if isinstance(event, Statement):
            self.statement(event)
        elif isinstance(event, RejectedEvent):
            self.rejected += 1
        else:
            self.other += 1

    def statement(self, statement: Statement) -> None:
        self.statements += 1
        for _kind, pages in render_statement(statement, self.names, self.selected):
            self.reports += 1
            for page in pages:
                text = "\n".join(page) + "\n"
                if self.pages:
                    text = PAGE_SEPARATOR + text
                self.out.write(text.encode("utf-8"))
                self.pages += 1
        self.progress.update(f"{self.statements:,} statements, {self.pages:,} pages")

    def summary(self) -> str:
        return (
            f"pms-stream report: {self.statements:,} statement(s), {self.reports:,} report(s), "
            f"{self.pages:,} page(s); {self.rejected:,} rejected input(s) ignored"
            + (f"; {self.unreadable:,} unreadable line(s)" if self.unreadable else "")
            + "\n"
        )


def report_stream(
    stream: BinaryIO,
    name: str,
    out: BinaryIO,
    *,
    kind: str = "auto",
    names: Names | None = None,
    selected: tuple[ReportKind, ...] = REPORT_KINDS,
) -> _Printer:
    """Print the reports of every statement in `stream` to `out`; returns the counts.

    `kind` is "records", "json" or "auto"; `name` names the input in rejected events."""
    printer = _Printer(out, names or {}, selected)
    if kind == "auto":
        kind, stream = _detect(stream)
    if kind == "json":
        for number, line in enumerate(stream, 1):
            printer.line(number, line)
    else:
        with _JsonLines(printer.line) as sink:
            parse_stream(stream, name, sink)
    out.flush()
    printer.progress.done()
    return printer


def _selected(choices: list[str] | None) -> tuple[ReportKind, ...]:
    if not choices or "all" in choices:
        return REPORT_KINDS
    return tuple(kind for kind in REPORT_KINDS if kind in choices)


def _open(stack: contextlib.ExitStack[bool | None], path: str, mode: OpenBinaryMode) -> BinaryIO:
    try:
        stream: BinaryIO = stack.enter_context(open(path, mode))  # noqa: SIM115
    except OSError as exc:
        doing = "read" if "r" in mode else "write"
        raise UsageError(f"cannot {doing} {path}: {exc.strerror}") from None
    return stream


def run(args: argparse.Namespace) -> int:
    try:
        with contextlib.ExitStack() as stack:
            names: Names = {}
            if args.names:
                names = load_names(_open(stack, args.names, "rb").read(), args.names)
            stream = sys.stdin.buffer if args.file == "-" else _open(stack, args.file, "rb")
            out = _open(stack, args.output, "wb") if args.output else sys.stdout.buffer
            printer = report_stream(
                stream,
                args.file,
                out,
                kind=args.input,
                names=names,
                selected=_selected(args.report),
            )
    except UsageError as exc:
        sys.stderr.write(f"pms-stream report: {exc}\n")
        return 2
    sys.stderr.write(printer.summary())
    return 1 if printer.unreadable else 0
