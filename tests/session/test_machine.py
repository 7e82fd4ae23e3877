"""The session state machine, driven by events in memory (no Asterisk)."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import pytest

from engine.flow import model as m
from engine.flow.model import Flow
from engine.flow.parse import parse_flow
from engine.session import events as ev
from engine.session.machine import HOLD_AGAIN_S, CallInfo, Session
from engine.session.presence import HOLD_S, MAX_HOLDS

BASE = """
languages: [en, zh]
start: main
human: agent
nodes:
  main:
    type: menu
    prompt: {en: "Main menu. For balance press 1.", zh: "主菜单。"}
    timeout: 5
    options:
      - {key: 1, label: {en: Balance, zh: 余额}, goto: account}
      - {key: 2, label: {en: Info, zh: 信息}, goto: info}
      - {key: 3, label: {en: Lookup, zh: 查询}, goto: lookup}
      - {key: 4, label: {en: Sub, zh: 子流程}, goto: sub}
      - {key: 0, label: {en: Person, zh: 人工}, goto: agent}
    no_input:
      max: 2
      prompts:
        - {en: "I did not hear you.", zh: "没听到。"}
        - {en: "Still nothing.", zh: "还是没有。"}
      goto: agent
    no_match:
      max: 1
      prompts: [{en: "Not a choice.", zh: "无此选项。"}]
      goto: agent
  account:
    type: input
    prompt: {en: "Enter your account.", zh: "请输入账号。"}
    var: account
    min_length: 4
    max_length: 6
    pattern: "^[0-9]+$"
    first_digit_timeout: 8
    inter_digit_timeout: 3
    options: [{key: "*", label: {en: Back, zh: 返回}, goto: main}]
    next: pin
  pin:
    type: input
    prompt: {en: "Enter your PIN.", zh: "请输入密码。"}
    var: pin
    min_length: 4
    max_length: 4
    sensitive: true
    confirm: true
    next: thanks
  thanks:
    type: say
    prompt: {en: "Thanks {{ account }}.", zh: "谢谢 {{ account }}。"}
    next: main
  info:
    type: say
    prompt: {en: "Some information.", zh: "一些信息。"}
    next: main
  lookup:
    type: http
    method: POST
    url: "http://backend.test/{{ caller_id }}"
    body: {who: "{{ caller_id }}"}
    timeout: 2
    save_as: result
    hold_prompt: {en: "One moment.", zh: "请稍候。"}
    hold_after: 1
    next: decide
    on_error: agent
  decide:
    type: branch
    cases: [{when: "result.vip", goto: agent}]
    default: bye
  sub:
    type: subflow
    flow: other
    next: info
  agent:
    type: transfer
    queue: support
    prompt: {en: "Connecting you.", zh: "正在转接。"}
  bye:
    type: hangup
    prompt: {en: "Goodbye.", zh: "再见。"}
"""

OTHER = """
languages: [en, zh]
start: hello
nodes:
  hello:
    type: say
    prompt: {en: "Hello from the subflow.", zh: "你好。"}
    next: done
  done: {type: return}
"""


def compile_flow(text: str, name: str) -> Flow:
    flow, problems = parse_flow(textwrap.dedent(text), f"{name}.yaml", name)
    assert flow is not None, [str(p) for p in problems]
    return flow


class Driver:
    """Feeds events and remembers what the session asked for."""

    def __init__(self, text: str = BASE, lang: str | None = None) -> None:
        flows = {"main": compile_flow(text, "main"), "other": compile_flow(OTHER, "other")}
        self.session = Session(
            flows["main"],
            CallInfo("call-1", caller_id="5550100", lang=lang),
            flows=flows.get,
            clock=lambda: 0.0,
        )
        self.actions: list[ev.Action] = list(self.session.start())

    def feed(self, event: ev.Event) -> list[ev.Action]:
        out = self.session.feed(event)
        self.actions.extend(out)
        return out

    def last(self, kind: type[Any]) -> Any:
        return next(a for a in reversed(self.actions) if isinstance(a, kind))

    def texts(self, play: ev.Play) -> list[str]:
        return [p.text for p in play.parts if isinstance(p, ev.SpeechPart)]

    def end_prompt(self) -> list[ev.Action]:
        return self.feed(ev.PromptFinished(self.last(ev.Play).play_id))

    def fire(self) -> list[ev.Action]:
        return self.feed(ev.TimerFired(self.last(ev.StartTimer).timer_id))

    def keys(self, keys: str) -> None:
        for key in keys:
            self.feed(ev.Digit(key))

    @property
    def node(self) -> str:
        return self.session.node.id


def test_menu_prompt_then_key() -> None:
    d = Driver()
    play = d.last(ev.Play)
    assert d.texts(play) == ["Main menu. For balance press 1."] and play.barge_in
    assert d.end_prompt() == [ev.StartTimer(2, 5.0)]
    assert d.session.turns == 1
    out = d.feed(ev.Digit("1"))
    assert out[0] == ev.CancelTimer(2)
    assert d.node == "account"


def test_barge_in_stops_the_menu_prompt() -> None:
    d = Driver()
    out = d.feed(ev.Digit("2"))
    assert out[0] == ev.StopPlayback()
    assert d.node == "info"


LAST_WORDS = """
languages: [en]
start: main
human: agent
nodes:
  main:
    type: menu
    prompt: "Press 1 for your balance, 2 for news."
    options:
      - {key: 1, label: Balance, goto: balance}
      - {key: 2, label: News, goto: news}
      - {key: 0, label: Person, goto: agent}
  balance:
    type: say
    prompt: "Your balance is 12 dollars."
    next: thanks
  thanks:
    type: say
    prompt: "Thank you for calling."
    next: bye
  bye: {type: hangup, prompt: "Goodbye."}
  news:
    type: say
    prompt: "No news today."
    next: main
  agent: {type: transfer, queue: support, prompt: "Connecting you."}
