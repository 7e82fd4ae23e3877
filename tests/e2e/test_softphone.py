"""A person's softphone calls the demo as the README says: baresip, registered as
``softphone`` at 127.0.0.1:5060, dials 100. Everything else in the suite calls from
the sandbox's own caller leg; this is the one call from a SIP client that is not ours:
its REGISTER and INVITE answer digest challenges, it offers its own SDP, and its keys
are its own RFC 4733 events, pressed and released."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from engine.serve import Stack
from engine.session.events import TrailEntry, trail_as_dicts
from engine.session.machine import Session
from tests.softphone import Softphone, silence

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def engine_at_100(demo_stack: Stack) -> AsyncIterator[Stack]:
    """Extension 100 runs the flow at ${IVR_ENGINE}: pointed at this test's engine for
    the test's length, then put back (an `ivr serve` may hold the usual address)."""
    ami = demo_stack.ami
    before = await ami.action({"Action": "Getvar", "Variable": "GLOBAL(IVR_ENGINE)"})
    assert before.get("Value"), before
    host, port = demo_stack.engine.address
    await ami.action(
        {"Action": "Setvar", "Variable": "GLOBAL(IVR_ENGINE)", "Value": f"{host}:{port}"}
    )
    try:
        yield demo_stack
    finally:
        await ami.action(
            {"Action": "Setvar", "Variable": "GLOBAL(IVR_ENGINE)", "Value": before["Value"]}
        )


class Follow:
    """The session of the call from ``caller_id``, as the engine runs it."""

    def __init__(self, stack: Stack, caller_id: str) -> None:
        self.caller_id = caller_id
        self.session: Session | None = None
        self.changed = asyncio.Event()
        stack.engine.listeners.append(self._listen)

    def _listen(self, session: Session, entries: list[TrailEntry]) -> None:
        if self.session is None and session.call.caller_id == self.caller_id:
            self.session = session
        if session is self.session:
            self.changed.set()

    async def until(self, predicate: Callable[[Session], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while self.session is None or not predicate(self.session):
                self.changed.clear()
                await self.changed.wait()

    async def at(self, node: str) -> None:
        await self.until(lambda s: s.node.id == node)


async def test_a_softphone_walks_the_demo_by_its_own_keys(
    engine_at_100: Stack, tmp_path: Path
) -> None:
    follow = Follow(engine_at_100, "softphone")
    phone = Softphone(tmp_path)
    phone.configure(silence(tmp_path / "microphone.wav"))
    async with phone:
        await phone.dial("100")
        await follow.at("welcome")
        await phone.press("1")  # English
        await follow.at("main")
        await phone.press("1")  # balance: the sign-in subflow
        await follow.at("account")
        await phone.press("123456#")
        await follow.at("pin")
        await phone.press("1234#")
        await follow.at("anything_else")
        await phone.press("9")  # no, thanks: the flow says goodbye and hangs up
        await follow.until(lambda s: s.done, 30.0)
        await phone.until_logged("terminated", 15.0)  # the far end hung up the phone

    session = follow.session
    assert session is not None and session.outcome == "hangup"
    trail = trail_as_dicts(session.trail)
    nodes = [e["node"] for e in trail if e["kind"] == "node"]
    assert nodes[:3] == ["welcome", "main", "balance_identify"]
    assert {"account", "pin", "say_balance", "anything_else", "goodbye"} <= set(nodes)
    keys = [e["value"] for e in trail if e["kind"] == "input" and e["source"] == "key"]
    assert keys == ["1", "1", "123456", "****", "9"]  # a PIN is kept masked

    # The phone heard the flow from the answer on, not dead air: the greeting starts
    # within half a second, and most of the call is speech.
    samples, rate = phone.heard()
    level = np.abs(samples.astype(np.int32))
    tenths = level[: len(level) // (rate // 10) * (rate // 10)].reshape(-1, rate // 10).mean(1)
    assert tenths[:5].max() > 300, tenths[:10]
    assert (tenths > 100).mean() > 0.5, tenths
