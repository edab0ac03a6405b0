"""Painting of the timeline lanes. Every painter draws only the visible time range, so cost
does not grow with the project length (10-minute videos stay smooth)."""
from __future__ import annotations

import weakref

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF

from ui import beatgrid, theme
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


def paint_ruler(p: QPainter, rect: QRectF, s: TimeScale, tempo, t0: float, t1: float, loop,
                dragging_downbeat: bool = False) -> None:
    """Time ticks on top; below them the grid's bars (bar 1 on the first downbeat, its handle
    to drag) and, before bar 1, the pickup with its count-in beats."""
    p.fillRect(rect, theme.PANEL)
    down_x = s.x_of(tempo.downbeat_s)
    x0 = s.x_of(0.0)
    if down_x > max(rect.left(), x0):  # the pickup, shaded
        a = max(rect.left(), x0)
        p.fillRect(QRectF(a, rect.top(), min(down_x, rect.right()) - a, rect.height()), QColor(0, 0, 0, 55))
    if loop is not None:
        lx0, lx1 = s.x_of(loop[0]), s.x_of(loop[1])
        p.fillRect(QRectF(lx0, rect.top(), lx1 - lx0, rect.height()), QColor(240, 160, 64, 90))
    step = nice_step(s.px_per_s)
    p.setPen(theme.TEXT_DIM)
    fm = p.fontMetrics()
    k0 = int(np.floor(t0 / step))
    for k in range(k0, int(np.ceil(t1 / step)) + 1):
        t = k * step
        x = s.x_of(t)
        p.drawLine(QPointF(x, rect.bottom() - 8), QPointF(x, rect.bottom()))
        label = fmt_time(t, step)
        if x + 3 + fm.horizontalAdvance(label) <= rect.right():  # whole or not at all ("0:1" at the edge)
            p.drawText(QPointF(x + 3, rect.top() + fm.ascent() + 1), label)
    bar_pen, pickup_pen = theme.ACCENT_2, theme.TEXT_DIM
    for t, label, pickup in beatgrid.ruler_marks(tempo, t0, t1, s.px_per_s):
        x = s.x_of(t)
        p.setPen(pickup_pen if pickup else bar_pen)
        p.drawLine(QPointF(x, rect.bottom() - (3 if pickup else 4)), QPointF(x, rect.bottom()))
        if label != "1":
            p.drawText(QPointF(x + 2, rect.bottom() - 3), label)
    # bar 1: the handle that moves the first downbeat
    if rect.left() - 8 <= down_x <= rect.right() + 8:
        colour = theme.ACCENT if dragging_downbeat else theme.ACCENT_2
        p.save()
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(QPen(colour, 2))
        p.drawLine(QPointF(down_x, rect.bottom() - 13), QPointF(down_x, rect.bottom()))
        p.setPen(Qt.NoPen)
        p.setBrush(colour)
        top = rect.bottom() - 13
        p.drawPolygon(QPolygonF([QPointF(down_x, top), QPointF(down_x + 9, top + 4), QPointF(down_x, top + 8)]))
        font = p.font()
        font.setBold(True)
        p.setFont(font)
        p.setPen(colour)
        p.drawText(QPointF(down_x + 11, rect.bottom() - 3), "1")
        p.restore()


def _vlines(xs, top: float, bottom: float) -> list[QLineF]:
    """Vertical lines at ``xs`` (one QLineF each: half the objects of point pairs, and the
    ends read once; a zoomed-out lane draws a thousand)."""
    return [QLineF(x, top, x, bottom) for x in xs]


def paint_grid(p: QPainter, rect: QRectF, s: TimeScale, tempo, t0: float, t1: float) -> None:
    px_per_beat = s.px_per_s * 60.0 / tempo.bpm_at(t0)
    div = grid_division(px_per_beat)
    b0 = np.floor(tempo.beat_at(max(0.0, t0)) / div) * div
    b1 = tempo.beat_at(t1)
    beats = np.arange(b0, b1 + div, div)
    if len(beats) > 4000:
        return
    times = np.array([tempo.time_at(float(b)) for b in beats])
    is_bar = np.abs(beats / tempo.beats_per_bar - np.round(beats / tempo.beats_per_bar)) < 1e-6
    for sel, alpha in ((~is_bar, 14), (is_bar, 34)):
        xs = s.x_of(times[sel & (times >= 0)]).tolist()
        if xs:
            p.setPen(QPen(QColor(255, 255, 255, alpha)))
            p.drawLines(_vlines(xs, rect.top(), rect.bottom()))


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


