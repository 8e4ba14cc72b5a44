"""A progress line on standard error for the long-running commands (parse, report, generate,
send): only when standard error is a terminal, at most twice a second, and ended with a newline;
nothing at all when it is a pipe or a file (CI logs stay clean).

Flow: commands -> **progress** -> stderr.
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """`update("1,000 records, ...")` rewrites one line; `done()` ends it."""

    def __init__(self, enabled: bool = True, interval: float = 0.5) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.interval = interval
        self.last = time.monotonic()
        self.shown = False

    def update(self, text: str) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last >= self.interval:
            self.last = now
            self.shown = True
            sys.stderr.write(f"\r{text}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            self.shown = False
