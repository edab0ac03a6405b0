"""The fixed left column of the timeline: lane names and per-track mute / solo buttons."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen

from ui import beatgrid, theme
from ui.widgets.timeline.geometry import HEADER_W, Lane

BTN_W, BTN_H = 20, 17


def button_rects(lane: Lane) -> dict[str, QRectF]:
    y = lane.top + lane.height - BTN_H - 6
    return {"mute": QRectF(HEADER_W - 2 * BTN_W - 12, y, BTN_W, BTN_H),
            "solo": QRectF(HEADER_W - BTN_W - 8, y, BTN_W, BTN_H)}


def _fitted(p: QPainter, rect: QRectF, text: str, colour: QColor) -> None:
    """``text`` in ``rect``, in a smaller font when it would not fit (elided at the smallest)."""
    font = QFont(p.font())
    size = font.pointSizeF()
    while QFontMetrics(font).horizontalAdvance(text) > rect.width() and size > 7.0:
        size -= 0.5
        font.setPointSizeF(size)
    p.save()
    p.setFont(font)
    p.setPen(colour)
    p.drawText(rect, Qt.AlignLeft | Qt.AlignVCenter,
               QFontMetrics(font).elidedText(text, Qt.ElideRight, int(rect.width())))
    p.restore()


def paint_header(p: QPainter, lane: Lane, project, analysis, selected: bool, tempo=None) -> None:
    """``tempo``: the grid shown (a pending correction, or a bar 1 being dragged); default the
    project's."""
    r = QRectF(0, lane.top, HEADER_W, lane.height)
    p.fillRect(r, QColor("#2a2d33") if selected else theme.PANEL)
    p.setPen(theme.LINE)
    p.drawLine(r.topRight(), r.bottomRight())
    fm = p.fontMetrics()
    if tempo is None and project is not None:
        tempo = project.tempo
    if lane.key == "ruler":
        if project is not None:
            p.setPen(theme.TEXT_DIM)
            p.drawText(r.adjusted(8, 0, -4, 0), Qt.AlignVCenter,
                       f"{beatgrid.bpm_text(tempo, project.duration_s)}  {tempo.beats_per_bar}/{tempo.beat_unit}")
        return
    if lane.key in ("video", "analysis"):
        p.setPen(theme.TEXT)
        title = "Video" if lane.key == "video" else "Analysis"
        p.drawText(QRectF(10, lane.top + 4, HEADER_W - 14, fm.height()), Qt.AlignLeft, title)
        p.setPen(theme.TEXT_DIM)
        if lane.key == "video" and project is not None and project.video is not None:
            v = project.video
            sub = f"{v.width}\u00d7{v.height}  {v.fps:.3g} fps"
        elif lane.key == "analysis" and analysis is not None and project is not None:
            cuts = len(analysis.cuts_s)
            _fitted(p, QRectF(10, lane.top + 6 + fm.height(), HEADER_W - 14, fm.height()),
                    beatgrid.analysis_tempo_text(analysis, tempo, project.duration_s), theme.TEXT_DIM)
            _fitted(p, QRectF(10, lane.top + 6 + 2 * fm.height(), HEADER_W - 14, fm.height()),
                    f"{len(analysis.beat_times_s)} beats \u00b7 {len(analysis.impacts)} impacts "
                    f"\u00b7 {cuts} cut{'s' * (cuts != 1)}", theme.TEXT_DIM)
            return
        else:
            sub = "\u2014" if project is None else "analysing\u2026" if lane.key == "analysis" else ""
        p.drawText(QRectF(10, lane.top + 6 + fm.height(), HEADER_W - 14, fm.height()), Qt.AlignLeft,
                   fm.elidedText(sub, Qt.ElideRight, HEADER_W - 14))
        return
    track = project.track(lane.key)
    p.fillRect(QRectF(0, lane.top, 5, lane.height), theme.track_colour(track))
    p.setPen(theme.TEXT)
    name_w = HEADER_W - 18 if lane.height >= fm.height() + BTN_H + 10 else HEADER_W - 2 * BTN_W - 24
    p.drawText(QRectF(12, lane.top + 4, name_w, fm.height()), Qt.AlignLeft,
               fm.elidedText(track.name, Qt.ElideRight, name_w))
    p.setPen(theme.TEXT_DIM)
    detail = track.kind.value
    if track.notes:
        detail += f" \u00b7 ch {track.channel + 1}"
    if track.events:
        detail += f" \u00b7 {len(track.events)} hits"
    if track.mixer.gain_db:
        detail += f" \u00b7 {track.mixer.gain_db:+.1f} dB"
    if lane.height >= 2 * fm.height() + BTN_H + 8:  # a lane dragged low keeps its name and buttons
        p.drawText(QRectF(12, lane.top + 5 + fm.height(), HEADER_W - 18, fm.height()), Qt.AlignLeft,
                   fm.elidedText(detail, Qt.ElideRight, HEADER_W - 18))
    on = {"mute": (track.mixer.mute, QColor("#d9534f")), "solo": (track.mixer.solo, QColor("#e8c547"))}
    for name, rect in button_rects(lane).items():
        active, colour = on[name]
        p.setPen(QPen(theme.LINE))
        p.setBrush(colour if active else theme.PANEL_2)
        p.drawRoundedRect(rect, 3, 3)
        p.setPen(QColor("#15171a") if active else theme.TEXT_DIM)
        p.drawText(rect, Qt.AlignCenter, name[0].upper())
    p.setPen(theme.LINE)
    p.drawLine(r.bottomLeft(), r.bottomRight())
