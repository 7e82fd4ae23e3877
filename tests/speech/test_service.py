"""The speech service around a recogniser: a recogniser that fails, an utterance of
no audio, and the worker count that early tries look at."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.flowstore import FlowStore
from engine.prompts import PromptCache
from engine.runtime import Engine
from engine.speech.accuracy import synthesise
from engine.speech.grammar import Grammar
from engine.speech.recognizer import Hypothesis
from engine.speech.sphinx_backend import SphinxRecognizer

GRAMMAR = Grammar.build("en", ["balance", "agent"])


class Broken:
    name = "broken"

    def load(self) -> None:
        pass

    def unknown_words(self, phrase: str) -> list[str]:
        return []

    def recognize(self, pcm: bytes, grammar: Grammar) -> Hypothesis | None:
        raise RuntimeError("a bug in the recogniser")


async def test_a_recogniser_that_fails_is_heard_as_nothing_not_silence_for_ever(
    tmp_path: Path,
) -> None:
    """Anything a recogniser raises is a result of None (the session's no-match):
    before, the call waited for ever for an answer that never came."""
    engine = Engine(FlowStore("flows"), PromptCache(str(tmp_path)))
    service = engine.speech
    service._recognizers["en"] = Broken()
    async with asyncio.timeout(5):
        assert await service.recognize("en", b"\x00\x01" * 800, GRAMMAR) is None
    assert service.idle_worker()  # the failed one is no longer counted busy
    exposition = engine.metrics.exposition().decode()
    assert 'ivr_errors_total{kind="speech_failed"} 1.0' in exposition  # not silent
    service.close()


def test_no_audio_is_nothing_and_the_decoder_stays_usable(tmp_path: object) -> None:
    """Empty audio made pocketsphinx raise inside an utterance it never ended; its
    decoder then refused every later utterance on that thread."""
    recognizer = SphinxRecognizer()
    assert recognizer.recognize(b"", GRAMMAR) is None
    heard = recognizer.recognize(synthesise("balance", "en", f"{tmp_path}/b.wav"), GRAMMAR)
    assert heard is not None and heard.text == "balance"
