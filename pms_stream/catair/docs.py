"""Generate docs/records.md, the record reference, from the layouts in `layouts.py`.

The page is a pure function of the layouts, the Structs' names and the rules in `codec.py`'s
docstring: no dates, no machine names, so the committed page can be checked against the code.

    python -m pms_stream.catair.docs --write docs/records.md   # regenerate (make docs)
    python -m pms_stream.catair.docs --check docs/records.md   # exit 1 if stale (make docs-check)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from pms_stream.catair import codec
from pms_stream.catair.fields import Cls, Field, Kind, Layout, Status
from pms_stream.catair.layouts import LAYOUTS
from pms_stream.catair.records import RECORD_TYPES

__all__ = ["codec_rules", "main", "render"]

_CLASSES: Final[dict[Cls, str]] = {
    Cls.A: "upper-case letters, left-justified and space padded",
    Cls.N: "digits; amounts, dates and counts are zero-filled to the full width",
    Cls.AN: "upper-case letters and digits, left-justified and space padded, no embedded spaces "
    "(the chapter's `A/N` is read as AN)",
    Cls.X: "any printable ASCII character (space to `~`); trailing spaces are padding, leading "
    "spaces are data",
}
_STATUSES: Final[dict[Status, str]] = {
    Status.M: "mandatory: a blank value is rejected",
    Status.C: "conditional: may be blank (the attribute is then `None`, or an empty tuple for a "
    "repeated group); the chapter's conditions are checked after parsing, not by the codec",
    Status.O: "optional: may be blank",
}
_KINDS: Final[dict[Kind, str]] = {
    Kind.CONST: "a fixed value, e.g. the control identifier `Q`; checked, not stored",
    Kind.FILLER: "space fill; checked, not stored; a non-blank filler is rejected",
    Kind.TEXT: "`str` without its trailing spaces (leading zeros kept); blank is `None`",
    Kind.AMOUNT: "`Decimal` with two implied decimals (`00000123456` is `1234.56`); blank is "
    "`None`",
    Kind.DATE: "`datetime.date` from MMDDYY, years 2000-2099; blank is `None`",
    Kind.INT: "`int` from zero-filled digits; blank is `None`",
    Kind.SECRET: "a `Secret` (the password): never shown in `repr`, logs or JSON",
    Kind.RAW: "`str` exactly as received, full width",
}
_DIRECTIONS: Final[dict[str, str]] = {
    "input": "input (filer to CBP)",
    "output": "output (CBP to filer)",
    "both": "input and output",
}
_RULES_HEADING: Final = "Rules this module decides"


def codec_rules() -> list[str]:
    """The bullets of the "Rules this module decides" list in `codec.py`'s docstring."""
    _, found, rest = (codec.__doc__ or "").partition(_RULES_HEADING)
    body = rest.split("\n\n", 1)[0].splitlines()[1:]  # the list, up to the next blank line
    rules: list[str] = []
    for line in body:
        text = line.strip()
        if text.startswith("- "):
            rules.append(text[2:])
        elif text and rules:
            rules[-1] += " " + text
    if not found or not rules:
        raise RuntimeError(f"codec.py's docstring has no {_RULES_HEADING!r} list to document")
    return rules


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _attribute(f: Field) -> str:
    if f.kind is Kind.CONST:
        return f'— `= "{f.const}"`'
    if f.kind is Kind.FILLER:
        return "—"
    return f"`{f.name}`"


def _notes(f: Field) -> str:
    kind = f"`{f.kind.value}`" + (", lenient" if f.lenient else "")
    parts = [kind]
    if f.kind is Kind.FILLER:
        parts.append("Must be spaces")
    if f.note:
        parts.append(f.note.rstrip("."))
    if f.values is not None:
        parts.append("One of " + ", ".join(f"`{v}`" for v in sorted(f.values)))
    if f.minimum is not None and f.maximum is not None:
        parts.append(f"From `{f.minimum:0{f.width}d}` to `{f.maximum:0{f.width}d}`")
    elif f.minimum is not None:
        parts.append(f"At least `{f.minimum:0{f.width}d}`")
    elif f.maximum is not None:
        parts.append(f"At most `{f.maximum:0{f.width}d}`")
    return ". ".join(parts) + "."


