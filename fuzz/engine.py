"""Runs inputs through a target and keeps the figures: inputs, undocumented exceptions, broken
checks, the slowest input, and the process's memory (RSS) as the run goes on.

Imports nothing of pms_stream itself, so that the coverage-guided entry point can instrument
pms_stream before the targets import it.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["Hang", "Runner", "Stats", "rss_mb"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_SAMPLE_EVERY = 1000  # inputs between two memory samples
_KEEP = 5  # failures remembered (and inputs saved) per kind of failure


def rss_mb() -> float:
    """The resident memory of this process now, in MiB (Linux), else its peak."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Hang(BaseException):  # BaseException: no `except Exception` may swallow it
    """One input took longer than the bound."""


@dataclass
class Stats:
    """The figures of one target's run (JSON between processes)."""

    target: str
    engine: str
    inputs: int = 0
    exceptions: int = 0  # undocumented exceptions and hangs
    violations: int = 0  # broken checks
    known: dict[str, int] = field(default_factory=dict)  # suspended checks that broke
    max_ms: float = 0.0
    slowest: str = ""  # sha1 of the slowest input
    seconds: float = 0.0
    rss_warm_mb: float = 0.0  # after the first tenth of the planned inputs
    rss_end_mb: float = 0.0
    rss_peak_mb: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Stats:
        return cls(**json.loads(path.read_text()))

    @property
    def failed(self) -> bool:
        return bool(self.exceptions or self.violations)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


@contextmanager
def watchdog(seconds: float | None) -> Iterator[None]:
    """Raise `Hang` in the main thread when the block runs longer than `seconds`."""
    if not seconds:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Runner:
    """Call it with each input. `bound` (seconds) arms a per-input alarm; leave it None under
    libFuzzer, whose own -timeout uses the same signal."""

    def __init__(
        self,
        name: str,
        run: Callable[[bytes], None],
        engine: str,
        *,
        planned: int,
        artifacts: Path | None = None,
        bound: float | None = None,
        known: Callable[[], dict[str, int]] = dict,
        on_sample: Callable[[Stats], None] | None = None,
    ) -> None:
        self.stats = Stats(name, engine)
        self._run = run
        self._planned = planned
        self._artifacts = artifacts
        self._bound = bound
        self._known = known
        self._on_sample = on_sample
        self._started = time.perf_counter()
        self._kinds: dict[str, int] = {}

    def __call__(self, data: bytes) -> None:
        s = self.stats
        s.inputs += 1
        start = time.perf_counter()
        try:
            if self._bound:
                signal.setitimer(signal.ITIMER_REAL, self._bound)
            try:
                self._run(data)
            finally:
                if self._bound:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except AssertionError as exc:  # Violation, or an assert of the project itself
            check = getattr(exc, "check", None)
            s.violations += check is not None
            s.exceptions += check is None
            self._failure(check or type(exc).__name__, exc, data)
        except Hang as exc:
            s.exceptions += 1
            self._failure("hang", exc, data)
        except Exception as exc:  # any other exception is what we look for
            s.exceptions += 1
            self._failure(type(exc).__name__, exc, data)
        elapsed = (time.perf_counter() - start) * 1000
        if elapsed > s.max_ms:
            s.max_ms = elapsed
            s.slowest = hashlib.sha1(data).hexdigest()  # noqa: S324 - a name, not security
        if s.inputs % _SAMPLE_EVERY == 0 or s.inputs >= self._planned:
            self.sample()

    def sample(self) -> None:
        s = self.stats
        rss = rss_mb()
        s.rss_peak_mb = max(s.rss_peak_mb, rss)
        s.rss_end_mb = rss
        if not s.rss_warm_mb and s.inputs >= self._planned // 10:
            s.rss_warm_mb = rss
        s.known = dict(self._known())
        s.seconds = time.perf_counter() - self._started
        if self._on_sample is not None:
            self._on_sample(s)

    def _failure(self, kind: str, exc: BaseException, data: bytes) -> None:
        seen = self._kinds[kind] = self._kinds.get(kind, 0) + 1
        if seen > _KEEP:
            return
        name = f"{kind}-{hashlib.sha1(data).hexdigest()}"  # noqa: S324 - a name
        saved = ""
        if self._artifacts is not None:
            self._artifacts.mkdir(parents=True, exist_ok=True)
            (self._artifacts / name).write_bytes(data)
            saved = str(self._artifacts / name)
        entry: dict[str, Any] = {
            "kind": kind,
            "message": str(exc)[:500],
            "input": saved or repr(data[:300]),
            "traceback": "".join(traceback.format_exception(exc))[-3000:],
        }
        self.stats.failures.append(entry)
