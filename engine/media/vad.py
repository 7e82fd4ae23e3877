"""End-pointing: where the caller's utterance begins and ends, on a clock.

Theory of operation
-------------------
:class:`Endpointer` is fed caller audio (any length; it cuts 20 ms frames) with the
time it arrived, and *ticks* of the engine clock. Each frame is classified as voice
or not (webrtcvad, behind an energy gate: digital silence and line hiss are never
voice). It moves through three states::

    waiting   no speech yet; a short ring of recent audio is kept (pre-roll)
    speaking  ONSET_FRAMES voiced frames within ONSET_WINDOW: the caller speaks
    ended     the utterance is over: END_SILENCE without voice, or MAX_SPEECH

Silence is measured from the last voiced frame to *now*, not by counting silent
frames: some legs send no frames at all while the caller is quiet, so a tick with
no audio ends an utterance as surely as a run of silent frames does. A pause of
``early_pause_s`` inside an utterance is reported once (:class:`Pause`) so that the
caller of this class can try an early decision; more voice after it simply goes on.

Nothing here does I/O or reads a clock: times come in with the calls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.media.protocol import FRAME_BYTES, FRAME_MS, SAMPLE_RATE

ONSET_FRAMES = 3  # voiced frames ...
ONSET_WINDOW = 5  # ... among the last this many frames start an utterance
PRE_ROLL_FRAMES = 15  # 300 ms kept before the onset, so the first syllable is not lost
MIN_RMS = 120.0  # about -49 dBFS: below this a frame is never voice


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    end_silence_s: float = 0.6
    max_speech_s: float = 10.0
    early_pause_s: float = 0.2
    aggressiveness: int = 2  # webrtcvad mode 0-3


@dataclass(frozen=True, slots=True)
class SpeechOnset:
    at: float  # when the first voiced frame of the onset arrived


@dataclass(frozen=True, slots=True)
class Pause:
    """Voice stopped ``early_pause_s`` ago; the utterance may or may not be over."""

    at: float
    last_voice_at: float


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    at: float
    last_voice_at: float
    reason: str  # "silence" | "max"


VadEvent = SpeechOnset | Pause | SpeechEnd
Classifier = Callable[[bytes], bool]


def webrtc_classifier(aggressiveness: int = 2) -> Classifier:
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)

    def classify(frame: bytes) -> bool:
        if rms(frame) < MIN_RMS:
            return False
        return bool(vad.is_speech(frame, SAMPLE_RATE))

    return classify


def rms(frame: bytes) -> float:
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0


class Endpointer:
    def __init__(self, settings: EndpointSettings, classify: Classifier | None = None) -> None:
        self.settings = settings
        self._classify = classify or webrtc_classifier(settings.aggressiveness)
        self.state = "waiting"
        self._rest = b""
        self._recent: deque[bool] = deque(maxlen=ONSET_WINDOW)
        self._pre_roll: deque[tuple[float, bytes]] = deque(maxlen=PRE_ROLL_FRAMES)
        self._audio: list[bytes] = []
        self.onset_at: float | None = None
        self.last_voice_at: float | None = None
        self._pause_reported = False

    @property
    def utterance(self) -> bytes:
        """The audio of the utterance so far (with its pre-roll)."""
        return b"".join(self._audio)

    @property
    def speech_s(self) -> float:
        return len(self._audio) * FRAME_MS / 1000

    def audio(self, pcm: bytes, now: float) -> list[VadEvent]:
        if self.state == "ended":
            return []
        data = self._rest + pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._rest = data[whole:]
        events: list[VadEvent] = []
        for start in range(0, whole, FRAME_BYTES):
            events += self._frame(data[start : start + FRAME_BYTES], now)
            if self.state == "ended":
                break
        return events + self.tick(now)

    def _frame(self, frame: bytes, now: float) -> list[VadEvent]:
        voiced = self._classify(frame)
        if self.state == "waiting":
            self._pre_roll.append((now, frame))
            self._recent.append(voiced)
            if sum(self._recent) < ONSET_FRAMES:
                return []
            self.state = "speaking"
            # The onset is the first voiced frame among the recent ones.
            frames = list(self._pre_roll)[-len(self._recent) :]
            first = next(i for i, v in enumerate(self._recent) if v)
            self.onset_at = frames[first][0]
            self.last_voice_at = now
            self._audio = [f for _, f in self._pre_roll]
            self._pre_roll.clear()
            return [SpeechOnset(self.onset_at)]
        self._audio.append(frame)
        if voiced:
            self.last_voice_at = now
            self._pause_reported = False
        return []

    def tick(self, now: float) -> list[VadEvent]:
        if self.state != "speaking":
            return []
        assert self.onset_at is not None and self.last_voice_at is not None
        quiet = now - self.last_voice_at
        if quiet >= self.settings.end_silence_s:
            self.state = "ended"
            return [SpeechEnd(now, self.last_voice_at, "silence")]
        if now - self.onset_at >= self.settings.max_speech_s:
            self.state = "ended"
            return [SpeechEnd(now, self.last_voice_at, "max")]
        if quiet >= self.settings.early_pause_s and not self._pause_reported:
            self._pause_reported = True
            return [Pause(now, self.last_voice_at)]
        return []

    def end_now(self, now: float) -> SpeechEnd | None:
        """Decide the utterance is over (an early decision)."""
        if self.state != "speaking":
            return None
        assert self.last_voice_at is not None
        self.state = "ended"
        return SpeechEnd(now, self.last_voice_at, "early")
