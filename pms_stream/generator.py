"""Synthetic PMS transmissions: realistic records for demos, tests and benchmarks.

`generate(options)` returns the 80-character records of N periodic monthly statements (or of
enough statements to reach a record count), the statements a correct parser must make of them
(`Generated.statements()`, model `Statement`s) and, when bad inputs were injected on purpose,
the manifest of each one and the reject it must cause. Everything is deterministic for a seed:
content comes from `random.Random(seed)`, injections from a second generator seeded from it, so
a run with bad inputs holds exactly the records of the clean run plus the injected ones.

What is generated follows the monthly cycle (docs/generate.md): per statement month, one
transmission per filer with its preliminary statements (printed on the 11th working day of the
next month), then one per filer with the final statements (printed the day before the due date,
the 15th working day). A final usually follows its preliminary, with the same number; its Q3/Q4
/QE repeat the preliminary totals and Q5/Q6/QJ carry the final ones, which differ when an entry
summary was deleted in between (listed in Q7). Amounts are integer cents, never floats.

Records are rendered from format strings compiled from the layouts (`layouts.py`) once, and a
daily statement that a final repeats unchanged reuses its preliminary's bytes. With
`validate=True` every record is also built as a typed record and encoded by `encode_record`,
and the two must be identical (the tests run both ways); `write` adds the line ends.

Flow: **generator** -> (file, Kafka) -> framing -> codec -> assembler; `pms-stream generate`.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, BinaryIO, Final, Literal

from pms_stream.catair.codec import encode_record, layout_of
from pms_stream.catair.fields import Field, Kind
from pms_stream.catair.records import RECORD_TYPES, DeletedEntry, Fee
from pms_stream.domain.calendar import working_days
from pms_stream.domain.entry_numbers import check_digit, format_entry_number
from pms_stream.domain.fee_classes import FEE_CLASSES, fee_class
from pms_stream.statements import checks
from pms_stream.statements.model import (
    Check,
    DailyStatement,
    FeeAmount,
    Source,
    Statement,
    Totals,
)
from pms_stream.statements.model import (
    DeletedEntry as DeletedEntryEvent,
)

__all__ = [
    "BAD_KINDS",
    "LINE_ENDS",
    "Framing",
    "GenerateOptions",
    "Generated",
    "LineEnd",
    "ManifestEntry",
    "RecordStream",
    "generate",
    "write",
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


# ---------------------------------------------------------------------------------------------
# Options and results
# ---------------------------------------------------------------------------------------------


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
        if not 0 <= low <= high <= MAX_DAILY:
            raise ValueError(f"daily statements: need 0 <= MIN <= MAX <= {MAX_DAILY}")
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


@dataclass(slots=True)
class _Totals:
    duty: int
    tax: int
    add: int
    cvd: int
    fees: tuple[tuple[str, int], ...]  # by class, first-seen order

    @property
    def due(self) -> int:
        return self.duty + self.tax + self.add + self.cvd + sum(a for _, a in self.fees)


@dataclass(slots=True)
class _Daily:
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


@dataclass(slots=True)
class _Filer:
    code: str
    port: str
    office: str
    importers: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Spec:
    """One statement as generated, and where its records are in the output."""

    number: str
    status: Literal["preliminary", "final"]
    payment_type: str
    filer: _Filer
    importer: str | None
    branch: str | None
    print_date: date  # the preliminary statement's (B, Q3)
    due_date: date
    final_print_date: date  # Q5
    process_date: date  # A record of its transmission (block framing)
    daily: list[_Daily]  # final amounts on a final statement
    preliminary: _Totals
    final: _Totals | None
    deleted: list[tuple[str, str, str]]  # daily statement, entry number, delete source
    first: int = 0  # index of its first and last record in the output
    last: int = 0
    count: int = 0  # its records (B to Y in block framing)
    rejected: int = 0  # bad inputs that land on it
    extra: int = 0  # of which are kept among its records


@dataclass(frozen=True, slots=True)
class Generated:
    """The records, the statements they hold, and the manifest of injected bad inputs."""

    options: GenerateOptions
    records: list[bytes]
    manifest: list[ManifestEntry]
    _specs: list[_Spec]

    @property
    def statement_count(self) -> int:
        return len(self._specs)

    @property
    def final_count(self) -> int:
        return sum(1 for s in self._specs if s.status == "final")

    def statements(self, file: str | None = None) -> list[Statement]:
        """The statements `pms-stream parse` must make of the records written with the
        options' line end (`file` is the name it reports in `source`)."""
        return [_expected(s, self.options, file) for s in self._specs]

    def write(self, stream: BinaryIO) -> None:
        write(self.records, stream, self.options.line_end)


# ---------------------------------------------------------------------------------------------
# Templates: format strings compiled from the layouts
# ---------------------------------------------------------------------------------------------

_SPECS: Final = {Kind.TEXT: "<{w}", Kind.SECRET: "<{w}", Kind.AMOUNT: "0{w}d", Kind.INT: "0{w}d"}


