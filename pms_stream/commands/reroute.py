"""Build a reroute request (a QR record in its MO block: A, B, QR, Y, Z) and send it to the
requests topic (or the input topic), for operators; or print it with --dry-run.

pms-stream answers it on the reroute-acks topic with a QX record (MS0 accepted, with the number
of statements sent again; MS1-MS6 the chapter's errors) and sends the matching statements again
on the statements topic, marked with `reroute_of`.

The request asks for statements of one transmission date (default today) of the filer, for the
processing port and office of the B record, or with --all-ports for every port of the A record's
district; optionally one importer, client branch or statement number; preliminary and/or final.
The A record carries today's date and the communication password, from PMS_ABI_PASSWORD (or
--password); without one only --dry-run works, and --dry-run prints the password masked.

exit status: 0 sent (or printed); 2 bad arguments or settings; 3 Kafka not reachable within
PMS_COMMAND_TIMEOUT_S (default 10 s); 4 no such topic; 5 authentication failed; 6 not
authorized; 1 other Kafka errors.

examples:
  PMS_ABI_PASSWORD=... pms-stream reroute --filer B76 --port 2704 --date 2026-11-15 --final
  pms-stream reroute --filer B76 --port 2704 --site 2704 --all-ports --preliminary --final
  pms-stream reroute --filer B76 --port 2704 --statement 2726P10001 --preliminary --dry-run

Flow: operator -> **reroute command** (pms_stream/reroute/request.py builds the block) -> topic.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from pms_stream.catair.records import Secret
from pms_stream.errors import ConfigError, RecordError
from pms_stream.reroute.request import build_request, masked, statement_date
from pms_stream.service import config

NAME = "reroute"
PASSWORD_ENV = "PMS_ABI_PASSWORD"  # noqa: S105 - the variable's name, not a password
HELP = "send a reroute request (QR in an MO block)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--filer", required=True, help="filer code (B and A records)")
    parser.add_argument("--port", required=True, help="processing district/port (B record)")
    parser.add_argument("--site", help="site code of the A record (default: --port)")
    parser.add_argument("--office", help="filer office code (B record)")
    parser.add_argument(
        "--date", help="transmission date of the statements: YYYY-MM-DD or MMDDYY (default today)"
    )
    parser.add_argument("--importer", help="importer of record number")
    parser.add_argument("--branch", help="client branch designation")
    parser.add_argument("--statement", help="periodic monthly statement number")
    parser.add_argument(
        "--all-ports", action="store_true", help="scope A: every port of the A record's district"
    )
    parser.add_argument("--preliminary", action="store_true", help="request preliminary")
    parser.add_argument("--final", action="store_true", help="request final")
    parser.add_argument(
        "--password",
        help=f"communication password for the A record (default: ${PASSWORD_ENV}; prefer the "
        "variable: a command line is visible to other users). Never printed or logged",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the records (the password masked), send nothing; needs no password",
    )
    config.add_arguments(parser)


async def _send(settings: config.Settings, block: bytes, key: bytes) -> str:
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415 - offline commands skip aiokafka

    from pms_stream.commands import kafka_access  # noqa: PLC0415

    topic = settings.requests_topic or settings.input_topic
    producer = AIOKafkaProducer(
        **config.kafka_client_options(settings, "producer"), enable_idempotence=True
    )
    async with kafka_access.connected(producer, settings, topic=topic):
        await kafka_access.require_topic(producer.client, settings, topic)
        meta = await kafka_access.bounded(
            producer.send_and_wait(topic, block, key=key), settings, "sending"
        )
    return f"{topic}:{meta.partition}:{meta.offset}"


def _password(args: argparse.Namespace) -> Secret | None:
    """--password, else PMS_ABI_PASSWORD; None when neither is set (or both are empty)."""
    value = args.password if args.password is not None else os.environ.get(PASSWORD_ENV)
    return Secret(value) if value else None


def run(args: argparse.Namespace) -> int:
    password = _password(args)
    if password is None and not args.dry_run:
        sys.stderr.write(
            f"pms-stream reroute: no communication password: set {PASSWORD_ENV} (or "
            "--password); the A record of a request must carry one (--dry-run prints the "
            "records without it)\n"
        )
        return 2
    try:
        records = build_request(
            filer=args.filer,
            port=args.port,
            password=password,
            statements_of=statement_date(args.date),
            site=args.site,
            office=args.office,
            importer=args.importer,
            branch=args.branch,
            statement=args.statement,
            all_ports=args.all_ports,
            preliminary=args.preliminary,
            final=args.final,
        )
    except RecordError as exc:
        sys.stderr.write(f"pms-stream reroute: {exc}\n")
        return 2
    block = b"\n".join(records)
    if not (args.preliminary or args.final):
        sys.stderr.write(
            "pms-stream reroute: neither --preliminary nor --final: the answer "
            "will be MS4 No Reroutes Requested\n"
        )
    if args.dry_run:
        sys.stdout.write(b"\n".join(masked(records)).decode("ascii") + "\n")
        if password is None:
            sys.stderr.write(
                f"pms-stream reroute: no password ({PASSWORD_ENV} or --password): "
                "the A record's positions 9-14 are blank; the request could not be sent\n"
            )
        return 0
    try:
        settings = config.settings_from_args(args, os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"pms-stream reroute: {exc}\n")
        return 2
    from pms_stream.commands import kafka_access  # noqa: PLC0415 - offline commands skip aiokafka

    try:
        where = asyncio.run(_send(settings, block, args.filer.encode()))
    except kafka_access.KafkaCommandError as exc:
        sys.stderr.write(f"pms-stream reroute: {exc}\n")
        return exc.code
    sys.stderr.write(
        f"sent the request to {where}; the answer comes on {settings.reroute_acks_topic}\n"
    )
    return 0
