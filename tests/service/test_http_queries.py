"""The query routes on the real HTTP server (127.0.0.1, port 0): bearer token from the request's
headers, 401 without it, 503 with Retry-After while loading, the other paths unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import msgspec
import pytest
import pytest_asyncio

from pms_stream.query.api import QueryApi
from pms_stream.query.store import QueryStore
from pms_stream.service.http import HttpServer
from pms_stream.statements.model import Statement
from pms_stream.stream.outputs import statement_key
from tests.core import statements_by_hand as sh
from tests.service.test_http import HOST, State, exchange

TOKEN = "query-token-1"
PRELIMINARY = msgspec.convert(sh.EXPECTED_PRELIMINARY, Statement, strict=False)


class Loading:
    done = True

    def __call__(self) -> bool:
        return self.done


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[HttpServer, Loading]]:
    store = QueryStore(today=lambda: date(2026, 11, 1))
    store.put(statement_key(PRELIMINARY), msgspec.json.encode(PRELIMINARY))
    loading = Loading()
    state = State()
    api = QueryApi(store, TOKEN, loading)
    srv = HttpServer(HOST, 0, state.metrics, state.healthy, state.ready, app=api.answer)
    await srv.start()
    yield srv, loading
    await srv.stop()


def request(path: str, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode()


@pytest.mark.asyncio
async def test_statement_with_the_token(served: tuple[HttpServer, Loading]) -> None:
    srv, _ = served
    reply = await exchange(srv.port, request("/statements/2726P10001", TOKEN))
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    body = msgspec.json.decode(reply.body)
    assert [v["status"] for v in body["versions"]] == ["preliminary"]


@pytest.mark.asyncio
@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x"])
async def test_401_without_the_token(served: tuple[HttpServer, Loading], token: str | None) -> None:
    srv, _ = served
    reply = await exchange(srv.port, request("/statements/2726P10001", token))
    assert reply.status == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert b"2726P10001" not in reply.body


@pytest.mark.asyncio
async def test_503_while_loading_and_readyz_unchanged(served: tuple[HttpServer, Loading]) -> None:
    srv, loading = served
    loading.done = False
    reply = await exchange(srv.port, request("/statements?filer=B76", TOKEN))
    assert reply.status == 503
    assert reply.headers["retry-after"] == "5"
    ready = await exchange(srv.port, request("/readyz", None))
    assert (ready.status, ready.body) == (503, b"restoring partitions [0, 2]\n")


@pytest.mark.asyncio
async def test_without_an_app_queries_are_unknown_paths() -> None:
    state = State()
    srv = HttpServer(HOST, 0, state.metrics, state.healthy, state.ready)
    await srv.start()
    try:
        reply = await exchange(srv.port, request("/statements/2726P10001", TOKEN))
        assert reply.status == 404
    finally:
        await srv.stop()
