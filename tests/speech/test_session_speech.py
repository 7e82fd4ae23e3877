"""How the session takes speech: events in memory, no Asterisk, no recogniser."""

from __future__ import annotations

import textwrap
from typing import Any

from engine.flow.parse import parse_flow
from engine.session import events as ev
from engine.session.machine import CallInfo, Session
from engine.session.speech import PERSON_PHRASES, listen_spec

FLOW = """
languages: [en, zh]
start: main
human: agent
nodes:
  main:
    type: menu
    prompt: {en: "Main menu.", zh: "主菜单。"}
    min_confidence: 0.6
    end_silence: 0.8
    options:
      - key: 1
        label: {en: your balance, zh: 余额}
        phrases: {en: [balance, check my balance], zh: [余额]}
        goto: code
      - {key: 0, label: {en: a person, zh: 人工}, phrases: {en: [agent]}, goto: agent}
    no_match: {max: 1, prompts: ["Sorry."], goto: agent}
  code:
    type: input
    prompt: "Your code."
    var: code
    min_length: 4
    max_length: 4
    options: [{key: "*", label: Back, phrases: {en: [go back]}, goto: main}]
    next: bye
  strict:
    type: menu
    prompt: "Strict."
    confirm_speech: false
    options:
      - {key: 1, label: One, phrases: {en: [one thing]}, goto: bye}
  quick_code:
    type: input
    prompt: "Your code, quickly."
    var: code
    min_length: 4
    max_length: 4
    confirm_speech: false
    options: [{key: "*", label: Back, phrases: {en: [go back]}, goto: main}]
    next: bye
  pin:
    type: input
    prompt: "Your PIN."
    var: pin
    min_length: 4
    max_length: 4
    sensitive: true
    next: bye
  bye: {type: hangup, prompt: "Bye."}
  agent: {type: transfer, queue: support}
"""


class Driver:
    def __init__(self, lang: str | None = None) -> None:
        flow, problems = parse_flow(textwrap.dedent(FLOW), "s.yaml", "s")
        assert flow is not None, problems
        self.session = Session(flow, CallInfo("c1", lang=lang), clock=lambda: 0.0)
        self.actions: list[ev.Action] = list(self.session.start())

    def feed(self, event: ev.Event) -> list[ev.Action]:
        out = self.session.feed(event)
        self.actions.extend(out)
        return out

    def hear(self, text: str, confidence: float = 0.9) -> list[ev.Action]:
        return self.feed(ev.SpeechHeard(self.session.node.id, text, confidence))

    def last(self, kind: type[Any]) -> Any:
        return next(a for a in reversed(self.actions) if isinstance(a, kind))

    def inputs(self) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.session.trail if e.kind == "input"]


def test_listen_spec_follows_the_node_and_language() -> None:
    d = Driver()
    spec = listen_spec(d.session)
    assert spec is not None
    person = set(PERSON_PHRASES["en"])  # only where no option offers a person by voice
    assert spec.grammar.phrases == ("agent", "balance", "check my balance")
    assert spec.listening.end_silence_s == 0.8 and spec.grammar.digits is None
    d.hear("balance")
    spec = listen_spec(d.session)
    assert spec is not None and spec.node == "code"
    assert spec.grammar.digits == (4, 4) and set(spec.grammar.phrases) == {"go back"} | person
    zh = listen_spec(Driver(lang="zh").session)
    assert zh is not None and zh.lang == "zh"
    assert set(zh.grammar.phrases) == {"余额"} | set(PERSON_PHRASES["zh"])


def test_speech_onset_stops_the_prompt_and_the_words_choose() -> None:
    d = Driver()
    assert d.feed(ev.SpeechStarted("main")) == [ev.StopPlayback()]
    d.hear("check my balance", 0.93)
    assert d.session.node.id == "code"
    assert d.inputs()[0] == {
        "source": "speech", "value": "check my balance", "confidence": 0.93, "option": "1",
        "goto": "code",
    }


def test_an_utterance_for_a_node_already_left_is_ignored() -> None:
    d = Driver()
    d.feed(ev.Digit("1"))
    assert d.feed(ev.SpeechHeard("main", "agent", 0.9)) == []
    assert d.session.node.id == "code"


def test_unrecognised_speech_is_a_no_match() -> None:
    d = Driver()
    d.hear("", 0.0)
    retry = [e for e in d.session.trail if e.kind == "retry"]
    assert retry[0].data["retry"] == "no_match" and retry[0].data["reason"] == "not understood"
    assert d.last(ev.Play).parts[0].text == "Sorry."


