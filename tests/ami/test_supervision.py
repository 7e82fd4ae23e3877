"""The AMI client notices a dead connection and reconnects with backoff.

A fake AMI server (conftest.py; it speeds up the protocol cases); the real one is used by
every real-call test."""

from __future__ import annotations

import asyncio
import socket

import pytest

from engine.ami import Ami, AmiError
from engine.config import Secret
from tests.ami.conftest import FakeAmi


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


async def test_a_connection_that_is_never_answered_says_what_timed_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TimeoutError says nothing of itself (its str is empty): the log said "ami: "."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())  # the backlog is full now
    port = listener.getsockname()[1]
    ami = Ami("127.0.0.1", port, "ivr", Secret("x"), connect_timeout=0.2)
    ami.start()
    try:
        with pytest.raises(AmiError, match=f"no answer from 127.0.0.1:{port} within 0.2 s$"):
            await ami.wait_ready(1.0)
    finally:
        await ami.stop()
        filler.close()
        listener.close()
    assert f"ami: no answer from 127.0.0.1:{port} within 0.2 s" in caplog.messages


async def test_a_login_that_is_never_answered_says_what_timed_out(
    fake: tuple[FakeAmi, int], caplog: pytest.LogCaptureFixture
) -> None:
    state, port = fake
    state.silent = True
    ami = Ami("127.0.0.1", port, "ivr", Secret("x"), connect_timeout=0.2, max_backoff=0.2)
    ami.start()
    try:
        await asyncio.sleep(0.5)
    finally:
        await ami.stop()
    problem = f"127.0.0.1:{port} did not answer the login as 'ivr' within 0.2 s"
    assert f"ami: {problem}" in caplog.messages


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
