"""The end of a FastAGI session: the engine's last command goes out with its side shut,
and the connection is closed once Asterisk has answered and closed (real sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from engine.agi.linger import Linger
from engine.agi.server import AgiChannel, AgiServer

ENV = b"agi_network_script: demo\nagi_channel: PJSIP/x-1\nagi_callerid: 100\n\n"


@pytest.fixture
async def server() -> AsyncIterator[tuple[AgiServer, int]]:
    async def last_command(channel: AgiChannel) -> None:
        await channel.let_go("EXEC", "MSet", "IVR_RESULT=hangup")

    agi = AgiServer(last_command)
    agi.linger = Linger(sweep_s=0.05, hold_s=0.5)
    _, port = await agi.start("127.0.0.1", 0)
    yield agi, port
    await agi.stop()


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV)
    return reader, writer


async def _until_empty(linger: Linger, within: float) -> None:
    async with asyncio.timeout(within):
        while len(linger):
            await asyncio.sleep(0.01)


async def test_closed_once_asterisk_answers_and_closes(server: tuple[AgiServer, int]) -> None:
    agi, port = server
    reader, writer = await _connect(port)
    # The command, then the engine's side shut: Asterisk reads the end of the session.
    assert await asyncio.wait_for(reader.read(), 2) == b'EXEC "MSet" "IVR_RESULT=hangup"\n'
    async with asyncio.timeout(2):
        while not len(agi.linger):  # the session is over; the linger holds the socket
            await asyncio.sleep(0.01)
    writer.write(b"200 result=0\nHANGUP\n")  # Asterisk's answer; it goes on in the dialplan
    await writer.drain()
    await asyncio.sleep(0.2)
    assert len(agi.linger) == 1  # Asterisk has not closed: the socket stays open
    writer.close()
    await _until_empty(agi.linger, 1.0)
    assert agi.active == 0


async def test_a_peer_that_never_closes_is_let_go_after_the_hold(
    server: tuple[AgiServer, int],
) -> None:
    agi, port = server
    reader, writer = await _connect(port)
    assert (await asyncio.wait_for(reader.read(), 2)).startswith(b"EXEC")
    await _until_empty(agi.linger, 2.0)  # hold_s 0.5, then closed
    writer.close()


async def test_stop_closes_what_the_linger_holds(server: tuple[AgiServer, int]) -> None:
    agi, port = server
    reader, writer = await _connect(port)
    assert (await asyncio.wait_for(reader.read(), 2)).startswith(b"EXEC")
    async with asyncio.timeout(2):
        while not len(agi.linger):
            await asyncio.sleep(0.01)
    await agi.stop()
    assert len(agi.linger) == 0
    writer.write(b"200 result=0\n")  # the socket is gone: the peer learns it
    with pytest.raises(ConnectionError):
        for _ in range(20):
            await writer.drain()
            writer.write(b"x")
            await asyncio.sleep(0.02)
