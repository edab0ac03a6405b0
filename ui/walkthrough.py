"""A scripted walk-through of the app as a new user takes it (issue 18, "Show"), on a 1366x768
screen: open the bundled demo clip, Generate with the installed engines, edit a note in the
piano roll (and give its track a colour and a taller lane), export stems + MIDI + video, close
the project and open it again; a screenshot of each step (``walkthrough-N-step.png``). Run it
on a display, e.g.

    xvfb-run -a -s "-screen 0 1366x768x24" python -m ui.walkthrough docs/screenshots

It fails (exit status 1, each problem printed) on any Qt warning or Python exception during the
walk-through, and when a step does not do what it should; tests/test_ui_walkthrough.py runs it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "studio" / "assets" / "demo.mp4"
SIZE = (1366, 768)


class Problems:
    """What went wrong: Qt warnings (a message handler), uncaught Python exceptions (in slots,
    in threads), failed steps."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def qt_message(self, mode, context, message: str) -> None:
        from PySide6.QtCore import QtMsgType

        if mode in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            self.items.append(f"Qt {mode.name}: {message}")

    def exception(self, kind, value, tb) -> None:
        self.items.append("exception: " + "".join(traceback.format_exception(kind, value, tb)).strip())

    def install(self) -> None:
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(self.qt_message)
        sys.excepthook = self.exception
        threading.excepthook = lambda a: self.exception(a.exc_type, a.exc_value, a.exc_traceback)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.items.append(f"step failed: {what}")


