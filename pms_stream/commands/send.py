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
from typing import BinaryIO

from pms_stream.commands.progress import Progress
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
        await kafka_access.require_topic(producer.client, settings, topic)
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
