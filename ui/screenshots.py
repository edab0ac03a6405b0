"""Screenshots of the main window for docs/screenshots (run under a display, e.g.
``xvfb-run -s "-screen 0 1600x1000x24" python -m ui.screenshots docs/screenshots``).

Shots: the empty window, the demo video after analysis (Generate panel open), and, when any
engine is installed, after Generate and the beat grid (``grid.png``: the analysis lane's beats
under the ruler's bars, bar 1's handle, the pickup and the tempo controls); with the piano
engine, its demo clip transcribed. ``--only NAME`` makes only the named shots. ``--test-engines`` plugs in the small adapters of
tests/test_ui_window.py (MIDI on the detected beats, Foley hits on the detected impacts) to show
the track lanes while no real engine is installed; those shots are named ``*-test-engines``.
The pyqtgraph windows are shot on their own (``analysis-plot.png``: the demo's analysis;
``room-response.png``: a generated track placed in the living room, as Generate with Spatial does).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "studio" / "assets" / "demo.mp4"
PIANO_DEMO = DEMO.with_name("piano_demo.mp4")


def _settle(app, seconds: float, until=None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            break
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--test-engines", action="store_true")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="make only this shot (e.g. grid.png); repeatable")
    args = ap.parse_args(argv)
    app, w = _open_window(args.test_engines)
    args.out.mkdir(parents=True, exist_ok=True)
    _settle(app, 0.5)
    shots = _Shots(w, args.out, args.only)
    shots.take("empty.png")

    w.controller.open_video(DEMO)
    _settle(app, 60, lambda: w.doc.analysis is not None and not w.controller.busy)
    w.show_generate()
    w.playback.seek(4.6)
    _settle(app, 2.0)
    shots.take("analysed.png")

    from studio.generate import available_engines

    _analysis_plot(app, w, shots)
    if available_engines():
        _after_generate(app, w, shots, args.test_engines)
        if "spatial" in available_engines() and not args.test_engines:
            _room_response(app, w, shots)
    if "piano" in available_engines() and not args.test_engines and shots.wanted("piano.png"):
        _piano(app, w, shots)
    w.doc.undo_stack.setClean()
    w.close()
    return 0


def _open_window(test_engines: bool):
    """The app and its main window (1600x960, shown), with a fresh window layout and projects
    folder, and with ``test_engines`` the tests' small adapters plugged in."""
    os.environ.setdefault("STUDIO_PROJECTS_DIR", tempfile.mkdtemp(prefix="studio-shots-"))
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.IniFormat)  # a fresh window layout, not the user's
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, tempfile.mkdtemp(prefix="studio-shots-settings-"))
    from ui.app import create_app
    from ui.main_window import MainWindow

    app = create_app([])
    if test_engines:
        from studio import generate

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        generate.ADAPTERS.setdefault("rhythm", "test_ui_window:fake_rhythm")
        generate.ADAPTERS.setdefault("foley", "test_ui_window:fake_foley")
    w = MainWindow()
    w.resize(1600, 960)
    w.show()
    return app, w


class _Shots:
    """Saves the window's picture under a name, unless ``--only`` leaves that name out."""

    def __init__(self, window, out: Path, only: list[str]):
        self.window, self.out, self.only = window, out, only

    def wanted(self, name: str) -> bool:
        return not self.only or name in self.only

    def take(self, name: str, widget=None) -> None:
        if self.wanted(name):
            (widget or self.window).grab().toImage().save(str(self.out / name), "PNG", 0)  # 0: smallest file


def _after_generate(app, w, shots: _Shots, test_engines: bool) -> None:
    """Generate on the analysed demo: the tracks (a Foley hit selected), then the beat grid."""
    w.generate_panel.generate_button.click()
    _settle(app, 120, lambda: w.doc.project.tracks and not w.controller.busy)
    foley = next((t for t in w.doc.project.tracks if t.events), None)
    if foley is not None:
        w.doc.select(foley.id, (3,))
        w.inspector_dock.raise_()
    w.playback.seek(4.6)
    _settle(app, 2.0)
    shots.take("after-generate-test-engines.png" if test_engines else "after-generate.png")
    if shots.wanted("grid.png"):  # the beat grid up close: bars on the visual beats, the controls
        w.doc.select(None)
        w.generate_dock.raise_()
        c = w.timeline.canvas
        c.scale.px_per_s = max(1.0, (c.width() - 200) / 8.0)  # the first 8 s
        c.set_offset(0.0)
        w.playback.seek(0.12)  # in the pickup before bar 1
        _settle(app, 2.0)
        shots.take("grid.png")


def _analysis_plot(app, w, shots: _Shots) -> None:
    """View › Analysis Plot on the analysed demo, the playhead at 4.6 s, the mouse over a beat."""
    if not shots.wanted("analysis-plot.png"):
        return
    w.act_analysis_plot.trigger()
    plot = w.analysis_plot
    plot.resize(1240, 520)
    w.playback.seek(4.6)
    _settle(app, 1.0)
    from PySide6.QtCore import QPointF

    beat = float(w.doc.analysis.beat_times_s[len(w.doc.analysis.beat_times_s) // 2])
    plot.crosshair.move_to(plot.plot.vb.mapViewToScene(QPointF(beat, 0.6)))
    _settle(app, 0.5)
    shots.take("analysis-plot.png", plot)
    plot.close()


def _room_response(app, w, shots: _Shots) -> None:
    """View › Room Response… on the generated Foley track (else the first), placed in the living
    room as Generate with Spatial places it; the mouse over the decay curve."""
    if not shots.wanted("room-response.png") or not w.doc.project.tracks:
        return
    from PySide6.QtCore import QPointF

    from studio import adapters
    from ui import undo

    tracks = [t for t in w.doc.project.tracks if not t.original_audio] or w.doc.project.tracks
    for t in adapters.load("spatial").place([t for t in tracks if not t.room], "living_room"):
        undo.replace_track(w.doc, t.id, t, "Place in the living room")
    chosen = next((t for t in tracks if t.events), tracks[0])
    w.doc.select(chosen.id)
    w.playback.seek(4.6)
    w.act_room_response.trigger()
    dlg = w.room_response
    _settle(app, 5.0, lambda: dlg.response is not None)
    _settle(app, 1.0)
    edc = dlg.plots["edc"]
    dlg.crosshairs["edc"].move_to(edc.vb.mapViewToScene(QPointF(150.0, -60.0)))
    _settle(app, 0.5)
    shots.take("room-response.png", dlg)
    dlg.close()


def _piano(app, w, shots: _Shots) -> None:
    """The piano demo, transcribed by the piano engine alone."""
    w.doc.undo_stack.setClean()
    w.controller.open_video(PIANO_DEMO)
    _settle(app, 60, lambda: w.doc.analysis is not None and not w.controller.busy)
    w.show_generate()
    for name, cb in w.generate_panel.checks.items():
        cb.setChecked(name == "piano")
    w.generate_panel.generate_button.click()
    _settle(app, 120, lambda: w.doc.project.tracks and not w.controller.busy)
    if w.doc.project.tracks:
        w.doc.select(w.doc.project.tracks[0].id)
    w.playback.seek(4.0)
    _settle(app, 2.0)
    shots.take("piano.png")


# the set-up other shot scripts share (ui/screenshots_keypoints.py)
open_window, settle, Shots = _open_window, _settle, _Shots


if __name__ == "__main__":
    sys.exit(main())
