"""The engine: flows, prompts, the FastAGI server and the calls in progress.

One :class:`Engine` serves ``ivr serve``; ``ivr call``, the tests and the
benchmarks start their own on an ephemeral port. Each FastAGI connection names a
flow (``agi://host:port/<flow>``); the call runs on the flows as they were when it
started. A flow that isn't loaded leaves the call to the dialplan fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import aiohttp

from engine import httpnode
from engine.agi.call import AgiCall
from engine.agi.protocol import AgiRequest
from engine.agi.server import AgiChannel, AgiServer
from engine.ami import Ami, AmiError
from engine.flow.model import Flow, Input, Menu, Subflow
from engine.flowstore import FlowStore, ReloadResult
from engine.logs import CALL, masked
from engine.media.call import MediaCall
from engine.media.server import MediaServer
from engine.metrics import Metrics
from engine.peers import Peers
from engine.prompts import PromptCache
from engine.session.events import Event, SpeechPart, TrailEntry
from engine.session.machine import CallInfo, Session
from engine.speech.service import SpeechService
from engine.trail.store import TrailStore, new_journey_id
from engine.webcall import WebOnlyCall

log = logging.getLogger(__name__)

_JOURNEY_ID = re.compile(r"[0-9a-f]{32}")  # engine/trail/store.py new_journey_id

SessionListener = Callable[[Session, list[TrailEntry]], None]
ENDED_KEPT_S = 10 * 60  # how long a finished journey stays reachable (the page shows it)
MAX_ENDED = 5_000  # and at most this many: a busy engine must not hoard old sessions
# Allocations between two passes of the cyclic garbage collector's youngest generation
# (Python's default: 700). A call leaves next to no cyclic garbage (reference counting
# frees it), yet at 700 the collector ran ~7 times a second at 150 calls in progress, and
# its older generations' passes held the loop for up to 150 ms: the worst waits callers had.
GC_THRESHOLD = 20_000


class SessionHandle(Protocol):
    """A running session, with or without a call: what the web side talks to."""

    session: Session

    @property
    def voice(self) -> bool: ...

    def submit(self, event: Event) -> None: ...

    async def saved(self) -> None: ...


class EndedCall:
    """What stays reachable of a call that has ended: its session, which the page and
    the agent desktop still show, without the connection, streams and parsers that ran
    it (thousands of ended calls are kept; see ENDED_KEPT_S)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def voice(self) -> bool:
        return True

    def submit(self, event: Event) -> None:
        """The call is over: nothing takes events any more."""

    async def saved(self) -> None:
        """Everything was stored before the call's end was recorded."""


