"""Runs one call session over AudioSocket: keys and speech on every prompt.

The call arrives over FastAGI like any other; this driver answers it and hands its
audio to the engine with ``EXEC AudioSocket``. From then on the engine is the media
path: it plays the prompts itself, 20 ms at a time (silence when nothing plays, or
Asterisk drops the socket after 2 s), and hears the caller on the same stream, keys
(DTMF frames) and voice alike. So every prompt takes keys *and* speech, a key or the
caller's voice stops a prompt at once (barge-in), and no key is ever lost between
steps (type-ahead is kept by the session).

One task paces the call (:meth:`MediaCall._converse`): every 20 ms it sends a frame,
ticks the end-pointer (silence is measured on the clock: some legs send no frames
while the caller is quiet), and fires the session's timers. A reader task turns
frames into events as they arrive. An utterance is recognised in the speech pool
(off the event loop); its result is fed only if the session still listens for it.
The *early decision*: at a short pause, the utterance so far is recognised; if the
words are one of the node's phrases and no longer phrase begins with them, the
choice is made without waiting out the whole end-of-speech silence.

When the session ends, the socket is closed, ``AudioSocket`` returns, and the call
ends in the dialplan exactly as with the plain AGI driver (``IVR_RESULT``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from engine.agi.call import CallObserver
from engine.agi.ending import ending
from engine.agi.protocol import AgiResponse
from engine.agi.server import AgiChannel, ChannelGone
from engine.flow.model import Input
from engine.httpnode import perform
from engine.media import protocol as p
from engine.media.resample import read_audio_8k
from engine.media.server import MediaServer, MediaStream
from engine.media.vad import (
    Classifier,
    Endpointer,
    EndpointSettings,
    Pause,
    SpeechEnd,
    SpeechOnset,
    VadEvent,
    webrtc_classifier,
)
from engine.prompts import PromptCache
from engine.session import events as ev
from engine.session.machine import Session
from engine.session.speech import ListenSpec, listen_spec
from engine.speech.recognizer import Hypothesis
from engine.speech.service import SpeechService

log = logging.getLogger(__name__)

TICK_S = p.FRAME_MS / 1000
PHONE_KEYS = frozenset("0123456789*#")  # A-D (and the AGI driver's wake key) are not input
CONNECT_TIMEOUT_S = 5.0
LATE_RESYNC_S = 0.1  # a tick this late restarts the pace instead of bursting frames


@functools.lru_cache(maxsize=256)
def _prompt_pcm(path: str, mtime: float) -> bytes:
    return read_audio_8k(path)


def prompt_pcm(base: str) -> bytes:
    """The prompt file (as :class:`PromptCache` names it) as 8 kHz PCM, cached."""
    path = base + ".wav"
    return _prompt_pcm(path, os.path.getmtime(path))


class _NullObserver:
    def on_update(self, session: Session, entries: list[ev.TrailEntry]) -> Awaitable[None] | None:
        return None

    def on_step_latency(self, seconds: float) -> None:
        return None


@dataclass
class _Playback:
    play_id: int
    pcm: bytes
    pos: int = 0
    started: bool = False


@dataclass
class _Utterance:
    """The one utterance being heard, and what has been tried on it."""

    spec: ListenSpec
    endpointer: Endpointer
    serial: int
    early: tuple[float, Hypothesis | None] | None = None  # at which last voice, what
    trying: bool = False  # an early try in flight: one at a time per utterance
    decided: bool = False


class MediaCall:
    def __init__(
        self,
        channel: AgiChannel,
        session: Session,
        prompts: PromptCache,
        http: aiohttp.ClientSession,
        media: MediaServer,
        speech: SpeechService,
        observer: CallObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        advertise: str | None = None,
        classifier: Callable[[int], Classifier] | None = None,
    ) -> None:
        self._channel = channel
        self.session = session
        self._prompts = prompts
        self._http = http
        self._media_server = media
        self._speech = speech
        self._observer = observer or _NullObserver()
        self._clock = clock
        self._advertise = advertise
        self._classifier = classifier
        self._classifiers: dict[int, Classifier] = {}  # by aggressiveness, for the call
        self._stream: MediaStream | None = None
        self._queue: deque[ev.Play | ev.Transfer | ev.Hangup | ev.Fail] = deque()
        self._playing: _Playback | None = None
        self._loading: asyncio.Task[None] | None = None
        self._timers: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._trail_seen = 0
        self._utterance: _Utterance | None = None
        self._serial = 0
        self._hung_up = False
        self._stopped_during_load = False
        self._unsaved: list[asyncio.Future[None]] = []
        self._turn_from: tuple[float, bool] | None = None  # speech end, early decision?
        self._step_from: float | None = None  # the event whose prompt is not yet heard
        self.waker: Callable[[], None] | None = None  # not needed: events are fed at once

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
        """An event from outside the call (the web page): fed now."""
        self._feed(event)

    async def saved(self) -> None:
        """Wait until the trail so far is stored."""
        while self._unsaved:
            pending, self._unsaved = self._unsaved, []
            await asyncio.gather(*pending)

    # ------------------------------------------------------------ the call

    async def run(self) -> None:
        command: asyncio.Task[AgiResponse] | None = None
        try:
            if not self._channel.request.answered:
                await self._channel.command("ANSWER")
            stream, command = await self._connect()
            if stream is None:
                return  # no media path: the dialplan's fallback takes the call
            self._stream = stream
            final = await self._converse()
            await stream.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await asyncio.shield(command)
            if final is not None and not self._hung_up and command.done():
                command.result()  # raises ChannelGone if the call went meanwhile
                await self._finish(final)
        except ChannelGone:
            self._feed(ev.CallerHangup())
        finally:
            for task in list(self._tasks):
                task.cancel()
            if command is not None:
                _settle(command)
            if self._stream is not None:
                await self._stream.close()
            await self.saved()

    async def _connect(self) -> tuple[MediaStream | None, asyncio.Task[AgiResponse]]:
        session_id, future = self._media_server.expect()
        host, port = self._media_server.address
        if self._advertise:
            host = self._advertise
        elif host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        command: asyncio.Task[AgiResponse] = asyncio.get_running_loop().create_task(
            self._channel.command("EXEC", "AudioSocket", f"{session_id},{target}", timeout=None)
        )
        waiting: set[asyncio.Future[Any]] = {future, command}
        await asyncio.wait(waiting, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        if future.done() and not future.cancelled():
            return future.result(), command
        self._media_server.forget(session_id)
        if command.done() and command.exception() is not None:
            raise ChannelGone("hung up before the media path was up")
        log.error("call %s: no AudioSocket connection from Asterisk", self.session.call.call_id)
        command.cancel()
        self._channel.close()
        return None, command

    async def _converse(self) -> ev.Transfer | ev.Hangup | ev.Fail | None:
        """Run the session over the stream; the item that ends the call, or None
        when the caller hung up."""
        reader = self._spawn(self._read())
        self._apply(self.session.start())
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            if self._hung_up:
                self._feed(ev.CallerHangup())
                return None
            self._send_frame()
            now = self._clock()
            self._tick(now)
            final = self._final()
            if final is not None:
                reader.cancel()
                return final
            next_tick += TICK_S
            delay = next_tick - loop.time()
            if delay < -LATE_RESYNC_S:
                next_tick = loop.time()
                delay = 0.0
            await asyncio.sleep(max(delay, 0.0))

    def _final(self) -> ev.Transfer | ev.Hangup | ev.Fail | None:
        if self._playing is not None or self._loading is not None or not self._queue:
            return None
        head = self._queue[0]
        return None if isinstance(head, ev.Play) else head

    async def _read(self) -> None:
        assert self._stream is not None
        while True:
            events = await self._stream.read()
            now = self._clock()
            for event in events:
                match event:
                    case p.Audio(pcm=pcm):
                        self._hear(pcm, now)
                    case p.Dtmf(key=key) if key in PHONE_KEYS:
                        self._turn_from = None
                        self._feed(ev.Digit(key))
                    case p.Hangup() | p.PeerError():
                        self._hung_up = True
                        return
                    case _:
                        pass

    async def _finish(self, item: ev.Transfer | ev.Hangup | ev.Fail) -> None:
        await self.saved()  # the trail is stored before the call leaves the engine
        if isinstance(item, ev.Fail):
            log.error("call %s: session failed: %s", self.session.call.call_id, item.reason)
            return
        for command in ending(item) or ():  # the engine played the prompts itself
            await self._channel.command(*command)

    # ------------------------------------------------------------ prompts out

    def _send_frame(self) -> None:
        assert self._stream is not None
        playing = self._playing
        if playing is None:
            self._next_play()
            playing = self._playing
        if playing is None:
            self._stream.write(p.SILENCE_FRAME)
            return
        chunk = playing.pcm[playing.pos : playing.pos + p.FRAME_BYTES]
        playing.pos += p.FRAME_BYTES
        if not playing.started:
            playing.started = True
            self._first_audio()
        self._stream.write(p.audio_frame(chunk.ljust(p.FRAME_BYTES, b"\0")))
        if playing.pos >= len(playing.pcm):
            self._playing = None
            self._feed(ev.PromptFinished(playing.play_id))

    def _next_play(self) -> None:
        if self._loading is not None or not self._queue or not isinstance(self._queue[0], ev.Play):
            return
        play = self._queue.popleft()
        assert isinstance(play, ev.Play)
        self._loading = asyncio.get_running_loop().create_task(self._load(play))

    async def _load(self, play: ev.Play) -> None:
        chunks: list[bytes] = []
        try:
            for part in play.parts:
                base = await self._prompts.path_for(part)
                chunks.append(await asyncio.to_thread(prompt_pcm, base))
        except Exception as exc:
            log.error("call %s: prompt failed: %s", self.session.call.call_id, exc)
        finally:
            self._loading = None
        if self._stopped_during_load:
            self._stopped_during_load = False
            return
        pcm = b"".join(chunks)
        if not pcm:
            self._feed(ev.PromptFinished(play.play_id))
            return
        self._playing = _Playback(play.play_id, pcm)
        self._send_frame()  # the first frame now, not at the next tick

    def _first_audio(self) -> None:
        if self._step_from is not None:
            self._observer.on_step_latency(self._clock() - self._step_from)
            self._step_from = None
        if self._turn_from is not None:
            ended, early = self._turn_from
            self._turn_from = None
            self._speech.stats.turn_s.append((self._clock() - ended, early))

    def _stop_playback(self) -> None:
        self._step_from = None  # a prompt stopped unheard ends no step
        if self._playing is not None or self._loading is not None:
            if self._loading is not None:
                self._stopped_during_load = True
            self._playing = None
        self._queue = deque(a for a in self._queue if not isinstance(a, ev.Play))

    # ------------------------------------------------------------ speech in

    def _hear(self, pcm: bytes, now: float) -> None:
        utterance = self._utterance
        if utterance is None or utterance.decided:
            return
        if self._playing is not None and not utterance.spec.listening.barge_in:
            return  # this node's prompt is heard to the end; speech counts after it
        self._on_vad(utterance, utterance.endpointer.audio(pcm, now), now)

    def _tick(self, now: float) -> None:
        utterance = self._utterance
        if utterance is not None and not utterance.decided:
            self._on_vad(utterance, utterance.endpointer.tick(now), now)
        for timer_id, due in sorted(self._timers.items(), key=lambda item: item[1]):
            if due <= now and timer_id in self._timers:
                del self._timers[timer_id]
                self._feed(ev.TimerFired(timer_id))

    def _on_vad(self, utterance: _Utterance, events: list[VadEvent], now: float) -> None:
        for event in events:
            match event:
                case SpeechOnset(at=at):
                    self._turn_from = None
                    was_playing = self._playing is not None
                    self._feed(ev.SpeechStarted(utterance.spec.node))
                    if was_playing and self._playing is None:
                        self._speech.stats.barge_in_s.append(self._clock() - at)
                case Pause(last_voice_at=last):
                    # Bursts of noise pause every few hundred ms: one early try at a
                    # time per utterance, and only on a free worker.
                    if (
                        utterance.spec.listening.early_decision
                        and not utterance.trying
                        and self._speech.idle_worker()
                    ):
                        utterance.trying = True
                        self._spawn(self._recognize(utterance, last, early=True))
                case SpeechEnd(last_voice_at=last):
                    self._spawn(self._recognize(utterance, last, early=False))

    async def _recognize(self, utterance: _Utterance, last_voice: float, early: bool) -> None:
        spec = utterance.spec
        if not early and utterance.early is not None and utterance.early[0] == last_voice:
            hypothesis = utterance.early[1]  # nothing was said since the early try
        else:
            pcm = utterance.endpointer.utterance
            try:
                hypothesis = await self._speech.recognize(spec.lang, pcm, spec.grammar)
            finally:
                if early:
                    utterance.trying = False
        node = self.session.node
        secret = isinstance(node, Input) and node.sensitive
        log.debug(
            "call %s: %s %r (%.2f) from %.2f s of audio",
            self.session.call.call_id,
            "early" if early else "heard",
            "***" if secret and hypothesis else hypothesis and hypothesis.text,
            hypothesis.confidence if hypothesis else 0.0,
            utterance.endpointer.speech_s,
        )
        if utterance is not self._utterance or utterance.decided:
            return  # the session moved on, or the other try decided first
        endpointer = utterance.endpointer
        if early:
            utterance.early = (last_voice, hypothesis)
            still_quiet = endpointer.state == "speaking" and endpointer.last_voice_at == last_voice
            if hypothesis is None or not still_quiet or not spec.grammar.decisive(hypothesis.text):
                return
            endpointer.end_now(self._clock())
        utterance.decided = True
        self._turn_from = (last_voice, early)
        text, confidence = (hypothesis.text, hypothesis.confidence) if hypothesis else ("", 0.0)
        self._feed(ev.SpeechHeard(spec.node, text, confidence))

    def _listen(self) -> None:
        """Follow what the session listens for: a new turn gets a fresh end-pointer."""
        spec = listen_spec(self.session) if not self.session.done else None
        if spec is not None and not self._speech.available(spec.lang):
            spec = None  # no model hears this language: its callers use keys only
        current = self._utterance
        if spec is None:
            self._utterance = None
            return
        if current is not None and current.spec.token == spec.token:
            return
        listening = spec.listening
        settings = EndpointSettings(
            end_silence_s=listening.end_silence_s, max_speech_s=listening.max_speech_s
        )
        # One voice detector for the call, not one a turn: it learns a steady noise (a
        # hum, a fan) within 100 ms, and a fresh one took the same noise for speech
        # at every retry prompt, spending all of a menu's retries in two seconds.
        classify = self._classifiers.get(settings.aggressiveness)
        if classify is None:
            classify = (self._classifier or webrtc_classifier)(settings.aggressiveness)
            self._classifiers[settings.aggressiveness] = classify
        self._serial += 1
        self._utterance = _Utterance(spec, Endpointer(settings, classify), self._serial)

    # ------------------------------------------------------------ session I/O

    def _feed(self, event: ev.Event) -> None:
        """Feed an event. Its step's latency, as the FastAGI path measures it (the
        event in, to what it caused going out), ends with the first audio of the prompt
        it started, or else once its actions are carried out."""
        started = self._clock()
        actions = self.session.feed(event)
        self._apply(actions)
        if any(isinstance(action, ev.Play) for action in actions):
            if self._step_from is None:
                self._step_from = started
        else:
            self._observer.on_step_latency(self._clock() - started)

    def _apply(self, actions: list[ev.Action]) -> None:
        for action in actions:
            match action:
                case ev.StopPlayback():
                    self._stop_playback()
                case ev.Play() | ev.Transfer() | ev.Hangup() | ev.Fail():
                    self._queue.append(action)
                case ev.StartTimer(timer_id=timer_id, seconds=seconds):
                    self._timers[timer_id] = self._clock() + seconds
                case ev.CancelTimer(timer_id=timer_id):
                    self._timers.pop(timer_id, None)
                case ev.HttpRequest():
                    self._spawn(self._http_request(action))
        trail = self.session.trail
        fresh = trail[self._trail_seen :]
        self._trail_seen = len(trail)
        saving = self._observer.on_update(self.session, fresh)
        if saving is not None:
            # Stored in the background: prompts are not held up for the disk.
            self._unsaved = [f for f in self._unsaved if not f.done()]
            self._unsaved.append(asyncio.ensure_future(saving))
        self._listen()
        if self._playing is None and self._stream is not None:
            self._next_play()  # start loading the next prompt now, not at the next tick

    async def _http_request(self, request: ev.HttpRequest) -> None:
        done = await perform(self._http, request)
        self._feed(done)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _settle(command: asyncio.Task[AgiResponse]) -> None:
    """The AudioSocket command is over for this call: stop it if it still runs, and
    take its outcome (the channel gone, as a rule, when nobody asked for it: the
    caller hung up, or Asterisk did not end it in time), so that it is not reported
    as an exception nobody retrieved."""
    if not command.done():
        command.cancel()
    elif not command.cancelled():
        command.exception()
