"""Demo journeys in memory: the real session state machine on the real demo flows,
fed keys, prompt ends and backend answers the way a call would feed them (no
Asterisk), so the trail read for the agent is the trail a call writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.flow import load_flow_dir
from engine.flow.model import Flow
from engine.session import events as ev
from engine.session.events import trail_as_dicts
from engine.session.machine import CallInfo, Session
from tests.conftest import FLOWS

FLOWS_BY_NAME, _ = load_flow_dir(FLOWS)
ACCOUNTS = {("123456", "1234"): {"name": "Alex", "balance": 1520.75, "bill_due": 89.9}}

Backend = Callable[[ev.HttpRequest], ev.HttpDone]
Listener = Callable[[Session, list[ev.TrailEntry]], None]


def demo_backend(request: ev.HttpRequest) -> ev.HttpDone:
    body = dict(request.body or {})
    if body.get("account") == "000000":
        return ev.HttpDone(request.request_id, False, 503, None, "status 503", 0.01)
    found = ACCOUNTS.get((str(body.get("account")), str(body.get("pin"))))
    data: dict[str, Any] = {"ok": False, "reason": "account or PIN not recognised"}
    if found is not None:
        data = {"ok": True, **found}
    return ev.HttpDone(request.request_id, True, 200, data, "", 0.01)


def lookup(name: str) -> Flow | None:
    return FLOWS_BY_NAME.get(name)


class Journey:
    """One session, driven by keys; listeners see each step's new entries."""

    def __init__(
        self,
        keys: str,
        backend: Backend = demo_backend,
        listeners: tuple[Listener, ...] = (),
        caller_id: str = "+15550001111",
        clock_start: float = 1000.0,
    ) -> None:
        now = [clock_start]

        def clock() -> float:
            now[0] += 0.5
            return now[0]

        self.session = Session(
            FLOWS_BY_NAME["service_line"],
            CallInfo(call_id="j" * 32, caller_id=caller_id, channel="PJSIP/loopback-ivr-1"),
            flows=lookup,
            clock=clock,
        )
        self._backend = backend
        self._listeners = listeners
        self._seen = 0
        self._run(self.session.start())
        for key in keys:
            if self.session.done:
                break
            self._run(self.session.feed(ev.Digit(key)))

    def _run(self, actions: list[ev.Action]) -> None:
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if isinstance(action, ev.Play):
                pending.extend(self.session.feed(ev.PromptFinished(action.play_id)))
            elif isinstance(action, ev.HttpRequest):
                self._publish()
                pending.extend(self.session.feed(self._backend(action)))
        self._publish()

    def _publish(self) -> None:
        fresh = self.session.trail[self._seen :]
        self._seen = len(self.session.trail)
        for listener in self._listeners:
            listener(self.session, fresh)

    @property
    def trail(self) -> list[dict[str, Any]]:
        return [dict(e) for e in trail_as_dicts(self.session.trail)]
