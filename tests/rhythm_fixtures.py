"""Synthetic videos with known visual rhythm, impacts and cuts (ground truth computed analytically).

Each generator writes a small H.264 file with ``videogen.write_video`` and returns the truth.
Pictures are drawn at each frame's own timestamp, so any fps or a variable frame rate shows the
same motion at the same real times.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from videogen import write_video


def _texture(size: tuple[int, int], seed: int, base=(40, 60, 80), amp: float = 40.0) -> np.ndarray:
    """A blurred-noise RGB background (static texture gives optical flow something real)."""
    w, h = size
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal((h, w, 3)).astype(np.float32), (0, 0), 3.0)
    noise /= max(1e-6, float(noise.std()))
    img = np.asarray(base, np.float32) + amp * noise
    return np.clip(img, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- rhythm


@dataclass
class BeatTruth:
    bpm: float
    beat_times_s: np.ndarray
    duration_s: float


def beat_video(path: str | Path, bpm: float, *, duration_s: float = 10.0, fps: float = 30.0,
               size: tuple[int, int] = (160, 120), first_beat_s: float = 0.5,
               frame_times_s=None, seed: int = 1) -> BeatTruth:
    """A block hops (|sin| arc, landing hard on every beat) and a bar slides to and fro at
    constant speed, reversing on every beat; a distractor drifts slowly in a circle."""
    w, h = size
    period = 60.0 / bpm
    bg = _texture(size, seed)
    floor = int(h * 0.85)
    bw, bh = max(6, w // 10), max(6, h // 8)
    hop = h * 0.35

    def draw(t: float) -> np.ndarray:
        img = bg.copy()
        phase = max(0.0, (t - first_beat_s) / period)  # still until the first beat
        # hopping block: height |sin|, zero (landing) exactly on each beat
        y = floor - bh - hop * abs(math.sin(math.pi * phase))
        x0 = int(w * 0.25)
        cv2.rectangle(img, (x0, int(round(y))), (x0 + bw, int(round(y)) + bh), (250, 200, 60), -1)
        # sliding bar: triangle wave, turning around on every beat
        tri = abs(((phase % 2.0) + 2.0) % 2.0 - 1.0)  # 1 at even beats, 0 at odd ones
        bx = int(round(w * (0.5 + 0.35 * tri)))
        cv2.rectangle(img, (bx - 3, int(h * 0.2)), (bx + 3, int(h * 0.5)), (230, 240, 250), -1)
        # slow distractor
        cx = int(w * 0.8 + 0.08 * w * math.cos(0.7 * t))
        cy = int(h * 0.75 + 0.08 * h * math.sin(0.7 * t))
        cv2.circle(img, (cx, cy), max(3, w // 30), (90, 200, 120), -1)
        return img

    write_video(path, draw, duration_s=None if frame_times_s is not None else duration_s, fps=fps,
                size=size, frame_times_s=frame_times_s)
    k = np.arange(0, int(duration_s / period) + 2)
    beats = first_beat_s + k * period
    beats = beats[beats < duration_s - 1e-9]
    return BeatTruth(bpm, beats, duration_s)


def vfr_times(duration_s: float, mean_fps: float = 30.0, seed: int = 3) -> list[float]:
    """Frame times with intervals jittered between 0.6x and 1.4x of the mean (variable rate)."""
    rng = np.random.default_rng(seed)
    times, t = [], 0.0
    while t < duration_s:
        times.append(round(t, 5))
        t += (1.0 / mean_fps) * rng.uniform(0.6, 1.4)
    return times


# ----------------------------------------------------------------------------- impacts


@dataclass
class ImpactTruth:
    time_s: float
    x: float  # ball centre at contact, 0..1
    y: float
    speed_px_s: float


@dataclass
class BounceTruth:
    impacts: list[ImpactTruth] = field(default_factory=list)
    fps: float = 30.0


def bouncing_ball_video(path: str | Path, *, fps: float = 30.0, size: tuple[int, int] = (320, 240),
                        duration_s: float = 4.0, gravity: float = 1500.0, restitution: float = 0.8,
                        drop_from_y: float = 40.0, radius: float = 14.0, x0: float = 60.0,
                        vx: float = 40.0, min_speed: float = 250.0) -> BounceTruth:
    """A ball dropped from rest at t=0 bounces on a floor; impact times are analytic:
    t1 = sqrt(2 d / g), then flights of 2 e^k v1 / g."""
    w, h = size
    bg = _texture(size, 5, base=(60, 70, 90), amp=25.0)
    floor_y = h * 0.9
    contact_y = floor_y - radius
    cv2.rectangle(bg, (0, int(floor_y)), (w, h), (90, 80, 70), -1)
    g = gravity
    t1 = math.sqrt(2 * (contact_y - drop_from_y) / g)
    impacts, t, v = [], t1, g * t1
    while t < duration_s:
        impacts.append((t, v))
        t, v = t + 2 * restitution * v / g, restitution * v

    def y_at(t: float) -> float:
        if t < t1:
            return drop_from_y + 0.5 * g * t * t
        prev = [(ti, vi) for ti, vi in impacts if ti <= t][-1]
        ti, vi = prev
        up = restitution * vi
        dt = t - ti
        return contact_y - (up * dt - 0.5 * g * dt * dt)

    def draw(t: float) -> np.ndarray:
        img = bg.copy()
        cx, cy = x0 + vx * t, y_at(t)
        cv2.circle(img, (int(round(cx * 4)), int(round(cy * 4))), int(round(radius * 4)),
                   (240, 90, 70), -1, lineType=cv2.LINE_AA, shift=2)
        return img

    write_video(path, draw, duration_s=duration_s, fps=fps, size=size)
    truth = BounceTruth(fps=fps)
    for ti, vi in impacts:
        if vi >= min_speed and ti < duration_s - 0.25:
            truth.impacts.append(ImpactTruth(ti, (x0 + vx * ti) / w, contact_y / h, vi))
    return truth


# ----------------------------------------------------------------------------- cuts


def cut_video(path: str | Path, cut_times_s=(2.0, 4.5), *, duration_s: float = 6.0, fps: float = 30.0,
              size: tuple[int, int] = (160, 120)) -> list[float]:
    """Smooth motion (a panning texture and a gliding disc) with hard cuts to other shots
    (another texture and palette) at ``cut_times_s``; returns the first frame time of each shot."""
    w, h = size
    shots = [_texture((w * 2, h), 11 + i, base=base, amp=35.0)
             for i, base in enumerate([(40, 60, 90), (150, 90, 40), (40, 130, 60), (120, 40, 120)])]
    cuts = sorted(cut_times_s)
    frame_times = [i / fps for i in range(int(round(duration_s * fps)))]

    def draw(t: float) -> np.ndarray:
        shot = sum(1 for c in cuts if t >= c - 1e-9)
        tex = shots[shot % len(shots)]
        off = int(round(20 * t)) % w
        img = np.ascontiguousarray(tex[:, off:off + w])
        cx = int(w * (0.2 + 0.6 * (0.5 + 0.5 * math.sin(0.9 * t + shot))))
        cv2.circle(img, (cx, h // 2), h // 8, (240, 240, 200) if shot % 2 else (30, 30, 30), -1)
        return img

    write_video(path, draw, size=size, fps=fps, frame_times_s=frame_times)
    return [min(ft for ft in frame_times if ft >= c - 1e-9) for c in cuts]


def smooth_video(path: str | Path, *, duration_s: float = 5.0, fps: float = 30.0,
                 size: tuple[int, int] = (160, 120)) -> Path:
    """Only smooth change: a pan, a gliding disc and a slow brightness fade; no cuts."""
    w, h = size
    tex = _texture((w * 2, h), 21, base=(90, 80, 70), amp=35.0)

    def draw(t: float) -> np.ndarray:
        off = int(round(25 * t)) % w
        img = tex[:, off:off + w].astype(np.float32) * (0.6 + 0.4 * t / duration_s)
        img = np.clip(img, 0, 255).astype(np.uint8)
        cv2.circle(img, (int(w * (0.2 + 0.12 * t)), h // 2), h // 7, (220, 60, 60), -1)
        return img

    return write_video(path, draw, duration_s=duration_s, fps=fps, size=size)