def column_values(times: np.ndarray, values: np.ndarray, s: TimeScale, x_left: float, width: int,
                  step: float = 1.0) -> np.ndarray:
    """The envelope under each pixel column (``step`` logical px wide, 1/dpr on HiDPI): the max
    of the samples in the column, or the interpolated value where columns are narrower than the
    sample spacing."""
    edges = s.t_of(x_left + np.arange(width + 1, dtype=float) * step)
    centres = (edges[:-1] + edges[1:]) / 2
    out = np.interp(centres, times, values, left=0.0, right=0.0)
    idx = np.searchsorted(times, edges)
    lo, hi = idx[:-1], idx[1:]
    many = hi > lo
    if many.any() and len(values):
        maxes = np.maximum.reduceat(values, np.minimum(lo, len(values) - 1))
        out[many] = np.maximum(out[many], maxes[many])
    return out


def paint_analysis(p: QPainter, rect: QRectF, s: TimeScale, a, t0: float, t1: float, width: int) -> None:
    p.fillRect(rect, QColor("#17191c"))
    if a is None:
        return
    dpr = _dpr(p)
    w, h = int(rect.width() * dpr), int(rect.height() * dpr)
    if w <= 0 or h <= 8 * dpr:
        return
    scale = a.extra.get("_ui_motion_scale")
    if scale is None:
        scale = a.extra["_ui_motion_scale"] = max(1e-9, float(np.percentile(a.motion_energy, 99)) or 1.0)
    pad = int(round(4 * dpr))
    inner = h - 2 * pad
    motion = np.clip(column_values(a.times_s, a.motion_energy, s, rect.left(), w, 1 / dpr) / scale, 0, 1) * 0.9
    onset = np.clip(column_values(a.times_s, a.onset_envelope, s, rect.left(), w, 1 / dpr), 0, 1) * 0.9
    yy = np.arange(h)[:, None]
    top_m = (pad + inner - motion * inner).astype(np.int64)[None, :]
    top_o = (pad + inner - onset * inner).astype(np.int64)[None, :]
    prev = np.concatenate([top_o[:, :1], top_o[:, :-1]], axis=1)
    level = (yy >= top_m).astype(np.uint8)
    level[yy >= top_o] = 2
    level[(yy >= np.minimum(top_o, prev)) & (yy <= np.maximum(top_o, prev))] = 3
    level[h - pad:] = 0
    lut = np.array([(0, 0, 0, 0), (79, 179, 217, 45), (79, 179, 217, 105), tuple(_rgba(theme.ACCENT_2))], np.uint8)
    _blit(p, rect, lut[level], dpr)
    i, j = visible_range(a.beat_times_s, t0, t1)
    beats = a.beat_times_s[i:j]
    down = np.isin(np.round(beats, 4), np.round(a.downbeat_times_s, 4))
    faint = beatgrid.unclear(a)  # no clear rhythm: the beats are a guess
    k = 0.5 if faint else 1.0
    for sel, alpha, tick_a, width, h in ((~down, 60, 210, 1.5, 12), (down, 80, 240, 2, 18)):
        xs = s.x_of(beats[sel]).tolist()
        if xs:  # a faint line through the lane, a tick at its foot
            p.setPen(QPen(QColor(255, 255, 255, int(alpha * k)), width))
            p.drawLines(_vlines(xs, rect.top(), rect.bottom() - h))
            p.setPen(QPen(QColor(235, 240, 245, int(tick_a * k)), width))
            p.drawLines(_vlines(xs, rect.bottom() - h, rect.bottom()))
    cuts = [s.x_of(t) for t in a.cuts_s if t0 <= t <= t1]
    if cuts:
        p.setPen(QPen(theme.CUT, 2))
        p.drawLines(_vlines(cuts, rect.top(), rect.bottom()))
    times = _impact_times(a)
    i, j = visible_range(times, t0, t1)
    y = rect.top() + 9
    if j - i > rect.width() / 8:  # dense: ticks instead of diamonds
        p.setPen(QPen(theme.IMPACT, 1))
        p.drawLines(_vlines(s.x_of(times[i:j]).tolist(), y - 5, y + 5))
        return
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(QPen(QColor(0, 0, 0, 160), 1))
    p.setBrush(theme.IMPACT)
    for imp in a.impacts[i:j]:
        x, r = s.x_of(imp.time_s), 3 + 4 * imp.strength
        p.drawPolygon(QPolygonF([QPointF(x, y - r), QPointF(x + r, y), QPointF(x, y + r), QPointF(x - r, y)]))


