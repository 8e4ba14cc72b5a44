"""The fast path for whole MS blocks: B ... Y in one regular expression, money in integer cents,
the statement's JSON line written straight from the record text.

`statement_line` (a block's raw records) and `block_line` (a block inside a run's text, from
statements/fastfeed.py's `BlockShortcut`) return the JSON line only when they are sure that the
assembler would make exactly this statement with no check other than `final_difference`;
anything else (a record the codec would refuse, an order the assembler would reject, any failed
check, a header difference, a quote or backslash anywhere, a non-ASCII byte) gives None, and
the block's records go to the assembler, which then does what it always did. The output is the
same either way, byte for byte: `tests/core/test_fastblock.py` holds the two paths to it.

Why it is exact: the expression is the codec's own (`catair.fastpath.record_pattern`, one per
layout, joined with the record order the assembler accepts), so a block it matches holds only
records the codec accepts field by field, in an order the assembler takes without a reject;
what the expression cannot say (dates, allowed values, sequence numbers, counts, sums) is
checked here. Amounts are integer cents (never float); their JSON text is what msgspec writes
for the codec's `Decimal` of the same digits (`units.cents`, leading zeros dropped).

Flow: framing -> fast feed -> **fast block** (else codec -> assembler -> checks -> model) ->
JSON lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Final

import msgspec

from pms_stream.catair.fastpath import record_pattern
from pms_stream.catair.fields import RECORD_LENGTH
from pms_stream.catair.layouts import LAYOUTS_BY_TYPE
from pms_stream.domain.delete_sources import is_delete_source
from pms_stream.domain.entry_numbers import format_entry_number, is_valid_entry_number
from pms_stream.domain.payment_types import MONTHLY_PAYMENT_TYPES
from pms_stream.statements.checks import FINAL_DIFFERENCE
from pms_stream.statements.fastvalues import DATES as _DATES
from pms_stream.statements.fastvalues import FEE_HEADS as _FEE_HEADS
from pms_stream.statements.fastvalues import NUMBERS as _NUMBERS
from pms_stream.statements.fastvalues import ZEROS as _ZEROS
from pms_stream.statements.fastvalues import json_text as _text
from pms_stream.statements.fastvalues import money as _money
from pms_stream.statements.fastvalues import off_calendar as _off_calendar
from pms_stream.statements.model import Source

__all__ = ["block_line", "matched_statement_line", "statement_line"]

STRIDE: Final = 81  # a record and the "\n" that joins it to the next in the block text


def _pattern(record_type: str) -> str:
    found = record_pattern(LAYOUTS_BY_TYPE[record_type])
    assert found is not None, record_type
    # captures are not needed; each record is a line of the block text, so the look-behinds
    # that hold a field to its end are anchored at the start of the line
    return re.sub(r"\((?!\?)", "(?:", found).replace("(?<=\\A.", "(?<=^.")


BLOCK_TYPES: Final = ("B", "Q1", "Q2", "QA", "Q3", "Q4", "QE", "Q5", "Q6", "QJ", "Q7", "Y")


def block_grammar(p: Mapping[str, str]) -> str:
    """The order of an MS block's records, B (Q1 Q2 QA*)+ Q3 Q4 QE* (Q5 Q6 QJ*)? Q7* Y, as an
    expression over `p[record type]` (each record a line). The one statement of that order for
    the fast path: `stream/held_blocks.py`'s table is tested against it."""
    return (
        f"{p['B']}\n(?:{p['Q1']}\n{p['Q2']}\n(?:{p['QA']}\n)*)+"
        f"{p['Q3']}\n{p['Q4']}\n(?:{p['QE']}\n)*"
        f"(?:{p['Q5']}\n{p['Q6']}\n(?:{p['QJ']}\n)*)?"
        f"(?:{p['Q7']}\n)*{p['Y']}"
    )


