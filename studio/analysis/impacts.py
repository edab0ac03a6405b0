"""Contacts (impacts): where a moving object reverses abruptly (a ball on the floor or a wall, a
stick rebounding from a drum).

Objects are followed by the centroid of the camera-compensated frame difference per grid cell
(pooled with its 3x3 neighbourhood, so an object crossing a cell border stays whole); unlike
optical flow, that centroid follows a small object at any speed. The centroid of the difference
of pair k sits midway between the object's two positions, i.e. at the pair's middle time.

A contact is a reversal of the centroid's vertical (falling approaches only: things land on
floors, drums and tables; a turn at the top is a throw, a stroke or a step) or horizontal
(walls) velocity that is large and abrupt compared with the change just before and after (a
parabola's apex turns smoothly), that gives back no more speed than it came with, with the
region's difference mass steady around it (not an object half inside the region, not one
slowing to an apex; looser where the contact pair itself shows no difference at all, as on
real footage of a ball meeting a floor it hardly stands out from). Regions of 3x3 cells, and
5x5 for vertical turns (a big hop enters the smaller region only just before it lands).
The contact time is where the approach tangent (at the last position before the turn) meets
the rebound tangent (the first after): sub-frame, and free of the pair that mixes approach and
rebound; the place is where the approach line ends.

Frames faster than ``MAX_PAIR_RATE_HZ`` (a 60 fps video, every frame analysed for the onsets'
timing) are followed two pairs at a time, in both phases: the rules above judge a turn over
three pairs either side, and at 60 pairs a second that span halves and the centroid's velocity
noise doubles (a held-out 180 BPM ball at 60 fps: 2 of its 34 contacts found pair by pair, 16
at 30 frames a second, 32 two pairs at a time).

An object that stops dead without rebounding (a foot planted) leaves no difference behind to
follow; its stop shows in the onset envelope (``onsets``), not here.
"""
from __future__ import annotations

import numpy as np

from studio.analysis.motion import CELL_D, CELL_DX, CELL_DY
from studio.analysis.timeline import AnalysisParams, Impact

MIN_MASS = 0.05  # pooled mean frame difference (gray levels) below which a region is still
ABRUPTNESS = 3.0  # the velocity change at the contact must exceed this times the change around it
STRENGTH_SCALE = 3.0  # frame heights / s of velocity change giving strength 1 - 1/e
MAX_REBOUND = 1.6  # rebound speed / approach speed at most (restitution <= 1, estimate noise)
NO_SLOWDOWN = 0.7  # next to a contact the difference mass keeps this share of the one before
MASS_SPREAD = 2.2  # around a reversal the difference mass (all but its lowest pair) stays within this factor
GAP_MASS_SPREAD, GAP_NO_SLOWDOWN = 3.2, 0.3  # the same two limits for a turn across a still pair
MAX_PAIR_RATE_HZ = 40.0  # pairs a second above which two consecutive pairs are taken as one


def _pool(cells: np.ndarray) -> np.ndarray:
    """Sum of each cell and its 8 neighbours: (K, gh, gw, C)."""
    k, gh, gw, c = cells.shape
    # cells first, pairs inside: each shifted sum is then 48 long contiguous runs rather than
    # K x gh short ones (9.8 -> 2.7 ms on a 60 s clip; the same sums in the same order)
    pad = np.zeros((gh + 2, gw + 2, k, c), cells.dtype)
    pad[1:-1, 1:-1] = cells.transpose(1, 2, 0, 3)
    out = np.zeros((gh, gw, k, c), cells.dtype)
    for dy in range(3):
        for dx in range(3):
            out += pad[dy:dy + gh, dx:dx + gw]
    return np.ascontiguousarray(out.transpose(2, 0, 1, 3))


# pairs judged at once: the turn rules look three pairs either side, so consecutive windows
# overlap by six and every pair is judged once, exactly as over the whole length. The float64
# temporaries (about 10 kB a pair: 1.3 GB at an hour of 30 fps in one piece) stay ~5 MB, and
# the search runs faster in cache (10 min of pairs: 0.78 -> 0.32 s)
WINDOW = 512
REACH = 3  # pairs either side of a turn that its rules read


