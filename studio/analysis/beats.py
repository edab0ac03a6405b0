"""Tempo, beats and downbeats from the visual onset envelope and the contacts.

Tempo: :func:`estimate_tempo` (autocorrelation peaks, a gentle prior, octave decisions, a
confidence). Beats, per shot (a cut may change the tempo): a dynamic-programming tracker in the
manner of Ellis (2007) with a fractional period on the envelope with the contacts in it, each
beat refined to the envelope peak, then moved onto a contact within 40 ms (sub-frame contact
times); then strays off the shot's median line are dropped and a robust local quadratic fit
over +-4 beats (full width at the shot's ends too) takes out frame jitter, and the beats near a
contact go back onto it (studio.grid steadies the tempo map further). Plain numpy: librosa's versions cost
seconds of numba compilation per process.
Downbeats: every ``beats_per_bar``-th beat, the phase whose beats carry the most onset energy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.analysis.timeline import AnalysisParams

TIGHTNESS = 100.0  # DP penalty weight on log(interval / period)^2 (Ellis 2007; librosa's default)
PRIOR_BPM, PRIOR_OCTAVES = 110.0, 1.0  # tempo prior: log-normal centre and width
OCTAVE_RATIO = 0.6  # a faster level is the beat when it correlates this well relative to the slower
MIN_CONFIDENCE = 0.2  # below: no clear pulse
DEFAULT_BPM = 96.0  # the gentle tempo of a picture without a pulse
MIN_FRAMES_PER_BEAT = 4  # a pulse needs frames before and after each beat to be seen; a faster
# periodicity is the capture's or the encoder's cadence (a 10 fps street scene whose uneven frame
# timing repeats every 3-4 frames reads 150-200 BPM otherwise), not anything on screen
SNAP = 0.1  # a contact within this fraction of a beat (and SNAP_S) is the beat
CHECK_EVERY = 4096  # loop steps between cancellation checks (~20 ms of work)
RESNAP_S = 0.015  # after the fit: a contact this close to the fitted beat is that beat
SNAP_S = 0.04  # ... and within this many seconds: the tracked beat already sits on the contacts
# to a frame (they are in its envelope), snapping only adds their sub-frame timing


@dataclass(frozen=True)
class TempoEstimate:
    bpm: float  # DEFAULT_BPM when the picture shows no clear pulse
    confidence: float  # 0..1: the envelope's correlation with itself one beat later

    @property
    def rhythmic(self) -> bool:
        return self.confidence >= MIN_CONFIDENCE


def autocorrelation(env: np.ndarray, rate_hz: float, max_lag: int) -> np.ndarray:
    """Normalised, unbiased autocorrelation (lag 0 = 1) of the envelope minus its 1.5 s moving
    average (a slowly changing amount of motion is not a pulse). FFT: O(n log n) at any length."""
    n = len(env)
    k = max(1, int(round(1.5 * rate_hz)))
    trend = np.convolve(np.pad(env, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid")
    x = env - trend
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, size)
    ac = np.fft.irfft(spec * np.conj(spec), size)[:max_lag + 1]
    ac /= np.maximum(n - np.arange(len(ac)), 1)  # unbiased: a long lag is not penalised for its shorter overlap
    return ac / ac[0] if ac[0] > 0 else np.zeros_like(ac)


def _near(ac: np.ndarray, lag: float) -> float:
    """The highest autocorrelation within 4 % (at least one step) of ``lag``; -1 beyond the end."""
    w = max(1.0, 0.04 * lag)
    lo, hi = int(np.floor(lag - w)), int(np.ceil(lag + w))
    if lo < 1 or hi >= len(ac):
        return -1.0
    return float(ac[lo:hi + 1].max())


def _prior(bpm) -> np.ndarray:
    """Log-normal tempo preference around PRIOR_BPM (PRIOR_OCTAVES wide): gentle, no edges."""
    return np.exp(-0.5 * (np.log2(np.asarray(bpm, float) / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)


def estimate_tempo(env: np.ndarray, rate_hz: float, params: AnalysisParams,
                   around_bpm: float | None = None, octave_env: np.ndarray | None = None,
                   frame_rate: float | None = None) -> TempoEstimate:
    """The tempo of the envelope's pulse.

    1. The strongest autocorrelation peak (a true local maximum, so the edge of the search
       range never wins by default) weighted by a gentle log-normal prior around 110 BPM, or
       around ``around_bpm`` (a shot's tempo near the video's).
    2. Octave decisions: the fastest metrical level that is as periodic as the chosen one is
       the beat (half the period when the envelope correlates at P/2 at least
       ``OCTAVE_RATIO`` as well as at P, a third likewise; judged on ``octave_env``, the
       envelope with the contacts, when given), as long as it stays within the range; a period outside the range is doubled or halved into it.
    3. Confidence: the correlation at the chosen period or at two or three periods (a pulse
       whose beats alternate in look, like two hands, repeats only every other beat), of the
       envelope or of the envelope with the contacts (a periodic train of contacts is a pulse
       even where the flow is noisy). Below
       MIN_CONFIDENCE the picture has no clear pulse: DEFAULT_BPM is reported instead of a guess.

    With ``frame_rate`` (the video's), no beat is shorter than MIN_FRAMES_PER_BEAT frames:
    faster autocorrelation peaks are left out, not folded into the range.
    """
    n = len(env)
    none = TempoEstimate(DEFAULT_BPM, 0.0)
    if n < rate_hz * 3 or float(np.max(env, initial=0.0)) <= 0:
        return none
    lo_bpm, hi_bpm = params.tempo_min_bpm, params.tempo_max_bpm
    min_lag = 2.0
    if frame_rate and frame_rate > 0:
        hi_bpm = min(hi_bpm, 60.0 * frame_rate / MIN_FRAMES_PER_BEAT)
        if hi_bpm < 2 * lo_bpm:  # under ~8 fps no beat in the range is seen well: no pulse
            return none
        min_lag = max(min_lag, 60.0 * rate_hz / hi_bpm * 0.98)
    max_lag = min(n - 2, int(np.ceil(4 * 60.0 * rate_hz / lo_bpm)))
    ac = autocorrelation(env, rate_hz, max_lag)
    # the envelope with the contacts in it: a train of contacts is a clean pulse where the flow
    # is noisy, and an object that lands on every beat makes each beat alike even when another
    # accents every other one (the octave); the flow alone keeps random contacts from ruling
    oac = ac if octave_env is None else autocorrelation(np.asarray(octave_env, float), rate_hz, max_lag)
    both = np.maximum(ac, oac)
    lags = np.arange(2, min(max_lag, int(np.ceil(2 * 60.0 * rate_hz / lo_bpm)))) if max_lag > 3 else np.zeros(0, int)
    if len(lags) == 0:
        return none
    peaks = lags[(both[lags] > both[lags - 1]) & (both[lags] >= both[lags + 1]) & (both[lags] > 0)
                 & (lags >= min_lag)]
    if len(peaks) == 0:
        return none
    bpm = 60.0 * rate_hz / peaks
    weight = _prior(bpm) if around_bpm is None else np.exp(-0.5 * (np.log2(bpm / around_bpm) / 0.15) ** 2)
    lag = float(peaks[int(np.argmax(both[peaks] * weight))])
    if around_bpm is None:
        changed = True
        while changed:
            changed = False
            for div in (2, 3):
                fast = lag / div
                if 60.0 * rate_hz / fast <= hi_bpm and fast >= min_lag and _near(oac, fast) >= OCTAVE_RATIO * _near(oac, lag):
                    lag, changed = fast, True
                    break
    while 60.0 * rate_hz / lag > hi_bpm:
        lag *= 2
    while 60.0 * rate_hz / lag < lo_bpm:
        lag /= 2
    lag = _refine_lag(ac, lag)
    # a pulse may repeat its look only every second or third beat (two hands alternating)
    confidence = float(np.clip(max(_near(c, m * lag) for c in (ac, oac) for m in (1, 2, 3)), 0.0, 1.0))
    if confidence < MIN_CONFIDENCE:
        return TempoEstimate(DEFAULT_BPM, confidence)
    return TempoEstimate(float(np.clip(60.0 * rate_hz / lag, lo_bpm, hi_bpm)), confidence)


def _refine_lag(ac: np.ndarray, lag: float) -> float:
    """The autocorrelation peak nearest ``lag`` (within 4 %), with parabolic interpolation; the
    mean over the first multiples of the period sharpens it (P, 2P, 3P peaks, divided down)."""
    estimates = []
    for m in (1, 2, 3, 4):
        target = lag * m
        w = max(1.0, 0.04 * target)
        lo, hi = int(np.floor(target - w)), int(np.ceil(target + w))
        if lo < 1 or hi >= len(ac) - 1:
            break
        b = lo + int(np.argmax(ac[lo:hi + 1]))
        a_, b_, c_ = ac[b - 1], ac[b], ac[b + 1]
        den = a_ - 2 * b_ + c_
        frac = 0.5 * (a_ - c_) / den if den < 0 else 0.0
        if b_ > 0:
            estimates.append((b + float(np.clip(frac, -0.5, 0.5))) / m)
    return float(np.median(estimates)) if estimates else lag


def track_beats(env: np.ndarray, rate_hz: float, tempo_bpm: float, check=None) -> np.ndarray:
    """Beat times (s) at about ``tempo_bpm`` by dynamic programming: each beat maximises the
    envelope plus the best previous beat's score minus a penalty on how far the interval is
    from the beat period; weak beats at either end are trimmed; times refined to the peak."""
    n = len(env)
    if tempo_bpm <= 0 or n < 3:
        return np.zeros(0)
    period = 60.0 * rate_hz / tempo_bpm
    local = env / max(1e-9, float(env.std()))
    score = local.copy()
    back = np.full(n, -1)
    lo_off, hi_off = max(1, int(round(period / 2))), int(round(2 * period))
    offsets = np.arange(hi_off, lo_off - 1, -1)
    penalty = -TIGHTNESS * np.log(offsets / period) ** 2
    for t in range(lo_off, n):
        if check is not None and t % CHECK_EVERY == 0:
            check()  # a long video's tracking stays cancellable
        prev = t - offsets
        ok = prev >= 0
        cand = score[prev[ok]] + penalty[ok]
        i = int(np.argmax(cand))
        if cand[i] > 0:
            score[t] = local[t] + cand[i]
            back[t] = prev[ok][i]
    # the last beat: the best score within the final period, then follow the links back
    tail = max(0, n - int(np.ceil(period)))
    t = tail + int(np.argmax(score[tail:]))
    frames = []
    while t >= 0:
        frames.append(t)
        t = back[t]
    frames = np.array(frames[::-1])
    frames = _trim(frames, local)
    return np.array([_refine(env, float(f)) / rate_hz for f in frames])


def _trim(frames: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Drop beats at the start and end whose onset strength is far below the typical beat."""
    if len(frames) < 3:
        return frames
    strength = local[frames]
    floor = 0.25 * float(np.median(strength))
    keep = np.nonzero(strength >= floor)[0]
    if len(keep) == 0:
        return frames
    return frames[keep[0]:keep[-1] + 1]


def _refine(env: np.ndarray, pos: float) -> float:
    """The envelope peak within a frame of ``pos`` (grid units), with parabolic interpolation."""
    i = int(round(pos))
    lo, hi = max(0, i - 1), min(len(env) - 1, i + 1)
    j = lo + int(np.argmax(env[lo:hi + 1]))
    if 0 < j < len(env) - 1:
        a, b, c = env[j - 1], env[j], env[j + 1]
        den = a - 2 * b + c
        if den < 0:
            return j + float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return float(j)


def downbeats(beats_s: np.ndarray, env: np.ndarray, energy: np.ndarray, rate_hz: float,
              beats_per_bar: int) -> np.ndarray:
    """Every ``beats_per_bar``-th beat starting at the phase with the strongest accents
    (onset strength plus motion energy around the beat)."""
    if len(beats_s) == 0 or beats_per_bar <= 1:
        return np.asarray(beats_s, dtype=np.float64)
    idx = np.clip(np.round(np.asarray(beats_s) * rate_hz).astype(int), 0, len(env) - 1)
    e = energy / max(1e-9, float(np.max(energy))) if len(energy) else np.zeros(len(env))
    accent = np.array([env[max(0, i - 1):i + 2].max() + e[max(0, i - 2):i + 3].max() for i in idx])
    scores = [accent[p::beats_per_bar].mean() if len(accent[p::beats_per_bar]) else -1.0
              for p in range(beats_per_bar)]
    phase = int(np.argmax(scores))
    return np.asarray(beats_s, dtype=np.float64)[phase::beats_per_bar]


def shot_beats(env: np.ndarray, rate_hz: float, params: AnalysisParams, tempo: TempoEstimate,
               contacts_s: np.ndarray, cuts_s, frame_rate: float | None = None, check=None) -> np.ndarray:
    """Beat times of the whole video: tracked shot by shot (each at its own tempo when the
    shot is long enough to tell, near the video's), moved onto contacts, smoothed within the
    shot. Empty when the picture has no clear pulse. ``check()`` is called every few thousand
    steps (it raises to cancel)."""
    if not tempo.rhythmic:
        return np.zeros(0)
    n = len(env)
    edges = [0] + sorted({int(round(c * rate_hz)) for c in cuts_s if 0 < c * rate_hz < n}) + [n]
    contacts = np.sort(np.asarray(contacts_s, float))
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        seg = env[a:b]
        if len(seg) < 3 or float(seg.max(initial=0.0)) <= 0:
            continue
        bpm = tempo.bpm
        if len(seg) >= 6 * rate_hz:
            own = estimate_tempo(seg, rate_hz, params, around_bpm=tempo.bpm, frame_rate=frame_rate)
            # the shot's own tempo only where it is the clearer pulse: two hands alternating
            # correlate at two beats and against each other at one, so near the video's tempo
            # the shot's strongest peak can be some weak other period (a drummer at 100 BPM
            # read 75 in its shot while the video's 100 held at two beats: 0.58 against 0.54)
            if own.rhythmic and own.confidence > _pulse_strength(seg, rate_hz, tempo.bpm):
                bpm = own.bpm
        beats = track_beats(seg, rate_hz, bpm, check) + a / rate_hz
        beats = snap_to_contacts(beats, contacts, 60.0 / bpm)
        beats = smooth_beats(beats, period=60.0 / bpm, full_window=True, check=check)
        # the fit replaces each beat by its neighbours' curve: a beat whose contact lies on that
        # curve goes back onto it (the contact is timed to a fraction of a frame, the curve only
        # to its neighbours); a contact off the curve (another object's) stays off
        out.append(snap_to_contacts(beats, contacts, 60.0 / bpm, RESNAP_S))
    beats = np.concatenate(out) if out else np.zeros(0)
    # the fit extrapolates a shot's first and last beats from their neighbours: one that lands
    # before the video starts or after it ends is not in the picture
    return beats[(beats >= 0.0) & (beats <= n / rate_hz)]


def _pulse_strength(env: np.ndarray, rate_hz: float, bpm: float) -> float:
    """How periodic ``env`` is at ``bpm``: its autocorrelation at one, two or three beats (the
    measure :func:`estimate_tempo` gives as confidence)."""
    lag = 60.0 * rate_hz / bpm
    ac = autocorrelation(env, rate_hz, min(len(env) - 2, int(np.ceil(3 * lag)) + 2))
    return max(_near(ac, m * lag) for m in (1, 2, 3))


def snap_to_contacts(beats: np.ndarray, contacts: np.ndarray, period_s: float, max_s: float = SNAP_S) -> np.ndarray:
    """Each beat onto the nearest contact within ``SNAP`` of a beat and ``SNAP_S`` (contacts are
    timed to a fraction of a frame; the envelope only to a frame)."""
    if len(beats) == 0 or len(contacts) == 0:
        return beats
    i = np.clip(np.searchsorted(contacts, beats), 1, len(contacts) - 1) if len(contacts) > 1 else np.zeros(len(beats), int)
    left, right = contacts[np.maximum(i - 1, 0)], contacts[i]
    nearest = np.where(np.abs(beats - left) <= np.abs(right - beats), left, right)
    out = np.where(np.abs(nearest - beats) <= min(SNAP * period_s, max_s), nearest, beats)
    return np.sort(out)


def smooth_beats(beats: np.ndarray, half: int = 4, outlier: float = 0.06, period: float | None = None,
                 full_window: bool = False, check=None) -> np.ndarray:
    """Robust local quadratic fit of beat time against beat number (+-``half`` beats): beats more
    than ``outlier`` of a beat off their neighbours' curve get no weight and are replaced by it;
    a tempo that drifts (rubato) is followed, frame jitter is not. With ``full_window`` the
    window near either end keeps its full width (moved inwards) instead of shrinking, so the
    last few beats of a shot are extrapolated from as many beats as the others."""
    n = len(beats)
    if n < 5:
        return beats
    k = np.arange(n, dtype=float)
    trusted = _median_line_inliers(beats, period)
    out = beats.copy()
    for i in range(n):
        if check is not None and i % CHECK_EVERY == 0:
            check()
        lo, hi = max(0, i - half), min(n, i + half + 1)
        if full_window:
            lo = max(0, min(lo, n - (2 * half + 1)))
            hi = min(n, lo + 2 * half + 1)
        kk, bb = k[lo:hi] - i, beats[lo:hi]
        w = trusted[lo:hi].astype(float)
        coef = None
        for _ in range(3):
            if w.sum() < 4:
                break
            # quadratic inside, linear at the ends (a one-sided quadratic follows a stray beat)
            deg = 2 if min(i - lo, hi - 1 - i) >= 2 else 1
            basis = np.stack([kk ** d for d in range(deg + 1)], 1)
            coef = np.linalg.lstsq(basis * w[:, None], bb * w, rcond=None)[0]
            step = max(1e-6, abs(coef[1]))  # the local beat period
            new_w = (np.abs(bb - basis @ coef) < outlier * step).astype(float)
            if np.array_equal(new_w, w):
                break
            w = new_w
        if coef is not None:
            out[i] = coef[0]
    return out if np.all(np.diff(out) > 0) else beats


def _median_line_inliers(beats: np.ndarray, period: float | None = None, half: int = 4,
                         tolerance: float = 0.15) -> np.ndarray:
    """Beats within ``tolerance`` of a beat of the line through their +-``half`` neighbours at
    ``period`` (the shot's tempo; else their median interval) and their median phase. A median
    stands even when a few beats in a row went astray (at a shot's start, among the bounces of
    objects that just dropped in), where a least-squares fit would follow them."""
    n = len(beats)
    ok = np.ones(n, bool)
    if period is None:
        period = float(np.median(np.diff(beats)))
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        phase = float(np.median(beats[lo:hi] - period * (np.arange(lo, hi) - i)))
        ok[i] = abs(beats[i] - phase) <= tolerance * period
    return ok