def _block_expression() -> re.Pattern[str]:
    return re.compile(block_grammar({t: _pattern(t) for t in BLOCK_TYPES}), re.MULTILINE)


_MATCH: Final = _block_expression().fullmatch


def _at(record_type: str, attr: str) -> tuple[int, int]:
    """0-based start and end (excluded) of a field in its record."""
    f = LAYOUTS_BY_TYPE[record_type].field(attr)
    return f.start - 1, f.end


def _slots(record_type: str, group: str) -> tuple[tuple[int, int, int], ...]:
    """(code start, amount start, amount end) or (entry start, source start, source end) of
    each slot of a repeated group, 0-based."""
    fields = [f for f in LAYOUTS_BY_TYPE[record_type].fields if f.group == group]
    return tuple(
        (a.start - 1, b.start - 1, b.end) for a, b in zip(fields[::2], fields[1::2], strict=True)
    )


# Field positions, from the layouts (0-based start, end excluded).
B_PORT, B_FILER, B_APP = (
    _at("B", "district_port"),
    _at("B", "filer_code"),
    _at("B", "application_id"),
)
B_STATUS, B_NUMBER = _at("B", "statement_status"), _at("B", "statement_number")
B_PRINT, B_PAYMENT = _at("B", "print_date"), _at("B", "payment_type")
B_IMPORTER, B_BRANCH = _at("B", "importer_number"), _at("B", "client_branch")
B_OFFICE, B_PREPARER = _at("B", "office_code"), _at("B", "preparer_indicator")
Y_PORT, Y_FILER, Y_APP = (
    _at("Y", "district_port"),
    _at("Y", "filer_code"),
    _at("Y", "application_id"),
)
Y_COUNT, Y_MARK = _at("Y", "record_count"), _at("Y", "trailer_mark")
FEE_SLOTS = _slots("QA", "fees")
ENTRY_SLOTS = _slots("Q7", "entries")
assert FEE_SLOTS == _slots("QE", "fees") == _slots("QJ", "fees")
assert _at("Q2", "add") == _at("Q4", "add")
assert _at("QA", "sequence") == _at("QE", "sequence") == _at("QJ", "sequence") == (2, 4)


# The positions below are written as numbers (the fastest slices); they are checked against the
# layouts here, at import.
assert FEE_SLOTS == ((4, 7, 18), (18, 21, 32), (32, 35, 46), (46, 49, 60), (60, 63, 74))
assert FEE_SLOTS == _slots("QE", "fees") == _slots("QJ", "fees")
assert _at("QA", "sequence") == _at("QE", "sequence") == _at("QJ", "sequence") == (2, 4)
assert [_at("Q1", a) for a in ("daily_statement_number", "district_port", "filer_code")] == [
    (2, 12),
    (12, 16),
    (16, 19),
]
assert [_at("Q1", a) for a in ("importer_number", "print_date", "presentation_date")] == [
    (19, 31),
    (31, 37),
    (37, 43),
]
assert [_at("Q1", a) for a in ("duty", "tax")] == [(43, 54), (54, 65)]
for _t in ("Q2", "Q4", "Q6"):
    assert [_at(_t, a) for a in ("add", "cvd", "amount_due")] == [(2, 13), (13, 24), (24, 35)]
for _t in ("Q3", "Q5"):
    assert [_at(_t, a) for a in ("statement_number", "print_date", "due_date")] == [
        (2, 12),
        (12, 18),
        (18, 24),
    ]
    assert [_at(_t, a) for a in ("filer_code", "importer_number", "duty", "tax")] == [
        (24, 27),
        (27, 39),
        (39, 50),
        (50, 61),
    ]
assert _at("Q7", "daily_statement_number") == (2, 12)
assert ENTRY_SLOTS == ((12, 23, 26), (26, 37, 40), (40, 51, 54), (54, 65, 68))


class _Decline(Exception):  # noqa: N818 - internal signal: the assembler decides
    pass


