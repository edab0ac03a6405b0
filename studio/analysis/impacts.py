"""Impact candidates: abrupt reversals of local motion (a ball hitting the floor or a wall).

Per grid cell (pooled with its 3x3 neighbourhood, so an object crossing a cell border stays
whole) the speed-weighted mean velocity of the moving pixels is followed over frame pairs. An
impact is a sign flip of vx or vy whose velocity change is large and abrupt compared with the
change around it (a parabola's apex flips sign smoothly and is rejected).

Timing to sub-frame accuracy: the impact lies in the pair just before or just after the flip,
whose flow is a mix of approach and rebound. For pure velocities v_in (before) and v_out (after)
a mixed pair moving d in dt hit at fraction f = (d/dt + v_out) / (v_in + v_out) of its interval.
Both hypotheses are evaluated; the wrong one lands on the shared frame boundary, so the one
further from it is kept.
"""
from __future__ import annotations

import numpy as np

from studio.analysis.motion import CELL_VX, CELL_VY, CELL_W, CELL_X, CELL_Y
from studio.analysis.timeline import AnalysisParams, Impact

MIN_WEIGHT = 1e-3  # pooled cell weight (speed x moving fraction) below which a cell is empty
ABRUPTNESS = 3.0  # the change at the flip must exceed this times the change around it
STRENGTH_SCALE = 3.0  # frame heights / s of velocity change giving strength 1 - 1/e


def _pool(cells: np.ndarray) -> np.ndarray:
    """Sum of each cell and its 8 neighbours: (K, gh, gw, C)."""
    k, gh, gw, c = cells.shape
    pad = np.zeros((k, gh + 2, gw + 2, c), cells.dtype)
    pad[:, 1:-1, 1:-1] = cells
    out = np.zeros_like(cells)
    for dy in range(3):
        for dx in range(3):
            out += pad[:, dy:dy + gh, dx:dx + gw]
    return out


def detect_impacts(t0: np.ndarray, t1: np.ndarray, cells: np.ndarray, valid: np.ndarray,
                   params: AnalysisParams) -> tuple[Impact, ...]:
    if len(t0) < 5:
        return ()
    raw = cells.astype(np.float64)
    pooled = _pool(raw)
    w = pooled[..., CELL_W]
    has = w > MIN_WEIGHT
    safe = np.where(has, w, 1.0)
    found = []
    for channel in (CELL_VY, CELL_VX):
        v = np.where(has, pooled[..., channel] / safe, 0.0)
        s = np.sign(v)
        flip = (s[:-1] != 0) & (s[1:] != s[:-1])  # (K-1, gh, gw): flip between pair j-1 and j
        for jm1, gy, gx in zip(*_plausible(np.nonzero(flip), v, w, valid, params)):
            cand = _candidate(int(jm1) + 1, v[:, gy, gx], w[:, gy, gx], t0, t1, valid, params)
            if cand is None:
                continue
            t, dv, m = cand
            x, y = _position(raw, m, int(gy), int(gx))
            found.append((dv, t, x, y))
    return _suppress(found, params)


def _plausible(idx, v: np.ndarray, w: np.ndarray, valid: np.ndarray, params: AnalysisParams):
    """The flips that can pass :func:`_candidate`'s tests, checked for all at once."""
    jm1, gy, gx = idx
    j = jm1 + 1
    k = v.shape[0]
    keep = (j >= 3) & (j + 2 < k)
    j, gy, gx = j[keep], gy[keep], gx[keep]
    if len(j) == 0:
        return j - 1, gy, gx
    sgn = np.sign(v[j - 1, gy, gx])
    b0, b1, b2 = (sgn * v[j - d, gy, gx] for d in (3, 2, 1))
    a0, a1, a2 = (-sgn * v[j + d, gy, gx] for d in (0, 1, 2))
    v_in, v_out = np.maximum(b1, b2), np.maximum(a0, a1)
    dv = v_in + v_out
    ok = (dv >= params.impact_min_dv) & (np.minimum(v_in, v_out) >= 0.15 * dv)
    ok &= dv >= ABRUPTNESS * (np.abs(b1 - b0) + np.abs(a2 - a1))
    ok &= np.minimum(w[j - 2, gy, gx], w[j + 1, gy, gx]) > MIN_WEIGHT
    bad = np.concatenate([[0], np.cumsum(~valid)])  # invalid pairs in j-3 .. j+2
    ok &= (bad[j + 3] - bad[j - 3]) == 0
    return j[ok] - 1, gy[ok], gx[ok]


def _position(raw: np.ndarray, m: int, gy: int, gx: int) -> tuple[float, float]:
    """Centroid of the moving pixels around cell (gy, gx) in the pairs next to the impact,
    from the unpooled cells within two cells of it (the object whole, not a clipped part)."""
    k, gh, gw, _ = raw.shape
    block = raw[max(0, m - 1):m + 2, max(0, gy - 2):gy + 3, max(0, gx - 2):gx + 3]
    wsum = float(block[..., CELL_W].sum())
    if wsum <= 0:
        return (gx + 0.5) / gw, (gy + 0.5) / gh
    return float(block[..., CELL_X].sum() / wsum), float(block[..., CELL_Y].sum() / wsum)


def _candidate(j: int, v: np.ndarray, w: np.ndarray, t0, t1, valid, params: AnalysisParams):
    """(time_s, velocity change, mixed pair index) for a flip between pairs j-1 and j, or None."""
    k = len(v)
    if j - 3 < 0 or j + 2 >= k or not valid[j - 3:j + 3].all():
        return None
    sgn = np.sign(v[j - 1])
    before = sgn * v[j - 3:j]  # approach speeds (positive when moving in the first direction)
    after = -sgn * v[j:j + 3]  # rebound speeds
    v_in = max(before[-2:])
    v_out = max(after[:2])
    dv = v_in + v_out
    if dv < params.impact_min_dv or min(v_in, v_out) < 0.15 * dv:
        return None
    around = abs(before[1] - before[0]) + abs(after[2] - after[1])
    if dv < ABRUPTNESS * around:
        return None
    if min(w[j - 2], w[j + 1]) <= MIN_WEIGHT:
        return None
    boundary = t0[j]
    best = (boundary, j)
    for m in (j - 1, j):  # hypothesis: pair m holds the impact
        if m - 1 < 0 or m + 1 >= k:
            continue
        vi, vo = sgn * v[m - 1], -sgn * v[m + 1]
        if vi <= 0 or vo <= 0:
            continue
        f = float(np.clip((sgn * v[m] + vo) / (vi + vo), 0.0, 1.0))
        t = t0[m] + f * (t1[m] - t0[m])
        if abs(t - boundary) > abs(best[0] - boundary):
            best = (t, m)
    return best[0], float(dv), best[1]


def _suppress(found: list, params: AnalysisParams) -> tuple[Impact, ...]:
    """Strongest first; drop candidates near an accepted one in time and place."""
    kept: list[tuple[float, float, float, float]] = []
    for dv, t, x, y in sorted(found, key=lambda c: -c[0]):
        if any(abs(t - kt) < params.impact_min_gap_s and np.hypot(x - kx, y - ky) < 0.25
               for _, kt, kx, ky in kept):
            continue
        kept.append((dv, t, x, y))
    kept.sort(key=lambda c: c[1])
    return tuple(Impact(float(t), float(np.clip(x, 0, 1)), float(np.clip(y, 0, 1)),
                        float(1.0 - np.exp(-dv / STRENGTH_SCALE))) for dv, t, x, y in kept)
