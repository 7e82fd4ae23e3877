"""pocketsphinx: the zero-download English default.

The wheel ships a US-English acoustic model and dictionary; a finite-state grammar
built from the node's phrases (and digits) restricts the search. The model is
wideband (16 kHz), so call audio is upsampled first. A decoder is not thread-safe
and takes ~0.1 s to create, so each worker thread keeps one, and each decoder keeps
the grammars it has compiled (by content) for the next utterance that needs them.

Call audio has stretches of exact digital zeros (the far end's silence); the
decoder's features (log energies) misbehave on them and words at the edges get
lost, so a faint fixed-seed dither is added first. On the committed utterance set
(tests/speech/utterances.yaml) it took accuracy from 16/23 (none) through 18/23
(-78 dBFS) to 22/23 (-60 dBFS), off-grammar rejection included.

Confidence is the mean of the words' acoustic scores per frame (as the decoder
reports them, 0..1); a grammar recogniser is never certain, so it stays below 1.
It says little about out-of-grammar audio (10 s of noise came out as "agent" at
0.91), so each grammar also offers a garbage loop (:class:`Fsg`): one pseudo-word
per phone of the model, looped from start to end. What the caller said that the
grammar does not hold is heard as garbage, a no-match. On synthesised calls
(five voices, off-topic sentences and noise through mu-law) it rejected 58% of
out-of-grammar audio instead of 23% (83% of noise instead of 49%), for 1
in-grammar utterance lost out of 295, at about 1.6 times the decoding time.
Digit runs still take in more off-topic speech than phrases do (41% of it is
rejected there, 75% for phrase menus): "oh"s and "eight"s fit many sentences.

The loop pays per phone, so a short phrase can still beat it by calling the rest of
a long sentence a pause; :func:`speech_called_silence` turns that into a no-match
too (``benchmarks/bench_rejection.py`` measures both).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np

from engine.media.resample import float_to_pcm, pcm_to_float, upsample_2x
from engine.speech.grammar import Fsg, Grammar, fsg, normalise
from engine.speech.recognizer import Hypothesis, SpeechError

DITHER = 32.0  # standard deviation, in 16-bit steps (about -60 dBFS)
MAX_GRAMMARS = 64  # compiled grammars kept per decoder
MAX_CONFIDENCE = 0.99
_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "<noise>", "(NULL)"}
# Garbage words are named "+gb_<phone>": normalise() turns "+" and "_" into
# spaces, so no phrase a designer writes can ever be one of them.
GARBAGE_PREFIX = "+gb_"
# Speech the best path calls silence (speech_called_silence): frames of 10 ms at 8 kHz
FRAME = 80
SPEECH_FLOOR_RMS = 300.0  # about -40 dBFS: quieter is not a caller's speech
SPEECH_OVER_NOISE = 4.0  # times the utterance's noise floor (its 20th percentile frame)
SILENT_SPEECH_FRAMES = 20  # more than 0.2 s of speech called silence: inside a phrase ...
SILENT_SPEECH_SHARE = 0.8  # ... or around it, if it is most of the speech ("please" is not)


class SphinxRecognizer:
    name = "pocketsphinx"

    def __init__(self, model_dir: str | None = None, dictionary: str | None = None) -> None:
        self._model_dir = model_dir
        self._dictionary = dictionary
        self._local = threading.local()
        self._words: set[str] | None = None
        self._phones: tuple[str, ...] = ()
        self._garbage: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def _paths(self) -> tuple[str, str]:
        try:
            import pocketsphinx
        except ImportError as exc:
            raise SpeechError("pocketsphinx is not installed (pip install '.[speech]')") from exc
        base = os.path.join(pocketsphinx.get_model_path(), "en-us")
        model = self._model_dir or os.path.join(base, "en-us")
        dictionary = self._dictionary or os.path.join(base, "cmudict-en-us.dict")
        return model, dictionary

    def load(self) -> None:
        self.vocabulary()
        self._decoder()

    def vocabulary(self) -> set[str]:
        with self._lock:
            if self._words is None:
                self._words = self._read_dictionary()
            return self._words

    def phones(self) -> tuple[str, ...]:
        """The phones the dictionary's words are made of (those the model has)."""
        self.vocabulary()
        return self._phones

    def _read_dictionary(self) -> set[str]:
        """The dictionary's words (alternative pronunciations folded); its phones
        are kept for the garbage loop."""
        _, dictionary = self._paths()
        words: set[str] = set()
        phones: set[str] = set()
        with open(dictionary, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                word, *pronunciation = line.split() or [""]
                words.add(word.split("(", 1)[0])
                phones.update(pronunciation)
        self._phones = tuple(sorted(phones))
        self._garbage = garbage_words(self._phones)
        return words

    def unknown_words(self, phrase: str) -> list[str]:
        words = self.vocabulary()
        return [w for w in normalise(phrase).split() if w not in words]

    def _decoder(self) -> Any:
        decoder = getattr(self._local, "decoder", None)
        if decoder is None:
            from pocketsphinx import Decoder

            model, dictionary = self._paths()
            # bestpath off: the answer is the grammar's best complete path. The
            # lattice's best path often stops inside a phrase on telephone audio
            # ("talk to a"), which would throw good utterances away.
            decoder = Decoder(
                hmm=model, dict=dictionary, lm=None, bestpath=False, loglevel="FATAL"
            )
            add_garbage_words(decoder, self.phones())
            self._local.decoder = decoder
            self._local.searches = OrderedDict()
        return decoder

    def _activate(self, decoder: Any, grammar: Grammar) -> bool:
        built = fsg(grammar, self.vocabulary())
        if built is None:
            return False
        built = replace(built, garbage=self._garbage)  # the dictionary is read by now
        name = "g" + hashlib.sha1(repr((built.arcs, built.garbage)).encode()).hexdigest()[:16]
        searches: OrderedDict[str, bool] = self._local.searches
        if name in searches:
            searches.move_to_end(name)
        else:
            model = decoder.create_fsg(name, Fsg.START, Fsg.FINAL, built.weighted())
            decoder.add_fsg(name, model)
            searches[name] = True
            if len(searches) > MAX_GRAMMARS:
                old, _ = searches.popitem(last=False)
                if old != decoder.current_search():
                    decoder.remove_search(old)
        decoder.activate_search(name)
        return True

    def recognize(self, pcm: bytes, grammar: Grammar) -> Hypothesis | None:
        if not pcm:
            return None
        decoder = self._decoder()
        if not self._activate(decoder, grammar):
            return None
        decoder.start_utt()
        try:
            decoder.process_raw(upsample_2x(dither(pcm)), full_utt=True)
            decoder.end_utt()
        except Exception:
            # An utterance left open breaks the decoder for every later one on this
            # thread ("Unable to set search"): the next utterance gets a new one.
            self._local.decoder = None
            raise
        hyp = decoder.hyp()
        if hyp is None or not hyp.hypstr.strip() or heard_garbage(hyp.hypstr):
            return None
        text = normalise(hyp.hypstr)
        if text not in grammar.phrases and not grammar.digit_only(text):
            return None  # stopped inside a phrase: not something the grammar holds
        segments = list(decoder.seg() or ())
        if speech_called_silence(pcm, [(s.word, s.start_frame, s.end_frame) for s in segments]):
            return None
        scores = [s.prob for s in segments if s.word not in _FILLERS]
        confidence = sum(scores) / len(scores) if scores else 0.0
        return Hypothesis(text, round(min(confidence, MAX_CONFIDENCE), 3))


def speech_called_silence(pcm: bytes, segments: list[tuple[str, int, int]]) -> bool:
    """Whether the best path calls the caller's speech silence where no pause can be:
    the way a short phrase fits a long sentence ("banana helicopter umbrella" heard as
    "send ... me a link", or as "no" with the rest a pause), which the garbage loop,
    paying per phone, does not always beat. Speech is a 10 ms frame well above the
    utterance's own noise floor; the decoder's frames are 10 ms too.

    Between the words of one phrase, more than 0.2 s of speech is never a pause.
    Around the phrase it may be the caller's own words ("yes please", "I want to pay
    my bill": half the speech or more), so there only most of the speech is out of
    grammar (at a fifth, the check lost 296 of 351 such phrases). On synthesised calls
    (benchmarks/bench_rejection.py) it takes off-topic speech accepted as a phrase
    from 404 of 1260 to 333, phrases heard wrong from 118 of 504 to 69 (a retry now),
    and loses 10 of 349 phrases heard right, all under babble, and 1 of 351 wrapped."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    count = len(samples) // FRAME
    if not count:
        return False
    rms = np.sqrt((samples[: count * FRAME].reshape(count, FRAME) ** 2).mean(axis=1))
    speech = rms > max(SPEECH_FLOOR_RMS, SPEECH_OVER_NOISE * float(np.percentile(rms, 20)))
    words = [i for i, (word, _, _) in enumerate(segments) if word not in _FILLERS]
    silent = inner = 0
    for i, (word, start, end) in enumerate(segments):
        if word in _FILLERS:
            frames = int(speech[start : end + 1].sum())
            silent += frames
            inner += frames if words and words[0] < i < words[-1] else 0
    # Talk between the words of one phrase ("send ... me a link") is never a pause.
    if inner > SILENT_SPEECH_FRAMES:
        return True
    return silent > SILENT_SPEECH_FRAMES and silent > SILENT_SPEECH_SHARE * int(speech.sum())


def garbage_words(phones: tuple[str, ...]) -> tuple[str, ...]:
    """One garbage word per phone: a loop of them fits any speech or noise. (The
    model's noise phones, +NSN+ and +SPN+, were tried as free garbage words: a
    little more noise rejected, but they swallowed the ends of short phrases.)"""
    return tuple(GARBAGE_PREFIX + phone.lower() for phone in phones)


def add_garbage_words(decoder: Any, phones: tuple[str, ...]) -> None:
    """Teach the decoder the garbage words (each pronounced as its one phone). The
    dictionary is rebuilt once, with the last word, not once per word."""
    words = garbage_words(phones)
    for n, (word, phone) in enumerate(zip(words, phones, strict=True)):
        decoder.add_word(word, phone, n == len(words) - 1)


def heard_garbage(hypstr: str) -> bool:
    """True when the best path went through the garbage loop: out of grammar."""
    return any(word.startswith(GARBAGE_PREFIX) for word in hypstr.split())


def dither(pcm: bytes) -> bytes:
    samples = pcm_to_float(pcm)
    noise = np.random.default_rng(len(pcm)).normal(0.0, DITHER, samples.size)
    return float_to_pcm((samples + noise).astype(np.float32))
