"""Estimate modal parameters from a recorded (or synthesised) hit.

Method (README has the equations and the measured accuracy):

1. Onset: first sample above -60 dB re the peak (minus one sample); everything is timed from it.
2. Detection: Blackman-Harris STFT frames that start at the onset (no onset step inside a
   window, so leakage stays at the window's -92 dB), mean power of the first five frames at
   three resolutions (~10, 40, 160 ms), 8x zero padding; local maxima with >= 8 dB prominence,
   PEAK_OVER_FLOOR_DB above the local 25th-percentile spectrum and within ``dynamic_range_db``
   of the strongest; parabolic interpolation of the dB spectrum.
3. Decay: for each candidate the DFT *at its own frequency* is taken in BH frames whose length
   clears the nearest other candidate by 1.5 main lobes (one complex matrix product); the
   noise power probed 2.5 main lobes to either side is subtracted, and a robust straight line
   is fitted to the dB trajectory over the frames above the floor and SNR_MIN_DB above that
   noise. The slope is the decay lambda (a decaying envelope under a fixed window changes the
   frame magnitude only by a constant factor); the intercept at t = 0 gives the level p after
   dividing out the window's gain for that decay: |X(t_c)| = A/2 e^(-sigma t_c) |sum w[n]
   e^(-sigma (n - N/2)/sr)|. Candidates that do not stand above the noise beside them or do not
   follow a line are dropped; the frequency is refined from the frame-to-frame phase advance.
4. Residual: the fitted modes are resynthesised and subtracted; bins near modes are masked; per
   frame the octave-band powers are the least-squares fit of the band PSD shapes to the
   measured PSD; a robust line through each band's dB trajectory gives its level and decay.

The result has ``contact_s`` = CONTACT_RANGE_S[0] (10 us) with levels compensated, so it
re-synthesises what was measured and packs without loss.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import percentile_filter, uniform_filter1d
from scipy.signal import find_peaks
from scipy.signal.windows import blackmanharris, hann

from engines.errors import EngineError
from engines.foley.dsp import DB_PER_NEPER, damped_modes
from engines.foley.params import (
    BAND_BANDWIDTHS_HZ, BAND_TOP_HZ, CONTACT_RANGE_S, K_MODES, LEVEL_FLOOR_DB, N_BANDS,
    PAD_DECAY_DBPS, ModalParams, band_psd,
)

BH_HALF_LOBE_BINS = 4.0  # Blackman-Harris main-lobe half width
PEAK_OVER_FLOOR_DB = 15.0  # detection: peak height over the local 25th-percentile spectrum
SNR_MIN_DB = 6.0  # decay fit: frames where the mode is this far above the noise beside it


def _pow2(x: float) -> int:
    return int(2 ** np.ceil(np.log2(max(x, 2.0))))


def _frames(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    if x.size < n:
        x = np.concatenate([x, np.zeros(n - x.size)])
    return sliding_window_view(x, n)[::hop]


def _robust_line(t: np.ndarray, y: np.ndarray, iters: int = 3):
    """Least-squares line with iterative rejection of outliers (3 MAD, at least 1.5 dB)."""
    keep = np.ones(t.size, bool)
    slope, icpt = 0.0, float(np.mean(y))
    for _ in range(iters):
        if keep.sum() < 3:
            break
        slope, icpt = np.polyfit(t[keep], y[keep], 1)
        r = y - (slope * t + icpt)
        mad = np.median(np.abs(r[keep])) * 1.4826
        new = np.abs(r) <= max(3 * mad, 1.5)
        if np.array_equal(new, keep):
            break
        keep = new
    return float(slope), float(icpt), keep


def _fit_region(db: np.ndarray, snr: np.ndarray, margin_db: float = 10.0,
                max_drop_db: float = 60.0) -> int:
    """Number of leading frames to fit: above the trajectory's floor + margin, SNR_MIN_DB
    above the noise probed beside the mode (``snr``) and within ``max_drop_db`` of the start
    (deeper down, float rounding and leakage take over)."""
    finite = db[np.isfinite(db)]
    if finite.size == 0:
        return 0
    floor = float(np.median(np.sort(finite)[: max(1, finite.size // 4)]))
    start = float(np.max(db[: min(3, db.size)]))
    above = np.isfinite(db) & (db > max(floor + margin_db, start - max_drop_db)) & (snr >= SNR_MIN_DB)
    below = np.flatnonzero(~above)
    return int(below[0]) if below.size else db.size


def _detect(x: np.ndarray, sr: int, dyn_db: float,
            max_modes: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate mode frequencies (Hz) and peak heights (dB), strongest first."""
    found: list[tuple[float, float, float]] = []  # (freq, height dB, resolution Hz)
    for seconds in (0.01, 0.04, 0.16):
        n = _pow2(sr * seconds)
        if n > 2 * x.size and found:
            continue
        hop = n // 4
        span = min(x.size, 2 * n)  # the first 5 frames from the onset
        fr = _frames(x[:span], n, hop) * blackmanharris(n)
        nfft = 8 * n
        spec = np.mean(np.abs(np.fft.rfft(fr, nfft, axis=1)) ** 2, axis=0)
        db = 10 * np.log10(spec + 1e-30)
        floor = percentile_filter(db, 25, size=8 * 40 + 1, mode="nearest")  # +-20 bins
        peaks, _ = find_peaks(db, prominence=8.0)
        peaks = peaks[(db[peaks] > floor[peaks] + PEAK_OVER_FLOOR_DB)
                      & (db[peaks] > db.max() - dyn_db)]
        peaks = peaks[(peaks > 2) & (peaks < db.size - 2)
                      & (peaks * sr / nfft < 0.95 * min(sr / 2, BAND_TOP_HZ))]
        a, b, c = db[peaks - 1], db[peaks], db[peaks + 1]
        off = 0.5 * (a - c) / (a - 2 * b + c)
        f = (peaks + off) * sr / nfft
        res = BH_HALF_LOBE_BINS * sr / n
        for fi, hi in zip(f, b - 10 * np.log10(n)):
            found.append((float(fi), float(hi), res))
    # Merge resolutions: a long-window peak wins over a short-window one within its lobe.
    found.sort(key=lambda r: r[2], reverse=False)  # finest resolution first
    kept: list[tuple[float, float, float]] = []
    for fi, hi, res in found:
        if all(abs(fi - fk) > max(res, rk) for fk, _, rk in kept):
            kept.append((fi, hi, res))
    kept.sort(key=lambda r: -r[1])
    kept = kept[: 2 * max_modes]
    return np.array([k[0] for k in kept]), np.array([k[1] for k in kept])


