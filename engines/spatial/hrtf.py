"""Head-related impulse responses for the teacher: the measured MIT KEMAR set, or a spherical head.

KEMAR (Gardner & Martin 1994, MIT Media Lab; free with no restrictions on use provided the
authors are cited) comes as a SOFA file with Debian's ``libmysofa1``
(``/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa``: 710 directions, 44.1 kHz, 512 taps),
read with h5py. Without it (or h5py) a spherical-head model is used instead: Woodworth ITD and
Brown & Duda's one-pole/one-zero head-shadow filter, head radius 8.75 cm.

Head frame: x forward, y left, z up; SOFA azimuth is counter-clockwise from the front
(90 degrees = left). HRIRs are resampled to the requested rate, aligned so that the earliest
onset over all directions sits at ``ONSET`` samples, and cut to ``taps``.

Diffuse-field equalisation (on by default, ``equalise=False`` gives the raw set): the raw
KEMAR responses carry what is common to every direction (the ear canal's ~2.5 kHz resonance,
+17 dB against 1 kHz, the measurement loudspeaker's low-frequency roll-off); an ear in a
room hears that coloration as the listener's own ear adds it again. :func:`diffuse_field_eq`
removes only this common part: the power response averaged over all directions and both ears
(weighted by solid angle), 1/3-octave smoothed, inverted (regularised: at most
``EQ_MAX_DB`` boost or cut, no correction above 16 kHz where the 44.1 kHz measurement has
little left), as one minimum-phase FIR applied to every HRIR. Interaural differences and the
direction-dependent spectral cues are untouched (the same filter on both ears of every
direction).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

KEMAR_SOFA = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")
ONSET = 8
HEAD_RADIUS_M = 0.0875
SPEED_OF_SOUND = 343.0
EQ_MAX_DB = 18.0  # regularisation: largest boost / cut of the diffuse-field inverse
EQ_BAND_HZ = (150.0, 16000.0)  # full inverse inside; faded to 0 dB over two octaves below, a third above
EQ_TAPS = 256  # minimum-phase equaliser length at 48 kHz


@dataclass(frozen=True)
class HRIRSet:
    dirs: np.ndarray  # (M, 3) unit vectors, head frame
    ir: np.ndarray  # (M, 2, taps) float32, left/right
    sample_rate: int
    source: str  # "kemar" or "spherical"
    equalised: bool = False  # diffuse-field equalised (see diffuse_field_eq)

    def nearest(self, v: np.ndarray) -> np.ndarray:
        """Index of the measured direction nearest to each head-frame vector (N, 3)."""
        v = np.asarray(v, dtype=np.float64)
        v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
        return np.argmax(v @ self.dirs.T, axis=-1)


def _unit(az_deg: np.ndarray, el_deg: np.ndarray) -> np.ndarray:
    az, el = np.radians(az_deg), np.radians(el_deg)
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def _align(ir: np.ndarray, taps: int) -> np.ndarray:
    env = np.abs(ir)
    first = np.argmax(env >= 0.1 * env.max(axis=-1, keepdims=True), axis=-1)
    shift = int(first.min()) - ONSET
    if shift > 0:
        ir = ir[..., shift:]
    out = np.zeros(ir.shape[:-1] + (taps,), np.float64)
    n = min(taps, ir.shape[-1])
    out[..., :n] = ir[..., :n]
    fade = max(4, taps // 8)
    out[..., taps - fade:] *= np.linspace(1.0, 0.0, fade)
    return out


def solid_angle_weights(dirs: np.ndarray) -> np.ndarray:
    """Solid angle (sr) of each direction of a grid laid out in elevation rings (KEMAR: 10-degree
    rings from -40 to 90 degrees, 72 .. 1 azimuths; the spherical head likewise): each ring owns
    the band halfway to its neighbours (the lowest ring half a spacing below itself), shared
    equally by its azimuths. Directions below the lowest ring are not measured and get no weight."""
    el = np.degrees(np.arcsin(np.clip(dirs[:, 2], -1.0, 1.0)))
    rings = np.unique(np.round(el, 1))
    edges = np.concatenate([[rings[0] - 0.5 * (rings[1] - rings[0]) if len(rings) > 1 else -90.0],
                            0.5 * (rings[1:] + rings[:-1]), [90.0]])
    edges = np.clip(edges, -90.0, 90.0)
    w = np.zeros(len(dirs))
    key = np.round(el, 1)
    for k, r in enumerate(rings):
        sel = key == r
        band = 2 * np.pi * (np.sin(np.radians(edges[k + 1])) - np.sin(np.radians(edges[k])))
        w[sel] = band / sel.sum()
    return w


def third_octave_smooth(f: np.ndarray, p: np.ndarray, fraction: float = 3.0) -> np.ndarray:
    """Power spectrum ``p`` on the linear grid ``f`` averaged over +-1/(2 fraction) octave around
    each bin (hand-written: scipy has no fractional-octave smoother); DC keeps its own value."""
    out = np.array(p, dtype=np.float64)
    half = 2.0 ** (0.5 / fraction)
    for i in range(1, len(f)):
        sel = (f >= f[i] / half) & (f <= f[i] * half)
        out[..., i] = p[..., sel].mean(axis=-1)
    return out


def diffuse_field_response(dirs: np.ndarray, ir: np.ndarray, sample_rate: int, n_fft: int = 1024
                           ) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, diffuse-field power response): |H|^2 averaged over directions (solid-angle
    weights) and both ears."""
    w = solid_angle_weights(dirs)
    P = np.abs(np.fft.rfft(np.asarray(ir, np.float64), n_fft, axis=-1)) ** 2  # (M, 2, F)
    p = np.einsum("m,mef->f", w, P) / (2 * w.sum())
    return np.fft.rfftfreq(n_fft, 1.0 / sample_rate), p


