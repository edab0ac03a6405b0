"""Painting of the timeline lanes. Every painter draws only the visible time range, so cost
does not grow with the project length (10-minute videos stay smooth)."""
from __future__ import annotations

import weakref

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from ui import theme
from ui.widgets.timeline.geometry import TimeScale, fmt_time, grid_division, nice_step
from ui.widgets.timeline.thumbs import slot_seconds
from ui.widgets.timeline.waveform import pixel_peaks

_arrays: dict[int, tuple[weakref.ref, dict]] = {}


def track_arrays(track) -> dict:
    """Sorted numpy views of a track's notes / events, cached per Track object (tracks are
    replaced, never edited in place, so the object identity is the version)."""
    hit = _arrays.get(id(track))
    if hit is not None and hit[0]() is track:
        return hit[1]
    notes = sorted(track.notes, key=lambda n: n.start_s)
    d = {
        "n_start": np.array([n.start_s for n in notes], float),
        "n_end": np.array([n.end_s for n in notes], float),
        "n_pitch": np.array([n.pitch for n in notes], int),
        "n_vel": np.array([n.velocity for n in notes], int),
        "e_time": np.array([e.time_s for e in track.events], float),
        "max_dur": max((n.dur_s for n in notes), default=0.0),
    }
    if len(_arrays) > 256:
        for k in [k for k, (ref, _) in _arrays.items() if ref() is None]:
            del _arrays[k]
    _arrays[id(track)] = (weakref.ref(track), d)
    return d


def visible_range(times: np.ndarray, t0: float, t1: float, pad_before: float = 0.0) -> tuple[int, int]:
    i, j = np.searchsorted(times, [t0 - pad_before, t1], side="left")
    return int(i), int(j)


def paint_ruler(p: QPainter, rect: QRectF, s: TimeScale, tempo, t0: float, t1: float, loop) -> None:
    p.fillRect(rect, theme.PANEL)
    if loop is not None:
        x0, x1 = s.x_of(loop[0]), s.x_of(loop[1])
        p.fillRect(QRectF(x0, rect.top(), x1 - x0, rect.height()), QColor(240, 160, 64, 90))
    step = nice_step(s.px_per_s)
    p.setPen(theme.TEXT_DIM)
    fm = p.fontMetrics()
    k0 = int(np.floor(t0 / step))
    for k in range(k0, int(np.ceil(t1 / step)) + 1):
        t = k * step
        x = s.x_of(t)
        p.drawLine(QPointF(x, rect.bottom() - 8), QPointF(x, rect.bottom()))
        p.drawText(QPointF(x + 3, rect.top() + fm.ascent() + 1), fmt_time(t, step))
    # bar numbers, where they fit
    px_per_beat = s.px_per_s * 60.0 / tempo.bpm_at(t0)
    bar_px = px_per_beat * tempo.beats_per_bar
    every = 1
    while bar_px * every < 36:
        every *= 2
    b0 = int(np.floor(tempo.beat_at(max(0.0, t0)) / tempo.beats_per_bar))
    b1 = int(np.ceil(tempo.beat_at(t1) / tempo.beats_per_bar))
    p.setPen(theme.ACCENT_2.darker(120))
    for bar in range(b0 - b0 % every, b1 + 1, every):
        t = tempo.time_at(bar * tempo.beats_per_bar)
        if t < 0:
            continue
        x = s.x_of(t)
        p.drawLine(QPointF(x, rect.bottom() - 4), QPointF(x, rect.bottom()))
        p.drawText(QPointF(x + 2, rect.bottom() - 3), str(bar + 1))


def paint_grid(p: QPainter, rect: QRectF, s: TimeScale, tempo, t0: float, t1: float) -> None:
    px_per_beat = s.px_per_s * 60.0 / tempo.bpm_at(t0)
    div = grid_division(px_per_beat)
    b0 = np.floor(tempo.beat_at(max(0.0, t0)) / div) * div
    b1 = tempo.beat_at(t1)
    beats = np.arange(b0, b1 + div, div)
    if len(beats) > 4000:
        return
    bar_pen, beat_pen = QPen(QColor(255, 255, 255, 34)), QPen(QColor(255, 255, 255, 14))
    for b in beats:
        t = tempo.time_at(float(b))
        if t < 0:
            continue
        x = s.x_of(t)
        p.setPen(bar_pen if abs(b / tempo.beats_per_bar - round(b / tempo.beats_per_bar)) < 1e-6 else beat_pen)
        p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))


