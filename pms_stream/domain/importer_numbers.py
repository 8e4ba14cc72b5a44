"""Importer of record numbers (12X): the three shapes CBP uses, and redaction of personal ones.

An importer number is an IRS employer number (`NN-NNNNNNNXX`), a Social Security number
(`NNN-NN-NNNN`) or a CBP-assigned number (`YYDDPP-NNNNN`). A Social Security number is personal
data: `redact` and `scrub` keep it out of logs, metric labels and error messages.
Used by the codec's error messages, the logging processors and the metrics.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = ["ImporterShape", "looks_like_ssn", "redact", "scrub", "shape_of"]


class ImporterShape(StrEnum):
    IRS = "irs"  # NN-NNNNNNNXX: employer identification number with a 2-character suffix
    SSN = "ssn"  # NNN-NN-NNNN: Social Security number (personal data)
    CBP = "cbp"  # YYDDPP-NNNNN: number assigned by CBP
    OTHER = "other"


_IRS = re.compile(r"\d{2}-\d{7}[0-9A-Z]{2}")
_SSN = re.compile(r"\d{3}-\d{2}-\d{4}")
_BARE_SSN = re.compile(r"\d{9}")
_CBP = re.compile(r"\d{6}-\d{5}")
# Anywhere inside free text: an SSN with hyphens wherever it stands (even glued to other digits,
# as in a raw record where the filer code ends in a digit), or nine digits standing alone.
_SSN_IN_TEXT = re.compile(r"\d{3}-\d{2}-\d{4}|(?<!\d)\d{9}(?!\d)")
MASK = "***-**-****"


def shape_of(number: str) -> ImporterShape:
    """Which of the three shapes `number` has (trailing blanks ignored)."""
    value = number.rstrip()
    if _IRS.fullmatch(value):
        return ImporterShape.IRS
    if _SSN.fullmatch(value) or _BARE_SSN.fullmatch(value):
        return ImporterShape.SSN
    if _CBP.fullmatch(value):
        return ImporterShape.CBP
    return ImporterShape.OTHER


def looks_like_ssn(number: str) -> bool:
    """True when `number` is shaped like a Social Security number (with or without hyphens)."""
    return shape_of(number) is ImporterShape.SSN


def redact(number: str | None) -> str | None:
    """The importer number fit for a log line or label: SSN-shaped numbers become a mask."""
    if number is None:
        return None
    return MASK if looks_like_ssn(number) else number


def scrub(text: str) -> str:
    """`text` with every SSN-shaped run inside it masked (for error values and log messages)."""
    return _SSN_IN_TEXT.sub(MASK, text)