class _Template:
    """One record type with `filled` slots of its repeated group, as a format string.

    Values go in layout order: text as str ("" for blank), amounts as int cents, dates as
    MMDDYY strings, whole numbers as int. `attrs` must name the layout's value fields in order,
    so a layout change that the generator does not follow fails at import, not in the output.
    """

    __slots__ = ("fields", "format", "record_type")
    fields: list[Field]
    format: Callable[..., str]
    record_type: str

    def __init__(self, record_type: str, attrs: tuple[str, ...], filled: int = 0) -> None:
        layout = layout_of(record_type)
        parts: list[str] = []
        self.fields = []
        for f in layout.fields:
            if f.kind is Kind.CONST:
                parts.append(f.const or "")
            elif f.kind is Kind.FILLER or (f.group is not None and (f.slot or 0) > filled):
                parts.append(" " * f.width)
            else:
                spec = "6" if f.kind is Kind.DATE else _SPECS[f.kind].format(w=f.width)
                parts.append(f"{{{len(self.fields)}:{spec}}}")
                self.fields.append(f)
        names = tuple(f.member or "" if f.group else f.attr or "" for f in self.fields)
        if names != attrs:
            raise TypeError(f"{record_type} template expects {attrs}, layout has {names}")
        self.record_type = record_type
        self.format = "".join(parts).format

    def typed(self, values: tuple[Any, ...]) -> Any:
        """The typed record these values make (for `validate`)."""
        kwargs: dict[str, Any] = {}
        groups: dict[str, list[dict[str, Any]]] = {}
        for f, given in zip(self.fields, values, strict=True):
            value = given
            if f.kind is Kind.AMOUNT:
                value = Decimal(given).scaleb(-2)
            elif f.kind is Kind.DATE:
                value = date(2000 + int(given[4:]), int(given[:2]), int(given[2:4]))
            elif f.kind is not Kind.INT:
                value = given or None
            if f.group is None:
                kwargs[f.attr or ""] = value
            else:
                slots = groups.setdefault(f.group, [])
                if len(slots) < (f.slot or 0):
                    slots.append({})
                slots[-1][f.member or ""] = value
        for name, slots in groups.items():
            item = Fee if name == "fees" else DeletedEntry
            kwargs[name] = tuple(item(**s) for s in slots)
        return RECORD_TYPES[self.record_type](**kwargs)


_FEE_ATTRS: Final = ("code", "amount")
_ENTRY_ATTRS: Final = ("entry_number", "delete_source")
_HEADER: Final = ("statement_number", "print_date", "due_date", "filer_code", "importer_number")
_AMOUNTS: Final = ("add", "cvd", "amount_due")


def _templates() -> dict[tuple[str, int], _Template]:
    t: dict[tuple[str, int], _Template] = {}
    plain: dict[str, tuple[str, ...]] = {
        "A": (
            "site_code",
            "filer_code",
            "password",
            "transmission_date",
            "application_id",
            "office_code",
            "transmitter_data",
        ),
        "B": (
            "district_port",
            "filer_code",
            "application_id",
            "statement_status",
            "statement_number",
            "print_date",
            "payment_type",
            "importer_number",
            "client_branch",
            "office_code",
            "remote_district_port",
            "remote_filer_code",
            "remote_office_code",
            "preparer_indicator",
            "filer_data",
        ),
        "Y": (
            "district_port",
            "filer_code",
            "application_id",
            "record_count",
            "office_code",
            "trailer_mark",
        ),
        "Z": ("site_code", "filer_code", "date", "office_code"),
        "Q1": (
            "daily_statement_number",
            "district_port",
            "filer_code",
            "importer_number",
            "print_date",
            "presentation_date",
            "duty",
            "tax",
        ),
        "Q2": _AMOUNTS,
        "Q3": (*_HEADER, "duty", "tax"),
        "Q4": _AMOUNTS,
        "Q5": (*_HEADER, "duty", "tax"),
        "Q6": _AMOUNTS,
    }
    for record_type, attrs in plain.items():
        t[record_type, 0] = _Template(record_type, attrs)
    for record_type in ("QA", "QE", "QJ"):
        for n in range(1, 6):
            t[record_type, n] = _Template(record_type, ("sequence", *_FEE_ATTRS * n), n)
    for n in range(1, 5):
        t["Q7", n] = _Template("Q7", ("daily_statement_number", *_ENTRY_ATTRS * n), n)
    return t


_TEMPLATES: Final = _templates()
_DATES: dict[date, str] = {}


def _mmddyy(d: date) -> str:
    text = _DATES.get(d)
    if text is None:
        text = _DATES[d] = f"{d.month:02d}{d.day:02d}{d.year % 100:02d}"
    return text


