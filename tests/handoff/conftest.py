"""The handoff against the real sandbox Asterisk: the demo flows, queued to the tests'
own queue ``test-handoff``; agents signed in through the real desktop socket, their
phones Local channels that answer at once (``ivr-handoff-agent``); call-backs to a
Local channel that answers as the caller (``ivr-handoff-callee``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.ami import AmiError
from engine.config import Settings
from engine.handoff.hub import HandoffHub
from engine.handoff.settings import HandoffSettings
from engine.serve import Stack, start_stack
from tests.conftest import FLOWS, local_settings
from tests.live_call import LiveCall
from visual_ivr.agent import HANDOFF_HUB

QUEUE = "test-handoff"


@pytest.fixture
def handoff_flows(tmp_path: Path) -> str:
    """The demo flows, with their transfers to ``support`` sent to the tests' queue."""
    out = tmp_path / "flows"
    out.mkdir()
    for name in os.listdir(FLOWS):
        if name.endswith(".yaml"):
            text = Path(FLOWS, name).read_text(encoding="utf-8")
            (out / name).write_text(text.replace("queue: support", f"queue: {QUEUE}"), "utf-8")
    return str(out)


@pytest.fixture
def handoff_settings(handoff_flows: str, tmp_path: Path) -> Settings:
    """The settings' own handoff part (ivr serve reads it with the rest, from the
    file's [handoff] and IVR_HANDOFF_*): agents' phones are Local channels, in the
    tests' queue, gone as soon as their desktop closes."""
    handoff = HandoffSettings(
        agent_interface="Local/{ext}@ivr-handoff-agent/n",
        agent_queues=(QUEUE,),
        agent_grace_s=0.0,
    )
    return replace(
        local_settings(handoff_flows), trail_db=str(tmp_path / "trail.sqlite3"), handoff=handoff
    )


async def started(settings: Settings) -> Stack:
    running = await start_stack(settings, watch=False)
    await running.ami.wait_ready(10.0)
    await running.engine.warm_prompts()
    return running


async def stopped(running: Stack) -> None:
    """Stop the stack; nobody it queued is left waiting in the queue."""
    for call in list(hub_of(running).book.calls.values()):
        with contextlib.suppress(AmiError):
            await running.ami.action({"Action": "Hangup", "Channel": call.channel})
    await running.stop()


@pytest.fixture
async def stack(handoff_settings: Settings) -> AsyncIterator[Stack]:
    running = await started(handoff_settings)
    yield running
    await stopped(running)


def hub_of(stack: Stack) -> HandoffHub:
    return stack.runner.app[HANDOFF_HUB]


def unique_ext() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


class Desktop:
    """The agent desktop's socket, as a browser would hold it: every message, with
    the moment (monotonic) it arrived."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.messages.append((time.monotonic(), message.json()))
                self._changed.set()

    async def wait_for(
        self, kind: str, timeout: float = 30.0, **match: Any
    ) -> tuple[float, dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                for at, message in self.messages:
                    if message.get("type") == kind and all(
                        message.get(k) == v for k, v in match.items()
                    ):
                        return at, message
                self._changed.clear()
                await self._changed.wait()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_json(message)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def desktop(stack: Stack, ext: str) -> AsyncIterator[Desktop]:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{stack.web_url}/agent/ws?ext={ext}")
        desk = Desktop(ws)
        try:
            await desk.wait_for("signed_in", 10)
            yield desk
        finally:
            await desk.close()


class AgentConnects:
    """When the engine's AMI connection received AgentConnect, per member name."""

    def __init__(self, stack: Stack) -> None:
        self.at: dict[str, float] = {}
        self.events: dict[str, dict[str, str]] = {}
        stack.ami.on("AgentConnect", self._on)

    def _on(self, fields: dict[str, str]) -> None:
        member = fields.get("MemberName", "")
        self.at.setdefault(member, time.monotonic())
        self.events.setdefault(member, fields)


class Caller(LiveCall):
    """A live call (``tests/live_call.py``) whose ``at`` also waits for the node's
    prompt to take keys."""

    async def at(self, node: str, timeout: float = 30.0) -> None:
        """Wait until the call is listening at ``node`` (its prompt may be playing)."""
        await self.until(lambda: self.s.node.id == node and self.s.listening, timeout)
