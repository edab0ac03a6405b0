"""Synthetic clips with exactly known visual rhythm: the truth the sync benchmark measures against.

    python -m studio.syncsuite --out DIR [--quick] [--jobs N]

writes ``DIR/<name>.mp4`` (H.264, yuv420p) and ``DIR/<name>.truth.json`` for every clip of
:func:`default_suite`. The truth is not measured from the pictures: it is the schedule the
pictures are drawn from, so it is exact and independent of every detector.

Kinds of clip (:class:`ClipSpec` ``kind``):

* ``bounce``: a ball bounces on a floor line over a textured background. Between two contacts
  it follows a gravity parabola, ``height = H_k * 4u(1-u)`` with ``u`` the fraction of the
  interval, so its bottom edge is on the floor line exactly at each contact time. The first
  contact is at a seeded 0.3..1.0 s; before it the ball falls from rest (at t = 0) along the
  same parabola shape.
* ``multi``: the main ball at the pulse, a second ball bouncing every other beat (``half``: its
  contacts are on main beats) or at the pulse half a beat later (``offbeat``), and a distractor
  disc gliding on a slow Lissajous path (no contacts).
* ``dancer``: a stick figure stepping in place: a foot comes down and stops on every beat
  (alternating feet), the arms swing and reverse on each beat, the hips are lowest at each plant.
* ``drummer``: a seated stick figure with two sticks, a drum and a cymbal: a stick tip comes down
  and stops on the drum head on every beat (alternating hands) and rebounds; the right hand also
  hits the cymbal on some off-beats (eighth notes), and the cymbal wobbles after each hit.
* ``cutshots``: two bounce shots with different tempi and palettes, a hard cut between them.

Options common to all kinds: ``drift`` (the main object moves sideways at constant speed and
reflects at the margins), ``pan``/``zoom`` (a moving camera over a world larger than the frame,
so the background moves too), ``noise`` (Gaussian pixel noise per frame), ``crf`` (x264
quality), ``rubato`` (beat intervals modulated smoothly, ``(1 + rubato * sin(2 pi k / P))``).

Every frame ``i`` is drawn at its own presentation time ``t = i / fps`` with the stream's exact
rate (29.97 is 30000/1001), and the file's timestamps give back exactly these times. Contacts
are continuous times (generally between frames); the truth lists those from 0 to the last
frame's time. Shapes are painted with exact area-weighted edges (see :func:`_paint`), so at a
contact time the ball's lowest edge is on the floor line's top edge to a small fraction of a
pixel, with or without camera motion.

``SyncTruth.details`` holds per-kind extras: which second-ball pattern a ``multi`` clip uses and
that ball's contacts, the drummer's hands and cymbal hits, the dancer's feet, and with drift the
times the sideways motion turns at the margins (``drift_reversals_s``: visible direction changes
that are not contacts; no wall is drawn). For ``cutshots``, ``tempo_bpm`` is literally 60 / the
median beat interval over the whole clip (so the longer shot's tempo); ``shot_tempi_bpm`` has
each shot's own.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

KINDS = ("bounce", "multi", "dancer", "drummer", "cutshots")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_STANDARD_RATES = {  # NTSC-style rates by their usual decimal spellings
    29.97: Fraction(30000, 1001), 23.976: Fraction(24000, 1001), 59.94: Fraction(60000, 1001),
}


def frame_rate(fps: float) -> Fraction:
    """The exact stream rate for ``fps`` (29.97 -> 30000/1001, 24 -> 24)."""
    for approx, exact in _STANDARD_RATES.items():
        if abs(fps - approx) < 5e-3:
            return exact
    return Fraction(fps).limit_denominator(1001)


# ----------------------------------------------------------------------------- API types


@dataclass(frozen=True)
class ClipSpec:
    """One synthetic clip; everything about it follows from these fields (and ``seed``)."""

    name: str            # unique, filename-safe, e.g. "bounce-120bpm-30fps-drift"
    kind: str            # "bounce", "multi", "dancer", "drummer", "cutshots"
    bpm: float           # the pulse tempo (contacts of the main object per minute)
    fps: float           # 24, 25, 30, 60 (also 29.97)
    duration_s: float = 16.0
    size: tuple[int, int] = (320, 180)  # (width, height), both even (yuv420p)
    drift: float = 0.0   # sideways speed of the main object, frame widths per second
    pan: float = 0.0     # camera pan speed amplitude, frame widths per second
    zoom: float = 0.0    # camera zoom amplitude (relative scale, 0.15 = +-15 %)
    noise: float = 0.0   # additive Gaussian pixel noise sigma (0..255 units)
    crf: int = 23        # x264 quality (higher = worse)
    rubato: float = 0.0  # relative beat-interval modulation amplitude
    seed: int = 0

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"clip name {self.name!r} is not filename-safe (letters, digits, . _ -)")
        if self.kind not in KINDS:
            raise ValueError(f"clip kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not 20.0 <= self.bpm <= 300.0:
            raise ValueError(f"bpm {self.bpm} is outside 20..300")
        if not 1.0 <= self.fps <= 240.0:
            raise ValueError(f"fps {self.fps} is outside 1..240")
        if not 1.0 <= self.duration_s <= 600.0:
            raise ValueError(f"duration {self.duration_s} s is outside 1..600 s")
        w, h = (int(v) for v in self.size)
        if w < 64 or h < 36 or w % 2 or h % 2:
            raise ValueError(f"size {self.size} must be even and at least 64x36")
        object.__setattr__(self, "size", (w, h))
        if not 0.0 <= self.rubato < 0.3:
            raise ValueError(f"rubato {self.rubato} is outside 0..0.3")
        if not 0.0 <= self.zoom < 0.5:
            raise ValueError(f"zoom {self.zoom} is outside 0..0.5")
        if self.drift < 0 or self.pan < 0 or self.noise < 0:
            raise ValueError("drift, pan and noise cannot be negative")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf {self.crf} is outside 0..51")

    @property
    def rate(self) -> Fraction:
        return frame_rate(self.fps)

    @property
    def frame_count(self) -> int:
        return int(round(self.duration_s * self.rate))

    def frame_time(self, i: int) -> float:
        """Presentation time of frame ``i`` in seconds (exactly ``i / rate``)."""
        return float(Fraction(i) / self.rate)

    def frame_times_s(self) -> np.ndarray:
        return np.array([self.frame_time(i) for i in range(self.frame_count)])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ClipSpec":
        d = dict(d)
        d["size"] = tuple(d.get("size", (320, 180)))
        return cls(**d)


@dataclass(frozen=True)
class SyncTruth:
    """The exact answers for one clip (times in seconds from the first frame)."""

    spec: ClipSpec
    beat_times_s: np.ndarray     # the pulse: contacts of the main rhythmic object
    contact_times_s: np.ndarray  # every visible contact/hit of every object, sorted (incl. beats)
    tempo_bpm: float             # 60 / median beat interval
    cut_times_s: np.ndarray      # hard cuts (first frame time of the new shot)
    shot_tempi_bpm: tuple[float, ...]  # true tempo of each shot
    details: dict = field(default_factory=dict, compare=False)  # per-kind extras (JSON-ready)

    def to_dict(self) -> dict:
        spec = self.spec
        return {
            "name": spec.name,
            "kind": spec.kind,
            "spec": spec.to_dict(),
            "fps_exact": f"{spec.rate.numerator}/{spec.rate.denominator}",
            "frame_count": spec.frame_count,
            "last_frame_s": round(spec.frame_time(spec.frame_count - 1), 6),
            "width": spec.size[0],
            "height": spec.size[1],
            "beat_times_s": _rounded(self.beat_times_s),
            "contact_times_s": _rounded(self.contact_times_s),
            "tempo_bpm": round(float(self.tempo_bpm), 4),
            "cut_times_s": _rounded(self.cut_times_s),
            "shot_tempi_bpm": [round(float(v), 4) for v in self.shot_tempi_bpm],
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SyncTruth":
        return cls(
            spec=ClipSpec.from_dict(d["spec"]),
            beat_times_s=np.asarray(d["beat_times_s"], float),
            contact_times_s=np.asarray(d["contact_times_s"], float),
            tempo_bpm=float(d["tempo_bpm"]),
            cut_times_s=np.asarray(d["cut_times_s"], float),
            shot_tempi_bpm=tuple(float(v) for v in d["shot_tempi_bpm"]),
            details=dict(d.get("details", {})),
        )


def load_truth(path: str | os.PathLike) -> SyncTruth:
    """Read a ``<name>.truth.json`` written by :func:`main`."""
    return SyncTruth.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _rounded(values) -> list[float]:
    return [round(float(v), 6) for v in np.asarray(values, float).ravel()]


# ----------------------------------------------------------------------------- timing


def _pulse(first_s: float, bpm: float, rubato: float, period_beats: float, until_s: float) -> np.ndarray:
    """Contact times from ``first_s``: intervals 60/bpm * (1 + rubato sin(2 pi k / P))."""
    times, t, k = [first_s], first_s, 0
    while t < until_s:
        t += 60.0 / bpm * (1.0 + rubato * math.sin(2.0 * math.pi * k / period_beats))
        times.append(t)
        k += 1
    return np.asarray(times)


def _locate(knots: np.ndarray, t: float) -> tuple[int, float]:
    """Segment ``k`` with ``knots[k] <= t < knots[k+1]`` and the fraction ``u`` in it."""
    k = int(np.searchsorted(knots, t, side="right")) - 1
    k = min(max(k, 0), len(knots) - 2)
    a, b = knots[k], knots[k + 1]
    return k, (t - a) / (b - a)


def _lift_profile(u: float, apex: float = 0.45) -> float:
    """0 -> 1 -> 0 over u in [0, 1]: a smooth rise (no speed at either end of it), then a
    free fall from the apex that arrives with full speed at u = 1 (an abrupt stop)."""
    if u <= 0.0 or u >= 1.0:
        return 0.0
    if u < apex:
        return 0.5 - 0.5 * math.cos(math.pi * u / apex)
    return 1.0 - ((u - apex) / (1.0 - apex)) ** 2


def _stroke_profile(tau: float, span: float, period: float) -> float:
    """A stick between two hits ``span`` seconds apart, ``tau`` after the first: it rebounds
    (leaving with speed), holds up, then strikes in a fast free fall that arrives with full
    speed (an abrupt stop). Rebound and stroke last 0.35 and 0.45 beat, shrunk to fit."""
    if tau <= 0.0 or tau >= span:
        return 0.0
    rise, fall = 0.35 * period, 0.45 * period
    if rise + fall > span:
        k = span / (rise + fall)
        rise, fall = rise * k, fall * k
    if tau < rise:
        return math.sin(0.5 * math.pi * tau / rise)
    if tau < span - fall:
        return 1.0
    return 1.0 - ((tau - (span - fall)) / fall) ** 2


def _smoothstep(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3.0 - 2.0 * u)


def _reflect(x0: float, v: float, lo: float, hi: float, t: float) -> float:
    """Position at time t of a point moving at speed v, reflecting between lo and hi."""
    span = hi - lo
    if span <= 0 or v == 0:
        return min(max(x0, lo), hi)
    p = (x0 - lo + v * t) % (2.0 * span)
    return lo + (p if p <= span else 2.0 * span - p)


def _reversals(x0: float, v: float, lo: float, hi: float, t0: float, t1: float) -> np.ndarray:
    """Times in [t0, t1] where a point of :func:`_reflect` (started at t0) turns at lo or hi."""
    span = hi - lo
    if span <= 0 or v == 0:
        return np.zeros(0)
    p0 = x0 - lo
    p1 = p0 + v * (t1 - t0)
    ms = range(math.floor(min(p0, p1) / span) - 1, math.ceil(max(p0, p1) / span) + 2)
    times = [t0 + (m * span - p0) / v for m in ms]
    return np.array(sorted(t for t in times if t0 < t <= t1))


def _in_clip(spec: ClipSpec, times: np.ndarray) -> np.ndarray:
    last = spec.frame_time(spec.frame_count - 1)
    times = np.asarray(times, float)
    return np.sort(times[(times >= 0.0) & (times <= last + 1e-9)])


def _tempo(times: np.ndarray, fallback: float) -> float:
    if len(times) < 2:
        return float(fallback)
    return 60.0 / float(np.median(np.diff(times)))


# ----------------------------------------------------------------------------- drawing helpers

# Shapes are drawn with exact, area-weighted edges (not cv2's anti-aliasing, which makes shapes
# 0.5..2 px bigger than asked): discs and round-capped segments from their distance fields,
# ellipses and polygons rasterised 4x supersampled and averaged down. Pixel centres are at
# integer coordinates (as for cv2.warpAffine), so a disc of radius r at (x, y) reaches down
# to exactly y + r. Shapes of one colour are painted together as their union.
#   ("disc", x, y, r)  ("seg", ax, ay, bx, by, width)  ("ellipse", x, y, rx, ry, angle_deg)
#   ("ring", x, y, rx, ry, angle_deg, width)  ("poly", [(x, y), ...])
_SS = 4  # supersampling of rasterised shapes
_SS_SHIFT = 3  # sub-pixel bits for cv2 in the supersampled mask


def _shape_box(sh) -> tuple[float, float, float, float]:
    kind = sh[0]
    if kind == "disc":
        _, x, y, r = sh
        return x - r, y - r, x + r, y + r
    if kind == "seg":
        _, ax, ay, bx, by, w = sh
        return min(ax, bx) - w / 2, min(ay, by) - w / 2, max(ax, bx) + w / 2, max(ay, by) + w / 2
    if kind in ("ellipse", "ring"):
        x, y, rx, ry = sh[1:5]
        extra = sh[6] / 2 if kind == "ring" else 0.0
        r = max(rx, ry) + extra
        return x - r, y - r, x + r, y + r
    pts = np.asarray(sh[1], float)
    return pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()


def _shape_coverage(sh, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """Fraction of each pixel of the window (x0, y0, w, h) covered by the shape."""
    kind = sh[0]
    if kind in ("disc", "seg"):
        xs = np.arange(x0, x0 + w, dtype=np.float32)[None, :]
        ys = np.arange(y0, y0 + h, dtype=np.float32)[:, None]
        if kind == "disc":
            _, cx, cy, r = sh
            d = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
        else:
            _, ax, ay, bx, by, wd = sh
            r = wd / 2.0
            dx, dy = bx - ax, by - ay
            l2 = dx * dx + dy * dy
            u = np.clip(((xs - ax) * dx + (ys - ay) * dy) / l2, 0.0, 1.0) if l2 > 1e-12 else np.float32(0.0)
            d = np.sqrt((xs - ax - u * dx) ** 2 + (ys - ay - u * dy) ** 2)
        return np.clip(np.float32(r + 0.5) - d, 0.0, 1.0)
    mask = np.zeros((h * _SS, w * _SS), np.uint8)
    one = 1 << _SS_SHIFT

    def hp(x: float, y: float) -> tuple[int, int]:  # pixel centres of the fine grid
        return (int(round(((x - x0 + 0.5) * _SS - 0.5) * one)), int(round(((y - y0 + 0.5) * _SS - 0.5) * one)))

    def hl(length: float) -> int:  # lengths; the fine raster includes boundary pixels: shrink 1/2
        return max(0, int(round((length * _SS - 0.5) * one)))

    if kind == "poly":
        pts = np.array([hp(x, y) for x, y in sh[1]], np.int32)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_8, _SS_SHIFT)
    else:
        x, y, rx, ry, angle = sh[1:6]
        if kind == "ring":
            half = sh[6] / 2.0
            cv2.ellipse(mask, hp(x, y), (hl(rx + half), hl(ry + half)), angle, 0, 360, 255, -1, cv2.LINE_8, _SS_SHIFT)
            if rx - half > 0 and ry - half > 0:
                cv2.ellipse(mask, hp(x, y), (hl(rx - half), hl(ry - half)), angle, 0, 360, 0, -1,
                            cv2.LINE_8, _SS_SHIFT)
        else:
            cv2.ellipse(mask, hp(x, y), (hl(rx), hl(ry)), angle, 0, 360, 255, -1, cv2.LINE_8, _SS_SHIFT)
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)


def _paint(img: np.ndarray, colour, shapes) -> None:
    """Paint the union of ``shapes`` in ``colour`` onto ``img`` (uint8 RGB, in place)."""
    ih, iw = img.shape[:2]
    boxes = [_shape_box(sh) for sh in shapes]
    x0 = max(0, int(math.floor(min(b[0] for b in boxes))) - 1)
    y0 = max(0, int(math.floor(min(b[1] for b in boxes))) - 1)
    x1 = min(iw, int(math.ceil(max(b[2] for b in boxes))) + 2)
    y1 = min(ih, int(math.ceil(max(b[3] for b in boxes))) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    cov = np.zeros((y1 - y0, x1 - x0), np.float32)
    for sh, b in zip(shapes, boxes):
        sx0, sy0 = max(x0, int(math.floor(b[0])) - 1), max(y0, int(math.floor(b[1])) - 1)
        sx1, sy1 = min(x1, int(math.ceil(b[2])) + 2), min(y1, int(math.ceil(b[3])) + 2)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        sub = cov[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
        np.maximum(sub, _shape_coverage(sh, sx0, sy0, sx1 - sx0, sy1 - sy0), out=sub)
    region = img[y0:y1, x0:x1]
    a = cov[..., None]
    region[:] = np.clip(region * (1.0 - a) + np.asarray(colour, np.float32) * a + 0.5, 0, 255).astype(np.uint8)


def _texture(w: int, h: int, rng: np.random.Generator, base, amp: float, blur: float = 3.0) -> np.ndarray:
    """Blurred-noise RGB texture (static texture gives optical flow something real to track)."""
    raw = rng.standard_normal((h, w, 4)).astype(np.float32)
    raw = raw[..., :3] * 0.45 + raw[..., 3:] * 0.9  # mostly brightness, a little colour
    noise = cv2.GaussianBlur(raw, (0, 0), blur)
    noise /= max(1e-6, float(noise.std()))
    return np.clip(np.asarray(base, np.float32) + amp * noise, 0, 255)


# Palettes: background base colour, floor base colour, floor line, object colours. Object colours
# are bright and saturated, backgrounds mid-dark and desaturated, so they never get confused.
PALETTES = [
    {"name": "slate", "wall": (52, 66, 84), "floor": (88, 78, 66), "line": (226, 222, 204),
     "objects": [(246, 92, 64), (250, 214, 60), (90, 222, 250), (236, 112, 236)], "figure": (250, 210, 90)},
    {"name": "moss", "wall": (58, 82, 60), "floor": (70, 60, 84), "line": (236, 236, 220),
     "objects": [(110, 196, 255), (255, 140, 80), (255, 236, 120), (255, 120, 200)], "figure": (255, 180, 120)},
    {"name": "plum", "wall": (82, 58, 86), "floor": (58, 76, 80), "line": (240, 228, 200),
     "objects": [(120, 240, 140), (255, 200, 80), (250, 250, 250), (90, 190, 255)], "figure": (140, 240, 210)},
    {"name": "sand", "wall": (104, 92, 70), "floor": (56, 60, 72), "line": (250, 250, 236),
     "objects": [(250, 80, 90), (60, 160, 255), (120, 255, 160), (255, 250, 140)], "figure": (120, 220, 255)},
]


class _Camera:
    """World -> frame mapping ``p_f = s (p_w - C) + centre``; identity when pan = zoom = 0.

    World coordinates are frame coordinates of the camera at rest; the world picture extends
    ``margin`` pixels beyond the frame on each side so a panned or zoomed-out view stays inside it.
    """

    def __init__(self, spec: ClipSpec, rng: np.random.Generator):
        w, h = spec.size
        self.w, self.h = w, h
        self.static = spec.pan == 0.0 and spec.zoom == 0.0
        self.pan_omega = 2.0 * math.pi / rng.uniform(6.0, 10.0)
        self.pan_amp = spec.pan * w / self.pan_omega  # speed amplitude = pan frame widths / s
        self.pan_phase = rng.uniform(0.0, 2.0 * math.pi)
        self.tilt_amp = 0.1 * self.pan_amp  # a little vertical sway with the pan
        self.tilt_omega = self.pan_omega * rng.uniform(1.2, 1.6)
        self.tilt_phase = rng.uniform(0.0, 2.0 * math.pi)
        self.zoom = spec.zoom
        self.zoom_omega = 2.0 * math.pi * rng.uniform(0.15, 0.25)
        self.zoom_phase = rng.uniform(0.0, 2.0 * math.pi)
        s_min = 1.0 - self.zoom
        self.mx = int(math.ceil(self.pan_amp + 0.5 * w * (1.0 / s_min - 1.0))) + 4
        self.my = int(math.ceil(self.tilt_amp + 0.5 * h * (1.0 / s_min - 1.0))) + 4
        if self.static:
            self.mx = self.my = 0

    def at(self, t: float) -> tuple[float, float, float]:
        """(scale, camera centre x, y) in world coordinates at time t."""
        s = 1.0 + self.zoom * math.sin(self.zoom_omega * t + self.zoom_phase)
        cx = 0.5 * self.w + self.pan_amp * math.sin(self.pan_omega * t + self.pan_phase)
        cy = 0.5 * self.h + self.tilt_amp * math.sin(self.tilt_omega * t + self.tilt_phase)
        return s, cx, cy

    def view(self, t: float) -> "_View":
        if self.static:
            return _View(1.0, 0.0, 0.0)
        s, cx, cy = self.at(t)
        return _View(s, 0.5 * self.w - s * cx, 0.5 * self.h - s * cy)

    def render_background(self, world: np.ndarray, t: float) -> np.ndarray:
        if self.static:
            return world.copy()
        v = self.view(t)
        m = np.array([[v.s, 0.0, v.tx - v.s * self.mx], [0.0, v.s, v.ty - v.s * self.my]], np.float64)
        return cv2.warpAffine(world, m, (self.w, self.h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT_101)


@dataclass(frozen=True)
class _View:
    s: float
    tx: float
    ty: float

    def p(self, x: float, y: float) -> tuple[float, float]:
        return self.s * x + self.tx, self.s * y + self.ty

    def d(self, length: float) -> float:
        return self.s * length

    # world-coordinate shapes for :func:`_paint`, mapped into the frame
    def disc(self, c, r: float) -> tuple:
        return ("disc", *self.p(*c), self.s * r)

    def seg(self, a, b, width: float) -> tuple:
        return ("seg", *self.p(*a), *self.p(*b), self.s * width)

    def ellipse(self, c, axes, angle: float = 0.0) -> tuple:
        return ("ellipse", *self.p(*c), self.s * axes[0], self.s * axes[1], angle)

    def ring(self, c, axes, width: float, angle: float = 0.0) -> tuple:
        return ("ring", *self.p(*c), self.s * axes[0], self.s * axes[1], angle, self.s * width)

    def poly(self, pts) -> tuple:
        return ("poly", [self.p(*q) for q in pts])


def _world_background(spec: ClipSpec, cam: _Camera, pal: dict, floor_y: float, rng) -> np.ndarray:
    """Textured wall, textured floor below ``floor_y`` (world y) and a bright floor line on it."""
    w, h = spec.size
    ww, wh = w + 2 * cam.mx, h + 2 * cam.my
    img = _texture(ww, wh, rng, pal["wall"], 26.0)
    fy = floor_y + cam.my
    floor = _texture(ww, wh, rng, pal["floor"], 18.0, blur=2.0)
    thick = max(3.0, h / 60.0)

    def band(top: float, bottom: float) -> np.ndarray:  # exact row coverage (pixel centres at integers)
        rows = np.arange(wh, dtype=np.float32)
        return np.clip(np.minimum(rows + 0.5, bottom) - np.maximum(rows - 0.5, top), 0.0, 1.0)[:, None, None]

    below = band(fy, wh + 1.0)
    img = img * (1.0 - below) + floor * below
    # the floor line: its top edge is the contact surface (world y = floor_y)
    line = band(fy, fy + thick)
    img = img * (1.0 - line) + np.asarray(pal["line"], np.float32) * line
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- scenes


class _Scene:
    """Base: a scene knows its truth and draws the (noise-free) picture at any time t."""

    spec: ClipSpec
    truth: SyncTruth

    def draw(self, t: float) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError


class _Bouncer:
    """A ball whose bottom touches the floor exactly at each contact time."""

    def __init__(self, contacts: np.ndarray, heights: np.ndarray, radius: float, floor_y: float,
                 colour, x0: float, vx: float, x_lo: float, x_hi: float, start_s: float = 0.0):
        # knots: a virtual contact mirrored before the first one so that the ball is at the apex,
        # at rest, at ``start_s``: it falls from rest along the same parabola shape
        first = float(contacts[0])
        self.knots = np.concatenate([[2.0 * start_s - first], contacts])
        self.heights = np.concatenate([[heights[0]], heights])  # height of segment k
        self.contacts = np.asarray(contacts, float)
        self.r, self.floor_y, self.colour = radius, floor_y, colour
        self.x0, self.vx, self.x_lo, self.x_hi = x0, vx, x_lo, x_hi
        self.start_s = start_s

    def height(self, t: float) -> float:
        """Height of the ball's bottom above the floor line (world pixels)."""
        k, u = _locate(self.knots, t)
        u = min(max(u, 0.0), 1.0)
        return float(self.heights[k] * 4.0 * u * (1.0 - u))

    def position(self, t: float) -> tuple[float, float]:
        """World centre (x, y) of the ball."""
        x = _reflect(self.x0, self.vx, self.x_lo, self.x_hi, t - self.start_s)
        return x, self.floor_y - self.r - self.height(t)

    def draw(self, img, view: _View, t: float) -> None:
        x, y = self.position(t)
        _paint(img, self.colour, [view.disc((x, y), self.r)])
        # a small highlight makes it read as a ball (inside the disc: the outline is unchanged)
        hl = tuple(int(min(255, v * 0.45 + 150)) for v in self.colour)
        _paint(img, hl, [view.disc((x - 0.35 * self.r, y - 0.38 * self.r), 0.25 * self.r)])


