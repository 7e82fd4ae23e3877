"""Who is watching which journey, and waking them when it moves.

The engine calls :meth:`Hub.on_update` after every event fed to any session (a key
on the call, a prompt that ended, a tap on a page). For a journey that nobody
watches that is one dictionary look-up. For a watched one it sets each watcher's
flag; the watcher's own task (a server-sent event stream, a form post waiting for
the call to take its tap) then looks at the session and renders what changed. So
a burst of events becomes one page update, and no rendering happens inside the
call's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from engine.session.events import TrailEntry
from engine.session.machine import Session


class TooManyWatchers(Exception):
    pass


class Watcher:
    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self.closed = False

    def wake(self) -> None:
        self._changed.set()

    async def wait(self, timeout: float) -> bool:
        """True when the journey changed (or the hub closed) within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        self._changed.clear()
        return True


class Hub:
    def __init__(self, max_per_journey: int = 8) -> None:
        self._max = max_per_journey
        self._watchers: dict[str, set[Watcher]] = {}

    def on_update(self, session: Session, entries: list[TrailEntry]) -> None:
        for watcher in self._watchers.get(session.call.call_id, ()):
            watcher.wake()

    @contextlib.contextmanager
    def watch(self, journey: str, capped: bool = True) -> Iterator[Watcher]:
        """Watch ``journey``; at most ``max_per_journey`` capped watchers (open pages)."""
        watchers = self._watchers.setdefault(journey, set())
        if capped and len(watchers) >= self._max:
            raise TooManyWatchers(journey)
        watcher = Watcher()
        watchers.add(watcher)
        try:
            yield watcher
        finally:
            watchers.discard(watcher)
            if not watchers:
                self._watchers.pop(journey, None)

    async def until(self, journey: str, done: Callable[[], bool], timeout: float) -> bool:
        """Wait (bounded) until ``done()`` holds, checking each time the journey moves."""
        if done():
            return True
        with self.watch(journey, capped=False) as watcher:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not done():
                left = deadline - loop.time()
                if left <= 0 or not await watcher.wait(left) or watcher.closed:
                    return done()
            return True

    def close(self) -> None:
        """Shutting down: every watcher wakes and sees ``closed``."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.closed = True
                watcher.wake()

    def full(self, journey: str) -> bool:
        """No room for another open page on ``journey``."""
        return len(self._watchers.get(journey, ())) >= self._max
