"""Run-time DSP of the spatial engine (numpy only): octave bands, the parametric late tail,
BRIR assembly and the room-acoustic measures (C50, EDT, T60) used by the model card.

IR layout (at ``IR_RATE`` = 48 kHz):

* direct path: the HRIR of the source direction (head frame), gain 1/(4 pi r), at r/c;
* early part, 0 .. ``EARLY_S`` (100 ms): the neural field's output at ``FIELD_RATE`` = 16 kHz
  (everything but the direct path), upsampled x3; faded out over the last ``FADE_S``;
* late tail from ``EARLY_S - FADE_S``: per ear and octave band (125 Hz .. 16 kHz) a fixed
  band-limited noise with an exponential envelope 10^((L_b + S_b (t - EARLY_S)) / 20) whose
  level L_b (dB per sample, energy) and slope S_b (dB/s) the field predicts.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

IR_RATE = 48000
FIELD_RATE = 24000
EARLY_S = 0.1
FADE_S = 0.005
SPEED_OF_SOUND = 343.0
BAND_CENTERS = np.array([125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0])
N_BANDS = len(BAND_CENTERS)
FILTER_TAPS = 1024
ENV_STEP = 32
DC_HZ = 20.0  # the reverberant parts (teacher and field) are high-passed here (teacher.dc_block)


@lru_cache(maxsize=8)
def octave_filters(fs: int = IR_RATE, taps: int = FILTER_TAPS) -> np.ndarray:
    """(bands, taps) linear-phase FIRs (delay taps // 2) whose sum is a pure delay: cosine-squared
    cross-overs in log frequency between neighbouring centres, lowest band down to DC, highest
    band up to Nyquist."""
    f = np.fft.rfftfreq(taps, 1.0 / fs)
    lf = np.log2(np.maximum(f, 1e-3))
    lc = np.log2(BAND_CENTERS)
    H = np.zeros((N_BANDS, len(f)))
    for b in range(N_BANDS):
        lo = lc[b - 1] if b > 0 else -np.inf
        hi = lc[b + 1] if b < N_BANDS - 1 else np.inf
        up = np.clip((lf - lo) / (lc[b] - lo), 0, 1) if b > 0 else np.ones_like(lf)
        dn = np.clip((hi - lf) / (hi - lc[b]), 0, 1) if b < N_BANDS - 1 else np.ones_like(lf)
        rise = np.where(lf < lc[b], np.sin(0.5 * np.pi * up) ** 2, 1.0)
        fall = np.where(lf > lc[b], np.sin(0.5 * np.pi * dn) ** 2, 1.0)
        H[b] = rise * fall
    H /= H.sum(axis=0, keepdims=True)
    h = np.fft.irfft(H, taps)
    h = np.roll(h, taps // 2, axis=-1) * np.hanning(taps + 1)[:taps]
    return h.astype(np.float64)


def band_split(x: np.ndarray, fs: int = IR_RATE) -> np.ndarray:
    """(..., n) -> (..., bands, n): zero-delay octave-band parts (they sum back to ``x``)."""
    from scipy.signal import fftconvolve

    h = octave_filters(fs)
    d = h.shape[-1] // 2
    y = fftconvolve(x[..., None, :], h.reshape((1,) * (x.ndim - 1) + h.shape), axes=-1)
    return y[..., d:d + x.shape[-1]]


@lru_cache(maxsize=8)
def tail_noise(n: int, fs: int = IR_RATE, seed: int = 1) -> np.ndarray:
    """(2, bands, n) float32 band-limited noise, unit energy per sample in every band, one
    independent draw per ear (the same for every query, so a tail never flickers)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, n + FILTER_TAPS))
    y = band_split(x, fs)[..., FILTER_TAPS // 2:FILTER_TAPS // 2 + n]
    y /= np.sqrt(np.mean(y ** 2, axis=-1, keepdims=True))
    return y.astype(np.float32)


def tail(params: np.ndarray, n: int, fs: int = IR_RATE) -> np.ndarray:
    """The late tail (2, n), t = 0 at the start of the IR, for tail params (2, bands, 2) =
    (level dB per sample at EARLY_S, slope dB/s). Zero before EARLY_S - FADE_S, faded in.
    Batched: params (..., 2, bands, 2) -> (..., 2, n)."""
    start = int(round((EARLY_S - FADE_S) * fs))
    m = n - start
    if m <= 0:
        return np.zeros(params.shape[:-3] + (2, n), np.float32)
    # the envelope is evaluated every ENV_STEP samples (steps of < 0.05 dB at 1500 dB/s)
    nseg = -(-m // ENV_STEP)
    t = (np.arange(nseg) * ENV_STEP + start + 0.5 * ENV_STEP) / fs - EARLY_S
    level = params[..., 0:1].astype(np.float32)
    slope = np.minimum(params[..., 1:2].astype(np.float32), -1.0)
    env = np.power(np.float32(10.0), (level + slope * t.astype(np.float32)) / np.float32(20.0))
    noise = tail_noise(nseg * ENV_STEP, fs).reshape(2, N_BANDS, nseg, ENV_STEP)
    y = np.einsum("...ebs,ebsk->...esk", env, noise).reshape(params.shape[:-3] + (2, -1))[..., :m]
    fade = int(round(FADE_S * fs))
    y[..., :fade] *= np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade) ** 2
    out = np.zeros(params.shape[:-3] + (2, n), np.float32)
    out[..., start:] = y
    return out


@lru_cache(maxsize=4)
def _dc_block_response(n_fft: int) -> np.ndarray:
    """The teacher's DC blocker (2nd-order Butterworth high-pass at DC_HZ) on an n_fft grid at
    FIELD_RATE: applied to the zero-padded spectrum it is a causal filter (its impulse response
    has died away, < -100 dB, long before the padding wraps round)."""
    w = 2 * np.pi * np.fft.rfftfreq(n_fft, 1.0 / FIELD_RATE)
    s = 1j * w / (2 * np.pi * DC_HZ)
    return (s ** 2 / (s ** 2 + math.sqrt(2) * s + 1)).astype(np.complex64)


def early_to_ir_rate(early: np.ndarray, n: int, fs: int = IR_RATE, dc_blocked: bool = True) -> np.ndarray:
    """Field output (2, T) at FIELD_RATE -> (2, n) at ``fs``, DC-blocked like the teacher's
    reverberant part (``teacher.dc_block``), faded out at EARLY_S. Batched: (..., 2, T) -> (..., 2, n)."""
    end = min(n, int(round(EARLY_S * fs)))
    if fs % FIELD_RATE == 0:  # band-limited interpolation by an integer factor, zero-padded FFT
        k = fs // FIELD_RATE
        T = early.shape[-1]
        X = np.fft.rfft(early.astype(np.float32), 2 * T, axis=-1)
        if dc_blocked:
            X = X * _dc_block_response(2 * T)
        y = np.fft.irfft(X, 2 * T * k, axis=-1)[..., :T * k] * k
    else:
        from scipy.signal import resample_poly

        g = math.gcd(fs, FIELD_RATE)
        y = resample_poly(early.astype(np.float64), fs // g, FIELD_RATE // g, axis=-1)
    out = np.zeros(early.shape[:-1] + (n,), np.float32)
    out[..., :end] = y[..., :end]
    fade = int(round(FADE_S * fs))
    out[..., end - fade:end] *= np.cos(0.5 * np.pi * (np.arange(fade) + 0.5) / fade) ** 2
    return out


def place_direct(hrir: np.ndarray, dist: float, n: int, fs: int = IR_RATE) -> np.ndarray:
    """Direct path (2, n): ``hrir`` (2, taps) at fs, delayed by dist/c, gain 1/(4 pi dist)."""
    dist = max(float(dist), 0.05)
    out = np.zeros((2, n), np.float32)
    d = int(round(dist / SPEED_OF_SOUND * fs))
    k = max(0, min(hrir.shape[-1], n - d))
    out[:, d:d + k] = hrir[:, :k] / (4 * math.pi * dist)
    return out


# ----------------------------------------------------------------------------- measures


def _edc_db(h: np.ndarray) -> np.ndarray:
    e = np.cumsum((np.asarray(h, dtype=np.float64) ** 2)[::-1])[::-1]
    return 10 * np.log10(np.maximum(e / max(e[0], 1e-300), 1e-30))


def onset(h: np.ndarray) -> int:
    a = np.abs(np.asarray(h, dtype=np.float64))
    return int(np.argmax(a >= 0.1 * a.max())) if a.max() > 0 else 0


def c50_db(h: np.ndarray, fs: int = IR_RATE) -> float:
    """Clarity: energy in the first 50 ms after the direct sound over the energy after it."""
    h = np.asarray(h, dtype=np.float64)[onset(h):]
    k = int(round(0.05 * fs))
    early, late = np.sum(h[:k] ** 2), np.sum(h[k:] ** 2)
    return float(10 * np.log10(max(early, 1e-30) / max(late, 1e-30)))


def _fit_decay(edc: np.ndarray, fs: int, top: float, bottom: float) -> float:
    i0 = int(np.argmax(edc <= top))
    i1 = int(np.argmax(edc <= bottom)) if np.any(edc <= bottom) else len(edc) - 1
    if i1 <= i0 + 2:
        return float("nan")
    t = np.arange(i0, i1) / fs
    slope = np.polyfit(t, edc[i0:i1], 1)[0]
    return float(-60.0 / slope) if slope < 0 else float("nan")


def edt_s(h: np.ndarray, fs: int = IR_RATE) -> float:
    """Early decay time: the 0 .. -10 dB part of the Schroeder curve, as a 60 dB time."""
    h = np.asarray(h)[onset(h):]
    return _fit_decay(_edc_db(h), fs, 0.0, -10.0)


def t60_s(h: np.ndarray, fs: int = IR_RATE) -> float:
    """Reverberation time from T20 (-5 .. -25 dB of the Schroeder curve)."""
    h = np.asarray(h)[onset(h):]
    return _fit_decay(_edc_db(h), fs, -5.0, -25.0)