def _impact_times(a) -> np.ndarray:
    cached = a.extra.get("_ui_impact_times")
    if cached is None:
        cached = np.array([i.time_s for i in a.impacts], float)
        a.extra["_ui_impact_times"] = cached
    return cached


def _dpr(p: QPainter) -> float:
    """Device pixels per logical pixel of what is painted on (2 on a HiDPI screen at 200 %)."""
    dev = p.device()
    return float(dev.devicePixelRatioF()) if dev is not None else 1.0


def _blit(p: QPainter, rect: QRectF, rgba: np.ndarray, dpr: float = 1.0) -> None:
    """Draw an (H, W, 4) uint8 RGBA array, made at ``dpr`` device pixels per logical pixel, at
    the top-left of ``rect``."""
    h, w = rgba.shape[:2]
    img = QImage(rgba.data, w, h, 4 * w, QImage.Format_RGBA8888)
    img.setDevicePixelRatio(dpr)
    p.drawImage(QPointF(round(rect.left()), round(rect.top())), img)


def _rgba(c: QColor, alpha: int | None = None) -> np.ndarray:
    return np.array([c.red(), c.green(), c.blue(), c.alpha() if alpha is None else alpha], np.uint8)


_MATERIAL_RGBA: dict[str, np.ndarray] = {}


def _material_rgba(material: str) -> np.ndarray:
    c = _MATERIAL_RGBA.get(material)
    if c is None:
        c = _MATERIAL_RGBA[material] = _rgba(theme.material_colour(material))
    return c


FEW_NOTES = 300  # notes in view up to which paint_midi draws rectangles instead of rasterising


def _note_rects(p: QPainter, rect: QRectF, x0: np.ndarray, x1: np.ndarray, rows: np.ndarray, span: int,
                colour: QColor) -> None:
    """The notes as filled rectangles, in paint_midi's rows (x in logical px from the lane's left)."""
    inner_h = rect.height() - 10
    row_px = inner_h / span
    note_h = max(2.0, min(row_px - (1 if row_px >= 3 else 0), 10.0))
    # whole pixel rows, the raster's (a fractional edge would cover one row more)
    ys = np.floor(rect.top() + 5 + inner_h - (rows + 0.5) * row_px - note_h / 2 + 0.5)
    note_h = max(1, round(note_h))
    keep = x1 > x0
    left = rect.left()
    c = QColor(colour)
    c.setAlpha(215)
    p.save()
    p.setPen(Qt.NoPen)
    p.setBrush(c)
    p.drawRects([QRectF(left + a, y, b - a, note_h) for a, b, y in zip(x0[keep].tolist(), x1[keep].tolist(),
                                                                      ys[keep].tolist())])
    p.restore()


