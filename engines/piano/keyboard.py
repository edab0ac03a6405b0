"""Keyboard localisation and rectification (numpy + cv2).

``locate_keyboard`` finds the 88-key keyboard in a top-down picture: the per-pixel median of a
few frames (moving hands fade out), then at several brightness thresholds the bright connected
regions (closed over the thin gaps between white keys) whose minimum-area rectangle is long and
thin; a candidate is accepted only when its rectified view shows the periodic black-key
pattern (28..44 dark runs across the keyboard near one long side: that side is the back). Its
convex hull (the black keys notch the back edge, a hand may notch the front) is reduced to four
corners and each side refined by a line fit through the hull points on it.

``rectify`` maps the box to a fixed (W, H) gray image: back-left -> (0, 0), back-right ->
(W, 0), front-right -> (W, H), front-left -> (0, H), so the lowest key is on the left.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import cv2
import numpy as np

from engines.errors import EngineError

RECT_SIZE = (624, 48)    # (W, H) of the rectified keyboard: 12 px per white key
NO_KEYBOARD = ("no piano keyboard found in the picture; draw the keyboard box (the white and black "
               "keys, lowest key on the left) by hand")


@dataclass(frozen=True)
class KeyboardBox:
    """The key area's corners in pixels (4, 2): back-left, back-right, front-right, front-left
    (back = where the black keys are; left = the lowest key). ``drawn``: a user's rough box,
    inside which the Transcriber looks for the exact keyboard (``locate_in_box``)."""
    corners: np.ndarray
    drawn: bool = False

    def __post_init__(self):
        c = np.asarray(self.corners, np.float32).reshape(4, 2)
        if not np.all(np.isfinite(c)):
            raise EngineError("the keyboard box has non-finite corners")
        object.__setattr__(self, "corners", c)

    @classmethod
    def from_rect(cls, x: float, y: float, w: float, h: float) -> "KeyboardBox":
        """A user-drawn axis-aligned box (black keys at the top edge, lowest key on the left)."""
        if w <= 0 or h <= 0:
            raise EngineError(f"the keyboard box must have a positive size (got {w} x {h})")
        return cls(np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]), drawn=True)

    @property
    def width(self) -> float:
        c = self.corners
        return float((np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2)

    def homography(self, size=RECT_SIZE) -> np.ndarray:
        W, H = size
        dst = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
        return cv2.getPerspectiveTransform(self.corners, dst)


def to_gray(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim == 2:
        return f if f.dtype == np.uint8 else np.clip(f, 0, 255).astype(np.uint8)
    if f.ndim == 3 and f.shape[2] in (3, 4):
        f = f if f.dtype == np.uint8 else np.clip(f, 0, 255).astype(np.uint8)
        return cv2.cvtColor(f, cv2.COLOR_RGB2GRAY if f.shape[2] == 3 else cv2.COLOR_RGBA2GRAY)
    raise EngineError(f"a video frame must be (H, W) or (H, W, 3) uint8, got shape {f.shape}")


def rectify(frame: np.ndarray, box: KeyboardBox, size=RECT_SIZE) -> np.ndarray:
    """The keyboard as a (H, W) gray uint8 image: warped at twice the size, then area-averaged
    down (no aliasing of the thin gaps when the keyboard is larger in the frame)."""
    W, H = size
    M = box.homography((2 * W, 2 * H))
    f = np.asarray(frame)
    if f.ndim == 3:
        f = np.ascontiguousarray(f[..., :3]) if f.shape[2] == 4 else f
    big = cv2.warpPerspective(f, M, (2 * W, 2 * H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    small = cv2.resize(big, (W, H), interpolation=cv2.INTER_AREA)
    return to_gray(small)


def _median(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-pixel median gray and median saturation (None for gray input) of the frames."""
    grays = [to_gray(f) for f in frames]
    shapes = {g.shape for g in grays}
    if len(shapes) != 1:
        raise EngineError("the frames given to locate the keyboard differ in size")
    sats = None
    if all(np.asarray(f).ndim == 3 for f in frames):
        sats = [cv2.cvtColor(np.ascontiguousarray(np.asarray(f)[..., :3]).astype(np.uint8),
                             cv2.COLOR_RGB2HSV)[..., 1] for f in frames]
    if len(grays) == 1:
        return grays[0], (sats[0] if sats else None)
    med = lambda xs: np.median(np.stack(xs), axis=0).astype(np.uint8)  # noqa: E731
    return med(grays), (med(sats) if sats else None)


