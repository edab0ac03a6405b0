"""Dark theme for audio work: palette, one style sheet, and the colours the painters share."""
from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BG = QColor("#1b1d21")
PANEL = QColor("#23262b")
PANEL_2 = QColor("#2b2f35")
LINE = QColor("#3a3f47")
TEXT = QColor("#d7dbe0")
TEXT_DIM = QColor("#8b929c")
ACCENT = QColor("#f0a040")  # playhead, selection
ACCENT_2 = QColor("#4fb3d9")  # analysis envelope
BEAT = QColor("#5a6270")
DOWNBEAT = QColor("#8a94a4")
CUT = QColor("#e0556a")
IMPACT = QColor("#f2d15c")
LOOP = QColor(240, 160, 64, 40)

KIND_COLOURS = {
    "midi": QColor("#6c8cff"),
    "audio": QColor("#4cc38a"),
    "foley": QColor("#e9a23b"),
    "soundtrack": QColor("#b67cf0"),
}

# the Foley engine's materials (engines/foley/materials.py), in the order the menus show them
MATERIALS = ("wood", "metal", "glass", "ceramic", "stone", "plastic", "drywall", "paper", "cloth")
MATERIAL_COLOURS = {
    "wood": QColor("#c98b4a"), "metal": QColor("#9fb4c8"), "glass": QColor("#7fe0e6"),
    "plastic": QColor("#e86fb0"), "ceramic": QColor("#e8dcc0"), "stone": QColor("#8d8d84"),
    "drywall": QColor("#d9d4c7"), "paper": QColor("#b8a070"), "cloth": QColor("#7a6fb0"),
}


def track_colour(track) -> QColor:
    """The colour a track is drawn in: its own (chosen in the timeline, saved in the project),
    else its kind's."""
    if track.colour:
        return QColor(track.colour)
    return KIND_COLOURS.get(track.kind.value, ACCENT)


def material_colour(material: str) -> QColor:
    if material in MATERIAL_COLOURS:
        return MATERIAL_COLOURS[material]
    h = sum(map(ord, material)) * 37 % 360  # unknown materials: stable colour from the name
    return QColor.fromHsv(h, 140, 220)


STYLE = """
QWidget { color: #d7dbe0; background: #1b1d21; font-size: 10pt; }
QMainWindow::separator { background: #2b2f35; width: 3px; height: 3px; }
QMenuBar { background: #23262b; border-bottom: 1px solid #3a3f47; }
QMenuBar::item:selected, QMenu::item:selected { background: #3a3f47; }
QMenu { background: #23262b; border: 1px solid #3a3f47; }
QMenu::separator { height: 1px; background: #3a3f47; margin: 4px 8px; }
QToolBar { background: #23262b; border: none; spacing: 4px; padding: 3px; }
QDockWidget { titlebar-close-icon: none; }
QDockWidget::title { background: #23262b; padding: 5px 8px; border-bottom: 1px solid #3a3f47; }
QGroupBox { border: 1px solid #3a3f47; border-radius: 4px; margin-top: 14px; padding: 8px 6px 6px 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #8b929c; }
QPushButton, QToolButton { background: #2b2f35; border: 1px solid #3a3f47; border-radius: 4px;
    padding: 4px 10px; }
QToolButton { padding: 3px; }
QPushButton:hover, QToolButton:hover { background: #343941; }
QPushButton:pressed, QToolButton:pressed, QToolButton:checked, QPushButton:checked {
    background: #4a3a22; border-color: #f0a040; }
QPushButton:disabled, QToolButton:disabled { color: #5f656e; }
QPushButton#primary { background: #c9802c; color: #15171a; font-weight: bold; border: none; }
QPushButton#primary:hover { background: #f0a040; }
QPushButton#primary:disabled { background: #4a3a22; color: #8b929c; }
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox { background: #15171a; border: 1px solid #3a3f47;
    border-radius: 3px; padding: 3px 5px; selection-background-color: #f0a040; }
QComboBox QAbstractItemView { background: #23262b; selection-background-color: #3a3f47; }
QSlider::groove:horizontal { height: 4px; background: #3a3f47; border-radius: 2px; }
QSlider::handle:horizontal { width: 12px; margin: -5px 0; background: #d7dbe0; border-radius: 6px; }
QSlider::sub-page:horizontal { background: #c9802c; border-radius: 2px; }
QProgressBar { background: #15171a; border: 1px solid #3a3f47; border-radius: 3px; text-align: center;
    height: 14px; }
QProgressBar::chunk { background: #c9802c; border-radius: 2px; }
QScrollBar:horizontal { height: 12px; background: #1b1d21; }
QScrollBar:vertical { width: 12px; background: #1b1d21; }
QScrollBar::handle { background: #3a3f47; border-radius: 5px; min-width: 24px; min-height: 24px; }
QScrollBar::add-line, QScrollBar::sub-line { width: 0; height: 0; }
QStatusBar { background: #23262b; border-top: 1px solid #3a3f47; color: #8b929c; }
QLabel#dim { color: #8b929c; }
QLabel#error { color: #e0556a; }
QLabel#title { font-size: 12pt; font-weight: bold; }
QLabel#lcd { font-family: monospace; font-size: 15pt; color: #f0a040; background: #15171a;
    border: 1px solid #3a3f47; border-radius: 3px; padding: 2px 8px; }
QCheckBox::indicator { width: 13px; height: 13px; border: 1px solid #5a606a; border-radius: 3px;
    background: #15171a; }
QCheckBox::indicator:hover { border-color: #8b929c; }
QCheckBox::indicator:checked { background: #c9802c; border-color: #f0a040; }
QCheckBox::indicator:disabled { border-color: #3a3f47; background: #1b1d21; }
QSplitter::handle { background: #23262b; }
QTabBar::tab { background: #23262b; color: #8b929c; padding: 5px 8px; border: 1px solid #3a3f47;
    border-bottom: none; border-top-left-radius: 4px; border-top-right-radius: 4px; }
QTabBar::tab:selected { background: #2b2f35; color: #d7dbe0; border-bottom: 2px solid #f0a040; }
QListWidget, QTreeWidget, QTableWidget { background: #15171a; border: 1px solid #3a3f47; }
QHeaderView::section { background: #23262b; border: none; padding: 4px; }
QToolTip { background: #2b2f35; color: #d7dbe0; border: 1px solid #3a3f47; }
"""


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.Window, BG), (QPalette.WindowText, TEXT), (QPalette.Base, QColor("#15171a")),
        (QPalette.AlternateBase, PANEL), (QPalette.Text, TEXT), (QPalette.Button, PANEL_2),
        (QPalette.ButtonText, TEXT), (QPalette.Highlight, ACCENT), (QPalette.HighlightedText, BG),
        (QPalette.ToolTipBase, PANEL_2), (QPalette.ToolTipText, TEXT), (QPalette.PlaceholderText, TEXT_DIM),
    ):
        pal.setColor(role, colour)
    pal.setColor(QPalette.Disabled, QPalette.Text, TEXT_DIM)
    pal.setColor(QPalette.Disabled, QPalette.ButtonText, TEXT_DIM)
    app.setPalette(pal)
    app.setStyleSheet(STYLE)
    f = QFont(app.font())
    if f.pointSizeF() < 10:
        f.setPointSizeF(10)
    app.setFont(f)
