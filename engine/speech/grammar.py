"""Grammars built from what a node offers: its phrases, and digits for inputs.

A :class:`Grammar` is the recogniser's view (which word sequences may be heard);
recognition is restricted to it, so a caller is understood as one of the node's
phrases or not at all. Phrases are normalised the same way everywhere (lower case,
punctuation dropped, single spaces), so what a designer writes, what the recogniser
returns and what the session matches compare equal.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from engine.speech.digits import GRAMMAR_WORDS, REPEAT_WORDS, base_language, spoken_digits


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, one space between words."""
    kept = [
        " " if unicodedata.category(c)[0] in "PSZ" and c != "'" else c for c in text.lower()
    ]
    return " ".join("".join(kept).split())


MAX_SPELLED_DIGITS = 32  # longer inputs get an open-ended run of digits


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
        """The words a run of digits is made of: digit words, and the words that
        repeat a digit ("double", "triple") where the language has them."""
        if not self.digits:
            return ()
        lang = base_language(self.lang)
        return GRAMMAR_WORDS.get(lang, ()) + tuple(REPEAT_WORDS.get(lang, {}))

    def spoken_digits(self, text: str) -> str | None:
        """The digits ``text`` says in this grammar's words, or None."""
        words = normalise(text).split()
        if self.digits is None or not words or not set(words) <= set(self.digit_words()):
            return None
        return spoken_digits(" ".join(words), self.lang)

    def digit_only(self, text: str) -> bool:
        return self.spoken_digits(text) is not None

    def decisive(self, text: str) -> bool:
        """True when ``text`` is one of the phrases and no longer phrase begins with
        it: hearing more could not change the choice (the early decision)."""
        text = normalise(text)
        digits = self.spoken_digits(text)
        if self.digits is not None and digits is not None:
            return len(digits) >= self.digits[1]  # all the digits the input takes
        if text not in self.phrases:
            return False
        return not any(p.startswith(text + " ") for p in self.phrases)


Arc = tuple[int, int, str | None]


WeightedArc = tuple[int, int, float] | tuple[int, int, float, str]


@dataclass(frozen=True, slots=True)
class Fsg:
    """A finite-state grammar: state 0 is the start, state 1 the end, and each arc
    (from, to, word) is heard as that word (``None``: taken without a word).

    ``garbage`` words (one per phone) make a second way from start to end: a loop
    of any of them. A grammar alone has no "none of these": noise or an off-topic
    sentence comes out as the phrase it least mismatches, often with a high
    confidence. With the loop, such audio is heard as garbage (a no-match), while a
    phrase that was said still scores better through the grammar, because the loop
    pays to enter and per word."""

    arcs: tuple[Arc, ...]
    garbage: tuple[str, ...] = ()

    START = 0
    FINAL = 1
    # Probabilities as create_fsg takes them: it applies no language weight (lw).
    # The entry must stay above the decoder's word beam (wbeam, 7e-29), or the loop
    # is pruned as soon as it is entered and never wins. Each word (phone) pays, so
    # a phrase that was said fits better through the grammar than spelt out in
    # phones. Chosen on synthesised calls as the most rejecting value that lost no
    # in-grammar utterance on the tuning half; 1e-10 rejects more and loses one or
    # two phrases in three hundred.
    GARBAGE_ENTRY = 1e-25
    GARBAGE_WORD = 1e-12

    def weighted(self) -> list[WeightedArc]:
        """The arcs with probabilities, as pocketsphinx takes them (no word: a
        3-tuple). The ways out of a state are equally likely, so each phrase, and
        the run of digits, weigh the same at the start; the garbage loop comes on
        top, with its own (small) probabilities."""
        ways: dict[int, int] = {}
        for source, _, _ in self.arcs:
            ways[source] = ways.get(source, 0) + 1
        weighted: list[WeightedArc] = [
            (a, b, 1.0 / ways[a]) if word is None else (a, b, 1.0 / ways[a], word)
            for a, b, word in self.arcs
        ]
        return weighted + self._garbage_loop()

    def _garbage_loop(self) -> list[WeightedArc]:
        """start -> loop -(any garbage word)-> back -> loop again, or the end."""
        if not self.garbage:
            return []
        loop = 1 + max(max(a, b) for a, b, _ in self.arcs)
        back = loop + 1
        return [
            (Fsg.START, loop, Fsg.GARBAGE_ENTRY),
            *((loop, back, Fsg.GARBAGE_WORD, word) for word in self.garbage),
            (back, loop, 1.0),
            (back, Fsg.FINAL, 1.0),
        ]


def fsg(grammar: Grammar, words: set[str] | None = None) -> Fsg | None:
    """The grammar as a finite-state grammar for pocketsphinx, or None when nothing
    is left of it. Phrases with words outside ``words`` (the dictionary) are left
    out, as the decoder would refuse the whole grammar.

    A run of digits counts its digits exactly, "double five" being two: a state per
    count, so a 16-digit card number stays a few hundred arcs. (In JSGF the same
    count needs rules that refer to each other, which the decoder expands into a
    tree: 1.2 s and most of a gigabyte for 12 digits.)"""
    arcs: list[Arc] = []
    states = iter(range(2, 1 << 30))

    def chain(source: int, target: int, phrase: list[str]) -> None:
        for word in phrase[:-1]:
            state = next(states)
            arcs.append((source, state, word))
            source = state
        arcs.append((source, target, phrase[-1]))

    for phrase in grammar.phrases:
        if all(words is None or w in words for w in phrase.split()):
            chain(Fsg.START, Fsg.FINAL, phrase.split())
    lang = base_language(grammar.lang)
    digits = [w for w in GRAMMAR_WORDS.get(lang, ()) if words is None or w in words]
    repeats = {
        w: n for w, n in REPEAT_WORDS.get(lang, {}).items() if words is None or w in words
    }
    if grammar.digits and digits:
        low, high = max(1, grammar.digits[0]), grammar.digits[1]
        open_ended = high > MAX_SPELLED_DIGITS or high < low
        # counts[k]: k digits heard so far. An open-ended run has two: none yet, and
        # one or more (which loops on itself).
        counts = [next(states) for _ in range(2 if open_ended else high + 1)]
        steps = {1: digits} | {n: [word] for word, n in repeats.items()}
        arcs.append((Fsg.START, counts[0], None))
        for k, source in enumerate(counts):
            for n, first in steps.items():
                target = 1 if open_ended else k + n
                if target >= len(counts):
                    continue
                for word in first:
                    if n == 1:
                        arcs.append((source, counts[target], word))
                    else:  # "double": any digit next, counted n times
                        middle = next(states)
                        arcs.append((source, middle, word))
                        arcs.extend((middle, counts[target], d) for d in digits)
            if k >= (1 if open_ended else low):
                arcs.append((source, Fsg.FINAL, None))
    return Fsg(tuple(arcs)) if arcs else None


def word_list(grammar: Grammar) -> list[str]:
    """The grammar as Vosk takes it: phrases, and each digit word on its own (Vosk
    lets a caller say several entries in a row, which makes digit strings)."""
    return [*grammar.phrases, *grammar.digit_words()]
