"""The HTTP endpoints on real sockets (127.0.0.1, port 0): /metrics parsed back by
prometheus_client, health and readiness, errors (404, 405, 400, 408, 431), HEAD, one
request per connection, slow and surplus clients (70 at 1 byte/s never fail a probe), stop."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from pms_stream.service.http import METRICS_CONTENT_TYPE, HttpServer
from pms_stream.service.metrics import Metrics

HOST = "127.0.0.1"


@dataclass
class State:
    health: tuple[bool, str] = (True, "ok")
    readiness: tuple[bool, str] = (False, "restoring partitions [0, 2]")
    fail: bool = False
    metrics: Metrics = field(default_factory=Metrics)

    def healthy(self) -> tuple[bool, str]:
        if self.fail:
            raise RuntimeError("boom")
        return self.health

    def ready(self) -> tuple[bool, str]:
        return self.readiness


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def server_for(state: State, **options: float) -> HttpServer:
    return HttpServer(
        HOST,
        0,
        state.metrics,
        state.healthy,
        state.ready,
        **options,  # type: ignore[arg-type]
    )


@pytest_asyncio.fixture
async def state() -> State:
    return State()


@pytest_asyncio.fixture
async def server(state: State) -> AsyncIterator[HttpServer]:
    srv = server_for(state)
    await srv.start()
    yield srv
    await srv.stop()


async def exchange(port: int, raw: bytes) -> Reply:
    """Send `raw`, read until the server closes the connection, parse the response."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(raw)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)  # EOF: the server closed it
    finally:
        writer.close()
        await writer.wait_closed()
    return parse(data)


def parse(data: bytes) -> Reply:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("ascii").split("\r\n")
    version, status, _ = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines:
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    return Reply(int(status), headers, body)