"""


def test_last_words_come_with_the_end_of_the_call_at_once() -> None:
    d = Driver(LAST_WORDS)
    out = d.feed(ev.Digit("1"))
    plays = [d.texts(a) for a in out if isinstance(a, ev.Play)]
    assert plays == [["Your balance is 12 dollars."], ["Thank you for calling."], ["Goodbye."]]
    assert isinstance(out[-1], ev.Hangup)
    assert d.session.outcome == "hangup"
    nodes = [e.node for e in d.session.trail if e.kind == "node"]
    assert nodes == ["main", "balance", "thanks", "bye"]


def test_which_paths_only_end_the_call() -> None:
    flow = compile_flow(LAST_WORDS, "main")
    assert flow.only_ending("balance") and flow.only_ending("bye") and flow.only_ending("agent")
    assert flow.only_ending(None)
    assert not flow.only_ending("news") and not flow.only_ending("main")


def test_a_say_before_a_menu_still_waits_for_its_prompt() -> None:
    d = Driver(LAST_WORDS)
    d.feed(ev.Digit("2"))
    assert d.node == "news" and not d.session.done
    d.end_prompt()
    assert d.node == "main"


def test_keys_during_an_info_prompt_are_kept_for_the_next_menu() -> None:
    d = Driver()
    d.feed(ev.Digit("2"))  # -> info (say, no barge-in)
    info_play = d.last(ev.Play)
    assert not info_play.barge_in
    assert d.feed(ev.Digit("1")) == []  # typed ahead: the info goes on
    d.keys("1234")
    assert d.node == "info"
    d.end_prompt()  # -> main, which consumes "1" at once: no main prompt
    assert d.node == "account"
    # "1234" went on into the account input without a prompt; it waits for more.
    assert d.session._digits == "1234"
    plays_after_info = [
        a for a in d.actions[d.actions.index(info_play) + 1 :] if isinstance(a, ev.Play)
    ]
    assert plays_after_info == []
    d.feed(ev.Digit("#"))
    assert d.session.vars["account"] == "1234"
    assert d.node == "pin"


def test_no_input_retries_taper_then_reach_a_person() -> None:
    d = Driver()
    d.end_prompt()
    d.fire()
    assert d.texts(d.last(ev.Play)) == ["I did not hear you.", "Main menu. For balance press 1."]
    d.end_prompt()
    d.fire()
    assert d.texts(d.last(ev.Play))[0] == "Still nothing."
    d.end_prompt()
    d.fire()
    assert d.node == "agent"
    assert d.last(ev.Transfer) == ev.Transfer("support", "call-1")
    assert d.session.outcome == "transfer:support"
    retries = [e for e in d.session.trail if e.kind == "retry"]
    assert [(e.data["retry"], e.data["count"]) for e in retries] == [
        ("no_input", 1),
        ("no_input", 2),
        ("no_input", 3),
    ]


HOLD_LINE = "Take your time on your screen. I'm still here."


def test_silence_while_the_page_is_in_view_holds_instead_of_counting() -> None:
    d = Driver()
    d.feed(ev.PageSeen(True))
    assert [(e.kind, dict(e.data)) for e in d.session.trail if e.kind == "page"] == [
        ("page", {"event": "opened"})
    ]
    d.end_prompt()
    assert d.last(ev.StartTimer).seconds == 5.0  # the menu's own timeout first
    d.fire()
    hold = d.last(ev.Play)
    assert d.texts(hold) == [HOLD_LINE] and hold.barge_in
    d.end_prompt()
    assert d.last(ev.StartTimer).seconds == HOLD_S  # then the page's pace
    d.fire()
    assert d.texts(d.last(ev.Play)) == [HOLD_LINE]
    assert not [e for e in d.session.trail if e.kind == "retry"]
    holds = [e.data["count"] for e in d.session.trail if e.data.get("event") == "hold"]
    assert holds == [1, 2]
    # A key on the phone is taken as ever, the hold line cut short.
    assert d.feed(ev.Digit("2"))[0] == ev.StopPlayback()
    assert d.node == "info"


def test_a_page_out_of_view_ends_the_hold_at_once() -> None:
    d = Driver()
    d.feed(ev.PageSeen(True))
    d.end_prompt()
    d.fire()
    d.end_prompt()
    holding = d.last(ev.StartTimer)
    assert holding.seconds == HOLD_S
    out = d.feed(ev.PageSeen(False))
    assert out == [ev.CancelTimer(holding.timer_id), ev.StartTimer(holding.timer_id + 1, 5.0)]
    d.fire()
    assert d.texts(d.last(ev.Play)) == ["I did not hear you.", "Main menu. For balance press 1."]
    # Back in view (the caller switched back): the menu's own timeout, then it holds
    # again; "opened" is recorded once.
    d.feed(ev.PageSeen(True))
    d.end_prompt()
    assert d.last(ev.StartTimer).seconds == 5.0
    d.fire()
    assert d.texts(d.last(ev.Play)) == [HOLD_LINE]
    assert sum(e.data.get("event") == "opened" for e in d.session.trail) == 1


def test_a_page_left_open_holds_ten_minutes_then_silence_counts() -> None:
    d = Driver()
    d.feed(ev.PageSeen(True))
    d.end_prompt()
    for _ in range(MAX_HOLDS):
        d.fire()
        assert d.texts(d.last(ev.Play)) == [HOLD_LINE]
        d.end_prompt()
    assert MAX_HOLDS * HOLD_S >= 600
    assert d.session.notice is None
    d.fire()
    assert d.texts(d.last(ev.Play))[0] == "I did not hear you."
    assert d.session.notice == "still_there"  # said on the page, for who reads it
    d.end_prompt()
    d.fire()
    d.end_prompt()
    d.fire()  # the retries run out: on to where silence leads, the notice gone
    assert d.node == "agent" and d.session.notice is None
    d = Driver()  # A new node starts its own count of holds.
    d.feed(ev.PageSeen(True))
    d.feed(ev.Digit("1"))
    assert d.node == "account"
    d.end_prompt()
    d.fire()
    assert d.texts(d.last(ev.Play)) == [HOLD_LINE]


def test_a_caller_half_way_through_typing_is_asked_to_go_on_then_held() -> None:
    d = Driver()
    d.feed(ev.Digit("1"))
    d.end_prompt()
    d.feed(ev.PageSeen(True))
    d.keys("12")
    assert d.last(ev.StartTimer).seconds == 3.0  # inter-digit, as without a page
    d.fire()
    assert d.texts(d.last(ev.Play))[0].startswith("Please go on")
    d.end_prompt()
    d.fire()  # still nothing: on to the page, the digits typed are kept
    assert d.texts(d.last(ev.Play)) == [HOLD_LINE]
    d.end_prompt()
    assert d.last(ev.StartTimer).seconds == HOLD_S
    assert not [e for e in d.session.trail if e.kind == "retry"]
    d.keys("34#")  # back on the keypad
    assert d.session.vars["account"] == "1234"
    assert d.node == "pin"


def test_a_page_out_of_view_ends_a_half_typed_input_s_hold() -> None:
    d = Driver()
    d.feed(ev.Digit("1"))
    d.end_prompt()
    d.feed(ev.PageSeen(True))
    d.keys("12")
    d.fire()
    d.end_prompt()
    d.fire()
    d.end_prompt()
    holding = d.last(ev.StartTimer)
    out = d.feed(ev.PageSeen(False))
    assert out == [ev.CancelTimer(holding.timer_id), ev.StartTimer(holding.timer_id + 1, 3.0)]
    d.fire()  # asked once already: the incomplete entry is a no-match now
    retries = [dict(e.data) for e in d.session.trail if e.kind == "retry"]
    assert [(r["retry"], r.get("reason")) for r in retries] == [("no_match", "incomplete")]


def test_two_pages_in_view_hold_until_both_are_gone() -> None:
    d = Driver()
    d.feed(ev.PageSeen(True))
    d.feed(ev.PageSeen(True))
    d.feed(ev.PageSeen(False))
    d.end_prompt()
    d.fire()
    assert d.texts(d.last(ev.Play)) == [HOLD_LINE]
    d.feed(ev.PageSeen(False))
    d.feed(ev.PageSeen(False))  # one too many (a stream closed twice) counts as none
    assert d.session.page.open == 0


def test_no_match_has_its_own_counter() -> None:
    d = Driver()
    d.end_prompt()
    d.fire()  # one no-input
    d.end_prompt()
    d.feed(ev.Digit("7"))  # a no-match: its own prompt
    assert d.texts(d.last(ev.Play))[0] == "Not a choice."
    d.end_prompt()
    d.feed(ev.Digit("8"))  # second no-match: over max 1
    assert d.node == "agent"


def test_no_match_flushes_type_ahead() -> None:
    d = Driver()
    d.keys("7")  # barge-in, unknown key
    d.feed(ev.Digit("9"))  # during the retry prompt: barge-in again, another no-match
    assert d.node == "agent"


def test_input_with_terminator_and_shortcut() -> None:
    d = Driver()
    d.keys("1")
    d.end_prompt()
    d.keys("*")
    assert d.node == "main"  # "*" as the first key is the shortcut back
    d.keys("1")
    d.end_prompt()
    d.keys("12*4#")  # "*" after the first key is just input; the pattern refuses it
    assert d.texts(d.last(ev.Play))[0] != "Enter your account."
    assert [e.data.get("valid") for e in d.session.trail if e.kind == "input"][-1] is False


def test_input_max_length_finishes_without_terminator() -> None:
    d = Driver()
    d.keys("1")
    d.end_prompt()
    d.keys("123456")
    assert d.session.vars["account"] == "123456"
    assert d.node == "pin"


def test_a_terminator_right_after_a_full_input_is_not_a_new_key() -> None:
    d = Driver()
    d.keys("1123456#")
    assert d.node == "pin"
    assert not [e for e in d.session.trail if e.kind == "retry"]
    d.keys("#")  # a second one is a key again: an empty PIN
    assert [e.data["retry"] for e in d.session.trail if e.kind == "retry"] == ["no_input"]


def test_a_slow_typist_is_not_cut_off() -> None:
    d = Driver()
    d.keys("1")
    d.end_prompt()
    d.keys("12")
    timer = d.last(ev.StartTimer)
    assert timer.seconds == 3.0  # inter-digit
    d.fire()  # too short to accept: a gentle nudge, digits kept
    nudge = d.last(ev.Play)
    assert "go on" in d.texts(nudge)[0]
    d.end_prompt()
    d.keys("34")
    d.fire()  # long enough now: accepted on the inter-digit timeout
    assert d.session.vars["account"] == "1234"


def test_sensitive_input_is_confirmed_and_masked() -> None:
    d = Driver()
    d.keys("1")
    d.keys("1234#")
    assert d.node == "pin"
    d.keys("9876")
    readback = d.texts(d.last(ev.Play))[0]
    assert "9876" not in readback and "9 8 7 6" not in readback
    d.keys("2")  # re-enter
    d.keys("1111")
    d.keys("1")  # confirm
    assert d.session.vars["pin"] == "1111"
    assert d.node == "thanks"
    values = [str(e.data.get("value")) for e in d.session.trail if e.kind == "input"]
    assert all("1111" not in v and "9876" not in v for v in values)
    assert "****" in values
    # The agent sees that a read-back was refused, and what it held, masked here.
    [refused] = [e.data for e in d.session.trail if e.data.get("confirm") == "re-enter"]
    assert refused["rejected"] == "****"
    assert "9876" not in repr([e.data for e in d.session.trail])


def test_a_confirmation_typed_ahead_is_used() -> None:
    d = Driver()
    d.keys("1")
    d.keys("1234#")
    d.feed(ev.Digit("2"))  # pin prompt playing: barge-in
    d.keys("468")  # now "2468" is complete: the read-back starts
    assert d.session._phase == "confirm"
    d.feed(ev.Digit("1"))  # during the read-back: barge-in, yes
    assert d.node == "thanks" and d.session.vars["pin"] == "2468"


def test_a_whole_sign_in_typed_ahead_during_an_info_prompt() -> None:
    d = Driver()
    d.feed(ev.Digit("2"))  # -> info, a prompt that must be heard: keys wait
    d.keys("11234#24681")  # menu 1, account 1234#, PIN 2468, confirm yes
    d.end_prompt()
    assert d.session.vars == d.session.vars | {"account": "1234", "pin": "2468"}
    assert d.node == "thanks"


def test_terminators_after_full_inputs_typed_ahead_are_not_new_keys() -> None:
    """Typed during a prompt that must be heard: the account fills up at six keys
    and the PIN at four, and the "#" after each is the entry's own, not an empty
    next entry (which would also have thrown away the keys after it)."""
    d = Driver()
    d.feed(ev.Digit("2"))  # -> info: keys wait for its end
    d.keys("1123456#2468#1")  # menu 1, account 123456#, PIN 2468#, confirm yes
    d.end_prompt()
    assert not [e for e in d.session.trail if e.kind == "retry"]
    assert d.session.vars == d.session.vars | {"account": "123456", "pin": "2468"}
    assert d.node == "thanks"


def test_http_hold_prompt_success_and_stale_answers() -> None:
    d = Driver()
    d.keys("3")
    request = d.last(ev.HttpRequest)
    assert request.url == "http://backend.test/5550100" and request.body == {"who": "5550100"}
    d.fire()  # the backend is slow: the hold prompt
    assert d.texts(d.last(ev.Play)) == ["One moment."]
    # Still slow: said again after a while, never minutes of dead air.
    (again,) = d.end_prompt()
    assert isinstance(again, ev.StartTimer) and again.seconds == HOLD_AGAIN_S
    d.fire()
    assert [d.texts(p) for p in d.actions if isinstance(p, ev.Play)][-2:] == [["One moment."]] * 2
    assert d.feed(ev.HttpDone(999, True, 200, {})) == []  # not ours: ignored
    d.feed(ev.HttpDone(request.request_id, True, 200, {"vip": True}))
    assert d.session.vars["result"] == {"ok": True, "vip": True}
    assert d.node == "agent"


def test_a_json_body_keeps_numbers_booleans_and_one_expression_s_type() -> None:
    """A body was sent all text: ``estimated: false`` as "false", which a backend
    reads as true. Plain YAML numbers, booleans and null are JSON's; a value that is
    one {{ expression }} keeps its type; other templates are text."""
    body = (
        '{who: "{{ caller_id }}", n: "{{ caller_id | int }}", units: 50, rate: 0.5, '
        'estimated: false, note: null, quoted: "50", said: "{{ caller_id }} here", '
        'both: "{{ [1, caller_id] }}"}'
    )
    d = Driver(BASE.replace('body: {who: "{{ caller_id }}"}', f"body: {body}"))
    d.keys("3")
    assert d.last(ev.HttpRequest).body == {
        "who": "5550100",
        "n": 5550100,
        "units": 50,
        "rate": 0.5,
        "estimated": False,
        "note": None,
        "quoted": "50",
        "said": "5550100 here",
        "both": [1, "5550100"],
    }


def test_headers_read_the_engine_s_secrets_which_the_session_keeps_nowhere() -> None:
    flow = BASE.replace(
        "    timeout: 2\n",
        '    timeout: 2\n    headers: {Authorization: "Bearer {{ secrets.api }}", X-Who: '
        '"{{ caller_id }}"}\n',
    )
    compiled = compile_flow(flow, "main")
    session = Session(compiled, CallInfo("c", caller_id="5550100"), secrets={"api": "s3cr3t"})
    session.start()
    request = next(a for a in session.feed(ev.Digit("3")) if isinstance(a, ev.HttpRequest))
    assert request.headers == {"Authorization": "Bearer s3cr3t", "X-Who": "5550100"}
    assert "s3cr3t" not in repr(request) and "s3cr3t" not in str(session.trail)
    assert "secrets" not in session.vars
    # A secret the engine was not given: the flow's person, saying which is missing.
    missing = Session(compiled, CallInfo("d", caller_id="5550100"))
    missing.start()
    missing.feed(ev.Digit("3"))
    assert missing.node.id == "agent"
    [error] = [e for e in missing.trail if e.kind == "error"]
    assert "secret 'api' is not set (IVR_SECRET_API" in str(error.data)


def test_a_web_move_away_from_a_slow_backend_leaves_its_answer_behind() -> None:
    """Home on the page while an http node waits: the late answer and the holding
    prompt's timer belong to a node the call has left (it failed the session)."""
    d = Driver()
    d.keys("3")
    request = d.last(ev.HttpRequest)
    hold = d.last(ev.StartTimer)
    out = d.feed(ev.WebNavigate("home"))
    assert ev.CancelTimer(hold.timer_id) in out
    assert d.node == "main"
    assert d.feed(ev.HttpDone(request.request_id, True, 200, {"vip": True})) == []
    assert d.feed(ev.TimerFired(hold.timer_id)) == []
    assert d.node == "main" and not d.session.done and "result" not in d.session.vars