# The JSON of the model's Structs as msgspec writes it (field order, no spaces); an amount is
# written from its 11 digits: units without leading zeros, ".", the two cents digits.
_DAILY: Final = (
    '{"number":"%s","district_port":"%s","filer_code":"%s","importer_number":%s,'
    '"print_date":"%s","presentation_date":"%s","duty":"%s.%s","tax":"%s.%s",'
    '"add":"%s.%s","cvd":"%s.%s","amount_due":"%s.%s","fees":[%s]}'
)
# A daily statement's records (Q1, Q2, QA ...) of a block the expression matched: number, port,
# filer, importer, print and presentation dates, duty, tax, ADD, CVD, amount due, the QA lines.
_DAILY_RECORDS: Final = re.compile(
    "Q1(.{10})(.{4})(.{3})(.{12})(.{6})(.{6})(.{11})(.{11}).{15}\n"
    "Q2(.{11})(.{11})(.{11}).{45}\n((?:QA.{78}\n)*)"
).findall
_TOTALS: Final = '{"duty":"%s","tax":"%s","add":"%s","cvd":"%s","amount_due":"%s","fees":[%s]}'
_DELETED: Final = (
    '{"daily_statement":"%s","entry_number":"%s","delete_source":"%s",'
    '"entry_number_formatted":"%s"}'
)
_STATEMENT: Final = (
    '{"type":"statement","schema_version":1,"statement_number":"%s","status":"%s",'
    '"payment_type":%s,"filer_code":"%s","importer_number":%s,"client_branch":%s,'
    '"district_port":"%s","office_code":%s,"print_date":"%s","due_date":"%s",'
    '"process_date":%s,"daily_statements":[%s],"preliminary_totals":%s,"final_totals":%s,'
    '"difference":%s,"deleted_entries":[%s],"checks":[%s],"header_differences":[],'
    '"framing":"block","record_count":%d,"source":%s,"reroute_of":null}\n'
)
_COMPONENTS: Final = ("duty", "tax", "add", "cvd", "amount_due")


def _totals(head: str, amounts: str, fees: tuple[int, str]) -> tuple[tuple[int, ...], str]:
    """(duty, tax, ADD, CVD, amount due) of a Q3/Q5 and Q4/Q6 pair and their JSON, with the
    fees' total and JSON; declines when the amount due is not the sum of the others and the
    fees (`total_amount_due`)."""
    fields = [head[39:50], head[50:61], amounts[2:13], amounts[13:24], amounts[24:35]]
    for n, text in enumerate(fields):
        if text[0] == " ":
            fields[n] = _ZEROS
    values = duty, tax, add, cvd, due = tuple(map(int, fields))
    if duty + tax + add + cvd + fees[0] != due:
        raise _Decline
    texts = [f"{t[:9].lstrip('0') or '0'}.{t[9:]}" for t in fields]
    return values, _TOTALS % (*texts, fees[1])


def _totals_json(values: tuple[int, ...], fees: str) -> str:
    return _TOTALS % (*map(_money, values), fees)


def _fee_json(sums: dict[str, int]) -> str:
    heads = _FEE_HEADS
    return ",".join([f'{heads[code]}{_money(c)}"}}' for code, c in sums.items()])


def statement_line(raws: list[bytes], source: Source, process_date: date | None) -> bytes | None:
    """The JSON line of the MS block `raws` (its B record to its Y record, each 80 bytes) as the
    assembler would write it, or None when the assembler must decide."""
    text = b"\n".join(raws).decode("latin-1")  # non-ASCII: the block expression refuses it
    return _block_line(
        text,
        0,
        len(text),
        _SOURCE.encode(source).decode(),
        "null" if process_date is None else f'"{process_date.isoformat()}"',
    )


