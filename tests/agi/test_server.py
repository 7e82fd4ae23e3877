"""The FastAGI server against hostile and broken peers, over real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from engine.agi.server import AgiChannel, AgiServer

ENV = b"agi_network_script: demo\nagi_channel: PJSIP/x-1\nagi_callerid: 100\n\n"


class Recorder:
    def __init__(self) -> None:
        self.channels: list[AgiChannel] = []
        self.results: list[str] = []

    async def __call__(self, channel: AgiChannel) -> None:
        self.channels.append(channel)
        response = await channel.command("SET VARIABLE", "X", 'a"b\nNOOP')
        self.results.append(response.result)


@pytest.fixture
async def server() -> AsyncIterator[tuple[AgiServer, Recorder, int]]:
    recorder = Recorder()
    agi = AgiServer(recorder, header_timeout=0.5)
    _, port = await agi.start("127.0.0.1", 0)
    yield agi, recorder, port
    await agi.stop()


async def _loop_lag_during(seconds: float) -> float:
    """Worst event-loop lag seen over ``seconds`` (10 ms ticks)."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    end = loop.time() + seconds
    while loop.time() < end:
        before = loop.time()
        await asyncio.sleep(0.01)
        worst = max(worst, loop.time() - before - 0.01)
    return worst


async def test_a_session_runs_and_arguments_are_quoted(
    server: tuple[AgiServer, Recorder, int],
) -> None:
    _, recorder, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV)
    line = await asyncio.wait_for(reader.readline(), 2)
    assert line == b'SET VARIABLE "X" "a\\"b NOOP"\n'
    writer.write(b"200 result=1\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 2) == b""  # handler done: closed
    assert recorder.results == ["1"]
    assert recorder.channels[0].request.script == "demo"
    writer.close()


async def test_port_scan_and_garbage_do_not_stall_the_loop(
    server: tuple[AgiServer, Recorder, int],
) -> None:
    agi, recorder, port = server

    async def connect_and_close() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    async def garbage() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET / HTTP/1.1\r\n\r\n" * 50)
            await asyncio.wait_for(reader.read(), 2)
        except ConnectionError:
            pass  # the server hung up on us: that is the point
        finally:
            writer.close()

    async def silent() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed after the header timeout
        writer.close()

    async def trickle() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        began = time.monotonic()
        try:
            for _ in range(40):  # never a full line, slowly: 2 s if nobody stops it
                writer.write(b"agi_x: ")
                await writer.drain()
                await asyncio.sleep(0.05)
                if reader.at_eof():
                    break
        except (ConnectionError, RuntimeError):
            pass  # the server hung up between two writes (uvloop says so with RuntimeError)
        finally:
            writer.close()
        assert time.monotonic() - began < 1.5  # cut off at the header deadline

    started = time.monotonic()
    lag_task = asyncio.create_task(_loop_lag_during(1.0))
    await asyncio.gather(
        *(connect_and_close() for _ in range(200)),
        *(garbage() for _ in range(20)),
        *(silent() for _ in range(5)),
        trickle(),
        return_exceptions=False,
    )
    worst_lag = await lag_task
    assert time.monotonic() - started < 3.0
    assert worst_lag < 0.2, f"event loop stalled for {worst_lag:.3f} s"
    assert recorder.channels == []  # none of them was taken for a call
    await asyncio.sleep(0.1)
    assert agi.active == 0  # nothing left behind


async def test_peer_leaving_mid_command(server: tuple[AgiServer, Recorder, int]) -> None:
    agi, recorder, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV)
    await asyncio.wait_for(reader.readline(), 2)
    writer.close()  # hang up instead of answering
    for _ in range(50):
        if agi.active == 0:
            break
        await asyncio.sleep(0.02)
    assert agi.active == 0
    assert recorder.results == []


async def test_stop_closes_sessions_in_progress(server: tuple[AgiServer, Recorder, int]) -> None:
    agi, _, port = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV)
    await asyncio.wait_for(reader.readline(), 2)
    await agi.stop()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()


async def test_connections_that_bring_no_request_are_counted_by_why() -> None:
    """An operator sees port scans, stalled peers and garbage in the metrics."""
    reasons: list[str] = []
    agi = AgiServer(Recorder(), header_timeout=0.3, refused=reasons.append)
    _, port = await agi.start("127.0.0.1", 0)
    try:
        _, closer = await asyncio.open_connection("127.0.0.1", port)
        closer.close()
        _, staller = await asyncio.open_connection("127.0.0.1", port)
        staller.write(b"agi_network_script: demo\n")  # half a header, then nothing
        reader, talker = await asyncio.open_connection("127.0.0.1", port)
        talker.write(b"GET / HTTP/1.1\r\n\r\n")
        await asyncio.wait_for(reader.read(), 2)
        async with asyncio.timeout(3):
            while len(reasons) < 3:
                await asyncio.sleep(0.02)
        assert sorted(reasons) == ["closed", "garbage", "stalled"]
        staller.close()
        talker.close()
    finally:
        await agi.stop()


async def test_a_peer_outside_asterisk_networks_is_refused_before_a_byte_is_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A FastAGI peer says whose call it is; only the Asterisk may be one."""
    from engine.peers import Peers

    reasons: list[str] = []
    recorder = Recorder()
    peers = Peers(["10.0.0.0/8"])  # not this loopback client
    agi = AgiServer(recorder, header_timeout=0.3, refused=reasons.append, peers=peers)
    _, port = await agi.start("127.0.0.1", 0)
    try:
        for _ in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"agi_network_script: demo\nagi_callerid: 5550100\n\n")
            assert await asyncio.wait_for(reader.read(), 2) == b""  # closed at once
            writer.close()
        assert reasons == ["not allowed", "not allowed"] and not recorder.channels
        warned = [m for m in caplog.messages if "not in asterisk_networks" in m]
        assert warned == [
            "agi: refused a connection from 127.0.0.1, which is not in asterisk_networks "
            "(IVR_ASTERISK_NETWORKS: the addresses Asterisk connects from)"
        ]  # once per address
        peers.allow_only(["127.0.0.0/8"])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"agi_network_script: demo\n\n")
        async with asyncio.timeout(2):
            while not recorder.channels:
                await asyncio.sleep(0.02)
        writer.close()
    finally:
        await agi.stop()


def test_asterisk_networks_match_dual_stack_and_zoned_addresses() -> None:
    from engine.peers import Peers

    peers = Peers()  # loopback
    assert peers.allows_address("127.0.0.1") and peers.allows_address("::1")
    assert peers.allows_address("::ffff:127.0.0.1")  # an IPv4 peer on a dual-stack socket
    assert not peers.allows_address("192.0.2.7") and not peers.allows_address("")
    assert Peers(["fe80::/10"]).allows_address("fe80::1%eth0")
