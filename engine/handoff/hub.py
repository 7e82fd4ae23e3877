"""The handoff: from self-service to a person, with the journey's whole trail.

:class:`HandoffHub` joins three things that meet at a queued call:

* **the engine** — it listens to every session update (``engine.listeners``):
  which channel each call is on, the facts the trail does not hold (see
  :mod:`engine.handoff.facts`), and new trail entries of journeys an agent has;
* **Asterisk** — app_queue's AMI events, read by :class:`QueueBook`; a queued
  channel is mapped to its journey by this engine's own calls, the call-backs it
  placed, the journey store (which keeps each call's channel unique id: a call
  queued by the dialplan's fallback after an engine crash still finds its trail),
  or else the channel's ``IVR_JOURNEY`` variable (AMI ``Getvar``: a call-back
  another engine placed);
* **people** — agents' desktops (:mod:`engine.handoff.desks`) and the caller's page
  (queue position and wait, call-backs, what an agent pushed).

When a member's phone rings (``AgentCalled``) the desktop is sent the *offer*:
everything the agent needs (:func:`build_handoff`), so it is on screen before the
agent picks up; ``AgentConnect`` then marks it live. After that, anything added
to the trail (the caller filling in a form the agent pushed) goes to the desktop
as it happens. The page learns of every change by a version number it can wait
on (:meth:`HandoffHub.wait_status`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from engine.ami import Ami, AmiError
from engine.flow import model as m
from engine.handoff.aftercall import DISPOSITION_LABELS, AfterCall
from engine.handoff.callback import CallBacks, Refusal, Survey, normalise
from engine.handoff.desks import Desk, Desks, Message
from engine.handoff.facts import FactCollector, FactStore
from engine.handoff.pushes import Push, PushError, check_answer, parse_push, shown
from engine.handoff.queue import (
    Completed,
    Connected,
    Gone,
    Happening,
    Joined,
    Moved,
    QueueBook,
    QueuedCall,
    RangOut,
    Ringing,
)
from engine.handoff.settings import HandoffSettings
from engine.handoff.summary import JourneyMeta, build_handoff
from engine.session.events import TrailEntry, TrailKind, trail_as_dicts
from engine.session.machine import Session

if TYPE_CHECKING:
    from engine.runtime import Engine

log = logging.getLogger(__name__)

EVENTS = (
    "QueueCallerJoin",
    "QueueCallerLeave",
    "AgentCalled",
    "AgentRingNoAnswer",
    "AgentConnect",
    "AgentComplete",
    "Hangup",
    "FullyBooted",
)
JOURNEY_ID = re.compile(r"[0-9a-f]{32}")
MAX_PUSHES = 20
DISPOSITIONS = tuple(DISPOSITION_LABELS)


class HandoffError(Exception):
    """The request cannot be done; ``status`` is the HTTP status that says so."""

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


def asked_for(session: Session) -> str | None:
    """The queue a journey asked for a person in (its outcome is ``transfer:<queue>``:
    it reached a transfer, on the phone or on the page), else None."""
    outcome = session.outcome or ""
    return outcome.split(":", 1)[1] if outcome.startswith("transfer:") else None


class HandoffHub:
    def __init__(
        self,
        engine: Engine,
        ami: Ami,
        settings: HandoffSettings | None = None,
        facts: FactStore | None = None,
    ) -> None:
        self.engine = engine
        self.ami = ami
        self.settings = settings or HandoffSettings()
        self.book = QueueBook()
        self.desks = Desks(ami, self.settings)
        self.collector = FactCollector(self._flow, facts)
        self.callbacks = CallBacks(ami, self.settings, self._bump)
        self._facts_store = facts
        self._by_channel: dict[str, str] = {}  # this engine's calls: channel -> journey
        self._resolving: dict[str, asyncio.Task[str | None]] = {}  # channel -> journey
        self._queued: dict[str, QueuedCall] = {}  # journey -> its call in a queue
        self._hung_up: dict[str, float] = {}  # journeys whose call ended before a queue
        self._watchers: dict[str, set[Desk]] = {}  # journey -> desks showing it
        self._wrapping: set[str] = set()  # journeys whose wrap-up is being saved
        self._pushes: dict[str, list[Push]] = {}
        self._versions: dict[str, int] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False
        self.after_call = AfterCall(ami, self.desks, self.settings, self._spawn)
        self.desks.paused = self.after_call.paused

    # ------------------------------------------------------------ life

    def start(self) -> None:
        self._running = True
        self.engine.listeners.append(self._on_session)
        self.engine.listeners.append(self.collector)
        for name in EVENTS:
            self.ami.on(name, self._on_ami)

    async def stop(self) -> None:
        self._running = False
        for listener in (self._on_session, self.collector):
            with contextlib.suppress(ValueError):
                self.engine.listeners.remove(listener)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.after_call.close()
        await self.desks.close()
        await self.collector.flush()
        if self._facts_store is not None:
            await self._facts_store.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _flow(self, name: str) -> m.Flow | None:
        return self.engine.flows.snapshot.get(name)

    # ------------------------------------------------------------ the engine's side

    def _on_session(self, session: Session, entries: list[TrailEntry]) -> None:
        journey = session.call.call_id
        for entry in entries:
            if entry.kind == "start" and session.call.channel:
                self._by_channel[session.call.channel] = journey
            elif entry.kind == "end" and not str(entry.data.get("outcome")).startswith("transfer"):
                self._by_channel.pop(session.call.channel, None)
        desks = self._watchers.get(journey)
        if desks and entries:
            message = {
                "type": "trail",
                "journey": journey,
                "entries": [dict(e) for e in trail_as_dicts(entries)],
            }
            for desk in desks:
                desk.put(message)

    # ------------------------------------------------------------ Asterisk's side

    def _on_ami(self, fields: dict[str, str]) -> None:
        if not self._running:
            return
        name = fields.get("Event", "")
        if name == "FullyBooted":
            self._spawn(self.desks.rejoin_all())
            return
        for happening in self.book.feed(fields):
            self._happen(happening)
        if name == "Hangup":
            mine = self._by_channel.pop(fields.get("Channel", ""), None)
            if mine is not None and mine not in self._queued:
                # Gone before a queue took the call (during "connecting you"): the
                # page says the call ended rather than that a person is coming.
                self._hung_up[mine] = time.time()
                self._bump(mine)
            self._resolving.pop(fields.get("Channel", ""), None)
            self.callbacks.hung_up(fields.get("Uniqueid", ""), fields.get("Cause-txt", "hung up"))

    def _happen(self, happening: Happening) -> None:
        match happening:
            case Joined(call=call):
                self._resolving[call.channel] = self._spawn(self._resolve(call))
            case Ringing(call=call, member=member) if self.settings.offer_on_ring:
                for desk in self.desks.desks_of(member):
                    desk.put(self._offer(desk, call))
                self._bump(call.journey)
            case RangOut(call=call, member=member):
                for desk in self.desks.desks_of(member):
                    desk.put(self._withdraw(desk, call))
                self._bump(call.journey)
            case Connected(call=call, member=member):
                for desk in self.desks.desks_of(member):
                    desk.put(self._connected(desk, call))
                self._bump(call.journey)
            case Completed(call=call) | Gone(call=call):
                if isinstance(happening, Gone):
                    self._spawn(self._keep_wait(call, self._resolving.get(call.channel)))
                if call.journey is not None:
                    for desk in list(self._watchers.get(call.journey, set())):
                        self._call_over(desk, call.journey)
                elif call.member and isinstance(happening, Gone):  # a call without a trail
                    for desk in self.desks.desks_of(call.member):
                        desk.put({"type": "ended", "journey": None})
                self._bump(call.journey)
            case Moved(calls=calls):
                for moved in calls:
                    self._bump(moved.journey)

    async def _resolve(self, call: QueuedCall) -> str | None:
        journey = self._by_channel.get(call.channel) or self.callbacks.journey_of(call.uniqueid)
        store = self.engine.trail
        if journey is None and store is not None:
            try:
                journey = await store.journey_of_channel(call.uniqueid)
            except Exception:
                log.exception("handoff: the store could not look up %s", call.channel)
        if journey is None:
            try:
                answer = await self.ami.action(
                    {"Action": "Getvar", "Channel": call.channel, "Variable": "IVR_JOURNEY"},
                    timeout=3.0,
                )
                journey = answer.get("Value") or None
            except AmiError as exc:
                log.warning("handoff: no journey for %s: %s", call.channel, exc)
        if journey is not None and not JOURNEY_ID.fullmatch(journey):
            journey = None
        call.journey = journey
        if journey is not None:
            self._queued[journey] = call
            self.callbacks.answered(journey)
            log.info(
                "handoff: journey %s in queue %s at position %d", journey, call.queue, call.position
            )
        self._bump(journey)
        return journey

    async def _keep_wait(
        self, call: QueuedCall, resolving: asyncio.Task[str | None] | None
    ) -> None:
        """Store how the caller's wait went with their journey, for the reports."""
        journey = await asyncio.shield(resolving) if resolving is not None else call.journey
        if journey is not None and self.engine.trail is not None:
            try:
                await self.engine.trail.save_queued(journey, call.record())
            except Exception:
                log.exception("handoff: could not store the wait of %s", journey)

    async def _journey_of(self, call: QueuedCall) -> str | None:
        if call.journey is not None:
            return call.journey
        task = self._resolving.get(call.channel)
        return await asyncio.shield(task) if task is not None else await self._resolve(call)

    # ------------------------------------------------------------ to the desktop

    async def _offer(self, desk: Desk, call: QueuedCall) -> Message | None:
        journey = await self._journey_of(call)
        if call.state not in ("ringing", "connected"):
            return None  # rang out (or the caller left) before the offer was ready
        if journey is not None:
            desk.journeys[journey] = "offered"
            self._watchers.setdefault(journey, set()).add(desk)
        return {
            "type": "offer",
            "journey": journey,
            "queue": call.queue,
            "caller": call.caller_id,
            "handoff": await self.handoff(journey) if journey is not None else None,
        }

    async def _withdraw(self, desk: Desk, call: QueuedCall) -> Message | None:
        journey = await self._journey_of(call)
        if journey is None or desk.journeys.get(journey) != "offered":
            return None
        del desk.journeys[journey]
        self._unwatch(journey, desk)
        return {"type": "withdrawn", "journey": journey}

    async def _connected(self, desk: Desk, call: QueuedCall) -> Message:
        journey = await self._journey_of(call)
        message: Message = {
            "type": "connected",
            "journey": journey,
            "queue": call.queue,
            "caller": call.caller_id,
            "hold_s": call.hold_s,
        }
        if journey is not None:
            offered = desk.journeys.get(journey) == "offered"
            desk.journeys[journey] = "connected"
            self._watchers.setdefault(journey, set()).add(desk)
            if not offered:
                message["handoff"] = await self.handoff(journey)
        return message

    def _call_over(self, desk: Desk, journey: str) -> None:
        state = desk.journeys.get(journey)
        if state == "offered":  # it rang and nobody answered: nothing to wrap up
            del desk.journeys[journey]
            self._unwatch(journey, desk)
            desk.put({"type": "withdrawn", "journey": journey})
        elif state == "connected":  # (the queue reports an end twice: once is said)
            desk.journeys[journey] = "ended"
            desk.put({"type": "ended", "journey": journey})
            self.after_call.ended(desk.ext, journey)

    def resume(self, desk: Desk) -> None:
        """A desktop (re)opened, e.g. reloaded: the agent's call in progress and the
        calls waiting for their wrap-up come back to it."""
        for call in list(self._queued.values()):
            if call.member == desk.ext and call.state == "connected":
                desk.put(self._connected(desk, call))
        waiting = self.after_call.waiting(desk.ext)
        for journey in waiting:
            desk.put(self._awaiting_wrapup(desk, journey))
        if waiting:
            desk.put({"type": "after_call", "paused": True})

    async def _awaiting_wrapup(self, desk: Desk, journey: str) -> Message:
        desk.journeys[journey] = "ended"
        self._watchers.setdefault(journey, set()).add(desk)
        handoff = await self.handoff(journey)
        return {"type": "connected", "journey": journey, "handoff": handoff, "ended": True}

    def _unwatch(self, journey: str, desk: Desk) -> None:
        desks = self._watchers.get(journey)
        if desks is not None:
            desks.discard(desk)
            if not desks:
                del self._watchers[journey]

    def desk_closed(self, desk: Desk) -> None:
        for journey in list(desk.journeys):
            self._unwatch(journey, desk)
        self.desks.sign_out(desk)

    async def handoff(self, journey: str) -> dict[str, Any] | None:
        """Everything the agent sees, from the live session or else the store."""
        handle = self.engine.sessions.get(journey)
        if handle is not None:
            session = handle.session
            trail = [dict(e) for e in trail_as_dicts(session.trail)]
            first = trail[0] if trail else {}
            meta = JourneyMeta(
                journey,
                str(first.get("flow", session.flow.name)),
                session.call.caller_id,
                session.call.channel,
                float(first.get("at", 0.0)),
                session.outcome,
                live=True,
            )
            facts = self.collector.get(journey)
        else:
            store = self.engine.trail
            info = await store.journey(journey) if store is not None else None
            if store is None or info is None:
                return None
            trail = await store.trail(journey)
            meta = JourneyMeta(
                info.id, info.flow, info.caller_id, info.channel, info.started, info.outcome
            )
            facts = await self.collector.load(journey)
        out = build_handoff(meta, trail, self._flow, facts).as_json()
        out["queue"] = self.status(journey)
        return out

    # ------------------------------------------------------------ agents' actions

    async def push(self, desk: Desk, journey: str, spec: Mapping[str, Any]) -> Push:
        if journey not in desk.journeys:
            raise HandoffError("that call is not yours", 403)
        try:
            push = parse_push(spec, desk.ext)
        except PushError as exc:
            raise HandoffError(str(exc)) from exc
        pushes = self._pushes.setdefault(journey, [])
        if len(pushes) >= MAX_PUSHES:
            raise HandoffError("too many pages pushed to this caller")
        text = f"{push.title}: {push.text}" if push.text else push.title
        await self.record(
            journey,
            "prompt",
            text=text,
            push=push.id,
            push_kind=push.kind,
            pushed_by=desk.ext,
            fields=[f.name for f in push.fields],
        )
        pushes.append(push)
        self._bump(journey)
        return push

    async def wrapup(self, desk: Desk, journey: str, form: Mapping[str, Any]) -> dict[str, Any]:
        state = desk.journeys.get(journey)
        if state is None:
            raise HandoffError("that call is not yours", 403)
        if state == "wrapped":
            raise HandoffError("this call is wrapped up already", 409)
        if state == "offered":
            raise HandoffError("this call has not been answered", 409)
        disposition = form.get("disposition")
        if disposition not in DISPOSITIONS:
            raise HandoffError(f"disposition: one of {', '.join(DISPOSITIONS)}")
        resolved = form.get("resolved")
        if not isinstance(resolved, bool):
            raise HandoffError("resolved on first contact: yes or no")
        note = form.get("note", "")
        if not isinstance(note, str) or len(note) > 2000:
            raise HandoffError("note: text, up to 2000 characters")
        call = self._queued.get(journey)
        wrapup = {
            "agent": desk.ext,
            "disposition": disposition,
            "resolved_first_contact": resolved,
            "note": note.strip(),
            "queue": call.queue if call is not None else "",
            "hold_s": call.hold_s if call is not None else None,
            "at": time.time(),
        }
        if self.engine.trail is None:
            raise HandoffError("no journey store: the wrap-up cannot be kept", 503)
        # Two desktops of one agent sending theirs at once: the first is kept, the
        # second told so (else both were told "saved", and the last write won).
        if journey in self._wrapping:
            raise HandoffError("this call is wrapped up already", 409)
        self._wrapping.add(journey)
        try:
            await self.engine.trail.save_wrapup(journey, wrapup)
        finally:
            self._wrapping.discard(journey)
        for other in self.desks.by_ext.get(desk.ext, {desk}) | {desk}:  # one agent's desktops
            if other.journeys.get(journey) in ("connected", "ended"):
                other.journeys[journey] = "wrapped"
                self._unwatch(journey, other)
                if other is not desk:
                    other.put({"type": "wrapup_saved", "journey": journey, "wrapup": wrapup})
        self.after_call.wrapped(desk.ext, journey)
        return wrapup

    # ------------------------------------------------------------ the caller's page

    def status(self, journey: str) -> dict[str, Any]:
        call = self._queued.get(journey)
        callback = self.callbacks.of.get(journey)
        state = "ended" if journey in self._hung_up else "self_service"
        if callback is not None:
            state = {"calling": "calling_back", "failed": "callback_failed"}.get(
                callback["state"], state
            )
        position = waiting = wait = None
        if call is not None:
            state = {"waiting": "queued", "ringing": "queued"}.get(call.state, call.state)
            if call.state in ("waiting", "ringing"):
                position = call.position
                waiting = self.book.waiting(call.queue)
                wait = self.book.estimated_wait(call)
        return {
            "journey": journey,
            "state": state,
            "queue": call.queue if call is not None else None,
            "position": position,
            "callers_waiting": waiting,
            "estimated_wait_s": wait,
            "agent": call.member if call is not None and call.state == "connected" else None,
            "callback": dict(callback) if callback is not None else None,
            "pushes": [p.as_json() for p in self._pushes.get(journey, [])],
            "version": self._versions.get(journey, 0),
        }

    async def wait_status(self, journey: str, version: int, timeout: float) -> dict[str, Any]:
        """The status once its version differs from ``version`` (or after ``timeout``)."""
        if self._versions.get(journey, 0) == version:
            event = self._changed.setdefault(journey, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await event.wait()
        return self.status(journey)

    def _bump(self, journey: str | None) -> None:
        if journey is None:
            return
        self._versions[journey] = self._versions.get(journey, 0) + 1
        event = self._changed.pop(journey, None)
        if event is not None:
            event.set()
        if len(self._versions) > 2 * len(self.engine.sessions) + 256:
            self._forget()

    def _forget(self) -> None:
        """Drop what is kept for journeys the engine no longer keeps."""
        live = self.engine.sessions
        books = (self._versions, self._queued, self._pushes, self.callbacks.of, self._hung_up)
        for book in books:
            for journey in [j for j in book if j not in live]:
                del book[journey]
        for journey in [j for j in self._changed if j not in live]:
            self._changed.pop(journey).set()  # a page still waiting hears it is gone

    def has_journey(self, journey: str) -> bool:
        return journey in self.engine.sessions

    async def answer(self, journey: str, push_id: str, values: Mapping[str, Any]) -> None:
        """The caller answered (a form) or dismissed (a card) what an agent pushed."""
        push = next((p for p in self._pushes.get(journey, []) if p.id == push_id), None)
        if push is None:
            raise HandoffError("no such page", 404)
        if push.answered:
            raise HandoffError("already answered", 409)
        clean, problems = check_answer(push, values)
        if problems:
            raise HandoffError("check the form", 400, problems=problems)
        push.answered = True
        if push.kind == "card":
            await self.record(journey, "input", source="web", value="seen", push=push.id)
        for f in push.fields:
            if f.name in clean:
                await self.record(
                    journey,
                    "input",
                    source="web",
                    value=shown(f, clean[f.name]),
                    var=f.name,
                    label=f.label,
                    valid=True,
                    sensitive=f.sensitive,
                    push=push.id,
                )
        self._bump(journey)

    async def callback(self, journey: str, number: str) -> dict[str, Any]:
        """Call the caller of a journey with no call up that asked for a person, and
        queue them with its trail."""
        handle = self.engine.sessions.get(journey)
        if handle is None:
            raise HandoffError("no such journey", 404)
        if journey in self.engine.calls:
            raise HandoffError("your call is still up: ask for a person on it", 409)
        # Only a journey that reached a person's queue (the page offers "call me back"
        # only then): else any new journey, started by anyone, could make the contact
        # centre ring any number.
        queue = asked_for(handle.session)
        if queue is None:
            raise HandoffError(
                "ask for a person first: a call-back is to talk to one", 409, reason="no_person"
            )
        number = normalise(number)
        refusal: Refusal | None = self.callbacks.policy.check(journey, number)
        if refusal is not None:
            status = 400 if refusal.reason == "invalid_number" else 429
            raise HandoffError(
                refusal.message, status, reason=refusal.reason, retry_after_s=refusal.retry_after_s
            )
        await self.record(
            journey,
            "input",
            source="web",
            var="callback_number",
            label="Call-back number",
            value=number,
            valid=True,
            callback=True,
        )
        self.collector.set_callback_number(journey, number)
        uniqueid = self.callbacks.calling(journey, number, queue)
        self._bump(journey)
        survey = Survey.after(handle.session, self.engine.address)
        self._spawn(self.callbacks.place(journey, number, queue, uniqueid, survey))
        log.info("handoff: calling back journey %s into queue %s", journey, queue)
        return self.status(journey)

    async def record(self, journey: str, kind: TrailKind, **data: Any) -> None:
        """Add a step to a journey's trail (after self-service: a push, an answer, a
        journey an agent found and linked)."""
        handle = self.engine.sessions.get(journey)
        if handle is None:
            raise HandoffError("no such journey", 404)
        session = handle.session
        before = len(session.trail)
        session.record(kind, **data)
        entries = session.trail[before:]
        for listener in list(self.engine.listeners):
            try:
                listener(session, entries)
            except Exception:
                log.exception("handoff: a session listener failed")
        if self.engine.trail is not None:
            await self.engine.trail.append(journey, entries)
