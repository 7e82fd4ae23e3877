"""Recognition accuracy on a set of synthesised utterances (no call involved).

Each utterance is rendered by espeak-ng at 8 kHz and passed through G.711 mu-law, as
a phone call would carry it, then recognised with the node's grammar by the backend
under test, exactly as a call's utterance is (same front end, same grammar).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from engine.media.resample import float_to_pcm, pcm_to_float, read_audio_8k
from engine.prompts import VOICES, Voice
from engine.speech.grammar import Grammar, normalise
from engine.speech.recognizer import Recognizer

MU = 255.0
LEAD_S = 0.3  # silence around each utterance, as the end-pointer's pre-roll keeps


@dataclass(frozen=True, slots=True)
class Trial:
    backend: str
    lang: str
    said: str
    expected: str
    heard: str
    confidence: float

    @property
    def right(self) -> bool:
        return self.heard == self.expected


def synthesise(text: str, lang: str, path: str) -> bytes:
    """``text`` spoken by espeak-ng, as 8 kHz mu-law-decoded PCM."""
    voice = VOICES.get(lang, Voice(lang))
    speak = ["espeak-ng", "-v", voice.name, "-s", str(voice.words_per_minute), "-w", path, text]
    subprocess.run(speak, check=True, capture_output=True)
    return on_the_line(read_audio_8k(path))


def on_the_line(pcm: bytes) -> bytes:
    """8 kHz PCM as a call carries it: through mu-law, with the end-pointer's
    pre-roll of silence before and after."""
    lead = bytes(int(LEAD_S * 8000) * 2)
    return lead + mu_law(pcm) + lead


def mu_law(pcm: bytes) -> bytes:
    """Encode to G.711 mu-law and back (8-bit companding noise)."""
    x = pcm_to_float(pcm) / 32768.0
    encoded = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    quantised = np.round(encoded * 127.0) / 127.0
    decoded = np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(MU)) / MU
    return float_to_pcm((decoded * 32768.0).astype(np.float32))


def load_sets(path: str) -> dict[str, list[dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        data: dict[str, list[dict[str, Any]]] = yaml.safe_load(handle)
    return data


def _meaning(grammar: Grammar, text: str) -> str:
    """What the session takes from ``text``: digits as digits ("double five" and
    "five five" are both 55), anything else as its normalised words."""
    return grammar.spoken_digits(text) or normalise(text)


def run_set(
    backend: str, recognizer: Recognizer, sets: list[dict[str, Any]], scratch: str
) -> list[Trial]:
    trials: list[Trial] = []
    for entry in sets:
        lang = str(entry["lang"])
        digits = entry.get("digits")
        grammar = Grammar.build(
            lang, [str(p) for p in entry["phrases"]], tuple(digits) if digits else None
        )
        for said, expected in entry["say"].items():
            pcm = synthesise(str(said), lang, scratch)
            hypothesis = recognizer.recognize(pcm, grammar)
            heard = hypothesis.text if hypothesis else ""
            confidence = hypothesis.confidence if hypothesis else 0.0
            trials.append(
                Trial(
                    backend, lang, str(said), _meaning(grammar, str(expected)),
                    _meaning(grammar, heard), confidence,
                )
            )
    return trials