def test_a_backend_s_own_ok_is_its_answer() -> None:
    """A backend refusing a PIN answers 200 with {"ok": false}: the result says so
    (flows branch on it), and the node still takes ``next``, not ``on_error``."""
    d = Driver()
    d.keys("3")
    d.feed(ev.HttpDone(d.last(ev.HttpRequest).request_id, True, 200, {"ok": False, "vip": 0}))
    assert d.session.vars["result"] == {"ok": False, "vip": 0}
    assert d.node == "bye"  # next (the branch's default), not on_error (agent)


def test_a_template_failing_on_a_backend_s_answer_goes_to_the_person() -> None:
    """A backend answers without a field a prompt reads: the caller goes to the flow's
    person, as after a failed backend, not out of the flow; the trail says where."""
    text = BASE.replace("default: bye", "default: tell") + textwrap.indent(
        textwrap.dedent("""
        tell:
          type: say
          prompt: {en: "Due {{ result.bill.due }}.", zh: "{{ result.bill.due }}。"}
          next: bye
        """),
        "  ",
    )
    d = Driver(text)
    d.keys("3")
    d.feed(ev.HttpDone(d.last(ev.HttpRequest).request_id, True, 200, {"vip": False}))
    assert d.node == "agent" and d.session.outcome == "transfer:support"
    assert not any(isinstance(a, ev.Fail) for a in d.actions)
    error = next(e for e in d.session.trail if e.kind == "error")
    assert error.node == "tell" and error.data["then"] == "agent"
    assert error.data["reason"].startswith("main.yaml:")
    assert "flow 'main' node 'tell'" in error.data["reason"]
    assert "bill" in error.data["reason"]


