"""The service's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, on a tiny asyncio server.

No framework: `asyncio.start_server` and HTTP/1.0-1.1 requests read up to their headers.
- `GET`/`HEAD /metrics`: the Prometheus text exposition of the service's `Metrics`;
- `GET`/`HEAD /healthz`: 200 "ok" while the process is alive and its loop not stalled, else 503
  and the reason (the runner's `healthy()`);
- `GET`/`HEAD /readyz`: 200 once partitions are assigned and caught up, else 503 and the reason
  (the runner's `ready()`);
- the statement and forecast queries (`/statements`, `/forecast`) when an `app` is given
  (`pms_stream.query.api`: bearer token, off without one).
Any other path is 404, another method on these paths 405, a malformed request 400. Every
response closes its connection. A request's headers are limited (8 KiB: 431 beyond), a client
has a few seconds to send them (408 after) and to take the response, and at most
`max_connections` are served at once. When all are taken, a new connection closes the one that
has been sending its request the longest (a slow or idle client; a probe sends its request at
once), and only when every connection is past its request does it get 503: slow clients can
neither hang the service nor starve `/healthz` and `/readyz` (a liveness probe must not restart a
healthy service because of them).
The server binds only to the configured host (127.0.0.1 by default).

Flow: runner (health, readiness) and metrics -> **http** -> Prometheus, Kubernetes probes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from pms_stream.query.api import Answer
from pms_stream.service.logs import get_logger
from pms_stream.service.metrics import Metrics

__all__ = ["METRICS_CONTENT_TYPE", "HttpServer"]

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
MAX_HEADER_BYTES = 8192
READ_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 64
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})
_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})

log = get_logger(__name__)

Check = Callable[[], tuple[bool, str]]
App = Callable[[str, str, dict[str, str]], Answer | None]  # method, target, headers (lower-case)


class _Response:
    __slots__ = ("body", "content_type", "extra", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str = TEXT_CONTENT_TYPE,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.extra = extra

    def encode(self, head_only: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS[self.status]}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Cache-Control: no-store",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.extra),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        return head if head_only else head + self.body


def _text(status: int, text: str) -> _Response:
    return _Response(status, (text.rstrip("\n") + "\n").encode("utf-8", "replace"))


class HttpServer:
    """Serves `/metrics`, `/healthz` and `/readyz` until `stop()`."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        healthy: Check,
        ready: Check,
        *,
        read_timeout_s: float = READ_TIMEOUT_S,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_connections: int = MAX_CONNECTIONS,
        app: App | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self._metrics = metrics
        self._checks: dict[str, Check] = {"/healthz": healthy, "/readyz": ready}
        self._read_timeout_s = read_timeout_s
        self._max_header_bytes = max_header_bytes
        self._max_connections = max_connections
        self._app = app
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._reading: dict[asyncio.StreamWriter, None] = {}  # still sending a request; oldest 1st
        self.evicted = 0  # connections closed to make room for newer ones

    @property
    def port(self) -> int:
        """The bound port (the one the system picked when configured with 0)."""
        if self._server is not None and self._server.sockets:
            port: int = self._server.sockets[0].getsockname()[1]
            return port
        return self._port

    @property
    def connections(self) -> int:
        """Connections being served now."""
        return len(self._handlers)

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self._port, limit=self._max_header_bytes
        )

    async def stop(self) -> None:
        """Stop listening and end the connections in progress."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()

    # ---- one connection -------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if len(self._handlers) > self._max_connections and not self._evict_slowest():
                await self._send(writer, _text(503, "too many connections"))
            else:
                await self._serve(reader, writer)
        except (ConnectionError, TimeoutError):
            pass  # the client went away or does not read: nothing more to do
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), self._read_timeout_s)

    def _evict_slowest(self) -> bool:
        """Close the connection that has been sending its request the longest; False if none."""
        for writer in self._reading:
            del self._reading[writer]
            writer.transport.abort()  # its handler sees the connection reset and ends
            self.evicted += 1
            return True
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reading[writer] = None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._read_timeout_s)
        except TimeoutError:
            await self._send(writer, _text(408, "request headers not received in time"))
            return
        except asyncio.LimitOverrunError:
            await self._send(
                writer,
                _text(431, f"request headers over {self._max_header_bytes} bytes"),
            )
            return
        except asyncio.IncompleteReadError:
            return  # closed before a whole request: no one to answer
        finally:
            self._reading.pop(writer, None)
        method, path = _request_line(head)
        if method is None or path is None:
            await self._send(writer, _text(400, "malformed request"))
            return
        answer = self._app(method, *_target_and_headers(head)) if self._app else None
        response = self._respond(method, path) if answer is None else _answered(answer)
        await self._send(writer, response, head_only=method == "HEAD")

    def _respond(self, method: str, path: str) -> _Response:
        if path not in _PATHS:
            return _text(404, "not found; try /metrics, /healthz or /readyz")
        if method not in ("GET", "HEAD"):
            return _Response(405, b"method not allowed\n", extra=(("Allow", "GET, HEAD"),))
        if path == "/metrics":
            return _Response(200, self._metrics.render(), METRICS_CONTENT_TYPE)
        try:
            ok, reason = self._checks[path]()
        except Exception as exc:  # a failing check is an unhealthy service, not a crash
            log.warning("health check failed", path=path, error=repr(exc))
            return _text(503, f"check failed: {type(exc).__name__}")
        return _text(200, "ok") if ok else _text(503, reason or "not ok")

    async def _send(
        self, writer: asyncio.StreamWriter, response: _Response, *, head_only: bool = False
    ) -> None:
        writer.write(response.encode(head_only))
        await asyncio.wait_for(writer.drain(), self._read_timeout_s)


def _request_line(head: bytes) -> tuple[str | None, str | None]:
    """The method and path of a request's head, or (None, None) when it is malformed."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return None, None
    lines = text[: -len("\r\n\r\n")].split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in _VERSIONS:
        return None, None
    method, target, _ = parts
    if not method.isalpha() or not method.isupper() or not target.startswith("/"):
        return None, None
    for line in lines[1:]:
        name, colon, _ = line.partition(":")
        if not colon or not name or name != name.strip():
            return None, None
    return method, target.partition("?")[0]


def _target_and_headers(head: bytes) -> tuple[str, dict[str, str]]:
    """The request target (with its query) and headers (names lower-case) of a well-formed
    request head (checked by `_request_line` first)."""
    lines = head.decode("ascii")[: -len("\r\n\r\n")].split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    return lines[0].split(" ")[1], headers


def _answered(answer: Answer) -> _Response:
    return _Response(answer.status, answer.body, answer.content_type, answer.headers)