class Differences:
    """The cells of pairs ``start``, ``start + step``, ... (``step`` 2: two consecutive pairs
    as one, their differences summed) as float64 d, d*x, d*y, a range at a time; ``cells`` is an
    array or anything sliced the same way (``motion.Rows``)."""

    def __init__(self, cells, start: int = 0, step: int = 1) -> None:
        self.cells, self.start, self.step = cells, start, step

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        part = self.cells[self.start + self.step * lo:self.start + self.step * hi]
        if self.step == 2:
            part = part[0::2] + part[1::2]
        return part[..., [CELL_D, CELL_DX, CELL_DY]].astype(np.float64)


def detect_impacts(t0: np.ndarray, t1: np.ndarray, cells, valid: np.ndarray,
                   params: AnalysisParams, aspect: float = 16 / 9) -> tuple[Impact, ...]:
    """Contacts from per-pair cell features (``cells``: (K, gh, gw, N_CELL), an array or a
    ``motion.Rows``); ``aspect`` = frame width / height (velocities are compared in frame
    heights per second both ways)."""
    k = len(t0)
    t0, t1, valid = np.asarray(t0, float), np.asarray(t1, float), np.asarray(valid, bool)
    if not two_pairs_as_one(t0, t1):
        return _detect(t0, t1, Differences(cells), valid, params, aspect)
    # two pairs as one (their differences summed: the centroid sits midway, at the middle frame,
    # as a pair's does), from the first pair; then from the second, whose contacts join where
    # the first found none near them (in time and place, as ``_suppress`` compares)
    found = []
    for a in (0, 1):
        b = k - (k - a) % 2
        found.append(_detect(t0[a:b - 1:2], t1[a + 1:b:2], Differences(cells, a, 2),
                             valid[a:b - 1:2] & valid[a + 1:b:2], params, aspect))
    first, second = found
    return tuple(sorted(first + tuple(_not_near(second, first, params.impact_min_gap_s)),
                        key=lambda i: i.time_s))


def two_pairs_as_one(t0: np.ndarray, t1: np.ndarray) -> bool:
    """Whether the contacts of these pairs are followed two pairs at a time (above
    ``MAX_PAIR_RATE_HZ`` pairs a second; see the module doc)."""
    return len(t0) >= 12 and float(np.median(np.asarray(t1) - np.asarray(t0))) < 1.0 / MAX_PAIR_RATE_HZ


def _not_near(new: tuple[Impact, ...], old: tuple[Impact, ...], gap_s: float) -> list[Impact]:
    """The impacts of ``new`` with none of ``old`` (in time order) within ``gap_s`` and a
    quarter of the frame; only the old ones within twice ``gap_s`` are compared (a superset of
    those that can match, found by bisection: the cost grows with the count, not its square)."""
    import bisect

    times = [o.time_s for o in old]
    out = []
    for i in new:
        lo, hi = bisect.bisect_left(times, i.time_s - 2 * gap_s), bisect.bisect_right(times, i.time_s + 2 * gap_s)
        if not any(abs(i.time_s - o.time_s) < gap_s and np.hypot(i.x - o.x, i.y - o.y) < 0.25 for o in old[lo:hi]):
            out.append(i)
    return out


def _detect(t0: np.ndarray, t1: np.ndarray, differences: Differences, valid: np.ndarray,
            params: AnalysisParams, aspect: float) -> tuple[Impact, ...]:
    k = len(t0)
    if k < 6:
        return ()
    mid = 0.5 * (np.asarray(t0, float) + np.asarray(t1, float))
    valid = np.asarray(valid, bool)
    # candidates as columns of arrays (a Python tuple each cost ~350 bytes: ~1,700 a minute),
    # by region and axis, each in time order: the order one pass over the whole length lists
    # them in (``_suppress`` keeps that order among equal ranks)
    found: tuple[list, list, list] = ([], [], [])
    lo = 0
    while True:
        hi = min(k, lo + WINDOW)
        _candidates(differences(lo, hi), mid[lo:hi], valid[lo:hi], params, aspect, found)
        if hi == k:
            break
        lo = hi - 2 * REACH
    c = _stacked(found)
    del found
    # where, only for the kept ones
    return tuple(_impact(c, j, differences, mid, aspect) for j in _suppress(c["rank"], c["t"], c["x"], c["y"], params))


