"""Build a reroute request: the MO block (A, B, QR, Y, Z) a filer sends to have statements sent
again, as 80-character records.

Every record passes its layout (Application Control chapter for A/B/Y/Z, the chapter's QR table):
the A record carries the communication password ("M in" on input; never echoed, printed or
logged: it stays a `Secret` until `encode_record` writes it) and the transmission date of the
request itself (the day it is built); the QR carries the transmission date of the statements
asked for, which may be invalid on purpose (it is then answered with MS2, not refused here).

Flow: `pms-stream reroute` (commands/reroute.py), bench/soak.py, tests -> **request** -> input
(or requests) topic -> framing -> assembler -> reroute handler (QX answer).
"""

from __future__ import annotations

from datetime import date
from typing import Final

from pms_stream.catair.codec import encode_record, layout_of
from pms_stream.catair.records import ARecord, BRecord, QRRecord, Record, Secret, YRecord, ZRecord

__all__ = ["PASSWORD_POSITIONS", "build_request", "masked", "statement_date"]

_PASSWORD = next(f for f in layout_of("A").fields if f.attr == "password")
PASSWORD_POSITIONS: Final = _PASSWORD.positions  # "9-14"


def statement_date(text: str | None) -> date | str | None:
    """A `--date` as given on the command line: YYYY-MM-DD is a date; anything else (MMDDYY, or
    an invalid date that the service answers with MS2) is kept as text; None stays None."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def _mmddyy(value: date | str) -> str:
    if isinstance(value, date):
        return value.strftime("%m%d%y")
    return value.ljust(6)[:6]


def build_request(
    *,
    filer: str,
    port: str,
    password: Secret | None,
    statements_of: date | str | None = None,
    site: str | None = None,
    office: str | None = None,
    importer: str | None = None,
    branch: str | None = None,
    statement: str | None = None,
    all_ports: bool = False,
    preliminary: bool = False,
    final: bool = False,
    today: date | None = None,
) -> list[bytes]:
    """The MO block of a request, as 80-character records (A, B, QR, Y, Z).

    `filer`, `port`: the requester's filer code and processing district/port (B record);
    `site`: the A record's site code (default `port`); `office`: the filer office code.
    `password`: the A record's communication password (None leaves it blank: only for a dry run).
    `statements_of`: the transmission date of the statements wanted (QR positions 3-8): a date,
    or MMDDYY text kept as given; default `today`. `importer`, `branch`, `statement` narrow the
    match; `all_ports` is scope "A"; `preliminary`/`final` are the two requests (Y or N).
    `today`: the A record's transmission date, the day the request is sent (default the system
    date). Raises `RecordError` when a value does not fit its field (the message never shows the
    password).
    """
    sent = today or date.today()
    wanted = sent if statements_of is None else statements_of
    site_code = site or port
    records: list[Record] = [
        ARecord(
            site_code=site_code,
            filer_code=filer,
            password=password,
            transmission_date=sent,
            application_id="MO",
            office_code=office,
        ),
        BRecord(district_port=port, filer_code=filer, application_id="MO", office_code=office),
        QRRecord(
            transmission_date=_mmddyy(wanted),
            importer_number=importer,
            client_branch=branch,
            statement_number=statement,
            scope="A" if all_ports else " ",
            preliminary_request="Y" if preliminary else "N",
            final_request="Y" if final else "N",
        ),
        YRecord(
            district_port=port,
            filer_code=filer,
            application_id="MO",
            record_count=1,
            office_code=office,
        ),
        ZRecord(site_code=site_code, filer_code=filer, date=sent, office_code=office),
    ]
    return [encode_record(r) for r in records]


def masked(records: list[bytes]) -> list[bytes]:
    """`records` fit to print: the A record's password positions show `Secret.MASK` when a
    password is there (blank stays blank)."""
    start, end = _PASSWORD.start - 1, _PASSWORD.end
    out: list[bytes] = []
    for record in records:
        hidden = record[:1] == b"A" and bool(record[start:end].strip())
        out.append(record[:start] + Secret.MASK.encode() + record[end:] if hidden else record)
    return out
