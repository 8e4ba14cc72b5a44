"""A real Prometheus for the observability tests, its HTTP API, and the PromQL the tests need.

- `tool(name)`: the path of `prometheus` or `promtool` (Debian's `prometheus` package; `.ci/run`
  installs it). Missing, the test fails with how to install it: these tests never skip.
- `PrometheusProcess`: one `prometheus` on a free loopback port, with its own config file and
  data directory under the test's tmp_path; stopped (SIGTERM, then SIGKILL) by `stop()`.
- `grafana_expr`: a dashboard query with Grafana's variables filled in.
- `condition_vectors`: the vectors an alert condition compares with its thresholds (below).

Why `condition_vectors`: an alert expression such as `sum(rate(x[10m])) / sum(rate(y[10m])) >
0.01` is empty while all is well, so evaluating it proves nothing about whether it can ever
fire. The principle: an alert is a condition on measured vectors; the measured vectors must
return data in normal operation, and the condition (thresholds, `for`) is tested separately on
made-up series by `promtool test rules`. So the expression is split at its top-level `or`,
`and` and `unless` (vector matching modifiers dropped); each operand that compares with a
number literal is reduced to its other side; `absent(v)` and `absent_over_time(v)` are reduced
to `v`, whose presence is exactly what they watch. A comparison of two vectors keeps both
sides. The full expression is evaluated as well and must be accepted by Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pytest

from pms_testkit.service_harness import free_port

__all__ = [
    "GRAFANA_BUILTINS",
    "PrometheusProcess",
    "condition_vectors",
    "grafana_expr",
    "has_number",
    "tool",
]

# What Grafana puts for its built-in interval variables; the test's Prometheus scrapes every
# second and has seconds of data, so these windows hold many samples.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}

_SET_OPERATORS = ("or", "and", "unless")
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
_IDENT = re.compile(r"[A-Za-z0-9_:]")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?(Inf|NaN)", re.IGNORECASE)
_MODIFIER = re.compile(
    r"\s*(bool\b|(on|ignoring)\s*\([^)]*\)|(group_left|group_right)\b(\s*\([^)]*\))?)\s*"
)
_ABSENT = re.compile(r"(absent|absent_over_time)\s*\(")


def _missing(name: str) -> NoReturn:
    where = "CI is set: " if os.environ.get("CI") else ""
    pytest.fail(
        f"{where}`{name}` is not on PATH. The observability tests run a real Prometheus and "
        "never skip: install Debian's package (`apt-get install prometheus`, which .ci/run "
        "does), or put prometheus and promtool 2.x on PATH.",
        pytrace=False,
    )


def tool(name: str) -> str:
    """The path of `prometheus` or `promtool`; the test fails when it is missing."""
    path = shutil.which(name)
    if path is None:
        _missing(name)
    return path


# ---- the process ------------------------------------------------------------------------------


class PrometheusProcess:
    """One Prometheus server on 127.0.0.1, its config and data under `workdir`."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = tool("prometheus")
        self.port = port or free_port()
        self.workdir = workdir
        self.config_path = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, config: Mapping[str, Any]) -> None:
        """Write `config` (as JSON, which is YAML) and start the server on it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(config, indent=2))
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--storage.tsdb.retention.time=1h",
            stdout=log,
            stderr=log,
            stdin=asyncio.subprocess.DEVNULL,
        )
        log.close()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(f"prometheus exited {self.process.returncode}:\n{self.tail()}")
            status = await asyncio.to_thread(self._status, "/-/ready")
            if status == 200:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"prometheus not ready in {timeout}s:\n{self.tail()}")

    def _status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://{self.address}{path}", timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    async def stop(self, timeout: float = 15.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # ---- the HTTP API --------------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>: the `data` of a successful answer; AssertionError otherwise."""
        url = f"http://{self.address}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    async def query(self, expr: str) -> Any:
        """The instant query's `data` ({resultType, result})."""
        return await asyncio.to_thread(self.api, "query", query=expr)

    async def label_values(self, selector: str, label: str) -> list[str]:
        """Grafana's `label_values(selector, label)`: the label's values over the last hour."""
        now = time.time()
        series = await asyncio.to_thread(
            self.api, "series", **{"match[]": selector, "start": str(now - 3600)}
        )
        return sorted({s[label] for s in series if label in s})