def paint_video(p: QPainter, rect: QRectF, s: TimeScale, thumbs, duration: float, aspect: float,
                t0: float, t1: float) -> None:
    p.fillRect(rect, QColor("#121315"))
    if duration <= 0:
        return
    h = rect.height() - 4
    slot = slot_seconds(h * aspect, s.px_per_s)
    k0, k1 = int(max(0.0, t0) // slot), int(min(t1, duration) // slot)
    wanted = []
    for k in range(k0, k1 + 1):
        x0, x1 = s.x_of(k * slot), s.x_of(min(duration, (k + 1) * slot))
        img = thumbs.get(slot, k)
        target = QRectF(x0, rect.top() + 2, x1 - x0, h)
        if img is None:
            wanted.append((slot, k))
            p.fillRect(target.adjusted(0.5, 0, -0.5, 0), QColor("#202226"))
            continue
        src = QRectF(0, 0, img.width(), img.height())
        if target.width() < img.width():  # crop the centre instead of squashing
            cw = img.width() * target.width() / (h * aspect)
            src = QRectF((img.width() - cw) / 2, 0, cw, img.height())
        p.drawImage(target, img, src)
        p.setPen(QColor(0, 0, 0, 120))
        p.drawLine(QPointF(x0, target.top()), QPointF(x0, target.bottom()))
    thumbs.want(wanted)


def _envelope_polygon(times, values, s: TimeScale, t0, t1, top, height, width) -> QPolygonF | None:
    i, j = visible_range(times, t0, t1, 1.0)
    j = min(len(times), j + 2)
    if j - i < 2:
        return None
    x = s.x_of(times[i:j])
    v = values[i:j]
    px = np.floor(x).astype(np.int64)
    if j - i > 2 * width:  # more samples than pixels: max per pixel column
        starts = np.flatnonzero(np.r_[True, px[1:] != px[:-1]])
        v = np.maximum.reduceat(v, starts)
        x = x[starts]
    y = top + height - v * height
    pts = [QPointF(x[0], top + height)] + [QPointF(a, b) for a, b in zip(x.tolist(), y.tolist())]
    pts.append(QPointF(x[-1], top + height))
    return QPolygonF(pts)


def paint_analysis(p: QPainter, rect: QRectF, s: TimeScale, a, t0: float, t1: float, width: int) -> None:
    p.fillRect(rect, QColor("#17191c"))
    if a is None:
        return
    top, h = rect.top() + 4, rect.height() - 8
    motion = a.motion_energy / max(1e-9, float(np.percentile(a.motion_energy, 99)) or 1.0)
    p.setRenderHint(QPainter.Antialiasing, False)
    poly = _envelope_polygon(a.times_s, np.clip(motion, 0, 1) * 0.9, s, t0, t1, top, h, width)
    if poly is not None:
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(79, 179, 217, 50))
        p.drawPolygon(poly)
    poly = _envelope_polygon(a.times_s, np.clip(a.onset_envelope, 0, 1) * 0.9, s, t0, t1, top, h, width)
    if poly is not None:
        p.setPen(QPen(theme.ACCENT_2, 1.2))
        p.setBrush(QColor(79, 179, 217, 70))
        p.drawPolygon(poly)
    downbeats = set(np.round(a.downbeat_times_s, 4).tolist())
    i, j = visible_range(a.beat_times_s, t0, t1)
    for t in a.beat_times_s[i:j]:
        x = s.x_of(t)
        down = round(float(t), 4) in downbeats
        p.setPen(QPen(theme.DOWNBEAT if down else theme.BEAT, 2 if down else 1))
        p.drawLine(QPointF(x, rect.bottom() - (10 if down else 6)), QPointF(x, rect.bottom()))
    p.setPen(QPen(theme.CUT, 2))
    for t in a.cuts_s:
        if t0 <= t <= t1:
            x = s.x_of(t)
            p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(QPen(QColor(0, 0, 0, 160), 1))
    p.setBrush(theme.IMPACT)
    for imp in a.impacts:
        if t0 <= imp.time_s <= t1:
            x, r = s.x_of(imp.time_s), 3 + 4 * imp.strength
            y = rect.top() + 9
            p.drawPolygon(QPolygonF([QPointF(x, y - r), QPointF(x + r, y), QPointF(x, y + r), QPointF(x - r, y)]))


