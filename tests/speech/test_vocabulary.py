"""The validator's check for phrases a speech model cannot recognise."""

from __future__ import annotations

import textwrap

from engine.flow.parse import parse_flow
from engine.flow.validate import check_phrases
from engine.speech.service import SpeechService

FLOW = """
languages: [en, ko]
start: m
human: p
nodes:
  m:
    type: menu
    prompt: {en: "Say it.", ko: "말씀하세요."}
    options:
      - key: 1
        label: One
        phrases: {en: [check my balanse, agent], ko: [계좌 이체, 없는단어]}
        goto: p
  p: {type: transfer, queue: support}
"""


def test_unknown_words_are_reported_where_the_phrases_are() -> None:
    flow, problems = parse_flow(textwrap.dedent(FLOW), "f.yaml", "f")
    assert flow is not None, problems
    service = SpeechService()
    found = [str(p) for p in check_phrases(flow, service.unknown_words)]
    assert found == [
        "f.yaml:12:19: warning: menu 'm' option '1': the en speech model cannot recognise "
        "'balanse' in 'check my balanse' (callers saying it will not be understood; "
        "use other words)",
        "f.yaml:12:50: warning: menu 'm' option '1': the ko speech model cannot recognise "
        "'없는단어' in '없는단어' (callers saying it will not be understood; use other words)",
    ]
    service.close()


def test_languages_without_a_model_are_not_checked() -> None:
    service = SpeechService()
    assert service.unknown_words("zh", "余额") is None
    assert service.unknown_words("en", "Check my balance!") == []
    service.close()