def _track(x: np.ndarray, sr: int, f: float, n: int, avoid: np.ndarray):
    """dB trajectory of the DFT at f in BH frames of length n, with the noise power measured
    2.5 main lobes to either side (where no other mode is near) subtracted; frame centre
    times; window."""
    hop = max(n // 8, 1)
    w = blackmanharris(n)
    fr = _frames(x, n, hop)
    lobe = BH_HALF_LOBE_BINS * sr / n
    sides = np.array([f - 2.5 * lobe, f + 2.5 * lobe])
    clean = (sides > lobe) & (sides < sr / 2 - lobe)
    for g in avoid:
        clean &= np.abs(sides - g) > 1.5 * lobe
    probe = np.concatenate([[f], sides[clean]])
    ph = np.exp(-2j * np.pi * probe[None, :] * np.arange(n)[:, None] / sr) * w[:, None]
    c = fr @ ph
    pw = np.abs(c) ** 2
    if probe.size > 1:  # noise varies slowly: average it over 5 frames
        noise = uniform_filter1d(pw[:, 1:].mean(axis=1), 5, mode="nearest")
    else:  # crowded by other modes: no noise probe, no subtraction
        noise = np.zeros(pw.shape[0])
    mode_pw = pw[:, 0] - noise
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10 * np.log10(np.where(mode_pw > 0, mode_pw, np.nan))
        snr = 10 * np.log10(pw[:, 0] / np.maximum(noise, 1e-300))
    j = np.arange(fr.shape[0])
    t = (j * hop + n / 2) / sr
    phasor = c[:, 0] * np.exp(-2j * np.pi * f * j * hop / sr)  # constant phase for a mode at f
    return db, t, w, snr, phasor / np.maximum(np.abs(phasor), 1e-300)


def _mode_params(x: np.ndarray, sr: int, f: float, others: np.ndarray):
    """(refined f, level p dB, decay dB/s) of the candidate at f, or None if it is not a mode."""
    sep_hz = float(np.min(np.abs(others - f))) if others.size else f
    sep_hz = min(sep_hz, f)
    n_min, n_max = _pow2(sr * 0.005), _pow2(sr * 0.4)
    n_sep = _pow2(1.5 * BH_HALF_LOBE_BINS * sr / max(sep_hz, 1.0))
    n = int(np.clip(max(n_sep, _pow2(sr * 0.02)), n_min, n_max))
    db, t, w, snr, phase = _track(x, sr, f, n, others)
    m = _fit_region(db, snr)
    for _ in range(2):  # short-lived: shorter frames (fewer than 3 above the floor)
        if m >= 3 or n <= n_min:
            break
        n = max(n // 2, n_min)
        db, t, w, snr, phase = _track(x, sr, f, n, others)
        m = _fit_region(db, snr)
    if m < 3:
        return None
    slope, icpt, keep = _robust_line(t[:m], db[:m])
    lam = -slope
    if not np.isfinite(lam) or lam <= 0:
        return None
    # A mode stands clear of the noise beside it and decays along a line; a noise peak does not.
    fit_rms = np.sqrt(np.mean((db[:m][keep] - (slope * t[:m][keep] + icpt)) ** 2))
    if np.median(snr[:m]) < 6.0 or fit_rms > 6.0 or keep.mean() < 0.6:
        return None
    # Phase-vocoder refinement: demodulated at f, a mode's phase advances by the same step
    # between half-overlapping frames, 2 pi (f_true - f) * (4 hops) / sr.
    ph = phase[:m:4][:16]
    if ph.size >= 3:
        step = (ph[1:] * np.conj(ph[:-1])).mean()
        df = np.angle(step) * sr / (2 * np.pi * 4 * (n // 8))
        if abs(step) > 0.7 and abs(df) < 0.5 * sr / n and f + df > 0:
            f = f + df
    sigma = lam / DB_PER_NEPER
    gain = np.abs(np.sum(w * np.exp(-sigma * (np.arange(n) - n / 2) / sr)))
    return f, 20 * np.log10(2.0) + icpt - 20 * np.log10(gain), lam


def _band_region(db: np.ndarray, margin_db: float = 10.0, max_drop_db: float = 50.0) -> int:
    valid = db[np.isfinite(db)]
    if valid.size < 3:
        return 0
    floor = float(np.median(np.sort(valid)[: max(1, valid.size // 4)]))
    start = float(np.nanmax(db[:3])) if np.isfinite(db[:3]).any() else -np.inf
    above = np.isfinite(db) & (db > max(floor + margin_db, start - max_drop_db))
    below = np.flatnonzero(~above)
    return int(below[0]) if below.size else db.size


def _residual(r: np.ndarray, sr: int, modes_f: np.ndarray, modes_lam: np.ndarray):
    """Octave-band levels (dB RMS at t = 0) and decays (dB/s) of the residual ``r``."""
    levels = np.full(N_BANDS, LEVEL_FLOOR_DB)
    decays = np.full(N_BANDS, PAD_DECAY_DBPS)
    # Each band prefers a Hann frame long enough to hold ~8 bins of it; a band too short-lived
    # for that frame falls back to shorter ones.
    sizes = [_pow2(sr * 0.005) * 2 ** k for k in range(6)]  # ~5 ms .. ~170 ms
    pref = [max(i for i, nn in enumerate(sizes) if nn <= max(_pow2(8 * sr / bw), sizes[0]))
            for bw in BAND_BANDWIDTHS_HZ]
    cache: dict[int, tuple] = {}

    def trajectories(n: int):
        if n not in cache:
            hop = n // 4
            w = hann(n, sym=False)
            fr = _frames(r, n, hop) * w
            spec = np.abs(np.fft.rfft(fr, axis=1)) ** 2 * 2.0 / (sr * np.sum(w * w))  # PSD
            fk = np.fft.rfftfreq(n, 1.0 / sr)
            use = (fk > 0) & (fk < min(0.98 * sr / 2, BAND_TOP_HZ))
            for f, lam in zip(modes_f, modes_lam):  # mask what is left of the modes
                use &= np.abs(fk - f) > 3 * sr / n + 5 * lam / DB_PER_NEPER / (2 * np.pi)
            shapes = band_psd(fk[use]).T  # (bins, B)
            present = shapes.sum(axis=0) > 0.02 * shapes.sum(axis=0).max()
            # All frames in one least-squares solve; negative (noise) powers are dropped.
            sol = np.linalg.lstsq(shapes[:, present], spec[:, use].T, rcond=None)[0]
            power = np.zeros((fr.shape[0], N_BANDS))
            power[:, present] = uniform_filter1d(sol.T, 3, axis=0, mode="nearest")
            with np.errstate(divide="ignore", invalid="ignore"):
                db = 10 * np.log10(np.where(power > 0, power, np.nan))
            cache[n] = (db, (np.arange(fr.shape[0]) * hop + n / 2) / sr, w, present)
        return cache[n]

    top_db = np.nanmax(trajectories(sizes[pref[N_BANDS // 2]])[0])
    single: list[tuple[int, float, float]] = []  # bands seen in one frame only: (b, dB, t)
    for b in range(N_BANDS):
        for i in range(pref[b], -1, -1):
            db, t, w, present = trajectories(sizes[i])
            if not present[b]:
                break
            m = _band_region(db[:, b])
            ok = np.isfinite(db[:m, b])
            if ok.sum() >= 3:
                break
        else:
            ok = np.zeros(0, bool)
        if not present[b] or ok.sum() == 0 or np.nanmax(db[:m, b]) < top_db - 80:
            continue
        if ok.sum() < 3:
            j = int(np.flatnonzero(ok)[0])
            single.append((b, float(db[j, b]), float(t[j])))
            continue
        slope, icpt, _ = _robust_line(t[:m][ok], db[:m, b][ok])
        if slope >= 0:
            continue
        n = w.size
        delta = -slope * np.log(10) / 10  # power decay rate, 1/s
        g = np.sum(w * w * np.exp(-delta * (np.arange(n) - n / 2) / sr)) / np.sum(w * w)
        levels[b] = icpt - 10 * np.log10(g)
        decays[b] = -slope
    fitted = decays[levels > LEVEL_FLOOR_DB]
    typical = float(np.median(fitted)) if fitted.size else PAD_DECAY_DBPS
    for b, lvl, t0 in single:  # too short to fit: the typical decay, level extrapolated to 0
        levels[b], decays[b] = lvl + typical * t0, typical
    return levels, decays


def estimate(audio, sample_rate: int, max_modes: int = K_MODES, *,
             dynamic_range_db: float = 60.0) -> ModalParams:
    """Modal parameters of one hit (mono (n,) or (channels, n) float audio, onset inside)."""
    if int(max_modes) < 1:
        raise EngineError("max_modes must be at least 1")
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    sr = int(sample_rate)
    if x.ndim != 1 or x.size < sr * 0.02:
        raise EngineError("need at least 20 ms of mono or (channels, samples) audio")
    if not np.all(np.isfinite(x)):
        raise EngineError("the recording contains NaN or infinite samples")
    peak = np.max(np.abs(x))
    if peak <= 0:
        raise EngineError("the recording is silent; nothing to analyse")
    onset = max(int(np.argmax(np.abs(x) > peak * 1e-3)) - 1, 0)
    x = x[onset:]

    cand, _ = _detect(x, sr, dynamic_range_db, max_modes)
    res = []
    for f in cand:
        est = _mode_params(x, sr, float(f), cand[cand != f])
        if est is not None:
            res.append(est)
    res.sort(key=lambda r: -r[1])
    res = res[:max_modes]
    res.sort(key=lambda r: r[0])
    f = np.array([r[0] for r in res])
    p = np.array([r[1] for r in res])
    lam = np.array([r[2] for r in res])
    resid = x - damped_modes(f, 10 ** (p / 20), lam, sr, x.size)
    bl, bd = _residual(resid, sr, f, lam)
    raw = ModalParams(f, p, lam, bl, bd, 0.0)
    return raw.with_contact(CONTACT_RANGE_S[0])
