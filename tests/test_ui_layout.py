"""The window on a laptop screen (issue 18, item 1): it fits 1280x720 and 1366x768 with its docks
scrolling and its readouts whole; new tracks are scrolled into view and flash; lanes are resized
by dragging their bottom edge, reordered by dragging their header and coloured from the header's
menu, each one undo step saved in the project (Track.lane_height / Track.colour, schema v7)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QScrollArea, QTabBar

from studio.music import Note
from studio.project import FoleyEvent, Project, Track, TrackKind
from test_ui_window import open_and_analyse, window  # noqa: F401 (the window fixture)
from ui import undo
from ui.widgets.fitting_label import FittingLabel
from ui.widgets.timeline.geometry import RULER_H, TRACK_H


def tracks(n: int) -> list[Track]:
    return [Track(f"Part {k}", TrackKind.MIDI, id=f"part{k}", notes=[Note(1.0 + k, 0.5, 60 + k, 90, k % 9)],
                  channel=k % 9) for k in range(n)]


@pytest.fixture
def w(window, qtbot):  # noqa: F811
    window.resize(1366, 768)
    open_and_analyse(window, qtbot)
    return window


def lane(canvas, track_id):
    return next(lane for lane in canvas._lanes if lane.key == track_id)


def header_point(canvas, track_id, dy: float) -> QPoint:
    """A point in the track's header ``dy`` px below the lane's top (widget coordinates)."""
    return QPoint(40, int(lane(canvas, track_id).top - canvas.v_offset + dy))


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_window_fits_a_laptop_screen_with_whole_readouts(window, qtbot, size):  # noqa: F811
    w = window
    assert w.minimumSizeHint().width() <= size[0] and w.minimumSizeHint().height() <= size[1]
    w.resize(*size)
    open_and_analyse(w, qtbot)
    qtbot.waitUntil(lambda: w.size().width() == size[0])
    assert w.width() <= size[0] and w.height() <= size[1]
    hits = Track("Hits", TrackKind.FOLEY, events=[FoleyEvent(1.0)])
    undo.add_tracks(w.doc, tracks(1) + [hits], "Add parts")
    for shown in ("Generate", "part0", hits.id):  # the panels as wide as they get
        if shown == "Generate":
            w.show_generate()
        else:
            w.doc.select(shown)
            w.inspector_dock.raise_()
        qtbot.wait(50)
        for dock in w.findChildren(QDockWidget):  # the tall panels scroll, up and down only
            if dock.objectName() in ("Generate", "Inspector") and dock.isVisible():
                area = dock.widget()
                assert isinstance(area, QScrollArea)
                assert area.widget().minimumSizeHint().width() <= area.viewport().width(), (shown, dock.objectName())
    for bar in w.findChildren(QTabBar):  # the docks' tabs: whole names, not "Inspec…"
        if bar.isVisible():
            assert bar.sizeHint().width() <= bar.width(), [bar.tabText(i) for i in range(bar.count())]
    labels = w.transport.findChildren(QLabel) + w.timeline.findChildren(QLabel)
    assert any(isinstance(label, FittingLabel) for label in labels)
    for label in labels:  # no readout cut ("0:00.("), hints shown whole or not at all
        if label.isVisible() and label.text():
            assert label.width() >= label.fontMetrics().horizontalAdvance(label.text()), label.text()


def test_new_tracks_are_scrolled_into_view_and_flash(w, qtbot):
    c = w.timeline.canvas
    undo.add_tracks(w.doc, tracks(8)[:7], "Add parts")
    # more than the view holds: the first new lane at the top
    assert lane(c, "part0").top - c.v_offset == RULER_H and set(c._flash) == {f"part{k}" for k in range(7)}
    c.v_offset = 0
    undo.add_tracks(w.doc, tracks(8)[7:], "Add a part")  # below the fold: scrolled up to it
    last = lane(c, "part7")
    assert RULER_H <= last.top - c.v_offset and last.bottom - c.v_offset <= c.height()
    assert w.timeline.vbar.value() == c.v_offset > 0 and "part7" in c._flash
    c.grab()  # paints the flash
    qtbot.waitUntil(lambda: not c._flash, timeout=3000)  # it fades
    undo.edit_track(w.doc, "part3", "Mute", notes=[])  # an edit of one track is no new track
    undo.move_track(w.doc, "part3", 0)  # nor is a reorder
    assert not c._flash
    regenerated = Track("Part 5", TrackKind.MIDI, id="part5", notes=[Note(2.0, 1.0, 64, 90, 5)], channel=5)
    c.v_offset = 0
    undo.replace_track(w.doc, "part5", regenerated, "Regenerate Part 5")  # same id, new content
    assert set(c._flash) == {"part5"}
    assert lane(c, "part5").bottom - c.v_offset <= c.height()


def test_drag_a_lane_edge_resizes_it_one_undo_step_saved(w, qtbot, tmp_path):
    c = w.timeline.canvas
    undo.add_tracks(w.doc, tracks(2), "Add parts")
    c.v_offset = 0
    c.viewChanged.emit()
    h0 = lane(c, "part0").height
    assert h0 == TRACK_H["midi"]
    edge = header_point(c, "part0", h0 - 1)
    assert c.edge_lane(edge.y()).key == "part0"
    qtbot.mousePress(c, Qt.LeftButton, pos=edge)
    qtbot.mouseMove(c, edge + QPoint(0, 20))
    qtbot.mouseMove(c, edge + QPoint(0, 45))
    assert lane(c, "part0").height == h0 + 45 and w.doc.track("part0").lane_height is None  # a preview
    qtbot.mouseRelease(c, Qt.LeftButton, pos=edge + QPoint(0, 45))
    assert w.doc.track("part0").lane_height == h0 + 45 == lane(c, "part0").height
    assert lane(c, "part1").top == lane(c, "part0").bottom
    assert w.doc.undo_stack.undoText() == "Resize lane Part 0"
    w.doc.undo_stack.undo()
    assert w.doc.track("part0").lane_height is None and lane(c, "part0").height == h0
    w.doc.undo_stack.redo()
    w.doc.save(tmp_path / "p" / "project.json")
    assert Project.load(tmp_path / "p" / "project.json").track("part0").lane_height == h0 + 45
    # dragged up past the smallest height, it stops there
    edge = header_point(c, "part1", lane(c, "part1").height - 1)
    qtbot.mousePress(c, Qt.LeftButton, pos=edge)
    qtbot.mouseMove(c, edge - QPoint(0, 300))
    qtbot.mouseRelease(c, Qt.LeftButton, pos=edge - QPoint(0, 300))
    assert w.doc.track("part1").lane_height == 32
    c.grab()  # a low lane keeps its name and buttons


def test_drag_a_header_reorders_the_tracks_one_undo_step(w, qtbot):
    c = w.timeline.canvas
    undo.add_tracks(w.doc, tracks(3), "Add parts")
    c.v_offset = 0
    c.viewChanged.emit()
    c._flash.clear()
    start = header_point(c, "part2", 10)
    qtbot.mousePress(c, Qt.LeftButton, pos=start)
    target = header_point(c, "part0", 5)
    qtbot.mouseMove(c, start - QPoint(0, 10))
    qtbot.mouseMove(c, target)
    assert c._drag["index"] == 0
    c.grab()  # paints the drop line
    qtbot.mouseRelease(c, Qt.LeftButton, pos=target)
    assert [t.id for t in w.doc.project.tracks] == ["part2", "part0", "part1"]
    assert w.doc.undo_stack.undoText() == "Move track Part 2" and not c._flash
    w.doc.undo_stack.undo()
    assert [t.id for t in w.doc.project.tracks] == ["part0", "part1", "part2"]
    # a click without a drag only selects
    qtbot.mouseClick(c, Qt.LeftButton, pos=header_point(c, "part1", 10))
    assert w.doc.selected_track == "part1" and [t.id for t in w.doc.project.tracks][1] == "part1"
    # below the last lane: to the end
    qtbot.mousePress(c, Qt.LeftButton, pos=header_point(c, "part0", 10))
    qtbot.mouseMove(c, header_point(c, "part2", lane(c, "part2").height - 8))
    qtbot.mouseRelease(c, Qt.LeftButton, pos=header_point(c, "part2", lane(c, "part2").height - 8))
    assert [t.id for t in w.doc.project.tracks] == ["part1", "part2", "part0"]


def test_track_colour_from_the_header_menu_is_saved_and_undoable(w, qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QColorDialog

    from ui import theme

    c = w.timeline.canvas
    undo.add_tracks(w.doc, tracks(1), "Add parts")
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor("#22aa55")))
    c.choose_colour("part0")
    assert w.doc.track("part0").colour == "#22aa55" == theme.track_colour(w.doc.track("part0")).name()
    c._flash.clear()  # its flash as a new track, faded
    img = c.grab().toImage()
    strip = img.pixelColor(2 * img.devicePixelRatio(), int((lane(c, "part0").top - c.v_offset + 10)
                                                             * img.devicePixelRatio()))
    assert strip.name() == "#22aa55"
    w.doc.save(tmp_path / "p" / "project.json")
    assert Project.load(tmp_path / "p" / "project.json").track("part0").colour == "#22aa55"
    from PySide6.QtWidgets import QMenu

    menu = QMenu()
    c.add_look_actions(menu, w.doc.track("part0"))
    assert [a.text() for a in menu.actions()] == ["Colour\u2026", "Default colour"]
    next(a for a in menu.actions() if a.text() == "Default colour").trigger()
    assert w.doc.track("part0").colour is None
    w.doc.undo_stack.undo()
    assert w.doc.track("part0").colour == "#22aa55"
    w.doc.undo_stack.undo()
    assert w.doc.track("part0").colour is None
    assert theme.track_colour(w.doc.track("part0")) == theme.KIND_COLOURS["midi"]


def test_sparse_midi_lane_drawn_as_rectangles_matches_the_raster(studio_app, monkeypatch):
    """paint_midi draws a few notes in view as rectangles (cheaper with 12 lanes of a few notes
    each, the bench's case) and many by rasterising: the same notes, the same pixels near enough."""
    import numpy as np
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QImage, QPainter

    from ui.widgets.timeline import lanes
    from ui.widgets.timeline.geometry import TimeScale

    track = Track("Keys", TrackKind.MIDI, notes=[Note(0.5 * k, 0.4, 48 + (k * 5) % 24, 90, 0) for k in range(20)])
    scale = TimeScale(px_per_s=60.0)

    def drawn(few: int) -> np.ndarray:
        monkeypatch.setattr(lanes, "FEW_NOTES", few)
        img = QImage(900, 90, QImage.Format_RGBA8888)
        img.fill(0)
        p = QPainter(img)
        lanes.paint_midi(p, QRectF(176, 10, 700, 70), scale, track, 0.0, 11.0)
        p.end()
        return np.frombuffer(img.constBits(), np.uint8).reshape(90, 900, 4)[:, :, 3] > 0

    rects, raster = drawn(1000), drawn(0)
    assert rects.sum() > 0 and abs(int(rects.sum()) - int(raster.sum())) <= 0.1 * raster.sum()
    near = raster | np.roll(raster, 1, axis=0) | np.roll(raster, -1, axis=0)  # within a pixel row (rounding)
    assert (rects & near).sum() == rects.sum()