def test_a_template_failing_in_a_subflow_without_a_person_goes_to_the_caller_s() -> None:
    broken = OTHER.replace('{en: "Hello from the subflow.", zh: "你好。"}',
                           '{en: "{{ caller_id.x.y }}", zh: "{{ caller_id.x.y }}"}')
    flows = {"main": compile_flow(BASE, "main"), "other": compile_flow(broken, "other")}
    session = Session(flows["main"], CallInfo("call-2", caller_id="5550100"),
                      flows=flows.get, clock=lambda: 0.0)
    session.start()
    session.feed(ev.Digit("4"))  # the subflow, whose prompt fails
    assert session.flow.name == "main" and session.node.id == "agent"
    assert session.outcome == "transfer:support"


def test_a_template_failing_at_the_person_itself_ends_the_session() -> None:
    text = BASE.replace('prompt: {en: "Connecting you.", zh: "正在转接。"}',
                        'prompt: {en: "{{ result.x.y }}", zh: "{{ result.x.y }}"}')
    d = Driver(text)
    d.keys("0")
    assert isinstance(d.actions[-1], ev.Fail) and d.session.outcome == "error"


def test_http_error_path() -> None:
    d = Driver()
    d.keys("3")
    request = d.last(ev.HttpRequest)
    d.feed(ev.HttpDone(request.request_id, False, 0, None, "timeout"))
    assert d.session.vars["result"] == {"ok": False, "error": "timeout", "status": 0}
    assert d.node == "agent"
    d = Driver()
    d.keys("3")
    why = {"reason": "no such meter"}
    d.feed(ev.HttpDone(d.last(ev.HttpRequest).request_id, False, 404, why, "status 404"))
    assert d.session.vars["result"] == {
        "ok": False, "error": "status 404", "status": 404, "body": why
    }


