"""Build a reroute request (a QR record in its MO block: A, B, QR, Y, Z) and send it to the
requests topic (or the input topic), for operators; or print it with --dry-run.

pms-stream answers it on the reroute-acks topic with a QX record (MS0 accepted, with the number
of statements sent again; MS1-MS6 the chapter's errors) and sends the matching statements again
on the statements topic, marked with `reroute_of`.

The request asks for statements of one transmission date (default today) of the filer, for the
processing port and office of the B record, or with --all-ports for every port of the A record's
district; optionally one importer, client branch or statement number; preliminary and/or final.

exit status: 0 sent (or printed); 2 bad arguments or settings; 3 Kafka not reachable within
PMS_COMMAND_TIMEOUT_S (default 10 s); 4 no such topic; 5 authentication failed; 6 not
authorized; 1 other Kafka errors.

examples:
  pms-stream reroute --filer B76 --port 2704 --date 2026-11-15 --final
  pms-stream reroute --filer B76 --port 2704 --site 2704 --all-ports --preliminary --final
  pms-stream reroute --filer B76 --port 2704 --statement 2726P10001 --preliminary --dry-run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import date

from pms_stream.catair.codec import encode_record
from pms_stream.catair.records import ARecord, BRecord, QRRecord, Record, YRecord, ZRecord
from pms_stream.errors import ConfigError, RecordError
from pms_stream.service import config

NAME = "reroute"
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
    parser.add_argument("--dry-run", action="store_true", help="print the records, send nothing")
    config.add_arguments(parser)


def _mmddyy(text: str | None) -> str:
    if text is None:
        return date.today().strftime("%m%d%y")
    try:
        return date.fromisoformat(text).strftime("%m%d%y")
    except ValueError:
        return text  # as given: an invalid date is answered with MS2, not refused here


def build_request(args: argparse.Namespace) -> list[bytes]:
    """The MO block of the request, as 80-character records."""
    site = args.site or args.port
    records: list[Record] = [
        ARecord(site_code=site, filer_code=args.filer, application_id="MO"),
        BRecord(
            district_port=args.port,
            filer_code=args.filer,
            application_id="MO",
            office_code=args.office,
        ),
        QRRecord(
            transmission_date=_mmddyy(args.date).ljust(6)[:6],
            importer_number=args.importer,
            client_branch=args.branch,
            statement_number=args.statement,
            scope="A" if args.all_ports else " ",
            preliminary_request="Y" if args.preliminary else "N",
            final_request="Y" if args.final else "N",
        ),
        YRecord(
            district_port=args.port,
            filer_code=args.filer,
            application_id="MO",
            record_count=1,
            office_code=args.office,
        ),
        ZRecord(site_code=site, filer_code=args.filer),
    ]
    return [encode_record(r) for r in records]


async def _send(settings: config.Settings, block: bytes, key: bytes) -> str:
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415 - offline commands skip aiokafka

    from pms_stream.commands import kafka_access  # noqa: PLC0415

    topic = settings.requests_topic or settings.input_topic
    producer = AIOKafkaProducer(
        **config.kafka_client_options(settings, "producer"), enable_idempotence=True
    )
    async with kafka_access.connected(producer, settings, topic=topic):
        await kafka_access.require_topic(producer.client.fetch_all_metadata, settings, topic)
        meta = await kafka_access.bounded(
            producer.send_and_wait(topic, block, key=key), settings, "sending"
        )
    return f"{topic}:{meta.partition}:{meta.offset}"


def run(args: argparse.Namespace) -> int:
    try:
        records = build_request(args)
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
        sys.stdout.write(block.decode("ascii") + "\n")
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
