"""Print the events on an output topic as JSON lines, read_committed (what downstream sees).

By default reads the statements topic from the beginning and stops after --idle seconds with
nothing new (0: follow forever). Use --topic for any other topic (rejects, reroute acks,
metrics); the topic names come from the same settings as `pms-stream run`.

Every line is one JSON object, whatever the topic holds: a message that is not a JSON object
(the MQ answer blocks on the reroute-acks topic, raw records on the input topic) is wrapped as
{"type": "raw", "topic", "partition", "offset", "key", "text", "headers"}, with its bytes as
Latin-1 text (one character per byte; `text.encode("latin-1")` gives them back). --keys prints
"key<TAB>value" instead (not JSON).

exit status: 0 done; 2 bad settings; 3 Kafka not reachable within PMS_COMMAND_TIMEOUT_S
(default 10 s); 4 no such topic; 5 authentication failed; 6 not authorized; 1 other Kafka errors.

examples:
  pms-stream tail
  pms-stream tail --topic pms.rejects --idle 0
  pms-stream tail --count 10 | jq .statement_number
  pms-stream tail --topic pms.reroute-acks | jq -r 'select(.type == "raw") | .text'
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import msgspec

from pms_stream.commands import kafka_access
from pms_stream.errors import ConfigError
from pms_stream.service import config

NAME = "tail"
HELP = "print the events of an output topic"
_ENCODER = msgspec.json.Encoder()


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


def as_json_line(message: Any) -> bytes:
    """The message's value when it is a JSON object, else the "raw" wrapper (one line)."""
    value: bytes = message.value or b""
    if value[:1] == b"{":
        try:
            if isinstance(msgspec.json.decode(value), dict) and b"\n" not in value:
                return value
        except msgspec.DecodeError:
            pass
    return _ENCODER.encode(
        {
            "type": "raw",
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": None if message.key is None else message.key.decode("latin-1"),
            "text": None if message.value is None else value.decode("latin-1"),
            "headers": {k: v.decode("latin-1") for k, v in message.headers or ()},
        }
    )


async def tail(args: argparse.Namespace, settings: config.Settings) -> int:
    from aiokafka import AIOKafkaConsumer  # noqa: PLC0415 - offline commands skip aiokafka

    topic = args.topic or settings.statements_topic
    consumer = AIOKafkaConsumer(
        **config.kafka_client_options(settings, "consumer"),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 * 1024 * 1024,  # statements of up to 10 MiB and more
    )
    seen = 0
    out = sys.stdout.buffer
    async with kafka_access.connected(consumer, settings, topic=topic):
        # The topic is checked before subscribing: a typo is one line, not a retry per second.
        await kafka_access.require_topic(consumer._client, settings, topic)
        consumer.subscribe([topic])
        last = time.monotonic()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for m in messages:
                        if args.keys:
                            out.write((m.key or b"") + b"\t" + (m.value or b"") + b"\n")
                        else:
                            out.write(as_json_line(m) + b"\n")
                        seen += 1
                        last = time.monotonic()
                        if args.count and seen >= args.count:
                            return 0
                out.flush()
                if args.idle and time.monotonic() - last >= args.idle:
                    return 0
        finally:
            out.flush()


def run(args: argparse.Namespace) -> int:
    try:
        settings = config.settings_from_args(args, os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"pms-stream tail: {exc}\n")
        return 2
    return kafka_access.run_command(NAME, tail(args, settings))
