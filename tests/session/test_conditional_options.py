"""An option with ``when`` is on offer only when its expression holds as the node
starts: by key, on the page and by voice alike (a bill with nothing due offers no
"pay it"; a list of slots offers as many choices as it has)."""

from __future__ import annotations

import textwrap

from engine.flow.parse import parse_flow
from engine.flow.validate import validate
from engine.session import events as ev
from engine.session.machine import CallInfo, Session
from engine.session.speech import listen_spec
from engine.session.view import describe

FLOW = """
start: main
human: agent
variables: {due: "{{ 0 }}", slots: "{{ ['9:00', '10:30'] }}"}
nodes:
  main:
    type: menu
    prompt: "Main menu.{% if due > 0 %} To pay your bill, press 2.{% endif %}"
    options:
      - {key: 1, label: Slots, phrases: [slots], goto: slot}
      - {key: 2, label: Pay my bill, phrases: [pay], goto: agent, when: "due > 0"}
      - {key: 0, label: Person, goto: agent}
  slot:
    type: menu
    prompt: "{% for s in slots %}For {{ s }} press {{ loop.index }}. {% endfor %}"
    options:
      - {key: 1, label: First, goto: agent, when: "slots | length >= 1"}
      - {key: 2, label: Second, goto: agent, when: "slots | length >= 2"}
      - {key: 3, label: Third, goto: agent, when: "slots | length >= 3"}
  agent: {type: transfer, queue: support}
"""


def session(text: str = FLOW) -> Session:
    flow, problems = parse_flow(textwrap.dedent(text), "cond.yaml", "cond")
    assert flow is not None and not [p for p in problems if p.is_error], problems
    s = Session(flow, CallInfo("call-c", lang="en"))
    s.start()
    return s


def keys_shown(s: Session) -> list[str]:
    return [o["key"] for o in describe(s)["node"]["options"]]


def test_an_option_not_on_offer_is_not_taken_by_key_page_or_voice() -> None:
    s = session()
    assert keys_shown(s) == ["1", "0"]
    spec = listen_spec(s)
    assert spec is not None and "pay" not in spec.grammar.phrases
    s.feed(ev.WebChoose("main", "2", s.entered))  # posted by hand
    assert s.node.id == "main"
    s.feed(ev.Digit("2"))
    retry = [e.data for e in s.trail if e.kind == "retry"]
    assert s.node.id == "main" and retry[-1]["retry"] == "no_match"


def test_options_follow_the_values_as_the_node_starts() -> None:
    s = session(FLOW.replace('due: "{{ 0 }}"', 'due: "{{ 25 }}"'))
    assert keys_shown(s) == ["1", "2", "0"]
    s.feed(ev.Digit("1"))
    assert s.node.id == "slot" and keys_shown(s) == ["1", "2"]  # two slots, two choices
    s.feed(ev.Digit("3"))
    assert s.node.id == "slot"  # no third slot: a no-match, not a failure
    s.feed(ev.Digit("2"))
    assert s.outcome == "transfer:support"


def test_a_when_is_validated_as_an_expression() -> None:
    broken = FLOW.replace('when: "due > 0"', 'when: "{{ due > 0 }}"').replace(
        'when: "slots | length >= 3"', 'when: "slotz | length >= 3"'
    )
    flow, _ = parse_flow(textwrap.dedent(broken), "cond.yaml", "cond")
    assert flow is not None
    said = [str(p) for p in validate(flow) if p.is_error]
    assert any("a 'when' is an expression: write it without {{ }}" in m for m in said), said
    assert any("'slotz'" in m for m in said), said
