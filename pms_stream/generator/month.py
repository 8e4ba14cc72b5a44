"""The month simulation: filers, importers, daily statements and their amounts, month by month,
each statement's preliminary and final versions, rendered in output order (one transmission per
filer and status, or bare statements). Amounts are integer cents.

Flow: options -> **month** (render) -> records and `Spec`s -> inject -> expected.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from pms_stream.domain.calendar import working_days
from pms_stream.domain.entry_numbers import check_digit
from pms_stream.domain.fee_classes import FEE_CLASSES
from pms_stream.generator.options import (
    MAX_AMOUNT,
    MPF_MAX,
    MPF_MIN,
    CentTotals,
    Daily,
    Filer,
    GenerateOptions,
    Spec,
)
from pms_stream.generator.render import Renderer, mmddyy

__all__ = ["PORTS", "Maker"]


PORTS: Final = (
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


def _sum(daily: list[Daily]) -> CentTotals:
    fees: dict[str, int] = {}
    duty = tax = add = cvd = 0
    for d in daily:
        duty += d.duty
        tax += d.tax
        add += d.add
        cvd += d.cvd
        for code, amount in d.fees:
            fees[code] = fees.get(code, 0) + amount
    return CentTotals(duty=duty, tax=tax, add=add, cvd=cvd, fees=tuple(fees.items()))


# ---------------------------------------------------------------------------------------------
# The generator proper
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Dates:
    """The dates of one statement month's cycle (all in the month after it)."""

    print_date: date  # preliminary statements: the 11th working day
    final_print: date  # final statements: the working day before the due date
    due: date  # the 15th working day


@dataclass(slots=True, kw_only=True)
class _Plan:
    """One statement of a month: its preliminary and/or final version."""

    filer: Filer
    payment_type: str
    importer: str | None
    branch: str | None
    daily: list[Daily]
    final_daily: list[Daily] | None
    deleted: list[tuple[str, str, str]]
    deleted_after: list[tuple[str, str, str]]
    preliminary: bool
    final: bool
    remote: tuple[str, str, str, str]  # remote preparer port, filer, office, indicator
    own_data: str  # the filer's own data on B
    number: str = ""  # DDCYPMMXXX, given once the month's statements are in order


_STATUSES: Final[tuple[Literal["preliminary", "final"], ...]] = ("preliminary", "final")


