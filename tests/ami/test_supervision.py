"""The AMI client notices a dead connection and reconnects with backoff.

A fake AMI server here (speeds up the protocol cases); the real one is used by
every real-call test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from engine.ami import Ami
from engine.config import Secret


class FakeAmi:
    """Answers login and pings until told to go silent."""

    def __init__(self) -> None:
        self.logins = 0
        self.silent = False
        self.refuse_login = False
        self.connections: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                block = (await reader.readuntil(b"\r\n\r\n")).decode()
                fields = dict(
                    line.split(": ", 1) for line in block.strip().split("\r\n") if ": " in line
                )
                action = fields.get("Action", "").lower()
                action_id = fields.get("ActionID", "")
                if self.silent:
                    continue
                if action == "login":
                    self.logins += 1
                    if self.refuse_login:
                        writer.write(
                            f"Response: Error\r\nActionID: {action_id}\r\n"
                            "Message: Authentication failed\r\n\r\n".encode()
                        )
                        continue
                    writer.write(
                        f"Response: Success\r\nActionID: {action_id}\r\n"
                        "Message: Authentication accepted\r\n\r\n".encode()
                    )
                else:
                    writer.write(
                        f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n\r\n".encode()
                    )
                await writer.drain()


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAmi, int]]:
    server_state = FakeAmi()
    server = await asyncio.start_server(server_state.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield server_state, port
    server.close()
    for writer in server_state.connections:
        writer.close()


async def test_a_silent_connection_is_dropped_and_replaced(fake: tuple[FakeAmi, int]) -> None:
    state, port = fake
    ami = Ami(
        "127.0.0.1", port, "ivr", Secret("x"), ping_interval=0.2, max_backoff=0.5, ping_timeout=0.5
    )
    ami.start()
    try:
        await ami.wait_ready(5)
        assert (await ami.action({"Action": "Ping"}))["Ping"] == "Pong"
        state.silent = True  # TCP stays up, nothing answers: a dead peer
        async with asyncio.timeout(10):
            while ami.connected:
                await asyncio.sleep(0.05)
        state.silent = False
        await ami.wait_ready(10)
        assert ami.connects == 2 and state.logins == 2
        assert (await ami.action({"Action": "Ping"}))["Ping"] == "Pong"
    finally:
        await ami.stop()


async def test_refused_login_retries_with_backoff(fake: tuple[FakeAmi, int]) -> None:
    state, port = fake
    state.refuse_login = True
    ami = Ami("127.0.0.1", port, "ivr", Secret("wrong"), max_backoff=0.4)
    ami.start()
    try:
        await asyncio.sleep(1.5)
        assert not ami.connected
        assert 2 <= state.logins <= 6  # retried, but not in a tight loop
    finally:
        await ami.stop()


async def test_unreachable_ami_is_a_clear_error() -> None:
    ami = Ami("127.0.0.1", 9, "ivr", Secret("x"))
    ami.start()
    try:
        with pytest.raises(Exception, match="not reachable"):
            await ami.action({"Action": "Ping"}, timeout=0.5)
    finally:
        await ami.stop()


def test_handlers_can_be_removed() -> None:
    ami = Ami("127.0.0.1", 9, "ivr", Secret("x"))
    seen: list[str] = []

    def handler(fields: dict[str, str]) -> None:
        seen.append(fields["Event"])

    ami.on("Hangup", handler)
    ami.on("*", handler)
    ami._dispatch(None, {"Event": "Hangup"})
    ami.off(handler)
    ami._dispatch(None, {"Event": "Hangup"})
    assert seen == ["Hangup", "Hangup"]