def candidate_impacts(differences: Differences, lo: int, hi: int, mid: np.ndarray, params: AnalysisParams,
                      aspect: float) -> list[Impact]:
    """Every candidate of pairs ``lo:hi`` (``mid``: their middle times) as the contact it would
    be, every pair taken as valid. ``detect_impacts``' contacts are among the candidates of
    the windows it judges (those of ``_detect``'s loop, at any window length), with the same
    values: a cut or a gap only removes candidates, and a contact's time and place are worked
    out from its own pairs alone (``studio.analysis.contact_patches`` cuts the Foley engine's
    patches for them while the pass runs)."""
    found: tuple[list, list, list] = ([], [], [])
    _candidates(differences(lo, hi), mid, np.ones(len(mid), bool), params, aspect, found)
    c = _stacked(found)
    window = Differences(differences.cells, differences.start + differences.step * lo, differences.step)
    pooled: dict[int, np.ndarray] = {}  # candidates share turns: ~4 per pair pooled on the bench clip
    return [_impact(c, j, window, mid, aspect, pooled) for j in range(len(c["t"]))]


_COLUMNS = ("rank", "dv", "t", "x", "y", "sideways", "reach", "gy", "gx", "at")


def _stacked(found: tuple[list, list, list]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([w[n] for part in found for w in part]) for n, name in enumerate(_COLUMNS)}


def _impact(c: dict[str, np.ndarray], j: int, differences: Differences, mid: np.ndarray, aspect: float,
            pooled: dict[int, np.ndarray] | None = None) -> Impact:
    """Candidate ``j`` as a contact: its time, where the object is (the difference centroid of
    the two pairs around that time) and its strength. ``pooled``: those pairs' pooled cells by
    ``i``, kept for the next candidate."""
    dv, t, at = float(c["dv"][j]), float(c["t"][j]), float(c["at"][j])
    gy, gx, reach = int(c["gy"][j]), int(c["gx"][j]), int(c["reach"][j])
    i = int(np.clip(np.searchsorted(mid, t), 1, len(mid) - 1))
    near = pooled.get(i) if pooled is not None else None
    if near is None:
        near = _pool(differences(i - 1, i + 1))  # pairs i - 1, i
        if pooled is not None:
            pooled[i] = near
    cx, cy = _centroid(near, gy, gx, reach)
    if reach == 0:  # along the turn the object is where the approach line ends
        cx, cy = (at / aspect, cy) if c["sideways"][j] else (cx, at)
    return Impact(float(t), float(np.clip(cx, 0, 1)), float(np.clip(cy, 0, 1)), float(1.0 - np.exp(-dv / STRENGTH_SCALE)))


def _candidates(diff: np.ndarray, mid: np.ndarray, valid: np.ndarray, params: AnalysisParams,
                aspect: float, found: tuple[list, list, list]) -> None:
    """Add the reversals of one window of pairs to ``found`` (3x3 vertical, 3x3 sideways, 5x5
    vertical), as arrays in the order of ``_COLUMNS`` (rank, dv, time, x, y, whether sideways,
    reach, gy, gx, position at the turn)."""
    bad = np.concatenate([[0], np.cumsum(~valid)])
    # two neighbourhood sizes: 3x3 cells keep nearby objects apart; 5x5 follow a big vertical
    # hop whole (a ball that enters the smaller region only a frame or two before it lands is
    # clipped there), for vertical turns only: gravity makes the long vertical paths, and
    # sideways the wide region's centroid jumps whenever another object enters or leaves it
    near = _pool(diff)
    lists = iter(found)
    for pooled, axes, rank, reach in ((near, ("y", "x"), 1.0, 0), (_pool(near), ("y",), 0.5, 1)):
        mass = pooled[..., 0]
        has = mass > MIN_MASS
        safe = np.where(has, mass, 1.0)
        x = np.where(has, pooled[..., 1] / safe, np.nan)  # frame widths
        y = np.where(has, pooled[..., 2] / safe, np.nan)  # frame heights
        for axis, pos in (("y", y), ("x", x * aspect)):
            if axis not in axes:
                continue
            out = next(lists)
            # vertically only a falling approach lands on something: a turn at the top is the
            # top of a throw, a stroke or a step (things hit floors, drums and tables, seldom
            # ceilings); sideways both ways (walls)
            dv, t, gy, gx, at, i = _reversals(pos, mass, mid, bad, params, downward=axis == "y")
            # the tighter region's timing wins a tie; places compared by the region's centroid
            # on the approach (the exact place is worked out for the kept ones)
            out.append((rank * dv, dv, t, x[i - 1, gy, gx], y[i - 1, gy, gx], np.full(len(t), axis == "x"),
                        np.full(len(t), reach), gy, gx, at))


