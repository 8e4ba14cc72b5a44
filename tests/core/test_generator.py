"""The generator: deterministic, valid by construction, realistic, and an exact oracle for parse.

Generated files are parsed by the real `parse_stream` (framing, codec, assembler, checks) and the
statements must equal the generator's own expectations field for field, with no reject and no
failing check; with bad inputs injected, exactly the manifest's rejects appear and every
statement the manifest does not name is the clean run's.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from pms_stream.catair.codec import encode_record, parse_record
from pms_stream.cli import main
from pms_stream.commands.parse import parse_stream
from pms_stream.domain.entry_numbers import is_valid_entry_number
from pms_stream.domain.fee_classes import FEE_CLASSES
from pms_stream.domain.importer_numbers import ImporterShape, shape_of
from pms_stream.domain.statement_numbers import decode_statement_number
from pms_stream.generator import (
    BAD_KINDS,
    Framing,
    Generated,
    GenerateOptions,
    LineEnd,
    RecordStream,
    generate,
    write,
)
from pms_stream.statements import checks
from pms_stream.statements.model import Event, RejectedEvent, Source, Statement

FRAMINGS: tuple[Framing, ...] = ("block", "bare")
LINE_ENDS: tuple[LineEnd, ...] = ("lf", "crlf", "none")
_DECODER = msgspec.json.Decoder(Event)


def parse(made: Generated, name: str = "gen.txt") -> tuple[list[Statement], list[RejectedEvent]]:
    """Write the records as the options say and parse them like `pms-stream parse` does."""
    data = io.BytesIO()
    made.write(data)
    out = io.BytesIO()
    parse_stream(io.BytesIO(data.getvalue()), name, out)
    events = [_DECODER.decode(line) for line in out.getvalue().splitlines()]
    statements = [e for e in events if isinstance(e, Statement)]
    rejects = [e for e in events if isinstance(e, RejectedEvent)]
    assert len(statements) + len(rejects) == len(events)
    return statements, rejects


def without_source(statement: Statement) -> Statement:
    return msgspec.structs.replace(statement, source=Source())


def first_difference(got: list[Statement], want: list[Statement]) -> str:
    """A readable account of where two lists of statements part (for assertion messages)."""
    if len(got) != len(want):
        return f"{len(got)} statements, expected {len(want)}"
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if a != b:
            fields = [f for f in a.__struct_fields__ if getattr(a, f) != getattr(b, f)]
            return f"statement {i} ({b.statement_number}): {fields} differ: " + "; ".join(
                f"{f}: {getattr(a, f)!r} != {getattr(b, f)!r}" for f in fields
            )
    return "equal"


# ---- determinism and validity --------------------------------------------------------------


def test_same_seed_same_output_and_another_seed_another() -> None:
    options = GenerateOptions(statements=12, seed=42, bad=4, bad_inside=0.5)
    one, two = generate(options), generate(options)
    assert one.records == two.records
    assert one.manifest == two.manifest
    assert one.statements() == two.statements()
    other = generate(GenerateOptions(statements=12, seed=43, bad=4, bad_inside=0.5))
    assert other.records != one.records


@pytest.mark.parametrize("framing", FRAMINGS)
def test_every_record_is_valid_and_as_encode_record_writes_it(framing: Framing) -> None:
    """Templates and the typed path agree byte for byte; every record parses and re-encodes to
    itself (so it is canonical: what encode_record makes of its typed record)."""
    for seed in range(8):
        options = GenerateOptions(statements=8, seed=seed, framing=framing, daily=(1, 8))
        fast = generate(options)
        typed = generate(dataclasses.replace(options, validate=True))
        assert fast.records == typed.records
        for raw in fast.records:
            assert encode_record(parse_record(raw)) == raw


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="daily"):
        GenerateOptions(daily=(3, 2))
    with pytest.raises(ValueError, match="daily"):  # a statement needs a daily statement
        GenerateOptions(daily=(0, 2))
    with pytest.raises(ValueError, match="bad kinds"):
        GenerateOptions(bad_kinds=("nonsense",))
    with pytest.raises(ValueError, match="share"):
        GenerateOptions(finals=1.5)
    with pytest.raises(ValueError, match="framing"):
        GenerateOptions(framing="xml")  # type: ignore[arg-type]


# ---- generate -> parse ---------------------------------------------------------------------


@pytest.mark.parametrize("line_end", LINE_ENDS)
@pytest.mark.parametrize("framing", FRAMINGS)
def test_parse_gives_exactly_the_generated_statements(framing: Framing, line_end: LineEnd) -> None:
    for seed in range(50):
        options = GenerateOptions(
            statements=4,
            seed=seed,
            framing=framing,
            line_end=line_end,
            finals=0.8,
            final_changes=0.5,
            deletions=0.5,
        )
        made = generate(options)
        got, rejects = parse(made)
        want = made.statements("gen.txt")
        assert rejects == [], f"seed {seed}: {rejects[0]}"
        assert len(got) == 4 == made.statement_count
        assert got == want, f"seed {seed}: {first_difference(got, want)}"
        for statement in got:  # the only check a clean file reports is the final's difference
            assert all(c.code == checks.FINAL_DIFFERENCE for c in statement.checks)
            assert all(c.severity == "info" for c in statement.checks)


def test_clean_files_pass_every_check() -> None:
    """Without final changes, no statement reports any check at all; with them, exactly the
    finals whose amounts differ report their difference (severity info), and nothing else."""
    for framing in FRAMINGS:
        quiet = generate(GenerateOptions(statements=300, seed=5, framing=framing, final_changes=0))
        got, rejects = parse(quiet)
        assert not rejects
        assert [s.checks for s in got] == [[]] * 300
    made = generate(GenerateOptions(statements=300, seed=6, final_changes=0.5))
    got, rejects = parse(made)
    assert not rejects
    differing = [s for s in got if s.difference is not None and s.difference.amount_due != 0]
    assert differing
    for s in got:
        codes = [c.code for c in s.checks]
        assert codes == ([checks.FINAL_DIFFERENCE] if s in differing else [])


@pytest.mark.parametrize("daily", [(1, 1), (1, 2), (9, 9), (1, 30)])
def test_daily_statement_range(daily: tuple[int, int]) -> None:
    for framing in FRAMINGS:
        made = generate(GenerateOptions(statements=10, seed=3, daily=daily, framing=framing))
        got, rejects = parse(made)
        assert not rejects
        assert got == made.statements("gen.txt"), first_difference(got, made.statements())
        assert all(daily[0] <= len(s.daily_statements) <= daily[1] for s in got)


def test_many_daily_statements_stay_within_the_amount_fields() -> None:
    made = generate(GenerateOptions(statements=2, seed=1, daily=(400, 400), validate=True))
    got, rejects = parse(made)
    assert not rejects
    assert got == made.statements("gen.txt")
    assert all(s.preliminary_totals.amount_due < 10**8 for s in got)


# ---- bad inputs ----------------------------------------------------------------------------


def match_manifest(made: Generated, rejects: list[RejectedEvent]) -> None:
    """Each manifest entry has exactly one reject, at its line, with its reason and raw text;
    and there is no other reject."""
    by_line: dict[int | None, list[RejectedEvent]] = {}
    for r in rejects:
        line = r.source.first_line if made.options.line_end != "none" else r.source.first_record
        by_line.setdefault(line, []).append(r)
    for entry in made.manifest:
        found = by_line.pop(entry.line, [])
        assert len(found) == 1, f"{entry}: {found}"
        reject = found[0]
        assert entry.reason in reject.reason, f"{entry.kind}: {reject.reason!r}"
        assert (reject.kind, reject.record_type, reject.raw) == (
            entry.event,
            entry.record_type,
            entry.raw,
        )
        assert made.records[entry.index].decode("latin-1") == entry.raw
    assert not by_line, f"rejects not in the manifest: {by_line}"


@pytest.mark.parametrize("inside", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("line_end", LINE_ENDS)
@pytest.mark.parametrize("framing", FRAMINGS)
def test_bad_inputs_cause_exactly_the_manifest(
    framing: Framing, line_end: LineEnd, inside: float
) -> None:
    for seed in range(25):
        clean_options = GenerateOptions(statements=5, seed=seed, framing=framing, line_end=line_end)
        options = dataclasses.replace(clean_options, bad=6, bad_inside=inside)
        made = generate(options)
        assert len(made.manifest) == 6
        assert len(made.records) == len(generate(clean_options).records) + 6
        got, rejects = parse(made)
        match_manifest(made, rejects)
        want = made.statements("gen.txt")
        assert got == want, f"seed {seed}: {first_difference(got, want)}"
        clean = generate(clean_options).statements("gen.txt")
        affected = {e.statement for e in made.manifest}
        for i, (bad, good) in enumerate(zip(got, clean, strict=True)):
            if i in affected:
                effects = {c for e in made.manifest if e.statement == i for c in e.effects}
                added = [c.code for c in bad.checks if c not in good.checks]
                assert set(added) == effects
            else:
                assert without_source(bad) == without_source(good), f"seed {seed}, {i}"


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_each_kind_between_and_inside(kind: str) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    for framing in FRAMINGS:
        for inside in (0.0, 1.0):
            made = generate(
                GenerateOptions(
                    statements=6,
                    seed=11,
                    framing=framing,
                    bad=4,
                    bad_kinds=(kind,),
                    bad_inside=inside,
                )
            )
            got, rejects = parse(made)
            match_manifest(made, rejects)
            assert got == made.statements("gen.txt")
            seen.update((e.kind, e.placement) for e in made.manifest)
    assert seen[kind, "inside"]
    if kind != "orphan_q1":  # an orphan Q1 between statements would start a statement
        assert seen[kind, "between"]


def test_between_blocks_affects_no_statement() -> None:
    made = generate(GenerateOptions(statements=10, seed=9, bad=20))
    assert {e.placement for e in made.manifest} == {"between"}
    assert {e.statement for e in made.manifest} == {None}
    got, rejects = parse(made)
    assert len(rejects) == 20
    assert all(s.checks == [] or s.status == "final" for s in got)


def test_without_line_ends_one_short_record_at_the_very_end() -> None:
    made = generate(
        GenerateOptions(statements=4, seed=2, line_end="none", bad=5, bad_kinds=("wrong_length",))
    )
    short = [e for e in made.manifest if e.kind == "wrong_length"]
    assert len(short) == 1
    assert short[0].index == len(made.records) - 1
    _, rejects = parse(made)
    match_manifest(made, rejects)


# ---- realism -------------------------------------------------------------------------------


def test_content_is_realistic() -> None:
    made = generate(GenerateOptions(statements=1500, seed=21, bad=0))
    statements = made.statements()
    types = Counter(s.payment_type for s in statements)
    assert set(types) == {"6", "7", "8"}
    shapes = Counter(shape_of(s.importer_number) for s in statements if s.importer_number)
    assert {ImporterShape.IRS, ImporterShape.CBP, ImporterShape.SSN} <= set(shapes)
    assert shapes[ImporterShape.SSN] < shapes[ImporterShape.CBP] < shapes[ImporterShape.IRS]
    fees: Counter[str] = Counter()
    prelims: set[str] = set()
    finals = with_prelim = differing = 0
    for s in statements:
        assert (s.importer_number is None) == (s.payment_type == "6")
        number = decode_statement_number(s.statement_number)
        assert s.district_port is not None
        assert number.district == s.district_port[:2]
        assert (s.print_date.year * 12 + s.print_date.month) - (
            number.year * 12 + number.month
        ) == 1
        assert s.print_date < s.due_date
        assert s.process_date == s.print_date or s.status == "final"
        assert s.process_date is not None
        assert s.process_date < s.due_date
        assert 1 <= len(s.daily_statements) <= 6
        for d in s.daily_statements:
            assert d.print_date <= d.presentation_date
            assert (d.print_date.year, d.print_date.month) == (number.year, number.month)
            fees.update(f.code for f in d.fees)
            assert len(d.fees) <= 10
        for e in s.deleted_entries:
            assert is_valid_entry_number(e.entry_number)
            assert e.delete_source in {"ENC", "BKR", "ABI"} or e.delete_source.isdigit()
        if s.status == "preliminary":
            prelims.add(s.statement_number)
        else:
            finals += 1
            with_prelim += s.statement_number in prelims
            assert s.difference is not None
            differing += s.difference.amount_due != 0
    top = [code for code, _ in fees.most_common(2)]
    assert top == ["499", "501"]
    assert set(fees) - set(FEE_CLASSES), "an unknown fee class code now and then"
    assert len(set(fees) & set(FEE_CLASSES)) > 15
    assert finals > 300
    assert with_prelim > 0.8 * finals
    assert 0 < differing < finals
    sources = Counter(e.delete_source[:1].isdigit() for s in statements for e in s.deleted_entries)
    assert sources[True], "team numbers"
    assert sources[False], "ENC, BKR, ABI"
    two_qa = sum(1 for r in made.records if r.startswith(b"QA02"))
    assert two_qa, "a daily statement with more than five fees has a second QA record"


def test_a_final_repeats_the_preliminary_totals() -> None:
    made = generate(GenerateOptions(statements=400, seed=4, final_changes=1.0))
    prelims: dict[str, Statement] = {}
    compared = 0
    for s in made.statements():
        if s.status == "preliminary":
            prelims[s.statement_number] = s
        elif s.statement_number in prelims:
            p = prelims[s.statement_number]
            assert s.preliminary_totals == p.preliminary_totals
            assert s.print_date == p.print_date
            assert [d.number for d in s.daily_statements] == [d.number for d in p.daily_statements]
            assert all(e in s.deleted_entries for e in p.deleted_entries)
            assert s.difference is not None
            if s.difference.amount_due:  # an entry deleted after the preliminary: listed in Q7
                assert s.difference.amount_due < 0
                assert len(s.deleted_entries) > len(p.deleted_entries)
            compared += 1
    assert compared > 50


# ---- sizes, streaming and writing ----------------------------------------------------------


@pytest.mark.parametrize("framing", FRAMINGS)
def test_records_target(framing: Framing) -> None:
    for target in (1, 50, 777, 3000):
        made = generate(GenerateOptions(records=target, seed=target, framing=framing))
        assert len(made.records) >= target
        last = made.statements()[-1]
        assert last.source.first_line is not None
        assert last.source.first_line - 1 <= target, "stopped at the first statement past N"


def test_record_stream_is_generate_without_the_memory() -> None:
    for framing in FRAMINGS:
        options = GenerateOptions(statements=37, seed=8, framing=framing)
        stream = RecordStream(options)
        streamed = [r for chunk in stream for r in chunk]
        made = generate(options)
        assert streamed == made.records
        assert (stream.statement_count, stream.final_count) == (37, made.final_count)


def test_write_line_ends() -> None:
    records = [b"Q" + bytes([48 + i]) * 79 for i in range(3)]
    ends: tuple[tuple[LineEnd, bytes], ...] = (("lf", b"\n"), ("crlf", b"\r\n"), ("none", b""))
    for line_end, sep in ends:
        out = io.BytesIO()
        write(records, out, line_end)
        assert out.getvalue() == b"".join(r + sep for r in records)
    out = io.BytesIO()
    write([], out)
    assert out.getvalue() == b""


def test_zero_statements() -> None:
    made = generate(GenerateOptions(statements=0, bad=3))
    assert made.statement_count == 0
    assert len(made.records) == 3
    got, rejects = parse(made)
    assert not got
    match_manifest(made, rejects)


# ---- the command ---------------------------------------------------------------------------


def test_command_writes_records_manifest_and_expected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, manifest, expected = tmp_path / "out.txt", tmp_path / "bad.jsonl", tmp_path / "exp.jsonl"
    args = ["generate", "--statements", "15", "--seed", "4", "--bad", "3", "--bad-inside", "0.5"]
    args += ["--line-end", "crlf", "--daily", "2-4", "-o", str(out)]
    assert main([*args, "--manifest", str(manifest), "--expected", str(expected)]) == 0
    assert "15 statements" in capsys.readouterr().err
    options = GenerateOptions(
        statements=15, seed=4, bad=3, bad_inside=0.5, line_end="crlf", daily=(2, 4)
    )
    made = generate(options)
    data = io.BytesIO()
    made.write(data)
    assert out.read_bytes() == data.getvalue()
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [e["line"] for e in entries] == [m.line for m in made.manifest]
    assert [e["reason"] for e in entries] == [m.reason for m in made.manifest]
    parsed = io.BytesIO()
    with out.open("rb") as stream:
        parse_stream(stream, str(out), parsed)
    printed = [line for line in parsed.getvalue().splitlines() if b'"type":"statement"' in line]
    assert printed == expected.read_bytes().splitlines()


def test_command_streams_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["generate", "--records", "500", "--framing", "bare", "--line-end", "none"]) == 0
    captured = capsysbinary.readouterr()
    options = GenerateOptions(records=500, framing="bare", line_end="none")
    assert captured.out == b"".join(generate(options).records)
    assert b"records" in captured.err


def test_command_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (["--daily", "5-2"], ["--bad-kinds", "nope"], ["--finals", "2"], ["--bad", "-1"]):
        with pytest.raises(SystemExit) as exc:
            main(["generate", *bad])
        assert exc.value.code == 2
    assert main(["generate", "--quiet", "-o", "/nonexistent/dir/x.txt"]) == 2
    assert "cannot write" in capsys.readouterr().err
