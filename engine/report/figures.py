"""What a contact centre judges itself by, per flow and per node, tallied from
journeys (``reading.Journey``). No I/O.

How each journey ended (its *ending*), from the outcome the engine stored:

    self_served      the flow ended the call (a goodbye, a hang-up node), or the
                     caller hung up after reaching a goal (a node with ``goal:``)
    retries_ran_out  the flow ended it after the caller's no-input or no-match
                     retries ran out, with no input taken after
    to_person        it reached a transfer: a queue, or a call-back asked on the page
    no_person        the caller asked for a person (a key, words or the page leading
                     to the flow's ``human``: a branch on its opening hours), and the
                     flow ended the call without one: the line was closed
    caller_hung_up   the caller hung up in self-service, before any goal
    failed           the engine failed the call (an error; the dialplan's fallback
                     took it) or lost it (``dropped``); also a call with no ending
                     stored whose last step is over ``LOST_AFTER_S`` old: its engine
                     stopped (killed, crashed) before it could store one
    not_ended        in progress, or a page (web only) left open or closed

Containment is the share of ended journeys that needed no person: self_served,
retries_ran_out and caller_hung_up (the industry's usual sense; the three are shown
apart, since a caller who hung up may have got what they came for, or given up).

Goals (nodes marked ``goal: balance told``): the journeys that reached each, and
of those, the ones that still went to a person.

Surveys (a transfer's ``survey:`` flow, run when the agent hangs up): each answer
given (an input's value, by its variable), counted under the survey's own flow and,
as ``after_call``, under the flow of the call it followed (when that call began in
the period); with the mean where the answers are numbers (a 1-5 rating).

Per node, for each node entered: visits; for menus and inputs the share of visits
with a no-input retry, and with a no-match retry (at most 100 %: a caller retried
three times in one visit is one visit), the retries themselves, and the visits
whose retries ran out; callers who hung
up there; journeys that went to a person from there (the node of the last input,
or of the retries that ran out, before the transfer); the time spent there; for
backend (http) nodes, the requests that failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.report.reading import Journey, Step

ENDINGS = (
    "self_served",
    "retries_ran_out",
    "caller_hung_up",
    "to_person",
    "no_person",
    "failed",
    "not_ended",
)
CONTAINED = ("self_served", "retries_ran_out", "caller_hung_up")
LISTENING = ("menu", "input", "language")


@dataclass(slots=True)
class NodeFigures:
    flow: str
    node: str
    type: str
    visits: int = 0
    journeys: int = 0
    no_input: int = 0  # retries
    no_match: int = 0
    no_input_visits: int = 0  # visits with at least one
    no_match_visits: int = 0
    ran_out: int = 0
    hung_up: int = 0
    to_person: int = 0
    backend_failed: int = 0  # http nodes: requests that failed (error, timeout, status)
    inputs: Counter[str] = field(default_factory=Counter)  # accepted, by source
    seconds: list[float] = field(default_factory=list)  # time at the node, per visit

    def as_dict(self) -> dict[str, Any]:
        listens = self.type in LISTENING
        return {
            "flow": self.flow,
            "node": self.node,
            "type": self.type,
            "visits": self.visits,
            "journeys": self.journeys,
            "no_input_rate": _rate(self.no_input_visits, self.visits) if listens else None,
            "no_match_rate": _rate(self.no_match_visits, self.visits) if listens else None,
            "no_input_retries": self.no_input if listens else None,
            "no_match_retries": self.no_match if listens else None,
            "retries_ran_out": self.ran_out if listens else None,
            "caller_hung_up": self.hung_up,
            "to_person": self.to_person,
            "backend_failed": self.backend_failed if self.type == "http" else None,
            "inputs": dict(self.inputs),
            "seconds_p50": percentile(self.seconds, 50),
        }


@dataclass(slots=True)
class FlowFigures:
    flow: str
    journeys: int = 0
    surveys: int = 0  # journeys that were a survey after an agent's call
    web_only: int = 0
    page_opened: int = 0  # calls whose caller opened the visual IVR's page
    endings: Counter[str] = field(default_factory=Counter)
    self_service_s: list[float] = field(default_factory=list)  # start to end of self-service
    queued: int = 0
    answered: int = 0
    by_queue: dict[str, list[int]] = field(default_factory=dict)  # queue -> [waits, answered]
    waited_s: list[float] = field(default_factory=list)  # answered waits
    unanswered_waited_s: list[float] = field(default_factory=list)
    talk_s: list[float] = field(default_factory=list)
    wrapups: int = 0
    answered_unwrapped: int = 0  # journeys an agent answered that have no wrap-up
    resolved_first_contact: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    goals: Counter[str] = field(default_factory=Counter)  # journeys that reached each
    goals_then_person: Counter[str] = field(default_factory=Counter)
    answers: dict[str, Counter[str]] = field(default_factory=dict)  # a survey's own
    after_call: dict[str, Counter[str]] = field(default_factory=dict)  # its calls' surveys
    nodes: dict[tuple[str, str], NodeFigures] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        ended = self.journeys - self.endings["not_ended"]
        return {
            "flow": self.flow,
            "journeys": self.journeys,
            "surveys": self.surveys,
            "calls": self.journeys - self.web_only,
            "web_only": self.web_only,
            "page_opened_on_calls": self.page_opened,
            "endings": {name: self.endings[name] for name in ENDINGS},
            "containment": _rate(sum(self.endings[n] for n in CONTAINED), ended),
            "self_service_s": {
                "p50": percentile(self.self_service_s, 50),
                "p90": percentile(self.self_service_s, 90),
            },
            "queue": {
                "waits": self.queued,
                "answered": self.answered,
                "unanswered": self.queued - self.answered,
                "abandon_rate": _rate(self.queued - self.answered, self.queued),
                "wait_answered_s": {
                    "p50": percentile(self.waited_s, 50),
                    "p90": percentile(self.waited_s, 90),
                },
                "wait_unanswered_s_p50": percentile(self.unanswered_waited_s, 50),
                "talk_s_p50": percentile(self.talk_s, 50),
                "by_queue": {
                    name: {"waits": waits, "answered": answered}
                    for name, (waits, answered) in sorted(self.by_queue.items())
                },
            },
            "wrapups": {
                "count": self.wrapups,
                "answered_without": self.answered_unwrapped,
                "first_contact_resolution": _rate(self.resolved_first_contact, self.wrapups),
                "dispositions": dict(self.dispositions),
            },
            "goals": {
                goal: {"reached": count, "then_to_person": self.goals_then_person[goal]}
                for goal, count in self.goals.most_common()
            },
            "survey_answers": _answers(self.answers),
            "after_call_survey": _answers(self.after_call),
            "nodes": [n.as_dict() for n in self.nodes.values()],
        }


def tally(journeys: Iterable[Journey], now: float | None = None) -> dict[str, FlowFigures]:
    """Each flow's figures (journeys are counted under the flow they began in), as
    seen at ``now`` (see ``ending``)."""
    flows: dict[str, FlowFigures] = {}
    answered: dict[str, FlowFigures] = {}  # journeys an agent answered: their flow's figures
    for journey in journeys:
        figures = flows.get(journey.flow)
        if figures is None:
            figures = flows[journey.flow] = FlowFigures(journey.flow)
        _add(figures, journey, now)
        if any(wait.get("answered") for wait in journey.waits):
            answered[journey.id] = figures
        surveyed = _survey_of(journey)
        if surveyed:
            figures.surveys += 1
            given = _given(journey.steps)
            _count(figures.answers, given)
            if surveyed in answered:  # (a survey begins after its call: read before it)
                _count(answered[surveyed].after_call, given)
    return flows


def _survey_of(journey: Journey) -> str:
    start = journey.steps[0] if journey.steps and journey.steps[0].kind == "start" else None
    return str(start.data.get("survey_of") or "") if start is not None else ""


def _given(steps: list[Step]) -> list[tuple[str, str]]:
    """The inputs a journey gave, by variable (a variable given twice: the last)."""
    given = {
        str(s.data["var"]): str(s.data.get("value", ""))
        for s in steps
        if s.kind == "input" and s.data.get("var") and s.data.get("valid") is True
    }
    return list(given.items())


def _count(into: dict[str, Counter[str]], given: list[tuple[str, str]]) -> None:
    for var, value in given:
        into.setdefault(var, Counter())[value] += 1


def _answers(counts: dict[str, Counter[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, values in counts.items():
        total = sum(values.values())
        numbers = [(float(v), n) for v, n in values.items() if _number(v)]
        mean = None
        if numbers and len(numbers) == len(values):
            mean = round(sum(v * n for v, n in numbers) / total, 2)
        out[var] = {"answers": total, "mean": mean, "values": dict(sorted(values.items()))}
    return out


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# No call stays in self-service this long (a queue's wait is stored as the transfer
# that began it): a call journey with no ending, quiet for longer, was lost.
LOST_AFTER_S = 3600.0


def ending(journey: Journey, goals: set[str] | None = None, now: float | None = None) -> str:
    """How ``journey`` ended (its ``goals`` reached: found in its steps if not given),
    as the report made at ``now`` sees it (None: no call is taken for lost)."""
    outcome = journey.outcome
    if outcome is None:
        last = journey.steps[-1].at if journey.steps else journey.started
        lost = now is not None and not journey.web_only and now - last > LOST_AFTER_S
        return "failed" if lost else "not_ended"
    if outcome.startswith("transfer"):
        return "to_person"
    if outcome == "hangup":
        if any(s.kind == "node" and s.data.get("human") for s in journey.steps):
            return "no_person"
        return "retries_ran_out" if _ran_out_at_end(journey.steps) else "self_served"
    if outcome == "caller_hangup":
        reached = _goals(journey.steps) if goals is None else goals
        return "self_served" if reached else "caller_hung_up"
    return "failed"


def _goals(steps: list[Step]) -> set[str]:
    return {str(s.data["goal"]) for s in steps if s.kind == "node" and s.data.get("goal")}


def _ran_out_at_end(steps: list[Step]) -> bool:
    """Retries ran out and the caller gave no input after."""
    for step in reversed(steps):
        if step.kind == "input":
            return False
        if step.kind == "retry" and _exhausted(step):
            return True
    return False


def _exhausted(step: Step) -> bool:
    count, most = step.data.get("count"), step.data.get("max")
    return isinstance(count, int) and isinstance(most, int) and count > most


def _add(figures: FlowFigures, journey: Journey, now: float | None) -> None:
    goals = _goals(journey.steps)
    how = ending(journey, goals, now)
    figures.journeys += 1
    figures.web_only += journey.web_only
    figures.endings[how] += 1
    opened = False
    flow = journey.flow
    current: NodeFigures | None = None
    entered = 0.0
    seen: set[tuple[str, str]] = set()
    chose: NodeFigures | None = None  # where the last input (or run-out) was
    retried: set[str] = set()  # the kinds of retry in this visit so far
    for step in journey.steps:
        if step.kind == "node":
            flow = str(step.data.get("flow") or flow)
            if current is not None:
                current.seconds.append(max(0.0, step.at - entered))
            key = (flow, step.node)
            current = figures.nodes.get(key)
            if current is None:
                current = figures.nodes[key] = NodeFigures(
                    flow, step.node, str(step.data.get("type", ""))
                )
            current.visits += 1
            retried = set()
            if key not in seen:
                seen.add(key)
                current.journeys += 1
            entered = step.at
        elif current is None:
            continue
        elif step.kind == "retry":
            kind = str(step.data.get("retry"))
            current.no_input += kind == "no_input"
            current.no_match += kind == "no_match"
            if kind not in retried:
                retried.add(kind)
                current.no_input_visits += kind == "no_input"
                current.no_match_visits += kind == "no_match"
            if _exhausted(step):
                current.ran_out += 1
                chose = current
        elif step.kind == "input":
            if _accepted(step.data):
                current.inputs[str(step.data.get("source", ""))] += 1
            chose = current
        elif step.kind == "http":
            current.backend_failed += step.data.get("ok") is False
        elif step.kind == "page" and step.data.get("event") == "opened":
            opened = True
        elif step.kind == "end":
            current.seconds.append(max(0.0, step.at - entered))
            figures.self_service_s.append(max(0.0, step.at - journey.started))
            if journey.outcome == "caller_hangup":  # served (a goal) or not
                current.hung_up += 1
            elif how == "to_person" and chose is not None:
                chose.to_person += 1
            current = None  # what follows (pushes, links) is the agent's, not a node's
    figures.page_opened += opened and not journey.web_only
    for goal in goals:
        figures.goals[goal] += 1
        figures.goals_then_person[goal] += how == "to_person"
    for wait in journey.waits:
        figures.queued += 1
        counts = figures.by_queue.setdefault(str(wait.get("queue", "")), [0, 0])
        counts[0] += 1
        waited = wait.get("waited_s")
        if wait.get("answered"):
            figures.answered += 1
            counts[1] += 1
            if isinstance(waited, int | float):
                figures.waited_s.append(float(waited))
            if isinstance(talk := wait.get("talk_s"), int | float):
                figures.talk_s.append(float(talk))
        elif isinstance(waited, int | float):
            figures.unanswered_waited_s.append(float(waited))
    wrapup = journey.wrapup
    if not wrapup and any(wait.get("answered") for wait in journey.waits):
        figures.answered_unwrapped += 1
    if wrapup:
        figures.wrapups += 1
        figures.resolved_first_contact += wrapup.get("resolved_first_contact") is True
        figures.dispositions[str(wrapup.get("disposition", ""))] += 1


def _accepted(data: dict[str, Any]) -> bool:
    """An input the node took (not a key that matched nothing, not invalid digits)."""
    return (
        data.get("matched") is not False
        and data.get("valid") is not False
        and ("refused" not in data or not data.get("refused"))
    )


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return round(ordered[int(rank) - 1], 3)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
