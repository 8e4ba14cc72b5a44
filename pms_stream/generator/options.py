"""The generator's vocabulary: what to generate (`GenerateOptions`), the manifest of injected
bad inputs (`ManifestEntry`), and statements as generated, in integer cents (`Spec`, `Daily`,
`CentTotals`, `Filer`), which the month simulation makes, the injector moves and the
expected-output oracle reads.

Flow: **options** -> month (simulation, rendering) -> inject -> expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final, Literal

__all__ = [
    "BAD_KINDS",
    "LINE_ENDS",
    "MALFORMED_KINDS",
    "CentTotals",
    "Daily",
    "Filer",
    "Framing",
    "GenerateOptions",
    "LineEnd",
    "ManifestEntry",
    "Spec",
]

Framing = Literal["block", "bare"]
LineEnd = Literal["lf", "crlf", "none"]
LINE_ENDS: Final[dict[str, bytes]] = {"lf": b"\n", "crlf": b"\r\n", "none": b""}

# Bad inputs: malformed records (rejected by framing or the codec) and well-formed records in a
# place they cannot be (rejected by the assembler).
MALFORMED_KINDS: Final = (
    "wrong_length",
    "non_digit_amount",
    "impossible_date",
    "lower_case_code",
    "non_blank_filler",
    "unknown_record_type",
)
ORDER_KINDS: Final = ("stray_q2", "duplicate_q4", "qa_out_of_sequence", "orphan_q1")
BAD_KINDS: Final = MALFORMED_KINDS + ORDER_KINDS

MAX_AMOUNT: Final = 9_999_999_999  # cents: CBP fills at most 10 of the 11 digits
MAX_DAILY: Final = 9_999  # daily statements on one monthly statement (the chapter's limit)
MPF_MIN, MPF_MAX = 3_271, 63_462  # merchandise processing fee per formal entry, cents
ONE_DAY: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    """What to generate. Probabilities are shares from 0 to 1 (never money)."""

    statements: int = 10  # statements in the output (preliminary and final each count)
    records: int | None = None  # instead: statements until at least this many records
    seed: int = 1
    framing: Framing = "block"  # A, B(MS) ... Y per statement, Z; or bare Q records
    line_end: LineEnd = "lf"  # where bad inputs may go and how `statements()` count lines
    daily: tuple[int, int] = (1, 6)  # daily statements per statement, inclusive range
    finals: float = 0.6  # share of preliminary statements whose final follows in the output
    final_only: float = 0.05  # share of statements whose preliminary came in an earlier file
    final_changes: float = 0.3  # share of finals where an entry was deleted after preliminary
    deletions: float = 0.2  # share of statements that list entries deleted before printing
    bad: int = 0  # bad inputs to inject
    bad_kinds: tuple[str, ...] = BAD_KINDS
    bad_inside: float = 0.0  # share of bad inputs put inside a statement rather than between
    validate: bool = False  # also encode every record with encode_record and compare

    def __post_init__(self) -> None:
        low, high = self.daily
        if not 1 <= low <= high <= MAX_DAILY:  # Q1 and Q2 are mandatory: at least one
            raise ValueError(f"daily statements: need 1 <= MIN <= MAX <= {MAX_DAILY}")
        if self.statements < 0 or (self.records is not None and self.records < 0):
            raise ValueError("statements and records must not be negative")
        if self.bad < 0:
            raise ValueError("bad must not be negative")
        if self.framing not in ("block", "bare"):
            raise ValueError(f"framing is block or bare, not {self.framing!r}")
        if self.line_end not in LINE_ENDS:
            raise ValueError(f"line end is lf, crlf or none, not {self.line_end!r}")
        unknown = sorted(set(self.bad_kinds) - set(BAD_KINDS))
        if unknown or not self.bad_kinds:
            raise ValueError(f"bad kinds: unknown {unknown}; known {', '.join(BAD_KINDS)}")
        for name in ("finals", "final_only", "final_changes", "deletions", "bad_inside"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a share from 0 to 1")


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One injected bad input and the reject a parser must answer it with.

    `index` is its 0-based place in `Generated.records`, `line` its 1-based line (its record
    number when written without line ends). `event` and `record_type` are the expected
    RejectedEvent's kind and record type; `reason` is a fragment of its reason. `statement` is
    the index in `Generated.statements()` of the statement it affects (None when it falls
    between statements and affects none) and `effects` the check codes it adds there.
    """

    index: int
    line: int
    kind: str
    placement: Literal["between", "inside"]
    event: Literal["record", "framing"]
    record_type: str | None
    reason: str
    raw: str
    statement: int | None = None
    statement_number: str | None = None
    effects: tuple[str, ...] = ()


@dataclass(slots=True, kw_only=True)
class CentTotals:
    duty: int
    tax: int
    add: int
    cvd: int
    fees: tuple[tuple[str, int], ...]  # by class, first-seen order

    @property
    def due(self) -> int:
        return self.duty + self.tax + self.add + self.cvd + sum(a for _, a in self.fees)


@dataclass(slots=True, kw_only=True)
class Daily:
    """One periodic daily statement, amounts in cents."""

    number: str
    port: str
    filer: str
    importer: str | None
    printed: date
    presented: date
    duty: int
    tax: int
    add: int
    cvd: int
    fees: tuple[tuple[str, int], ...]
    entries: int
    encoded: list[bytes] | None = None  # its Q1, Q2, QA records once rendered

    @property
    def due(self) -> int:
        return self.duty + self.tax + self.add + self.cvd + sum(a for _, a in self.fees)


@dataclass(slots=True, kw_only=True)
class Filer:
    code: str
    port: str
    office: str
    importers: list[str] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Spec:
    """One statement as generated, and where its records are in the output."""

    number: str
    status: Literal["preliminary", "final"]
    payment_type: str
    filer: Filer
    importer: str | None
    branch: str | None
    print_date: date  # the preliminary statement's (B, Q3)
    due_date: date
    final_print_date: date  # Q5
    process_date: date  # A record of its transmission (block framing)
    daily: list[Daily]  # final amounts on a final statement
    preliminary: CentTotals
    final: CentTotals | None
    deleted: list[tuple[str, str, str]]  # daily statement, entry number, delete source
    first: int = 0  # index of its first and last record in the output
    last: int = 0
    count: int = 0  # its records (B to Y in block framing)
    rejected: int = 0  # bad inputs that land on it
    extra: int = 0  # of which are kept among its records
