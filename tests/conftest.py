"""Shared test set-up: headless Qt, a private analysis cache, tests/ importable for fixtures."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests render with the small TimGM6mb bank (30 ms to load; the preferred MuseScore General
# takes seconds per process, CLI tests start many). Tests of the bank choice unset it.
if os.path.isfile("/usr/share/sounds/sf2/TimGM6mb.sf2"):
    os.environ.setdefault("STUDIO_SOUNDFONT", "/usr/share/sounds/sf2/TimGM6mb.sf2")
sys.path.insert(0, str(Path(__file__).parent))

import faulthandler  # noqa: E402

import pytest  # noqa: E402

try:  # where pytest's faulthandler plugin keeps its descriptor (a private module: may move)
    from _pytest.faulthandler import fault_handler_stderr_fd_key
except ImportError:
    fault_handler_stderr_fd_key = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Re-arm the crash traceback before every test. A fresh-clone run once died of a segfault
    in Qt with no traceback at all: a native library may take over SIGSEGV after pytest's
    faulthandler set it up. Re-arming costs two sigactions and names the test that crashed."""
    fd = item.config.stash.get(fault_handler_stderr_fd_key, None) if fault_handler_stderr_fd_key else None
    if fd is not None:
        faulthandler.disable()
        faulthandler.enable(file=fd, all_threads=True)


@pytest.fixture
def private_settings(tmp_path):
    """The app's QSettings as an INI file in tmp_path: a test never reads or writes the
    developer's own settings."""
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    return tmp_path / "settings"


@pytest.fixture
def studio_app(qapp, private_settings):
    """The studio's QApplication set-up (theme, fonts) on private settings."""
    from ui.app import create_app

    return create_app([])


@pytest.fixture
def window(studio_app, qtbot, tmp_path, monkeypatch):
    """The main window with the real engines, shown, its projects in a private folder; closed
    without a save question (test_ui_window and test_ui_grid have their own, with fake engines)."""
    from ui.main_window import MainWindow

    monkeypatch.setenv("STUDIO_PROJECTS_DIR", str(tmp_path / "projects"))
    w = MainWindow()
    w.show()
    yield w
    w.doc.undo_stack.setClean()  # no save question on close
    w.close()


@pytest.fixture(autouse=True)
def _no_main_window_outlives_its_test():
    """After each test, every main window it made is closed and deleted (its C++ object and all
    its children). Closed alone it lived on, hidden, to the end of the session: the lambdas its
    signals are connected to hold it. Every later ``create_app`` then re-polished all the leaked
    widgets when it applied the theme (a UI test's set-up grew from 0.5 s to 25 s over a run,
    about 20 of its 38 minutes), and their timers kept waking."""
    yield
    if "ui.main_window" not in sys.modules:
        return
    from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QEvent, QThread
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow

    app = QApplication.instance()
    if app is None:
        return
    windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
    for w in windows:
        deadline = QDeadlineTimer(60_000)  # a job still running would report to a deleted window
        while w.controller.busy and not deadline.hasExpired():
            app.processEvents()
            QThread.msleep(5)
        w.doc.undo_stack.setClean()  # no save question
        w.close()
        w.deleteLater()
    if windows:
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Analysis results are cached on disk; tests must never read a developer's cache."""
    old = os.environ.get("STUDIO_CACHE_DIR")
    os.environ["STUDIO_CACHE_DIR"] = str(tmp_path_factory.mktemp("studio-cache"))
    yield
    if old is None:
        os.environ.pop("STUDIO_CACHE_DIR", None)
    else:
        os.environ["STUDIO_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _synth_warm_up_ends_with_its_test():
    """A synth warm-up that ``generate`` started (``studio.synth.warm_up``, a thread) ends with
    the test that started it: left running, it would load fonts into the next test's
    monkeypatched font cache or take a core from its timing."""
    yield
    synth = sys.modules.get("studio.synth")
    if synth is not None:
        synth._await_warm_up()
