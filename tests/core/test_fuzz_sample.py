"""The fuzzing sample that CI runs (fuzz/README.md; the full run is `make fuzz`).

- The whole committed corpus (fuzz/corpus/, the inputs the coverage-guided runs kept, and the
  reproducers of known bugs) goes through every target: no undocumented exception, no broken
  check, no input slower than the bound.
- A few thousand fresh inputs of the seeded random engine, per target.
- The harness has teeth: a planted bug in the crash recovery and one in `open_records` are
  caught.

None of it needs atheris.
"""

from __future__ import annotations

import pytest

from fuzz import targets
from fuzz.engine import Stats
from fuzz.mutate import Mutator
from fuzz.run import corpus_files, random_run, replay
from fuzz.seeds import seed_inputs
from pms_stream.statements.assembler import Assembler
from pms_stream.stream.partition_task import Checkpoint

SEED = 20261122
BOUND = 10.0  # seconds one input may take


def _clean(stats: Stats) -> None:
    assert stats.failures == [], stats.failures[0]["traceback"]
    assert not stats.failed


def test_the_corpus_passes_every_target() -> None:
    files = corpus_files()
    assert len(files) >= 50, "the corpus is committed under fuzz/corpus/"
    for stats in replay(files, BOUND):
        assert stats.inputs == len(files)
        _clean(stats)


@pytest.mark.parametrize(
    ("target", "inputs"),
    [("codec", 3000), ("framing", 1500), ("assembler", 1500), ("partition", 1000)],
)
def test_random_sample(target: str, inputs: int) -> None:
    stats = random_run(target, inputs, SEED, BOUND, artifacts=None)
    assert stats.inputs == inputs
    _clean(stats)


def _violations(target: str, inputs: int) -> set[str]:
    mutator = Mutator(target, seed_inputs(target), SEED)
    found: set[str] = set()
    for _ in range(inputs):
        try:
            targets.TARGETS[target].run(mutator())
        except targets.Violation as exc:
            found.add(exc.check)
    return found


def test_a_restore_that_forgets_the_metadata_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def plain(cls: type[Checkpoint], offset: int, metadata: str) -> Checkpoint:
        return cls(offset, offset)  # resume at the low-water mark, publishing everything again

    monkeypatch.setattr(Checkpoint, "from_committed", classmethod(plain))
    assert _violations("partition", 150) == {"partition.exactly_once"}


def test_open_records_that_lose_a_record_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Assembler.open_records
    monkeypatch.setattr(Assembler, "open_records", lambda self: real(self)[1:])
    assert "assembler.rebuild" in _violations("assembler", 150)