def test_branch_default_and_hangup() -> None:
    d = Driver()
    d.keys("3")
    d.feed(ev.HttpDone(d.last(ev.HttpRequest).request_id, True, 200, {"vip": False}))
    assert d.node == "bye"
    assert isinstance(d.actions[-1], ev.Hangup)
    assert d.session.outcome == "hangup"


def test_subflow_returns() -> None:
    d = Driver()
    d.keys("4")
    assert d.session.flow.name == "other" and d.node == "hello"
    d.end_prompt()
    assert d.session.flow.name == "main" and d.node == "info"


def test_a_subflow_sets_its_variables_the_call_does_not_have() -> None:
    child = """
    languages: [en, zh]
    start: hello
    variables: {company: "City Power", greeting: "Welcome to {{ company }}", account: ""}
    nodes:
      hello:
        type: say
        prompt: "{{ greeting }}, account {{ account }}."
        next: done
      done: {type: return}
    """
    flows = {"main": compile_flow(BASE, "main"), "other": compile_flow(child, "other")}
    session = Session(flows["main"], CallInfo("call-1"), flows=flows.get, clock=lambda: 0.0)
    session.start()
    session.vars["account"] = "123456"  # set by the calling flow
    out = session.feed(ev.Digit("4"))
    play = next(a for a in out if isinstance(a, ev.Play))
    assert [p.text for p in play.parts if isinstance(p, ev.SpeechPart)] == [
        "Welcome to City Power, account 123456."
    ]


