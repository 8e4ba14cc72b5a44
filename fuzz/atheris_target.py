#!/usr/bin/env python3
"""Coverage-guided entry point: one target under atheris (libFuzzer), pms_stream instrumented.

Started by `python -m fuzz.run --engine atheris` (never by CI: atheris is not a dependency).
Its arguments are libFuzzer's own (flags, then corpus folders); what it fuzzes comes from the
environment, because libFuzzer runs this file again, with its arguments, to merge a corpus:

    FUZZ_TARGET     codec, framing, assembler or partition
    FUZZ_STATS      where to write the run's figures (JSON, rewritten every 1,000 inputs)
    FUZZ_ARTIFACTS  where to save inputs that fail
    FUZZ_PLANNED    the number of inputs planned (-runs), for the memory figures

An input that fails is counted and saved, and the run goes on; a hang or a memory blow-up is
libFuzzer's to catch (-timeout, -rss_limit_mb), and ends the run with libFuzzer's report.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.engine import Runner, Stats

atheris: Any = importlib.import_module("atheris")  # optional: not a project dependency

with atheris.instrument_imports(include=["pms_stream"]):
    from fuzz import targets


def main() -> None:
    target = targets.TARGETS[os.environ["FUZZ_TARGET"]]
    stats_path = Path(os.environ["FUZZ_STATS"]) if os.environ.get("FUZZ_STATS") else None
    artifacts = os.environ.get("FUZZ_ARTIFACTS")

    def save(stats: Stats) -> None:
        if stats_path is not None:
            stats.save(stats_path)

    runner = Runner(
        target.name,
        target.run,
        "atheris",
        planned=int(os.environ.get("FUZZ_PLANNED", "0")),
        artifacts=Path(artifacts) if artifacts else None,
        known=lambda: targets.known_hits,
        on_sample=save,
    )
    atheris.Setup([sys.argv[0], f"-max_len={target.max_len}", *sys.argv[1:]], runner)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
