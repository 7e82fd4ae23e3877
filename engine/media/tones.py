"""DTMF keys as sound: what a phone without RFC 4733 sends in its audio.

Each key is the sum of its row and column tones (ITU-T Q.23), held ``on_s`` and
followed by ``gap_s`` of silence, as 16-bit linear samples. ``ivr call --inband-keys``
plays it through the caller's leg, so that the IVR side has to hear the keys
(Asterisk's ``dtmf_mode = auto`` detects them when the phone offers no
telephone-event).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
LAYOUT = ("123A", "456B", "789C", "*0#D")
KEYS = "".join(LAYOUT)

LEVEL = 0.3  # each tone's peak, of full scale: about -13 dBm0, as a phone sends


def frequencies(key: str) -> tuple[float, float]:
    """The row and column tones of ``key`` (one of 0-9, *, #, A-D)."""
    for row, keys in enumerate(LAYOUT):
        column = keys.find(key.upper())
        if column >= 0:
            return ROWS[row], COLUMNS[column]
    raise ValueError(f"not a DTMF key: {key!r}")


def dtmf_samples(
    keys: str, rate: int = 8000, on_s: float = 0.12, gap_s: float = 0.12
) -> npt.NDArray[np.int16]:
    """``keys`` as signed 16-bit mono samples at ``rate``."""
    t = np.arange(round(rate * on_s)) / rate
    silence = np.zeros(round(rate * gap_s))
    parts: list[npt.NDArray[np.float64]] = []
    for key in keys:
        low, high = frequencies(key)
        parts.append(LEVEL * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)))
        parts.append(silence)
    if not parts:
        return np.zeros(0, dtype=np.int16)
    return (np.concatenate(parts) * 32767).astype(np.int16)
