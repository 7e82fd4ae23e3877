"""A fake AMI server: speeds up the protocol cases; every real-call test uses the
real one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest


class FakeAmi:
    """Answers login, pings and asynchronous originates until told to go silent;
    ``push`` sends it raw bytes, events for instance."""

    def __init__(self) -> None:
        self.actions: list[dict[str, str]] = []
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
                self.actions.append(fields)
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
                elif action == "originate":  # asynchronous: queued, then its event
                    writer.write(
                        f"Response: Success\r\nActionID: {action_id}\r\n"
                        "Message: Originate successfully queued\r\n\r\n"
                        f"Event: OriginateResponse\r\nPrivilege: call,all\r\n"
                        f"ActionID: {action_id}\r\nResponse: Success\r\n"
                        f"Uniqueid: {fields.get('ChannelId', '')}\r\n\r\n".encode()
                    )
                else:
                    writer.write(
                        f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n\r\n".encode()
                    )
                await writer.drain()

    async def push(self, *chunks: bytes) -> None:
        """Send raw bytes to every client, one write (and a short pause) per chunk."""
        for chunk in chunks:
            for writer in self.connections:
                writer.write(chunk)
                await writer.drain()
            await asyncio.sleep(0.02)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAmi, int]]:
    server_state = FakeAmi()
    server = await asyncio.start_server(server_state.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield server_state, port
    server.close()
    for writer in server_state.connections:
        writer.close()
