"""docs/records.md is generated from the layouts: the committed page must be the generated one.

When this fails, run `make docs` (python -m pms_stream.catair.docs --write docs/records.md) and
commit the result.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pms_stream.catair import docs
from pms_stream.catair.fields import Kind, Layout
from pms_stream.catair.layouts import LAYOUTS

REPO = Path(__file__).resolve().parents[2]
RECORDS_MD = REPO / "docs" / "records.md"


@pytest.fixture(scope="module")
def page() -> str:
    return docs.render()


def test_committed_page_is_current(page: str) -> None:
    committed = RECORDS_MD.read_text(encoding="utf-8")
    assert committed == page, "docs/records.md is out of date; run `make docs`"


def test_rendering_is_deterministic(page: str) -> None:
    assert docs.render() == page


def _section(page: str, record_type: str) -> str:
    match = re.search(rf"^## {record_type}: .*?(?=^<a id=|\Z)", page, re.M | re.S)
    assert match is not None, f"no section for {record_type}"
    return match.group(0)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.record_type)
def test_every_field_of_every_layout_has_its_row(page: str, layout: Layout) -> None:
    section = _section(page, layout.record_type)
    assert layout.title in section
    rows = [line for line in section.splitlines() if re.match(r"\| \d", line)]
    assert len(rows) == len(layout.fields)
    for f, row in zip(layout.fields, rows, strict=True):
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[:4] == [f.positions, f.length_class, f.status.value, f.title], row
        if f.kind is Kind.CONST:
            assert f'"{f.const}"' in cells[4], row
        elif f.kind is Kind.FILLER:
            assert cells[4] == "—", row
        else:
            assert cells[4] == f"`{f.name}`", row
        if f.note:
            assert f.note.rstrip(".") in cells[5], row
        for value in f.values or ():
            assert f"`{value}`" in cells[5], row


def test_page_carries_the_codec_rules(page: str) -> None:
    rules = docs.codec_rules()
    assert len(rules) >= 5
    assert any("non-blank filler is rejected" in rule for rule in rules)
    for rule in rules:
        assert f"- {rule}" in page


def test_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "docs" / "records.md"
    assert docs.main(["--check", str(target)]) == 1
    assert "does not exist; run `make docs`" in capsys.readouterr().err
    assert docs.main(["--write", str(target)]) == 0
    assert docs.main(["--check", str(target)]) == 0
    target.write_text(target.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert docs.main(["--check", str(target)]) == 1
    assert f"{target} is out of date; run `make docs`" in capsys.readouterr().err


def test_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pms_stream.catair.docs", "--check", str(RECORDS_MD)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