def test_language_chosen_up_front() -> None:
    d = Driver(lang="zh")
    assert d.texts(d.last(ev.Play)) == ["主菜单。"]
    assert d.last(ev.Play).parts[0].lang == "zh"


def test_caller_hangup_ends_the_session() -> None:
    d = Driver()
    d.feed(ev.CallerHangup())
    assert d.session.outcome == "caller_hangup"
    assert d.feed(ev.Digit("1")) == []


def test_a_loop_without_input_fails_over_to_the_fallback() -> None:
    looping = """
    start: a
    nodes:
      a: {type: set, values: {x: "1"}, next: b}
      b: {type: branch, cases: [{when: "x", goto: a}], default: c}
      c: {type: transfer, queue: support}
    """
    flow = compile_flow(looping, "loop")
    session = Session(flow, CallInfo("c"))
    actions = session.start()
    assert isinstance(actions[-1], ev.Fail)
    assert session.outcome == "error"


@pytest.mark.parametrize("key", list("0123456789*#"))
def test_every_key_is_handled(key: str) -> None:
    d = Driver()
    d.end_prompt()
    d.feed(ev.Digit(key))
    assert d.session.trail[-1].kind in ("node", "prompt", "end", "retry")


LANGUAGE_MENU = """
languages: [en, zh]
start: welcome
human: person
nodes:
  welcome:
    type: language
    prompt: {en: "For English, press 1.", zh: "中文服务请按2。"}
    options:
      - {key: 1, lang: en, label: English, goto: main}
      - {key: 2, lang: zh, label: 中文, goto: main}
      - {key: 0, label: {en: A person, zh: 人工}, goto: person}
    no_input: {max: 1, prompts: [{en: "Sorry.", zh: "对不起。"}], goto: main}
  main:
    type: say
    prompt: {en: "Main menu.", zh: "主菜单。"}
    next: bye
  bye: {type: hangup}
  person: {type: transfer, queue: support}
"""


