"""Sample-rate conversion with numpy (``audioop`` is gone from Python 3.13).

The call's audio is 8 kHz; pocketsphinx's US-English model wants 16 kHz
(:func:`upsample_2x`, a windowed-sinc half-band interpolator); recorded prompts may
come at any rate (:func:`to_8k`, FFT resampling of the whole file, which is exact for
band-limited audio and fine for files of seconds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.media.protocol import SAMPLE_RATE

_TAPS = 31  # each side of the half-band interpolation filter
_n = np.arange(-_TAPS, _TAPS + 1)
_HALF_BAND = (np.sinc(_n / 2) * np.hamming(len(_n))).astype(np.float32)

Samples = npt.NDArray[np.float32]


def pcm_to_float(pcm: bytes) -> Samples:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32)


def float_to_pcm(samples: Samples) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def upsample_2x(pcm: bytes) -> bytes:
    """8 kHz 16-bit PCM to 16 kHz."""
    x = pcm_to_float(pcm)
    if x.size == 0:
        return b""
    stuffed = np.zeros(x.size * 2, dtype=np.float32)
    stuffed[::2] = x
    return float_to_pcm(np.convolve(stuffed, _HALF_BAND, mode="same").astype(np.float32))


def resample(samples: Samples, source_rate: int, target_rate: int) -> Samples:
    """Resample a whole signal (mono) from ``source_rate`` to ``target_rate``."""
    if source_rate == target_rate or samples.size == 0:
        return samples.astype(np.float32)
    count = max(1, round(samples.size * target_rate / source_rate))
    spectrum = np.fft.rfft(samples)
    bins = count // 2 + 1
    if bins <= spectrum.size:
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - spectrum.size, complex)])
    out = np.fft.irfft(spectrum, count) * (count / samples.size)
    return out.astype(np.float32)


def read_audio_8k(path: str) -> bytes:
    """Any audio file soundfile reads, as 8 kHz mono 16-bit PCM."""
    import soundfile

    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1) * 32767.0
    return float_to_pcm(resample(mono.astype(np.float32), int(rate), SAMPLE_RATE))