class Engine:
    def __init__(
        self,
        flows: FlowStore,
        prompts: PromptCache,
        metrics: Metrics | None = None,
        trail: TrailStore | None = None,
        speech: SpeechService | None = None,
    ):
        self.flows = flows
        self.trail = trail
        self.prompts = prompts
        self.metrics = metrics or Metrics()
        # Calls whose flow offers spoken phrases run over AudioSocket (MediaCall);
        # the others keep the plain FastAGI driver, the cheapest path for keys.
        self.speech = speech or SpeechService()
        self.speech.report = lambda kind: self.metrics.errors.labels(kind).inc()
        # Who may connect to FastAGI and AudioSocket: the Asterisk (engine/peers.py).
        self.peers = Peers()
        self.media = MediaServer(peers=self.peers)
        self.media_address: str | None = None  # how Asterisk reaches MediaServer
        self.media_port = 0  # where it listens (0: any free port)
        self.calls: dict[str, AgiCall | MediaCall] = {}
        self._let_go: dict[str, asyncio.Event] = {}  # set when the call leaves `calls`
        self.listeners: list[SessionListener] = []
        self.constants: dict[str, str] = {}  # builtin variables every call sees
        self.secrets: dict[str, str] = {}  # what http nodes' headers may send ([secrets])
        # The time flows' hours are read at: `ivr call --at` tries a flow at night.
        self.now: Callable[[], float] = time.time
        self.test_calls = False  # `ivr call`'s engine: its journeys are marked as tests
        self.sessions: dict[str, SessionHandle] = {}  # by journey id, calls and web-only
        self._ended: deque[tuple[float, str]] = deque()
        self.ami: Ami | None = None  # set when there is one: web moves wake calls with it
        self._agi = AgiServer(
            self._handle,
            refused=lambda why: self.metrics.agi_refused.labels(why).inc(),
            peers=self.peers,
        )
        self._http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wakes: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] = ("", 0)

    async def start(
        self, host: str, port: int, watch: bool = True, report_flows: bool = True
    ) -> tuple[str, int]:
        """Serve; ``report_flows``: log every flow file's problems (``ivr call``
        reports those of the flow it calls itself)."""
        result = await self.flows.reload()
        self._count_broken(result)
        if report_flows:
            _log_start(result)
        self._http = httpnode.client()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.metrics.watch_loop_lag(), name="loop-lag"))
        if watch:
            self._tasks.append(loop.create_task(self.flows.watch(), name="flow-watch"))
        self._tasks.append(loop.create_task(self.warm_prompts(), name="warm-prompts"))
        self.flows.listeners.append(self._on_reload)
        self.address = await self._agi.start(host, port)
        # What exists now (flows, modules, models) lives as long as the engine: keep it
        # out of the cyclic collector's full passes, which otherwise stall the loop
        # for longer the more it holds. Garbage is collected first, not frozen with it.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        gc.callbacks.append(self.metrics.on_gc)
        if self.speech.config.enabled:
            await self.media.start(host, self.media_port)
            self._tasks.append(loop.create_task(self.warm_speech(), name="warm-speech"))
        return self.address

    async def stop(self) -> None:
        """Stop taking calls; calls in progress go to the dialplan fallback."""
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self.metrics.on_gc)
        await self._agi.stop()
        await self.media.stop()
        self.speech.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def warm_prompts(self) -> None:
        """Render every prompt that has no variables before the first caller needs it."""
        for flow in self.flows.snapshot.flows.values():
            for part in _static_speech(flow):
                try:
                    await self.prompts.path_for(part)
                except Exception as exc:
                    log.warning("prompt %r: %s", part.text[:40], exc)
                    return

    async def warm_speech(self) -> None:
        """Load the speech models the loaded flows need, before the first caller."""
        languages: set[str] = set()
        for flow in self.flows.snapshot.flows.values():
            languages.update(_spoken_languages(flow))
        await self.speech.warm(languages)

    def speaks(self, flow: Flow) -> bool:
        """Does a call into ``flow`` (or a subflow it runs) listen for speech?"""
        seen: set[str] = set()
        todo = [flow]
        while todo:
            current = todo.pop()
            if current.name in seen:
                continue
            seen.add(current.name)
            if any(self.speech.available(lang) for lang in _spoken_languages(current)):
                return True
            for node in current.nodes.values():
                sub = self.flows.snapshot.get(node.flow) if isinstance(node, Subflow) else None
                if sub is not None:
                    todo.append(sub)
        return False

    def _on_reload(self, result: ReloadResult) -> None:
        self.metrics.reloads.labels("error" if result.errors else "ok").inc()
        self._count_broken(result)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.warm_prompts()))

    def _count_broken(self, result: ReloadResult) -> None:
        self.metrics.flows_broken.set(len(result.refused) + len(result.unserved))

    async def _handle(self, channel: AgiChannel) -> None:
        request = channel.request
        snapshot = self.flows.snapshot
        flow = snapshot.get(request.script)
        if flow is None:
            log.error(
                "call on %s: no flow named %r: handing it to the fallback",
                request.channel,
                request.script,
            )
            self.metrics.errors.labels("unknown_flow").inc()
            return
        call = CallInfo(
            call_id=new_journey_id(),
            caller_id=request.caller_id,
            called=request.called,
            channel=request.channel,
            uniqueid=request.unique_id,
            lang=request.query.get("lang"),
            survey_of=await self._surveyed(request) if request.query.get("survey") else "",
            test=self.test_calls,
        )
        CALL.set(call.call_id)  # this task's log records name the call (engine/logs.py)
        session = Session(
            flow, call, flows=snapshot.get, constants=self.constants, secrets=self.secrets,
            now=self.now
        )
        assert self._http is not None
        runner: AgiCall | MediaCall
        if self.speech.config.enabled and self.media.address[1] and self.speaks(flow):
            runner = MediaCall(
                channel,
                session,
                self.prompts,
                self._http,
                self.media,
                self.speech,
                observer=_Observer(self),
                advertise=self.media_address,
            )
        else:
            runner = AgiCall(channel, session, self.prompts, self._http, observer=_Observer(self))
        runner.waker = self._waker(request.channel)
        self.calls[call.call_id] = runner
        self._register(call.call_id, runner)
        self._begin(session)
        self.metrics.calls_in_progress.inc()
        log.debug("call %s: %s from %r into flow %s",
                  call.call_id, request.channel, masked(call.caller_id), flow.name)
        try:
            await runner.run()
        finally:
            del self.calls[call.call_id]
            if (let_go := self._let_go.pop(call.call_id, None)) is not None:
                let_go.set()
            if self.sessions.get(call.call_id) is runner:  # keep the journey, drop the call
                self.sessions[call.call_id] = EndedCall(session)
            self._ended.append((time.monotonic(), call.call_id))
            await self._finish(session)
            self.metrics.calls_in_progress.dec()
            outcome = session.outcome or "dropped"
            self.metrics.calls.labels(outcome.split(":")[0]).inc()
            if outcome in ("error", "dropped"):
                self.metrics.errors.labels(outcome).inc()
            log.info("call %s: %s from %r, flow %s: %s",
                     call.call_id, request.channel, masked(call.caller_id), flow.name, outcome)

    async def _surveyed(self, request: AgiRequest) -> str:
        """The journey of the call a survey follows: the dialplan's ``of`` (a call-back's
        journey, begun on the web), else the one on the same channel (its agent hung
        up), looked up before the survey's own journey begins there."""
        of = request.query.get("of", "")  # a call-back's channel carries its journey
        if _JOURNEY_ID.fullmatch(of):
            return of
        if self.trail is None or not request.unique_id:
            return ""
        try:
            return await self.trail.journey_of_channel(request.unique_id) or ""
        except Exception:
            log.exception("survey on %s: the store could not find its call", request.channel)
            return ""

    async def let_go(self, call_id: str) -> None:
        """Return once the engine has let go of the call (told the dialplan where it
        goes next, or lost it): at once if it has already."""
        if call_id in self.calls:
            await self._let_go.setdefault(call_id, asyncio.Event()).wait()

    def start_web_session(self, flow_name: str, lang: str | None = None) -> WebOnlyCall | None:
        """A journey that starts on the web page, with no call (yet)."""
        snapshot = self.flows.snapshot
        flow = snapshot.get(flow_name)
        if flow is None or self._http is None:
            return None
        call = CallInfo(call_id=new_journey_id(), lang=lang)
        CALL.set(call.call_id)
        session = Session(
            flow, call, flows=snapshot.get, constants=self.constants, secrets=self.secrets,
            now=self.now
        )
        handle = WebOnlyCall(session, self._http, _Observer(self))
        self._register(call.call_id, handle)
        self._begin(session)
        self._ended.append((time.monotonic(), call.call_id))
        handle.start()
        return handle

    def _begin(self, session: Session) -> None:
        if self.trail is not None:
            call = session.call
            self.trail.begin(
                call.call_id,
                session.flow.name,
                call.caller_id,
                call.channel,
                time.time(),
                uniqueid=call.uniqueid,
            )

    async def _finish(self, session: Session) -> None:
        """Record how a journey ended, unless its ``end`` entry already did."""
        if self.trail is not None and not session.done:
            try:
                await self.trail.finish(
                    session.call.call_id, session.outcome or "dropped", time.time()
                )
            except Exception:
                log.exception("trail: could not record the end of %s", session.call.call_id)

    def _register(self, journey_id: str, handle: SessionHandle) -> None:
        """Keep ``handle``, and let go of ended journeys past ENDED_KEPT_S (or beyond
        MAX_ENDED); a journey on the web still in use is kept as long as it is."""
        now = time.monotonic()
        looked_at = 0
        while self._ended and looked_at < len(self._ended) and (
            now - self._ended[0][0] > ENDED_KEPT_S or len(self._ended) > MAX_ENDED
        ):
            _, old = self._ended.popleft()
            if old in self.calls:
                continue  # a call again (the call-back's): listed once it ends
            kept = self.sessions.get(old)
            if isinstance(kept, WebOnlyCall) and now - kept.seen < ENDED_KEPT_S:
                self._ended.append((kept.seen, old))  # in use: looked at again later
                looked_at += 1
                continue
            self.sessions.pop(old, None)
        self.sessions[journey_id] = handle

    def _waker(self, channel: str) -> Callable[[], None]:
        def wake() -> None:
            if self.ami is None or not self.ami.connected:
                return
            task = asyncio.get_running_loop().create_task(self._wake(channel))
            self._wakes.add(task)
            task.add_done_callback(self._wakes.discard)

        return wake

    async def _wake(self, channel: str) -> None:
        assert self.ami is not None
        with contextlib.suppress(AmiError):
            await self.ami.action(
                {
                    "Action": "PlayDTMF",
                    "Channel": channel,
                    "Digit": "D",
                    "Duration": "40",
                    "Receive": "true",
                },
                timeout=5.0,
            )