async def get(port: int, path: str, method: str = "GET") -> Reply:
    return await exchange(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


# ---- endpoints -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_metrics_are_prometheus_text(server: HttpServer, state: State) -> None:
    state.metrics.rebalances_total.inc(2)
    state.metrics.open_statements.labels("1").set(3)
    reply = await get(server.port, "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == METRICS_CONTENT_TYPE
    assert reply.headers["connection"] == "close"
    assert int(reply.headers["content-length"]) == len(reply.body)
    families = {f.name: f for f in text_string_to_metric_families(reply.body.decode())}
    assert families["pms_rebalances"].samples[0].value == 2
    (sample,) = families["pms_open_statements"].samples
    assert (sample.labels, sample.value) == ({"partition": "1"}, 3)


@pytest.mark.asyncio
async def test_head_has_the_headers_and_no_body(server: HttpServer) -> None:
    full = await get(server.port, "/healthz")
    head = await get(server.port, "/healthz", "HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(full.body))
    # /metrics too; its length moves between two calls (process_* CPU and memory figures)
    head = await get(server.port, "/metrics", "HEAD")
    assert (head.status, head.body) == (200, b"")
    assert int(head.headers["content-length"]) > 1000


@pytest.mark.asyncio
async def test_health_and_readiness(server: HttpServer, state: State) -> None:
    reply = await get(server.port, "/healthz")
    assert (reply.status, reply.body) == (200, b"ok\n")
    reply = await get(server.port, "/readyz")
    assert (reply.status, reply.body) == (503, b"restoring partitions [0, 2]\n")
    state.health = (False, "processing loop stalled for 75s")
    state.readiness = (True, "ok")
    reply = await get(server.port, "/healthz?verbose=1")
    assert (reply.status, reply.body) == (503, b"processing loop stalled for 75s\n")
    reply = await get(server.port, "/readyz")
    assert (reply.status, reply.body) == (200, b"ok\n")
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.asyncio
async def test_a_failing_check_is_unhealthy(server: HttpServer, state: State) -> None:
    state.fail = True
    reply = await get(server.port, "/healthz")
    assert (reply.status, reply.body) == (503, b"check failed: RuntimeError\n")


@pytest.mark.asyncio
async def test_http_1_0_and_no_headers(server: HttpServer) -> None:
    reply = await exchange(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert reply.status == 200


# ---- errors --------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/", "/metrics/", "/favicon.ico", "/HEALTHZ"])
async def test_other_paths_are_not_found(server: HttpServer, path: str) -> None:
    assert (await get(server.port, path)).status == 404


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
async def test_other_methods_are_not_allowed(server: HttpServer, method: str) -> None:
    reply = await get(server.port, "/metrics", method)
    assert reply.status == 405
    assert reply.headers["allow"] == "GET, HEAD"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /metrics\r\n\r\n",
        b"GET /metrics HTTP/2.0\r\n\r\n",
        b"GET  /metrics HTTP/1.1\r\n\r\n",
        b"get /metrics HTTP/1.1\r\n\r\n",
        b"GET metrics HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET /m\u00e9trics HTTP/1.1\r\n\r\n".encode(),
    ],
)
async def test_malformed_requests(server: HttpServer, raw: bytes) -> None:
    reply = await exchange(server.port, raw)
    assert (reply.status, reply.body) == (400, b"malformed request\n")


@pytest.mark.asyncio
async def test_oversized_headers(server: HttpServer) -> None:
    raw = b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    reply = await exchange(server.port, raw)
    assert reply.status == 431


@pytest.mark.asyncio
async def test_a_slow_client_is_cut_off() -> None:
    state = State()
    srv = server_for(state, read_timeout_s=0.2)
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection(HOST, srv.port)
        writer.write(b"GET /metrics HTTP/1.1\r\n")  # and never the end of the headers
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await writer.wait_closed()
        assert parse(data).status == 408
        assert (await get(srv.port, "/healthz")).status == 200  # still serving
    finally:
        await srv.stop()


@pytest.mark.asyncio
async def test_a_client_that_closes_early_is_no_trouble(server: HttpServer) -> None:
    _, writer = await asyncio.open_connection(HOST, server.port)
    writer.write(b"GET /met")
    writer.close()
    await writer.wait_closed()
    assert (await get(server.port, "/healthz")).status == 200


@pytest.mark.asyncio
async def test_a_new_connection_closes_the_slowest_when_all_are_taken() -> None:
    state = State()
    srv = server_for(state, max_connections=1)
    await srv.start()
    try:
        idle_reader, idle = await asyncio.open_connection(HOST, srv.port)
        await wait_for(lambda: srv.connections == 1)
        assert (await get(srv.port, "/healthz")).status == 200
        assert srv.evicted == 1
        assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # closed, unanswered
        idle.close()
        await idle.wait_closed()
    finally:
        await srv.stop()


@pytest.mark.asyncio
async def test_seventy_clients_at_one_byte_a_second_never_fail_a_probe() -> None:
    """Issue 12, finding 8: 70 slow clients (1 byte/s) made /healthz answer 503 "too many
    connections" in 5 of 6 probes, so a liveness probe would restart a healthy service."""
    state = State(readiness=(True, "ok"))
    srv = server_for(state)  # the defaults: 64 connections, 5 s for a request's headers
    await srv.start()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

    async def slow_client() -> None:
        while True:  # reconnect when cut off, as an attacker (or a broken client) would
            try:
                _, writer = await asyncio.open_connection(HOST, srv.port)
                for byte in request:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(1.0)
            except ConnectionError:
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

    clients = [asyncio.create_task(slow_client()) for _ in range(70)]
    try:
        await wait_for(lambda: srv.connections >= 64)
        statuses = []
        for _ in range(6):
            await asyncio.sleep(0.5)
            statuses.append((await get(srv.port, "/healthz")).status)
            statuses.append((await get(srv.port, "/readyz")).status)
        assert statuses == [200] * 12
    finally:
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        await srv.stop()


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


# ---- binding and lifecycle -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_binds_only_the_configured_host_on_a_free_port(server: HttpServer) -> None:
    assert server.port != 0
    assert server._server is not None
    addresses = {sock.getsockname()[0] for sock in server._server.sockets}
    assert addresses == {HOST}


@pytest.mark.asyncio
async def test_stop_ends_open_connections_and_listening() -> None:
    state = State()
    srv = server_for(state)
    await srv.start()
    await srv.start()  # a second start is a no-op
    port = srv.port
    reader, writer = await asyncio.open_connection(HOST, port)
    await wait_for(lambda: srv.connections == 1)
    await srv.stop()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await writer.wait_closed()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(HOST, port)
    await srv.stop()  # stopping twice is fine


@pytest.mark.asyncio
async def test_a_real_http_client(server: HttpServer) -> None:
    def fetch(path: str) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{server.port}{path}", timeout=10) as r:
                return r.status, r.headers["Content-Type"], r.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers["Content-Type"], exc.read()

    status, content_type, body = await asyncio.to_thread(fetch, "/metrics")
    assert (status, content_type) == (200, METRICS_CONTENT_TYPE)
    assert b"pms_records_total" in body
    assert await asyncio.to_thread(fetch, "/readyz") == (
        503,
        "text/plain; charset=utf-8",
        b"restoring partitions [0, 2]\n",
    )
    assert (await asyncio.to_thread(fetch, "/nope"))[0] == 404
