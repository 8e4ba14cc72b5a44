"""The answer to a reroute request: the QX record in its MQ block, the JSON acknowledgement, and
the matching statements sent again, marked as a reroute.

The MQ block is what CBP would send: A (the requester's site and filer, today's date), B (its
processing port and filer code, application MQ, its office code), QX (code, message, number of
statements rerouted), Y (count 1), Z. Every record goes through `encode_record`, so it re-parses
to the same values. A re-published statement is the stored JSON with `reroute_of` set to the
request's id, also carried in the `pms-reroute-of` header.

Pure: no I/O. Flow: rules + store -> **answer** -> outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import msgspec

from pms_stream.catair.codec import encode_record
from pms_stream.catair.records import ARecord, BRecord, QXRecord, Record, YRecord, ZRecord
from pms_stream.reroute.rules import Verdict
from pms_stream.reroute.store import StoredStatement
from pms_stream.statements.model import RerouteAckEvent, RerouteRequestEvent, Statement

__all__ = ["Answer", "build_answer", "rerouted"]

_DECODER = msgspec.json.Decoder(Statement)
_ENCODER = msgspec.json.Encoder()
MAX_COUNT = 9999  # the QX count is 4N


@dataclass(frozen=True, slots=True)
class Answer:
    mq_block: bytes  # A, B, QX, Y, Z: 80-character records separated by LF
    ack: RerouteAckEvent


def build_answer(
    request: RerouteRequestEvent, verdict: Verdict, count: int, today: date, request_id: str
) -> Answer:
    filer = request.filer_code or request.batch_filer_code or "   "
    port = request.district_port or request.site_code or "    "
    site = request.site_code or port
    qx = QXRecord(code=verdict.code, message=verdict.message, reroute_count=min(count, MAX_COUNT))
    records: list[Record] = [
        ARecord(site_code=site, filer_code=filer, transmission_date=today, application_id="MQ"),
        BRecord(
            district_port=port,
            filer_code=filer,
            application_id="MQ",
            office_code=request.office_code,
        ),
        qx,
        YRecord(
            district_port=port,
            filer_code=filer,
            application_id="MQ",
            record_count=1,
            office_code=request.office_code,
            trailer_mark="Y",
        ),
        ZRecord(site_code=site, filer_code=filer, date=today),
    ]
    encoded = [encode_record(r) for r in records]
    ack = RerouteAckEvent(
        code=qx.code,
        message=qx.message,
        reroute_count=qx.reroute_count,
        accepted=verdict.accepted,
        request=request,
        request_id=request_id,
        raw=encoded[2].decode("ascii"),
        source=request.source,
    )
    return Answer(b"\n".join(encoded), ack)


def rerouted(stored: StoredStatement, request_id: str) -> bytes:
    """The stored statement's JSON, marked as sent again for `request_id`."""
    statement = _DECODER.decode(stored.value)
    return _ENCODER.encode(msgspec.structs.replace(statement, reroute_of=request_id))
