"""Head-related impulse responses for the teacher: the measured MIT KEMAR set, or a spherical head.

KEMAR (Gardner & Martin 1994, MIT Media Lab; free with no restrictions on use provided the
authors are cited) comes as a SOFA file with Debian's ``libmysofa1``
(``/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa``: 710 directions, 44.1 kHz, 512 taps),
read with h5py. Without it (or h5py) a spherical-head model is used instead: Woodworth ITD and
Brown & Duda's one-pole/one-zero head-shadow filter, head radius 8.75 cm.

Head frame: x forward, y left, z up; SOFA azimuth is counter-clockwise from the front
(90 degrees = left). HRIRs are resampled to the requested rate, aligned so that the earliest
onset over all directions sits at ``ONSET`` samples, and cut to ``taps``.
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


@dataclass(frozen=True)
class HRIRSet:
    dirs: np.ndarray  # (M, 3) unit vectors, head frame
    ir: np.ndarray  # (M, 2, taps) float32, left/right
    sample_rate: int
    source: str  # "kemar" or "spherical"

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


def load_kemar(path: Path = KEMAR_SOFA, sample_rate: int = 48000, taps: int = 128) -> HRIRSet:
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
    return HRIRSet(_unit(pos[:, 0], pos[:, 1]), _align(ir, taps).astype(np.float32), sample_rate, "kemar")


def spherical_head(sample_rate: int = 48000, taps: int = 128, n_az: int = 72,
                   elevations=(-40, -20, 0, 20, 40, 60, 90)) -> HRIRSet:
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
    return HRIRSet(u, _align(ir, taps).astype(np.float32), sample_rate, "spherical")


@lru_cache(maxsize=4)
def default_hrtf(sample_rate: int = 48000, taps: int = 128, path: str | None = None) -> HRIRSet:
    """KEMAR when the SOFA file and h5py are there, else the spherical head."""
    p = Path(path) if path else KEMAR_SOFA
    try:
        return load_kemar(p, sample_rate, taps)
    except (OSError, ImportError, KeyError, ValueError):
        return spherical_head(sample_rate, taps)
