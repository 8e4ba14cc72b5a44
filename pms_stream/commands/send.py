"""Send a records file to the input topic: for demos, tests, and replaying files into Kafka.

Records are grouped into messages of up to --pack records (1: one record per message), joined
by newlines, or concatenated with --concatenate. A message never mixes two stream keys: with
--key-by filer (the default) each transmission or bare statement run is keyed by its filer code
(from the A, B or Q1/Q3 record), so it stays in order on one partition; --key-by none sends
every message without a key to one partition (--partition, default 0). Bad lines are sent as
they are: the service rejects them.

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
from typing import BinaryIO

from pms_stream.errors import ConfigError
from pms_stream.packing import messages
from pms_stream.service import config

NAME = "send"
HELP = "send a records file to the input topic"


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


async def send(args: argparse.Namespace, settings: config.Settings, stream: BinaryIO) -> int:
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415 - offline commands skip aiokafka

    producer = AIOKafkaProducer(
        **config.kafka_client_options(settings),
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_request_size=settings.max_message_bytes * 2,
    )
    await producer.start()
    sent = 0
    try:
        futures = []
        for key, value in messages(stream, max(args.pack, 1), args.key_by, args.concatenate):
            partition = None if key is not None else args.partition
            futures.append(
                await producer.send(settings.input_topic, value, key=key, partition=partition)
            )
            sent += 1
            if len(futures) >= 1000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    sys.stderr.write(f"sent {sent} messages to {settings.input_topic}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        settings = config.settings_from_args(args, os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"pms-stream send: {exc}\n")
        return 2
    if args.file == "-":
        return asyncio.run(send(args, settings, sys.stdin.buffer))
    try:
        stream = open(args.file, "rb")  # noqa: SIM115 - closed below; only open() is guarded
    except OSError as exc:
        sys.stderr.write(f"pms-stream send: cannot read {args.file}: {exc.strerror}\n")
        return 2
    with stream:
        return asyncio.run(send(args, settings, stream))
