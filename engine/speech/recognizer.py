"""The recogniser interface: audio and a grammar in, a hypothesis out.

A backend is blocking code (it runs in the pool of :mod:`engine.speech.service`) and
must be safe to call from several worker threads at once. It never raises for what
a caller says: audio that matches nothing in the grammar gives ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine.speech.grammar import Grammar


class SpeechError(Exception):
    """A backend cannot work (model missing, package not installed)."""


@dataclass(frozen=True, slots=True)
class Hypothesis:
    text: str  # normalised words, as the grammar spells them
    confidence: float  # 0..1


class Recognizer(Protocol):
    name: str

    def load(self) -> None:
        """Load the model now (at start-up), not on the first caller's time."""

    def recognize(self, pcm: bytes, grammar: Grammar) -> Hypothesis | None:
        """``pcm``: 8 kHz 16-bit mono. None when nothing in the grammar was heard."""

    def unknown_words(self, phrase: str) -> list[str]:
        """Words of ``phrase`` that the model's vocabulary cannot recognise."""