def has_number(data: Mapping[str, Any]) -> bool:
    """Whether a query's data holds at least one sample that is a number (not NaN)."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return not math.isnan(float(result[1]))
    if kind == "vector":
        return any(not math.isnan(float(s["value"][1])) for s in result)
    if kind == "matrix":
        return any(not math.isnan(float(v[1])) for s in result for v in s["values"])
    return False


# ---- PromQL -----------------------------------------------------------------------------------


def grafana_expr(expr: str, variables: Mapping[str, str]) -> str:
    """`expr` with `$name` and `${name}` replaced from `variables` and `GRAFANA_BUILTINS`."""
    known = {**GRAFANA_BUILTINS, **variables}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in known:
            raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")
        return known[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", fill, expr)


def _outside_strings(expr: str) -> Iterator[tuple[int, int]]:
    """(index, bracket depth before it) of every character of `expr` outside string literals."""
    depth = 0
    quote = ""
    i = 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 1  # the escaped character
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        else:
            yield i, depth
            depth += (c in "([{") - (c in ")]}")
        i += 1
    if depth != 0 or quote:
        raise ValueError(f"unbalanced expression: {expr!r}")


def _operators(expr: str) -> list[tuple[int, int, str]]:
    """(start, end, operator) of the binary set and comparison operators outside any bracket,
    string or label matcher."""
    found: list[tuple[int, int, str]] = []
    skip_to = 0
    for i, depth in _outside_strings(expr):
        c = expr[i]
        if i < skip_to or depth != 0 or c in "([{":
            continue
        if expr[i : i + 2] in _COMPARISONS:
            found.append((i, i + 2, expr[i : i + 2]))
            skip_to = i + 2
        elif c in "<>":
            found.append((i, i + 1, c))
        elif c.isalpha() and (i == 0 or not _IDENT.match(expr[i - 1])):
            word = re.match(r"[A-Za-z_]\w*", expr[i:])
            assert word is not None
            if word.group() in _SET_OPERATORS:
                found.append((i, i + len(word.group()), word.group()))
            skip_to = i + len(word.group())
    return found


def _unwrap(expr: str) -> str:
    """`expr` without parentheses around the whole of it."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")") and _closing(expr, 0) == len(expr) - 1:
        expr = expr[1:-1].strip()
    return expr


def _closing(expr: str, start: int) -> int:
    """The index of the bracket closing the one at `start`."""
    opened = -1
    for i, depth in _outside_strings(expr):
        if i == start:
            opened = depth
        elif opened >= 0 and depth == opened + 1 and expr[i] in ")]}":
            return i
    raise ValueError(f"unbalanced expression: {expr!r}")


def _drop_modifiers(expr: str) -> str:
    while match := _MODIFIER.match(expr):
        expr = expr[match.end() :]
    return expr


def condition_vectors(expr: str) -> list[str]:
    """The measured vectors of an alert condition (see the module docstring)."""
    expr = _unwrap(expr)
    operators = _operators(expr)
    for level in (("or",), ("and", "unless")):
        cuts = [op for op in operators if op[2] in level]
        if cuts:
            parts, start = [], 0
            for begin, end, _ in cuts:
                parts.append(expr[start:begin])
                start = end
            parts.append(expr[start:])
            return [v for part in parts for v in condition_vectors(_drop_modifiers(part))]
    comparisons = [op for op in operators if op[2] in _COMPARISONS]
    if len(comparisons) > 1:
        raise ValueError(f"more than one comparison at the top level: {expr!r}")
    if comparisons:
        begin, end, _ = comparisons[0]
        left, right = _unwrap(expr[:begin]), _unwrap(_drop_modifiers(expr[end:]))
        if _NUMBER.fullmatch(right):
            return condition_vectors(left)
        if _NUMBER.fullmatch(left):
            return condition_vectors(right)
        return [*condition_vectors(left), *condition_vectors(right)]
    absent = _ABSENT.match(expr)
    if absent and _closing(expr, absent.end() - 1) == len(expr) - 1:
        return condition_vectors(expr[absent.end() : -1])
    return [expr]
