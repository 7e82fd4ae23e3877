"""After-call work: from the end of an agent's call until its wrap-up is saved, the
agent's phone rings no more (a queue pause, for at most ``wrapup_max_s``), so the
next call cannot take the desktop from a call not yet wrapped up. The calls waiting
for their wrap-up are kept per agent, so a reloaded desktop gets them back. When
``wrapup_max_s`` runs out, the pause ends and those calls stop waiting (a wrap-up may
still be saved from a desktop that shows one): the agent's next call that ends
pauses them again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from engine.ami import Ami, AmiError
from engine.handoff.desks import Desks
from engine.handoff.settings import HandoffSettings

# A wrap-up's disposition: what is stored, and what the desktop and the report call it.
DISPOSITION_LABELS = {
    "resolved": "Resolved",
    "follow_up": "Needs follow-up",
    "transferred": "Transferred",
    "callback": "Call back later",
    "no_answer": "Caller gone",
    "other": "Other",
}

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any]], object]


class AfterCall:
    def __init__(self, ami: Ami, desks: Desks, settings: HandoffSettings, spawn: Spawn) -> None:
        self._ami = ami
        self._desks = desks
        self._settings = settings
        self._spawn = spawn
        self._waiting: dict[str, set[str]] = {}  # ext -> its ended calls not wrapped up
        self._resume: dict[str, asyncio.TimerHandle] = {}  # ext -> the end of its pause

    def waiting(self, ext: str) -> list[str]:
        """The agent's calls that ended and wait for their wrap-up."""
        return sorted(self._waiting.get(ext, ()))

    def paused(self, ext: str) -> bool:
        """The agent is in its wrap-up pause (which ends at ``wrapup_max_s``)."""
        return ext in self._resume

    def ended(self, ext: str, journey: str) -> None:
        """The agent's call ended: their wrap-up begins (their first one: the pause)."""
        waiting = self._waiting.setdefault(ext, set())
        if not waiting:
            self._pause(ext, True)
        waiting.add(journey)

    def wrapped(self, ext: str, journey: str) -> None:
        """A wrap-up was saved: the agent's last one ends the pause."""
        waiting = self._waiting.get(ext)
        if waiting is None or journey not in waiting:
            return
        waiting.discard(journey)
        if not waiting:
            del self._waiting[ext]
            self._pause(ext, False)

    def _pause(self, ext: str, paused: bool) -> None:
        timer = self._resume.pop(ext, None)
        if timer is not None:
            timer.cancel()
        if paused:
            self._resume[ext] = asyncio.get_running_loop().call_later(
                self._settings.wrapup_max_s, self._time_up, ext
            )
        for desk in self._desks.by_ext.get(ext, ()):
            desk.put({"type": "after_call", "paused": paused})
        self._spawn(self._queue_pause(ext, paused))

    def _time_up(self, ext: str) -> None:
        """The wrap-up time ran out: the agent takes calls again."""
        self._resume.pop(ext, None)
        self._waiting.pop(ext, None)
        self._pause(ext, False)

    async def _queue_pause(self, ext: str, paused: bool) -> None:
        fields = {"Action": "QueuePause", "Interface": self._desks.member_for(ext)}
        fields |= {"Paused": "true" if paused else "false", "Reason": "wrap-up"}
        try:
            await self._ami.action(fields, timeout=5.0)
        except AmiError as exc:
            log.warning("handoff: pausing %s for its wrap-up (%s): %s", ext, paused, exc)

    def close(self) -> None:
        for timer in self._resume.values():
            timer.cancel()
        self._resume.clear()