def _window_valid(bad: np.ndarray, k: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """True where no pair in k+lo .. k+hi (inclusive) spans a cut."""
    return (bad[k + hi + 1] - bad[k + lo]) == 0


def _reversals(pos: np.ndarray, mass: np.ndarray, mid: np.ndarray, bad: np.ndarray,
               params: AnalysisParams, downward: bool = False) -> tuple:
    """Arrays (dv, time, gy, gx, position at the turn, pair index) of abrupt reversals of ``pos`` (K, gh, gw), frame
    heights; with ``downward`` only turns of a falling approach (``pos`` growing). The
    region's difference mass must stay steady around the turn (within ``MASS_SPREAD``): an object
    only half inside the region, or slowing to a halt at an apex, changes it, and its clipped
    centroid can fake a sharp turn."""
    k = len(mid)
    dt = np.diff(mid)[:, None, None]
    v = np.diff(pos, axis=0) / dt  # v[i]: from pair i to i+1
    # turn at pair j: v[j-1] and v[j] differ in sign; lines from v[j-2] and v[j+1]
    j = np.arange(3, k - 3)
    vll, vl, va, vb, vr, vrr = (v[3 + d:k - 3 + d] for d in (-3, -2, -1, 0, 1, 2))  # v[j + d], as views
    with np.errstate(invalid="ignore"):
        # a contact pair whose two frames barely differ (the object came in and went back out
        # between them, or stopped against a background it hardly stands out from) leaves no
        # centroid: the turn is then judged on the velocities on either side of that gap alone
        gap = np.isnan(va) & np.isnan(vb) & np.isfinite(vl) & np.isfinite(vr)
        turn = (np.sign(va) * np.sign(vb) < 0) | gap
        turn &= np.sign(vl) * np.sign(vr) < 0
        if downward:
            turn &= vl > 0
        dv = np.abs(vl) + np.abs(vr)
        ok = turn & (dv >= params.impact_min_dv) & (np.minimum(np.abs(vl), np.abs(vr)) >= 0.15 * dv)
        ok &= dv >= ABRUPTNESS * (np.abs(vl - vll) + np.abs(vrr - vr))
        # a contact gives back at most the speed it came with (restitution <= 1, with a margin for
        # the estimate): a turn that leaves faster than it came is a wind-up, not an impact
        ok &= np.abs(vr) <= MAX_REBOUND * np.abs(vl)
    ok &= _window_valid(bad, j, -3, 3)[:, None, None]
    # (the lowest of the five is left out: the pair that holds a contact mid-way barely moved on
    # balance; at an apex the mass falls steadily towards the turn, so the rest still spreads)
    mm2, mm1, m0, mp1, mp2 = (mass[3 + d:k - 3 + d] for d in (-2, -1, 0, 1, 2))  # mass[j + d], as views
    spread = _max5(mm2, mm1, m0, mp1, mp2) / np.maximum(_second_smallest5(mm2, mm1, m0, mp1, mp2), 1e-9)
    # an object is fastest at a contact and slowest at an apex: the difference it leaves (which
    # grows with its speed) must not shrink towards the turn
    kept = np.minimum(mm1, mp1) / np.maximum(np.maximum(mm2, mp2), 1e-9)
    # a gap turn already shows the stop; on real footage the object also fades against the
    # surface it lands on (less contrast there), so the mass may sag more before it
    ok &= np.where(gap, (spread <= GAP_MASS_SPREAD) & (kept >= GAP_NO_SLOWDOWN),
                   (spread <= MASS_SPREAD) & (kept >= NO_SLOWDOWN))
    jj, gy, gx = np.nonzero(ok)
    i = j[jj]
    # tangents at the last position before and the first after (velocities extrapolated half a
    # step with the acceleration seen there: gravity bends the chords)
    a = v[i - 2, gy, gx] + 0.5 * (v[i - 2, gy, gx] - v[i - 3, gy, gx])
    b = v[i + 1, gy, gx] - 0.5 * (v[i + 2, gy, gx] - v[i + 1, gy, gx])
    p0, p1 = pos[i - 1, gy, gx], pos[i + 1, gy, gx]
    t = (p1 - p0 + a * mid[i - 1] - b * mid[i + 1]) / (a - b)  # where the two lines meet
    t = np.clip(t, mid[i - 1], mid[i + 1])
    return np.abs(a) + np.abs(b), t, gy, gx, p0 + a * (t - mid[i - 1]), i


def _max5(a, b, c, d, e):
    """Elementwise largest of five arrays (exactly one of them, as a sort's last)."""
    return np.maximum(np.maximum(np.maximum(a, b), np.maximum(c, d)), e)


def _second_smallest5(a, b, c, d, e):
    """Elementwise second smallest of five (finite) arrays, exactly what sorting them gives at
    index 1, with minima and maxima only (a sort along a short first axis costs 3x more): the
    largest of the five minima that each leave one array out."""
    ab = np.minimum(a, b)
    de = np.minimum(d, e)
    cde = np.minimum(c, de)
    abc = np.minimum(ab, c)
    out = np.maximum(np.minimum(b, cde), np.minimum(a, cde))  # without a, without b
    out = np.maximum(out, np.minimum(ab, de))  # without c
    out = np.maximum(out, np.minimum(abc, e))  # without d
    return np.maximum(out, np.minimum(abc, d))  # without e


def _centroid(near: np.ndarray, gy: int, gx: int, reach: int) -> tuple[float, float]:
    """Where the object is around the contact: the difference centroid (3x3 regions) of the
    two pairs next to it (``near``: their pooled cells), in the region with the most difference
    within ``reach`` cells of the detecting one (a 5x5 detection names the middle of a wide
    region, not the object)."""
    gh, gw = near.shape[1:3]
    y0, y1, x0, x1 = max(0, gy - reach), min(gh, gy + reach + 1), max(0, gx - reach), min(gw, gx + reach + 1)
    masses = near[:, y0:y1, x0:x1, 0].sum(0)
    cy, cx = np.unravel_index(int(np.argmax(masses)), masses.shape)
    block = near[:, y0 + cy, x0 + cx]
    m = float(block[:, 0].sum())
    if m <= 0:
        return (gx + 0.5) / gw, (gy + 0.5) / gh
    return float(block[:, 1].sum() / m), float(block[:, 2].sum() / m)


def _suppress(rank: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray,
              params: AnalysisParams) -> list[int]:
    """Highest rank first; drop candidates near an accepted one in time and place (only accepted
    contacts within ``impact_min_gap_s`` are compared, so the cost grows with the count).
    Returns the indices of the kept candidates by time."""
    import bisect

    kept: list[int] = []
    times: list[float] = []  # sorted times of ``kept`` for the window search
    order: list[int] = []  # kept, in the order of ``times``
    for c in np.argsort(-rank, kind="stable").tolist():  # a stable sort: ties keep their order
        tc = float(t[c])
        lo = bisect.bisect_left(times, tc - params.impact_min_gap_s)
        hi = bisect.bisect_right(times, tc + params.impact_min_gap_s)
        if any(np.hypot(x[c] - x[order[i]], y[c] - y[order[i]]) < 0.25 for i in range(lo, hi)):
            continue
        at = bisect.bisect_left(times, tc)
        times.insert(at, tc)
        order.insert(at, c)
        kept.append(c)
    return sorted(kept, key=lambda c: float(t[c]))
