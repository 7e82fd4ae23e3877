"""What the agent sees at the moment a call connects, computed from the trail.

Pure functions: the ordered trail (as stored: dicts with ``seq``, ``kind``,
``node`` and the entry's data), the flows it ran on, and the few facts that the
trail does not hold (whether a verification's *answer* was yes, the backend's
answers) go in; a JSON-ready :class:`Handoff` comes out. Nothing here does I/O,
so every rule below is tested with lists in memory.

Rules
-----
*Verification.* An ``http`` node is a verification when its request carries a
variable the caller entered as a *sensitive* input (a PIN, a password) earlier
in the journey: checking a secret is what verifying is. The variables it sends
that came from inputs are what was verified ("account + PIN"). Whether the
backend said yes comes from the facts (the saved result's ``ok``); without facts
(the engine that ran the call is gone) a successful request reads "checked,
answer unknown". Any verification that succeeded makes the caller verified.

*Why.* The journey escalated at the transfer node its ``end`` entry names (or,
for a call the dialplan's fallback queued, where the trail stops). Walking back
from there, the first decisive entry says why: the caller chose a person (an
input whose ``goto`` is that node, or the page's "talk to a person"), a retry
count ran out, a backend request failed, a verification said no, or the flow
itself sent them (a branch).

*Don't ask again.* Every valid input (masked ones stay masked), the language,
what the caller said they wanted (the menu options chosen), the verification,
and what the backend told us about them; but not the inputs a verification that
failed (or whose answer is unknown) checked: the agent must ask for those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.flow import model as m
from engine.flow.templates import TemplateFailure, referenced_names, render

FlowLookup = Callable[[str], m.Flow | None]
Entry = Mapping[str, Any]

# Node types a person would call a step; branches, returns and sets are plumbing.
VISIBLE_TYPES = frozenset({"language", "menu", "input", "say", "http", "subflow", "transfer"})
# The journey's language as the agent reads it (English names; else its code).
LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "yue": "Cantonese", "ko": "Korean", "ja": "Japanese",
    "vi": "Vietnamese", "th": "Thai", "id": "Indonesian", "ms": "Malay", "hi": "Hindi",
    "bn": "Bengali", "ar": "Arabic", "he": "Hebrew", "fa": "Persian", "ur": "Urdu",
    "tr": "Turkish", "ru": "Russian", "uk": "Ukrainian", "pl": "Polish", "de": "German",
    "fr": "French", "es": "Spanish", "pt": "Portuguese", "it": "Italian", "nl": "Dutch",
    "tl": "Tagalog",
}


@dataclass(frozen=True, slots=True)
class Verification:
    """One verifying request: ``result_ok`` is the backend's answer (None: unknown)."""

    seq: int
    node: str
    flow: str
    by: tuple[str, ...]  # the input variables it checked, in the order entered
    request_ok: bool
    result_ok: bool | None
    at: float


