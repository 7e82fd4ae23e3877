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
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.ami import Ami, AmiError
from engine.caller import originate_caller
from engine.config import Settings
from engine.handoff.hub import HandoffHub
from engine.serve import Stack, start_stack
from engine.session.events import TrailEntry
from engine.session.machine import Session
from tests.conftest import FLOWS, caller_ami, local_settings
from visual_ivr.agent import HANDOFF_HUB

QUEUE = "test-handoff"
KEY_MS = 100


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
def handoff_settings(
    handoff_flows: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("IVR_HANDOFF_AGENT_INTERFACE", "Local/{ext}@ivr-handoff-agent/n")
    monkeypatch.setenv("IVR_HANDOFF_AGENT_QUEUES", QUEUE)
    monkeypatch.setenv("IVR_HANDOFF_AGENT_GRACE_S", "0")
    return replace(local_settings(handoff_flows), trail_db=str(tmp_path / "trail.sqlite3"))


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


class Caller:
    """A real SIP call into a flow (the caller's leg sends RTP; keys are RFC 4733 DTMF
    by AMI PlayDTMF), pressed on when the test likes; it stays up after the transfer.
    The caller's side has an AMI connection of its own, as the tools' user."""

    def __init__(self, stack: Stack, flow: str, number: str) -> None:
        self.stack = stack
        self._exit = contextlib.AsyncExitStack()
        self.ami: Ami | None = None
        self.flow = flow
        self.number = number
        self.session: Session | None = None
        self.leg = ""
        self._id = uuid.uuid4().hex
        self._changed = asyncio.Event()

    def _listen(self, session: Session, entries: list[TrailEntry]) -> None:
        if self.session is None and session.call.caller_id == self.number:
            self.session = session
        if session is self.session:
            self._changed.set()

    def _channel(self, fields: dict[str, str]) -> None:
        if fields.get("Uniqueid") == self._id and fields.get("Event") == "Newchannel":
            self.leg = fields.get("Channel", "")
            self._changed.set()

    async def __aenter__(self) -> Caller:
        try:
            await self._start()
        except BaseException:
            await self._exit.aclose()
            raise
        return self

    async def _start(self) -> None:
        self.ami = ami = await self._exit.enter_async_context(caller_ami())
        self.stack.engine.listeners.append(self._listen)
        self._exit.callback(self.stack.engine.listeners.remove, self._listen)
        ami.on("Newchannel", self._channel)
        port = self.stack.engine.address[1]
        await originate_caller(ami, f"{self.flow}+{port}", self.number, self._id)
        await self.until(lambda: self.session is not None and bool(self.leg), 20)

    async def __aexit__(self, *exc: object) -> None:
        if self.leg and self.ami is not None:
            with contextlib.suppress(AmiError):
                await self.ami.action({"Action": "Hangup", "Channel": self.leg})
        await self._exit.aclose()

    @property
    def s(self) -> Session:
        assert self.session is not None
        return self.session

    async def until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def at(self, node: str, timeout: float = 30.0) -> None:
        """Wait until the call is listening at ``node`` (its prompt may be playing)."""
        await self.until(lambda: self.s.node.id == node and self.s.listening, timeout)

    async def press(self, keys: str, gap: float = 0.25) -> None:
        for index, key in enumerate(keys):
            if index:
                await asyncio.sleep(gap)
            assert self.ami is not None
            await self.ami.action(
                {"Action": "PlayDTMF", "Channel": self.leg, "Digit": key, "Duration": str(KEY_MS)}
            )
