"""QApplication set-up and ``main()``: ``python -m ui [VIDEO or PROJECT]``."""
from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtWidgets import QApplication

from ui import theme


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else sys.argv)
    QCoreApplication.setOrganizationName("video-sound-studio")
    QCoreApplication.setApplicationName("Video Sound Studio")
    theme.apply(app)
    return app


def launch(argv: list[str]):
    """The app and its main window, shown; ``argv[1]`` (a video or project) opens once the event
    loop runs; a video there reopens the project an earlier run made for it (``make run`` keeps
    one demo project). ``main`` runs this, and so does ``ui.bench.first_window``, which times it."""
    app = create_app(argv)
    from ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if len(argv) > 1:
        QTimer.singleShot(0, lambda: window.controller.open_path(argv[1], reuse=True))
    return app, window


def main(argv: list[str] | None = None) -> int:
    from ui.qtcompat import binding_problem

    problem = binding_problem()
    if problem:
        print(f"studio: error: {problem}", file=sys.stderr)
        return 2
    argv = list(sys.argv if argv is None else argv)
    smoke = "--smoke-test" in argv  # start, open and analyse the file, then quit (bundle checks)
    argv = [a for a in argv if a != "--smoke-test"]
    app, window = launch(argv)
    if smoke:
        return _smoke(app, window, has_file=len(argv) > 1)
    return app.exec()


def _smoke(app, window, has_file: bool) -> int:
    """Run the event loop until the opened file is analysed (or failed), then quit: 0 = fine."""
    import time

    deadline = time.monotonic() + 120
    ready = lambda: (not has_file or window.doc.analysis is not None or window.last_error is not None)  # noqa: E731
    while time.monotonic() < deadline:
        app.processEvents()
        if ready() and not window.controller.busy:
            break
        time.sleep(0.01)
    ok = ready() and window.last_error is None
    print(f"smoke test: {'ok' if ok else 'failed'}" + (f" ({window.last_error})" if window.last_error else "")
          + (f", {len(window.doc.analysis.beat_times_s)} beats" if ok and has_file else ""))
    window.doc.undo_stack.setClean()
    window.close()
    return 0 if ok else 1
