"""Agents' desktops and their place in the queues.

An agent signs in with an extension; the desktop that signed in *is* the agent's
presence: :class:`Desks` adds the agent's device to their queues (AMI
``QueueAdd``, as a dynamic member named after the extension) when the first
desktop of that extension connects, and removes it (``QueueRemove``) when the
last one has been gone for ``agent_grace_s`` (a page reload does not drop the
agent). So a call never rings a phone whose desktop could not show the trail.
When Asterisk (re)starts, or AMI reconnects, every signed-in agent is added again
(``QueueAdd`` of a member already there counts as done).

Messages to a desktop go through its :class:`Desk` outbox in order. An item may
be a coroutine that builds the message (the handoff, read from the store): the
desktop's writer awaits it in turn, so an offer is never overtaken by the
"connected" that follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from engine.ami import Ami, AmiError
from engine.handoff.settings import HandoffSettings

log = logging.getLogger(__name__)

Message = dict[str, Any]
OUTBOX_LIMIT = 1000


class SignInError(Exception):
    pass


class Desk:
    """One open desktop of one agent."""

    def __init__(self, ext: str, member: str, queues: tuple[str, ...]) -> None:
        self.ext = ext
        self.member = member  # the queue member's interface, e.g. PJSIP/agent1
        self.queues = queues
        self.journeys: dict[str, str] = {}  # journey -> offered | connected | ended
        self._outbox: asyncio.Queue[Message | Coroutine[Any, Any, Message | None] | None] = (
            asyncio.Queue(OUTBOX_LIMIT)
        )
        self.closed = False

    def put(self, item: Message | Coroutine[Any, Any, Message | None]) -> None:
        if self.closed:
            if asyncio.iscoroutine(item):
                item.close()
            return
        try:
            self._outbox.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("desk %s: outbox full, closing it", self.ext)
            if asyncio.iscoroutine(item):
                item.close()
            self.close()

    async def next(self) -> Message | None:
        """The next message, in order; None once the desk is closed."""
        while True:
            item = await self._outbox.get()
            if item is None:
                return None
            if isinstance(item, dict):
                return item
            message = await item
            if message is not None:
                return message

    def close(self) -> None:
        """No more messages: the writer sends what is queued, then closes the socket.
        A desk too far behind to take the close has its backlog dropped instead, so
        that it does close (and signs out; its browser reconnects to a fresh state)."""
        if self.closed:
            return
        self.closed = True
        if self._outbox.full():
            while not self._outbox.empty():
                item = self._outbox.get_nowait()
                if asyncio.iscoroutine(item):
                    item.close()
        self._outbox.put_nowait(None)


class Desks:
    def __init__(self, ami: Ami, settings: HandoffSettings) -> None:
        self._ami = ami
        self._settings = settings
        self._pattern = re.compile(settings.extension_pattern)
        self.by_ext: dict[str, set[Desk]] = {}
        self._leaving: dict[str, tuple[Desk, asyncio.Task[None]]] = {}
        # Whether an agent is to join paused (in after-call work): set by the hub.
        self.paused: Callable[[str], bool] = lambda ext: False

    def member_for(self, ext: str) -> str:
        return self._settings.agent_interface.format(ext=ext)

    async def sign_in(self, ext: str, queues: tuple[str, ...] = ()) -> Desk:
        if not self._pattern.fullmatch(ext):
            raise SignInError("an extension is letters, digits, '-' and '_'")
        wanted = tuple(dict.fromkeys(queues or self._settings.agent_queues))
        unknown = set(wanted) - set(self._settings.agent_queues)
        if unknown:
            raise SignInError(f"no such queue: {', '.join(sorted(unknown))}")
        leaving = self._leaving.pop(ext, None)
        if leaving is not None:
            leaving[1].cancel()
        desk = Desk(ext, self.member_for(ext), tuple(wanted))
        await self._add(desk.ext, desk.member, desk.queues)
        self.by_ext.setdefault(ext, set()).add(desk)
        return desk

    def sign_out(self, desk: Desk) -> None:
        desk.close()
        desks = self.by_ext.get(desk.ext, set())
        desks.discard(desk)
        if desks:
            return
        self.by_ext.pop(desk.ext, None)
        task = asyncio.get_running_loop().create_task(self._leave_later(desk))
        self._leaving[desk.ext] = (desk, task)

    async def _leave_later(self, desk: Desk) -> None:
        await asyncio.sleep(self._settings.agent_grace_s)
        self._leaving.pop(desk.ext, None)
        await self._remove(desk.member, desk.queues)

    def desks_of(self, member_name: str) -> set[Desk]:
        return self.by_ext.get(member_name, set())

    async def rejoin_all(self) -> None:
        """Asterisk (re)started or AMI reconnected: put every agent back."""
        for ext, desks in list(self.by_ext.items()):
            queues = tuple(sorted({q for d in desks for q in d.queues}))
            with contextlib.suppress(AmiError):
                await self._add(ext, self.member_for(ext), queues)

    async def close(self) -> None:
        """Everyone leaves the queues now (those on their grace period too)."""
        leaving = list(self._leaving.values())
        self._leaving.clear()
        for desk, task in leaving:
            task.cancel()
            with contextlib.suppress(AmiError):
                await self._remove(desk.member, desk.queues)
        for ext, desks in list(self.by_ext.items()):
            queues = tuple(sorted({q for d in desks for q in d.queues}))
            for desk in desks:
                desk.close()
            with contextlib.suppress(AmiError):
                await self._remove(self.member_for(ext), queues)
        self.by_ext.clear()

    async def _add(self, ext: str, member: str, queues: tuple[str, ...]) -> None:
        for queue in queues:
            try:
                await self._ami.action(
                    {
                        "Action": "QueueAdd",
                        "Queue": queue,
                        "Interface": member,
                        "MemberName": ext,
                        # Back within a wrap-up (a reload, Asterisk restarted): still
                        # paused, or a call would take the desktop from the one ended.
                        "Paused": "true" if self.paused(ext) else "false",
                    },
                    timeout=5.0,
                )
            except AmiError as exc:
                if "already there" not in str(exc).lower():
                    raise SignInError(f"could not join queue {queue}: {exc}") from exc
        log.info("agent %s (%s) in queues %s", ext, member, ", ".join(queues))

    async def _remove(self, member: str, queues: tuple[str, ...]) -> None:
        for queue in queues:
            try:
                await self._ami.action(
                    {"Action": "QueueRemove", "Queue": queue, "Interface": member}, timeout=5.0
                )
            except AmiError as exc:
                if "not there" not in str(exc).lower():
                    log.warning("agent %s: leaving queue %s: %s", member, queue, exc)
        log.info("agent %s left queues %s", member, ", ".join(queues))
