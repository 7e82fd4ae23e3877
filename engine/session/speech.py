"""What the caller says, as the session sees it.

The media driver asks :func:`listen_spec` what the session listens for right now (a
grammar of the node's phrases in the caller's language, digits for an input, yes/no
while a choice is confirmed, and the node's end-pointing settings), and feeds back
:class:`~engine.session.events.SpeechStarted` when the caller begins to speak
(barge-in: the prompt stops, the no-input timer too) and
:class:`~engine.session.events.SpeechHeard` when the utterance is recognised.

A menu choice heard with a confidence below the node's ``min_confidence`` is read
back ("Did you say balance?") when the node allows it, otherwise it is a no-match.
While a choice is read back, "yes"/"no" and the keys 1/2 answer; silence is a
no-input. Digits said to an input node ("one two three", "一二三") become keys'
worth of digits and go through the same checks as typed ones; an input's own
read-back (``confirm: true``) is answered by voice as well as by keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.flow import model as m
from engine.session import events as ev
from engine.speech.digits import base_language, spoken_digits
from engine.speech.grammar import Grammar, normalise

if TYPE_CHECKING:
    from engine.session.machine import Session

YES_NO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("yes", "yeah", "correct", "that's right"), ("no", "nope", "wrong")),
    "zh": (("是", "是的", "对", "对的"), ("不", "不是", "不对")),
    "es": (("sí", "si", "correcto", "eso es", "claro"), ("no", "incorrecto")),
    "ko": (("네", "예"), ("아니요", "아니오")),
}

# Ways to ask for a person that a menu or input of a flow with a ``human`` hears
# when none of its own options offers one by voice: an input (an account number)
# has no option for it at all. Not added where an option already does: on the
# demo's menus, five more phrases in every grammar doubled the phrases heard wrong
# (benchmarks/bench_rejection.py: 69 of 504 to 138) and took off-topic speech taken
# for a choice from 333 of 1260 to 400. "human" alone is not one: at an input it took
# 7 of 126 off-topic sentences for a person, where the phrases of several words took
# none (bench_rejection --input-only).
PERSON_PHRASES: dict[str, tuple[str, ...]] = {
    "en": ("agent", "representative", "operator", "customer service", "talk to a person",
           "speak to someone", "talk to someone", "speak to a person", "real person"),
    "zh": ("人工", "人工服务", "转人工", "客服"),
    "es": ("agente", "operador", "representante", "hablar con una persona"),
    "ko": ("상담원", "상담원 연결", "상담사"),
}

_DID_YOU_SAY = {
    "en": "Did you say {label}? Say yes or press 1. Say no or press 2.",
    "zh": "您是说{label}吗？是请说“是”或按1，不是请说“不是”或按2。",
    "es": "¿Ha dicho {label}? Diga sí o pulse 1. Diga no o pulse 2.",
    "ko": "{label}, 맞습니까? 네 또는 1번, 아니요 또는 2번을 눌러 주세요.",
}


@dataclass(frozen=True, slots=True)
class Pending:
    """A spoken menu choice waiting for the caller's yes or no."""

    node: str
    key: str
    text: str
    confidence: float


@dataclass(slots=True)
class SpeechState:
    pending: Pending | None = None


@dataclass(frozen=True, slots=True)
class ListenSpec:
    """What to listen for now. ``token`` changes whenever the answer would: a media
    driver drops an utterance in progress when it does."""

    node: str
    lang: str
    grammar: Grammar
    listening: m.Listening
    token: tuple[str, str, str, int]