class _Renderer:
    """Renders records from templates; with `validate`, checks each against encode_record."""

    def __init__(self, validate: bool) -> None:
        self.validate = validate

    def __call__(self, record_type: str, *values: Any, filled: int = 0) -> bytes:
        template = _TEMPLATES[record_type, filled]
        text = template.format(*values)
        if len(text) != 80:
            raise ValueError(f"generator bug: {record_type} rendered {len(text)} characters")
        raw = text.encode("ascii")
        if self.validate:
            typed = encode_record(template.typed(values))
            if typed != raw:
                raise AssertionError(f"generator bug: {raw!r} is not {typed!r}")
        return raw

    def fee_records(self, record_type: str, fees: tuple[tuple[str, int], ...]) -> list[bytes]:
        out: list[bytes] = []
        for sequence, start in enumerate(range(0, len(fees), 5), 1):
            chunk = fees[start : start + 5]
            flat = [v for pair in chunk for v in pair]
            out.append(self(record_type, sequence, *flat, filled=len(chunk)))
        return out

    def deleted_records(self, deleted: list[tuple[str, str, str]]) -> list[bytes]:
        """Q7 records: the entries of one daily statement together, up to four a record."""
        out: list[bytes] = []
        i = 0
        while i < len(deleted):
            dsn = deleted[i][0]
            chunk: list[str] = []
            while i < len(deleted) and deleted[i][0] == dsn and len(chunk) < 8:
                chunk += deleted[i][1:]
                i += 1
            out.append(self("Q7", dsn, *chunk, filled=len(chunk) // 2))
        return out


# ---------------------------------------------------------------------------------------------
# Reference data for realistic content
# ---------------------------------------------------------------------------------------------

_PORTS: Final = (
    "1001",  # New York
    "1303",  # Baltimore
    "1401",  # Norfolk
    "1601",  # Charleston
    "1703",  # Savannah
    "1801",  # Tampa
    "2002",  # New Orleans
    "2304",  # Laredo
    "2704",  # Los Angeles
    "2709",  # Long Beach
    "2809",  # San Francisco
    "3001",  # Seattle
    "3901",  # Chicago
    "4601",  # Newark
    "5201",  # Miami
    "5301",  # Houston
    "5501",  # Dallas/Fort Worth
)
# Duty rates in basis points (16, drawn with 4 random bits): free, MFN rates, section 301.
_DUTY_RATES_BP: Final = (0, 0, 0, 0, 0, 120, 250, 250, 350, 350, 500, 500, 640, 800, 1000, 2500)
# Entered values in cents (1024, drawn with 10 random bits): from $1,000 to about $1,000,000,
# spread evenly over the three decades, in integers.
_VALUES: Final = tuple(
    10 ** (5 + i // 342) * (100 + i % 342 * 900 // 342) // 100 for i in range(1024)
)
_COMMODITY_FEES: Final = tuple(c for c in FEE_CLASSES if c not in ("499", "501"))
_UNKNOWN_FEES: Final = ("019", "314", "998")  # not in Appendix B; one per run
_TEAM_SOURCES: Final = ("ENC", "BKR", "ABI")
_LETTERS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS: Final = "0123456789"
_ALNUM: Final = _DIGITS + _LETTERS


def _working_days(year: int, month: int) -> list[date]:
    return list(working_days(year, month))  # U.S. federal working days (payment calendar)


def _sequence(n: int) -> str:
    """001..999, then alphanumeric (A00...), for the XXX of a statement number."""
    if n < 1000:
        return f"{n:03d}"
    n -= 1000
    first = n // 1296
    if first >= 26:
        raise ValueError("more than 34,695 statements in one district and month")
    rest = n % 1296
    return f"{_LETTERS[first]}{_ALNUM[rest // 36]}{_ALNUM[rest % 36]}"


def _sum(daily: list[_Daily]) -> _Totals:
    fees: dict[str, int] = {}
    duty = tax = add = cvd = 0
    for d in daily:
        duty += d.duty
        tax += d.tax
        add += d.add
        cvd += d.cvd
        for code, amount in d.fees:
            fees[code] = fees.get(code, 0) + amount
    return _Totals(duty, tax, add, cvd, tuple(fees.items()))


# ---------------------------------------------------------------------------------------------
# The generator proper
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Dates:
    """The dates of one statement month's cycle (all in the month after it)."""

    print_date: date  # preliminary statements: the 11th working day
    final_print: date  # final statements: the working day before the due date
    due: date  # the 15th working day


@dataclass(slots=True)
class _Plan:
    """One statement of a month: its preliminary and/or final version."""

    filer: _Filer
    payment_type: str
    importer: str | None
    branch: str | None
    daily: list[_Daily]
    final_daily: list[_Daily] | None
    deleted: list[tuple[str, str, str]]
    deleted_after: list[tuple[str, str, str]]
    preliminary: bool
    final: bool
    remote: tuple[str, str, str, str]  # remote preparer port, filer, office, indicator
    own_data: str  # the filer's own data on B
    number: str = ""  # DDCYPMMXXX, given once the month's statements are in order


_STATUSES: Final[tuple[Literal["preliminary", "final"], ...]] = ("preliminary", "final")


class _Maker:
    """Builds the statements month by month and renders their records in output order."""

    def __init__(self, options: GenerateOptions, keep: bool) -> None:
        self.o = options
        self.rng = random.Random(options.seed)  # noqa: S311 - synthetic data, not secrets
        self.render = _Renderer(options.validate)
        self.keep = keep
        self.specs: list[_Spec] = []
        self.emitted = 0  # records so far
        self.statements = 0
        self.finals = 0
        rng = self.rng
        low, high = options.daily
        self.daily_cap = MAX_AMOUNT // max(high, 1) // 2  # a statement's totals always fit
        target = options.statements
        if options.records is not None:
            target = options.records // (3 * (low + high) // 2 + 8) + 1
        self.per_month = max(1, target // 150)
        codes: set[str] = set()
        self.filers: list[_Filer] = []
        for _ in range(rng.randint(2, 5) + target // 400):
            code = self._filer_code()
            while code in codes:
                code = self._filer_code()
            codes.add(code)
            port = rng.choice(_PORTS)
            self.filers.append(_Filer(code, port, f"{rng.randint(1, 9):02d}"))
        self.unknown_fee = rng.choice(_UNKNOWN_FEES)
        self.year, self.month = rng.randint(2021, 2027), rng.randint(1, 12)
        self.numbers: dict[str, int] = {}  # daily statement counter by port
        self.importer_seen: set[str] = set()

    # ---- small random pieces ------------------------------------------------------------

    def _filer_code(self) -> str:
        rng = self.rng
        shape = rng.randrange(3)
        if shape == 0:  # B76
            return rng.choice(_LETTERS) + f"{rng.randrange(100):02d}"
        if shape == 1:  # ABC
            return "".join(rng.choice(_LETTERS) for _ in range(3))
        return f"{rng.randrange(10)}{rng.choice(_LETTERS)}{rng.randrange(10)}"  # 9K1

    def _importer(self) -> str:
        rng = self.rng
        while True:
            roll = rng.random()
            if roll < 0.65:  # IRS employer number with a 2-character suffix
                number = f"{rng.randint(10, 99)}-{rng.randrange(10**7):07d}00"
            elif roll < 0.95:  # CBP-assigned: YYDDPP-NNNNN
                number = f"{rng.randrange(100):02d}{rng.choice(_PORTS)}-{rng.randrange(10**5):05d}"
            else:  # SSN-shaped; area 9xx is never issued as an SSN: synthetic
                number = (
                    f"9{rng.randrange(100):02d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
                )
            if number not in self.importer_seen:
                self.importer_seen.add(number)
                return number

    def _entry_number(self, filer: str) -> str:
        first = f"{filer}{self.rng.randrange(10**7):07d}"
        return f"{first}{check_digit(first)}"

    def _delete_source(self) -> str:
        if self.rng.random() < 0.4:
            return f"{self.rng.randint(100, 999)}"  # a CBP team number
        return self.rng.choice(_TEAM_SOURCES)

    def _daily_number(self, port: str) -> str:
        n = self.numbers.get(port, 0) + 1
        self.numbers[port] = n
        return f"{port}{n % 10**6:06d}"

    # ---- amounts ------------------------------------------------------------------------

    def _amounts(
        self, codes: set[str]
    ) -> tuple[int, int, int, int, tuple[tuple[str, int], ...], int]:
        """duty, tax, ADD, CVD, fees and entry count of one daily statement."""
        rng = self.rng
        cap = self.daily_cap
        entries = rng.randint(1, max(1, min(12, cap // 140_000)))
        vmax = min(10**8, max(10_000, (cap // entries - 70_000) * 10 // 18))
        ocean = rng.random() < 0.6
        duty = tax = add = cvd = mpf = hmf = total = 0
        bits = rng.getrandbits
        for _ in range(entries):  # one entry summary: its value, duty and fees
            value = min(vmax, _VALUES[bits(10)] + bits(12))
            total += value
            duty += value * _DUTY_RATES_BP[bits(4)] // 10_000
            roll = bits(7)
            if roll < 5:  # excise tax
                tax += value * (150, 500, 1000)[roll % 3] // 10_000
            elif roll < 8:  # antidumping duty
                add += value * rng.randint(500, 6000) // 10_000
            elif roll == 8:  # countervailing duty
                cvd += value * rng.randint(200, 3000) // 10_000
            mpf += min(max(value * 3464 // 1_000_000, MPF_MIN), MPF_MAX)
            if ocean:
                hmf += value * 125 // 100_000
        fees: list[tuple[str, int]] = []
        if rng.random() >= 0.04:  # a few daily statements carry no fee at all
            fees.append(("499", mpf))
            if ocean:
                fees.append(("501", max(hmf, 1)))
            mix = rng.random()  # commodity fees: usually none, sometimes one or two, rarely many
            extra = rng.randint(4, 8) if mix < 0.02 else rng.randint(1, 2) if mix < 0.1 else 0
            for code in rng.sample(_COMMODITY_FEES, extra):
                fees.append((code, max(1, total * rng.randint(1, 40) // 100_000)))
            if rng.random() < 0.01:
                fees.append((self.unknown_fee, max(1, total * rng.randint(1, 40) // 100_000)))
        # A statement has at most 5 QE records, so at most 25 fee classes.
        kept = []
        for code, amount in fees:
            if code in codes or len(codes) < 25:
                codes.add(code)
                kept.append((code, amount))
        return duty, tax, add, cvd, tuple(kept), entries

    # ---- one month ----------------------------------------------------------------------

    def _month(self) -> tuple[list[_Plan], _Dates]:
        rng, o = self.rng, self.o
        year, month = self.year, self.month
        nyear, nmonth = (year + 1, 1) if month == 12 else (year, month + 1)
        self.year, self.month = (nyear, nmonth) if nyear < 2099 else (2001, 1)
        after = _working_days(nyear, nmonth)
        dates = _Dates(print_date=after[10], final_print=after[13], due=after[14])
        days = _working_days(year, month)
        plans: list[_Plan] = []
        filer_statement: set[str] = set()
        used: set[str] = set()
        for _ in range(rng.randint(3, 14) + self.per_month):
            filer = rng.choice(self.filers)
            importer: str | None = None
            branch: str | None = None
            if filer.code not in filer_statement and rng.random() < 0.35:
                payment_type = "6"
                filer_statement.add(filer.code)
            else:
                payment_type = "7" if rng.random() < 0.8 else "8"
                free = [i for i in filer.importers if i not in used]
                if free and rng.random() < 0.85:
                    importer = rng.choice(free)
                else:
                    importer = self._importer()
                    filer.importers.append(importer)
                used.add(importer)
                if rng.random() < 0.15:
                    branch = rng.choice(("01", "02", "03", "NY", "LA", "HQ"))
            daily = self._dailies(filer, payment_type, importer, days)
            deleted = self._deletions(daily, o.deletions)
            final_daily: list[_Daily] | None = None
            deleted_after: list[tuple[str, str, str]] = []
            only_final = rng.random() < o.final_only
            has_final = only_final or rng.random() < o.finals
            if has_final:
                final_daily, deleted_after = self._final(daily)
            remote = ("", "", "", "")
            if rng.random() < 0.05:
                other = rng.choice(self.filers)
                remote = (other.port, other.code, other.office, "1")
            own = f"REF {rng.randrange(10**6):06d}" if rng.random() < 0.2 else ""
            plans.append(
                _Plan(
                    filer,
                    payment_type,
                    importer,
                    branch,
                    daily,
                    final_daily,
                    deleted,
                    deleted_after,
                    not only_final,
                    has_final,
                    remote,
                    own,
                )
            )
        order = {code: i for i, code in enumerate(dict.fromkeys(p.filer.code for p in plans))}
        plans.sort(key=lambda p: (order[p.filer.code], p.payment_type != "6"))
        counters: dict[str, int] = {}  # statement numbers run by district, in output order
        for p in plans:
            district = p.filer.port[:2]
            counters[district] = counters.get(district, 0) + 1
            p.number = f"{district}{year % 100:02d}P{month:02d}{_sequence(counters[district])}"
        return plans, dates

    def _dailies(
        self, filer: _Filer, payment_type: str, importer: str | None, days: list[date]
    ) -> list[_Daily]:
        rng = self.rng
        low, high = self.o.daily
        last = len(days) - 1
        printed = sorted(rng.randint(0, last) for _ in range(rng.randint(low, high)))
        codes: set[str] = set()
        out: list[_Daily] = []
        for at in printed:
            day = days[at]
            port = rng.choice(_PORTS) if rng.random() < 0.1 else filer.port  # filed elsewhere
            daily_filer = filer.code
            daily_importer = importer
            if payment_type != "6" and rng.random() < 0.15:
                daily_filer = rng.choice(self.filers).code  # the importer used another broker
            if payment_type == "8" and importer and importer[2] == "-" and rng.random() < 0.5:
                daily_importer = importer[:10] + rng.choice(("01", "02", "A1", "B2"))
            presented = days[min(last, at + rng.choice((0, 0, 1, 1, 2)))]
            duty, tax, add, cvd, fees, entries = self._amounts(codes)
            out.append(
                _Daily(
                    self._daily_number(port),
                    port,
                    daily_filer,
                    daily_importer,
                    day,
                    presented,
                    duty,
                    tax,
                    add,
                    cvd,
                    fees,
                    entries,
                )
            )
        return out

    def _deletions(self, daily: list[_Daily], share: float) -> list[tuple[str, str, str]]:
        rng = self.rng
        if not daily or rng.random() >= share:
            return []
        out: list[tuple[str, str, str]] = []
        for d in sorted(rng.sample(daily, min(len(daily), rng.randint(1, 2))), key=daily.index):
            for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
                out.append((d.number, self._entry_number(d.filer), self._delete_source()))
        return out

    def _final(self, daily: list[_Daily]) -> tuple[list[_Daily], list[tuple[str, str, str]]]:
        """The final version: an entry summary deleted after the preliminary statement comes
        off its daily statement's amounts (and is listed in Q7)."""
        rng = self.rng
        eligible = [d for d in daily if d.entries >= 2]
        if not eligible or rng.random() >= self.o.final_changes:
            return daily, []
        changed = {id(d) for d in rng.sample(eligible, min(len(eligible), rng.randint(1, 2)))}
        out: list[_Daily] = []
        deleted: list[tuple[str, str, str]] = []
        for d in daily:
            if id(d) not in changed:
                out.append(d)
                continue
            n = d.entries

            def less(amount: int, n: int = n) -> int:
                return amount - amount // n

            out.append(
                _Daily(
                    d.number,
                    d.port,
                    d.filer,
                    d.importer,
                    d.printed,
                    d.presented,
                    less(d.duty),
                    less(d.tax),
                    less(d.add),
                    less(d.cvd),
                    tuple((c, less(a)) for c, a in d.fees),
                    n - 1,
                )
            )
            deleted.append((d.number, self._entry_number(d.filer), self._delete_source()))
        return out, deleted

    # ---- output -------------------------------------------------------------------------

    def _done(self, pending: int = 0) -> bool:
        """Enough statements, or enough records counting `pending` ones not yet emitted."""
        if self.o.records is not None:
            return self.emitted + pending >= self.o.records
        return self.statements >= self.o.statements

    def chunks(self) -> Iterator[list[bytes]]:
        """The records in output order, one transmission (or bare statement) at a time."""
        if self._done():
            return
        while True:
            plans, dates = self._month()
            for status in _STATUSES:
                by_filer: dict[str, list[_Plan]] = {}
                for p in plans:
                    if p.final if status == "final" else p.preliminary:
                        by_filer.setdefault(p.filer.code, []).append(p)
                for group in by_filer.values():
                    yield from self._transmission(group, status, dates)
                    if self._done():
                        return

    def _transmission(
        self,
        plans: list[_Plan],
        status: Literal["preliminary", "final"],
        dates: _Dates,
    ) -> Iterator[list[bytes]]:
        block = self.o.framing == "block"
        filer = plans[0].filer
        process = _mmddyy(dates.final_print if status == "final" else dates.print_date)
        out: list[bytes] = []
        if block:
            out.append(
                self.render("A", filer.port, filer.code, "", process, "MS", filer.office, "")
            )
        for p in plans:
            spec = self._spec(p, status, dates)
            first = self.emitted + len(out)
            records = self._records(spec, p)
            out += records
            spec.first, spec.last, spec.count = first, first + len(records) - 1, len(records)
            if self.keep:
                self.specs.append(spec)
            self.statements += 1
            self.finals += status == "final"
            if not block:
                self.emitted += len(out)
                yield out
                out = []
            if self._done(len(out) + (1 if block else 0)):
                break
        if block:
            out.append(self.render("Z", filer.port, filer.code, process, filer.office))
            self.emitted += len(out)
            yield out

    def _spec(
        self,
        p: _Plan,
        status: Literal["preliminary", "final"],
        dates: _Dates,
    ) -> _Spec:
        final = status == "final"
        daily = p.final_daily if final and p.final_daily is not None else p.daily
        deleted = p.deleted + p.deleted_after if final else p.deleted
        if p.deleted_after and final:
            position = {d.number: i for i, d in enumerate(p.daily)}
            deleted = sorted(deleted, key=lambda e: position[e[0]])
        return _Spec(
            p.number,
            status,
            p.payment_type,
            p.filer,
            p.importer,
            p.branch,
            dates.print_date,
            dates.due,
            dates.final_print,
            dates.final_print if final else dates.print_date,
            daily,
            _sum(p.daily),
            _sum(daily) if final else None,
            deleted,
        )

    def _records(self, spec: _Spec, p: _Plan) -> list[bytes]:
        r = self.render
        block = self.o.framing == "block"
        filer = spec.filer
        importer = spec.importer or ""
        out: list[bytes] = []
        if block:
            out.append(
                r(
                    "B",
                    filer.port,
                    filer.code,
                    "MS",
                    "F" if spec.status == "final" else "P",
                    spec.number,
                    _mmddyy(spec.print_date),
                    spec.payment_type,
                    importer,
                    spec.branch or "",
                    filer.office,
                    *p.remote,
                    p.own_data,
                )
            )
        for d in spec.daily:
            if d.encoded is None:
                d.encoded = [
                    r(
                        "Q1",
                        d.number,
                        d.port,
                        d.filer,
                        d.importer or "",
                        _mmddyy(d.printed),
                        _mmddyy(d.presented),
                        d.duty,
                        d.tax,
                    ),
                    r("Q2", d.add, d.cvd, d.due),
                    *r.fee_records("QA", d.fees),
                ]
            out += d.encoded
        pre = spec.preliminary
        head = (filer.code, importer)
        out.append(
            r(
                "Q3",
                spec.number,
                _mmddyy(spec.print_date),
                _mmddyy(spec.due_date),
                *head,
                pre.duty,
                pre.tax,
            )
        )
        out.append(r("Q4", pre.add, pre.cvd, pre.due))
        out += r.fee_records("QE", pre.fees)
        fin = spec.final
        if fin is not None:
            out.append(
                r(
                    "Q5",
                    spec.number,
                    _mmddyy(spec.final_print_date),
                    _mmddyy(spec.due_date),
                    *head,
                    fin.duty,
                    fin.tax,
                )
            )
            out.append(r("Q6", fin.add, fin.cvd, fin.due))
            out += r.fee_records("QJ", fin.fees)
        out += r.deleted_records(spec.deleted)
        if block:
            out.append(r("Y", filer.port, filer.code, "MS", len(out) - 1, filer.office, "Y"))
        return out


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Bad:
    gap: int  # inserted before the clean record of this index (len(records): at the end)
    rank: int  # order in its gap: 0, then 1 an orphan Q1, then 2 a partial record at the end
    kind: str
    placement: Literal["between", "inside"]
    raw: bytes
    reason: str
    record_type: str | None
    kept: bool  # a well-formed record: the statement it lands on keeps it among its records
    spec: int | None = None


class _Injector:
    """Puts bad inputs into the clean records and says what each must cause."""

    def __init__(self, options: GenerateOptions, records: list[bytes], specs: list[_Spec]):
        self.o = options
        self.rng = random.Random(f"pms-stream-generate:{options.seed}:bad")  # noqa: S311
        self.records = records
        self.specs = specs
        self.render = _Renderer(options.validate)
        self.bare = options.framing == "bare"
        self.none = options.line_end == "none"
        self.tail_used = False
        n = len(records)
        # Gaps outside every statement (bare: the gap before each statement, and the end).
        between: list[tuple[int, int]] = []
        start = 0
        for s in specs:
            between.append((start, s.first))
            start = s.last + 1
        between.append((start, n))
        self.between = between
        self.ends = [s.last + 1 for s in specs]  # bare: a gap here lands on that statement

    def run(self) -> tuple[list[bytes], list[ManifestEntry]]:
        bads = [self._one() for _ in range(self.o.bad)]
        order = sorted(range(len(bads)), key=lambda i: (bads[i].gap, bads[i].rank, i))
        out: list[bytes] = []
        at = 0
        placed = [0] * len(bads)
        for i in order:
            b = bads[i]
            out.extend(self.records[at : b.gap])
            at = b.gap
            placed[i] = len(out)
            out.append(b.raw)
        out.extend(self.records[at:])
        gaps = sorted(b.gap for b in bads)
        for s in self.specs:  # move each statement by the bad inputs before it
            s.first += bisect_right(gaps, s.first)
            s.last += bisect_right(gaps, s.last)
        manifest: list[ManifestEntry] = []
        for i, b in enumerate(bads):
            index = placed[i]
            effects: tuple[str, ...] = ()
            number: str | None = None
            if b.spec is not None:
                s = self.specs[b.spec]
                s.rejected += 1
                number = s.number
                if not self.bare:
                    s.extra += 1
                    effects = (checks.RECORD_COUNT, checks.REJECTED_RECORDS)
                else:
                    effects = (checks.REJECTED_RECORDS,)
                    if b.kept:
                        s.extra += 1
                        s.last = max(s.last, index)
            manifest.append(
                ManifestEntry(
                    index=index,
                    line=index + 1,
                    kind=b.kind,
                    placement=b.placement,
                    event="framing" if b.kind == "wrong_length" else "record",
                    record_type=b.record_type,
                    reason=b.reason,
                    raw=b.raw.decode("latin-1"),
                    statement=b.spec,
                    statement_number=number,
                    effects=effects,
                )
            )
        manifest.sort(key=lambda m: m.index)
        return out, manifest

    # ---- choosing ---------------------------------------------------------------------------

    def _kinds(self, inside: bool) -> list[str]:
        """The kinds that fit: an orphan Q1 only inside a statement (between statements it
        would start one); without line ends, a record of the wrong length shifts every record
        after it, so only one, at the very end."""
        kinds = [k for k in self.o.bad_kinds if not (k == "orphan_q1" and not inside)]
        if self.none and (inside or self.tail_used):
            kinds = [k for k in kinds if k != "wrong_length"]
        return kinds or self._fallback()

    def _fallback(self) -> list[str]:
        return [k for k in MALFORMED_KINDS if k != "wrong_length"]

    def _one(self) -> _Bad:
        rng = self.rng
        inside = bool(self.specs) and rng.random() < self.o.bad_inside
        kind = rng.choice(self._kinds(inside))
        if inside:
            bad = self._inside(kind, rng.randrange(len(self.specs)))
            if bad is not None:
                return bad
            kind = rng.choice(
                [k for k in self._kinds(True) if k in MALFORMED_KINDS] or self._fallback()
            )
            bad = self._inside(kind, rng.randrange(len(self.specs)))
            assert bad is not None
            return bad
        if kind == "wrong_length" and self.none:
            gap = len(self.records)
            self.tail_used = True
        else:
            low, high = rng.choice(self.between)
            gap = rng.randint(low, high)
        spec = self._landing(gap)
        if kind in MALFORMED_KINDS:
            return self._malformed(kind, gap, "between", spec)
        port, filer = self._context(spec)
        if spec is None:
            why = "record with no statement open"
        elif kind == "duplicate_q4":
            why = self._q4_reason(self.specs[spec])
        else:
            why = {"stray_q2": "Q2 without its Q1", "qa_out_of_sequence": "QA without its Q1"}[kind]
        record_type, raw = self._well_formed(kind, port, filer, None)
        return _Bad(gap, 0, kind, "between", raw, why, record_type, True, spec)

    def _landing(self, gap: int) -> int | None:
        """The statement a bad input at this gap (between statements) lands on: in bare
        framing the one before it, which is still open; in block framing none."""
        if not self.bare:
            return None
        i = bisect_left(self.ends, gap)
        return i if i < len(self.ends) and self.ends[i] == gap else None

    def _q4_reason(self, s: _Spec) -> str:
        del s  # a second Q4 is a duplicate wherever it lands after the first
        return "duplicate Q4"

    def _context(self, spec: int | None) -> tuple[str, str]:
        if spec is not None:
            s = self.specs[spec]
            return s.filer.port, s.filer.code
        return self.rng.choice(_PORTS), "B76"

    def _inside(self, kind: str, k: int) -> _Bad | None:
        """A bad input inside statement k, where it causes the reject its kind is about; None
        when the statement has no such place (e.g. no daily statement for a stray Q2)."""
        s = self.specs[k]
        records, rng = self.records, self.rng
        port, filer = s.filer.port, s.filer.code
        if kind in MALFORMED_KINDS:  # anywhere after its first record, up to its last
            return self._malformed(kind, rng.randint(s.first + 1, s.last), "inside", k)

        # The gap right after a record of the statement (bare: maybe right after its last).
        def after(prefix: bytes) -> list[int]:
            return [i + 1 for i in range(s.first, s.last + 1) if records[i][:2] == prefix]

        if kind == "stray_q2":  # a second copy of a daily statement's Q2
            gaps = after(b"Q2")
            if not gaps:
                return None
            gap = rng.choice(gaps)
            dsn = records[gap - 2][2:12].decode().rstrip()
            why = f"duplicate Q2 for daily statement {dsn}"
            return _Bad(gap, 0, kind, "inside", records[gap - 1], why, "Q2", True, k)
        if kind == "qa_out_of_sequence":  # QA 02 right after the Q2: before (or without) 01
            gaps = after(b"Q2")
            if not gaps:
                return None
            _, raw = self._well_formed(kind, port, filer, None)
            why = "QA sequence 02 skips 01"
            return _Bad(rng.choice(gaps), 0, kind, "inside", raw, why, "QA", True, k)
        if kind == "duplicate_q4":
            gap = after(b"Q4")[0]
            return _Bad(gap, 0, kind, "inside", records[gap - 1], "duplicate Q4", "Q4", True, k)
        # orphan_q1: right before a Q1 or the Q3 of the statement (never its first record)
        starts = [i for i in range(s.first + 1, s.last + 1) if records[i][:2] in (b"Q1", b"Q3")]
        if not starts:
            return None
        dsn = f"{port}X{rng.randrange(10**5):05d}"
        _, raw = self._well_formed(kind, port, filer, dsn)
        why = f"Q1 of daily statement {dsn} is not followed by its Q2"
        return _Bad(rng.choice(starts), 1, kind, "inside", raw, why, "Q1", True, k)

    # ---- making them ------------------------------------------------------------------------

    def _q1(self, port: str, filer: str, dsn: str | None = None) -> bytes:
        rng = self.rng
        day = date(rng.randint(2021, 2027), rng.randint(1, 12), rng.randint(1, 28))
        dsn = dsn or f"{port}{rng.randrange(10**6):06d}"
        amounts = (rng.randrange(10**7), rng.randrange(10**5))
        return self.render("Q1", dsn, port, filer, "", _mmddyy(day), _mmddyy(day), *amounts)

    def _q2(self) -> bytes:
        add, cvd, rest = (self.rng.randrange(10**5) for _ in range(3))
        return self.render("Q2", add, cvd, add + cvd + rest)

    def _well_formed(self, kind: str, port: str, filer: str, dsn: str | None) -> tuple[str, bytes]:
        rng = self.rng
        if kind == "stray_q2":
            return "Q2", self._q2()
        if kind == "duplicate_q4":
            add, cvd, rest = (rng.randrange(10**6) for _ in range(3))
            return "Q4", self.render("Q4", add, cvd, add + cvd + rest)
        if kind == "qa_out_of_sequence":
            return "QA", self.render("QA", 2, "501", rng.randint(1, 99_999), filled=1)
        return "Q1", self._q1(port, filer, dsn)

    def _malformed(
        self, kind: str, gap: int, placement: Literal["between", "inside"], spec: int | None
    ) -> _Bad:
        rng = self.rng
        port, filer = self._context(spec)
        record_type: str | None
        if kind == "wrong_length":
            text = self._q1(port, filer).decode()
            n = rng.choice((40, 79)) if self.none else rng.choice((40, 79, 81, 100))
            text = text[:n] if n < 80 else text + "X" * (n - 80)
            why = (
                f"trailing partial record of {n} bytes"
                if self.none
                else f"line is {n} characters long"
            )
            record_type = None
        elif kind == "non_digit_amount":
            text = self._q2().decode()
            at = rng.choice((2, 13, 24)) + rng.randrange(11)
            text = text[:at] + rng.choice("O I") + text[at + 1 :]
            why, record_type = "an amount is 11 digits with two implied decimals", "Q2"
        elif kind == "impossible_date":
            text = self._q1(port, filer).decode()
            bad = rng.choice(("0230", "0431", "1315", "0001", "0932"))
            text = text[:31] + bad + text[35:]
            why, record_type = "impossible date", "Q1"
        elif kind == "lower_case_code":
            text = self._q1(port, filer if spec is not None else "ABC").decode()
            text = text[:16] + text[16:19].lower() + text[19:]
            why, record_type = "not allowed: class AN takes upper-case letters and digits", "Q1"
        elif kind == "non_blank_filler":
            text = self._q2().decode()
            at = rng.randint(35, 79)
            text = text[:at] + rng.choice("X*0.") + text[at + 1 :]
            why, record_type = "filler must be spaces", "Q2"
        else:  # unknown_record_type
            text = "Q" + rng.choice("89BCDFZ") + self._q2().decode()[2:]
            why, record_type = "unknown record type", None
        rank = 2 if kind == "wrong_length" and self.none else 0
        return _Bad(gap, rank, kind, placement, text.encode(), why, record_type, False, spec)


# ---------------------------------------------------------------------------------------------
# Expected statements
# ---------------------------------------------------------------------------------------------


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _fees(fees: Iterable[tuple[str, int]]) -> list[FeeAmount]:
    return [FeeAmount(code, fee_class(code).name, _money(amount)) for code, amount in fees]


def _totals(t: _Totals) -> Totals:
    return Totals(
        duty=_money(t.duty),
        tax=_money(t.tax),
        add=_money(t.add),
        cvd=_money(t.cvd),
        amount_due=_money(t.due),
        fees=_fees(t.fees),
    )


def _difference(final: _Totals, pre: _Totals) -> _Totals:
    fin_fees, pre_fees = dict(final.fees), dict(pre.fees)
    codes = dict.fromkeys([*pre_fees, *fin_fees])
    return _Totals(
        final.duty - pre.duty,
        final.tax - pre.tax,
        final.add - pre.add,
        final.cvd - pre.cvd,
        tuple((c, fin_fees.get(c, 0) - pre_fees.get(c, 0)) for c in codes),
    )


def _expected_checks(s: _Spec, diff: _Totals | None, block: bool) -> list[Check]:
    found: list[Check] = []
    if s.rejected and block:
        inner = s.count - 2
        found.append(
            Check(
                checks.RECORD_COUNT,
                "error",
                f"Y record counts {inner} records; the block holds {inner + s.extra}",
            )
        )
    if s.rejected:
        found.append(
            Check(
                checks.REJECTED_RECORDS,
                "error",
                f"{s.rejected} record(s) of this statement were rejected",
            )
        )
    if diff is not None:
        parts = [("duty", diff.duty), ("tax", diff.tax), ("add", diff.add), ("cvd", diff.cvd)]
        parts.append(("amount_due", diff.due))
        changed = [f"{name} {_money(v):.2f}" for name, v in parts if v]
        changed += [f"fee class {c} {_money(v):.2f}" for c, v in diff.fees if v]
        if changed:
            found.append(
                Check(
                    checks.FINAL_DIFFERENCE,
                    "info",
                    "final differs from preliminary: " + ", ".join(changed),
                )
            )
    return found


def _expected(s: _Spec, o: GenerateOptions, file: str | None) -> Statement:
    block = o.framing == "block"
    diff = _difference(s.final, s.preliminary) if s.final is not None else None
    if o.line_end == "none":
        source = Source(file=file, first_record=s.first + 1, last_record=s.last + 1)
    else:
        source = Source(file=file, first_line=s.first + 1, last_line=s.last + 1)
    deleted = [
        DeletedEntryEvent(dsn, entry, src, format_entry_number(entry))
        for dsn, entry, src in s.deleted
    ]
    return Statement(
        statement_number=s.number,
        status=s.status,
        payment_type=s.payment_type if block else None,
        filer_code=s.filer.code,
        importer_number=s.importer,
        client_branch=s.branch if block else None,
        district_port=s.filer.port if block else None,
        office_code=s.filer.office if block else None,
        print_date=s.print_date,
        due_date=s.due_date,
        process_date=s.process_date if block else None,
        daily_statements=[
            DailyStatement(
                number=d.number,
                district_port=d.port,
                filer_code=d.filer,
                importer_number=d.importer,
                print_date=d.printed,
                presentation_date=d.presented,
                duty=_money(d.duty),
                tax=_money(d.tax),
                add=_money(d.add),
                cvd=_money(d.cvd),
                amount_due=_money(d.due),
                fees=_fees(d.fees),
            )
            for d in s.daily
        ],
        preliminary_totals=_totals(s.preliminary),
        final_totals=_totals(s.final) if s.final is not None else None,
        difference=_totals(diff) if diff is not None else None,
        deleted_entries=deleted,
        checks=_expected_checks(s, diff, block),
        framing=o.framing,
        record_count=s.count + s.extra,
        source=source,
    )


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def generate(options: GenerateOptions) -> Generated:
    """The records of `options`, their statements and the manifest of bad inputs."""
    maker = _Maker(options, keep=True)
    records: list[bytes] = []
    for chunk in maker.chunks():
        records += chunk
    manifest: list[ManifestEntry] = []
    if options.bad:
        records, manifest = _Injector(options, records, maker.specs).run()
    return Generated(options, records, manifest, maker.specs)


class RecordStream:
    """The records of a clean run (`bad` is ignored), in chunks, keeping nothing: memory stays
    flat however many records are asked for. The same records as `generate(options).records`.
    """

    def __init__(self, options: GenerateOptions) -> None:
        self._maker = _Maker(options, keep=False)

    def __iter__(self) -> Iterator[list[bytes]]:
        return self._maker.chunks()

    @property
    def statement_count(self) -> int:
        """Statements in the records iterated so far."""
        return self._maker.statements

    @property
    def final_count(self) -> int:
        return self._maker.finals


def write(records: Iterable[bytes], stream: BinaryIO, line_end: LineEnd = "lf") -> None:
    """Write records to a binary stream, each followed by the line end ("none": concatenated)."""
    end = LINE_ENDS[line_end]
    batch: list[bytes] = []
    for record in records:
        batch.append(record)
        if len(batch) >= 8192:
            stream.write(end.join(batch) + end)
            batch.clear()
    if batch:
        stream.write(end.join(batch) + end)