@pytest.mark.parametrize(
    ("lang", "first", "second"), [(None, "en", "zh"), ("en", "en", "zh"), ("zh", "zh", "en")]
)
def test_a_language_menu_speaks_every_language_the_callers_first(
    lang: str | None, first: str, second: str
) -> None:
    """Everyone hears their own key, each language in its own voice."""
    d = Driver(LANGUAGE_MENU, lang=lang)
    spoken = {"en": "For English, press 1.", "zh": "中文服务请按2。"}
    play = d.last(ev.Play)
    assert [(p.text, p.lang) for p in play.parts if isinstance(p, ev.SpeechPart)] == [
        (spoken[first], first), (spoken[second], second)
    ]
    d.end_prompt()
    d.fire()  # no key: the retry prompt and the menu in each language, the caller's first
    retry = [(p.text, p.lang) for p in d.last(ev.Play).parts if isinstance(p, ev.SpeechPart)]
    sorry = {"en": "Sorry.", "zh": "对不起。"}
    assert retry == [
        (sorry[first], first), (spoken[first], first), (sorry[second], second),
        (spoken[second], second),
    ]
    d.keys("2")
    assert d.session.lang == "zh" and d.texts(d.last(ev.Play)) == ["主菜单。"]


def test_a_language_menu_s_retry_in_one_language_is_said_once() -> None:
    """A retry prompt written in one language is said before that language's part,
    not read in the other language's voice; built-in retries exist in each."""
    d = Driver(LANGUAGE_MENU.replace('prompts: [{en: "Sorry.", zh: "对不起。"}]',
                                     'prompts: [{en: "Sorry."}]'))
    d.end_prompt()
    d.fire()
    retry = [(p.text, p.lang) for p in d.last(ev.Play).parts if isinstance(p, ev.SpeechPart)]
    assert retry == [
        ("Sorry.", "en"), ("For English, press 1.", "en"), ("中文服务请按2。", "zh")
    ]
    d = Driver(LANGUAGE_MENU.replace('prompts: [{en: "Sorry.", zh: "对不起。"}], ', ""))
    d.end_prompt()
    d.fire()
    langs = [p.lang for p in d.last(ev.Play).parts if isinstance(p, ev.SpeechPart)]
    assert langs == ["en", "en", "zh", "zh"]


def test_a_screen_shows_digits_together_that_the_voice_spells_out() -> None:
    flow = """
    start: ref
    nodes:
      ref: {type: set, values: {reference: "942776"}, next: done}
      done:
        type: say
        prompt: "Your reference is {{ reference | say_digits }}."
        next: bye
      bye: {type: hangup}
    """
    d = Driver(flow)
    assert d.texts(d.last(ev.Play)) == ["Your reference is 9 4 2 7 7 6."]
    assert d.session.cards == ["Your reference is 942776."]


@pytest.mark.parametrize(
    ("template", "expected", "goes_to"),
    [
        ("{{ false }}", False, "no"),
        ("{{ 1 > 2 }}", False, "no"),
        ("{{ true }}", True, "yes"),
        ("{{ '3' | int + 1 }}", 4, "yes"),
        ("False", "False", "yes"),  # plain text stays text (and any text is true)
        ("{{ 2 }} of {{ 3 }}", "2 of 3", "yes"),
    ],
)
def test_set_keeps_an_expressions_type(template: str, expected: object, goes_to: str) -> None:
    """`{{ false }}` is false, not the text "False", which a branch takes for true."""
    flow = f"""
    start: check
    nodes:
      check: {{type: set, values: {{verified: "{template}"}}, next: branch}}
      branch: {{type: branch, cases: [{{when: "verified", goto: "yes"}}], default: "no"}}
      "yes": {{type: hangup, prompt: "Yes."}}
      "no": {{type: hangup, prompt: "No."}}
    """
    d = Driver(flow)
    assert d.session.vars["verified"] == expected
    assert type(d.session.vars["verified"]) is type(expected)
    assert d.node == goes_to


def test_set_with_an_undefined_name_fails_the_call_as_text_would() -> None:
    flow = """
    start: check
    nodes:
      check: {type: set, values: {x: "{{ missing }}"}, next: bye}
      bye: {type: hangup}
    """
    d = Driver(flow)
    assert isinstance(d.last(ev.Fail), ev.Fail) and "missing" in d.last(ev.Fail).reason


