"""The http node against a real local HTTP server: fast, slow, failing, not JSON."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from engine.httpnode import perform
from engine.session.events import HttpRequest


@pytest.fixture
async def backend() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        return web.json_response({"echo": body, "method": request.method})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="<html>not json</html>")

    app = web.Application()
    app.router.add_route("*", "/ok", ok)
    app.router.add_get("/slow", slow)
    app.router.add_get("/fail", fail)
    app.router.add_get("/text", text)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def run(
    url: str, method: str = "GET", body: dict[str, str] | None = None, timeout: float = 1.0
) -> tuple[bool, int, object, str]:
    async with aiohttp.ClientSession() as client:
        done = await perform(client, HttpRequest(7, method, url, body, timeout))
    assert done.request_id == 7
    return done.ok, done.status, done.data, done.error


async def test_post_json(backend: str) -> None:
    ok, status, data, _ = await run(f"{backend}/ok", "POST", {"account": "123"})
    assert ok and status == 200 and data == {"echo": {"account": "123"}, "method": "POST"}


async def test_timeout(backend: str) -> None:
    assert (await run(f"{backend}/slow", timeout=0.2))[::3] == (False, "timeout")


async def test_status_error(backend: str) -> None:
    ok, status, _, error = await run(f"{backend}/fail")
    assert (ok, status, error) == (False, 503, "status 503")


async def test_not_json(backend: str) -> None:
    assert (await run(f"{backend}/text"))[3] == "response is not JSON"


async def test_unreachable() -> None:
    ok, _, _, error = await run("http://127.0.0.1:9/")
    assert not ok and error.startswith("unreachable")


async def test_bad_url() -> None:
    ok, _, _, error = await run("not a url")
    assert not ok and error.startswith("unreachable")
