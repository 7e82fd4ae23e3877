"""Grammars built from what a node offers: its phrases, and digits for inputs.

A :class:`Grammar` is the recogniser's view (which word sequences may be heard);
recognition is restricted to it, so a caller is understood as one of the node's
phrases or not at all. Phrases are normalised the same way everywhere (lower case,
punctuation dropped, single spaces), so what a designer writes, what the recogniser
returns and what the session matches compare equal.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from engine.speech.digits import GRAMMAR_WORDS, base_language

_JSGF_WORD = re.compile(r"^[a-z0-9'][a-z0-9'.-]*$")


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, one space between words."""
    kept = [
        " " if unicodedata.category(c)[0] in "PSZ" and c != "'" else c for c in text.lower()
    ]
    return " ".join("".join(kept).split())


MAX_SPELLED_DIGITS = 12  # longer inputs get an open-ended run of digits


@dataclass(frozen=True, slots=True)
class Grammar:
    """What may be heard: any one of ``phrases``, or (``digits``: the fewest and most
    digits) a run of digit words."""

    lang: str
    phrases: tuple[str, ...]
    digits: tuple[int, int] | None = None

    @classmethod
    def build(
        cls,
        lang: str,
        phrases: list[str] | tuple[str, ...],
        digits: tuple[int, int] | None = None,
    ) -> Grammar:
        unique = sorted({p for p in (normalise(x) for x in phrases) if p})
        return cls(lang, tuple(unique), digits)

    @property
    def empty(self) -> bool:
        return not self.phrases and not self.digits

    def digit_words(self) -> tuple[str, ...]:
        return GRAMMAR_WORDS.get(base_language(self.lang), ()) if self.digits else ()

    def digit_rule(self) -> str:
        """JSGF for the run of digits: exactly as many as the input takes when that
        is few (a recogniser left free inserts digits), else one or more."""
        assert self.digits is not None
        low, high = max(1, self.digits[0]), self.digits[1]
        if high > MAX_SPELLED_DIGITS or high < low:
            return "<digit>+"
        return " ".join(["<digit>"] * low + ["[ <digit>"] * (high - low) + ["]"] * (high - low))

    def digit_only(self, text: str) -> bool:
        words = normalise(text).split()
        return self.digits is not None and bool(words) and set(words) <= set(self.digit_words())

    def decisive(self, text: str) -> bool:
        """True when ``text`` is one of the phrases and no longer phrase begins with
        it: hearing more could not change the choice (the early decision)."""
        text = normalise(text)
        if self.digits is not None and self.digit_only(text):
            return len(text.split()) >= self.digits[1]  # all the digits the input takes
        if text not in self.phrases:
            return False
        return not any(p.startswith(text + " ") for p in self.phrases)


def jsgf(grammar: Grammar, words: set[str] | None = None) -> str:
    """The grammar in JSGF for pocketsphinx; phrases with words outside ``words``
    (the dictionary) are left out, as the decoder would refuse the whole grammar."""
    usable = [
        p
        for p in grammar.phrases
        if all(_JSGF_WORD.match(w) and (words is None or w in words) for w in p.split())
    ]
    rules = [f"( {p} )" for p in usable]
    lines = ["#JSGF V1.0;", "grammar ivr;"]
    digit_words = [w for w in grammar.digit_words() if words is None or w in words]
    if digit_words:
        lines.append(f"<digit> = {' | '.join(digit_words)};")
        rules.append(f"( {grammar.digit_rule()} )")
    if not rules:
        return ""
    lines.append(f"public <say> = {' | '.join(rules)};")
    return "\n".join(lines) + "\n"


def word_list(grammar: Grammar) -> list[str]:
    """The grammar as Vosk takes it: phrases, and each digit word on its own (Vosk
    lets a caller say several entries in a row, which makes digit strings)."""
    return [*grammar.phrases, *grammar.digit_words()]