def test_low_confidence_is_read_back_and_yes_accepts() -> None:
    d = Driver()
    d.hear("balance", 0.4)
    assert d.session.phase == "confirm" and d.session.node.id == "main"
    assert d.last(ev.Play).parts[0].text.startswith("Did you say your balance?")
    spec = listen_spec(d.session)
    assert spec is not None and "yes" in spec.grammar.phrases
    d.hear("yes", 0.8)
    assert d.session.node.id == "code"
    assert d.inputs()[-1]["option"] == "1"


def test_a_read_back_answered_with_a_person_s_name_goes_to_one() -> None:
    """"Did you say your balance?" "Representative!" was a no-match: only yes and no
    were listened for."""
    d = Driver()
    d.hear("balance", 0.4)
    spec = listen_spec(d.session)
    assert spec is not None and "representative" in spec.grammar.phrases
    d.hear("representative", 0.8)
    assert d.session.node.id == "agent" and d.session.speech.pending is None
    assert d.inputs()[-1]["person"] is True


def test_a_read_back_answered_no_by_key_asks_again() -> None:
    d = Driver()
    d.hear("agent", 0.3)
    d.feed(ev.Digit("2"))  # not option 2 of the menu: "no"
    assert d.session.node.id == "main" and d.session.phase == "prompt"
    assert d.last(ev.Play).parts[0].text == "Main menu."
    d.feed(ev.Digit("1"))  # now a menu key again
    assert d.session.node.id == "code"


def test_silence_during_a_read_back_is_no_input() -> None:
    d = Driver()
    d.hear("agent", 0.3)
    d.feed(ev.PromptFinished(d.last(ev.Play).play_id))
    d.feed(ev.TimerFired(d.last(ev.StartTimer).timer_id))
    assert [e.data["retry"] for e in d.session.trail if e.kind == "retry"] == ["no_input"]
    d.feed(ev.Digit("1"))  # a menu key again, not "yes" to the old question
    assert d.session.node.id == "code" and d.session.speech.pending is None


def test_without_read_back_low_confidence_is_no_match() -> None:
    d = Driver()
    d.session.jump(d.session.flow, "strict")
    d.hear("one thing", 0.2)
    retry = [e for e in d.session.trail if e.kind == "retry"]
    assert retry[-1].data["reason"] == "low confidence"


def test_spoken_digits_are_read_back_and_a_yes_takes_them() -> None:
    d = Driver()
    d.hear("balance")
    d.hear("one two three four", 0.9)
    assert d.session.phase == "confirm" and "code" not in d.session.vars
    assert d.last(ev.Play).parts[0].text.startswith("I heard 1 2 3 4. If that is right")
    assert d.inputs()[-1] == {
        "source": "speech", "value": "1234", "confidence": 0.9, "confirm": "asked"
    }
    spec = listen_spec(d.session)
    assert spec is not None and "yes" in spec.grammar.phrases and spec.grammar.digits is None
    d.hear("yes", 0.8)
    assert d.session.vars["code"] == "1234" and d.session.node.id == "bye"
    assert d.inputs()[-1]["source"] == "speech" and d.inputs()[-1]["valid"]


def test_spoken_digits_refused_are_asked_for_again() -> None:
    d = Driver()
    d.hear("balance")
    d.hear("one three one eight", 0.95)  # "what is the weather like today"
    d.feed(ev.Digit("2"))
    assert d.session.node.id == "code" and "code" not in d.session.vars
    assert d.inputs()[-1] == {
        "source": "key", "value": "2", "confirm": "re-enter", "rejected": "1318"
    }
    assert d.last(ev.Play).parts[0].text == "Your code."
    for key in "4321":
        d.feed(ev.Digit(key))
    assert d.session.vars["code"] == "4321" and d.inputs()[-1]["source"] == "key"


def test_silence_at_a_spoken_read_back_asks_it_again() -> None:
    d = Driver()
    d.hear("balance")
    d.hear("one two three four", 0.9)
    d.feed(ev.PromptFinished(d.last(ev.Play).play_id))
    d.feed(ev.TimerFired(d.last(ev.StartTimer).timer_id))
    assert d.last(ev.Play).parts[0].text.startswith("I heard 1 2 3 4.")
    d.feed(ev.Digit("1"))
    assert d.session.vars["code"] == "1234" and d.inputs()[-1]["source"] == "speech"


def test_without_read_back_confident_digits_are_taken_as_heard() -> None:
    d = Driver()
    d.session.jump(d.session.flow, "quick_code")
    d.hear("one two three four", 0.9)
    assert d.session.vars["code"] == "1234" and d.session.node.id == "bye"
    d = Driver()
    d.session.jump(d.session.flow, "quick_code")
    d.hear("four three two one", 0.3)
    assert "code" not in d.session.vars
    assert [e.data["reason"] for e in d.session.trail if e.kind == "retry"] == ["low confidence"]


