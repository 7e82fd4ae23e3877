"""What the caller does on the visual IVR page, as the session sees it.

A tap on an option, a submitted form, back/home and a language switch arrive as
events like a key press does, and move the one session; when a call is up, the
voice side follows (the prompt that is playing stops, the new node is announced).
A tap on a page that is out of date (the call moved on meanwhile) changes nothing
and leaves a ``notice`` for the page, which then shows where the call is now.

"Talk to a person" goes to the ``human`` node of the flow the caller is in (a
subflow's own team first, else the root flow's): on a call, the transfer to a queue.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from engine.flow import model as m
from engine.session import events as ev

if TYPE_CHECKING:
    from engine.session.machine import Session


def handle_web(session: Session, event: ev.WebEvent) -> None:
    match event:
        case ev.WebChoose(node=node_id, key=key, at=at):
            _choose(session, node_id, key, at)
        case ev.WebSubmit(node=node_id, value=value, at=at):
            _submit(session, node_id, value, at)
        case ev.WebNavigate(where="human"):  # WebHuman
            _human(session)
        case ev.WebNavigate(where=where):
            _navigate(session, where)
        case ev.WebLanguage(lang=lang):
            _language(session, lang)


def _current(session: Session, node_id: str, kind: Any, value: str, at: int | None) -> bool:
    """The page's form is of the node the session is at, and of this visit to it."""
    moved = at is not None and at != session.entered
    if moved or session.node.id != node_id or not isinstance(session.node, kind):
        _refused(session, "moved", value, page=node_id)
        return False
    return True


MAX_REFUSED_KEPT = 50  # per journey: a script posting steps must not grow its trail


def _refused(session: Session, notice: str, value: str, **data: Any) -> None:
    """A step taken on the page that could not apply: recorded all the same (the
    first MAX_REFUSED_KEPT of a journey)."""
    session.notice = notice
    _keep_refused(session, value=value, refused=notice, **data)


def _keep_refused(session: Session, **data: Any) -> None:
    session.refused_on_web += 1
    if session.refused_on_web <= MAX_REFUSED_KEPT:
        session.record("input", source="web", **data)


def _choose(session: Session, node_id: str, key: str, at: int | None = None) -> None:
    node = session.node
    if not _current(session, node_id, m.Menu | m.Input, key, at):
        return
    assert isinstance(node, m.Menu | m.Input)
    option = session.option_for_key(key)
    if option is None:
        _refused(session, "unknown option", key)
        return
    session.interrupt()
    session.record("input", source="web", value=key, option=option.key, goto=option.goto)
    if option.lang is not None:
        session.set_language(option.lang)
    session.goto(option.goto)


def _submit(session: Session, node_id: str, value: str, at: int | None = None) -> None:
    node = session.node
    if not _current(session, node_id, m.Input, "*" * len(value.strip()), at):
        return
    assert isinstance(node, m.Input)
    value = keypad_entry(_letters_as_keys(node, value))
    if not value:  # Continue on an empty box: nothing to check, nothing to keep
        session.notice = "empty"
        return
    if not session.acceptable(node, value):
        _keep_refused(session, value=session.shown(node, value), var=node.var, valid=False)
        session.notice = "invalid"
        return
    session.interrupt()
    session.accept(node, value, source="web")


def _letters_as_keys(node: m.Input, typed: str) -> str:
    """The input's ``letter_keys`` (an ID card's X typed as X, pressed as *)."""
    if not node.letter_keys:
        return typed
    text = unicodedata.normalize("NFKC", typed)
    return "".join(node.letter_keys.get(c.upper(), c) for c in text)


_GROUPING = str.maketrans("", "", " -.()/\u00a0\u3000")  # "123 456", "555-0100"


def keypad_entry(typed: str) -> str:
    """What a person typed into an input's box, as the keypad would have sent it:
    full-width digits (U+FF10 to U+FF19, from a Chinese or Japanese keyboard) as ASCII, and
    the spaces, dashes and dots people group digits with left out, when what
    remains is digits, * and #; anything else as typed (the input says it is
    not right). A single dot is a decimal point ("5000.50" is not 500050): kept,
    so the input refuses it rather than take a hundred times the amount."""
    text = unicodedata.normalize("NFKC", typed).strip()
    if text.count(".") == 1:  # "5000.50", "1.5": a decimal point, not a grouping
        return text
    digits = text.translate(_GROUPING)
    return digits if digits and all(c in "0123456789*#" for c in digits) else text


def _navigate(session: Session, where: str) -> None:
    target = session.history_target(where)
    if target is None:
        _refused(session, "nowhere", where)
        return
    session.interrupt()
    session.record("input", source="web", value=where)
    session.jump(*target)


def _human(session: Session) -> None:
    target = session.person_target()
    if target is None:
        _refused(session, "no human", "human")
        return
    flow, human, stack = target
    session.interrupt()
    session.record("input", source="web", value="human", goto=human)
    session.jump(flow, human, stack)


def _language(session: Session, lang: str) -> None:
    if lang not in session.flow.languages or lang == session.lang:
        return
    session.record("input", source="web", value=lang, language=lang)
    session.set_language(lang)
    if session.listening:
        session.interrupt()
        session.jump(session.flow, session.node.id)