def _dark_runs(profile: np.ndarray) -> int:
    p = cv2.GaussianBlur(profile.astype(np.float32).reshape(1, -1), (0, 0), 1.0).ravel()
    lo, hi = np.percentile(p, 5), np.percentile(p, 95)
    if hi - lo < 25:
        return 0
    dark = p < (lo + hi) / 2
    return int(np.count_nonzero(dark[1:] & ~dark[:-1]) + int(dark[0]))


def _order(quad: np.ndarray, gray: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Order 4 corners back-left, back-right, front-right, front-left (and the number of black
    keys seen), or None when no side shows the black-key pattern."""
    q = quad.astype(np.float32)
    # start at a long side: sides (0-1, 2-3) or (1-2, 3-0)
    l01 = np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[3] - q[2])
    l12 = np.linalg.norm(q[2] - q[1]) + np.linalg.norm(q[0] - q[3])
    if l12 > l01:
        q = q[[1, 2, 3, 0]]
    best = None
    for cand in (q, q[[2, 3, 0, 1]]):          # side 0-1 is the back in cand
        # make the direction back-left -> back-right have the front on its right (image y down)
        d, n = cand[1] - cand[0], cand[3] - cand[0]
        if d[0] * n[1] - d[1] * n[0] < 0:
            cand = cand[[1, 0, 3, 2]]
        r = rectify(gray, KeyboardBox(cand), (624, 48))
        runs = _dark_runs(r[int(0.3 * 48):int(0.45 * 48)].mean(0))
        score = float(r[int(0.75 * 48):int(0.95 * 48)].mean()) - float(r[int(0.1 * 48):int(0.5 * 48)].mean())
        if 28 <= runs <= 44 and (best is None or score > best[0]):
            best = (score, cand, runs)
    return None if best is None else (best[1], best[2])


def _refine(hull: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Fit a line through the hull points along each side of quad, intersect neighbours."""
    pts = hull.reshape(-1, 2).astype(np.float64)
    # densify the hull polygon so each side has many points
    dense = []
    for i in range(len(pts)):
        a, b = pts[i], pts[(i + 1) % len(pts)]
        n = max(2, int(np.linalg.norm(b - a) // 2))
        dense.append(a + (b - a) * np.linspace(0, 1, n, endpoint=False)[:, None])
    dense = np.concatenate(dense)
    lines = []
    for i in range(4):
        a, b = quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64)
        d = b - a
        L = np.linalg.norm(d)
        d /= L
        nrm = np.array([-d[1], d[0]])
        rel = dense - a
        t, off = rel @ d, rel @ nrm
        sel = (t > 0.1 * L) & (t < 0.9 * L) & (np.abs(off) < max(2.0, 0.01 * L))
        if sel.sum() < 5:
            lines.append((a, d))
            continue
        p = dense[sel]
        vx, vy, x0, y0 = cv2.fitLine(p.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
    out = np.zeros((4, 2), np.float64)
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        A = np.array([d1, -d2]).T
        if abs(np.linalg.det(A)) < 1e-6:
            out[i] = quad[i]
            continue
        s = np.linalg.solve(A, p2 - p1)
        out[i] = p1 + s[0] * d1
    if np.max(np.linalg.norm(out - quad, axis=1)) > 0.05 * np.linalg.norm(quad[1] - quad[0]):
        return quad.astype(np.float32)
    return out.astype(np.float32)


def _quad_from_hull(hull: np.ndarray) -> np.ndarray | None:
    peri = cv2.arcLength(hull, True)
    for eps in (0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06):
        ap = cv2.approxPolyDP(hull, eps * peri, True)
        if len(ap) == 4:
            return ap.reshape(4, 2).astype(np.float32)
    rect = cv2.minAreaRect(hull)
    return cv2.boxPoints(rect).astype(np.float32)


def locate_keyboard(frames_or_frame: np.ndarray | Iterable[np.ndarray]) -> KeyboardBox:
    """The keyboard in one frame (H, W[, 3]) or several frames of the same size (better: the
    median drops moving hands). Raises EngineError when there is none."""
    if isinstance(frames_or_frame, np.ndarray) and frames_or_frame.ndim in (2, 3) and \
            not (frames_or_frame.ndim == 3 and frames_or_frame.shape[2] not in (3, 4)):
        frames = [frames_or_frame]
    else:
        frames = list(frames_or_frame)
    if not frames:
        raise EngineError("no frames to locate the keyboard in")
    if len(frames) > 9:
        frames = [frames[i] for i in np.linspace(0, len(frames) - 1, 9).round().astype(int)]
    gray, sat = _median(frames)
    H, W = gray.shape
    # keys are near neutral; skin, wood and most clutter are not (colour input only)
    neutral = np.ones_like(gray, bool) if sat is None else sat < 55
    k = max(3, int(round(min(H, W) / 240)) * 2 + 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    otsu, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    best = None
    tried = set()
    for t in [otsu, 200, 180, 160, 140, 120, 220]:
        t = int(t)
        if t in tried:
            continue
        tried.add(t)
        mask = cv2.morphologyEx(((gray > t) & neutral).astype(np.uint8), cv2.MORPH_CLOSE, kernel)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        order = np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:6] + 1
        for i in order:
            area = stats[i, cv2.CC_STAT_AREA]
            if area < 0.005 * H * W:
                break
            ys, xs = np.nonzero(lab[stats[i, 1]:stats[i, 1] + stats[i, 3], stats[i, 0]:stats[i, 0] + stats[i, 2]] == i)
            pts = np.stack([xs + stats[i, 0], ys + stats[i, 1]], 1).astype(np.int32)
            hull = cv2.convexHull(pts)
            (cx, cy), (rw, rh), _ = cv2.minAreaRect(hull)
            long_, short = max(rw, rh), min(rw, rh)
            if short < 8 or not 3.0 <= long_ / short <= 16.0:
                continue
            fill = area / (cv2.contourArea(hull) + 1e-9)
            if fill < 0.45:
                continue
            quad = _quad_from_hull(hull)
            found = _order(quad, gray)
            if found is None:
                continue
            ordered, runs = found
            refined = _refine(hull, ordered)
            # a keyboard cut by a pressed key (or a hand) shows fewer than the 36 black keys
            score = area * fill * (1.0 if runs >= 34 else 0.5)
            if best is None or score > best[0]:
                best = (score, refined)
    if best is None:
        raise EngineError(NO_KEYBOARD)
    return KeyboardBox(best[1])


def locate_in_box(frames: Sequence[np.ndarray], box: KeyboardBox, margin: float = 0.1) -> KeyboardBox:
    """The keyboard inside a user-drawn box: a drawn rectangle is rough (a tilted or foreshortened
    keyboard does not fill it; a little table or wall shows), and rectifying it as it is smears
    keys into their neighbours. The box, grown by ``margin``, is searched like a whole frame;
    when no keyboard at least half the box's width is found there, the box is used as drawn."""
    frames = list(frames)
    H, W = np.asarray(frames[0]).shape[:2]
    (x0, y0), (x1, y1) = box.corners.min(0), box.corners.max(0)
    mx, my = margin * (x1 - x0), max(margin * (y1 - y0), 0.04 * (x1 - x0))
    X0, Y0 = int(max(0, np.floor(x0 - mx))), int(max(0, np.floor(y0 - my)))
    X1, Y1 = int(min(W, np.ceil(x1 + mx))), int(min(H, np.ceil(y1 + my)))
    try:
        found = locate_keyboard([np.asarray(f)[Y0:Y1, X0:X1] for f in frames])
    except EngineError:
        return KeyboardBox(box.corners)
    if found.width < 0.5 * (x1 - x0):
        return KeyboardBox(box.corners)
    return KeyboardBox(found.corners + np.float32([X0, Y0]))