def diffuse_field_filter(dirs: np.ndarray, ir: np.ndarray, sample_rate: int, taps: int = EQ_TAPS,
                         design_rate: int | None = None) -> np.ndarray:
    """Minimum-phase FIR (``taps``) whose magnitude is the regularised inverse of the 1/3-octave
    smoothed diffuse-field response (0 dB = the diffuse-field average becomes unity gain), at
    ``design_rate`` (default: the HRIRs' own rate; the spatial field's 24 kHz early part uses the
    same correction below 12 kHz)."""
    f, p = diffuse_field_response(dirs, ir, sample_rate, n_fft=4096)
    ps = third_octave_smooth(f, p)
    g_db = np.clip(-10 * np.log10(np.maximum(ps, 1e-20)), -EQ_MAX_DB, EQ_MAX_DB)
    lo, hi = EQ_BAND_HZ
    # below ``lo`` the correction fades to 0 dB over two octaves: the raw set's low-frequency roll-off
    # (no DC, like any loudspeaker measurement) is kept there, else the teacher's thousands of
    # same-sign image sources pile up a DC / sub-bass hump that is no part of the room's reverberation
    low = np.clip((np.log2(np.maximum(f, 1.0)) - np.log2(lo / 4)) / 2.0, 0.0, 1.0)
    g_db = np.where(f < lo, np.interp(lo, f, g_db) * np.sin(0.5 * np.pi * low) ** 2, g_db)
    top = hi * 2 ** (1 / 3)
    fade = np.clip((np.log2(np.maximum(f, 1.0)) - np.log2(hi)) / (np.log2(top) - np.log2(hi)), 0.0, 1.0)
    g_db = g_db * np.cos(0.5 * np.pi * fade) ** 2  # no correction above ~20 kHz
    # scipy's homomorphic minimum_phase returns a filter of about half the length whose magnitude is
    # the square root of the prototype's: so the linear-phase prototype gets the squared magnitude
    return min_phase_fir(f, g_db, design_rate or sample_rate, taps)


def min_phase_fir(f: np.ndarray, gain_db: np.ndarray, rate: int, taps: int) -> np.ndarray:
    """Minimum-phase FIR (``taps``) with magnitude ``gain_db`` (given on ``f``) at ``rate``.
    scipy's homomorphic ``minimum_phase`` returns a filter of about half the prototype's length
    whose magnitude is the square root of the prototype's: the linear-phase prototype
    (``firwin2``) therefore gets the squared magnitude."""
    from scipy.signal import firwin2, minimum_phase

    fd = np.linspace(0.0, rate / 2, 2049)
    g_db = np.interp(fd, f, gain_db)
    proto = firwin2(2 * taps - 1, fd, 10 ** (2 * g_db / 20), fs=rate)
    return minimum_phase(proto, method="homomorphic", n_fft=1 << 16)[:taps]