class Maker:
    """Builds the statements month by month and renders their records in output order."""

    def __init__(self, *, options: GenerateOptions, keep: bool) -> None:
        self.o = options
        self.rng = random.Random(options.seed)  # noqa: S311 - synthetic data, not secrets
        self.render = Renderer(validate=options.validate)
        self.keep = keep
        self.specs: list[Spec] = []
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
        self.filers: list[Filer] = []
        for _ in range(rng.randint(2, 5) + target // 400):
            code = self._filer_code()
            while code in codes:
                code = self._filer_code()
            codes.add(code)
            port = rng.choice(PORTS)
            self.filers.append(Filer(code=code, port=port, office=f"{rng.randint(1, 9):02d}"))
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
                number = f"{rng.randrange(100):02d}{rng.choice(PORTS)}-{rng.randrange(10**5):05d}"
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
            final_daily: list[Daily] | None = None
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
                    filer=filer,
                    payment_type=payment_type,
                    importer=importer,
                    branch=branch,
                    daily=daily,
                    final_daily=final_daily,
                    deleted=deleted,
                    deleted_after=deleted_after,
                    preliminary=not only_final,
                    final=has_final,
                    remote=remote,
                    own_data=own,
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
        self, filer: Filer, payment_type: str, importer: str | None, days: list[date]
    ) -> list[Daily]:
        rng = self.rng
        low, high = self.o.daily
        last = len(days) - 1
        printed = sorted(rng.randint(0, last) for _ in range(rng.randint(low, high)))
        codes: set[str] = set()
        out: list[Daily] = []
        for at in printed:
            day = days[at]
            port = rng.choice(PORTS) if rng.random() < 0.1 else filer.port  # filed elsewhere
            daily_filer = filer.code
            daily_importer = importer
            if payment_type != "6" and rng.random() < 0.15:
                daily_filer = rng.choice(self.filers).code  # the importer used another broker
            if payment_type == "8" and importer and importer[2] == "-" and rng.random() < 0.5:
                daily_importer = importer[:10] + rng.choice(("01", "02", "A1", "B2"))
            presented = days[min(last, at + rng.choice((0, 0, 1, 1, 2)))]
            duty, tax, add, cvd, fees, entries = self._amounts(codes)
            out.append(
                Daily(
                    number=self._daily_number(port),
                    port=port,
                    filer=daily_filer,
                    importer=daily_importer,
                    printed=day,
                    presented=presented,
                    duty=duty,
                    tax=tax,
                    add=add,
                    cvd=cvd,
                    fees=fees,
                    entries=entries,
                )
            )
        return out

    def _deletions(self, daily: list[Daily], share: float) -> list[tuple[str, str, str]]:
        rng = self.rng
        if not daily or rng.random() >= share:
            return []
        out: list[tuple[str, str, str]] = []
        for d in sorted(rng.sample(daily, min(len(daily), rng.randint(1, 2))), key=daily.index):
            for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
                out.append((d.number, self._entry_number(d.filer), self._delete_source()))
        return out

    def _final(self, daily: list[Daily]) -> tuple[list[Daily], list[tuple[str, str, str]]]:
        """The final version: an entry summary deleted after the preliminary statement comes
        off its daily statement's amounts (and is listed in Q7)."""
        rng = self.rng
        eligible = [d for d in daily if d.entries >= 2]
        if not eligible or rng.random() >= self.o.final_changes:
            return daily, []
        changed = {id(d) for d in rng.sample(eligible, min(len(eligible), rng.randint(1, 2)))}
        out: list[Daily] = []
        deleted: list[tuple[str, str, str]] = []
        for d in daily:
            if id(d) not in changed:
                out.append(d)
                continue
            n = d.entries

            def less(amount: int, n: int = n) -> int:
                return amount - amount // n

            out.append(
                Daily(
                    number=d.number,
                    port=d.port,
                    filer=d.filer,
                    importer=d.importer,
                    printed=d.printed,
                    presented=d.presented,
                    duty=less(d.duty),
                    tax=less(d.tax),
                    add=less(d.add),
                    cvd=less(d.cvd),
                    fees=tuple((c, less(a)) for c, a in d.fees),
                    entries=n - 1,
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
        process = mmddyy(dates.final_print if status == "final" else dates.print_date)
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
    ) -> Spec:
        final = status == "final"
        daily = p.final_daily if final and p.final_daily is not None else p.daily
        deleted = p.deleted + p.deleted_after if final else p.deleted
        if p.deleted_after and final:
            position = {d.number: i for i, d in enumerate(p.daily)}
            deleted = sorted(deleted, key=lambda e: position[e[0]])
        return Spec(
            number=p.number,
            status=status,
            payment_type=p.payment_type,
            filer=p.filer,
            importer=p.importer,
            branch=p.branch,
            print_date=dates.print_date,
            due_date=dates.due,
            final_print_date=dates.final_print,
            process_date=dates.final_print if final else dates.print_date,
            daily=daily,
            preliminary=_sum(p.daily),
            final=_sum(daily) if final else None,
            deleted=deleted,
        )

    def _records(self, spec: Spec, p: _Plan) -> list[bytes]:
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
                    mmddyy(spec.print_date),
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
                        mmddyy(d.printed),
                        mmddyy(d.presented),
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
                mmddyy(spec.print_date),
                mmddyy(spec.due_date),
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
                    mmddyy(spec.final_print_date),
                    mmddyy(spec.due_date),
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
