"""Runs one call session over one FastAGI channel.

The session decides; this adapter carries its actions out with AGI commands and
turns what comes back into events. AGI runs one command at a time, so the adapter
keeps a *media queue* (plays, then the transfer or hang-up that ends the call) and,
when nothing is queued, sits in ``WAIT FOR DIGIT`` until the next timer is due.
Every command it issues while the caller is on the line accepts keys: prompts run
with every key as an escape digit, and a key that hits a prompt the session wants
heard to the end is kept and the prompt resumes where it stopped (``endpos``).
So no key press is lost between steps, during prompts, or during a slow backend.

The call ends in the dialplan: ``IVR_RESULT`` says ``transfer`` (with ``IVR_QUEUE``)
or ``hangup``, and the prompts the session ends with go along in ``IVR_FINAL`` for the
dialplan to play (``ending.py``); a call left without a result (engine stopped,
crashed, or the session failed) goes to the dialplan's fallback, an apology and a
person.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp

from engine.agi.ending import ending
from engine.agi.protocol import AgiResponse
from engine.agi.server import AgiChannel, ChannelGone
from engine.httpnode import perform
from engine.prompts import PromptCache
from engine.session import events as ev
from engine.session.machine import Session

log = logging.getLogger(__name__)

ALL_KEYS = "0123456789*#"
# The engine wakes its own AGI command (a prompt, a wait for a key) when the web page
# moves the session: AMI PlayDTMF with Receive on the call's channel injects this key,
# which no phone keypad has and which every command here treats as an escape digit.
WAKE_KEY = "D"
ESCAPE_KEYS = ALL_KEYS + WAKE_KEY
IDLE_SLICE_S = 1.0  # longest WAIT FOR DIGIT while nothing is due
BUSY_SLICE_S = 0.05  # while a backend request is out: how soon its answer is noticed


class CallObserver(Protocol):
    def on_update(self, session: Session, entries: list[ev.TrailEntry]) -> Awaitable[None] | None:
        """After every event fed: the trail entries it added (maybe none). What it
        returns (the entries being stored) is awaited before the next command."""

    def on_step_latency(self, seconds: float) -> None: ...


class _NullObserver:
    def on_update(self, session: Session, entries: list[ev.TrailEntry]) -> Awaitable[None] | None:
        return None

    def on_step_latency(self, seconds: float) -> None:
        return None


class AgiCall:
    def __init__(
        self,
        channel: AgiChannel,
        session: Session,
        prompts: PromptCache,
        http: aiohttp.ClientSession,
        observer: CallObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel = channel
        self.session = session
        self._prompts = prompts
        self._http = http
        self._observer = observer or _NullObserver()
        self._clock = clock
        self._media: deque[ev.Play | ev.Transfer | ev.Hangup | ev.Fail] = deque()
        self._timers: dict[int, float] = {}
        self._http_tasks: set[asyncio.Task[ev.HttpDone]] = set()
        self._http_done: list[ev.HttpDone] = []
        self._trail_seen = 0
        self._event_at: float | None = None  # when the last event came in, for latency
        self._stop_requested = False
        self._external: list[ev.Event] = []  # from the web page, fed between commands
        self._wake_pending = False
        self.waker: Callable[[], None] | None = None
        self._unsaved: list[Awaitable[None]] = []

    @property
    def voice(self) -> bool:
        return True

    @property
    def commands_sent(self) -> int:
        """AGI commands sent on the call. Asterisk reads and drops the keys a caller
        presses before the first: no command is there to hear them."""
        return self._channel.commands

    @property
    def channel_name(self) -> str:
        return self._channel.request.channel

    def submit(self, event: ev.Event) -> None:
        """An event from outside the call (the web page): fed as soon as the command
        in progress ends, which the waker makes happen now. A page coming into or out
        of view changes nothing the caller hears at once: it waits for the command's
        end (a wait for a key lasts at most ``IDLE_SLICE_S``), and costs no wake."""
        self._external.append(event)
        if isinstance(event, ev.PageSeen):
            return
        if not self._wake_pending and self.waker is not None:
            self._wake_pending = True
            self.waker()

    async def run(self) -> None:
        try:
            # The flow starts first: its first trail entries and the journey's row are
            # then stored in one commit, before the first command.
            self._apply(self.session.start())
            if not self._channel.request.answered:
                await self._command("ANSWER")
            while not await self._step():
                pass
        except ChannelGone:
            self._feed(ev.CallerHangup())
        finally:
            for task in self._http_tasks:
                task.cancel()
            await self.saved()

    # ------------------------------------------------------------ the loop

    async def _step(self) -> bool:
        """Carry out one command; True when the call has left the engine."""
        if self._media and await self._hand_over():
            return True
        if self._media:
            item = self._media.popleft()
            if isinstance(item, ev.Play):
                await self._play(item)
                return False
            return await self._finish(item)
        await self._wait_for_key()
        return False

    async def _play(self, play: ev.Play) -> None:
        self._stop_requested = False
        for part in play.parts:
            path = await self._prompts.path_for(part)
            offset = 0
            while True:
                response = await self._command(
                    "STREAM FILE", path, ESCAPE_KEYS, offset, timeout=None
                )
                self._event_at = self._clock()
                if response.result_int < 0:
                    raise ChannelGone("hung up during a prompt")
                key = _key_of(response.result_int)
                if key is None:
                    break
                if key != WAKE_KEY:
                    self._feed(ev.Digit(key))
                self._after_command()
                if self._stop_requested:
                    return  # the session stopped this prompt (barge-in, a web move)
                offset = int(response.extras.get("endpos", "0") or 0)
        self._feed(ev.PromptFinished(play.play_id))
        self._after_command()

    async def _wait_for_key(self) -> None:
        now = self._clock()
        due = min(self._timers.values(), default=now + IDLE_SLICE_S)
        wait = min(max(due - now, 0.0), IDLE_SLICE_S)
        if self._http_tasks:
            wait = min(wait, BUSY_SLICE_S)
        if wait > 0:
            response = await self._command(
                "WAIT FOR DIGIT", max(1, round(wait * 1000)), timeout=wait + 10
            )
            self._event_at = self._clock()
            if response.result_int < 0:
                raise ChannelGone("hung up while waiting for a key")
            key = _key_of(response.result_int)
            if key is not None and key != WAKE_KEY:
                self._feed(ev.Digit(key))
        self._after_command()

    def _after_command(self) -> None:
        """Feed what became due while the last command ran: web moves, backend
        answers, timers."""
        self._wake_pending = False
        while self._external:
            self._feed(self._external.pop(0))
        while self._http_done:
            self._feed(self._http_done.pop(0))
        now = self._clock()
        for timer_id, due in sorted(self._timers.items(), key=lambda item: item[1]):
            if due <= now and timer_id in self._timers:
                del self._timers[timer_id]
                self._feed(ev.TimerFired(timer_id))

    async def _hand_over(self) -> bool:
        """When all that is left is prompts and then a transfer or hang-up, let the
        dialplan do it all (``ending.py``): one command, and no round trip after the
        last prompt. False (nothing sent) when that cannot be done."""
        *plays, last = self._media
        if not isinstance(last, (ev.Transfer, ev.Hangup)):
            return False
        if not all(isinstance(play, ev.Play) for play in plays):
            return False
        parts = [part for play in plays if isinstance(play, ev.Play) for part in play.parts]
        commands = ending(last, [await self._prompts.path_for(part) for part in parts])
        if commands is None:
            return False
        self._media.clear()
        await self._end_with(commands)
        return True

    async def _finish(self, item: ev.Transfer | ev.Hangup | ev.Fail) -> bool:
        """A transfer or hang-up whose prompts the engine played itself, or a failure."""
        if isinstance(item, ev.Fail):
            await self._saved()
            log.error("call %s: session failed: %s", self.session.call.call_id, item.reason)
            return True
        commands = ending(item)
        assert commands is not None  # None only when there are last prompts to hand over
        await self._end_with(commands)
        return True

    async def _end_with(self, commands: list[tuple[str, ...]]) -> None:
        """The commands that end the call; the last one lets go of the channel."""
        *before, last = commands
        for command in before:
            await self._command(*command)
        await self._before_send()
        await self._channel.let_go(*last)

    # ------------------------------------------------------------ session I/O

    def _feed(self, event: ev.Event) -> bool:
        """Feed an event; True if the session stopped the playing prompt."""
        return self._apply(self.session.feed(event))

    def _apply(self, actions: list[ev.Action]) -> bool:
        stopped = False
        for action in actions:
            match action:
                case ev.StopPlayback():
                    stopped = self._stop_requested = True
                    self._media = deque(a for a in self._media if not isinstance(a, ev.Play))
                case ev.Play() | ev.Transfer() | ev.Hangup() | ev.Fail():
                    self._media.append(action)
                case ev.StartTimer(timer_id=timer_id, seconds=seconds):
                    self._timers[timer_id] = self._clock() + seconds
                case ev.CancelTimer(timer_id=timer_id):
                    self._timers.pop(timer_id, None)
                case ev.HttpRequest():
                    self._start_http(action)
        self._publish_trail()
        return stopped

    def _start_http(self, request: ev.HttpRequest) -> None:
        task = asyncio.get_running_loop().create_task(perform(self._http, request))
        self._http_tasks.add(task)

        def collect(done: asyncio.Task[ev.HttpDone]) -> None:
            self._http_tasks.discard(done)
            if not done.cancelled():
                self._http_done.append(done.result())

        task.add_done_callback(collect)

    def _publish_trail(self) -> None:
        trail = self.session.trail
        fresh = trail[self._trail_seen :]
        self._trail_seen = len(trail)
        saving = self._observer.on_update(self.session, fresh)
        if saving is not None:
            self._unsaved.append(saving)

    async def _command(
        self, command: str, *args: str | int | float, timeout: float | None = 30.0
    ) -> AgiResponse:
        """Send a command once the trail of what led to it is stored."""
        await self._before_send()
        return await self._channel.command(command, *args, timeout=timeout)

    async def saved(self) -> None:
        """Wait until the trail so far is stored."""
        await self._saved()

    async def _saved(self) -> None:
        while self._unsaved:
            pending, self._unsaved = self._unsaved, []
            await asyncio.gather(*pending)

    async def _before_send(self) -> None:
        """Before any command goes out: the trail that led to it is stored, and the
        step's latency (the event in, to this command out) is recorded."""
        await self._saved()
        if self._event_at is not None:
            self._observer.on_step_latency(self._clock() - self._event_at)
            self._event_at = None


def _key_of(result: int) -> str | None:
    if result <= 0:
        return None
    key = chr(result)
    return key if key in ESCAPE_KEYS else None