def _bounce_heights(rng, n: int, h: float) -> np.ndarray:
    base = rng.uniform(0.35, 0.55) * h
    return base * (1.0 + 0.06 * rng.uniform(-1.0, 1.0, size=n))


class _BounceScene(_Scene):
    """``bounce`` and ``multi``; also one shot of ``cutshots`` (``start_s``/``bpm``/``palette``)."""

    def __init__(self, spec: ClipSpec, *, cam: _Camera | None = None, bpm: float | None = None,
                 start_s: float = 0.0, first_s: float | None = None, palette: int | None = None,
                 rng: np.random.Generator | None = None):
        self.spec = spec
        w, h = spec.size
        rng = rng if rng is not None else np.random.default_rng([spec.seed, 101])
        self.cam = cam if cam is not None else _Camera(spec, rng)
        self.pal = PALETTES[int(rng.integers(len(PALETTES))) if palette is None else palette % len(PALETTES)]
        self.floor_y = 0.86 * h
        self.world = _world_background(spec, self.cam, self.pal, self.floor_y, rng)
        bpm = spec.bpm if bpm is None else bpm
        period_beats = rng.uniform(12.0, 20.0)
        if first_s is None:
            first_s = start_s + rng.uniform(0.3, 1.0)
        until = spec.duration_s + 2.0 * 60.0 / bpm
        contacts = _pulse(first_s, bpm, spec.rubato, period_beats, until)
        self.period_beats = period_beats
        multi = spec.kind == "multi"
        r = 0.08 * h
        margin = 0.06 * w + r
        x_lo, x_hi = margin, (0.56 * w if multi else w - margin)
        x0 = rng.uniform(x_lo, x_hi) if spec.drift else (0.3 * w if multi else rng.uniform(0.3, 0.7) * w)
        vx = spec.drift * w * (1 if rng.random() < 0.5 else -1)
        heights = _bounce_heights(rng, len(contacts), h)
        self.main = _Bouncer(contacts, heights, r, self.floor_y, self.pal["objects"][0],
                             x0, vx, x_lo, x_hi, start_s)
        self.balls = [self.main]
        self.details: dict[str, Any] = {"palette": self.pal["name"], "rubato_period_beats": round(period_beats, 4),
                                        "bounce_heights_px": _rounded(heights[:8])}
        if vx:  # the sideways motion turns at the margins: not a contact (no wall is drawn)
            self.details["drift_reversals_s"] = _rounded(_in_clip(spec, _reversals(
                x0, vx, x_lo, x_hi, start_s, spec.duration_s)))
        self.distractor = None
        all_contacts = [contacts]
        if multi:
            mode = "half" if rng.random() < 0.5 else "offbeat"
            if mode == "half":
                phase = int(rng.integers(2))
                second = contacts[phase::2]
            else:
                second = 0.5 * (contacts[:-1] + contacts[1:])
            r2 = 0.065 * h
            h2 = _bounce_heights(rng, len(second), h) * (1.0 if mode == "half" else 0.8)
            ball2 = _Bouncer(second, h2, r2, self.floor_y, self.pal["objects"][1],
                             0.76 * w, 0.0, 0.76 * w, 0.76 * w, start_s)
            self.balls.insert(0, ball2)
            all_contacts.append(second)
            self.distractor = {
                "r": 0.06 * h, "colour": self.pal["objects"][2],
                "fx": rng.uniform(0.08, 0.13), "fy": rng.uniform(0.14, 0.2),
                "px": rng.uniform(0, 2 * math.pi), "py": rng.uniform(0, 2 * math.pi),
            }
            self.details.update({"second_ball": mode,
                                 "second_ball_contacts_s": _rounded(_in_clip(spec, second))})
        self.contacts_all = np.sort(np.concatenate(all_contacts))

    def distractor_position(self, t: float) -> tuple[float, float]:
        w, h = self.spec.size
        d = self.distractor
        return (w * (0.5 + 0.36 * math.sin(2 * math.pi * d["fx"] * t + d["px"])),
                h * (0.3 + 0.1 * math.sin(2 * math.pi * d["fy"] * t + d["py"])))

    def draw(self, t: float) -> np.ndarray:
        img = self.cam.render_background(self.world, t)
        view = self.cam.view(t)
        if self.distractor is not None:
            _paint(img, self.distractor["colour"], [view.disc(self.distractor_position(t), self.distractor["r"])])
        for ball in self.balls:
            ball.draw(img, view, t)
        return img

    def make_truth(self) -> SyncTruth:
        spec = self.spec
        beats = _in_clip(spec, self.main.contacts)
        tempo = _tempo(beats, spec.bpm)
        return SyncTruth(spec, beats, _in_clip(spec, self.contacts_all), tempo, np.zeros(0), (tempo,),
                         dict(self.details))


