"""Time <-> pixel mapping, lane layout and beat-grid snapping of the timeline (no painting)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HEADER_W = 176
RULER_H = 26
VIDEO_H = 52
ANALYSIS_H = 58
MOTION_H = 40
FIXED_LANES = ("ruler", "video", "analysis", "motion")  # lanes that are not tracks
TRACK_H = {"midi": 70, "foley": 52, "audio": 60, "soundtrack": 60}
MIN_PX_PER_S, MAX_PX_PER_S = 0.5, 2000.0


@dataclass
class Lane:
    key: str  # "ruler", "video", "analysis", "motion" or a track id
    kind: str  # same for fixed lanes; the track kind value for tracks
    top: int
    height: int

    @property
    def bottom(self) -> int:
        return self.top + self.height


class TimeScale:
    """Horizontal mapping: ``offset_s`` is the time at the left edge of the lane area."""

    def __init__(self, px_per_s: float = 60.0, offset_s: float = 0.0) -> None:
        self.px_per_s = px_per_s
        self.offset_s = offset_s

    def x_of(self, t):
        return HEADER_W + (t - self.offset_s) * self.px_per_s

    def t_of(self, x: float) -> float:
        return self.offset_s + (x - HEADER_W) / self.px_per_s

    def visible(self, width: int) -> tuple[float, float]:
        return self.offset_s, self.offset_s + max(0, width - HEADER_W) / self.px_per_s

    def zoom(self, factor: float, anchor_x: float) -> None:
        t = self.t_of(anchor_x)
        self.px_per_s = float(np.clip(self.px_per_s * factor, MIN_PX_PER_S, MAX_PX_PER_S))
        self.offset_s = max(0.0, t - (anchor_x - HEADER_W) / self.px_per_s)


def track_height(track) -> int:
    """A track lane's height: the one the user dragged (saved in the project), else its kind's."""
    return track.lane_height or TRACK_H.get(track.kind.value, 56)


def layout(project, heights: dict[str, int] | None = None, motion: bool = False) -> list[Lane]:
    """The lanes top to bottom; ``heights`` overrides some tracks' (a lane edge being dragged);
    ``motion``: with the Motion sections lane (the video has keypoints)."""
    heights = heights or {}
    lanes, y = [], 0
    fixed = [("ruler", RULER_H), ("video", VIDEO_H), ("analysis", ANALYSIS_H)]
    if motion:
        fixed.append(("motion", MOTION_H))
    for key, h in fixed:
        lanes.append(Lane(key, key, y, h))
        y += h
    for t in (project.tracks if project is not None else []):
        h = heights.get(t.id) or track_height(t)
        lanes.append(Lane(t.id, t.kind.value, y, h))
        y += h
    return lanes


def grid_division(px_per_beat: float) -> float:
    """Beats between grid lines so lines are at least ~12 px apart (1/16 .. 16 beats)."""
    div = 0.25
    while div * px_per_beat < 12 and div < 64:
        div *= 2
    return div


def snap_time(t: float, tempo, px_per_s: float) -> float:
    """``t`` moved to the nearest line of the visible beat grid."""
    px_per_beat = px_per_s * 60.0 / tempo.bpm_at(t)
    div = grid_division(px_per_beat)
    b = tempo.beat_at(t)
    return max(0.0, tempo.time_at(round(b / div) * div))


def nice_step(px_per_s: float, min_px: float = 80.0) -> float:
    """Seconds between labelled ruler ticks (1-2-5 series, then minutes)."""
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if step * px_per_s >= min_px:
            return step
    return 1200.0


def fmt_time(t: float, step: float = 1.0) -> str:
    m, s = divmod(max(0.0, t), 60)
    if step < 0.1:
        return f"{int(m)}:{s:05.2f}"
    if step < 1:
        return f"{int(m)}:{s:04.1f}"
    return f"{int(m)}:{int(math.floor(s + 1e-6)):02d}"
