"""The SMS senders: the log sender's outbox, the HTTP gateway against a real
local HTTP server."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.config import Secret, load_settings
from visual_ivr.sms import HttpGatewaySender, LogSender, masked, sender_from_settings
from visual_ivr.texts import TEXTS, text

ServerMaker = Any


async def test_the_log_sender_keeps_an_outbox(caplog: pytest.LogCaptureFixture) -> None:
    sender = LogSender(keep=2)
    caplog.set_level(logging.INFO, "visual_ivr.sms")
    for n in range(3):
        result = await sender.send("+15551230000", f"text {n}")
        assert result.ok
    assert [sms.text for sms in sender.outbox] == ["text 1", "text 2"]
    assert sender.outbox[0].to == "+15551230000"
    assert "+15551230000" not in caplog.text and "*000" in caplog.text


async def gateway(aiohttp_server: ServerMaker, status: int = 200, delay: float = 0.0) -> Any:
    received: list[tuple[dict[str, str], Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.json()))
        await asyncio.sleep(delay)
        return web.json_response({"id": "m1"}, status=status)

    app = web.Application()
    app.router.add_post("/send", handle)
    server: TestServer = await aiohttp_server(app)
    return server, received


async def test_the_gateway_gets_the_text_with_its_token(aiohttp_server: ServerMaker) -> None:
    server, received = await gateway(aiohttp_server)
    sender = HttpGatewaySender(str(server.make_url("/send")), Secret("s3cret"), "DemoBank")
    try:
        result = await sender.send("+8613812345678", "hello")
    finally:
        await sender.close()
    assert result.ok
    headers, body = received[0]
    assert headers["Authorization"] == "Bearer s3cret"
    assert body == {"to": "+8613812345678", "from": "DemoBank", "text": "hello"}


async def test_gateway_failures_are_answers_not_exceptions(aiohttp_server: ServerMaker) -> None:
    server, _ = await gateway(aiohttp_server, status=503)
    sender = HttpGatewaySender(str(server.make_url("/send")), Secret(""))
    slow_server, _ = await gateway(aiohttp_server, delay=2.0)
    slow = HttpGatewaySender(str(slow_server.make_url("/send")), Secret(""), timeout_s=0.2)
    nowhere = HttpGatewaySender("http://127.0.0.1:9/send", Secret(""), timeout_s=2.0)
    try:
        refused = await sender.send("+15551230000", "x")
        assert not refused.ok and refused.detail == "status 503"
        assert (await slow.send("+15551230000", "x")).detail == "timeout"
        failed = await nowhere.send("+15551230000", "x")
        assert not failed.ok and failed.detail.startswith("unreachable")
    finally:
        for one in (sender, slow, nowhere):
            await one.close()


def test_the_sender_follows_the_settings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "visual_ivr.sms")
    assert isinstance(sender_from_settings(load_settings(environ={})), LogSender)
    # The log is about to hold live links: said once, as the engine starts.
    [warning] = caplog.records
    assert warning.levelname == "WARNING" and "no sms_gateway_url" in warning.getMessage()
    assert "go to this log, with their links" in warning.getMessage()
    caplog.clear()
    settings = load_settings(
        environ={
            "IVR_SMS_GATEWAY_URL": "https://sms.invalid/send",
            "IVR_SMS_GATEWAY_TOKEN": "tok-9f8e",
        }
    )
    assert isinstance(sender_from_settings(settings), HttpGatewaySender)
    assert caplog.records == []
    assert "tok-9f8e" not in repr(settings) and settings.sms_gateway_token.value == "tok-9f8e"
    assert masked("+15551234567") == "*********567"


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_the_link_in_a_text_ends_where_a_phone_sees_it_end(lang: str) -> None:
    """Phones make a link of what follows http up to a space: nothing may touch it."""
    url = "https://ivr.example/v/l/abcDEF123"
    sms = text(lang, "sms", title="Demo", url=url, minutes=10)
    assert re.search(r"(https?://\S+)", sms)[1] == url  # type: ignore[index]
