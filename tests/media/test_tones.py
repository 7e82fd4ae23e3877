"""DTMF tones: each key carries its own row and column frequencies, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from engine.media.tones import COLUMNS, ROWS, dtmf_samples, frequencies


def power(samples: np.ndarray, frequency: float, rate: int = 8000) -> float:
    t = np.arange(len(samples)) / rate
    return float(abs(np.sum(samples * np.exp(-2j * np.pi * frequency * t))) / len(samples))


@pytest.mark.parametrize("key", list("0123456789*#"))
def test_each_key_is_its_two_tones(key: str) -> None:
    samples = dtmf_samples(key, on_s=0.1, gap_s=0.0).astype(float)
    assert len(samples) == 800
    low, high = frequencies(key)
    strong = {f for f in ROWS + COLUMNS if power(samples, f) > 1000}
    assert strong == {low, high}
    assert np.abs(samples).max() < 32767 * 0.61  # two tones of 0.3 each: no clipping


def test_keys_follow_each_other_with_silence_between() -> None:
    samples = dtmf_samples("1#", on_s=0.1, gap_s=0.05)
    assert len(samples) == 2 * (800 + 400)
    assert not samples[800:1200].any() and samples[1200:1300].any()
    assert frequencies("#") == (941.0, 1477.0)


def test_a_character_that_is_no_key_is_refused() -> None:
    with pytest.raises(ValueError, match="not a DTMF key"):
        dtmf_samples("1x")
