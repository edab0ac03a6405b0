"""Visual onset envelope: the deceleration flux of the directogram (DESIGN.md, visual rhythm).

A visual beat is where motion stops or turns, not where it is fast (Davis & Agrawala 2018,
"Visual rhythm and beat": impacts are sudden decelerations, per motion direction). The flux
between pair k-1 and pair k sums, over the 10 direction bins, how much motion each direction
*lost* (half-wave rectified decrease): a ball that lands loses its downward motion, a hand that
hits a drum its motion towards the drum, a reversal loses the old direction. Speeding up adds
nothing. The flux belongs to the frame the two pairs share, time ``t0[k]``: the frame where
the motion stopped.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d


FLUX_CHUNK = 8192  # pairs at a time: the float32 temporaries stay small at any length


def directogram_flux(directions: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(K,) deceleration flux per pair (0 for the first pair and next to invalid pairs)."""
    k = len(directions)
    flux = np.zeros(k)
    for lo in range(0, k - 1, FLUX_CHUNK):  # flux[lo + 1 .. hi] from pairs lo .. hi
        hi = min(k - 1, lo + FLUX_CHUNK)
        diff = np.maximum(0.0, -np.diff(directions[lo:hi + 1], axis=0)).sum(axis=1)
        ok = valid[lo + 1:hi + 1] & valid[lo:hi]
        flux[lo + 1:hi + 1] = np.where(ok, diff, 0.0)
    return flux


def onset_envelope(flux: np.ndarray, frame_t: np.ndarray, grid_t: np.ndarray, rate_hz: float,
                   smooth_s: float, known: np.ndarray | None = None) -> np.ndarray:
    """Flux at frame times spread linearly onto the grid (peak-preserving), lightly smoothed,
    scaled to 0..1 by its 99.5th percentile (a single outlier cannot flatten the rest), taken
    over the ``known`` grid points when given (not over a long gap without frames)."""
    env = np.zeros(len(grid_t))
    if len(env) == 0 or len(flux) == 0:
        return env
    pos = np.asarray(frame_t) * rate_hz
    lo = np.floor(pos).astype(int)
    frac = pos - lo
    for idx, wgt in ((lo, 1.0 - frac), (lo + 1, frac)):
        ok = (idx >= 0) & (idx < len(env))
        np.maximum.at(env, idx[ok], (flux * wgt)[ok])
    if smooth_s > 0:
        env = gaussian_filter1d(env, smooth_s * rate_hz, mode="nearest")
    part = env if known is None or not np.any(known) else env[known]
    top = float(np.percentile(part, 99.5)) if len(part) else 0.0
    if top <= 1e-12:
        return np.zeros_like(env)
    return np.clip(env / top, 0.0, 1.0)


def with_contacts(env: np.ndarray, impacts, grid_t: np.ndarray, rate_hz: float, smooth_s: float,
                  known: np.ndarray | None = None) -> np.ndarray:
    """The envelope with the contacts added as onsets of their strength (they are the sharpest
    onsets there are and timed to a fraction of a frame; the flow's deceleration can come a
    frame early where a small object moves too fast for the flow)."""
    if not impacts:
        return env
    contact = onset_envelope(np.array([i.strength for i in impacts]), np.array([i.time_s for i in impacts]),
                             grid_t, rate_hz, smooth_s, known)
    return np.maximum(env, contact)
