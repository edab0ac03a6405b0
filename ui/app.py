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


def main(argv: list[str] | None = None) -> int:
    from ui.qtcompat import binding_problem

    problem = binding_problem()
    if problem:
        print(f"studio: error: {problem}", file=sys.stderr)
        return 2
    argv = list(sys.argv if argv is None else argv)
    app = create_app(argv)
    from ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if len(argv) > 1:
        QTimer.singleShot(0, lambda: window.controller.open_path(argv[1]))
    return app.exec()
