"""Parse a file of CATAIR records and write one JSON event per line to stdout.

Events: "statement", "reroute_request", "reroute_ack", and "rejected" (a record, a framing
fragment or an incomplete statement that could not be accepted, with the reason, record type,
field, positions, raw text and source line). Input may be block-framed (A B ... Y Z) or bare Q
records, with LF or CRLF line ends or none (concatenated 80-byte records). Memory does not grow
with the number of statements.

exit status: 0, or 1 with --strict when anything was rejected; 2 for usage errors.

examples:
  pms-stream parse statements.txt > events.jsonl
  pms-stream parse --strict - < statements.txt
  pms-stream parse statements.txt | jq 'select(.type == "statement") | .statement_number'
"""

from __future__ import annotations

import argparse
import sys
from typing import BinaryIO

import msgspec

from pms_stream.commands.progress import Progress
from pms_stream.framing import Run, RunFramer
from pms_stream.statements.assembler import Assembler, Origin
from pms_stream.statements.fastfeed import BlockShortcut
from pms_stream.statements.model import Event, RejectedEvent

NAME = "parse"
HELP = "parse a records file into JSON lines (statements, reroutes, rejects)"
CHUNK = 1 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE|-", help="records file, or - for standard input")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any input was rejected")
    parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")


def parse_stream(
    stream: BinaryIO, name: str | None, out: BinaryIO, progress: bool = False, fast: bool = True
) -> int:
    """Parse `stream` and write JSON lines to `out`; returns the number of rejected events.

    `fast=False` leaves every record to the assembler (the precise path the fast one is held
    to, docs/performance.md); the output is the same."""
    encoder = msgspec.json.Encoder()
    assembler = Assembler(file=name)
    shortcut = BlockShortcut(assembler, name, enabled=fast)
    framer = RunFramer()
    buf = bytearray()
    counts = {"records": 0, "statements": 0, "rejected": 0}
    bar = Progress(progress)

    def write(event: Event) -> None:
        encoder.encode_into(event, buf, len(buf))
        buf.extend(b"\n")
        if isinstance(event, RejectedEvent):
            counts["rejected"] += 1
        elif event.__struct_config__.tag == "statement":
            counts["statements"] += 1

    while True:
        chunk = stream.read(CHUNK)
        if fast:
            got = framer.feed_run(chunk) if chunk else framer.close()
            if isinstance(got, Run):
                done_list, records = shortcut.feed_run(got), got.records
            else:
                done_list, records = shortcut.feed(got), len(got)
            for done in done_list:
                if isinstance(done, bytes):  # a statement's JSON line, by the fast path
                    buf += done
                    counts["statements"] += 1
                else:
                    write(done)
        else:  # the precise path alone, exactly as before the fast path
            pieces = framer.feed(chunk) if chunk else framer.close()
            records = len(pieces)
            for piece in pieces:
                origin = Origin(piece.line, piece.record)
                if piece.problem is None:
                    events = assembler.feed(piece.raw, origin)
                else:
                    events = assembler.feed_fragment(piece.raw, origin, piece.problem)
                for event in events:
                    write(event)
        counts["records"] += records
        if len(buf) >= CHUNK or not chunk:
            out.write(buf)
            buf.clear()
        bar.update(
            f"{counts['records']:,} records, {counts['statements']:,} statements, "
            f"{counts['rejected']:,} rejected"
        )
        if not chunk:
            break
    for event in shortcut.flush():
        write(event)
    out.write(buf)
    out.flush()
    bar.done()
    return counts["rejected"]


def run(args: argparse.Namespace) -> int:
    if args.file == "-":
        rejected = parse_stream(sys.stdin.buffer, "-", sys.stdout.buffer, not args.quiet)
    else:
        try:
            stream = open(args.file, "rb")  # noqa: SIM115 - closed below; only open() is guarded
        except OSError as exc:
            sys.stderr.write(f"pms-stream parse: cannot read {args.file}: {exc.strerror}\n")
            return 2
        with stream:
            rejected = parse_stream(stream, args.file, sys.stdout.buffer, not args.quiet)
    return 1 if args.strict and rejected else 0
