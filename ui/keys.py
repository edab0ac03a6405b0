"""Keys that work from anywhere in the main window: Space plays and pauses even while a spin box
(tempo, loop, seed, gain, channel) or a read-only field has the focus. Qt gives a focused spin
box the Space key before the window's shortcut; an application-level event filter takes it back.
A text field in which a space is text (a track's name, a style such as "calm piano", a path)
keeps it, and so do dialogs and open menus (they are other windows)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QWidget


def gives_up_space(widget: QWidget) -> bool:
    """True for a focused widget that would swallow Space although it types no space: a spin box
    (or the line edit inside one) or a read-only line edit."""
    w = widget
    while w is not None and not isinstance(w, QAbstractSpinBox) and isinstance(w.parentWidget(), QAbstractSpinBox):
        w = w.parentWidget()
    if isinstance(w, QAbstractSpinBox):
        return True
    return isinstance(widget, QLineEdit) and widget.isReadOnly()


class SpacePlays(QObject):
    """Installed on the QApplication by the main window: Space (no modifier) pressed in one of
    the window's spin boxes triggers ``action`` (Play / Pause) instead of reaching the box."""

    def __init__(self, window: QWidget, action) -> None:
        super().__init__(window)
        self.window, self.action = window, action

    def eventFilter(self, obj, event) -> bool:
        if event.type() != QEvent.KeyPress or event.key() != Qt.Key_Space:
            return False
        if event.modifiers() & ~Qt.KeypadModifier or not isinstance(obj, QWidget):
            return False
        focus = QApplication.focusWidget()
        if obj is not focus or focus.window() is not self.window or not gives_up_space(focus):
            return False
        if not event.isAutoRepeat() and self.action.isEnabled():
            self.action.trigger()
        return True