def paint_midi(p: QPainter, rect: QRectF, s: TimeScale, track, t0: float, t1: float) -> None:
    d = track_arrays(track)
    colour = theme.KIND_COLOURS["midi"]
    if not len(d["n_start"]):
        return
    lo, hi = int(d["n_pitch"].min()), int(d["n_pitch"].max())
    span = max(12, hi - lo + 1)
    row = (rect.height() - 8) / span
    i, j = visible_range(d["n_start"], t0, t1, d["max_dur"])
    p.setPen(Qt.NoPen)
    xs, xe = s.x_of(d["n_start"][i:j]), s.x_of(d["n_end"][i:j])
    for x0, x1, pitch, vel in zip(xs.tolist(), xe.tolist(), d["n_pitch"][i:j].tolist(), d["n_vel"][i:j].tolist()):
        if x1 < rect.left():
            continue
        c = QColor(colour)
        c.setAlpha(110 + vel)
        y = rect.bottom() - 4 - (pitch - lo + 1) * row
        p.fillRect(QRectF(x0, y, max(2.0, x1 - x0), max(2.0, row - 1)), c)


def paint_foley(p: QPainter, rect: QRectF, s: TimeScale, track, t0: float, t1: float,
                selected: tuple[int, ...], drag_dt: float = 0.0) -> None:
    d = track_arrays(track)
    i, j = visible_range(d["e_time"], t0 - abs(drag_dt), t1 + abs(drag_dt))
    sel = set(selected)
    p.setRenderHint(QPainter.Antialiasing)
    for k in range(i, j):
        ev = track.events[k]
        t = ev.time_s + (drag_dt if k in sel else 0.0)
        x = s.x_of(t)
        c = theme.material_colour(ev.material)
        top = rect.bottom() - 6 - ev.strength * (rect.height() - 18)
        p.setPen(QPen(c, 2))
        p.drawLine(QPointF(x, rect.bottom() - 4), QPointF(x, top))
        r = 3.5 + 3 * ev.size
        p.setBrush(c)
        p.setPen(QPen(theme.ACCENT, 2) if k in sel else QPen(QColor(0, 0, 0, 160), 1))
        p.drawEllipse(QPointF(x, top), r + (1.5 if k in sel else 0), r + (1.5 if k in sel else 0))


def paint_audio(p: QPainter, rect: QRectF, s: TimeScale, peaks, offset_s: float, colour: QColor,
                t0: float, width: int) -> None:
    if peaks is None:
        p.setPen(theme.TEXT_DIM)
        p.drawText(rect.adjusted(8, 0, 0, 0), Qt.AlignVCenter, "reading audio\u2026")
        return
    if isinstance(peaks, str):
        p.setPen(theme.CUT)
        p.drawText(rect.adjusted(8, 0, 0, 0), Qt.AlignVCenter, peaks)
        return
    values, sr = peaks
    col = pixel_peaks(values, sr, t0, s.px_per_s, width, offset_s)
    mid, half = rect.center().y(), rect.height() / 2 - 4
    nz = np.flatnonzero(col > 1e-4)
    if not len(nz):
        return
    x = rect.left() + nz
    amp = np.minimum(col[nz], 1.0) * half
    p.setPen(QPen(colour, 1))
    p.drawLines([q for a, b in zip(x.tolist(), amp.tolist()) for q in (QPointF(a, mid - b), QPointF(a, mid + b))])
