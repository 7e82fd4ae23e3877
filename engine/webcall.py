"""Runs a session that has no call: the visual IVR opened first, on the web.

Prompts are shown, not spoken, so each play counts as heard at once; there are
no no-input timers on a page (a person reading is not a caller gone silent);
backend requests run as they do on a call. When the session reaches a transfer,
the journey waits there for the "talk to a person" path (a call back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable

import aiohttp

from engine.agi.call import CallObserver
from engine.httpnode import perform
from engine.session import events as ev
from engine.session.machine import Session

log = logging.getLogger(__name__)


class WebOnlyCall:
    def __init__(
        self, session: Session, http: aiohttp.ClientSession, observer: CallObserver
    ) -> None:
        self.session = session
        self._http = http
        self._observer = observer
        self._trail_seen = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsaved: list[Awaitable[None]] = []
        self.seen = time.monotonic()  # last taken a step or shown: kept while in use

    def touch(self) -> None:
        """The page asked for the journey: its person is still there."""
        self.seen = time.monotonic()

    @property
    def voice(self) -> bool:
        return False

    def start(self) -> None:
        self._run(self.session.start())

    def submit(self, event: ev.Event) -> None:
        self._run(self.session.feed(event))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    def _run(self, actions: list[ev.Action]) -> None:
        self.touch()
        pending = deque(actions)
        while pending:
            action = pending.popleft()
            if isinstance(action, ev.Play):
                pending.extend(self.session.feed(ev.PromptFinished(action.play_id)))
            elif isinstance(action, ev.HttpRequest):
                task = asyncio.get_running_loop().create_task(self._http_request(action))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif isinstance(action, ev.Fail):  # as a call logs it: the designer's to mend
                log.error(
                    "web journey %s: session failed: %s", self.session.call.call_id, action.reason
                )
        fresh = self.session.trail[self._trail_seen :]
        self._trail_seen = len(self.session.trail)
        saving = self._observer.on_update(self.session, fresh)
        if saving is not None:
            self._unsaved.append(saving)

    async def saved(self) -> None:
        """Wait until the trail so far is stored (before telling the page it's done)."""
        while self._unsaved:
            pending, self._unsaved = self._unsaved, []
            await asyncio.gather(*pending)

    async def _http_request(self, request: ev.HttpRequest) -> None:
        self._run(self.session.feed(await perform(self._http, request)))
