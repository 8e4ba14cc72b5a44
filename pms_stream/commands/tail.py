"""Print the events on an output topic as JSON lines, read_committed (what downstream sees).

By default reads the statements topic from the beginning and stops after --idle seconds with
nothing new (0: follow forever). Use --topic for any other topic (rejects, reroute acks,
metrics); the topic names come from the same settings as `pms-stream run`.

examples:
  pms-stream tail
  pms-stream tail --topic pms.rejects --idle 0
  pms-stream tail --count 10 | jq .statement_number
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from pms_stream.errors import ConfigError
from pms_stream.service import config

NAME = "tail"
HELP = "print the events of an output topic"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", help="topic to read (default: the statements topic)")
    parser.add_argument(
        "--idle",
        type=float,
        default=5.0,
        help="stop after this many seconds with nothing new (0: never)",
    )
    parser.add_argument("--count", type=int, default=0, help="stop after this many events")
    parser.add_argument("--keys", action="store_true", help="print 'key<TAB>value'")
    config.add_arguments(parser)


async def tail(args: argparse.Namespace, settings: config.Settings) -> int:
    from aiokafka import AIOKafkaConsumer  # noqa: PLC0415 - offline commands skip aiokafka

    topic = args.topic or settings.statements_topic
    consumer = AIOKafkaConsumer(
        topic,
        **config.kafka_client_options(settings),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 * 1024 * 1024,  # statements of up to 10 MiB and more
    )
    await consumer.start()
    seen = 0
    last = time.monotonic()
    out = sys.stdout.buffer
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for m in messages:
                    if args.keys:
                        out.write((m.key or b"") + b"\t")
                    out.write((m.value or b"") + b"\n")
                    seen += 1
                    last = time.monotonic()
                    if args.count and seen >= args.count:
                        return 0
            out.flush()
            if args.idle and time.monotonic() - last >= args.idle:
                return 0
    finally:
        out.flush()
        await consumer.stop()


def run(args: argparse.Namespace) -> int:
    try:
        settings = config.settings_from_args(args, os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"pms-stream tail: {exc}\n")
        return 2
    return asyncio.run(tail(args, settings))
