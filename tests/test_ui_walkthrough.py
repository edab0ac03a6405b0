"""The scripted walk-through (ui/walkthrough.py) on a real X server (Xvfb) at 1366x768: open the
demo clip, Generate with the installed engines, edit a note in the piano roll, export stems +
MIDI + video, close and reopen; a screenshot of each step, and no Qt warning or Python exception
on the way (the walk-through exits 1 on any)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("start", "opened", "generated", "piano-roll", "export-dialog", "exported", "closed", "reopened")


def test_problems_are_collected():
    from PySide6.QtCore import QtMsgType

    from ui.walkthrough import Problems

    p = Problems()
    p.qt_message(QtMsgType.QtDebugMsg, None, "chatter")
    p.qt_message(QtMsgType.QtWarningMsg, None, "QPainter::begin: Paint device returned engine == 0")
    try:
        raise KeyError("dt")
    except KeyError:
        p.exception(*sys.exc_info())
    p.check(True, "fine")
    p.check(False, "the export finished")
    assert len(p.items) == 3 and "QPainter::begin" in p.items[0] and "KeyError: 'dt'" in p.items[1]
    assert p.items[2] == "step failed: the export finished"


@pytest.mark.skipif(shutil.which("xvfb-run") is None,
                    reason="Xvfb is not installed (packaging/debian-deps.sh --gui; make test installs it)")
@pytest.mark.parametrize("scale", [1, 2])
def test_walkthrough_under_xvfb_at_1366x768(tmp_path, scale):
    """At 1x and at 2x (QT_SCALE_FACTOR=2 on a 2732x1536 screen: 1366x768 logical px)."""
    from PySide6.QtGui import QImage

    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}  # the real xcb platform
    env["QT_SCALE_FACTOR"] = str(scale)
    screen = f"-screen 0 {1366 * scale}x{768 * scale}x24"
    run = subprocess.run(["xvfb-run", "-a", "-s", screen, sys.executable, "-m", "ui.walkthrough", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "0 problems" in out and "Traceback" not in out and "Warning" not in out, out
    shots = sorted(tmp_path.glob("walkthrough-*.png"), key=lambda p: int(p.name.split("-")[1]))
    assert [p.name.split("-", 2)[2].removesuffix(".png") for p in shots] == list(STEPS)
    for p in shots:
        img = QImage(str(p))
        assert (img.width(), img.height()) == (1366 * scale, 768 * scale), p.name
