"""Mastering: loudness metering, true-peak limiting, default gain staging and the reverb bus.

``studio.render.render_project`` runs this stage by default (``Mastering()``); ``Mastering.off()``
is the plain path of earlier versions (stems summed, nothing else). Signal flow with mastering on::

    track source -> [room] -> role gain (gain staging) -> fader gain, pan -> stem safety limiter -> stem
    stems --(per-track send, post-fader)--> reverb bus (one room-matched reverb) --> return
    stems + return -> mix -> loudness normalisation -> true-peak limiter -> mix

Metering
    Integrated loudness is ITU-R BS.1770-4 (K-weighting, 400 ms blocks, -70 LUFS absolute and
    -10 LU relative gates) measured with ``pyloudnorm``'s filters and gating. Silence, and anything
    quieter than the absolute gate, measures ``-inf`` and is never boosted. True peak is measured
    on a 4x oversampled signal (BS.1770 Annex 2 style: a 64-tap Kaiser-windowed sinc interpolator,
    16 taps per phase), so peaks between samples count. As BS.1770 notes, a 4x meter can
    under-read content right at Nyquist by up to about 0.7 dB; the -1 dBTP ceiling leaves that margin.

Loudness normalisation
    One gain brings the mix's integrated loudness to the target (default -14 LUFS, online video;
    -23 LUFS is EBU R128 broadcast). The boost is capped at +20 dB (a nearly silent project stays
    quiet instead of turning its noise floor up), cuts are not capped. When the limiter then
    lowers the loudness by more than 0.3 LU the gain is raised again (at most four times, each
    step scaled by the loudness the previous step bought), so the result lands within +-1 LU of
    the target unless the boost cap prevents it.

True-peak limiter (``true_peak_limit``)
    A look-ahead limiter whose detector is the 4x oversampled level (the larger of the sample and
    the inter-sample values on either side of each frame), ceiling -1 dBTP by default. The output
    is measured again and, should reconstruction still poke above the ceiling, limited once more
    with the ceiling lowered by the excess, so the measured true peak never exceeds the ceiling.
    ``pedalboard.Limiter`` (JUCE) was measured for this role and not used: with its threshold at
    -1 dB on noise with 3.0 peaks it returned sample peaks of 0 dBFS and true peaks of +3.8 dBTP
    (it clips at full scale instead of holding a ceiling, and it has no oversampled detector);
    the look-ahead limiter below holds the ceiling by construction (see ``_limiter_gain_db``).

Gain staging (``ROLE_LUFS``)
    Every generated track (an engine made it: rhythm, soundtrack, Foley, piano, performer; and
    every Foley/soundtrack track) is brought to its role's loudness before the user's fader, so
    faders keep meaning "relative to a sensible default" and a regenerated part lands where the
    previous one was. Targets, integrated LUFS of the dry stem (the fader then adds its gain):

    ======== ======== ==========================================================================
    role     LUFS     tracks
    ======== ======== ==========================================================================
    drums    -20      channel 10 (rhythm drums, soundtrack drums, performer drums)
    bass     -22      bass parts (part "bass", GM programs 33-40)
    keys     -23      chords: rhythm keys/guitar, soundtrack keys/pad, GM pianos, organs, guitars
    pad      -24      GM strings/ensembles and synth pads not named by a part
    melody   -21      melodic parts (soundtrack melody, GM leads, brass, reeds, pipes)
    lead     -20      a single transcribed instrument (piano, performer engines)
    foley    -18      Foley hits (gated loudness: measured while the hits sound)
    ======== ======== ==========================================================================

    A rhythm project (drums + bass + keys) sums to about -16.7 LUFS, so Foley sits about 1-2 LU
    under the music while it sounds, audible on every hit without covering the groove. The gain
    is capped at +-20 dB and so that the stem limiter never takes more than 6 dB off a peak
    (a sparse, spiky stem is not boosted into heavy limiting). Imported audio and hand-made MIDI
    tracks (no engine) keep their own level.

Reverb bus (``reverb_ir``)
    One reverb per project, fed by a post-fader send per track (``Mixer.reverb_send_db``; None:
    the role's default in ``ROLE_SEND_DB``: drums -18 dB, keys -12, pad -10, melody -14, lead -14,
    Foley -24 (dry-ish), bass and imported audio none). Tracks placed in a room by the spatial
    engine (``track.room``) already carry that room's reverberation and send nothing. The reverb
    is a convolution with a synthetic stereo room response: decorrelated noise split into octave
    bands, each decaying at its band's RT60, after a pre-delay of one mean free path
    (4V/S / 343 m/s). When the project has a spatial room (the most common ``track.room``), the
    RT60s and the size are that room's (``ROOM_RT60_S``: Eyring values of the room table in
    ``engines.spatial.rooms``, computed by ``engines.spatial.teacher.theory_rt60``; a test checks
    they still match); otherwise a neutral room of 1.0 s at 1 kHz. Bands below 500 Hz are capped
    at 1.5x the 1 kHz decay and the return is high-passed at 150 Hz (no low-end boom).
    ``pedalboard.Reverb`` (Freeverb) was measured and not used: its shortest decay (room_size
    0.1) is about 0.6 s, longer than the studio room's 0.25 s, and it has no decay-time parameter
    to match a room.

Everything here is deterministic (seeded noise, no threads, no randomness in the limiter).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

__all__ = [
    "Mastering", "MasterReport", "TARGET_LUFS", "BROADCAST_LUFS", "CEILING_DBTP", "ROLE_LUFS", "ROLE_SEND_DB",
    "ROOM_RT60_S", "integrated_lufs", "true_peak_dbtp", "clipped_samples", "true_peak_limit", "peak_limit",
    "master_mix", "loudness_search", "track_role", "is_staged", "stage_gain_db", "send_db", "project_room", "reverb_ir", "reverb_return",
    "parse_loudness", "settings_for", "DUCK_DB", "is_music", "duck_gain", "duck_hop", "duck_energy", "duck_curve",
    "duck_gain_of", "k_weighting", "lufs_hop", "lufs_of_hops", "intersample_level",
]

TARGET_LUFS = -14.0  # online video (YouTube, Vimeo, social platforms normalise to about -14)
BROADCAST_LUFS = -23.0  # EBU R128
CEILING_DBTP = -1.0
MAX_BOOST_DB = 20.0
OVERSAMPLE = 4
RELEASE_DB_PER_S = 60.0  # the true-peak limiter's release: 6 dB in 100 ms
TAPS_PER_PHASE = 16

ROLE_LUFS: dict[str, float] = {
    "drums": -20.0, "bass": -22.0, "keys": -23.0, "pad": -24.0, "melody": -21.0, "lead": -20.0, "foley": -18.0,
}
STAGE_MAX_DB = 20.0  # gain staging never moves a stem by more than this
STAGE_MAX_LIMIT_DB = 6.0  # ... nor boosts it so far that the stem limiter would take more than this
OFF = None
ROLE_SEND_DB: dict[str, float | None] = {
    "drums": -18.0, "bass": OFF, "keys": -12.0, "pad": -10.0, "melody": -14.0, "lead": -14.0, "foley": -24.0,
    "audio": OFF,
}
SEND_OFF_DB = -90.0  # a stored send at or below this is off

# Eyring RT60 (s) per octave band 125 Hz .. 16 kHz of the preset rooms in engines/spatial/rooms.py
# (engines.spatial.teacher.theory_rt60; tests/test_mastering.py checks they still agree); the
# pre-delay comes from the room's dimensions in that table. Kept here so a render needs no
# pyroomacoustics (the teacher's dependency).
BANDS_HZ = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
ROOM_RT60_S: dict[str, tuple[float, ...]] = {
    "studio": (1.97, 0.89, 0.30, 0.25, 0.25, 0.20, 0.19, 0.17),
    "living_room": (1.17, 1.02, 0.79, 0.60, 0.50, 0.44, 0.38, 0.34),
    "hall": (3.56, 2.31, 0.92, 0.86, 0.89, 0.73, 0.58, 0.48),
}
DEFAULT_RT60_S = (1.2, 1.15, 1.1, 1.0, 0.9, 0.8, 0.65, 0.5)  # a neutral room for projects without one
DEFAULT_DIMS = (12.0, 9.0, 4.0)
LOW_RT60_CAP = 1.5  # bands below 500 Hz decay at most 1.5x the 1 kHz band
RETURN_HIGHPASS_HZ = 150.0
SPEED_OF_SOUND = 343.0


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Mastering:
    """What the mastering stage does. ``Mastering()`` is the default; ``Mastering.off()`` none of it."""

    loudness_lufs: float | None = TARGET_LUFS  # None: no loudness normalisation
    ceiling_dbtp: float | None = CEILING_DBTP  # true-peak limiter on the mix; None: none
    gain_staging: bool = True  # generated stems to their role loudness (ROLE_LUFS)
    reverb: bool = True  # the send bus
    stem_ceiling_dbtp: float | None = CEILING_DBTP  # safety limiter on every stem; None: none
    max_boost_db: float = MAX_BOOST_DB

    @classmethod
    def off(cls, *, limiter: bool = False) -> "Mastering":
        """The plain mix of earlier versions; ``limiter=True`` adds only the true-peak limiter."""
        return cls(loudness_lufs=None, ceiling_dbtp=CEILING_DBTP if limiter else None, gain_staging=False,
                   reverb=False, stem_ceiling_dbtp=None)


def parse_loudness(value) -> float | None:
    """``-14``, ``"-23"``, ``"off"``/``None`` -> the target in LUFS or None (for the CLI and UI)."""
    if value is None:
        return None
    if isinstance(value, str):
        v = value.strip().lower().removesuffix("lufs").strip()
        if v in ("off", "none", "no", ""):
            return None
        try:
            value = float(v)
        except ValueError:
            raise ValueError(f"loudness {value!r} is not a number of LUFS or 'off'") from None
    value = float(value)
    if not -40.0 <= value <= -5.0:
        raise ValueError(f"loudness target {value:g} LUFS is outside -40..-5 (use -14 online, -23 broadcast)")
    return value


def settings_for(loudness_lufs: float | None = TARGET_LUFS, limiter: bool | None = None) -> Mastering:
    """The ``Mastering`` of the public arguments: a target -> the full stage (``limiter`` is then
    implied; ``limiter=False`` is ignored, nothing may clip); None (``off``) -> the plain path of
    earlier versions, with the true-peak limiter only when ``limiter`` is true."""
    if loudness_lufs is None:
        return Mastering.off(limiter=bool(limiter))
    return Mastering(loudness_lufs=parse_loudness(loudness_lufs))


# ----------------------------------------------------------------------------- metering


def k_weighting(sample_rate: int) -> tuple[np.ndarray, float]:
    """(sos cascade, passband gain) of pyloudnorm's BS.1770 K-weighting at this rate."""
    return _k_weighting(int(sample_rate))


