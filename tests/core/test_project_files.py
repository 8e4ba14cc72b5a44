"""Project files an operator or packager reads first (issue 16): the LICENSE and the PEP 639
license fields, the README's offline example (its names file made as documented)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).with_name("pms-stream"))


def test_license_file_and_pep_639_fields() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"  # an SPDX string, not a table
    assert project["project"]["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    requires = " ".join(project["build-system"]["requires"])
    minimum = re.search(r"setuptools>=(\d+)", requires)
    assert minimum is not None
    assert int(minimum.group(1)) >= 77  # the first setuptools with license expressions


def test_the_readme_offline_example_runs_as_written(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("Each has `--help` with examples. Offline, no Kafka is needed:", 1)[1]
    commands = block.split("```sh", 1)[1].split("```", 1)[0]
    for text in commands.strip().splitlines():
        line = text.split("#", 1)[0].strip()
        if not line:
            continue
        done = subprocess.run(
            line.replace("pms-stream", EXE, 1),
            shell=True,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (line, done.stderr)
    report = (tmp_path / "reports.txt").read_text()
    names = (tmp_path / "names.csv").read_text().splitlines()
    assert names
    name = names[-1].split(",", 1)[1].strip().strip('"')
    assert name in report
