"""Modal synthesis of impact sounds (numpy only, vectorised).

Modes: the sum of K damped sinusoids is computed block-wise as one small real matrix product.
With z_k = exp((-sigma_k + i w_k) / sr), sample n = b*L + m of the mode sum is

    y[bL + m] = Im( sum_k (a_k z_k^(bL)) * z_k^m ) = Im( W[b, :] @ C[:, m] ),

W (n_blocks x K) and C (K x L) both evaluated directly with exp (no recursion, so no drift),
so the cost is one (n_blocks, 2K) @ (2K, L) float32 GEMM plus K*(n_blocks + L) complex exps.
Memory is bounded by the output itself.

Residual: Gaussian noise shaped in the STFT domain (sqrt-Hann frames, hop N/2, whose squared
windows sum to one, so the noise variance is exactly the model's at every sample); the per-bin
gain of each frame is sqrt(sum_b PSD_b(f) 10^((w_b - d_b t)/10)), one (F, B) @ (B, bins) product.
Frames are placed so that full variance is reached at sample 0 (the contact transient).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import scipy.fft as sfft

from engines.errors import EngineError
from engines.foley.params import (
    BAND_CENTRES_HZ, SILENT_DB, ModalParams, band_psd, contact_gain_db,
)

DB_PER_NEPER = 20.0 / np.log(10.0)  # 8.686 dB per neper
REL_FLOOR_DB = -90.0  # a hit is rendered until every component is 90 dB under the hit's level
ABS_FLOOR_DB = -120.0  # ... or under -120 dBFS, whichever is higher (very quiet hits)
MAX_TAIL_S = 12.0  # longest ring; longer ones decay a little faster so they still reach the floor
MIN_TAIL_S = 0.01
_BLOCK = 256


def _check_rate(sample_rate) -> int:
    sr = int(sample_rate)
    if sr != sample_rate or sr < 1000:
        raise EngineError(f"sample rate must be an integer >= 1000 Hz, got {sample_rate}")
    return sr


def _components(params: ModalParams, sample_rate: int | None):
    """Effective levels (dB), decays (dB/s) and the audible mask of modes then bands."""
    lv = np.concatenate([params.effective_levels_db(), params.effective_band_levels_db()])
    dc = np.concatenate([params.decays_dbps, params.band_decays_dbps])
    ok = lv > SILENT_DB
    if sample_rate is not None:
        ok[: params.n_modes] &= params.freqs_hz < sample_rate / 2
    return lv, dc, ok


def tail_floor_db(params: ModalParams, sample_rate: int | None = None) -> float:
    """Level (dBFS) a hit is rendered down to: REL_FLOOR_DB under its onset level (the summed
    amplitude of its modes and bands, an upper bound of its peak), at least ABS_FLOOR_DB."""
    lv, _, ok = _components(params, sample_rate)
    if not np.any(ok):
        return ABS_FLOOR_DB
    ref = 20 * np.log10(np.sum(10.0 ** (lv[ok] / 20.0)))
    return float(max(ref + REL_FLOOR_DB, ABS_FLOOR_DB))


def tail_decays(params: ModalParams, sample_rate: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mode and band decays (dB/s) as rendered: each raised, where needed, just enough to reach
    the tail floor within MAX_TAIL_S. So no ring is ever cut: a very long one (a metal
    fundamental at the 3 dB/s air-loss floor would need 30 s to fall 90 dB) decays
    exponentially a little faster instead, and every render ends below the floor."""
    lv, dc, _ = _components(params, sample_rate)
    need = (lv - tail_floor_db(params, sample_rate)) / MAX_TAIL_S
    dc = np.maximum(dc, need)
    return dc[: params.n_modes], dc[params.n_modes:]


def as_rendered(params: ModalParams, sample_rate: int | None = None) -> ModalParams:
    """The parameters ``synthesize`` actually renders: ``params`` with ``tail_decays``."""
    dm, db = tail_decays(params, sample_rate)
    if np.array_equal(dm, params.decays_dbps) and np.array_equal(db, params.band_decays_dbps):
        return params
    return ModalParams(params.freqs_hz, params.levels_db, dm, params.band_levels_db, db, params.contact_s)


