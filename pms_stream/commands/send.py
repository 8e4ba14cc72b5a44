"""Send a records file to the input topic: for demos, tests, and replaying files into Kafka.

Records are grouped into messages of up to --pack records (1: one record per message), joined
by newlines, or concatenated with --concatenate. A message never mixes two stream keys: with
--key-by filer (the default) each transmission or bare statement run is keyed by its filer code
(from the A, B or Q1/Q3 record), so it stays in order on one partition; --key-by none sends
every message without a key to one partition (--partition, default 0). Bad lines are sent as
they are: the service rejects them.

A progress line on a terminal (nothing when stderr is not one). Each step against Kafka is
bounded by PMS_COMMAND_TIMEOUT_S (default 10 s): connecting, finding the input topic (it must
exist: `pms-stream run` creates it), each batch of up to 1000 messages.

exit status: 0 sent; 2 bad settings or unreadable file; 3 Kafka not reachable; 4 no such topic;
5 authentication failed; 6 not authorized; 1 other Kafka errors (one line each, no traceback).

examples:
  pms-stream send statements.txt
  pms-stream send statements.txt --pack 1 --input-topic pms.records
  pms-stream generate --statements 100 -o - | pms-stream send - --pack 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

from pms_stream.commands.progress import Progress
from pms_stream.errors import ConfigError
from pms_stream.framing import RecordFramer
from pms_stream.service import config

NAME = "send"
HELP = "send a records file to the input topic"
CHUNK = 1 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE|-", help="records file, or - for standard input")
    parser.add_argument(
        "--pack",
        type=int,
        default=100,
        metavar="N",
        help="records per message (default 100; 1 = one record per message)",
    )
    parser.add_argument(
        "--concatenate", action="store_true", help="join the records of a message without line ends"
    )
    parser.add_argument(
        "--key-by",
        choices=("filer", "none"),
        default="filer",
        help="message key: the filer code of each transmission (default), or none",
    )
    parser.add_argument(
        "--partition", type=int, default=0, help="partition for unkeyed messages (default 0)"
    )
    config.add_arguments(parser)


def _filer_of(raw: bytes) -> bytes | None:
    """The filer code that starts a stream: A (6-8), B (8-10), Q1 (17-19), Q3 (25-27)."""
    if raw[:1] == b"A":
        return raw[5:8].rstrip()
    if raw[:1] == b"B":
        return raw[7:10].rstrip()
    if raw[:2] == b"Q1":
        return raw[16:19].rstrip()
    if raw[:2] == b"Q3":
        return raw[24:27].rstrip()
    return None


def messages(
    stream: BinaryIO, pack: int, key_by: str, concatenate: bool
) -> Iterator[tuple[bytes | None, bytes]]:
    """(key, value) for each message to send, in file order."""
    framer = RecordFramer()
    key: bytes | None = None
    batch: list[bytes] = []
    joiner = b"" if concatenate else b"\n"
    in_block = False
    while True:
        chunk = stream.read(CHUNK)
        for piece in framer.feed(chunk) if chunk else framer.close():
            raw = piece.raw
            if key_by == "filer":
                # A new stream key starts at an A record, a B outside a batch, or a Q1/Q3 that
                # starts a bare run; everything else follows its stream.
                kind = raw[:1]
                starts = kind == b"A" or (kind == b"B" and not in_block)
                if kind == b"A":
                    in_block = True
                elif kind == b"Z":
                    in_block = False
                new = (
                    _filer_of(raw)
                    if starts or (not in_block and raw[:2] in (b"Q1", b"Q3"))
                    else None
                )
                if new and new != key:
                    if batch:
                        yield key, joiner.join(batch)
                        batch = []
                    key = new
            batch.append(raw)
            if len(batch) >= pack:
                yield key, joiner.join(batch)
                batch = []
        if not chunk:
            break
    if batch:
        yield key, joiner.join(batch)


async def send(args: argparse.Namespace, settings: config.Settings, stream: BinaryIO) -> int:
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415 - offline commands skip aiokafka

    from pms_stream.commands import kafka_access  # noqa: PLC0415

    topic = settings.input_topic
    producer = AIOKafkaProducer(
        **config.kafka_client_options(settings, "producer"),
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_request_size=settings.max_message_bytes * 2,
    )
    sent = 0
    bar = Progress()
    async with kafka_access.connected(producer, settings, topic=topic):
        await kafka_access.require_topic(producer.client.fetch_all_metadata, settings, topic)
        futures = []
        for key, value in messages(stream, max(args.pack, 1), args.key_by, args.concatenate):
            partition = None if key is not None else args.partition
            futures.append(await producer.send(topic, value, key=key, partition=partition))
            if len(futures) >= 1000:
                await kafka_access.bounded(asyncio.gather(*futures), settings, "sending")
                sent += len(futures)
                futures.clear()
                bar.update(f"{sent:,} messages sent to {topic}")
        await kafka_access.bounded(asyncio.gather(*futures), settings, "sending")
        sent += len(futures)
    bar.done()
    sys.stderr.write(f"sent {sent} messages to {topic}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        settings = config.settings_from_args(args, os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"pms-stream send: {exc}\n")
        return 2
    from pms_stream.commands import kafka_access  # noqa: PLC0415 - offline commands skip aiokafka

    if args.file == "-":
        return kafka_access.run_command(NAME, send(args, settings, sys.stdin.buffer))
    try:
        stream = open(args.file, "rb")  # noqa: SIM115 - closed below; only open() is guarded
    except OSError as exc:
        sys.stderr.write(f"pms-stream send: cannot read {args.file}: {exc.strerror}\n")
        return 2
    with stream:
        return kafka_access.run_command(NAME, send(args, settings, stream))