class _Observer:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def on_update(self, session: Session, entries: list[TrailEntry]) -> Awaitable[None] | None:
        for listener in self._engine.listeners:
            listener(session, entries)
        for entry in entries:
            if entry.kind == "http":
                self._http_done(session, entry)
        if entries and self._engine.trail is not None:
            return self._engine.trail.append(session.call.call_id, entries)
        return None

    def on_step_latency(self, seconds: float) -> None:
        self._engine.metrics.observe_step(seconds)

    def _http_done(self, session: Session, entry: TrailEntry) -> None:
        """Count every backend request, and log a failed one: an outage otherwise
        shows only as more callers sent to a person."""
        flow = session.flow.name
        result = http_result(entry.data)
        self._engine.metrics.http_requests.labels(flow, result).inc()
        if result != "ok":
            # A 404 is most often the backend's answer ("no such account"), not a fault.
            notable = log.info if entry.data.get("status") == 404 else log.warning
            notable(
                "http: flow %s node %s: %s after %s ms (call %s)", flow, entry.node,
                entry.data.get("error") or result, entry.data.get("elapsed_ms"),
                session.call.call_id,
            )


def http_result(data: Mapping[str, Any]) -> str:
    """A bounded label for an http node's result: ok, timeout, 4xx, 5xx, or
    failed (unreachable, not JSON, too large, redirected away)."""
    if data.get("ok"):
        return "ok"
    status = int(data.get("status") or 0)
    if data.get("error") == "timeout":
        return "timeout"
    if 400 <= status < 600 and data.get("error") == f"status {status}":
        return f"{status // 100}xx"
    return "failed"


