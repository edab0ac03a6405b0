"""Codec-free reconstructions at a given bit rate, to set the codec's figures beside (numpy,
scipy, librosa; evaluation and the benchmark only).

* mu-law: 8-bit mu-law samples at ``bitrate / 8`` Hz (the input resampled down, companded,
  quantised, expanded, resampled back to 24 kHz): a waveform coder at the same bits per second.
* Griffin-Lim: a log-mel spectrogram at the codec's frame rate (50 frames/s), each value
  quantised uniformly to ``levels`` steps over the clip's top 80 dB, so ``n_mels x log2(levels)
  x 50`` bits/s fit the budget; the clip's top level is side information (one number per clip,
  left out of the count). Audio back by librosa's mel inversion (NNLS) and ``GL_ITER`` Griffin-Lim
  iterations. Several (n_mels, levels) fit the budget (:func:`gl_configs`: for each band count
  the most levels that fit); the evaluation tries them all and reports the best, so the baseline
  is given its best chance.
"""
from __future__ import annotations

from math import gcd

import numpy as np

from engines.codec import dsp

GL_N_FFT, GL_HOP, GL_ITER = 1920, dsp.TOKEN_HOP, 32
GL_BANDS = (40, 32, 24, 16)
RANGE_DB = 80.0


def mulaw(x: np.ndarray, bitrate: float, bits: int = 8) -> tuple[np.ndarray, int]:
    """(reconstruction at 24 kHz, the mu-law sample rate used)."""
    from scipy.signal import resample_poly

    rate = int(bitrate // bits)
    g = gcd(rate, dsp.SR)
    up, down = rate // g, dsp.SR // g
    low = np.clip(resample_poly(x, up, down), -1, 1)
    mu = 2 ** bits - 1
    y = np.sign(low) * np.log1p(mu * np.abs(low)) / np.log1p(mu)
    q = np.round((y + 1) / 2 * mu) / mu * 2 - 1  # 2^bits levels over [-1, 1]
    z = np.sign(q) * ((1 + mu) ** np.abs(q) - 1) / mu
    out = resample_poly(z, down, up).astype(np.float32)
    return _fit(out, len(x)), rate


def gl_bitrate(n_mels: int, levels: int) -> float:
    return n_mels * float(np.log2(levels)) * dsp.SR / GL_HOP


def gl_configs(bitrate: float) -> list[tuple[int, int]]:
    """(n_mels, levels) pairs within ``bitrate``: for each of ``GL_BANDS``, the most levels (>= 2)."""
    out = []
    for n in GL_BANDS:
        levels = int(np.floor(2 ** (bitrate / (n * dsp.SR / GL_HOP)) + 1e-9))
        if levels >= 2:
            out.append((n, min(levels, 4096)))
    return out


def griffin_lim(x: np.ndarray, n_mels: int, levels: int, seed: int = 0) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=x, sr=dsp.SR, n_fft=GL_N_FFT, hop_length=GL_HOP, n_mels=n_mels, power=2.0)
    db = 10 * np.log10(mel + 1e-10)
    top = float(db.max())
    step = RANGE_DB / levels
    idx = np.clip(np.floor((db - (top - RANGE_DB)) / step), 0, levels - 1)
    rec = 10 ** ((top - RANGE_DB + (idx + 0.5) * step) / 10)
    mag = librosa.feature.inverse.mel_to_stft(rec, sr=dsp.SR, n_fft=GL_N_FFT, power=2.0)
    y = librosa.griffinlim(mag, n_iter=GL_ITER, hop_length=GL_HOP, n_fft=GL_N_FFT, length=len(x),
                           random_state=np.random.default_rng(seed))
    return y.astype(np.float32)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))