@dataclass(frozen=True, slots=True)
class Facts:
    """What the running session knew that the trail does not say."""

    verifications: tuple[Verification, ...] = ()
    results: Mapping[str, Any] = field(default_factory=dict)  # save_as -> masked result
    callback_number: str = ""
    caller_name: str = ""  # the root flow's caller_name, read by the running session

    def as_json(self) -> dict[str, Any]:
        return {
            "verifications": [asdict(v) for v in self.verifications],
            "results": dict(self.results),
            "callback_number": self.callback_number,
            "caller_name": self.caller_name,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Facts:
        return cls(
            verifications=tuple(
                Verification(**{**v, "by": tuple(v.get("by", ()))})
                for v in data.get("verifications", ())
            ),
            results=dict(data.get("results", {})),
            callback_number=str(data.get("callback_number", "")),
            caller_name=str(data.get("caller_name", "")),
        )


@dataclass(frozen=True, slots=True)
class JourneyMeta:
    id: str
    flow: str
    caller_id: str = ""
    channel: str = ""
    started: float = 0.0
    outcome: str | None = None
    live: bool = False  # its session is running here (no outcome yet: still in it)


@dataclass(frozen=True, slots=True)
class Step:
    node: str
    flow: str
    type: str
    title: str


@dataclass(frozen=True, slots=True)
class Handoff:
    journey: str
    flow: str
    caller: str
    caller_name: str  # the flow's caller_name, once the journey knows it
    channels: tuple[str, ...]  # "voice" and/or "web"
    verification: dict[str, Any]
    why: dict[str, Any]
    summary: str
    captured: tuple[dict[str, Any], ...]
    dont_ask: tuple[dict[str, Any], ...]
    agent_note: str
    trail: tuple[Entry, ...]
    started: float

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["trail"] = [dict(e) for e in self.trail]
        return out


# ---------------------------------------------------------------- walking the trail


class _Walk:
    """The trail read once, in order, keeping track of which flow each step is in."""

    def __init__(self, trail: Sequence[Entry], flows: FlowLookup, root: str, lang: str):
        self.trail = trail
        self.flows = flows
        self.lang = lang
        self.flow_of: dict[int, str] = {}  # seq -> flow name
        self.inputs: dict[str, Entry] = {}  # var -> the last valid input entry
        self.input_order: list[str] = []
        self.secret_vars: set[str] = set()
        self.chosen: list[tuple[Entry, str]] = []  # menu choices: (entry, label)
        self.steps: list[Step] = []
        self.sources: set[str] = set()
        self.goals: list[str] = []  # the flow's goals reached (a node's goal:), in order
        self.language = ""
        current = root
        for entry in trail:
            if entry.get("kind") == "node" and entry.get("flow"):
                current = str(entry["flow"])
            self.flow_of[int(entry.get("seq", 0))] = current
            self._read(entry, current)

    def node(self, flow: str, node_id: str) -> m.AnyNode | None:
        found = self.flows(flow)
        return None if found is None else found.nodes.get(node_id)

    def title(self, flow: str, node_id: str) -> str:
        node = self.node(flow, node_id)
        text = node.title.get(self.lang) if node is not None else ""
        return text or node_id.replace("_", " ").capitalize()

    def _read(self, entry: Entry, flow: str) -> None:
        kind = entry.get("kind")
        node_id = str(entry.get("node", ""))
        if kind == "node" and entry.get("goal") and entry["goal"] not in self.goals:
            self.goals.append(str(entry["goal"]))
        if kind == "node" and entry.get("type") in VISIBLE_TYPES:
            step = Step(node_id, flow, str(entry["type"]), self.title(flow, node_id))
            if not self.steps or self.steps[-1] != step:
                self.steps.append(step)
        elif kind == "input":
            if entry.get("source"):
                self.sources.add(str(entry["source"]))
            var = entry.get("var")
            if var and entry.get("valid") and not entry.get("refused"):
                self.inputs[str(var)] = entry
                if var not in self.input_order:
                    self.input_order.append(str(var))
                if entry.get("sensitive"):
                    self.secret_vars.add(str(var))
            elif entry.get("option") is not None and self._wanted(flow, node_id, entry):
                self.chosen.append((entry, self._option_label(flow, node_id, entry)))
        elif kind == "language" and entry.get("lang"):
            self.language = str(entry["lang"])

    def _wanted(self, flow_name: str, node_id: str, entry: Entry) -> bool:
        """A choice of what the caller wants: not a language, not the page's link
        ("Get this menu on my phone", "Yes, text me the link")."""
        if isinstance(self.node(flow_name, node_id), m.LanguageMenu):
            return False
        flow = self.flows(flow_name)
        goto = str(entry.get("goto") or "")
        # The choice of the link, or any choice at the menu that offers it ("Go back").
        return flow is None or not (
            m.leads_to_send_link(flow, goto) or m.leads_to_send_link(flow, node_id)
        )

    def _option_label(self, flow: str, node_id: str, entry: Entry) -> str:
        node = self.node(flow, node_id)
        if isinstance(node, m.Menu | m.Input):
            option = node.option_for_key(str(entry.get("option")))
            if option is not None and option.label.get(self.lang):
                return option.label.get(self.lang)
        return str(entry.get("goto") or entry.get("value"))


def verifying_vars(
    node: m.Http, secret_vars: Iterable[str], entered: Sequence[str]
) -> tuple[str, ...]:
    """The entered variables this request checks, if it sends a secret; else ()."""
    names = referenced_names(node.url)
    for value in (node.body or {}).values():
        names |= referenced_names(value)
    if not names & set(secret_vars):
        return ()
    return tuple(v for v in entered if v in names)


def verifications_in_trail(walk: _Walk) -> list[Verification]:
    """Verifications the trail alone shows (the backend's answer unknown)."""
    found: list[Verification] = []
    secret: set[str] = set()
    entered: list[str] = []
    for entry in walk.trail:
        kind = entry.get("kind")
        if kind == "input" and entry.get("var") and entry.get("valid"):
            if entry["var"] not in entered:
                entered.append(str(entry["var"]))
            if entry.get("sensitive"):
                secret.add(str(entry["var"]))
        elif kind == "http":
            seq = int(entry.get("seq", 0))
            flow = walk.flow_of.get(seq, "")
            node = walk.node(flow, str(entry.get("node", "")))
            if isinstance(node, m.Http) and (by := verifying_vars(node, secret, entered)):
                ok = bool(entry.get("ok"))
                found.append(
                    Verification(
                        seq, node.id, flow, by, ok, None if ok else False, entry.get("at", 0.0)
                    )
                )
    return found


# ---------------------------------------------------------------- the parts


def _verification(walk: _Walk, facts: Facts) -> dict[str, Any]:
    known = {v.seq: v for v in facts.verifications}
    checks = [known.get(v.seq, v) for v in verifications_in_trail(walk)]
    checks += [v for v in facts.verifications if v.seq not in {c.seq for c in checks}]
    checks.sort(key=lambda v: v.seq)
    if not checks:
        return {"status": "not_verified", "label": "Not verified", "by": [], "checks": []}
    passed = [c for c in checks if c.result_ok]
    if passed:
        status, last = "verified", passed[-1]
    elif any(c.result_ok is None for c in checks):
        status, last = "unknown", checks[-1]
    else:
        status, last = "failed", checks[-1]
    by = [_label(walk, v) for v in last.by]
    label = {
        "verified": f"Verified: {' + '.join(by)} checked",
        "failed": f"Verification failed ({' + '.join(by)})",
        "unknown": f"{' + '.join(by)} checked, answer unknown",
    }[status]
    if status == "failed" and not last.request_ok:
        label += ": the backend did not answer"
    return {
        "status": status,
        "label": label,
        "by": list(last.by),
        "node": last.node,
        "at": last.at,
        "checks": [asdict(c) for c in checks],
    }


def _label(walk: _Walk, var: str) -> str:
    """An input's own label (a pushed form's field), else its node's title."""
    entry = walk.inputs.get(var)
    if entry is None:
        return var
    if entry.get("label"):
        return str(entry["label"])
    flow = walk.flow_of.get(int(entry.get("seq", 0)), "")
    if isinstance(walk.node(flow, str(entry["node"])), m.Input):
        return walk.title(flow, str(entry["node"]))
    return var.replace("_", " ").capitalize()


def _escalation(walk: _Walk, meta: JourneyMeta) -> tuple[int, str, str]:
    """(index in the trail of the escalating node's entry, node id, flow)."""
    trail = walk.trail
    end = next((e for e in reversed(trail) if e.get("kind") == "end"), None)
    target = str(end["node"]) if end is not None else ""
    for index in range(len(trail) - 1, -1, -1):
        entry = trail[index]
        if entry.get("kind") == "node" and (not target or entry.get("node") == target):
            seq = int(entry.get("seq", 0))
            return index, str(entry["node"]), walk.flow_of.get(seq, meta.flow)
    last = trail[-1] if trail else {}
    return len(trail), str(last.get("node", "")), meta.flow


# How a journey that asked for no person ended (or has not): an agent may still see
# it, looked up by the reference a caller reads from its page.
_NO_PERSON_ASKED = {
    "": ("in_self_service", "still in self-service: no person asked for"),
    "hangup": ("self_service_ended", "self-service ended without asking for a person"),
    "caller_hangup": ("left", "left self-service without asking for a person"),
}


def _why(walk: _Walk, meta: JourneyMeta, verification: dict[str, Any]) -> dict[str, Any]:
    trail = walk.trail
    index, node_id, flow = _escalation(walk, meta)
    node = walk.node(flow, node_id)
    outcome = meta.outcome or ""
    queue = node.queue if isinstance(node, m.Transfer) else ""
    if outcome.startswith("transfer:"):
        queue = outcome.split(":", 1)[1]
    reason, detail, source = "flow", "the flow sent them to a person", ""
    # No outcome stored and no session running: the engine was stopped during it.
    unasked = _NO_PERSON_ASKED.get(outcome) if outcome or meta.live else None
    if not outcome.startswith("transfer:") and unasked is not None:
        # A journey an agent looked up by its reference, that asked for no one.
        reason, detail = unasked
    elif not outcome.startswith("transfer:") and outcome in ("", "error", "dropped"):
        reason, detail = "fallback", "self-service stopped (the engine failed or was stopped)"
    else:
        for entry in reversed(trail[:index]):
            kind = entry.get("kind")
            if kind == "input" and (entry.get("goto") == node_id or entry.get("value") == "human"):
                source = str(entry.get("source", ""))
                reason, detail = "chosen", f"asked for a person ({_source_word(source)})"
                break
            if kind == "retry" and int(entry.get("count", 0)) > int(entry.get("max", 0)):
                at = walk.title(walk.flow_of.get(int(entry["seq"]), flow), str(entry["node"]))
                what = "no input" if entry.get("retry") == "no_input" else "no valid input"
                reason = f"{entry.get('retry', 'no_match')}_exhausted"
                detail = f"{what} at {at} after {entry['max']} retries"
                break
            if kind == "http" and not entry.get("ok"):
                reason = "backend_error"
                detail = f"a backend request failed ({entry.get('error') or entry.get('status')})"
                break
            if kind == "error":
                reason, detail = "error", f"self-service failed: {entry.get('reason', '')}"
                break
            if kind == "http" and verification["status"] == "failed":
                reason, detail = "not_verified", verification["label"]
                break
            if kind == "input":
                break  # a valid entry the flow went on from: the flow sent them
    steps = [asdict(s) for s in walk.steps]
    path: list[dict[str, Any]] = []
    for start, length, times in _runs([(s["flow"], s["node"]) for s in steps]):
        cycle = [dict(s) for s in steps[start : start + length]]
        if times > 1:
            cycle[-1]["times"] = times  # the way round to here, taken this many times
        path += cycle
    return {
        "node": node_id,
        "flow": flow,
        "title": walk.title(flow, node_id),
        "queue": queue,
        "reason": reason,
        "detail": detail,
        "source": source,
        "path": path,
    }


def _runs(keys: Sequence[Any], longest: int = 4) -> list[tuple[int, int, int]]:
    """``keys`` as runs (start, length, times): a way round of up to ``longest`` steps
    taken again and again in a row is one run (a caller in and out of a sign-in
    eight times reads as that, not as 16 steps)."""
    runs: list[tuple[int, int, int]] = []
    i = 0
    while i < len(keys):
        best_length, best_times = 1, 1
        for length in range(1, longest + 1):
            cycle = list(keys[i : i + length])
            times = 1
            while list(keys[i + times * length : i + (times + 1) * length]) == cycle:
                times += 1
            if times > 1 and length * times > best_length * best_times:
                best_length, best_times = length, times
        runs.append((i, best_length, best_times))
        i += best_length * best_times
    return runs


def _chain(labels: Sequence[str]) -> str:
    """``A → B → A → B → A → B`` as ``(A → B) 3 times``."""
    parts = []
    for start, length, times in _runs(labels):
        cycle = " → ".join(labels[start : start + length])
        if times == 1:
            parts.append(cycle)
        else:
            parts.append(f"{cycle} {times} times" if length == 1 else f"({cycle}) {times} times")
    return " → ".join(parts)


def _source_word(source: str) -> str:
    return {"key": "by key", "speech": "by voice", "web": "on the page"}.get(source, source)


# A request that failed is saved as these fields (and the error's "body"): nothing
# the caller told.
_FAILED_REQUEST = {"ok", "error", "status"}


def _captured(walk: _Walk, facts: Facts) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for var in walk.input_order:
        entry = walk.inputs[var]
        out.append(
            {
                "name": var,
                "label": _label(walk, var),
                "value": entry.get("value"),
                "source": entry.get("source", ""),
                "masked": bool(entry.get("sensitive")),
                "seq": entry.get("seq"),
            }
        )
    for name, result in facts.results.items():
        if isinstance(result, Mapping) and set(result) - {"body"} != _FAILED_REQUEST:
            for key, value in result.items():
                if key != "ok" and value is not None and not isinstance(value, Mapping | list):
                    out.append(
                        {
                            "name": f"{name}.{key}",
                            "label": f"{name} {key}".replace("_", " "),
                            "value": value,
                            "source": "backend",
                            "masked": value == "***",
                            "seq": None,
                        }
                    )
    if facts.callback_number and "callback_number" not in walk.inputs:
        out.append(
            {
                "name": "callback_number",
                "label": "Call-back number",
                "value": facts.callback_number,
                "source": "web",
                "masked": False,
                "seq": None,
            }
        )
    return out


def _dont_ask(
    walk: _Walk,
    verification: dict[str, Any],
    why: dict[str, Any],
    captured: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if walk.language:
        out.append({"ask": "Language", "answer": LANGUAGE_NAMES.get(walk.language, walk.language)})
    wanted = [label for entry, label in walk.chosen if label and entry.get("goto") != why["node"]]
    if wanted:
        out.append({"ask": "What they want", "answer": _chain(wanted)})
    if verification["status"] == "verified":
        out.append({"ask": "Identity / security questions", "answer": verification["label"]})
    unproven = set(verification["by"]) if verification["status"] != "verified" else set()
    for item in captured:
        if (item["source"] == "backend" and item["masked"]) or item["name"] in unproven:
            continue
        value = item["value"]
        answer = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        if item["masked"]:
            answer = f"given ({answer})"
        out.append({"ask": item["label"], "answer": answer})
    return out


def _summary(walk: _Walk, verification: dict[str, Any], why: dict[str, Any]) -> str:
    who = {
        "verified": "Verified caller",
        "failed": "Caller who failed verification",
        "unknown": "Caller (verification answer unknown)",
    }.get(verification["status"], "Unverified caller")
    first = next(
        (walk.inputs[v] for v in walk.input_order if not walk.inputs[v].get("sensitive")), None
    )
    if first is not None:
        who += f" ({_label(walk, str(first['var'])).lower()} {first.get('value')})"
    parts = [who]
    wanted = [label for entry, label in walk.chosen if entry.get("goto") != why["node"]]
    if wanted:
        parts.append("chose " + _chain(wanted))
    if walk.goals:  # what self-service already did for them
        parts.append("done: " + ", ".join(walk.goals))
    parts.append(_why_words(walk, why))
    channels = _channels(walk)
    medium = {"voice": "on the phone", "web": "on the page"}.get(
        "+".join(channels), "on the phone and the page"
    )
    if parts[-1].endswith(medium):  # "asked for a person ... on the page"
        return f"{', '.join(parts)}."
    return f"{', '.join(parts)}; {medium}."


def _why_words(walk: _Walk, why: dict[str, Any]) -> str:
    where = f"“{why['title']}”"
    reason = why["reason"]
    if reason == "chosen":
        return f"asked for a person at {_last_step_title(walk, why)} {_source_word(why['source'])}"
    if reason.endswith("_exhausted"):
        return f"was sent to {where}: {why['detail']}"
    return {
        "backend_error": f"was sent to {where} after a backend error",
        "not_verified": f"was sent to {where} after failing verification",
        "error": f"was sent to {where} after a self-service error",
        "fallback": "was queued by the fallback (self-service stopped)",
        "in_self_service": f"is in self-service at {where}, no person asked for",
        "self_service_ended": f"ended self-service at {where}, no person asked for",
        "left": f"hung up at {where}, no person asked for",
    }.get(reason, f"reached {where}")


def _last_step_title(walk: _Walk, why: dict[str, Any]) -> str:
    steps = [s for s in walk.steps if s.node != why["node"]]
    return f"“{steps[-1].title}”" if steps else f"“{why['title']}”"


def _channels(walk: _Walk) -> tuple[str, ...]:
    channels = []
    if walk.sources & {"key", "speech"}:
        channels.append("voice")
    if "web" in walk.sources:
        channels.append("web")
    return tuple(channels) or ("voice",)


# ---------------------------------------------------------------- the handoff


def caller_name_of(flow: m.Flow | None, known: Mapping[str, Any]) -> str:
    """``flow``'s ``caller_name`` over ``known`` (masked already); blank while it
    names something not yet known."""
    if flow is None or not flow.caller_name:
        return ""
    try:
        return render(flow.caller_name, known, screen=True).strip()[:80]
    except TemplateFailure:
        return ""


def _caller_name(walk: _Walk, flow_name: str, facts: Facts) -> str:
    """The root flow's ``caller_name``: as the running session read it, or (a journey
    stored before it kept one) over what the trail and the agent's facts hold."""
    flow = walk.flows(flow_name)
    if flow is None or not flow.caller_name:
        return ""
    if facts.caller_name:  # read where all the journey's answers were known
        return facts.caller_name
    known: dict[str, Any] = {var: entry.get("value") for var, entry in walk.inputs.items()}
    known.update(facts.results)
    return caller_name_of(flow, known)


def build_handoff(
    meta: JourneyMeta,
    trail: Sequence[Entry],
    flows: FlowLookup,
    facts: Facts | None = None,
    lang: str = "en",
) -> Handoff:
    """Everything the agent needs, from the journey's trail (in ``seq`` order)."""
    facts = facts or Facts()
    walk = _Walk(trail, flows, meta.flow, lang)
    verification = _verification(walk, facts)
    why = _why(walk, meta, verification)
    captured = _captured(walk, facts)
    node = walk.node(why["flow"], why["node"])
    return Handoff(
        journey=meta.id,
        flow=meta.flow,
        caller=facts.callback_number or meta.caller_id,
        caller_name=_caller_name(walk, meta.flow, facts),
        channels=_channels(walk),
        verification=verification,
        why=why,
        summary=_summary(walk, verification, why),
        captured=tuple(captured),
        dont_ask=tuple(_dont_ask(walk, verification, why, captured)),
        agent_note=(node.agent_note or "") if node is not None else "",
        trail=tuple(trail),
        started=meta.started,
    )
