"""A real call through the sandbox Asterisk that a test presses keys on when it likes
(``engine.caller.place_call`` plays a script of steps instead).

The caller's leg is a real SIP channel that sends RTP; keys are RFC 4733 DTMF on it
(AMI PlayDTMF). The caller's side has an AMI connection of its own, as the tools'
user, and follows the call's session through the engine's listeners."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

from engine.ami import Ami, AmiError
from engine.caller import ORDINARY_PHONE, Phone, originate_caller
from engine.serve import Stack
from engine.session.events import TrailEntry
from engine.session.machine import Session
from tests.conftest import caller_ami

KEY_MS = 100  # how long each key is held, like a person's press


class LiveCall:
    """One call into ``flow`` from ``caller_id``, up from ``async with`` until its end,
    which hangs the caller up if nothing else has."""

    def __init__(
        self, stack: Stack, flow: str, caller_id: str, phone: Phone = ORDINARY_PHONE
    ) -> None:
        self.stack = stack
        self.phone = phone
        self._exit = contextlib.AsyncExitStack()
        self.ami: Ami | None = None
        self.flow = flow
        self.caller_id = caller_id
        self.session: Session | None = None
        self.leg = ""  # the caller's channel
        self.gone = asyncio.Event()
        self._changed = asyncio.Event()
        self._id = uuid.uuid4().hex

    def _listen(self, session: Session, entries: list[TrailEntry]) -> None:
        if self.session is None and session.call.caller_id == self.caller_id:
            self.session = session
        if session is self.session:
            self._changed.set()

    def _channel(self, fields: dict[str, str]) -> None:
        if fields.get("Uniqueid") == self._id:
            self.leg = fields.get("Channel", self.leg)
            if fields.get("Event") == "Hangup":
                self.gone.set()
            self._changed.set()

    async def __aenter__(self) -> LiveCall:
        try:
            await self._start()
        except BaseException:
            await self._exit.aclose()
            raise
        return self

    async def _start(self) -> None:
        engine = self.stack.engine
        self.ami = ami = await self._exit.enter_async_context(caller_ami())
        engine.listeners.append(self._listen)
        self._exit.callback(engine.listeners.remove, self._listen)
        ami.on("Newchannel", self._channel)
        ami.on("Hangup", self._channel)
        await originate_caller(
            ami, f"{self.flow}+{engine.address[1]}", self.caller_id, self._id, self.phone
        )
        await self.until(lambda: self.session is not None and bool(self.leg), 20.0)
        # A caller hears the greeting begin before pressing; a test that pressed before
        # the engine's first command would lose the key (Asterisk drops it), as a
        # caller would who pressed into the ringing.
        async with asyncio.timeout(20.0):
            while (handle := engine.calls.get(self.s.call.call_id)) and not handle.commands_sent:
                await asyncio.sleep(0.01)

    async def __aexit__(self, *exc: object) -> None:
        await self.hangup()
        await self._exit.aclose()

    @property
    def s(self) -> Session:
        assert self.session is not None
        return self.session

    async def until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):  # for what changes unannounced
                        await self._changed.wait()

    async def at(self, node: str, timeout: float = 30.0) -> None:
        """Wait until the call is at ``node``."""
        await self.until(lambda: self.s.node.id == node, timeout)

    async def press(self, keys: str, gap: float = 0.25) -> None:
        for index, key in enumerate(keys):
            if index:
                await asyncio.sleep(gap)
            assert self.ami is not None
            await self.ami.action(
                {"Action": "PlayDTMF", "Channel": self.leg, "Digit": key, "Duration": str(KEY_MS)}
            )

    async def hangup(self) -> None:
        if self.leg and not self.gone.is_set() and self.ami is not None:
            with contextlib.suppress(AmiError):
                await self.ami.action({"Action": "Hangup", "Channel": self.leg})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self.gone.wait()