def paint_midi(p: QPainter, rect: QRectF, s: TimeScale, track, t0: float, t1: float) -> None:
    """Piano-roll clip: melodic parts over their pitch range (at least an octave), drums one row
    per drum sound used. Rasterised with numpy (coverage per pitch row and pixel column), so the
    cost does not depend on how many notes are in view."""
    d = track_arrays(track)
    if not len(d["n_start"]):
        return
    if "rows" not in d:
        used = np.unique(d["n_pitch"])
        if track.is_drums:
            d["rows"] = np.searchsorted(used, d["n_pitch"]), len(used)
        else:
            lo = int(used.min())
            d["rows"] = d["n_pitch"] - lo, max(12, int(used.max()) - lo + 1)
    rows, span = d["rows"]
    i, j = visible_range(d["n_start"], t0, t1, d["max_dur"])
    dpr = _dpr(p)
    width, height = int(rect.width() * dpr), int(rect.height() * dpr)
    if j <= i or width <= 0 or height <= 10 * dpr:
        return
    x0 = np.floor((s.x_of(d["n_start"][i:j]) - rect.left()) * dpr).astype(np.int64)
    x1 = np.maximum(x0 + int(round(2 * dpr)),
                    np.ceil((s.x_of(d["n_end"][i:j]) - rect.left()) * dpr).astype(np.int64))
    x0, x1 = np.clip(x0, 0, width), np.clip(x1, 0, width)
    r = rows[i:j]
    if j - i <= FEW_NOTES:  # a sparse part (12 lanes of a few notes each): rectangles are cheaper
        _note_rects(p, rect, x0 / dpr, x1 / dpr, r, span, theme.track_colour(track))
        return
    diff = np.zeros((span, width + 1), np.int32)
    np.add.at(diff, (r, x0), 1)
    np.add.at(diff, (r, x1), -1)
    covered = np.cumsum(diff[:, :width], axis=1) > 0
    # pixel rows: inner area bottom-up, each pitch row ``row`` px with a 1 px gap when there is room
    inner_top = int(round(5 * dpr))
    inner_h = height - 2 * inner_top
    row_px = inner_h / span
    note_h = max(2.0 * dpr, min(row_px - (dpr if row_px >= 3 * dpr else 0), 10.0 * dpr))
    y = np.arange(height) - inner_top
    row_of_y = np.floor((inner_h - y) / row_px - 0.5 + note_h / (2 * row_px)).astype(np.int64)
    centre = inner_h - (row_of_y + 0.5) * row_px
    valid = (y >= 0) & (y < inner_h) & (row_of_y >= 0) & (row_of_y < span) & (np.abs(y + 0.5 - centre) <= note_h / 2)
    mask = np.zeros((height, width), bool)
    mask[valid] = covered[row_of_y[valid]]
    lut = np.array([(0, 0, 0, 0), tuple(_rgba(theme.track_colour(track), 215))], np.uint8)
    _blit(p, rect, lut[mask.view(np.uint8)], dpr)


def _paint_foley_dense(p: QPainter, rect: QRectF, s: TimeScale, track, i: int, j: int) -> None:
    """Many hits per pixel: one stem per pixel column, the strongest hit's height and colour."""
    dpr = _dpr(p)
    width, height = int(rect.width() * dpr), int(rect.height() * dpr)
    ev = track.events[i:j]
    x = np.floor((s.x_of(track_arrays(track)["e_time"][i:j]) - rect.left()) * dpr).astype(np.int64)
    strength = np.array([e.strength for e in ev], float)
    colours = np.array([_material_rgba(e.material) for e in ev], np.uint8).reshape(-1, 4)
    keep = (x >= 0) & (x < width)
    order = np.argsort(strength[keep], kind="stable")  # strongest written last wins its column
    xs, st, cs = x[keep][order], strength[keep][order], colours[keep][order]
    top = np.full(width, height, np.int64)
    col = np.zeros((width, 4), np.uint8)
    top[xs] = (height - 6 * dpr - st * (height - 18 * dpr)).astype(np.int64)
    col[xs] = cs
    yy = np.arange(height)[:, None]
    mask = (yy >= top[None, :]) & (yy < height - 4 * dpr)
    _blit(p, rect, np.where(mask[:, :, None], col[None, :, :], np.uint8(0)), dpr)


def paint_foley(p: QPainter, rect: QRectF, s: TimeScale, track, t0: float, t1: float,
                selected: tuple[int, ...], drag_dt: float = 0.0) -> None:
    d = track_arrays(track)
    i, j = visible_range(d["e_time"], t0 - abs(drag_dt), t1 + abs(drag_dt))
    sel = set(selected)
    indices = range(i, j)
    if j - i > rect.width() / 4 and not drag_dt:  # dense: raster, then the selection on top
        _paint_foley_dense(p, rect, s, track, i, j)
        indices = sorted(k for k in sel if i <= k < j)
    p.setRenderHint(QPainter.Antialiasing)
    for k in indices:
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
    dpr = _dpr(p)
    h, width = int(rect.height() * dpr), int(width * dpr)
    col = pixel_peaks(values, sr, t0, s.px_per_s * dpr, width, offset_s)
    if h <= 8 * dpr or not (col > 1e-4).any():
        return
    half = h / 2 - 4 * dpr
    amp = np.minimum(col, 1.0) * half
    yy = np.abs(np.arange(h) + 0.5 - h / 2)[:, None]
    mask = (yy <= amp[None, :] + 0.5) & (col[None, :] > 1e-4)
    lut = np.array([(0, 0, 0, 0), tuple(_rgba(colour, 200))], np.uint8)
    _blit(p, rect, lut[mask.view(np.uint8)], dpr)