def _settle(app, seconds: float, until=None) -> bool:
    """Run the event loop for ``seconds`` or until ``until()`` holds (True when it did)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.01)
    return until is None


class Walk:
    def __init__(self, out: Path, problems: Problems) -> None:
        from PySide6.QtCore import QSettings

        self.out, self.problems, self.n = out, problems, 0
        self.work = Path(tempfile.mkdtemp(prefix="studio-walkthrough-"))
        os.environ["STUDIO_PROJECTS_DIR"] = str(self.work / "projects")
        QSettings.setDefaultFormat(QSettings.IniFormat)  # a fresh window layout, not the user's
        QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(self.work / "settings"))
        from ui.app import create_app
        from ui.main_window import MainWindow

        self.app = create_app([])
        self.w = MainWindow()
        self.w.resize(*SIZE)
        self.w.show()

    def shot(self, name: str) -> None:
        """The screen as the user sees it (dialogs and the piano roll included) on a real
        display; the main window alone where there is none (offscreen)."""
        _settle(self.app, 0.6)
        self.n += 1
        path = self.out / f"walkthrough-{self.n}-{name}.png"
        if self.app.platformName() == "offscreen":
            image = self.w.grab()
        else:
            image = self.app.primaryScreen().grabWindow(0, 0, 0, *SIZE)
        image.toImage().save(str(path), "PNG", 0)

    def wait(self, what: str, until, seconds: float = 180) -> bool:
        ok = _settle(self.app, seconds, until)
        self.problems.check(ok, what)
        return ok

    def run(self) -> None:
        w, check = self.w, self.problems.check
        self.shot("start")
        # 1. the clip, as a drop does
        w.controller.open_video(DEMO)
        if not self.wait("the demo clip opened and analysed",
                         lambda: w.doc.analysis is not None and not w.controller.busy):
            return
        w.show_generate()
        self.shot("opened")
        # 2. Generate with the panel's defaults (the installed engines)
        w.generate_panel.generate_button.click()
        if not self.wait("Generate made tracks", lambda: bool(w.doc.project.tracks) and not w.controller.busy):
            return
        w.playback.seek(4.6)
        self.shot("generated")
        # 3. the piano roll on the first MIDI part: one note up a whole tone
        self._edit_a_note()
        # 4. export stems, MIDI and the video with its new sound
        self._export()
        # 5. save, close, open again
        w.controller.save()
        path = w.doc.project.path
        tracks = [(t.name, len(t.notes), len(t.events)) for t in w.doc.project.tracks]
        w.controller.close_project()
        check(w.doc.project is None, "the project closed")
        self.shot("closed")
        w.controller.open_project(path)
        self.wait("the project opened again", lambda: w.doc.project is not None and not w.controller.busy, 60)
        p = w.doc.project
        check(p is not None and [(t.name, len(t.notes), len(t.events)) for t in p.tracks] == tracks,
              "the reopened project has the tracks it was saved with")
        check(p is not None and self.edited in [(n.start_s, n.pitch) for t in p.tracks for n in t.notes],
              "the edited note was saved")
        check(not w.doc.modified, "a project just opened is not modified")
        tid, colour, height = self.look
        check(p is not None and (p.track(tid).colour, p.track(tid).lane_height) == (colour, height),
              "the track's colour and lane height were saved")
        w.playback.seek(4.6)
        self.shot("reopened")

    def _edit_a_note(self) -> None:
        from studio.project import TrackKind

        w = self.w
        track = next((t for t in w.doc.project.tracks if t.kind is TrackKind.MIDI and t.notes and not t.is_drums),
                     None) or next((t for t in w.doc.project.tracks if t.notes), None)
        self.edited = self.look = None
        if track is None:
            self.problems.check(False, "Generate made a track with notes to edit")
            return
        w.doc.select(track.id)
        w.edit_notes(track.id)
        roll = w.piano_roll
        roll.move(90, 70)  # over the main window, which shows around it
        roll.resize(SIZE[0] - 300, SIZE[1] - 170)
        i = len(track.notes) // 2
        note = track.notes[i]
        roll.set_selection({i})
        roll.transpose(2)
        self.edited = (note.start_s, note.pitch + 2)
        edited = w.doc.track(track.id)
        self.problems.check(self.edited in [(n.start_s, n.pitch) for n in edited.notes],
                            "the piano roll moved the note up a whole tone")
        self.shot("piano-roll")
        roll.close()
        # its lane in a colour of its own and taller (saved in the project, checked on reopening)
        from ui import undo

        w.timeline.canvas.set_track_colour(track.id, "#c8607a")
        undo.edit_track(w.doc, track.id, "Resize lane", lane_height=96)
        self.look = (track.id, "#c8607a", 96)

    def _export(self) -> None:
        w = self.w
        w.export_dialog()
        dlg = w.export_window
        dlg.move(200, 60)
        dlg.folder.setText(str(self.work / "export"))
        for box, on in ((dlg.stems, True), (dlg.midi, True), (dlg.video, True), (dlg.mix, False), (dlg.rpp, False)):
            box.setChecked(on)
        self.shot("export-dialog")
        dlg.accept()
        if not self.wait("the export finished", lambda: w.last_export is not None and not w.controller.busy, 300):
            return
        files = [Path(f) for f in w.last_export.files]
        self.problems.check(any(f.suffix == ".mid" for f in files) and any(f.suffix == ".mp4" for f in files)
                            and sum(f.suffix == ".wav" for f in files) >= len(w.doc.project.tracks) - 1,
                            f"the export wrote stems, MIDI and the video (it wrote {[f.name for f in files]})")
        box = getattr(w, "export_done_box", None)
        if box is not None:
            box.move(380, 260)
        self.shot("exported")
        if box is not None:
            box.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder for the screenshots")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    problems = Problems()
    problems.install()
    walk = Walk(args.out, problems)
    walk.w.last_export = None
    try:
        walk.run()
    except Exception:  # a failed step's exception is one more problem, then the window closes
        problems.exception(*sys.exc_info())
    walk.w.doc.undo_stack.setClean()
    walk.w.close()
    _settle(walk.app, 0.3)
    for item in problems.items:
        print(item, file=sys.stderr)
    print(f"walk-through: {walk.n} screenshots in {args.out}, {len(problems.items)} problems")
    return 1 if problems.items else 0


if __name__ == "__main__":
    sys.exit(main())