class _CutScene(_Scene):
    """Two bounce shots, the second at bpm * 1.25 or * 0.8, a hard cut in the middle third."""

    def __init__(self, spec: ClipSpec):
        self.spec = spec
        rng = np.random.default_rng([spec.seed, 303])
        self.cam = _Camera(spec, rng)
        p1 = int(rng.integers(len(PALETTES)))
        # the second shot looks different: another palette whose ball colour is far from the first
        far = [i for i in range(len(PALETTES)) if i != p1 and np.linalg.norm(
            np.subtract(PALETTES[i]["objects"][0], PALETTES[p1]["objects"][0])) > 120]
        p2 = far[int(rng.integers(len(far)))]
        ratio = 1.25 if rng.random() < 0.5 else 0.8
        bpm2 = spec.bpm * ratio
        self.shot1 = _BounceScene(spec, cam=self.cam, palette=p1, rng=np.random.default_rng([spec.seed, 304]))
        # cut: a frame time in the middle third, clear of shot 1's contacts
        c1 = self.shot1.main.contacts
        guard = min(0.15, 20.0 / spec.bpm)
        n = spec.frame_count
        frames = [i for i in range(int(math.ceil(n / 3)), int(2 * n / 3))
                  if np.min(np.abs(c1 - spec.frame_time(i))) >= guard]
        cut_frame = frames[int(rng.integers(len(frames)))]
        self.cut_s = spec.frame_time(cut_frame)
        # shot 2 is cut into an action already going on: the ball is in flight at the cut
        d2 = 60.0 / bpm2
        first2 = self.cut_s + max(guard, rng.uniform(0.2, 0.8) * d2)
        self.shot2 = _BounceScene(spec, cam=self.cam, bpm=bpm2, palette=p2, first_s=first2,
                                  start_s=first2 - d2 / 2.0, rng=np.random.default_rng([spec.seed, 305]))
        self.bpm2 = bpm2

    def draw(self, t: float) -> np.ndarray:
        return (self.shot2 if t >= self.cut_s - 1e-9 else self.shot1).draw(t)

    def make_truth(self) -> SyncTruth:
        spec = self.spec
        b1 = self.shot1.main.contacts
        b1 = _in_clip(spec, b1[b1 < self.cut_s])
        b2 = self.shot2.main.contacts
        b2 = _in_clip(spec, b2[b2 >= self.cut_s])
        beats = np.concatenate([b1, b2])
        tempi = (_tempo(b1, spec.bpm), _tempo(b2, self.bpm2))
        details = {"shot_palettes": [self.shot1.pal["name"], self.shot2.pal["name"]],
                   "shot_bpm_nominal": [spec.bpm, round(self.bpm2, 6)], "cut_frame": int(round(self.cut_s * spec.rate))}
        return SyncTruth(spec, beats, beats.copy(), _tempo(beats, spec.bpm), np.array([self.cut_s]), tempi, details)