def _row(f: Field) -> str:
    cells = (
        f.positions,
        f.length_class,
        f.status.value,
        f.title,
        _attribute(f),
        _notes(f),
    )
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _section(layout: Layout) -> list[str]:
    struct = RECORD_TYPES[layout.record_type].__name__
    ident = layout.identifier
    where = "position 1" if len(ident) == 1 else f"positions 1-{len(ident)}"
    lines = [
        f'<a id="{layout.record_type.lower()}"></a>',
        "",
        f"## {layout.record_type}: {layout.title}",
        "",
        f"Direction: {_DIRECTIONS[layout.direction]}. Identifier: `{ident}` ({where}). "
        f"Parsed into `{struct}`.",
        "",
        layout.description,
        "",
    ]
    for name, slots in layout.groups.items():
        lines += [
            f"Repeated group `{name}`: {slots} slots, `{name}[1]` to `{name}[{slots}]`, "
            f"filled from the first; blank slots are dropped, so `{name}[1]` is "
            f"`record.{name}[0]` in Python.",
            "",
        ]
    lines += [
        "| Positions | Length/Class | Status | Field | Attribute | Notes |",
        "| --- | --- | --- | --- | --- | --- |",
        *(_row(f) for f in layout.fields),
        "",
    ]
    return lines


def _legend(title: str, entries: dict[str, str]) -> list[str]:
    return [title, "", *(f"- `{key}`: {text}." for key, text in entries.items()), ""]


def render() -> str:
    """The whole page, deterministically."""
    for names, table in ((Cls, _CLASSES), (Status, _STATUSES), (Kind, _KINDS)):
        missing = [m.value for m in names if m not in table]
        if missing:
            raise RuntimeError(f"docs.py does not describe {names.__name__} {missing}")
    lines = [
        "# CATAIR records: positions, classes and attributes",
        "",
        "<!-- Generated from pms_stream/catair/layouts.py by pms_stream/catair/docs.py. "
        "Do not edit: run `make docs`. -->",
        "",
        "Every record this project reads or writes, field by field, as `pms_stream.catair.codec` "
        "parses and encodes it. The layouts in `pms_stream/catair/layouts.py` are the single "
        "source of truth; this page is generated from them, and a test fails when it is stale.",
        "",
        "## How to read the tables",
        "",
        "- **Positions** are 1-based and inclusive, as the CATAIR chapter prints them: `44-54` "
        "is the 11 characters from position 44 through position 54, a single number is a "
        "one-character field. Every record is exactly 80 characters and its fields cover "
        "positions 1-80 without gaps or overlaps.",
        "- **Length/Class** is the chapter's column: the width, then the character class.",
        "- **Status** is the chapter's column (M, C, O).",
        "- **Field** is the chapter's title of the field.",
        "- **Attribute** is where the value lands on the typed record (a msgspec Struct in "
        "`pms_stream/catair/records.py`). A repeated group's member is shown as "
        "`group[slot].member` with 1-based slots, e.g. `fees[1].code`. Constants and fillers "
        'are not stored (—); a constant shows its value, e.g. `= "Q"`.',
        "- **Notes** give the kind of the field (how its text becomes a value), where this "
        "project reads the chapter differently, the allowed values and the allowed range.",
        "",
        *_legend("Classes:", {c.value: text for c, text in _CLASSES.items()}),
        *_legend("Statuses:", {s.value: text for s, text in _STATUSES.items()}),
        *_legend("Kinds:", {k.value: text for k, text in _KINDS.items()}),
        "A *lenient* field (QR's date, scope and request indicators) is stored exactly as "
        "received, a `str` of its full width, and checked as its kind says; a bad value is "
        "listed in the record's `problems` instead of being rejected.",
        "",
        "## Rules the codec decides",
        "",
        "Where the chapter is silent, the codec decides as follows (from the docstring of "
        "`pms_stream/catair/codec.py`). A record that breaks any of these rules, or the class, "
        "status, value or range of any field below, is rejected with a `RecordError` naming the "
        "record type, the field, its positions, the value (redacted where it is personal data) "
        "and the reason. `encode_record` writes exactly what `parse_record` reads, byte for "
        "byte.",
        "",
        *(f"- {rule}" for rule in codec_rules()),
        "",
        "## Record types",
        "",
        "| Record | Title | Direction |",
        "| --- | --- | --- |",
        *(
            f"| [{layout.record_type}](#{layout.record_type.lower()}) | {_cell(layout.title)} "
            f"| {layout.direction} |"
            for layout in LAYOUTS
        ),
        "",
    ]
    for layout in LAYOUTS:
        lines += _section(layout)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pms_stream.catair.docs",
        description="Generate the record reference (docs/records.md) from the layouts.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", metavar="PATH", type=Path, help="write the page to PATH")
    action.add_argument(
        "--check", metavar="PATH", type=Path, help="exit 1 if PATH differs from the page"
    )
    args = parser.parse_args(argv)
    text = render().encode("utf-8")
    if args.write is not None:
        path: Path = args.write
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text)
        return 0
    path = args.check
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        sys.stderr.write(f"{path} does not exist; run `make docs`\n")
        return 1
    if current != text:
        sys.stderr.write(f"{path} is out of date; run `make docs`\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
