"""What the engine's log says about HTTP clients that send garbage: one line each."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from engine.logs import calm_client_mistakes


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


async def _send(port: int, data: bytes) -> bytes:
    async with asyncio.timeout(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        await writer.drain()
        reply = await reader.read(200)
    writer.close()
    return reply


async def test_a_request_too_long_is_one_warning_and_a_failing_handler_stays_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calm_client_mistakes()

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug of ours")

    app = web.Application()
    app.router.add_get("/broken", broken)
    runner, port = await _serve(app)
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.server"):
            reply = await _send(port, b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n")
            assert reply.split(b" ")[1] == b"400"
            reply = await _send(port, b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\n")
            assert reply.split(b" ")[1] == b"500"
    finally:
        await runner.cleanup()
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    mistake, bug = records
    assert mistake.levelname == "WARNING" and mistake.exc_info is None
    assert "LineTooLong" in mistake.getMessage() and "\n" not in mistake.getMessage()
    assert bug.levelname == "ERROR" and bug.exc_info is not None