def _log_start(result: ReloadResult) -> None:
    """The flows' problems at start, errors as errors: a flow that cannot be served
    sends its calls to the dialplan's fallback, which an operator must hear of."""
    for problem in result.problems:
        (log.error if problem.is_error else log.warning)("flows: %s", problem)
    for name in sorted(result.unserved):
        log.error(
            "flows: %s.yaml has errors and is not served: its calls go to the dialplan's "
            "fallback (the apology, then a person)", name
        )


def _spoken_languages(flow: Flow) -> set[str]:
    """Languages in which some menu or input of ``flow`` offers phrases."""
    out: set[str] = set()
    for node in flow.nodes.values():
        if isinstance(node, Menu | Input):
            for option in node.options:
                out.update(lang for lang, phrases in option.phrases.items() if phrases)
    return out


def _static_speech(flow: object) -> list[SpeechPart]:
    from engine.flow.model import Flow, Input, Menu, Prompt

    assert isinstance(flow, Flow)
    out: list[SpeechPart] = []

    def add(prompt: Prompt) -> None:
        for lang, parts in prompt.by_lang.items():
            out.extend(
                SpeechPart(p.text.strip(), lang)
                for p in parts
                if p.text and "{" not in p.text and p.text.strip()
            )

    for node in flow.nodes.values():
        for name in ("prompt", "hold_prompt"):
            prompt = getattr(node, name, None)
            if isinstance(prompt, Prompt):
                add(prompt)
        if isinstance(node, Menu | Input):
            for retry in (node.no_input, node.no_match):
                for prompt in retry.prompts:
                    add(prompt)
    return out
