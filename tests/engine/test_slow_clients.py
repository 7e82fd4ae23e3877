"""Slow web clients on the real web server (the runner `ivr serve` uses, real
sockets): a client trickling its headers or its body is let go, not kept for as
long as it likes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web

from engine import webbody
from engine.config import Settings
from engine.serve import web_runner


async def _echo(request: web.Request) -> web.Response:
    body = await webbody.text(request)
    if body is None:
        return web.Response(status=400, text="unreadable")
    return web.Response(text=body)


@pytest.fixture
async def server() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_post("/echo", _echo)
    runner = web_runner(app, replace(Settings(), web_idle_s=1))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def _closed_after(reader: asyncio.StreamReader, limit_s: float) -> float:
    """Seconds until the server closed the connection (read gives EOF)."""
    started = time.monotonic()
    async with asyncio.timeout(limit_s):
        while await reader.read(4096):
            pass
    return time.monotonic() - started


async def test_headers_sent_a_byte_at_a_time_are_cut_off(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    request = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100
    trickle = asyncio.create_task(_trickle(writer, request, every_s=0.1))
    try:
        assert await _closed_after(reader, 5.0) < 2.0  # web_idle_s is 1
    finally:
        trickle.cancel()
        writer.close()


async def test_an_idle_connection_is_closed(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi")
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    assert await reader.readexactly(2) == b"hi"
    assert await _closed_after(reader, 5.0) < 2.0  # kept alive for web_idle_s only
    writer.close()


async def test_a_body_sent_a_byte_at_a_time_is_a_400(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webbody, "BODY_S", 0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n")
    trickle = asyncio.create_task(_trickle(writer, b"x" * 100, every_s=0.1))
    try:
        async with asyncio.timeout(3.0):
            status = await reader.readuntil(b"\r\n")
        assert status.startswith(b"HTTP/1.1 400")
    finally:
        trickle.cancel()
        writer.close()


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every_s: float) -> None:
    for byte in data:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(every_s)