def _block_line(text: str, start: int, end: int, source: str, process_date: str) -> bytes | None:
    """`statement_line` for the block `text[start:end]` (its records joined by "\n", each 80
    characters, one a byte), with the JSON of its `source` and `process_date` given."""
    if (
        text.find('"', start, end) >= 0
        or text.find("\\", start, end) >= 0
        or _MATCH(text, start, end) is None
    ):
        return None
    try:
        return _statement(text[start:end], source, process_date)
    except _Decline:
        return None


block_line = _block_line  # the entry point for a run's text (statements/fastfeed.py)


def matched_statement_line(
    raws: list[bytes], source: Source, process_date: date | None
) -> bytes | None:
    """`statement_line` for a block whose records the caller has already held, one by one, to
    the codec's expression of each one's type in the block expression's order (all ASCII):
    the same answer without running the block expression again (stream/held_blocks.py)."""
    text = b"\n".join(raws).decode("latin-1")
    if text.find('"') >= 0 or text.find("\\") >= 0:
        return None
    try:
        return _statement(
            text,
            _SOURCE.encode(source).decode(),
            "null" if process_date is None else f'"{process_date.isoformat()}"',
        )
    except _Decline:
        return None


def _daily_statements(
    block: str, end: int, fee_sums: dict[str, int]
) -> tuple[list[str], tuple[int, int, int, int, int]]:
    """The JSON of each daily statement (Q1, Q2, QA ...; `block` from its second line to `end`)
    and the sums of their duty, tax, ADD, CVD and amount due; adds their fees to `fee_sums`.
    Declines when an amount due is not the sum of the others and the fees."""
    rows = _DAILY_RECORDS(block, STRIDE, end)
    try:
        return _dailies(rows, fee_sums)
    except ValueError:  # a blank amount (int refuses it): 0.00, as the codec reads it
        fee_sums.clear()
        blank = " " * 11
        return _dailies([tuple(_ZEROS if f == blank else f for f in row) for row in rows], fee_sums)


def _dailies(
    rows: list[tuple[str, ...]], fee_sums: dict[str, int]
) -> tuple[list[str], tuple[int, int, int, int, int]]:
    dates, template = _DATES, _DAILY
    daily: list[str] = []
    s_d = s_t = s_a = s_c = s_u = 0
    for number, port, filer, importer, q1_print, q1_presented, *amounts, qa in rows:
        duty, tax, add, cvd, due = amounts
        d, t, a, c, u = int(duty), int(tax), int(add), int(cvd), int(due)
        total = d + t + a + c
        fees = ""
        if qa:
            parts: list[str] = []
            total += _fee_lines(qa.split("\n"), "A", fee_sums, parts)[0]
            fees = ",".join(parts)
        if total != u:
            raise _Decline  # daily_amount_due
        s_d += d
        s_t += t
        s_a += a
        s_c += c
        s_u += u
        printed, presented = dates[q1_print], dates[q1_presented]
        if not printed or not presented:
            raise _Decline  # an impossible date: the codec rejects the Q1
        trimmed = importer.rstrip(" ")
        daily.append(
            template
            % (
                number.rstrip(" "),
                port.rstrip(" "),
                filer.rstrip(" "),
                f'"{trimmed}"' if trimmed else "null",
                printed,
                presented,
                duty[:9].lstrip("0") or "0",
                duty[9:],
                tax[:9].lstrip("0") or "0",
                tax[9:],
                add[:9].lstrip("0") or "0",
                add[9:],
                cvd[:9].lstrip("0") or "0",
                cvd[9:],
                due[:9].lstrip("0") or "0",
                due[9:],
                fees,
            )
        )
    return daily, (s_d, s_t, s_a, s_c, s_u)


