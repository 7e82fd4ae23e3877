"""The handoff on the caller's page: the queue place, "call me back", pushed pages.

Once a journey has asked for a person (its outcome is ``transfer:<queue>``) the page
keeps following it through :class:`~engine.handoff.hub.HandoffHub`: where its call
waits in the queue, a call-back for a journey with no call, and the cards and forms
an agent pushed (which may come at any time). :class:`HandoffForms` keeps what the
page's own forms were last told (a refused number, a form's problems per field) so
that a page without JavaScript shows them after its 303, and :func:`handoff_part`
turns the hub's status into what the template needs.

A handoff's changes do not pass through the engine's session listeners (app_queue's
events do not touch the session), so each open page's event stream runs
:func:`follow` beside it: it waits on the hub's status version and wakes the stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.handoff.hub import HandoffError, HandoffHub, asked_for
from engine.session.machine import Session
from visual_ivr.push import Watcher

FOLLOW_WAIT_S = 25.0
# The hub's states in which nothing on the page can change any more.
SETTLED = ("ended",)


@dataclass(slots=True)
class Asked:
    """A journey's page forms, as last answered (shown until the next try)."""

    number: str = ""  # the number last typed for a call-back
    number_problem: str = ""  # why it was refused (a text name, or the hub's words)
    problems: dict[str, dict[str, str]] = field(default_factory=dict)  # push -> field -> why
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # push -> field -> typed
    revision: int = 0


class HandoffForms:
    """What the page's handoff forms were last told, per journey (bounded)."""

    def __init__(self, keep: int = 10_000) -> None:
        self._keep = keep
        self._asked: dict[str, Asked] = {}

    def of(self, journey: str) -> Asked:
        asked = self._asked.get(journey)
        return asked if asked is not None else Asked()

    def _touch(self, journey: str) -> Asked:
        asked = self._asked.pop(journey, None) or Asked()
        self._asked[journey] = asked  # the newest last
        while len(self._asked) > self._keep:
            del self._asked[next(iter(self._asked))]
        asked.revision += 1
        return asked

    async def call_back(self, hub: HandoffHub, journey: str, number: str) -> bool:
        asked = self._touch(journey)
        asked.number = number
        try:
            await hub.callback(journey, number)
        except HandoffError as exc:
            reason = str(exc.extra.get("reason") or "")
            if reason == "no_person":  # the page has no form yet to show it on (nor later)
                asked.number = asked.number_problem = ""
                return False
            asked.number_problem = f"cb_{reason}" if reason else str(exc)
            return False
        asked.number_problem = ""
        return True

    async def answer(
        self, hub: HandoffHub, journey: str, push: str, values: Mapping[str, str]
    ) -> bool:
        asked = self._touch(journey)
        try:
            await hub.answer(journey, push, values)
        except HandoffError as exc:
            if exc.status == 404:  # no such form: nothing to show again (nor to keep)
                return False
            problems = exc.extra.get("problems")
            asked.problems[push] = dict(problems) if isinstance(problems, dict) else {"": str(exc)}
            asked.values[push] = dict(values)
            return False
        asked.problems.pop(push, None)
        asked.values.pop(push, None)
        return True


def following(session: Session) -> bool:
    """The journey asked for a person: the page goes on showing the handoff."""
    return asked_for(session) is not None


def handoff_part(
    status: dict[str, Any], asked: Asked, call: bool, t: dict[str, str]
) -> dict[str, Any]:
    """The handoff's part of the page model (``p.handoff``)."""
    state = status["state"]
    lines: list[str] = []
    callback = status.get("callback") or {}
    if state == "queued":
        lines.append(_place(status, t))
    elif state == "connected":
        lines.append(t["hf_connected"])
    elif state == "calling_back":
        lines.append(t["hf_calling"].format(number=callback.get("number", "")))
    elif state == "callback_failed":
        lines.append(t["hf_failed"].format(number=callback.get("number", "")))
    elif state == "ended":
        lines.append(t["call_ended"])
    # A journey with no call may ask to be called (again, if the last one failed).
    offer = not call and state in ("self_service", "callback_failed")
    problem = asked.number_problem
    return {
        "state": state,
        "lines": lines,
        "callback_form": offer,
        "number": asked.number if offer else "",
        "number_problem": t.get(problem, problem) if offer else "",
        "pushes": [_push(p, asked, t) for p in status.get("pushes", [])],
        "settled": state in SETTLED,
    }


def _place(status: dict[str, Any], t: dict[str, str]) -> str:
    position = status.get("position") or 1
    wait = status.get("estimated_wait_s")
    if wait is None:
        return t["hf_place"].format(n=position)
    minutes = max(1, round(wait / 60))
    name = "hf_place_wait_one" if minutes == 1 else "hf_place_wait"
    return t[name].format(n=position, m=minutes)


def _push(push: dict[str, Any], asked: Asked, t: dict[str, str]) -> dict[str, Any]:
    problems = asked.problems.get(push["id"], {})
    values = asked.values.get(push["id"], {})
    fields = [
        {
            "name": f["name"],
            "label": f["label"],
            "id": f"{push['id']}-{f['name']}",
            "required": f["required"],
            "sensitive": f["sensitive"],
            "type": f.get("type", "text"),
            "value": "" if f["sensitive"] else values.get(f["name"], ""),
            "problem": _problem(problems.get(f["name"], ""), t),
        }
        for f in push["fields"]
    ]
    return {
        "id": push["id"],
        "kind": push["kind"],
        "title": push["title"],
        "text": push["text"],
        "answered": push["answered"],
        "fields": fields,
        "problem": _problem(problems.get("", ""), t),
    }


def _problem(problem: str, t: dict[str, str]) -> str:
    return t.get("pf_" + problem.replace(" ", "_"), problem) if problem else ""


async def follow(hub: HandoffHub, journey: str, watcher: Watcher) -> None:
    """Wake ``watcher`` each time the hub's status of ``journey`` changes (until
    cancelled: the stream that started it owns it)."""
    version = hub.status(journey)["version"]
    while True:
        status = await hub.wait_status(journey, version, FOLLOW_WAIT_S)
        if status["version"] != version:  # else a timeout: wait again
            version = status["version"]
            watcher.wake()
