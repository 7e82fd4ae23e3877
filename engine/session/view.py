"""What a screen shows of a session: the node the caller is at, in their language.

The visual IVR renders this (as HTML, and as JSON pushed to open pages); it is
built from the same compiled flow the voice side runs, so the two can't disagree.
"""

from __future__ import annotations

from typing import Any

from engine.flow import model as m
from engine.session.machine import Session


def _options(session: Session, options: tuple[m.Option, ...]) -> list[dict[str, Any]]:
    return [{"key": o.key, "label": o.label.get(session.lang), "lang": o.lang} for o in options]


def _node_view(session: Session) -> dict[str, Any]:
    node = session.node
    lang = session.lang
    view: dict[str, Any] = {"id": node.id, "type": node.type, "title": node.title.get(lang)}
    if isinstance(node, m.Menu):
        view["options"] = _options(session, session.options)
    elif isinstance(node, m.Input):
        view["options"] = _options(session, session.options)
        view["input"] = {
            "min_length": node.min_length,
            "max_length": node.max_length,
            "sensitive": node.sensitive,
            # What was typed on the call so far: how many keys, and (unless it is
            # secret) which.
            "typed": "" if node.sensitive else session.typed,
            "typed_count": len(session.typed),
            "hint": node.hint.get(lang),
            "letters": bool(node.letter_keys),  # the page's keyboard needs letters
        }
        view["label"] = _static_text(session, node.prompt)
    elif isinstance(node, m.Http):
        view["waiting"] = True
        view["hold"] = _static_text(session, node.hold_prompt)
    elif isinstance(node, m.Transfer):
        view["queue"] = node.queue
    return view


def _static_text(session: Session, prompt: m.Prompt) -> str:
    parts = prompt.parts(session.lang, session.flow.default_language)
    return " ".join(p.text for p in parts if p.text and "{" not in p.text)


def describe(session: Session) -> dict[str, Any]:
    """A JSON-ready picture of the session for the page."""
    return {
        "journey": session.call.call_id,
        "flow": session.flow.name,
        "flow_title": session.flow.title.get(session.lang),
        "lang": session.lang,
        "languages": list(session.flow.languages),
        "node": _node_view(session),
        "cards": list(session.cards),
        "notice": session.notice,
        "done": session.done,
        "outcome": session.outcome,
        "version": len(session.trail),
        "entered": session.entered,
    }