def _fee_lines(
    lines: list[str], kind: str, fee_sums: dict[str, int], parts: list[str]
) -> tuple[int, int]:
    """The fees of QA, QE or QJ records (`lines`, up to the first other line), numbered 01,
    02, ... without a gap: their JSON appended to `parts`, their sums by fee class added to
    `fee_sums`; returns their total and how many records they are."""
    heads = _FEE_HEADS
    total = seq = 0
    for line in lines:
        if line[1:2] != kind:
            break
        seq += 1
        if int(line[2:4]) != seq:
            raise _Decline  # the assembler rejects a QA/QE/QJ out of sequence
        for start in (4, 18, 32, 46, 60):
            code = line[start : start + 3]
            if code == "   ":
                break  # the block expression holds the slots filled from the first
            if code[2] == " ":
                code = code.rstrip(" ")
            amount = line[start + 3 : start + 14]
            cents = int(amount)
            total += cents
            fee_sums[code] = fee_sums.get(code, 0) + cents
            parts.append(f'{heads[code]}{amount[:9].lstrip("0") or "0"}.{amount[9:]}"}}')
    return total, seq


def _deleted_entries(lines: list[str], i: int, deleted: list[str]) -> int:
    """The JSON of each deleted entry of the Q7 records from line `i`; returns the next line.
    Declines on a check digit or delete source the checks would warn about."""
    while lines[i][1] == "7":
        q7 = lines[i]
        daily_number = q7[2:12].rstrip(" ")
        for start, source_at, end in ENTRY_SLOTS:
            entry = q7[start:source_at].rstrip(" ")
            if not entry:
                break
            where = q7[source_at:end].rstrip(" ")
            if not is_valid_entry_number(entry) or not is_delete_source(where):
                raise _Decline  # entry_check_digit, delete_source
            deleted.append(_DELETED % (daily_number, entry, where, format_entry_number(entry)))
        i += 1
    return i


def _header_checks(b: str, y: str, count: int) -> None:
    """Decline unless B and Y are as the assembler takes them without a reject or a check."""
    status, payment = b[B_STATUS[0]], b[B_PAYMENT[0]]
    b_print = b[B_PRINT[0] : B_PRINT[1]]
    if (
        status not in ("P", "F")  # blank: status_missing
        or (payment != " " and payment not in MONTHLY_PAYMENT_TYPES)
        or b[B_APP[0] : B_APP[1]] != "MS"
        or b[B_PREPARER[0]] not in (" ", "1")
        or (b_print != "      " and not _DATES[b_print])
        or y[Y_MARK[0]] not in (" ", "Y")
        or y[Y_PORT[0] : Y_APP[1]] != b[B_PORT[0] : B_APP[1]]  # trailer_mismatch
        or y[Y_COUNT[0]] == " "  # record_count
        or int(y[Y_COUNT[0] : Y_COUNT[1]]) != count - 2
    ):
        raise _Decline