def test_an_input_takes_keypad_keys_only() -> None:
    """A page can post any text, and inputs go into backends' URLs: an input takes
    what a keypad can send, with or without a pattern of its own."""
    d = Driver()
    pin = d.session.flow.nodes["pin"]
    assert isinstance(pin, m.Input) and pin.pattern is None
    assert Session.acceptable(pin, "1234") and Session.acceptable(pin, "1*34")
    for posted in ("../x", "12&a", "12 4", "\uff11\uff12\uff13\uff14", "12a4"):
        assert not Session.acceptable(pin, posted), posted
    # The terminator ends an entry on the keypad, so it is never in one: from a page
    # it would cut a backend's URL short ("/u/12#3/info" asks for /u/12).
    assert pin.terminator == "#" and not Session.acceptable(pin, "12#4")
    assert Session.acceptable(dataclasses.replace(pin, terminator=None), "12#4")
    loose = dataclasses.replace(pin, pattern=".+")  # a pattern that would take letters
    assert not Session.acceptable(loose, "ab12") and Session.acceptable(loose, "1234")


ROOT_MAIN = """
start: main
languages: [en]
human: person
nodes:
  main:
    type: menu
    prompt: "Root menu."
    options:
      - {key: 1, label: Into sub, goto: sub}
      - {key: 3, label: Hear it again, goto: again}
      - {key: 0, label: Person, goto: person}
  sub: {type: subflow, flow: csub, next: main}
  again: {type: say, prompt: "Here it is.", next: main}
  person: {type: transfer, queue: support}
"""

SUB_MAIN = """
start: main
languages: [en]
nodes:
  main:
    type: menu
    prompt: "Sub menu."
    options:
      - {key: 1, label: Return, goto: done}
  done: {type: return}
"""


def _two_mains() -> Session:
    flows = {"root": compile_flow(ROOT_MAIN, "root"), "csub": compile_flow(SUB_MAIN, "csub")}
    session = Session(flows["root"], CallInfo("call-2"), flows=flows.get, clock=lambda: 0.0)
    session.start()
    return session


def test_back_knows_a_subflow_s_main_from_its_caller_s() -> None:
    """Both flows call their first menu "main": the page's Back from the subflow's
    leads to the caller's, not to "no earlier menu"."""
    session = _two_mains()
    session.feed(ev.WebChoose("main", "1", session.entered))
    assert (session.flow.name, session.node.id) == ("csub", "main")
    assert session.can_go_back
    session.feed(ev.WebNavigate("back"))
    assert (session.flow.name, session.node.id) == ("root", "main")


def test_asking_where_a_person_is_forgets_no_place_back_leads_to() -> None:
    """A subflow without a human: the root's is the person. The page and the speech
    side ask on every turn; asking once emptied the history, so the page lost Back."""
    session = _two_mains()
    root = session.flow
    session.feed(ev.WebChoose("main", "1", session.entered))
    assert session.person_target() == (root, "person", [])
    assert session.can_go_back
    session.feed(ev.WebNavigate("back"))
    assert (session.flow.name, session.node.id) == ("root", "main")


def test_back_after_a_subflow_returned_goes_on_from_the_menu_it_returned_to() -> None:
    """main -> the subflow's menu -> (its own "Return") -> main again: the page's Back
    leads on from main, not into the subflow just left (it did, so Back went to and
    fro between the two)."""
    session = _two_mains()
    session.feed(ev.WebChoose("main", "1", session.entered))  # into the subflow
    session.feed(ev.WebChoose("main", "1", session.entered))  # its "Return"
    assert (session.flow.name, session.node.id) == ("root", "main")
    assert not session.can_go_back  # main was the first menu: nowhere before it
    session.feed(ev.WebChoose("main", "1", session.entered))
    assert session.can_go_back
    session.feed(ev.WebNavigate("back"))
    assert (session.flow.name, session.node.id) == ("root", "main")


def test_a_tap_from_another_visit_to_a_node_is_out_of_date() -> None:
    """A form carries the visit it was drawn at: a tap on the root's "main" page
    does not act on the subflow's "main", and a second tap (a double tap, another
    tab) does not act again once a loop brings the session back to the same menu."""
    session = _two_mains()
    drawn = session.entered
    session.feed(ev.WebChoose("main", "1", drawn))  # into the subflow's own "main"
    session.feed(ev.WebChoose("main", "1", drawn))  # the root's page, tapped again
    assert session.notice == "moved" and (session.flow.name, session.node.id) == ("csub", "main")

    session = _two_mains()
    drawn = session.entered
    out = session.feed(ev.WebChoose("main", "3", drawn))  # "hear it again": a say...
    said = next(a for a in out if isinstance(a, ev.Play))
    session.feed(ev.PromptFinished(said.play_id))  # ...then the same menu again
    assert session.node.id == "main" and session.entered != drawn
    session.feed(ev.WebChoose("main", "3", drawn))  # the double tap
    assert session.notice == "moved" and session.node.id == "main"
    heard = [e for e in session.trail if e.kind == "input" and e.data.get("source") == "web"]
    assert [e.data.get("refused") for e in heard] == [None, "moved"]
