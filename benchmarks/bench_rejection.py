"""How often pocketsphinx takes what a caller did not offer for a choice, and how
often it loses one they did: the demo's English menus, offline.

Each utterance is synthesised by espeak-ng (several voices and speeds), given the
pre-roll and end-of-speech silence a call's utterance has, noise where asked (white
at 15 dB below the speech, or three other voices talking at 10 dB below), and passed
through mu-law, then recognised with the menu's grammar exactly as on a call. In
grammar: each menu's own phrases, and each wrapped in the words callers put around a
choice ("balance please", "I want pay my bill", "um agent"). Out of grammar:
off-topic sentences and nonsense, against every menu.

Digits too: an input of six digits (the demo's account number), hearing random
six-digit numbers, the same off-topic sentences, and the built-in ways to ask for a
person (``PERSON_PHRASES``, which an input hears). Digits fit almost any speech,
and are misheard often enough that the engine reads spoken digits back before it
uses them; this table shows how much that read-back has to catch.

Each utterance is decoded once; the table shows the answer with and without the last
check (``speech_called_silence``: speech the best path calls silence is a no-match),
so a change to either can be judged on the same decodes.

    .venv/bin/python -m benchmarks.bench_rejection              # about 3 minutes
    .venv/bin/python -m benchmarks.bench_rejection --input-only # the input alone
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from unittest import mock

import numpy as np
import yaml

from engine.media.resample import read_audio_8k
from engine.session.speech import PERSON_PHRASES
from engine.speech import sphinx_backend
from engine.speech.accuracy import mu_law
from engine.speech.digits import spoken_digits
from engine.speech.grammar import Grammar
from engine.speech.sphinx_backend import SphinxRecognizer, speech_called_silence

MENUS = {  # the demo's English menus (flows/service_line.yaml)
    "main": ["balance", "check my balance", "pay my bill", "bill", "lost card", "stolen card",
             "text me", "send me a link", "agent", "talk to a person", "representative"],
    "link_offer": ["yes", "agree", "go back", "no", "agent", "operator", "representative"],
    "welcome": ["english", "chinese", "agent", "operator", "representative"],
    "anything_else": ["main menu", "agent", "goodbye", "no thanks", "representative"],
    "bill_confirm": ["pay", "yes", "back", "no", "agent", "representative"],
}
PERSON = list(PERSON_PHRASES["en"])  # an input's, where no option offers a person
# How callers ask for one, in the grammar's words or not: any person phrase heard counts.
ASKING_FOR_A_PERSON = [
    "agent", "representative", "operator", "customer service", "talk to a person",
    "speak to someone", "talk to someone", "speak to a person", "a real person",
    "live agent", "human", "person", "I need a human", "can I talk to someone",
]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFF_TOPIC = os.path.join(ROOT, "tests", "speech", "off_topic.yaml")  # shared with the test
VOICES_IN = [("en-us", 165), ("en-gb", 150), ("en-gb-scotland", 180), ("en-029", 165),
             ("en-us+f3", 140), ("en-gb-x-rp", 200)]
VOICES_OUT = [("en-us", 165), ("en-gb", 150), ("en-us+f3", 180)]
CARRIERS = ["{} please", "I want {}", "I'd like {} please", "um {}", "yes {}", "{} thank you"]
BABBLE = ["the meeting is at three in the afternoon", "could you pass me that file please",
          "we will be there in ten minutes"]
PRE_ROLL_S, END_SILENCE_S = 0.3, 0.6
RATE = 8000


@dataclass(frozen=True, slots=True)
class Result:
    menu: str
    said: str
    kind: str  # "phrase" (in grammar), "wrapped" (in grammar, words around it), "off"
    noise: str
    heard: str | None  # without the last check
    kept: bool  # the last check let it through


class Voices:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, int], np.ndarray] = {}

    def say(self, text: str, voice: str, wpm: int) -> np.ndarray:
        key = (text, voice, wpm)
        if key not in self._cache:
            with tempfile.NamedTemporaryFile(suffix=".wav") as out:
                speak = ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", out.name, text]
                subprocess.run(speak, check=True, capture_output=True)
                pcm = read_audio_8k(out.name)
            self._cache[key] = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
        return self._cache[key]


def on_a_call(speech: np.ndarray, noise: str, voices: Voices, rng: np.random.Generator) -> bytes:
    level = float(np.sqrt((speech**2).mean()))
    line = np.concatenate(
        [np.zeros(int(PRE_ROLL_S * RATE)), speech, np.zeros(int(END_SILENCE_S * RATE))]
    )
    if noise == "white 15 dB":
        line = line + rng.normal(size=line.size) * level / 10 ** (15 / 20)
    elif noise == "babble 10 dB":
        talk = np.sum([np.resize(voices.say(t, "en-gb", 170), line.size) for t in BABBLE], axis=0)
        line = line + talk / np.sqrt((talk**2).mean()) * level / 10 ** (10 / 20)
    return mu_law(np.clip(line, -32768, 32767).astype(np.int16).tobytes())


def decode(recognizer: SphinxRecognizer, pcm: bytes, grammar: Grammar) -> tuple[str | None, bool]:
    """The answer without the last check, and whether the check keeps it."""
    segments: list[tuple[str, int, int]] = []

    def record(_pcm: bytes, found: list[tuple[str, int, int]]) -> bool:
        segments[:] = found
        return False

    with mock.patch.object(sphinx_backend, "speech_called_silence", record):
        heard = recognizer.recognize(pcm, grammar)
    if heard is None:
        return None, False
    return heard.text, not speech_called_silence(pcm, segments)


def run() -> list[Result]:
    recognizer = SphinxRecognizer()
    recognizer.load()
    voices, rng = Voices(), np.random.default_rng(7)
    noises = ("clean", "white 15 dB", "babble 10 dB")
    with open(OFF_TOPIC, encoding="utf-8") as handle:
        off_topic: list[str] = yaml.safe_load(handle)
    results = []
    for menu, phrases in MENUS.items():
        grammar = Grammar.build("en", phrases)  # each offers a person: no built-in ones
        for said, (voice, wpm), noise in itertools.product(phrases, VOICES_IN, noises):
            pcm = on_a_call(voices.say(said, voice, wpm), noise, voices, rng)
            results.append(Result(menu, said, "phrase", noise, *decode(recognizer, pcm, grammar)))
        for said, carrier, (voice, wpm) in itertools.product(phrases, CARRIERS, VOICES_OUT):
            pcm = on_a_call(voices.say(carrier.format(said), voice, wpm), "clean", voices, rng)
            heard = decode(recognizer, pcm, grammar)
            results.append(Result(menu, said, "wrapped", "clean", *heard))
        for said, (voice, wpm), noise in itertools.product(off_topic, VOICES_OUT, noises[:2]):
            pcm = on_a_call(voices.say(said, voice, wpm), noise, voices, rng)
            results.append(Result(menu, said, "off", noise, *decode(recognizer, pcm, grammar)))
    return results


DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGIT_VOICES = [("en-us", 165), ("en-gb", 150), ("en-us+f3", 140)]
DIGIT_NUMBERS = 25


def run_digits() -> list[Result]:
    """A six-digit input: random numbers said digit by digit, and off-topic speech."""
    recognizer = SphinxRecognizer()
    recognizer.load()
    voices, rng = Voices(), np.random.default_rng(11)
    grammar = Grammar.build("en", ["go back", *PERSON], digits=(6, 6))
    with open(OFF_TOPIC, encoding="utf-8") as handle:
        off_topic: list[str] = yaml.safe_load(handle)
    numbers = [" ".join(DIGIT_WORDS[d] for d in rng.integers(0, 10, 6))
               for _ in range(DIGIT_NUMBERS)]
    results = []
    for said, (voice, wpm) in itertools.product(numbers, DIGIT_VOICES):
        pcm = on_a_call(voices.say(said, voice, wpm), "clean", voices, rng)
        heard, kept = decode(recognizer, pcm, grammar)
        results.append(Result("account", said, "phrase", "clean", heard, kept))
    for said, (voice, wpm) in itertools.product(off_topic, DIGIT_VOICES):
        pcm = on_a_call(voices.say(said, voice, wpm), "clean", voices, rng)
        results.append(Result("account", said, "off", "clean", *decode(recognizer, pcm, grammar)))
    for said, (voice, wpm) in itertools.product(ASKING_FOR_A_PERSON, VOICES_IN):
        pcm = on_a_call(voices.say(said, voice, wpm), "clean", voices, rng)
        heard, kept = decode(recognizer, pcm, grammar)
        results.append(Result("account", said, "person", "clean", heard, kept))
    return results


def digit_table(results: list[Result]) -> list[str]:
    numbers = [r for r in results if r.kind == "phrase"]
    outside = [r for r in results if r.kind == "off"]
    taken = [r for r in results if r.heard is not None and r.kept]
    right = sum(
        spoken_digits(r.heard or "", "en") == spoken_digits(r.said, "en")
        for r in taken if r.kind == "phrase"
    )
    digits = sum(spoken_digits(r.heard or "", "en") is not None for r in taken if r.kind == "off")
    person = [r for r in results if r.kind == "person"]
    asked = sum(r.heard in PERSON for r in taken if r.kind == "person")
    off_person = sum(r.heard in PERSON for r in taken if r.kind == "off")
    return [
        f"six-digit input: {len(numbers)} numbers said, {len(outside)} off-topic utterances",
        f"  numbers heard right {right}/{len(numbers)}, heard as other digits "
        f"{sum(r.kind == 'phrase' for r in taken) - right}, lost "
        f"{sum(r.heard is None or not r.kept for r in numbers)}",
        f"  off-topic heard as six digits {digits}/{len(outside)} "
        f"= {100 * digits / len(outside):.0f} %",
        f"  off-topic heard as asking for a person {off_person}/{len(outside)}",
        f"  asking for a person ({len(ASKING_FOR_A_PERSON)} ways, {len(VOICES_IN)} voices) "
        f"heard as such {asked}/{len(person)}",
    ]


def table(results: list[Result]) -> list[str]:
    inside = [r for r in results if r.kind == "phrase"]
    wrapped = [r for r in results if r.kind == "wrapped"]
    outside = [r for r in results if r.kind == "off"]
    lines = [
        f"{len(inside)} phrases, {len(wrapped)} phrases with words around them, "
        f"{len(outside)} off-topic utterances",
        f"{'':28}{'phrases: right':>15}{'wrong':>7}{'lost':>6}{'wrapped: right':>16}"
        f"{'off-topic taken':>18}",
    ]
    for name, check in (("without the silence check", False), ("with it", True)):
        def taken(r: Result, check: bool = check) -> bool:
            return r.heard is not None and (r.kept or not check)

        right = sum(taken(r) and r.heard == r.said for r in inside)
        wrong = sum(taken(r) and r.heard != r.said for r in inside)
        lost = sum(r.heard == r.said and not taken(r) for r in inside)
        around = sum(taken(r) and r.heard == r.said for r in wrapped)
        out = sum(taken(r) for r in outside)
        lines.append(
            f"{name:28}{right:>9}/{len(inside):<5}{wrong:>7}{lost:>6}{around:>10}/{len(wrapped):<5}"
            f"{out:>8}/{len(outside)} = {100 * out / len(outside):.0f} %"
        )
    lost_by = Counter(r.noise for r in inside if r.heard == r.said and not r.kept)
    lines.append(f"phrases heard right that the check lost, by noise: {dict(lost_by) or 'none'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-only", action="store_true",
                        help="only the six-digit input (about 30 s)")
    if not parser.parse_args().input_only:
        print("\n".join(table(run())))
    print("\n".join(digit_table(run_digits())))


if __name__ == "__main__":
    main()