def natural_duration_s(params: ModalParams, sample_rate: int | None = None) -> float:
    """Time until every audible mode and band has decayed below the tail floor
    (``tail_floor_db``: 90 dB under the hit, at least -120 dBFS); at most MAX_TAIL_S, which
    ``tail_decays`` guarantees without a cut."""
    lv, _, ok = _components(params, sample_rate)
    floor = tail_floor_db(params, sample_rate)
    dm, db = tail_decays(params, sample_rate)
    dc = np.concatenate([dm, db])
    ok &= lv > floor
    if not np.any(ok):
        return MIN_TAIL_S
    t = float(np.max((lv[ok] - floor) / dc[ok]))
    return float(np.clip(t, MIN_TAIL_S, MAX_TAIL_S))


_ROWS = 32  # blocks per fixed-shape matrix product (see damped_modes)


def damped_modes(freqs_hz, amps, decays_dbps, sample_rate: int, n_samples: int) -> np.ndarray:
    """sum_k amps_k * exp(-sigma_k t) * sin(2 pi f_k t), t = n / sr, as float32 (n_samples,).

    sigma_k = decays_dbps_k / 8.686. No Nyquist check here (``synthesize`` drops those modes).
    """
    f = np.asarray(freqs_hz, np.float64)
    a = np.asarray(amps, np.float64)
    sig = np.asarray(decays_dbps, np.float64) / DB_PER_NEPER
    if n_samples <= 0:
        return np.zeros(0, np.float32)
    if f.size == 0:
        return np.zeros(n_samples, np.float32)
    L = _BLOCK if n_samples > 4 * _BLOCK else n_samples
    nb = -(-n_samples // L)
    s = (-sig + 2j * np.pi * f) / sample_rate  # log of z_k per sample
    C = np.exp(np.arange(L)[None, :] * s[:, None])  # (K, L)
    W = a[None, :] * np.exp((np.arange(nb) * L)[:, None] * s[None, :])  # (nb, K)
    lhs = np.concatenate([W.real, W.imag], axis=1).astype(np.float32)
    rhs = np.concatenate([C.imag, C.real], axis=0).astype(np.float32)
    if L != _BLOCK:  # one short block
        return (lhs @ rhs).reshape(-1)[:n_samples]
    # Fixed-shape products: a multi-threaded BLAS partitions a matrix product by its shape, and
    # different partitions round differently, so one big product would make a hit's samples
    # depend (in the last bit) on how long it is rendered. Chunks of _ROWS blocks keep every
    # sample identical whatever the length (a shorter render is an exact prefix).
    out = np.empty((-(-nb // _ROWS) * _ROWS, L), np.float32)
    pad = np.zeros((out.shape[0], lhs.shape[1]), np.float32)
    pad[:nb] = lhs
    for r in range(0, out.shape[0], _ROWS):
        np.matmul(pad[r:r + _ROWS], rhs, out=out[r:r + _ROWS])
    return out.reshape(-1)[:n_samples]


def _noise_frame(sample_rate: int) -> int:
    return int(2 ** np.round(np.log2(sample_rate * 0.02)))  # ~20 ms (1024 at 44.1/48 kHz)


@functools.lru_cache(maxsize=8)
def _noise_tables(sample_rate: int):
    """Per-rate constants of ``band_noise``: frame length, bin frequencies, band PSDs, window."""
    N = _noise_frame(sample_rate)
    fk = np.fft.rfftfreq(N, 1.0 / sample_rate)
    win = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N) / N)).astype(np.float32)
    tables = (fk, band_psd(fk), win)
    for a in tables:
        a.setflags(write=False)
    return (N, *tables)


def band_noise(band_levels_db, band_decays_dbps, sample_rate: int, n_samples: int,
               rng: np.random.Generator) -> np.ndarray:
    """Residual: sum over bands of independent band-shaped Gaussian noises with RMS
    10^((w_b - d_b t)/20), as float32 (n_samples,)."""
    lv = np.asarray(band_levels_db, np.float64)
    on = lv > SILENT_DB
    if n_samples <= 0 or not np.any(on):
        return np.zeros(max(n_samples, 0), np.float32)
    N, fk, psd_all, win = _noise_tables(int(sample_rate))
    H = N // 2
    F = -(-n_samples // H) + 1
    psd = psd_all[on]  # (B', bins)
    t = np.arange(F) * (H / sample_rate)  # frame f is centred on sample f*H
    pw = 10.0 ** ((lv[on][None, :] - np.asarray(band_decays_dbps)[on][None, :] * t[:, None]) / 10.0)
    gain = np.sqrt((N * sample_rate / 4.0) * (pw @ psd)).astype(np.float32)  # (F, bins)
    # Uniform variates of unit variance (3x cheaper than normals); every output sample is a
    # windowed sum of hundreds of them, hence Gaussian to CLT accuracy.
    # Drawn frame by frame, so a shorter render of the same hit is an exact prefix.
    z = rng.random((F, 2, fk.size), dtype=np.float32)
    z -= 0.5
    z *= np.float32(np.sqrt(12.0))
    spec = (z[:, 0] + 1j * z[:, 1]) * gain
    spec[:, 0] = spec[:, 0].real * np.sqrt(2.0)  # DC and Nyquist bins are real
    if N % 2 == 0:
        spec[:, -1] = spec[:, -1].real * np.sqrt(2.0)
    frames = sfft.irfft(spec, n=N, axis=1).astype(np.float32, copy=False) * win
    out = np.zeros((F + 1, H), np.float32)  # block j covers samples (j-1)H .. jH
    out[:-1] += frames[:, :H]
    out[1:] += frames[:, H:]
    return out[1:].reshape(-1)[:n_samples]


def synthesize(params: ModalParams, sample_rate: int, duration_s: float | None = None, *,
               seed: int = 0) -> np.ndarray:
    """Render one hit: float32 mono (n_samples,), onset at sample 0.

    duration_s None -> ``natural_duration_s`` (every component 90 dB under the hit, or under
    -120 dBFS; rings that would outlast MAX_TAIL_S decay slightly faster, ``tail_decays``, so
    nothing is cut). Modes at or above Nyquist are dropped. Deterministic for a given seed.
    """
    sr = _check_rate(sample_rate)
    dur = natural_duration_s(params, sr) if duration_s is None else float(duration_s)
    if not np.isfinite(dur) or dur < 0:
        raise EngineError(f"duration must be a non-negative number of seconds, got {duration_s}")
    n = int(round(dur * sr))
    lv = params.effective_levels_db()
    mode_dc, band_dc = tail_decays(params, sr)
    ok = (params.freqs_hz < sr / 2) & (lv > SILENT_DB)
    y = damped_modes(params.freqs_hz[ok], 10.0 ** (lv[ok] / 20.0), mode_dc[ok], sr, n)
    bl = params.band_levels_db + contact_gain_db(BAND_CENTRES_HZ, params.contact_s)
    # The residual usually dies long before the modes: render it only while above the floor.
    floor = tail_floor_db(params, sr)
    on = bl > floor
    n_res = 0
    if np.any(on):
        t_res = float(np.max((bl[on] - floor) / band_dc[on]))
        n_res = min(n, int(np.ceil(min(t_res, MAX_TAIL_S) * sr)) + 1)
    y[:n_res] += band_noise(bl, band_dc, sr, n_res, np.random.default_rng(seed))
    return y


@dataclass(frozen=True)
class Hit:
    """One impact placed on a timeline (time in seconds, linear gain)."""

    time_s: float
    params: ModalParams
    gain: float = 1.0


def render_events(events: Iterable, sample_rate: int, length_samples: int, *,
                  seed: int = 0) -> np.ndarray:
    """Mix hits into one float32 mono buffer (length_samples,).

    ``events``: ``Hit`` objects or (time_s, params[, gain]) tuples. Hit j starts exactly at
    sample round(time_s * sr) and uses noise seed ``seed + j``; hits are rendered only as far
    as the buffer reaches (a hit starting before 0 is cut, not shifted).
    """
    sr = _check_rate(sample_rate)
    out = np.zeros(int(length_samples), np.float32)
    for j, ev in enumerate(events):
        hit = ev if isinstance(ev, Hit) else Hit(*ev)
        start = int(round(float(hit.time_s) * sr))
        if start >= out.size:
            continue
        n = min(int(round(natural_duration_s(hit.params, sr) * sr)), out.size - start)
        if start + n <= 0:
            continue
        y = synthesize(hit.params, sr, n / sr, seed=seed + j)
        y = y[:n]
        lo = max(0, -start)
        out[start + lo: start + y.size] += np.float32(hit.gain) * y[lo:]
    return out


def to_stereo(mono: np.ndarray, pan: float = 0.0) -> np.ndarray:
    """Constant-power pan (-1 left .. 1 right) -> float32 (2, n), the project's audio shape."""
    th = (np.clip(pan, -1.0, 1.0) + 1.0) * np.pi / 4.0
    return np.stack([np.cos(th) * mono, np.sin(th) * mono]).astype(np.float32)
