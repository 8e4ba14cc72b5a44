"""Reroute rules: validate a QR request with the chapter's error codes, and match statements.

Validation, first failing rule wins (the order a filer would want to fix them):
- MS3 "Invalid "MS " Record": more than one QR in one B-Y block;
- MS2 "Trans Dt of Stmt Invalid": the date is not a valid MMDDYY, or later than today;
- MS1 "Trans Dt of Stmt Beyond 14 Days": the date is more than 14 days before today;
- MS5 "Invalid Scope Indicator": scope other than "A" or space;
- MS6 "Invalid Request Must be "Y" or "N"": a request indicator other than Y or N;
- MS4 "No Reroutes Requested": neither preliminary nor final requested.
The chapter gives no code for an accepted request: pms-stream answers `MS0` "Reroute Request
Accepted" with the number of statements sent again (0 when nothing matched).

Matching (the chapter's "Record Layout" and QR field notes):
- the statement's transmission date equals the request's (the A record's date the statement came
  with; a statement that came without an A record is matched by its print date);
- the filer code equals the requesting filer's (the B record's filer code, else the A record's):
  a filer is only sent its own statements;
- importer number, client branch and statement number, each when given;
- scope "A": any processing port in the receiver district of the A record (the first two
  characters of its site code); scope blank: only the B record's processing district/port,
  and its office code when the B record has one;
- preliminary and/or final as requested.

"Today" comes from an injectable clock. Pure: no I/O. Flow: assembler (reroute_request event)
-> **rules** -> store lookup -> answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from pms_stream.statements.model import RerouteRequestEvent

__all__ = [
    "ACCEPTED",
    "MESSAGES",
    "Criteria",
    "StatementFacts",
    "Verdict",
    "matches",
    "validate",
]

ACCEPTED: Final = "MS0"
MESSAGES: Final[dict[str, str]] = {
    "MS0": "Reroute Request Accepted",
    "MS1": "Trans Dt of Stmt Beyond 14 Days",
    "MS2": "Trans Dt of Stmt Invalid",
    "MS3": 'Invalid "MS " Record',
    "MS4": "No Reroutes Requested",
    "MS5": "Invalid Scope Indicator",
    "MS6": 'Invalid Request Must be "Y" or "N"',
}
MAX_AGE_DAYS: Final = 14


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a valid request asks for."""

    transmission_date: date
    filer_code: str
    importer_number: str | None
    client_branch: str | None
    statement_number: str | None
    district: str | None  # scope A: the receiver district (2 characters)
    district_port: str | None  # scope blank: the B record's processing district/port
    office_code: str | None  # scope blank: the B record's office code, when it has one
    preliminary: bool
    final: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    code: str
    message: str
    criteria: Criteria | None  # set when the request is valid (code MS0)

    @property
    def accepted(self) -> bool:
        return self.code == ACCEPTED


@dataclass(frozen=True, slots=True)
class StatementFacts:
    """The fields of a stored statement that the rules match on."""

    transmission_date: date | None
    filer_code: str
    importer_number: str | None
    client_branch: str | None
    statement_number: str
    district_port: str | None
    office_code: str | None
    status: str  # "preliminary" | "final"


def _error(code: str) -> Verdict:
    return Verdict(code, MESSAGES[code], None)


def _mmddyy(text: str) -> date | None:
    if len(text) != 6 or not text.isdigit():
        return None
    try:
        return date(2000 + int(text[4:6]), int(text[0:2]), int(text[2:4]))
    except ValueError:
        return None


def validate(request: RerouteRequestEvent, today: date) -> Verdict:
    """The chapter's answer to `request` on `today`."""
    if request.qr_in_block > 1:
        return _error("MS3")
    when = _mmddyy(request.transmission_date)
    if when is None or when > today:
        return _error("MS2")
    if today - when > timedelta(days=MAX_AGE_DAYS):
        return _error("MS1")
    if request.scope not in ("A", " "):
        return _error("MS5")
    if request.preliminary_request not in ("Y", "N") or request.final_request not in ("Y", "N"):
        return _error("MS6")
    if request.preliminary_request == "N" and request.final_request == "N":
        return _error("MS4")
    scope_all = request.scope == "A"
    filer = request.filer_code or request.batch_filer_code or ""
    site = request.site_code or ""
    return Verdict(
        ACCEPTED,
        MESSAGES[ACCEPTED],
        Criteria(
            transmission_date=when,
            filer_code=filer,
            importer_number=request.importer_number,
            client_branch=request.client_branch,
            statement_number=request.statement_number,
            district=(site[:2] or (request.district_port or "")[:2]) if scope_all else None,
            district_port=None if scope_all else request.district_port,
            office_code=None if scope_all else request.office_code,
            preliminary=request.preliminary_request == "Y",
            final=request.final_request == "Y",
        ),
    )


def matches(criteria: Criteria, facts: StatementFacts) -> bool:
    """Whether a stored statement answers the request."""
    if facts.status == "preliminary" and not criteria.preliminary:
        return False
    if facts.status == "final" and not criteria.final:
        return False
    if facts.transmission_date != criteria.transmission_date:
        return False
    if facts.filer_code != criteria.filer_code:
        return False
    if criteria.importer_number is not None and facts.importer_number != criteria.importer_number:
        return False
    if criteria.client_branch is not None and facts.client_branch != criteria.client_branch:
        return False
    if (
        criteria.statement_number is not None
        and facts.statement_number != criteria.statement_number
    ):
        return False
    port = facts.district_port or ""
    if criteria.district is not None:
        return port[:2] == criteria.district
    if criteria.district_port is not None and port != criteria.district_port:
        return False
    return criteria.office_code is None or facts.office_code == criteria.office_code
