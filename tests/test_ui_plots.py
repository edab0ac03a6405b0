"""The pyqtgraph windows, driven through the real window offscreen: the Room response window
plots exactly what studio.room_response computes for the selected track, and follows a drag
in the Inspector's room view; the Analysis plot shows the analysis' beats, contacts, cuts and the
tempo map, its playhead follows the transport and a click seeks it. No Qt warning on the way."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QtMsgType

from studio.project import SpatialKeyframe, Track, TrackKind
from studio.room_response import track_response
from test_ui_window import open_and_analyse, window  # noqa: F401 (the window fixture)
from ui import undo

ROOT = Path(__file__).resolve().parents[1]


def qt_warnings(qtlog) -> list[str]:
    """Qt's warnings, less the offscreen platform's own "This plugin does not support raise()"
    (it has no window manager; ui/screenshots.py shows these windows under Xvfb, where any warning
    fails it)."""
    bad = (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
    return [r.message for r in qtlog.records
            if r.type in bad and not r.message.startswith("This plugin does not support")]


@pytest.fixture
def w(window, qtbot):
    open_and_analyse(window, qtbot)
    return window


def test_importing_the_plot_windows_prints_nothing():
    """pyqtgraph with the installed PySide6: no binding or Qt warning on import or first plot."""
    code = ("from PySide6.QtWidgets import QApplication; app = QApplication([]); "
            "import ui.widgets.room_response, ui.widgets.analysis_plot, pyqtgraph as pg; "
            "p = pg.PlotWidget(); p.plot([0, 1], [1, 0]); p.show(); app.processEvents(); "
            "print(pg.Qt.QT_LIB)")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "PySide6" and run.stderr == "", run.stderr


def test_room_response_plots_the_cores_curves_and_follows_the_room_view(w, qtbot, qtlog):
    doc = w.doc
    track = Track("Bells", TrackKind.MIDI, id="bells", room="living_room", spatial=[SpatialKeyframe(0.0, 4.0, 1.0, 1.5)])
    undo.add_tracks(doc, [track], "Add Bells")
    doc.select("bells")
    w.inspector_dock.raise_()
    qtbot.mouseClick(w.inspector.response_button, Qt.LeftButton)  # the Inspector's "Room response…"
    dlg = w.room_response
    qtbot.waitUntil(lambda: dlg.isVisible() and dlg.response is not None, timeout=10_000)
    assert dlg.room.currentData() == "living_room" and dlg.track_id == "bells"
    expected = track_response(doc.track("bells"), w.playback.position_s)
    c = dlg.curves
    for ear, side in enumerate(("left", "right")):  # the plotted data are the core's, sample for sample
        assert np.array_equal(c[f"ir_{side}"].yData, expected.ir[ear])
        assert np.array_equal(c[f"ir_{side}"].xData, expected.times_ms)
        assert np.array_equal(c[f"edc_{side}"].yData, expected.edc_db[ear])
        assert np.array_equal(c[f"mag_{side}"].xData, expected.freqs_hz)
        assert np.array_equal(c[f"mag_{side}"].yData, expected.magnitude_db[ear])
    assert np.array_equal(c["edc_both"].yData, expected.edc_both_db)
    assert dlg.direct.getRegion() == pytest.approx((expected.times_ms[expected.direct_start],
                                                    expected.times_ms[expected.direct_end]))  # the DRR's direct part
    d = expected.decay
    assert d.method == "T30" and np.allclose(c["fit"].yData, [d.intercept_db, -60.0 + d.intercept_db])
    assert f"T30 {d.t60_s:.2f} s" in dlg.figures.text() and "DRR" in dlg.figures.text()
    assert "ahead" in dlg.figures.text() and f"{expected.distance_m:.2f} m" in dlg.figures.text()

    # a click in the Inspector's room view moves the source: the plot follows (one undo step)
    rv = w.inspector.room_view
    qtbot.mouseClick(rv, Qt.LeftButton, pos=rv.to_px(7.0, 3.0).toPoint())
    qtbot.waitUntil(lambda: "right" in dlg.figures.text(), timeout=5000)
    moved = track_response(doc.track("bells"), w.playback.position_s)
    assert abs(moved.azimuth_deg - 90) < 5 and np.array_equal(c["ir_left"].yData, moved.ir[0])
    assert not np.array_equal(moved.ir, expected.ir)

    # the crosshair reads the plot's coordinates
    ir_plot = dlg.plots["edc"]
    dlg.crosshairs["edc"].move_to(ir_plot.vb.mapViewToScene(QPointF(200.0, -30.0)))
    assert dlg.crosshairs["edc"].readout == "200 ms\n-30.0 dB"

    # another room to compare: the project is not changed
    dlg.room.setCurrentIndex(dlg.room.findData("hall"))
    dlg.room.activated.emit(dlg.room.currentIndex())
    qtbot.waitUntil(lambda: dlg.response is not None and dlg.response.room == "hall", timeout=5000)
    assert doc.track("bells").room == "living_room" and "compared" in dlg.windowTitle()
    assert not qt_warnings(qtlog)


def test_room_response_says_why_without_a_room(w, qtbot, qtlog, monkeypatch):
    monkeypatch.setattr("studio.room_response.available_rooms", lambda: [])
    undo.add_tracks(w.doc, [Track("Keys", TrackKind.MIDI, id="keys")], "Add Keys")
    w.doc.select("keys")
    w.act_room_response.trigger()
    dlg = w.room_response
    qtbot.waitUntil(lambda: bool(dlg.message), timeout=5000)
    assert dlg.response is None and "No room" in dlg.figures.text()
    assert not qt_warnings(qtlog)


def test_analysis_plot_shows_the_analysis_and_a_click_seeks(w, qtbot, qtlog):
    a, tempo = w.doc.analysis, w.doc.tempo
    w.act_analysis_plot.trigger()
    plot = w.analysis_plot
    qtbot.waitUntil(plot.isVisible, timeout=5000)
    it = plot.items
    shown = np.sort(np.concatenate([it["beats"].xData[::2], it["downbeats"].xData[::2]]))
    assert len(a.beat_times_s) > 10 and np.array_equal(shown, np.sort(a.beat_times_s))
    assert np.array_equal(np.sort(it["downbeats"].xData[::2]), np.sort(a.downbeat_times_s))
    assert np.array_equal(it["contacts"].xData, [i.time_s for i in a.impacts])
    assert np.array_equal(it["cuts"].xData[::2], a.cuts_s)
    assert np.array_equal(it["envelope"].yData, a.onset_envelope)
    assert set(it["tempo"].yData) == {c.bpm for c in tempo.changes}  # the grid on the right axis
    assert f"{len(a.beat_times_s)} beats" in plot.header.text()

    # a click at 5 s seeks the transport there; the playhead follows the transport
    vb, view = plot.plot.vb, plot.view
    at = view.mapFromScene(vb.mapViewToScene(QPointF(5.0, 0.5)))
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=at)
    (x0, x1), _ = vb.viewRange()
    one_px = (x1 - x0) / vb.width()
    qtbot.waitUntil(lambda: abs(w.playback.position_s - 5.0) <= 2 * one_px, timeout=5000)
    assert abs(plot.playhead.value() - w.playback.position_s) < 1e-9
    w.playback.seek(9.25)
    assert plot.playhead.value() == pytest.approx(9.25)
    assert "bar" in plot._readout(9.25, 0.5)
    assert not qt_warnings(qtlog)