@lru_cache(maxsize=8)
def _k_weighting(sample_rate: int) -> tuple[np.ndarray, float]:
    """pyloudnorm's BS.1770 K-weighting (high shelf + high pass) at this rate, as one sos cascade."""
    import pyloudnorm

    meter = pyloudnorm.Meter(int(sample_rate))  # BS.1770-4: 400 ms blocks, 75 % overlap
    stages = [meter._filters["high_shelf"], meter._filters["high_pass"]]
    sos = np.array([np.concatenate([f.b, f.a]) for f in stages], dtype=np.float64)
    return sos, float(np.prod([f.passband_gain for f in stages]))


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) of (channels, n) audio; ``-inf`` for silence or anything below
    the -70 LUFS gate. A signal shorter than one 400 ms block is measured padded with silence.

    The filters are pyloudnorm's and the gating is pyloudnorm's ``Meter.integrated_loudness``
    step for step (tests/test_mastering.py checks the two agree to 0.01 LU); only its per-block
    Python loop and float64 filtering are replaced by float32 filtering and 100 ms partial sums,
    because the render measures every generated stem and the mix (pyloudnorm itself takes about
    0.3 s per minute of stereo here, this about a quarter of that).
    """
    from scipy.signal import sosfilt

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.size == 0 or not np.any(x):
        return float("-inf")
    rate = int(sample_rate)
    T_g, step = 0.4, 0.25
    hop = int(round(T_g * step * rate))  # 100 ms: a whole number of frames at every offered rate
    n = max(x.shape[1], int(math.ceil(T_g * rate)))
    sos, gain = _k_weighting(rate)
    # float32 filtering is within 1e-4 relative of float64 (about 0.001 LU); energies add in float64
    y = sosfilt(sos.astype(np.float32), x, axis=1)
    n_hops = -(-n // hop)
    sq = np.zeros((y.shape[0], n_hops * hop), np.float32)
    np.square(y, out=sq[:, :y.shape[1]])
    hops = sq.reshape(y.shape[0], n_hops, hop).sum(axis=2, dtype=np.float64) * (gain * gain)
    return lufs_of_hops(hops, n, rate)


def lufs_hop(sample_rate: int) -> int:
    """Frames of the 100 ms steps in which ``integrated_lufs`` sums the filtered energy."""
    return int(round(0.4 * 0.25 * int(sample_rate)))


def lufs_of_hops(hops: np.ndarray, n: int, rate: int) -> float:
    """The gated integrated loudness from the K-weighted energy of every 100 ms step
    ((channels, steps) float64, the gain squared applied) of an ``n``-frame signal (padded to one
    400 ms block); the second half of ``integrated_lufs``, shared with the block-wise meter."""
    T_g, step = 0.4, 0.25
    n_hops = hops.shape[1]
    n_blocks = int(np.round(((n / rate - T_g) / (T_g * step)))) + 1
    csum = np.concatenate([np.zeros((hops.shape[0], 1)), np.cumsum(hops, axis=1)], axis=1)
    j = np.arange(n_blocks)
    z = (csum[:, np.minimum(j + 4, n_hops)] - csum[:, np.minimum(j, n_hops)]) / (T_g * rate)  # mean squares
    power = z.sum(axis=0)  # channel gains are 1.0 for left and right
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(power)
    gated = block_lufs >= -70.0
    if not gated.any():
        return float("-inf")
    relative = -0.691 + 10.0 * np.log10(z[:, gated].mean(axis=1).sum()) - 10.0
    keep = (block_lufs > relative) & (block_lufs > -70.0)
    if not keep.any():
        return float("-inf")
    value = -0.691 + 10.0 * math.log10(float(z[:, keep].mean(axis=1).sum()))
    return value if math.isfinite(value) else float("-inf")


@lru_cache(maxsize=4)
def _interpolator() -> tuple[np.ndarray, float]:
    """Taps (3, TAPS_PER_PHASE) of the 4x interpolator for the fractional positions 1/4, 2/4,
    3/4 between samples, and the largest sum of absolute taps (the most an interpolated value can
    exceed the largest sample within the filter's reach)."""
    L = TAPS_PER_PHASE
    n = np.arange(-L // 2 + 1, L // 2 + 1, dtype=np.float64)  # sample offsets -7 .. +8
    # Kaiser beta 3: within 0.05 dB of scipy's resample_poly 4x on full-band material (a steeper
    # window reads noise-like highs up to 0.6 dB low); it reads a tone at fs/4 0.1 dB high
    window = np.kaiser(L, 3.0)
    phases = []
    for k in range(1, OVERSAMPLE):
        taps = np.sinc(n - k / OVERSAMPLE) * window
        phases.append(taps / taps.sum())  # unity gain at DC
    taps = np.array(phases)
    return taps.astype(np.float32), float(np.abs(taps).sum(axis=1).max())


BLOCK = 1024  # frames per block of the true-peak detector
_ROW = 16  # frames per row of the interpolation matrix product (``_phase_matrices``)
_CHUNK_BLOCKS = 4  # blocks per matrix product: (256 x 16) @ (16 x 48) stays under OpenBLAS's
# threading threshold (threads bought nothing here and stalled 8x on a busy machine), in cache


@lru_cache(maxsize=4)
def _phase_matrices() -> tuple[np.ndarray, np.ndarray]:
    """The interpolator as a matrix product. For the 16 frames f..f+15 and the 32 samples
    x[f-7 .. f+24] split into rows ``a`` (the first 16) and ``b`` (the next 16), ``a @ top + b @ bottom``
    is the 48 interpolated values, column k*16 + r the value at f + r + (k+1)/4. float64, like
    ``scipy.ndimage.correlate1d`` computes (the float32 taps widen exactly), so the values are the
    same as filtering each phase separately."""
    taps, _ = _interpolator()
    L, R = TAPS_PER_PHASE, _ROW
    assert L <= R + 1 and BLOCK % R == 0
    m = np.zeros((2 * R, (OVERSAMPLE - 1) * R), np.float64)
    for k, t in enumerate(taps):
        for r in range(R):
            m[r:r + L, k * R + r] = t
    return m[:R].copy(), m[R:].copy()


def _interpolate_blocks_into(level: np.ndarray, x: np.ndarray, blocks: np.ndarray) -> None:
    """Raise ``level`` (n,) in the given blocks (sorted block indices) of ``x`` (channels, n;
    float32) to the largest |value| over channels of the 4x interpolated signal at frame + 1/4,
    2/4, 3/4 (the signal reads as zeros beyond its ends)."""
    top, bottom = _phase_matrices()
    R, (C, n) = _ROW, x.shape
    lead = TAPS_PER_PHASE // 2 - 1  # the filter reaches 7 frames back and 8 ahead
    rows = BLOCK // R
    offsets = np.arange(BLOCK + R) - lead
    for s in range(0, blocks.size, _CHUNK_BLOCKS):
        cb = blocks[s:s + _CHUNK_BLOCKS]
        S = cb.size
        f0 = int(cb[0]) * BLOCK
        consecutive = int(cb[-1]) - int(cb[0]) == S - 1
        if consecutive and f0 - lead >= 0 and f0 - lead + S * BLOCK + R <= n:
            # consecutive blocks inside the signal: one slice, whose 16-frame rows overlap as views
            seg = x[:, f0 - lead:f0 - lead + S * BLOCK + R].astype(np.float64).reshape(C, S * rows + 1, R)
            a, b = seg[:, :-1], seg[:, 1:]
        else:
            idx = cb[:, None] * BLOCK + offsets[None, :]  # (S, BLOCK + R) frames
            seg = x[:, np.clip(idx, 0, n - 1)]
            outside = (idx < 0) | (idx >= n)
            if outside.any():
                seg[:, outside] = 0.0
            seg = seg.reshape(C, S, rows + 1, R)
            a = np.ascontiguousarray(seg[:, :, :-1], dtype=np.float64).reshape(C, S * rows, R)
            b = np.ascontiguousarray(seg[:, :, 1:], dtype=np.float64).reshape(C, S * rows, R)
        y = a @ top
        y += b @ bottom  # (C, S * rows, 3R): row i, column k*R + r is frame f + i*R + r, phase k
        np.abs(y, out=y)
        peak = np.maximum(np.maximum(y[:, :, :R], y[:, :, R:2 * R]), y[:, :, 2 * R:])
        peak = peak.reshape(C, S * BLOCK).max(axis=0).astype(np.float32)
        if consecutive:
            part = level[f0:f0 + S * BLOCK]
            np.maximum(part, peak[:part.size], out=part)
        else:
            frames = (cb[:, None] * BLOCK + np.arange(BLOCK)[None, :]).ravel()
            keep = frames < n
            level[frames[keep]] = np.maximum(level[frames[keep]], peak[keep])


def _intersample_level(x: np.ndarray, threshold: float = 0.0, blocks: np.ndarray | None = None) -> np.ndarray:
    """Per frame n: max over channels of |x[n]| and of the 4x interpolated values between n and
    n+1. Interpolation is done only in blocks of BLOCK frames where some value could reach
    ``threshold`` (|interpolated| <= bound * the largest sample within the filter's reach, so the
    blocks skipped cannot); elsewhere the sample level is returned. Exact wherever it matters:
    every frame whose true level reaches ``threshold`` is interpolated. ``blocks`` (block
    indices) limits the work to those blocks.

    The interpolation is a float64 matrix product per 4 blocks (``_interpolate_blocks_into``),
    the same values as filtering each phase with ``scipy.ndimage.correlate1d`` (which it replaced):
    10 minutes of 48 kHz stereo, every block interpolated: 4.8 s -> 0.6 s (issue 23)."""
    _, bound = _interpolator()
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1] == 0:
        return np.zeros(0, np.float32)
    level = np.abs(x[0])
    for ch in x[1:]:
        np.maximum(level, np.abs(ch), out=level)
    n = level.size
    nb, whole = -(-n // BLOCK), n // BLOCK
    block_max = np.empty(nb, np.float32)
    block_max[:whole] = level[:whole * BLOCK].reshape(whole, BLOCK).max(axis=1)
    if nb > whole:
        block_max[whole] = level[whole * BLOCK:].max()
    reach = block_max.copy()  # the filter reaches 8 frames into the neighbouring blocks
    reach[1:] = np.maximum(reach[1:], block_max[:-1])
    reach[:-1] = np.maximum(reach[:-1], block_max[1:])
    chosen = np.nonzero(reach * bound >= threshold)[0]
    if blocks is not None:
        chosen = np.intersect1d(chosen, blocks)
    if chosen.size:
        _interpolate_blocks_into(level, x, chosen)
    return level


def intersample_level(x: np.ndarray, threshold: float = 0.0, blocks: np.ndarray | None = None) -> np.ndarray:
    """The per-frame true level of (channels, n) float32 ``x``; see ``_intersample_level``."""
    return _intersample_level(x, threshold, blocks)


def true_peak_dbtp(audio: np.ndarray, sample_rate: int | None = None) -> float:
    """True peak (dBTP) of (channels, n) audio: the largest magnitude of the 4x oversampled signal."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.size == 0:
        return float("-inf")
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        return float("-inf")
    # only blocks that could beat the sample peak are interpolated
    return 20.0 * math.log10(float(_intersample_level(x, peak).max()))


def clipped_samples(audio: np.ndarray, full_scale: float = 1.0) -> int:
    """Samples at or beyond full scale (an integer export's extremes count as clipped)."""
    return int(np.count_nonzero(np.abs(np.asarray(audio)) >= full_scale))


# ----------------------------------------------------------------------------- limiters


def _limiter_gain_db(level: np.ndarray, sample_rate: int, ceiling: float, lookahead_ms: float,
                     release_db_per_s: float) -> np.ndarray:
    """Gain (dB, <= 0) per frame that keeps ``level`` at or below ``ceiling`` (linear).

    Per frame the gain needed is computed in dB; a sliding minimum over the next ``lookahead``
    frames makes the gain start falling before a peak arrives; the gain then recovers no faster
    than ``release_db_per_s`` (a linear-in-dB release, computed as a cumulative minimum:
    ``G[n] = min_k (S[k] + r*(n-k))``); finally a moving average over the previous ``lookahead``
    frames smooths the attack into a ramp. Every frame's gain is an average of values that are
    each at or below that frame's requirement, so the output never exceeds the ceiling.
    (This is the studio's own limiter of earlier versions, kept because it is exact: see the
    module doc for what pedalboard.Limiter did instead.)
    """
    la = max(1, int(round(lookahead_ms * 1e-3 * sample_rate)))
    rate = release_db_per_s / sample_rate
    out = np.zeros(level.size, np.float64)
    over = np.nonzero(level > ceiling)[0]
    if over.size == 0:
        return out
    # The gain is 0 dB except from `la` frames before an over until the release has recovered:
    # compute it only on those stretches (merged where they touch), which is exact and keeps a
    # long mix with a few overs cheap.
    worst = float(20.0 * (np.log10(level[over].astype(np.float64).max()) - math.log10(ceiling)))
    recover = int(math.ceil(worst / rate)) + 2 * la + 2
    starts = np.maximum(0, over - 2 * la - 2)  # the moving average needs la frames of 0 dB before
    ends = np.minimum(level.size, over + recover)
    breaks = np.nonzero(starts[1:] > np.maximum.accumulate(ends)[:-1])[0]
    seg_starts = np.concatenate(([starts[0]], starts[breaks + 1]))
    seg_ends = np.concatenate((np.maximum.accumulate(ends)[breaks], [ends.max()]))
    for a, b in zip(seg_starts, seg_ends):
        out[a:b] = _gain_segment(level[a:b], ceiling, la, rate)
    return out


def _gain_segment(level: np.ndarray, ceiling: float, la: int, rate: float) -> np.ndarray:
    from scipy.ndimage import minimum_filter1d

    with np.errstate(divide="ignore"):
        need = np.minimum(0.0, 20.0 * (math.log10(ceiling) - np.log10(level.astype(np.float64))))
    size = la + 1
    ahead = minimum_filter1d(need, size, origin=-(size // 2), mode="constant", cval=0.0)  # [n, n+la]
    ramp = rate * np.arange(ahead.size, dtype=np.float64)
    released = np.minimum.accumulate(ahead - ramp) + ramp
    released = np.minimum(released, 0.0)
    csum = np.concatenate(([0.0], np.cumsum(released)))
    idx = np.arange(released.size)
    lo = np.maximum(0, idx - la)
    return (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)  # mean over [n - la, n]


def peak_limit(mix: np.ndarray, sample_rate: int, *, ceiling_dbfs: float = -1.0, lookahead_ms: float = 5.0,
               release_db_per_s: float = 40.0) -> tuple[np.ndarray, float]:
    """Sample-peak look-ahead limiter: (limited mix, largest gain reduction dB). Where no frame
    exceeds the ceiling the mix is returned unchanged (bit-identical); both channels share one
    gain (the stereo image stays put)."""
    ceiling = 10.0 ** (ceiling_dbfs / 20.0)
    level = np.max(np.abs(mix), axis=0) if mix.size else np.zeros(0, np.float32)
    if level.size == 0 or float(level.max()) <= ceiling:
        return mix, 0.0
    gain_db = _limiter_gain_db(level, sample_rate, ceiling, lookahead_ms, release_db_per_s)
    out = np.array(mix, dtype=np.float32)
    active = np.nonzero(gain_db < 0.0)[0]
    out[:, active] *= (10.0 ** (gain_db[active] / 20.0)).astype(np.float32)[None, :]
    # float32 rounding can leave a peak a hair above the ceiling: pull those frames in exactly
    over = np.max(np.abs(out), axis=0) > ceiling
    if over.any():
        out[:, over] *= np.float32(ceiling) / np.max(np.abs(out[:, over]), axis=0) * np.float32(0.99999)
    return out, float(-gain_db.min())


def true_peak_limit(mix: np.ndarray, sample_rate: int, *, ceiling_dbtp: float = CEILING_DBTP,
                    lookahead_ms: float = 5.0, release_db_per_s: float = RELEASE_DB_PER_S) -> tuple[np.ndarray, float]:
    """True-peak look-ahead limiter: (limited mix, largest gain reduction dB), the output's 4x
    oversampled peak at or below ``ceiling_dbtp``. Audio already under the ceiling comes back
    unchanged (the same array)."""
    out, reduction, _, _ = _tp_limit(np.asarray(mix, dtype=np.float32), sample_rate, ceiling_dbtp,
                                     lookahead_ms=lookahead_ms, release_db_per_s=release_db_per_s,
                                     exact_peak=False)
    return out, reduction


def _tp_limit(x: np.ndarray, sample_rate: int, ceiling_dbtp: float, *, level: np.ndarray | None = None,
              level_threshold: float = 0.0, lookahead_ms: float = 5.0,
              release_db_per_s: float = RELEASE_DB_PER_S,
              exact_peak: bool = True) -> tuple[np.ndarray, float, float, float]:
    """(out, reduction dB, true peak in dBTP, true peak out dBTP) of the limiter. ``level`` is the
    input's intersample level when the caller has it, computed with ``level_threshold`` (at most
    the ceiling). With ``exact_peak`` false, a true peak under the ceiling may be reported as a
    lower bound (the caller only needs the limiting)."""
    if x.size == 0:
        return x, 0.0, float("-inf"), float("-inf")
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    if level is None:
        level, level_threshold = _intersample_level(x, ceiling), ceiling
    tp = level
    tp_in = float(tp.max())
    db = (lambda v: 20.0 * math.log10(v) if v > 0 else float("-inf"))
    if tp_in <= ceiling:
        if tp_in < level_threshold and exact_peak:  # the maximum lies where nothing was interpolated
            tp_in = float(_intersample_level(x, float(np.max(np.abs(x)))).max())
        return x, 0.0, db(tp_in), db(tp_in)
    held = tp.copy()
    held[:-1] = np.maximum(held[:-1], tp[1:])  # a peak between n and n+1 is held by both frames' gains
    target = ceiling * 10.0 ** (-0.02 / 20.0)  # 0.02 dB margin for the gain ramp's own interpolation
    for _ in range(4):
        gain_db = _limiter_gain_db(held, sample_rate, target, lookahead_ms, release_db_per_s)
        active = np.nonzero(gain_db < 0.0)[0]
        gain = np.ones(x.shape[1], np.float32)  # x * 1 is x: only the active frames change
        gain[active] = (10.0 ** (gain_db[active] / 20.0)).astype(np.float32)
        out = x * gain[None, :]
        reduction = float(-gain_db.min())
        # measure the result again where the gain changed it (and one block either side, which
        # the interpolator reaches); elsewhere the output is the input, whose level is known
        hit = np.zeros(-(-x.shape[1] // BLOCK), bool)
        hit[active // BLOCK] = True
        near = hit.copy()
        near[1:] |= hit[:-1]
        near[:-1] |= hit[1:]
        again = _intersample_level(out, 0.0, np.nonzero(near)[0])
        in_touched = np.repeat(near, BLOCK)[:x.shape[1]]
        worst = max(float(again[in_touched].max()) if near.any() else 0.0,
                    float(tp[~in_touched].max()) if not near.all() else 0.0)
        if worst <= ceiling:
            break
        # reconstruction still pokes above: limit again with the ceiling lowered by the excess
        target *= ceiling / worst * 10.0 ** (-0.01 / 20.0)
    else:  # never seen; a last resort that still guarantees the ceiling
        out = (out * np.float32(ceiling / worst * 0.999)).astype(np.float32)
        worst *= ceiling / worst * 0.999
    return out, reduction, db(tp_in), db(worst)


# ----------------------------------------------------------------------------- the mix


@dataclass(frozen=True)
class MasterReport:
    loudness_before_lufs: float  # the mix as summed
    loudness_lufs: float  # after normalisation and limiting
    gain_db: float  # the normalisation gain applied
    true_peak_before_dbtp: float  # after the gain, before the limiter
    true_peak_dbtp: float  # of the result
    limiter_max_reduction_db: float = 0.0
    boost_capped: bool = False  # the target asked for more than max_boost_db
    timings_s: dict = field(default_factory=dict)


def master_mix(mix: np.ndarray, sample_rate: int, settings: Mastering = Mastering()) -> tuple[np.ndarray, MasterReport]:
    """Loudness normalisation then the true-peak limiter (see the module doc)."""
    import time

    t0 = time.perf_counter()
    x = np.asarray(mix, dtype=np.float32)
    before = integrated_lufs(x, sample_rate)
    if not math.isfinite(before):  # silence stays silence
        return x, MasterReport(before, before, 0.0, float("-inf"), float("-inf"))
    ceiling = settings.ceiling_dbtp
    # the intersample level scales with the gain: measured once on the mix as summed, in the
    # blocks that could reach the ceiling at the first gain (again only if a later step raises it)
    room: list = [None, None]

    def run(g: float):
        scale = 10.0 ** (g / 20.0)
        y = x if g == 0.0 else (x * np.float32(scale)).astype(np.float32)
        if ceiling is None:
            tp = true_peak_dbtp(y)
            return y, 0.0, tp, tp
        if room[1] is None or g > room[0]:
            room[0] = g if room[0] is None else max(room[0], g)
            room[1] = _intersample_level(x, 10.0 ** ((ceiling - room[0]) / 20.0))
        threshold = 10.0 ** ((ceiling - room[0] + g) / 20.0)  # where the scaled level is exact
        return _tp_limit(y, sample_rate, ceiling, level=room[1] * np.float32(scale), level_threshold=threshold)

    out, reduction, tp_before, tp, gain, after, capped = loudness_search(
        settings, before, run, lambda y: integrated_lufs(y, sample_rate))
    return out, MasterReport(before, after, gain, tp_before, tp, reduction, capped,
                             {"mastering": time.perf_counter() - t0})


def loudness_search(settings: Mastering, before: float, run, loudness, keep=None) -> tuple:
    """The gain of ``master_mix`` (and of its block-by-block twin): ``run(gain) -> (out,
    limiter reduction dB, true peak before and after)`` tries a gain, ``loudness(out)`` measures
    a try, ``keep(out)`` (optional) is told which try is the best so far. Returns (out, reduction,
    tp_before, tp, gain, loudness after, capped at max_boost_db)."""
    gain, capped = 0.0, False
    if settings.loudness_lufs is not None:
        gain = settings.loudness_lufs - before
        if gain > settings.max_boost_db:
            gain, capped = settings.max_boost_db, True
    out, reduction, tp_before, tp = run(gain)
    after = loudness(out) if (reduction > 0 or gain != 0.0) else before
    if settings.loudness_lufs is not None and reduction > 0:
        # the limiter took loudness away: ask for it again (within the cap); each dB of gain now
        # buys less than a dB of loudness, so the step follows the measured slope (secant)
        slope, last = 1.0, (gain, after)
        best = (abs(settings.loudness_lufs - after), out, reduction, tp_before, tp, gain, after)
        if keep is not None:
            keep(out)
        for _ in range(4):
            short = settings.loudness_lufs - after
            if short <= 0.3 or gain >= settings.max_boost_db:
                break
            gain = min(settings.max_boost_db, gain + min(12.0, short / slope))
            capped = capped or gain >= settings.max_boost_db
            out, reduction, tp_before, tp = run(gain)
            after = loudness(out)
            if after - last[1] < 0.05:  # more gain bought no loudness: the limiter is saturated
                break
            slope = min(1.0, max(0.15, (after - last[1]) / (gain - last[0])))
            last = (gain, after)
            if abs(settings.loudness_lufs - after) < best[0]:
                best = (abs(settings.loudness_lufs - after), out, reduction, tp_before, tp, gain, after)
                if keep is not None:
                    keep(out)
        _, out, reduction, tp_before, tp, gain, after = best  # the closest to the target
    return out, reduction, tp_before, tp, gain, after, capped


# ----------------------------------------------------------------------------- gain staging


_PART_ROLES = {"drums": "drums", "bass": "bass", "keys": "keys", "melody": "melody", "pad": "pad", "lead": "lead"}


def _program_role(program: int) -> str:
    p = int(program)
    if 32 <= p <= 39:
        return "bass"
    if 40 <= p <= 55 or 88 <= p <= 95:
        return "pad"
    if 56 <= p <= 87:
        return "melody"
    return "keys"  # pianos, chromatic percussion, organs, guitars, and what is left


def track_role(track) -> str | None:
    """The gain-staging role of a track (see ``ROLE_LUFS``); ``"audio"`` for imported audio."""
    kind = getattr(track.kind, "value", track.kind)
    if kind == "foley":
        return "foley"
    if kind == "audio" and not track.engine:
        return "audio"
    if track.is_drums:
        return "drums"
    part = str((track.settings or {}).get("part", "")).lower()
    if part in _PART_ROLES:
        return _PART_ROLES[part]
    if track.engine in ("piano", "performer"):
        return "lead"
    return _program_role(track.program)


def is_staged(track) -> bool:
    """Generated tracks are staged; imported audio and hand-made MIDI keep their level."""
    kind = getattr(track.kind, "value", track.kind)
    return bool(track.engine) or kind in ("foley", "soundtrack")


def stage_gain_db(audio: np.ndarray, sample_rate: int, role: str, *,
                  ceiling_dbtp: float | None = CEILING_DBTP) -> float:
    """The gain that brings a dry stem to its role's loudness (0 for silence or an unknown role),
    within +-STAGE_MAX_DB and so that the stem limiter takes at most STAGE_MAX_LIMIT_DB."""
    target = ROLE_LUFS.get(role)
    if target is None:
        return 0.0
    lufs = integrated_lufs(audio, sample_rate)
    if not math.isfinite(lufs):
        return 0.0
    gain = min(STAGE_MAX_DB, max(-STAGE_MAX_DB, target - lufs))
    if gain > 0 and ceiling_dbtp is not None:
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > 0:
            gain = min(gain, max(0.0, ceiling_dbtp - 20.0 * math.log10(peak) + STAGE_MAX_LIMIT_DB))
    return float(gain)


# ----------------------------------------------------------------------------- ducking

DUCK_DB = -9.0  # how far "duck under music" lowers a track (the app's check box; Mixer.duck_db)
DUCK_ATTACK_S = 0.05  # the gain goes down with this time constant ...
DUCK_RELEASE_S = 0.3  # ... and comes back up with this one
DUCK_WINDOW_S = 0.2  # the music's level: mean power over this window, centred (the render looks ahead)
DUCK_RANGE_DBFS = (-50.0, -38.0)  # music level: no ducking at or below the first, the full depth from the second
DUCK_HOP_S = 0.005
MUSIC_ROLES = frozenset({"drums", "bass", "keys", "pad", "melody", "lead"})


def is_music(track) -> bool:
    """A generated music track (an engine made it, in a musical role: not Foley, not audio), the
    sidechain that ducked tracks follow; never the video's own audio nor a track that ducks itself."""
    return (bool(track.engine) and not getattr(track, "original_audio", False)
            and getattr(track.mixer, "duck_db", None) is None and track_role(track) in MUSIC_ROLES)


def duck_gain(music: np.ndarray, sample_rate: int, depth_db: float, *, attack_s: float = DUCK_ATTACK_S,
              release_s: float = DUCK_RELEASE_S, window_s: float = DUCK_WINDOW_S,
              range_dbfs: tuple[float, float] = DUCK_RANGE_DBFS) -> np.ndarray:
    """The linear gain, one value per frame of ``music`` ((channels, n) or (n,)), that lowers a
    track by ``depth_db`` (negative) where ``music`` is loud: the music's power in 5 ms hops,
    averaged over a centred ``window_s``, gives its level (dBFS); the reduction grows linearly
    from none at ``range_dbfs[0]`` to the full depth at ``range_dbfs[1]``, then follows it with a
    one-pole smoother in dB (``attack_s`` going down, ``release_s`` coming back up).
    The three steps (``duck_energy``, ``duck_curve``, ``duck_gain_of``) also run block by block."""
    x = np.asarray(music, dtype=np.float32)
    n = int(x.shape[-1])
    if n == 0 or depth_db >= 0.0:
        return np.ones(n, np.float32)
    curve = duck_curve(duck_energy(x, sample_rate), sample_rate, depth_db, attack_s=attack_s,
                       release_s=release_s, window_s=window_s, range_dbfs=range_dbfs)
    return duck_gain_of(curve, sample_rate, 0, n)


def duck_hop(sample_rate: int) -> int:
    return max(1, int(round(DUCK_HOP_S * sample_rate)))


def duck_energy(music: np.ndarray, sample_rate: int) -> np.ndarray:
    """The music's summed power per 5 ms hop (the first step of ``duck_gain``); blocks of a whole
    number of hops give the same values one after another."""
    x = np.asarray(music, dtype=np.float32)
    power = np.square(x) if x.ndim == 1 else np.mean(np.square(x), axis=0)
    n = int(power.shape[0])
    hop = duck_hop(sample_rate)
    return np.bincount(np.arange(n) // hop, weights=power, minlength=-(-n // hop))


def duck_curve(energy: np.ndarray, sample_rate: int, depth_db: float, *, attack_s: float = DUCK_ATTACK_S,
               release_s: float = DUCK_RELEASE_S, window_s: float = DUCK_WINDOW_S,
               range_dbfs: tuple[float, float] = DUCK_RANGE_DBFS) -> np.ndarray:
    """The smoothed reduction (dB) per hop from ``duck_energy``'s values (see ``duck_gain``)."""
    hop = duck_hop(sample_rate)
    per_hop = energy / hop
    m = per_hop.size
    w = max(1, int(round(window_s * sample_rate / hop)))
    level = 10.0 * np.log10(np.maximum(np.convolve(per_hop, np.ones(w) / w, mode="same"), 1e-12))
    lo, hi = range_dbfs
    target = float(depth_db) * np.clip((level - lo) / (hi - lo), 0.0, 1.0)
    down, up = math.exp(-hop / (attack_s * sample_rate)), math.exp(-hop / (release_s * sample_rate))
    smooth = np.empty(m)
    cur = 0.0
    for i, t in enumerate(target.tolist()):
        cur = t + (down if t < cur else up) * (cur - t)
        smooth[i] = cur
    return smooth


def duck_gain_of(curve: np.ndarray, sample_rate: int, a: int, b: int) -> np.ndarray:
    """The linear gain of frames ``a:b`` from ``duck_curve``'s values."""
    hop = duck_hop(sample_rate)
    db = np.interp(np.arange(a, b), (np.arange(curve.size) + 0.5) * hop, curve)
    return np.power(10.0, db / 20.0).astype(np.float32)


# ----------------------------------------------------------------------------- reverb bus


def send_db(track) -> float | None:
    """The track's reverb send (dB, post-fader) or None for no send: the stored
    ``Mixer.reverb_send_db``, else the role's default; never for a track placed in a room."""
    if track.room:
        return None
    stored = getattr(track.mixer, "reverb_send_db", None)
    value = ROLE_SEND_DB.get(track_role(track)) if stored is None else float(stored)
    if value is None or value <= SEND_OFF_DB:
        return None
    return float(value)


def project_room(project) -> str | None:
    """The project's spatial room: the room most of its tracks are placed in (first on a tie)."""
    rooms = [t.room for t in project.tracks if t.room]
    if not rooms:
        return None
    return max(dict.fromkeys(rooms), key=rooms.count)


def _room_params(room: str | None) -> tuple[tuple[float, ...], float]:
    """(RT60 per band, pre-delay s) of a room name (the neutral room for None/unknown)."""
    rt60, dims = DEFAULT_RT60_S, DEFAULT_DIMS
    if room:
        key = room.strip().lower().replace(" ", "_").replace("-", "_")
        try:
            from engines.spatial import rooms as room_table

            r = room_table.room(key)
            key, dims = r.name, tuple(r.dims)
        except Exception:  # a build without the spatial engine, or a room it does not know
            pass
        if key in ROOM_RT60_S:
            rt60 = ROOM_RT60_S[key]
        elif dims is not DEFAULT_DIMS:
            rt60 = _theory_rt60(key) or DEFAULT_RT60_S
    W, D, H = dims
    mean_free_path = 4.0 * W * D * H / (2.0 * (W * D + W * H + D * H))
    return tuple(rt60), mean_free_path / SPEED_OF_SOUND


@lru_cache(maxsize=8)
def _theory_rt60(name: str) -> tuple[float, ...] | None:
    """Eyring RT60s of a preset room missing from ROOM_RT60_S (needs pyroomacoustics)."""
    try:
        from engines.spatial import rooms as room_table
        from engines.spatial.teacher import theory_rt60

        return tuple(float(v) for v in theory_rt60(room_table.room(name))["eyring_s"])
    except Exception:
        return None


@lru_cache(maxsize=16)
def reverb_ir(room: str | None, sample_rate: int) -> np.ndarray:
    """The bus's stereo impulse response (2, n) float32 for ``room`` (see the module doc);
    each channel has unit energy, so a send of -12 dB returns a tail about 12 dB under the dry."""
    from scipy.signal import butter, sosfilt

    rt60, predelay = _room_params(room)
    rt60 = np.array(rt60, dtype=np.float64)
    mid = rt60[BANDS_HZ.index(1000.0)]
    low = np.array(BANDS_HZ) < 500.0
    rt60[low] = np.minimum(rt60[low], LOW_RT60_CAP * mid)
    sr = int(sample_rate)
    length = int(min(4.0, 1.2 * float(rt60.max())) * sr)
    t = np.arange(length) / sr
    rng = np.random.default_rng(20260417)
    nyq = sr / 2.0
    ir = np.zeros((2, length))
    for ch in range(2):
        noise = rng.standard_normal(length)
        for f, T in zip(BANDS_HZ, rt60):
            lo, hi = f / math.sqrt(2.0), f * math.sqrt(2.0)
            if lo >= 0.95 * nyq:
                continue
            if f == BANDS_HZ[0]:
                sos = butter(4, hi, "lowpass", fs=sr, output="sos")
            elif hi >= 0.95 * nyq or f == BANDS_HZ[-1]:
                sos = butter(4, lo, "highpass", fs=sr, output="sos")
            else:
                sos = butter(2, (lo, hi), "bandpass", fs=sr, output="sos")
            ir[ch] += sosfilt(sos, noise) * 10.0 ** (-3.0 * t / T)  # -60 dB at t = RT60
    fade = min(length, int(0.003 * sr))
    ir[:, :fade] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    ir = sosfilt(butter(2, RETURN_HIGHPASS_HZ, "highpass", fs=sr, output="sos"), ir, axis=1)
    ir /= np.sqrt(np.sum(ir ** 2, axis=1, keepdims=True))
    ir = np.concatenate([np.zeros((2, int(round(predelay * sr)))), ir], axis=1)
    return ir.astype(np.float32)


def reverb_return(send_bus: np.ndarray, room: str | None, sample_rate: int) -> np.ndarray:
    """The bus's output for (2, n) send audio, n frames long (the tail past the end is cut)."""
    from scipy.signal import oaconvolve

    x = np.asarray(send_bus, dtype=np.float32)
    n = x.shape[1]
    if n == 0 or not np.any(x):
        return np.zeros_like(x)
    ir = reverb_ir(room, sample_rate)
    out = oaconvolve(x, ir, axes=1)[:, :n]
    return np.ascontiguousarray(out, dtype=np.float32)


def reverb_return_blocks(send_bus: np.ndarray, room: str | None, sample_rate: int, out: np.ndarray,
                         block: int = 1 << 18) -> np.ndarray:
    """``reverb_return`` block by block (overlap-add: each block convolved with the impulse
    response, its tail carried into the next), written into ``out`` (e.g. a ``studio.diskaudio``
    array); within float32 rounding of the whole-array convolution. One FFT size for every block
    and the response's spectrum made once (``scipy.signal.oaconvolve`` per block transformed it
    again each time: two of its six FFTs); a silent block is skipped."""
    from scipy import fft

    from studio import diskaudio as da

    n = send_bus.shape[1]
    ir = reverb_ir(room, sample_rate)
    size = fft.next_fast_len(block + ir.shape[1] - 1, real=True)
    spectrum = None
    carry = np.zeros((send_bus.shape[0], 0), np.float32)
    for a, b in da.chunks(n, block):
        x = da.read(send_bus, a, b)
        if np.any(x):
            if spectrum is None:
                spectrum = fft.rfft(ir, size, axis=1)
            y = fft.irfft(fft.rfft(x, size, axis=1) * spectrum, size, axis=1)[:, :x.shape[1] + ir.shape[1] - 1]
            y = y.astype(np.float32, copy=False)
        else:
            y = np.zeros((x.shape[0], 0), np.float32)
        size_out = max(y.shape[1], carry.shape[1], b - a)
        acc = np.zeros((x.shape[0], size_out), np.float32)
        acc[:, :y.shape[1]] += y
        acc[:, :carry.shape[1]] += carry
        da.write(out, a, acc[:, :b - a])
        carry = acc[:, b - a:]
    return out
