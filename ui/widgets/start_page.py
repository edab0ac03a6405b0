"""The start page, shown while no project is open: New / New from Video / Open / Open Demo, and
the recent projects (name, folder, when last opened, the video's first frame); double-click or
Enter opens one. Projects that are gone stay listed, greyed out, until "Clear Recent"."""
from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
    QWidget,
)

PATH_ROLE = Qt.UserRole + 1


def opened_text(when: float, now: float | None = None) -> str:
    """When a project was last opened, as a person says it: "today 14:02", "yesterday 09:30",
    else the date."""
    now = time.time() if now is None else now
    day, today = time.localtime(when), time.localtime(now)
    if day[:3] == today[:3]:
        return time.strftime("today %H:%M", day)
    if day[:3] == time.localtime(now - 86400)[:3]:
        return time.strftime("yesterday %H:%M", day)
    return time.strftime("%Y-%m-%d %H:%M", day)


class StartPage(QWidget):
    newRequested = Signal()
    newFromVideoRequested = Signal()
    openRequested = Signal()
    demoRequested = Signal()
    projectChosen = Signal(str)  # the project file of a recent entry

    def __init__(self, recent, parent: QWidget | None = None, demo_available: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("start-page")
        self.recent = recent
        root = QVBoxLayout(self)
        root.setContentsMargins(48, 32, 48, 24)
        root.setSpacing(12)
        title = QLabel("Video Sound Studio", self)
        f = QFont(title.font())
        f.setPointSizeF(f.pointSizeF() * 1.8)
        f.setBold(True)
        title.setFont(f)
        root.addWidget(title)
        root.addWidget(QLabel("Give a video its sound: start a project, open one, or drop a video here.", self,
                              objectName="dim"))
        buttons = QHBoxLayout()
        self.new_button = QPushButton("New Project\u2026", self,
                                      toolTip="an empty project in a folder you name (Ctrl+N)")
        self.new_video_button = QPushButton("New from Video\u2026", self,
                                            toolTip="choose a video, then the project's folder (Ctrl+Shift+N)")
        self.open_button = QPushButton("Open\u2026", self, toolTip="open a saved project (Ctrl+O)")
        self.demo_button = QPushButton("Open Demo", self, toolTip="open the bundled demo video as a project")
        self.demo_button.setEnabled(demo_available)
        for b, sig in ((self.new_button, self.newRequested), (self.new_video_button, self.newFromVideoRequested),
                       (self.open_button, self.openRequested), (self.demo_button, self.demoRequested)):
            b.clicked.connect(sig)
            buttons.addWidget(b)
        buttons.addStretch(1)
        root.addLayout(buttons)
        root.addSpacing(8)
        root.addWidget(QLabel("Recent projects", self))
        self.list = self._build_list()
        root.addWidget(self.list, 1)
        self.empty = QLabel("No recent projects yet.", self, objectName="dim")
        # with no list shown, the note takes the spare height at its top: the page stays together
        # instead of spreading its lines over the window
        self.empty.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        root.addWidget(self.empty, 1)
        recent.changed.connect(self.refresh)
        self.refresh()

    def _build_list(self) -> QTreeWidget:
        t = QTreeWidget(self)
        t.setObjectName("recent-projects")
        t.setColumnCount(3)
        t.setHeaderLabels(["Project", "Folder", "Last opened"])
        t.setRootIsDecorated(False)
        t.setUniformRowHeights(True)
        t.setIconSize(QSize(64, 36))
        t.setSelectionMode(QAbstractItemView.SingleSelection)
        t.setEditTriggers(QAbstractItemView.NoEditTriggers)
        h = t.header()
        h.setStretchLastSection(False)
        h.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        h.setSectionResizeMode(1, QHeaderView.Stretch)
        h.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        t.setMinimumSize(200, 80)
        t.itemActivated.connect(self._activated)  # double-click or Enter
        return t

    def refresh(self) -> None:
        """The list as the settings hold it now (most recent first; missing projects greyed)."""
        self.list.clear()
        entries = self.recent.entries()
        for e in entries:
            item = QTreeWidgetItem([e.name, str(e.folder), opened_text(e.opened)])
            item.setData(0, PATH_ROLE, str(e.path))
            item.setToolTip(1, str(e.path))
            img = e.image()
            if not img.isNull():
                item.setIcon(0, QPixmap.fromImage(img))
            if not e.exists:
                item.setFlags(item.flags() & ~Qt.ItemIsEnabled & ~Qt.ItemIsSelectable)
                item.setText(2, "missing")
                item.setToolTip(0, f"{e.path} is no longer there")
            self.list.addTopLevelItem(item)
        self.list.setVisible(bool(entries))
        self.empty.setVisible(not entries)

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        if item.flags() & Qt.ItemIsEnabled:
            self.projectChosen.emit(item.data(0, PATH_ROLE))