def test_a_pin_said_aloud_is_not_taken_and_the_keypad_is_asked_for() -> None:
    d = Driver()
    d.session.jump(d.session.flow, "pin")
    d.hear("one two three four", 0.95)
    assert "pin" not in d.session.vars and d.session.phase != "confirm"
    assert d.inputs()[-1] == {
        "source": "speech", "value": "****", "confidence": 0.95, "valid": False
    }
    retry = [e.data for e in d.session.trail if e.kind == "retry"]
    assert retry == [{"retry": "no_match", "count": 1, "max": 3, "reason": "said aloud"}]
    texts = [p.text for p in d.last(ev.Play).parts]
    assert texts == ["For your security, please type it on your keypad.", "Your PIN."]
    for key in "1234":
        d.feed(ev.Digit(key))
    assert d.session.vars["pin"] == "1234"


def test_spoken_digits_of_the_wrong_length_are_a_no_match() -> None:
    d = Driver()
    d.hear("balance")
    d.hear("one two", 0.9)
    assert d.inputs()[-1] == {"source": "speech", "value": "12", "confidence": 0.9, "valid": False}


def test_a_spoken_shortcut_on_an_input() -> None:
    d = Driver()
    d.hear("balance")
    d.hear("go back")
    assert d.session.node.id == "main"


def test_zh_phrases() -> None:
    d = Driver(lang="zh")
    d.hear("余额")
    assert d.session.node.id == "code"


def test_speech_that_is_no_entry_keeps_the_keys_half_typed() -> None:
    """A cough or a word to someone else after "12": the keys stay, the wait for the
    next key starts again, and the next keys complete the entry."""
    d = Driver()
    d.hear("balance")
    d.feed(ev.Digit("1"))
    d.feed(ev.Digit("2"))
    d.feed(ev.SpeechStarted("code"))
    assert isinstance(d.actions[-1], ev.CancelTimer)  # speech stops the wait
    out = d.hear("", 0.0)
    assert d.session.typed == "12" and not [e for e in d.session.trail if e.kind == "retry"]
    assert d.inputs()[-1]["ignored"] == "keys being typed"
    timers = [a for a in out if isinstance(a, ev.StartTimer)]
    assert [t.seconds for t in timers] == [5.0]  # the inter-digit wait, started again
    d.feed(ev.Digit("3"))
    d.feed(ev.Digit("4"))
    assert d.session.vars["code"] == "1234" and d.session.node.id == "bye"


def test_digits_heard_while_typing_do_not_replace_the_keys() -> None:
    d = Driver()
    d.hear("balance")
    d.feed(ev.Digit("1"))
    d.hear("one three one eight", 0.9)  # the grammar's best guess at a word in the room
    assert d.session.typed == "1" and "code" not in d.session.vars
    d.hear("go back")  # a choice is still a choice
    assert d.session.node.id == "main"


def test_speech_that_is_no_entry_before_any_key_is_a_no_match() -> None:
    d = Driver()
    d.hear("balance")
    d.hear("", 0.0)
    assert [e.data["retry"] for e in d.session.trail if e.kind == "retry"] == ["no_match"]


def test_asking_for_a_person_in_other_words_at_an_input() -> None:
    """An input has no option for a person: the built-in ways to ask reach the flow's
    person, recorded as the caller's words; also with keys half typed."""
    d = Driver()
    d.hear("balance")
    d.hear("representative", 0.8)
    assert d.session.node.id == "agent" and d.session.outcome == "transfer:support"
    assert d.inputs()[-1] == {
        "source": "speech", "value": "representative", "confidence": 0.8, "goto": "agent",
        "person": True,
    }
    d = Driver()
    d.hear("balance")
    d.feed(ev.Digit("1"))
    d.hear("operator", 0.9)
    assert d.session.node.id == "agent"


def test_a_node_s_own_phrase_comes_before_the_built_in_ones() -> None:
    d = Driver()
    d.hear("agent", 0.9)  # option 0's own phrase
    assert d.inputs()[-1]["option"] == "0" and "person" not in d.inputs()[-1]


def test_a_flow_without_a_person_does_not_listen_for_one() -> None:
    flow, problems = parse_flow(
        textwrap.dedent("""
        start: rate
        nodes:
          rate:
            type: menu
            prompt: "Rate us."
            options: [{key: 1, label: Good, phrases: {en: [good]}, goto: bye}]
          bye: {type: hangup}
        """),
        "r.yaml", "r",
    )
    assert flow is not None, problems
    session = Session(flow, CallInfo("c2"), clock=lambda: 0.0)
    session.start()
    spec = listen_spec(session)
    assert spec is not None and spec.grammar.phrases == ("good",)