def diffuse_field_eq(dirs: np.ndarray, ir: np.ndarray, sample_rate: int, taps: int | None = None
                     ) -> np.ndarray:
    """HRIRs (M, 2, n) -> diffuse-field equalised HRIRs (M, 2, taps or n): every one filtered by
    the same minimum-phase inverse of the set's diffuse-field response, cut to length (faded)."""
    from scipy.signal import fftconvolve

    n = ir.shape[-1] if taps is None else taps
    g = diffuse_field_filter(dirs, ir, sample_rate)
    y = fftconvolve(np.asarray(ir, np.float64), g.reshape(1, 1, -1), axes=-1)
    out = np.zeros(ir.shape[:-1] + (n,))
    k = min(n, y.shape[-1])
    out[..., :k] = y[..., :k]
    fade = max(4, n // 8)
    out[..., n - fade:] *= np.linspace(1.0, 0.0, fade)
    return out


def load_kemar(path: Path = KEMAR_SOFA, sample_rate: int = 48000, taps: int = 128,
               equalise: bool = True) -> HRIRSet:
    import h5py
    from scipy.signal import resample_poly

    with h5py.File(path, "r") as f:
        ir = np.asarray(f["Data.IR"], dtype=np.float64)  # (M, 2, N)
        fs = int(np.asarray(f["Data.SamplingRate"]).ravel()[0])
        pos = np.asarray(f["SourcePosition"], dtype=np.float64)  # az, el (deg), r
    if ir.ndim != 3 or ir.shape[1] != 2 or pos.shape[0] != ir.shape[0]:
        raise ValueError(f"{path} is not a two-ear SimpleFreeFieldHRIR set")
    if fs != sample_rate:
        g = math.gcd(fs, sample_rate)
        ir = resample_poly(ir, sample_rate // g, fs // g, axis=-1)
    dirs = _unit(pos[:, 0], pos[:, 1])
    h = _align(ir, taps)
    if equalise:
        h = diffuse_field_eq(dirs, h, sample_rate)
    return HRIRSet(dirs, h.astype(np.float32), sample_rate, "kemar", equalise)


def spherical_head(sample_rate: int = 48000, taps: int = 128, n_az: int = 72,
                   elevations=(-40, -20, 0, 20, 40, 60, 90), equalise: bool = True) -> HRIRSet:
    """Brown & Duda (1998) spherical head: head shadow per ear + Woodworth interaural delay."""
    dirs = []
    for el in elevations:
        k = 1 if el == 90 else n_az
        for az in np.arange(k) * 360.0 / k:
            dirs.append((az, el))
    d = np.array(dirs, dtype=np.float64)
    u = _unit(d[:, 0], d[:, 1])
    n_fft = 4 * taps
    w = 2 * np.pi * np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    w0 = SPEED_OF_SOUND / HEAD_RADIUS_M
    ir = np.zeros((len(u), 2, taps))
    for ear, side in ((0, 1.0), (1, -1.0)):  # left ear at +y, right ear at -y
        cos_inc = np.clip(u[:, 1] * side, -1.0, 1.0)  # cosine of angle between source and ear axis
        theta = np.arccos(cos_inc)
        alpha = 1.05 + 0.95 * np.cos(theta * 180.0 / 150.0)  # Brown & Duda, theta_min = 150 deg
        # Woodworth delay relative to the head centre
        delay = np.where(theta < np.pi / 2, -HEAD_RADIUS_M / SPEED_OF_SOUND * np.cos(theta),
                         HEAD_RADIUS_M / SPEED_OF_SOUND * (theta - np.pi / 2))
        delay = delay + HEAD_RADIUS_M / SPEED_OF_SOUND + ONSET / sample_rate
        H = (1 + 1j * alpha[:, None] * w / (2 * w0)) / (1 + 1j * w / (2 * w0))
        H = H * np.exp(-1j * w * delay[:, None])
        ir[:, ear] = np.fft.irfft(H, n_fft)[:, :taps]
    h = _align(ir, taps)
    if equalise:
        h = diffuse_field_eq(u, h, sample_rate)
    return HRIRSet(u, h.astype(np.float32), sample_rate, "spherical", equalise)


@lru_cache(maxsize=4)
def default_hrtf(sample_rate: int = 48000, taps: int = 128, path: str | None = None,
                 equalise: bool = True) -> HRIRSet:
    """KEMAR when the SOFA file and h5py are there, else the spherical head; diffuse-field
    equalised unless ``equalise=False``."""
    p = Path(path) if path else KEMAR_SOFA
    try:
        return load_kemar(p, sample_rate, taps, equalise)
    except (OSError, ImportError, KeyError, ValueError):
        return spherical_head(sample_rate, taps, equalise=equalise)