def _ik(a: tuple[float, float], b: tuple[float, float], l1: float, l2: float, bend: float):
    """Middle joint of a two-link limb from ``a`` to ``b`` (the joint on the ``bend`` side:
    +1 = to the right of the a->b direction in image coordinates). Returns (joint, end):
    ``end`` is ``b`` pulled in when out of reach."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    dist = math.hypot(dx, dy)
    reach = (l1 + l2) * 0.999
    if dist > reach:
        dx, dy, dist = dx * reach / dist, dy * reach / dist, reach
    dist = max(dist, abs(l1 - l2) + 1e-6, 1e-6)
    ux, uy = dx / dist, dy / dist
    along = (l1 * l1 - l2 * l2 + dist * dist) / (2.0 * dist)
    off = math.sqrt(max(0.0, l1 * l1 - along * along))
    nx, ny = -uy * bend, ux * bend
    return (ax + ux * along + nx * off, ay + uy * along + ny * off), (ax + dx, ay + dy)


class _DancerScene(_Scene):
    """A stick figure stepping in place, a foot plant on every beat."""

    DUTY = 0.15  # fraction of a beat both feet stay down after a plant

    def __init__(self, spec: ClipSpec):
        self.spec = spec
        w, h = spec.size
        rng = np.random.default_rng([spec.seed, 202])
        self.cam = _Camera(spec, rng)
        self.pal = PALETTES[int(rng.integers(len(PALETTES)))]
        self.floor_y = 0.9 * h
        self.world = _world_background(spec, self.cam, self.pal, self.floor_y, rng)
        self.period_beats = rng.uniform(12.0, 20.0)
        first = rng.uniform(0.3, 1.0)
        self.beats = _pulse(first, spec.bpm, spec.rubato, self.period_beats, spec.duration_s + 2 * 60 / spec.bpm)
        self.knots = np.concatenate([[0.0], self.beats])
        self.first_foot = "R" if rng.random() < 0.5 else "L"
        u = h  # unit: frame height
        self.th = max(3.0, 0.028 * u)
        self.thigh = self.shin = 0.15 * u
        self.hip_low, self.bob = 0.262 * u, 0.026 * u
        self.lift = 0.085 * u
        self.hip_half, self.foot_half, self.toe = 0.032 * u, 0.055 * u, 0.035 * u
        self.torso, self.head_r = 0.24 * u, 0.06 * u
        self.sh_half, self.upper, self.fore = 0.065 * u, 0.11 * u, 0.1 * u
        self.arm_mid, self.arm_amp = math.radians(72), math.radians(44)
        margin = 0.2 * w
        self.x0 = rng.uniform(margin, w - margin) if spec.drift else rng.uniform(0.4, 0.6) * w
        self.vx = spec.drift * w * (1 if rng.random() < 0.5 else -1)
        self.x_lo, self.x_hi = margin, w - margin
        self.colour = self.pal["figure"]
        self.head_colour = tuple(int(min(255, v * 0.6 + 110)) for v in self.pal["objects"][0])

    def foot_side(self, k: int) -> str:
        """Which foot plants on beat k."""
        other = "L" if self.first_foot == "R" else "R"
        return self.first_foot if k % 2 == 0 else other

    def pose(self, t: float) -> dict[str, tuple[float, float]]:
        """World coordinates of the joints at time t (``ankle_L``/``ankle_R``: the foot's heel
        point; its bottom edge is ``th / 2`` lower)."""
        k, u = _locate(self.knots, t)  # segment k ends with beat k (knots[k + 1] = beats[k])
        u = min(max(u, 0.0), 1.0)
        cx = _reflect(self.x0, self.vx, self.x_lo, self.x_hi, t)
        hip_y = self.floor_y - self.hip_low - self.bob * math.sin(math.pi * u)
        stepping = self.foot_side(k)
        air = max(0.0, (u - self.DUTY) / (1.0 - self.DUTY))
        lift = self.lift * _lift_profile(air)
        pose: dict[str, tuple[float, float]] = {"hip": (cx, hip_y)}
        ground = self.floor_y - self.th / 2.0
        for side, sx in (("L", -1.0), ("R", 1.0)):
            up = lift if side == stepping else 0.0
            out = 0.012 * self.spec.size[1] * math.sin(math.pi * air) if side == stepping else 0.0
            pose["ankle_" + side] = (cx + sx * (self.foot_half + out), ground - up)
            pose["hipj_" + side] = (cx + sx * self.hip_half, hip_y)
        neck = (cx, hip_y - self.torso)
        pose["neck"] = neck
        pose["head"] = (cx, neck[1] - self.head_r * 1.25)
        # arms: angle from straight down, outwards; a triangle wave reversing on every beat
        e = (-1.0 if k % 2 == 0 else 1.0) * (1.0 - 2.0 * u)  # -1 at segment start, +1 at end (even k)
        for side, sx, sgn in (("L", -1.0, 1.0), ("R", 1.0, -1.0)):
            th = self.arm_mid + sgn * self.arm_amp * e
            sh = (cx + sx * self.sh_half, neck[1] + 0.02 * self.spec.size[1])
            el = (sh[0] + sx * self.upper * math.sin(th), sh[1] + self.upper * math.cos(th))
            th2 = th + math.radians(40)
            hand = (el[0] + sx * self.fore * math.sin(th2), el[1] + self.fore * math.cos(th2))
            pose["shoulder_" + side], pose["elbow_" + side], pose["hand_" + side] = sh, el, hand
        return pose

    def draw(self, t: float) -> np.ndarray:
        img = self.cam.render_background(self.world, t)
        v = self.cam.view(t)
        p = self.pose(t)
        th = self.th
        limbs = []
        for side, sx in (("L", -1.0), ("R", 1.0)):
            knee, foot = _ik(p["hipj_" + side], p["ankle_" + side], self.thigh, self.shin, -sx)
            limbs += [v.seg(p["hipj_" + side], knee, th), v.seg(knee, foot, th),
                      v.seg(foot, (foot[0] + sx * self.toe, foot[1]), th)]
        limbs += [v.seg(p["hipj_L"], p["hipj_R"], th), v.seg(p["hip"], p["neck"], 1.4 * th),
                  v.seg(p["shoulder_L"], p["shoulder_R"], th), v.seg(p["neck"], p["head"], th)]
        for side in ("L", "R"):
            limbs += [v.seg(p["shoulder_" + side], p["elbow_" + side], th),
                      v.seg(p["elbow_" + side], p["hand_" + side], th)]
        _paint(img, self.colour, limbs)
        _paint(img, self.head_colour, [v.disc(p["head"], self.head_r)])
        return img

    def make_truth(self) -> SyncTruth:
        spec = self.spec
        beats = _in_clip(spec, self.beats)
        tempo = _tempo(beats, spec.bpm)
        feet = [self.foot_side(k) for k in range(len(beats))]
        details = {"palette": self.pal["name"], "feet": feet, "rubato_period_beats": round(self.period_beats, 4)}
        if self.vx:
            details["drift_reversals_s"] = _rounded(_in_clip(spec, _reversals(
                self.x0, self.vx, self.x_lo, self.x_hi, 0.0, spec.duration_s)))
        return SyncTruth(spec, beats, beats.copy(), tempo, np.zeros(0), (tempo,), details)


class _DrummerScene(_Scene):
    """A seated drummer: drum hits on every beat (alternating hands), cymbal on some off-beats."""

    def __init__(self, spec: ClipSpec):
        self.spec = spec
        w, h = spec.size
        rng = np.random.default_rng([spec.seed, 404])
        self.cam = _Camera(spec, rng)
        self.pal = PALETTES[int(rng.integers(len(PALETTES)))]
        self.floor_y = 0.93 * h
        self.world = _world_background(spec, self.cam, self.pal, self.floor_y, rng)
        self.period_beats = rng.uniform(12.0, 20.0)
        first = rng.uniform(0.3, 1.0)
        self.beats = _pulse(first, spec.bpm, spec.rubato, self.period_beats, spec.duration_s + 3 * 60 / spec.bpm)
        u = h
        cx = rng.uniform(0.44, 0.5) * w
        self.cx = cx
        # drum: head ellipse, shell below it
        self.drum_c, self.drum_ax = (cx, 0.66 * u), (0.2 * u, 0.05 * u)
        self.shell_h = 0.14 * u
        # cymbal on a stand to the drummer's right (the viewer's right)
        self.cym_c, self.cym_ax, self.cym_tilt = (cx + 0.4 * u, 0.45 * u), (0.11 * u, 0.024 * u), -8.0
        # figure
        self.hip = (cx, 0.63 * u)
        self.neck = (cx, 0.38 * u)
        self.head_r = 0.058 * u
        self.shoulders = {"L": (cx - 0.075 * u, 0.405 * u), "R": (cx + 0.075 * u, 0.405 * u)}
        self.upper, self.fore, self.stick = 0.13 * u, 0.12 * u, 0.19 * u
        self.lift = 0.15 * u
        self.th = max(3.0, 0.026 * u)
        self.targets = {
            "drum_L": (self.drum_c[0] - 0.45 * self.drum_ax[0], self.drum_c[1]),
            "drum_R": (self.drum_c[0] + 0.45 * self.drum_ax[0], self.drum_c[1]),
            "cymbal": (self.cym_c[0] - 0.45 * self.cym_ax[0], self.cym_c[1] - 0.3 * self.cym_ax[1]),
        }
        # schedule: drum on every beat, L on even beats; R hits the cymbal on some off-beats
        # after its own drum hits (it is free until its next drum hit two beats later)
        events: dict[str, list[tuple[float, str]]] = {"L": [], "R": []}
        cymbal = []
        for k, b in enumerate(self.beats[:-1]):
            hand = "L" if k % 2 == 0 else "R"
            events[hand].append((float(b), "drum_" + hand))
            if hand == "R" and rng.random() < 0.6:
                m = 0.5 * (b + self.beats[k + 1])
                events["R"].append((float(m), "cymbal"))
                cymbal.append(m)
        self.events = {hand: sorted(ev) for hand, ev in events.items()}
        self.cymbal_hits = np.asarray(cymbal, float)
        self.colour = self.pal["figure"]
        self.head_colour = tuple(int(min(255, v * 0.6 + 110)) for v in self.pal["objects"][0])
        self.drum_colour = self.pal["objects"][0]
        self.stick_colour = (226, 176, 104)  # wood, unlike the drum head

    # stick angle per target (degrees: direction tip -> grip, from straight up towards the hand's
    # outer side) and how the wrist turns it as the stick is raised (the tip goes up)
    STICK = {"drum_L": (40.0, 60.0), "drum_R": (40.0, 60.0), "cymbal": (-105.0, -45.0)}

    def tip(self, hand: str, t: float) -> tuple[tuple[float, float], float, float]:
        """World position of the stick tip, how raised it is (0 = on target, 1 = top) and the
        stick angle (see ``STICK``)."""
        ev = self.events[hand]
        times = [e[0] for e in ev]
        j = int(np.searchsorted(times, t, side="right"))  # next event index
        if j >= len(ev):
            return self.targets[ev[-1][1]], 0.0, self.STICK[ev[-1][1]][0]
        tb, target_b = ev[j]
        pb = self.targets[target_b]
        psi_b, wrist_b = self.STICK[target_b]
        if j == 0:  # raised, held at rest above the first target, then strikes it
            fall = min(tb, 0.45 * 60.0 / self.spec.bpm)
            u = (t - (tb - fall)) / fall if fall > 0 else 1.0
            raised = 1.0 - min(max(u, 0.0), 1.0) ** 2
            return (pb[0], pb[1] - self.lift * raised), raised, psi_b + wrist_b * raised
        ta, target_a = ev[j - 1]
        pa = self.targets[target_a]
        psi_a, wrist_a = self.STICK[target_a]
        u = (t - ta) / (tb - ta)
        s = _smoothstep(u)
        raised = _stroke_profile(t - ta, tb - ta, 60.0 / self.spec.bpm)
        x = pa[0] + (pb[0] - pa[0]) * s
        y = pa[1] + (pb[1] - pa[1]) * s - self.lift * raised
        psi = psi_a + (psi_b - psi_a) * s + (wrist_a + (wrist_b - wrist_a) * s) * raised
        return (x, y), raised, psi

    def cymbal_angle(self, t: float) -> float:
        hits = self.cymbal_hits[self.cymbal_hits <= t]
        if not len(hits):
            return self.cym_tilt
        dt = t - hits[-1]
        return self.cym_tilt + 9.0 * math.exp(-dt / 0.3) * math.sin(2 * math.pi * 4.0 * dt)

    def arm(self, hand: str, t: float):
        """(shoulder, elbow, grip, tip) in world coordinates."""
        tip, _, psi = self.tip(hand, t)
        sx = -1.0 if hand == "L" else 1.0
        phi = math.radians(psi)
        grip = (tip[0] + sx * self.stick * math.sin(phi), tip[1] - self.stick * math.cos(phi))
        sh = self.shoulders[hand]
        elbow, grip = _ik(sh, grip, self.upper, self.fore, sx)
        return sh, elbow, grip, tip

    def draw(self, t: float) -> np.ndarray:
        img = self.cam.render_background(self.world, t)
        v = self.cam.view(t)
        th = self.th
        u = self.spec.size[1]
        hip, neck = self.hip, self.neck
        grey = (150, 150, 156)
        # stool and legs (mostly behind the drum)
        _paint(img, (60, 52, 48), [v.seg((hip[0] - 0.06 * u, hip[1] + 0.03 * u), (hip[0] + 0.06 * u, hip[1] + 0.03 * u), 0.03 * u),
                                   v.seg((hip[0], hip[1] + 0.03 * u), (hip[0], self.floor_y), 0.02 * u)])
        body = [v.seg(hip, neck, 1.4 * th), v.seg(self.shoulders["L"], self.shoulders["R"], th)]
        for sx in (-1.0, 1.0):
            knee = (hip[0] + sx * 0.12 * u, hip[1] + 0.02 * u)
            body += [v.seg((hip[0] + sx * 0.03 * u, hip[1]), knee, th),
                     v.seg(knee, (knee[0] + sx * 0.01 * u, self.floor_y - th / 2), th)]
        _paint(img, self.colour, body)
        _paint(img, self.head_colour, [v.disc((neck[0], neck[1] - 1.2 * self.head_r), self.head_r)])
        # cymbal stand and cymbal
        _paint(img, grey, [v.seg(self.cym_c, (self.cym_c[0], self.floor_y), 0.015 * u)])
        _paint(img, (205, 190, 120), [v.ellipse(self.cym_c, self.cym_ax, self.cymbal_angle(t))])
        # drum: legs, shell, head
        dc, (rx, ry) = self.drum_c, self.drum_ax
        bottom = dc[1] + self.shell_h
        _paint(img, grey, [v.seg((dc[0] + sx * rx, bottom), (dc[0] + sx * 1.2 * rx, self.floor_y), 0.012 * u)
                           for sx in (-0.7, 0.7)])
        _paint(img, self.drum_colour, [v.poly([(dc[0] - rx, dc[1]), (dc[0] + rx, dc[1]), (dc[0] + rx, bottom),
                                               (dc[0] - rx, bottom)]), v.ellipse((dc[0], bottom), (rx, ry))])
        _paint(img, (236, 232, 222), [v.ellipse(dc, (rx, ry))])
        _paint(img, (120, 120, 126), [v.ring(dc, (rx, ry), 0.01 * u)])
        # arms and sticks
        for hand in ("L", "R"):
            sh, el, grip, tip = self.arm(hand, t)
            _paint(img, self.colour, [v.seg(sh, el, th), v.seg(el, grip, th)])
            _paint(img, self.stick_colour, [v.seg(grip, tip, max(2.0, 0.6 * th))])
            _paint(img, self.head_colour, [v.disc(grip, 0.6 * th)])
        return img

    def make_truth(self) -> SyncTruth:
        spec = self.spec
        beats = _in_clip(spec, self.beats)
        cym = _in_clip(spec, self.cymbal_hits)
        tempo = _tempo(beats, spec.bpm)
        hands = ["L" if k % 2 == 0 else "R" for k in range(len(beats))]
        return SyncTruth(spec, beats, np.sort(np.concatenate([beats, cym])), tempo, np.zeros(0), (tempo,),
                         {"palette": self.pal["name"], "drum_hands": hands, "cymbal_times_s": _rounded(cym),
                          "rubato_period_beats": round(self.period_beats, 4)})


def make_scene(spec: ClipSpec) -> _Scene:
    """The scene for ``spec``: ``.draw(t)`` gives the noise-free RGB picture at time t (any t),
    ``.make_truth()`` the truth. Deterministic in ``spec``."""
    if spec.kind in ("bounce", "multi"):
        return _BounceScene(spec)
    if spec.kind == "dancer":
        return _DancerScene(spec)
    if spec.kind == "drummer":
        return _DrummerScene(spec)
    return _CutScene(spec)


def clip_truth(spec: ClipSpec) -> SyncTruth:
    """The truth of a clip without rendering it (identical to what :func:`render_clip` returns)."""
    return make_scene(spec).make_truth()


# ----------------------------------------------------------------------------- encoding


def frames(spec: ClipSpec, scene: _Scene | None = None):
    """Yield (time, RGB uint8 frame) for every frame of the clip, noise included."""
    scene = scene if scene is not None else make_scene(spec)
    noise_rng = np.random.default_rng([spec.seed, 909])
    w, h = spec.size
    for i in range(spec.frame_count):
        t = spec.frame_time(i)
        img = scene.draw(t)
        if spec.noise > 0:
            noisy = img.astype(np.float32)
            noisy += noise_rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(spec.noise)
            img = np.clip(noisy, 0, 255).astype(np.uint8)
        yield t, img


def _encode(path: Path, spec: ClipSpec, scene: _Scene) -> None:
    import av

    rate = spec.rate
    container = av.open(str(path), "w", format="mp4")
    try:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = spec.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": str(int(spec.crf)), "bf": "0", "threads": "1"}
        time_base = Fraction(1, 1) / rate  # one tick per frame: pts i <-> time i / fps exactly
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
        for i, (_, img) in enumerate(frames(spec, scene)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = i
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()


def render_clip(spec: ClipSpec, path: str | os.PathLike) -> SyncTruth:
    """Write the clip as an H.264 mp4 (yuv420p) to ``path`` (atomically) and return its truth."""
    from studio.errors import ExportError
    from studio.fsutil import atomic_path

    scene = make_scene(spec)
    with atomic_path(path, error=ExportError) as tmp:
        _encode(tmp, spec, scene)
    return scene.make_truth()


# ----------------------------------------------------------------------------- the suite


def _spec(kind: str, bpm: float, fps: float, seed: int, duration_s: float = 16.0, **kw) -> ClipSpec:
    tags = []
    if kw.get("drift"):
        tags.append("drift")
    if kw.get("pan"):
        tags.append("pan")
    if kw.get("zoom"):
        tags.append("zoom")
    if kw.get("noise"):
        tags.append("noise")
    if kw.get("rubato"):
        tags.append("rubato")
    name = "-".join([kind, f"{bpm:g}bpm", f"{fps:g}fps", *tags])
    return ClipSpec(name=name, kind=kind, bpm=float(bpm), fps=float(fps), duration_s=duration_s, seed=seed, **kw)


def default_suite(quick: bool = False) -> list[ClipSpec]:
    """The benchmark's clips (deterministic). ``quick``: six 8 s clips for CI."""
    if quick:
        return [
            _spec("bounce", 120, 30, 1, 8.0),
            _spec("bounce", 96, 25, 2, 8.0, drift=0.15),
            _spec("bounce", 108, 30, 3, 8.0, pan=0.1),
            _spec("multi", 100, 30, 4, 8.0),
            _spec("dancer", 110, 24, 5, 8.0),
            _spec("drummer", 90, 30, 6, 8.0),
        ]
    noisy = {"noise": 10.0, "crf": 33}
    return [
        # plain bounces across the tempo range and frame rates
        _spec("bounce", 60, 24, 11, 16.0),
        _spec("bounce", 72, 25, 12, 16.0),
        _spec("bounce", 84, 30, 13, 14.0),
        _spec("bounce", 100, 60, 14, 12.0),
        _spec("bounce", 112, 29.97, 15, 14.0),
        _spec("bounce", 120, 30, 16, 14.0),
        _spec("bounce", 140, 24, 17, 12.0),
        _spec("bounce", 165, 30, 18, 12.0),
        _spec("bounce", 180, 60, 19, 12.0),
        # sideways drift
        _spec("bounce", 78, 24, 21, 16.0, drift=0.15),
        _spec("bounce", 96, 30, 22, 14.0, drift=0.12),
        _spec("bounce", 132, 25, 23, 12.0, drift=0.2),
        # camera pan / zoom
        _spec("bounce", 66, 25, 31, 16.0, pan=0.08, drift=0.1),
        _spec("bounce", 108, 30, 32, 14.0, pan=0.1),
        _spec("bounce", 150, 60, 33, 12.0, pan=0.15),
        _spec("bounce", 117, 30, 34, 14.0, zoom=0.15),
        _spec("bounce", 90, 24, 35, 14.0, pan=0.1, zoom=0.12),
        # noise with heavy compression
        _spec("bounce", 75, 25, 41, 16.0, noise=12.0, crf=34),
        _spec("bounce", 126, 30, 42, 12.0, **noisy),
        _spec("bounce", 158, 24, 43, 12.0, drift=0.12, noise=8.0, crf=32),
        # rubato
        _spec("bounce", 104, 30, 51, 16.0, rubato=0.03),
        _spec("bounce", 138, 25, 52, 12.0, rubato=0.04),
        _spec("bounce", 88, 60, 53, 12.0, rubato=0.02, pan=0.08),
        # several objects
        _spec("multi", 100, 30, 61, 14.0),
        _spec("multi", 120, 25, 62, 14.0, drift=0.1),
        _spec("multi", 145, 24, 63, 12.0, pan=0.1),
        _spec("multi", 80, 60, 64, 12.0, noise=10.0, crf=32),
        _spec("multi", 172, 30, 65, 12.0, rubato=0.03),
        # people
        _spec("dancer", 96, 30, 71, 14.0),
        _spec("dancer", 120, 25, 72, 14.0, pan=0.08),
        _spec("dancer", 132, 24, 73, 12.0, noise=10.0, crf=33),
        _spec("dancer", 72, 60, 74, 12.0, rubato=0.03),
        _spec("drummer", 100, 30, 81, 14.0),
        _spec("drummer", 140, 25, 82, 12.0, zoom=0.12),
        _spec("drummer", 84, 24, 83, 14.0, noise=8.0, crf=32),
        _spec("drummer", 165, 60, 84, 12.0),
        # hard cuts between shots of different tempi
        _spec("cutshots", 100, 30, 91, 16.0),
        _spec("cutshots", 128, 25, 92, 16.0, pan=0.08),
        _spec("cutshots", 90, 24, 93, 16.0, drift=0.12),
    ]


