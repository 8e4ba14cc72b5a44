"""docs/spec-decisions.md quotes the chapter truly: every quote in its table's two "says"
columns is in the chapter text, word for word (whitespace aside; ` · ` separates the cells of
one row of a record table, `...` leaves words out)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHAPTER = Path("shared") / "spec" / "catair-periodic-monthly-statement.txt"  # ../shared from main
DOC = REPO / "docs" / "spec-decisions.md"


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 5 and cells[0].isdigit():
            rows.append(cells)
    return rows


def chapter_text() -> str:
    """The chapter, from ../shared/spec next to the checkout (or a worktree's ancestors)."""
    for parent in REPO.parents:
        if (parent / CHAPTER).exists():
            return _squeeze((parent / CHAPTER).read_text(encoding="utf-8"))
    raise AssertionError(f"the chapter is not at ../{CHAPTER} (nor further up)")


def test_every_quote_in_the_table_is_the_chapters() -> None:
    """The chapter is the authority (../shared/spec/README.md: "Where the two disagree, the
    chapter wins."); the table of its self-contradictions must quote it exactly."""
    chapter = chapter_text()
    rows = _rows()
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) >= 8  # the issue's eight and the ones found since
    quoted = 0
    for row in rows:
        for cell in row[1:3]:
            quotes = re.findall(r'"([^"]+)"', cell)
            assert quotes, f"row {row[0]}: no quote in {cell!r}"
            for quote in quotes:
                pieces = [_squeeze(p) for p in quote.replace(" · ", " ").split("...")]
                for piece in filter(None, pieces):
                    assert piece in chapter, f"row {row[0]}: not in the chapter: {piece!r}"
                    quoted += 1
    assert quoted > 30


def test_the_issue_s_contradictions_are_all_decided() -> None:
    """Issue 15 item 7 names eight places; each has its row."""
    table = "\n".join(" | ".join(r) for r in _rows())
    for needle in (
        "mandatory preliminary amount records (final statement)",  # Q5/Q6/QJ
        "This is a conditional output detail payment record",  # QA/QE/QJ
        "(final statement) that provides data pertaining to the total antidumping duty",  # Q4
        "QA records are numbered sequentially",
        "Per B-Y set, only one",  # MS3
        "Importer Number · 12X",  # importer number M vs C
        "Message Text · 34AN",  # QX text class
        "may not contain fees recently implemented",  # the 17 fee lines
    ):
        assert needle in table, needle


def test_the_tests_each_row_names_exist() -> None:
    """Each decision names the test that holds it; a renamed test must not leave it dangling."""
    files = {p.stem for p in (REPO / "tests").rglob("test_*.py")}
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").rglob("test_*.py"))
    for row in _rows():
        names = re.findall(r"\btest_\w+", row[4])
        assert names, f"row {row[0]} names no test"
        for name in names:
            assert name in files or f"def {name}(" in sources, f"row {row[0]}: no {name}"