def _statement(block: str, source: str, process_date: str) -> bytes:
    dates = _DATES
    q3_at = block.find("\nQ3") + 1  # the records are whole lines: this is the Q3 record
    b = block[:RECORD_LENGTH]
    lines = block[q3_at:].split("\n")  # Q3 to Y
    count = q3_at // STRIDE + len(lines)
    y = lines[-1]
    _header_checks(b, y, count)
    final = b[B_STATUS[0]] == "F"
    fee_sums: dict[str, int] = {}
    daily, sums = _daily_statements(block, q3_at, fee_sums)
    # preliminary totals: Q3, Q4, QE 01, 02, ...
    q3, q4 = lines[0], lines[1]
    pre_sums: dict[str, int] = {}
    pre_parts: list[str] = []
    pre_total, n = _fee_lines(lines[2:], "E", pre_sums, pre_parts)
    i = 2 + n
    pre, pre_json = _totals(q3, q4, (pre_total, ",".join(pre_parts)))
    number, filer = q3[2:12].rstrip(" "), q3[24:27].rstrip(" ")
    print_date, due_date = dates[q3[12:18]], dates[q3[18:24]]
    if not print_date or not due_date or _off_calendar(print_date, due_date, final):
        raise _Decline  # an impossible date, or a calendar check the assembler writes
    # final totals: Q5, Q6, QJ 01, 02, ... on final statements only
    fin: tuple[int, ...] | None = None
    final_json = "null"
    fin_sums: dict[str, int] = {}
    if (lines[i][1] == "5") != final:
        raise _Decline  # Q5 on a preliminary statement, or a final one without it
    if final:
        q5, q6 = lines[i], lines[i + 1]
        fin_parts: list[str] = []
        fin_total, n = _fee_lines(lines[i + 2 :], "J", fin_sums, fin_parts)
        i += 2 + n
        fin, final_json = _totals(q5, q6, (fin_total, ",".join(fin_parts)))
        if (
            not dates[q5[12:18]]
            or not dates[q5[18:24]]
            or q5[2:12].rstrip(" ") != number  # header_mismatch
            or q5[24:27].rstrip(" ") != filer
        ):
            raise _Decline
    deleted: list[str] = []
    if lines[i][1] == "7":
        _deleted_entries(lines, i, deleted)
    # totals_sum: the totals (final ones on a final statement) against the daily statements
    stated, stated_fees = (fin, fin_sums) if fin is not None else (pre, pre_sums)
    if sums != stated or (
        stated_fees != fee_sums
        and {k: v for k, v in stated_fees.items() if v} != {k: v for k, v in fee_sums.items() if v}
    ):
        raise _Decline
    # statement_number, statement_month, statement_district, header_mismatch
    sequence = number[7:]
    decoded = _NUMBERS[number[:7]] if len(number) == 10 else None
    if decoded is None or not (sequence.isalnum() and sequence.isascii()):
        raise _Decline  # statement_number: not DDCYPMMXXX
    months = int(print_date[:4]) * 12 + int(print_date[5:7]) - decoded.year * 12 - decoded.month
    b_port = b[B_PORT[0] : B_PORT[1]].rstrip(" ")
    q3_importer = q3[27:39].rstrip(" ")
    b_importer = b[B_IMPORTER[0] : B_IMPORTER[1]].rstrip(" ")
    b_number = b[B_NUMBER[0] : B_NUMBER[1]].rstrip(" ")
    b_print = b[B_PRINT[0] : B_PRINT[1]]
    if (
        months not in (0, 1)
        or b_port[:2] != decoded.district
        or (b_number and b_number != number)
        or (b_print != "      " and dates[b_print] != print_date)
        or b[B_FILER[0] : B_FILER[1]].rstrip(" ") != filer
        or (b_importer and q3_importer and b_importer != q3_importer)
    ):
        raise _Decline
    checks = ""
    difference = "null"
    if fin is not None:
        diff = tuple(f - p for f, p in zip(fin, pre, strict=True))
        diff_fees = {
            c: fin_sums.get(c, 0) - pre_sums.get(c, 0)
            for c in dict.fromkeys([*pre_sums, *fin_sums])
        }
        difference = _totals_json(diff, _fee_json(diff_fees))
        changed = [f"{n} {_money(c)}" for n, c in zip(_COMPONENTS, diff, strict=True) if c]
        changed += [f"fee class {code} {_money(c)}" for code, c in diff_fees.items() if c]
        if changed:
            checks = (
                f'{{"code":"{FINAL_DIFFERENCE}","severity":"info","message":'
                f'"final differs from preliminary: {", ".join(changed)}"}}'
            )
    payment = b[B_PAYMENT[0]]
    importer = q3_importer or b_importer
    line = _STATEMENT % (
        number,
        "final" if final else "preliminary",
        "null" if payment == " " else f'"{payment}"',
        filer,
        f'"{importer}"' if importer else "null",
        _text(b[B_BRANCH[0] : B_BRANCH[1]]),
        b_port,
        _text(b[B_OFFICE[0] : B_OFFICE[1]]),
        print_date,
        due_date,
        process_date,
        ",".join(daily),
        pre_json,
        final_json if fin is not None else "null",
        difference,
        ",".join(deleted),
        checks,
        count,
        source,
    )
    return line.encode()


_SOURCE: Final = msgspec.json.Encoder()