def _yes_no(lang: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return YES_NO.get(base_language(lang), YES_NO["en"])


def _phrases(options: tuple[m.Option, ...], lang: str) -> list[str]:
    out: list[str] = []
    for option in options:
        out.extend(option.phrases.get(lang) or option.phrases.get(base_language(lang)) or ())
    return out


def _person(session: Session) -> list[str]:
    """The built-in ways to ask for a person: where the flow has one to go to and
    no option of the node offers one by voice."""
    node = session.node
    if session.person_target() is None or not isinstance(node, m.Menu | m.Input):
        return []
    spoken = (o for o in session.options if _phrases((o,), session.lang))
    human = session.flow.human
    if any(
        o.goto == human or isinstance(session.flow.nodes.get(o.goto), m.Transfer)
        for o in spoken
    ):
        return []
    return list(PERSON_PHRASES.get(base_language(session.lang), ()))


def _person_while_confirming(session: Session) -> list[str]:
    """"Did you say balance?" "Agent!": a person, where the flow has one."""
    if session.person_target() is None:
        return []
    return list(PERSON_PHRASES.get(base_language(session.lang), ()))


def listen_spec(session: Session) -> ListenSpec | None:
    node = session.node
    if not session.listening or not isinstance(node, m.Menu | m.Input):
        return None
    lang = session.lang
    phase = session.phase
    confirming = phase == "confirm"
    if confirming:
        yes, no = _yes_no(lang)
        grammar = Grammar.build(lang, [*yes, *no, *_person_while_confirming(session)])
    elif isinstance(node, m.Input):
        digits = (node.min_length, node.max_length)
        grammar = Grammar.build(lang, _phrases(session.options, lang) + _person(session), digits)
    else:
        grammar = Grammar.build(lang, _phrases(session.options, lang) + _person(session))
    if grammar.empty:
        return None
    # Every move of the session (a node entered, a prompt queued, an input taken) adds
    # to the trail; an onset does not. So the trail's length marks one listening turn.
    token = (node.id, lang, "confirm" if confirming else "listen", len(session.trail))
    return ListenSpec(node.id, lang, grammar, node.listening, token)


def handle_speech(session: Session, event: ev.Event) -> ev.Event | None:
    """Take speech events, and keys while a spoken choice is read back; return the
    event for the session's own dispatch (maybe a spoken yes/no turned into 1/2),
    or None when it has been handled here."""
    state = session.speech
    pending = state.pending
    if pending is not None and (session.node.id != pending.node or session.phase != "confirm"):
        state.pending = pending = None
    match event:
        case ev.SpeechStarted(node=node_id):
            if node_id == session.node.id and session.listening:
                session.barge_in()
            return None
        case ev.SpeechHeard(node=node_id):
            if node_id != session.node.id or not session.listening:
                return None  # the call moved on (a key, the web page) meanwhile
            return _heard(session, event)
        case ev.Digit(key=key) if pending is not None:
            session.barge_in()
            _answer(session, pending, key, "key")
            return None
    return event


def _heard(session: Session, heard: ev.SpeechHeard) -> ev.Event | None:
    node = session.node
    assert isinstance(node, m.Menu | m.Input)
    session.barge_in()
    text = normalise(heard.text)
    if session.phase == "confirm":
        if text and text in _person_while_confirming(session):
            session.speech.pending = None
            _to_person(session, node, text, heard)
            return None
        yes, no = _yes_no(session.lang)
        key = "1" if text in yes else "2" if text in no else "?"
        session.record("input", source="speech", value=text, confidence=heard.confidence)
        pending = session.speech.pending
        if pending is not None:
            _answer(session, pending, key, "speech")
            return None
        if key != "?":
            return ev.Digit(key)
        _no_match(session, node, "", heard)
        return None
    option = next(
        (o for o in session.options if text and text in _normalised(o, session.lang)), None
    )
    if option is not None:
        if heard.confidence < node.min_confidence:
            if node.listening.confirm:
                _read_back(session, node, option, text, heard.confidence)
                return None
            _no_match(session, node, text, heard, reason="low confidence")
            return None
        _choose(session, option, text, heard.confidence)
        return None
    if text and text in _person(session):
        _to_person(session, node, text, heard)
        return None
    if isinstance(node, m.Input):
        if session.typed:
            _while_typing(session, node, text, heard)
            return None
        digits = spoken_digits(text, session.lang)
        if digits is not None and node.sensitive:
            session.record("input", source="speech", value="*" * len(digits),
                           confidence=heard.confidence, valid=False)
            session.retry("no_match", reason="said aloud", instead="type_it")
            return None
        if digits is not None:
            _digits(session, node, digits, heard.confidence)
            return None
    _no_match(session, node, text, heard)
    return None


def _to_person(
    session: Session, node: m.Menu | m.Input, text: str, heard: ev.SpeechHeard
) -> None:
    if heard.confidence < node.min_confidence:
        _no_match(session, node, text, heard, reason="low confidence")
        return
    target = session.person_target()
    assert target is not None  # the phrase is only in the grammar when there is one
    flow, human, stack = target
    session.record(
        "input", source="speech", value=text, confidence=heard.confidence, goto=human,
        person=True,
    )
    session.jump(flow, human, stack)


def _while_typing(session: Session, node: m.Input, text: str, heard: ev.SpeechHeard) -> None:
    """Keys half typed, then speech that is no choice: most likely a cough or a word
    to someone in the room, which a grammar of digits may still hear as digits.
    The keys stay, and the wait for the next one goes on; a no-match would throw
    away what the caller typed, and digits heard would replace it."""
    shown = "***" if node.sensitive and text else text
    session.record(
        "input", source="speech", value=shown, confidence=heard.confidence, matched=False,
        ignored="keys being typed",
    )
    session.keep_waiting()


def _normalised(option: m.Option, lang: str) -> set[str]:
    return {normalise(p) for p in _phrases((option,), lang)}


def _choose(session: Session, option: m.Option, text: str, confidence: float) -> None:
    session.record(
        "input",
        source="speech",
        value=text,
        confidence=confidence,
        option=option.key,
        goto=option.goto,
    )
    if option.lang is not None:
        session.set_language(option.lang)
    session.goto(option.goto)


def _no_match(
    session: Session, node: m.Menu | m.Input, text: str, heard: ev.SpeechHeard, reason: str = ""
) -> None:
    shown = "***" if isinstance(node, m.Input) and node.sensitive and text else text
    session.record(
        "input", source="speech", value=shown, confidence=heard.confidence, matched=False
    )
    # An empty text is still speech (the end-pointer heard some): nothing in the
    # node's grammar was recognised in it, or it could not be recognised at all.
    session.retry("no_match", reason=reason or ("not a choice here" if text else "not understood"))


def _read_back(
    session: Session, node: m.Menu | m.Input, option: m.Option, text: str, confidence: float
) -> None:
    session.record(
        "input", source="speech", value=text, confidence=confidence, option=option.key,
        confirm="asked",
    )
    session.speech.pending = Pending(node.id, option.key, text, confidence)
    lang = session.lang
    label = option.label.get(lang) or text
    template = _DID_YOU_SAY.get(base_language(lang), _DID_YOU_SAY["en"])
    session.ask((ev.SpeechPart(template.format(label=label), lang),))


def _answer(session: Session, pending: Pending, key: str, source: ev.InputSource) -> None:
    node = session.node
    assert isinstance(node, m.Menu | m.Input)
    session.speech.pending = None
    option = session.option_for_key(pending.key)
    if key == "1" and option is not None:
        _choose(session, option, pending.text, pending.confidence)
    elif key == "2":
        session.record(
            "input", source=source, value=key, confirm="re-enter", rejected=pending.text
        )
        session.listen_again()
    else:
        session.retry("no_match", reason="confirmation")


def _digits(session: Session, node: m.Input, digits: str, confidence: float) -> None:
    """Digits the caller said. A grammar of digits hears some digits in almost any
    speech ("I don't know" as 1 0 0 2 2 0), and even digits that were said come out
    wrong often enough on a phone line (six as eight, seven as one) that an account
    number or a PIN attempt should not be spent on them unheard: they are read back,
    and a yes (or 1) takes them. With ``confirm_speech: false`` (and no ``confirm``)
    the designer takes confident digits as heard, and the rest is a no-match."""
    shown = session.shown(node, digits)
    if not session.acceptable(node, digits):
        session.record("input", source="speech", value=shown, confidence=confidence, valid=False)
        session.retry("no_match", reason="invalid")
        return
    if not node.listening.confirm and confidence < node.min_confidence:
        session.record("input", source="speech", value=shown, confidence=confidence, valid=False)
        session.retry("no_match", reason="low confidence")
        return
    if node.listening.confirm or node.confirm:
        session.record(
            "input", source="speech", value=shown, confidence=confidence, confirm="asked"
        )
        session.confirm_digits(node, digits)
        return
    session.accept(node, digits, source="speech")