def _render_one(spec: ClipSpec, out: Path) -> tuple[str, str, float]:
    from studio.fsutil import write_text_atomic

    t0 = time.perf_counter()
    truth = render_clip(spec, out / f"{spec.name}.mp4")
    write_text_atomic(out / f"{spec.name}.truth.json", json.dumps(truth.to_dict(), indent=1) + "\n")
    wall = time.perf_counter() - t0
    line = (f"{spec.name}: {spec.frame_count} frames, {len(truth.beat_times_s)} beats, "
            f"{len(truth.contact_times_s)} contacts, tempo {truth.tempo_bpm:.2f} BPM"
            + (f", cut at {truth.cut_times_s[0]:.3f} s" if len(truth.cut_times_s) else "")
            + f" ({wall:.1f} s)")
    return spec.name, line, wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m studio.syncsuite", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for <name>.mp4 and <name>.truth.json")
    ap.add_argument("--quick", action="store_true", help="the six short CI clips")
    ap.add_argument("--only", action="append", default=[], help="render only clips whose name contains this")
    ap.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="parallel renders")
    args = ap.parse_args(argv)
    from studio.errors import StudioError

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot create {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    suite = default_suite(args.quick)
    if args.only:
        suite = [s for s in suite if any(o in s.name for o in args.only)]
    t0 = time.perf_counter()
    try:
        if args.jobs > 1 and len(suite) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                for _, line, _ in pool.map(_render_one, suite, [out] * len(suite)):
                    print(line, flush=True)
        else:
            for spec in suite:
                print(_render_one(spec, out)[1], flush=True)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(suite)} clips in {out} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
