"""What the engine's log says about HTTP clients that send garbage: one line each."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from aiohttp import web

from engine.logs import CALL, JsonFormatter, calm_client_mistakes


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


async def test_json_records_name_the_call_they_were_logged_for() -> None:
    """Each call's task logs under its own journey id; a record of no call has none."""
    formatter = JsonFormatter()
    log = logging.getLogger("tests.calls")

    async def one_call(journey: str) -> dict[str, Any]:
        CALL.set(journey)
        await asyncio.sleep(0)  # the other call runs meanwhile
        record = log.makeRecord(log.name, logging.INFO, __file__, 1, "step", None, None)
        return dict(json.loads(formatter.format(record)))

    first, second = await asyncio.gather(one_call("j1"), one_call("j2"))
    assert (first["call"], second["call"]) == ("j1", "j2")
    outside = log.makeRecord(log.name, logging.INFO, __file__, 1, "idle", None, None)
    assert "call" not in json.loads(formatter.format(outside))
