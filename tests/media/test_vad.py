"""End-pointing on synthetic audio with an injected clock (and, for the logic, an
injected voice classifier)."""

from __future__ import annotations

import numpy as np

from engine.media.protocol import FRAME_BYTES
from engine.media.vad import (
    Endpointer,
    EndpointSettings,
    Pause,
    SpeechEnd,
    SpeechOnset,
    VadEvent,
    webrtc_classifier,
)

VOICE = b"\x10\x27" * (FRAME_BYTES // 2)  # a loud frame: "voice" to the fake classifier
QUIET = bytes(FRAME_BYTES)


def loud(frame: bytes) -> bool:
    return frame[:2] == b"\x10\x27"


def feed(ep: Endpointer, frames: list[bytes], start: float) -> tuple[list[VadEvent], float]:
    events: list[VadEvent] = []
    now = start
    for frame in frames:
        events += ep.audio(frame, now)
        now = round(now + 0.02, 6)
    return events, now


def test_onset_needs_three_voiced_frames_and_keeps_the_pre_roll() -> None:
    ep = Endpointer(EndpointSettings(), loud)
    events, _ = feed(ep, [QUIET] * 10 + [VOICE, QUIET, VOICE, VOICE], 1.0)
    assert events == [SpeechOnset(at=1.2)]  # the first voiced frame of the three
    assert ep.state == "speaking"
    assert len(ep.utterance) == 14 * FRAME_BYTES  # what came before is kept


def test_a_click_is_not_speech() -> None:
    ep = Endpointer(EndpointSettings(), loud)
    events, _ = feed(ep, [QUIET, VOICE, QUIET, QUIET, QUIET, VOICE, QUIET, QUIET], 0.0)
    assert events == [] and ep.state == "waiting"


def test_silence_ends_the_utterance_even_when_no_frames_arrive() -> None:
    ep = Endpointer(EndpointSettings(end_silence_s=0.6, early_pause_s=0.2), loud)
    events, now = feed(ep, [VOICE] * 20, 0.0)
    last_voice = round(now - 0.02, 6)
    assert events == [SpeechOnset(at=0.0)]
    # The leg goes quiet: no frames at all, only the engine's clock ticking.
    assert ep.tick(last_voice + 0.1) == []
    assert ep.tick(last_voice + 0.21) == [Pause(last_voice + 0.21, last_voice)]
    assert ep.tick(last_voice + 0.3) == []  # a pause is reported once
    assert ep.tick(last_voice + 0.59) == []
    assert ep.tick(last_voice + 0.61) == [SpeechEnd(last_voice + 0.61, last_voice, "silence")]
    assert ep.tick(last_voice + 5) == [] and ep.state == "ended"


def test_voice_after_a_pause_goes_on() -> None:
    ep = Endpointer(EndpointSettings(end_silence_s=0.6, early_pause_s=0.2), loud)
    events, now = feed(ep, [VOICE] * 10 + [QUIET] * 15 + [VOICE] * 10, 0.0)
    assert [type(e) for e in events] == [SpeechOnset, Pause]
    assert ep.state == "speaking" and ep.last_voice_at == round(now - 0.02, 6)


def test_max_speech() -> None:
    ep = Endpointer(EndpointSettings(max_speech_s=1.0), loud)
    events, _ = feed(ep, [VOICE] * 60, 0.0)
    assert events[-1] == SpeechEnd(1.0, 1.0, "max")
    assert len(events) == 2


def test_an_early_decision_ends_it() -> None:
    ep = Endpointer(EndpointSettings(), loud)
    feed(ep, [VOICE] * 5, 0.0)
    assert ep.end_now(0.3) == SpeechEnd(0.3, 0.08, "early")
    assert ep.end_now(0.4) is None and ep.audio(VOICE, 0.5) == []


def test_audio_in_odd_sizes_is_cut_into_frames() -> None:
    ep = Endpointer(EndpointSettings(), loud)
    data = VOICE * 4
    events = ep.audio(data[:100], 0.0) + ep.audio(data[100:700], 0.01) + ep.audio(data[700:], 0.02)
    assert events == [SpeechOnset(at=0.01)]


def _vowel(seconds: float, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pulses = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 25))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    return (pulses * envelope * 6000).astype("<i2").tobytes()


def test_webrtcvad_on_synthetic_voice_and_digital_silence() -> None:
    ep = Endpointer(EndpointSettings(end_silence_s=0.5), webrtc_classifier(2))
    events = ep.audio(bytes(8000), 0.0)  # 0.5 s of digital silence
    events += ep.audio(_vowel(0.6), 0.5)
    assert [type(e) for e in events] == [SpeechOnset]
    assert ep.tick(1.5) == [SpeechEnd(1.5, 0.5, "silence")]
