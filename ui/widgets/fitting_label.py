"""A label for a narrow window that never shows a word cut in half: as many whole parts of its
text (split at " \u00b7 ") as fit its width, all of it in the tooltip; nothing rather than a
fragment. It never widens the window (its width policy is Ignored)."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy

SEP = " \u00b7 "


class FittingLabel(QLabel):
    def __init__(self, text: str = "", parent=None, **kwargs) -> None:
        super().__init__("", parent, **kwargs)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = text
        self.setToolTip(text)
        self._fit()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        parts = self._full.split(SEP) if self._full else []
        room, fm = self.contentsRect().width(), self.fontMetrics()
        shown = next((SEP.join(parts[:k]) for k in range(len(parts), 0, -1)
                      if fm.horizontalAdvance(SEP.join(parts[:k])) <= room), "")
        if shown != super().text():
            super().setText(shown)
