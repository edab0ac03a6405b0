"""The main window: video preview and transport on top, the timeline below, Inspector and
Generate docks on the right; menus, toolbar, shortcuts, drag and drop, job progress."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QFileDialog, QFrame, QLabel, QMainWindow, QMenu, QMessageBox, QProgressBar,
    QPushButton, QScrollArea, QSplitter, QStackedWidget, QTabWidget, QToolBar, QUndoView, QVBoxLayout, QWidget,
)

from ui.controller import Controller
from ui.document import Document
from ui.icons import icon
from ui.playback import Playback
from ui.project_menu import ProjectCommands
from ui.projects import DEMO
from ui.widgets.generate_panel import GeneratePanel
from ui.widgets.inspector import Inspector
from ui.widgets.mixer_panel import MixerPanel
from ui.widgets.start_page import StartPage
from ui.widgets.timeline.view import TimelineView
from ui.widgets.transport_bar import TransportBar
from ui.widgets.video_preview import VideoPreview
from ui.workers import Workers

APP_NAME = "Video Sound Studio"
DOCK_MIN_W = 280  # the docks' least width: with the transport bar, the window fits 1280 px


DEFAULT_SIZE = QSize(1480, 920)
LEAST_SCREEN = QSize(1280, 720)  # the window's minimum fits this (tests/test_ui_first_use.py)


def initial_size(available: QSize | None) -> QSize:
    """The window's first size: the default, shrunk to the screen's free area on a laptop
    (1366x768: the window must not open past the screen's edge); on a screen smaller than the
    window's own minimum nothing fits, so the default stays (as on the tests' offscreen screen)."""
    if available is None or available.width() < LEAST_SCREEN.width() or available.height() < LEAST_SCREEN.height() - 60:
        return QSize(DEFAULT_SIZE)
    return DEFAULT_SIZE.boundedTo(available)


def keys(*sequences: str) -> list[QKeySequence]:
    """Several shortcuts for one action (the first is the one the menu shows)."""
    return [QKeySequence(k) for k in sequences]


def window_title(project, modified: bool) -> str:
    """"name \u2014 folder \u2014 Video Sound Studio" ("name *" when modified; the home folder as ~);
    the app's name alone while no project is open."""
    if project is None:
        return APP_NAME
    where = ""
    if project.path is not None:
        folder, home = Path(project.folder), Path.home()
        where = "~/" + str(folder.relative_to(home)) if home in folder.parents else str(folder)
        where = f" \u2014 {where}"
    return f"{project.name}{' *' if modified else ''}{where} \u2014 {APP_NAME}"


def existing_question(parts: dict) -> str:
    """The question before generating parts that are there: which engines, which tracks."""
    from ui.widgets.generate_panel import engine_label

    said = "; ".join(f"{engine_label(e)[0]}: {', '.join(t.name for t in tracks)}" for e, tracks in parts.items())
    return (f"The project has these tracks from an earlier generation already ({said}).\n\n"
            "Replace them with the new ones, or add the new ones as a variation beside them?")


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowIcon(icon("app"))
        screen = self.screen()
        self.resize(initial_size(screen.availableGeometry().size() if screen is not None else None))
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.AnimatedDocks | QMainWindow.AllowTabbedDocks)
        self.setTabPosition(Qt.RightDockWidgetArea, QTabWidget.North)
        self.doc = Document(self)
        self.workers = Workers(self)
        self.playback = Playback(self.doc, self.workers, self)
        self.controller = Controller(self.doc, self.workers, self)
        self.controller.ask_restore = self._ask_restore
        self.controller.ask_external_audio = self._ask_external_audio
        self.controller.ask_existing = self._ask_existing
        self.last_error: str | None = None
        self.loop_region = None

        self.preview = VideoPreview(self.doc, self)
        self.transport = TransportBar(self.doc, self.playback, self)
        self.timeline = TimelineView(self.doc, self.workers, self)
        top = QWidget(self)
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.setSpacing(0)
        tl.addWidget(self.preview, 1)
        tl.addWidget(self.transport)
        split = QSplitter(Qt.Vertical, self)
        split.addWidget(top)
        split.addWidget(self.timeline)
        split.setStretchFactor(0, 4)  # the timeline a little more than the picture: on a 768 px
        split.setStretchFactor(1, 5)  # laptop screen it shows three track lanes, not two
        split.setHandleWidth(4)
        self.editor = split
        self.pages = QStackedWidget(self)  # the start page while no project is open, else the editor
        self.setCentralWidget(self.pages)

        self.inspector = Inspector(self.doc, self)
        self.generate_panel = GeneratePanel(self.doc, self)
        self.inspector_dock = self._dock("Inspector", self.inspector)
        self.generate_dock = self._dock("Generate", self.generate_panel)
        self.history = QUndoView(self.doc.undo_stack, self)
        self.history.setEmptyLabel("Opened project")
        self.history_dock = self._dock("History", self.history, scroll=False)  # a list view scrolls itself
        self.tabifyDockWidget(self.inspector_dock, self.generate_dock)
        self.tabifyDockWidget(self.generate_dock, self.history_dock)
        self.mixer = MixerPanel(self.doc, self.playback, self)  # meters, master fader (ui/widgets/mixer_panel.py)
        self.mixer_dock = self._dock("Mixer", self.mixer, scroll=False)  # its track strips scroll
        self.tabifyDockWidget(self.history_dock, self.mixer_dock)
        self.inspector_dock.raise_()

        self._build_status()
        self._build_actions()
        self.start_page = StartPage(self.projects.recent, self, demo_available=DEMO.is_file())
        self.pages.addWidget(self.start_page)
        self.pages.addWidget(self.editor)
        self._connect()
        self._update_title()
        from ui.keys import SpacePlays

        self.space_plays = SpacePlays(self, self.act_play)  # Space from a spin box too (ui/keys.py)
        QApplication.instance().installEventFilter(self.space_plays)
        settings = QSettings()
        if settings.value("window/geometry") is not None:
            self.restoreGeometry(settings.value("window/geometry"))
            self.restoreState(settings.value("window/state"))

    def _dock(self, title: str, widget: QWidget, scroll: bool = True) -> QDockWidget:
        """A dock on the right; its content scrolls (``scroll``), so a tall panel such as Generate
        never sets the window's minimum size (it fits 1280x720 screens)."""
        d = QDockWidget(title, self)
        d.setObjectName(title)
        if scroll:
            area = QScrollArea(d)
            area.setObjectName(f"{title}Scroll")
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.NoFrame)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
            area.setWidget(widget)
            widget = area
        d.setWidget(widget)
        d.setFeatures(QDockWidget.DockWidgetClosable)
        d.setTitleBarWidget(QWidget(d))  # the tab names the dock; no second title above it
        d.setMinimumWidth(DOCK_MIN_W)
        self.addDockWidget(Qt.RightDockWidgetArea, d)
        return d

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.job_label = QLabel("", self)
        self.job_bar = QProgressBar(self, minimum=0, maximum=1000, maximumWidth=220)
        self.job_cancel = QPushButton("Cancel", self)
        self.job_cancel.clicked.connect(self.controller.cancel)
        for w in (self.job_label, self.job_bar, self.job_cancel):
            sb.addPermanentWidget(w)
            w.hide()

    def set_follow_daw(self, on: bool) -> None:
        """Transport › Follow DAW: the DAW's clock drives playback (ui/playback.py:set_follow)."""
        from studio.errors import DeviceError

        try:
            self.playback.set_follow(on)
        except DeviceError as exc:
            self.act_follow.setChecked(False)
            self.statusBar().showMessage(f"cannot follow the DAW: {exc}", 8000)
            return
        self.statusBar().showMessage("following the DAW: its clock on 'Studio Sync' plays, stops and locates"
                                     if on else "no longer following the DAW", 5000)

    def action(self, text: str, slot, shortcut=None, icon_name: str | None = None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if icon_name:
            a.setIcon(icon(icon_name))
        if isinstance(shortcut, QKeySequence.StandardKey):
            a.setShortcuts(shortcut)
        elif shortcut is not None:
            a.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        a.setToolTip(tip or text.replace("\u2026", ""))
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        pb = self.playback
        self.projects = ProjectCommands(self)  # New, Open, Open Recent, Close, Save As (ui/project_menu.py)
        pj = self.projects
        self.act_new, self.act_new_video, self.act_open = pj.act_new, pj.act_new_video, pj.act_open
        self.act_close, self.act_save_as = pj.act_close, pj.act_save_as
        self.act_new_video.setIconText("New from Video")
        self.act_import = self.action("Import Audio\u2026", self.import_audio_dialog, "Ctrl+I")
        self.act_save = self.action("Save", self.save, QKeySequence.Save, "save")
        self.act_export = self.action("Export\u2026", self.export_dialog, "Ctrl+E", "export")
        self.act_quit = self.action("Quit", self.close, QKeySequence.Quit)
        self.act_undo = self.doc.undo_stack.createUndoAction(self, "Undo")
        self.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.act_undo.setIcon(icon("undo"))
        self.act_redo = self.doc.undo_stack.createRedoAction(self, "Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.act_redo.setIcon(icon("redo"))
        self.act_play = self.action("Play / Pause", pb.toggle, "Space", "play")
        self.act_stop = self.action("Stop", pb.stop, None, "stop")
        self.act_home = self.action("Go to Start", lambda: pb.seek(0.0), "Home", "home")
        self.act_end = self.action("Go to End", lambda: pb.seek(self.doc.project.duration_s if self.doc.project else 0), "End")
        self.act_generate = self.action("Generate\u2026", self.show_generate, "Ctrl+G", "generate",
                                         "Open the Generate panel")
        self.act_routing = self.action("Audio && MIDI Routing\u2026", self.routing_dialog, None, "routing")
        self.act_follow = self.action("Follow DAW (MIDI Clock / MTC)", self.set_follow_daw, None, None,
                                      "Play, stop and locate with the DAW: connect its MIDI clock or MTC "
                                      "output to the 'Studio Sync' input")
        self.act_follow.setCheckable(True)
        self.act_follow_speed = self.action("Follow DAW Speed (Varispeed)", pb.set_follow_speed, None, None,
                                            "While following the DAW: play the video, audio and MIDI at the DAW's "
                                            "speed when its tempo differs from the project's (the pitch follows, "
                                            "as tape varispeed) instead of jumping back onto it")
        self.act_follow_speed.setCheckable(True)
        self.act_follow_speed.setChecked(pb.follow_speed)
        self.act_zoom_in = self.action("Zoom In", lambda: self.timeline.zoom(1.5), keys("+", "=", "Ctrl+="),
                                       "zoom_in", "Zoom the timeline in (+, Ctrl+wheel)")
        self.act_zoom_out = self.action("Zoom Out", lambda: self.timeline.zoom(1 / 1.5), keys("-", "Ctrl+-"),
                                        "zoom_out", "Zoom the timeline out (-, Ctrl+wheel)")
        self.act_fit = self.action("Fit Video", self.timeline.canvas.fit, "Ctrl+0")
        self._build_plot_actions()
        self._build_edit_actions()
        self.act_legend = self.action("Timeline Legend", self.legend_dialog, None, None,
                                      "What the timeline's lines and marks mean")
        self.act_about = self.action("About Video Sound Studio", self.about_dialog)
        mb = self.menuBar()
        for title, actions in (
            ("&File", [self.act_new, self.act_new_video, None, self.act_open, pj.recent_menu, pj.act_demo, None,
                       self.act_close, self.act_save, self.act_save_as, None, self.act_import, self.act_export, None,
                       self.act_quit]),
            ("&Edit", [self.act_undo, self.act_redo, None, self.act_select_all, self.act_copy, self.act_paste,
                       self.act_duplicate, self.act_delete, None, self.act_edit_notes, self.act_separate]),
            ("&Transport", [self.act_play, self.act_stop, self.act_home, self.act_end, None, self.act_follow,
                            self.act_follow_speed]),
            ("&Generate", [self.act_generate, None, self.act_routing]),
            ("&View", [self.act_zoom_in, self.act_zoom_out, self.act_fit, None,
                       self.act_analysis_plot, self.act_room_response, None,
                       self.inspector_dock.toggleViewAction(), self.generate_dock.toggleViewAction(),
                       self.history_dock.toggleViewAction(), self.mixer_dock.toggleViewAction()]),
            ("&Help", [self.act_legend, None, self.act_about]),
        ):
            m = mb.addMenu(title)
            for a in actions:
                if a is None:
                    m.addSeparator()
                elif isinstance(a, QMenu):
                    m.addMenu(a)
                else:
                    m.addAction(a)
        tb = QToolBar("Main", self)
        tb.setObjectName("main-toolbar")
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        tb.setMovable(False)
        for a in (self.act_new_video, self.act_open, self.act_save, None, self.act_undo, self.act_redo, None,
                  self.act_generate, self.act_export, self.act_routing):
            tb.addSeparator() if a is None else tb.addAction(a)
        for a in (self.act_undo, self.act_redo):
            tb.widgetForAction(a).setToolButtonStyle(Qt.ToolButtonIconOnly)
        self.addToolBar(tb)

    def _build_edit_actions(self) -> None:
        """Select All, Copy, Paste, Duplicate and Delete on the timeline's selection (hits on a
        Foley lane; a whole track where no hit is selected): each says in the status bar what it
        did and is one undo step. A text field or spin box with the focus keeps these keys."""
        c = self.timeline.canvas

        def say(fn):
            return lambda: self.doc.project is not None and self.statusBar().showMessage(fn(), 5000)

        self.act_select_all = self.action("Select All", say(c.select_all), QKeySequence.SelectAll, None,
                                          "Select every hit of the selected Foley lane")
        self.act_copy = self.action("Copy", say(c.copy_selection), QKeySequence.Copy, None,
                                    "Copy the selected hits or, with none selected, every track's notes and "
                                    "hits in the loop region")
        self.act_paste = self.action("Paste", say(c.paste), QKeySequence.Paste, None,
                                     "Paste at the playhead: copied hits on the selected Foley lane, a copied "
                                     "region into its tracks")
        self.act_duplicate = self.action("Duplicate", say(c.duplicate_selection), "Ctrl+D", None,
                                         "Duplicate the selected hits (after themselves) or, with none selected, "
                                         "the loop region's notes and hits (after it), else the selected track")
        self.act_delete = self.action("Delete", say(c.delete_selection), keys("Delete", "Backspace"), None,
                                      "Delete the selected hits or, with none selected, the selected track")
        self.act_edit_notes = self.action("Edit Notes\u2026", lambda: self.edit_notes(), None, None,
                                          "Open the selected MIDI track in the piano roll (or double-click "
                                          "its lane, or press Enter on it)")
        from ui.keypoints import KeypointCommands

        self.keypoint_commands = KeypointCommands(self)  # Separate Player, people, Motion sections lane
        self.act_separate = self.keypoint_commands.act_separate

    def _build_plot_actions(self) -> None:
        self.act_analysis_plot = self.action("Analysis Plot", self.analysis_plot_window, None, None,
                                             "The video analysis as a plot: onset envelope, beats, contacts, "
                                             "cuts and the tempo map (pyqtgraph; click to seek)")
        self.act_room_response = self.action("Room Response\u2026", self.room_response_window, None, None,
                                             "The selected track's binaural impulse response, energy decay "
                                             "(T30, DRR) and magnitude in its room, at the playhead")

    def edit_notes(self, track_id: str | None = None) -> None:
        """The piano roll on a MIDI track (ui/widgets/piano_roll): its own window, its own keys."""
        from ui.widgets.piano_roll import open_piano_roll

        if self.doc.project is not None:
            message = open_piano_roll(self, track_id or self.doc.selected_track)
            if message:
                self.statusBar().showMessage(message, 5000)

    def analysis_plot_window(self) -> None:
        from ui.widgets.analysis_plot import open_analysis_plot  # pyqtgraph loads on first use

        open_analysis_plot(self)

    def room_response_window(self) -> None:
        from ui.widgets.room_response import open_room_response

        open_room_response(self)

    def legend_dialog(self) -> None:
        from ui.widgets.legend import LegendDialog

        dlg = LegendDialog(self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.open()
        self.legend_window = dlg

    def about_text(self) -> str:
        """The About box: version, engines, and the ONNX provider each model really runs on."""
        from PySide6 import __version__ as pyside_version

        from studio.about import build_info

        b = build_info()
        models = "".join(f"<tr><td>{m}</td><td>{p}</td></tr>" for m, p in b["models"].items()) or \
            "<tr><td colspan=2>no models in this build</td></tr>"
        return (f"<h3>Video Sound Studio {b['version']}</h3>"
                f"<p>Engines: {', '.join(b['engines']) or 'none'}<br>"
                f"ONNX Runtime {b['onnxruntime']} ({', '.join(b['onnx_providers_available'])})<br>"
                f"Soundfont: {b['soundfont']}<br>Python {b['python']}, PySide6 {pyside_version}</p>"
                f"<table><tr><th align=left>model</th><th align=left>runs on</th></tr>{models}</table>")

    def about_dialog(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.about(self, "About Video Sound Studio", self.about_text())

    def _connect(self) -> None:
        d, c, pb = self.doc, self.controller, self.playback
        pb.positionChanged.connect(self._position)
        pb.stateChanged.connect(lambda s: self.timeline.set_playing(s == "playing"))
        pb.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.timeline.canvas.seekRequested.connect(pb.seek)
        self.timeline.canvas.loopChanged.connect(self.transport.set_loop)
        self.transport.loopEdited.connect(self._loop_edited)
        self.transport.gridRequested.connect(c.set_grid)
        self.transport.tempoFromVideoRequested.connect(c.tempo_from_analysis)
        self.transport.message.connect(lambda m: self.statusBar().showMessage(m, 5000))
        self.timeline.canvas.gridRequested.connect(c.set_grid)
        self.timeline.legendRequested.connect(self.legend_dialog)
        self.timeline.canvas.editNotesRequested.connect(self.edit_notes)
        self.inspector.roomResponseRequested.connect(self.room_response_window)
        c.error.connect(self.report_error)
        c.info.connect(lambda m: self.statusBar().showMessage(m, 8000))
        c.busyChanged.connect(self._busy)
        c.progress.connect(self._progress)
        c.exported.connect(self._exported)
        gp = self.generate_panel
        gp.generateRequested.connect(c.generate)
        gp.regenerateRequested.connect(c.regenerate)
        gp.analyseRequested.connect(c.analyse)
        gp.tempoFromAnalysisRequested.connect(c.tempo_from_analysis)
        gp.cancelRequested.connect(c.cancel)
        gp.drawKeyboardRequested.connect(self.preview.start_box_drawing)
        gp.keyboardBoxChanged.connect(self.preview.set_keyboard_box)
        self.preview.keyboardBoxDrawn.connect(gp.set_keyboard_box)
        self.preview.message_for_user.connect(lambda m: self.statusBar().showMessage(m, 8000))
        sp, pj = self.start_page, self.projects
        sp.newRequested.connect(pj.new_project)
        sp.newFromVideoRequested.connect(pj.new_from_video)
        sp.openRequested.connect(pj.open_dialog)
        sp.demoRequested.connect(pj.open_demo)
        sp.projectChosen.connect(pj.open_recent)
        d.projectReset.connect(self._project_reset)
        d.modifiedChanged.connect(lambda _m: self._update_title())
        d.autosaved.connect(lambda p: self.statusBar().showMessage(f"autosaved {Path(p).name}", 3000))
        self._project_reset()

    # -- reactions ------------------------------------------------------------------------------
    def _position(self, t: float) -> None:
        self.preview.show_time(t)
        self.timeline.canvas.set_position(t)
        self.inspector.set_time(t)

    def _loop_edited(self, region) -> None:
        self.loop_region = region
        self.timeline.canvas.loop = region
        self.timeline.canvas.update()
        self.generate_panel.set_loop_region(region)

    def _project_reset(self) -> None:
        has = self.doc.project is not None
        self.pages.setCurrentWidget(self.editor if has else self.start_page)
        for a in (self.act_close, self.act_save, self.act_save_as, self.act_export, self.act_import, self.act_play,
                  self.act_stop, self.act_home, self.act_end, self.act_routing, self.act_analysis_plot,
                  self.act_room_response):
            a.setEnabled(has)
        self._update_title()
        self._position(0.0)

    def _busy(self, busy: bool, name: str) -> None:
        for w in (self.job_label, self.job_bar, self.job_cancel):
            w.setVisible(busy)
        self.job_label.setText(name)
        self.job_bar.setValue(0)
        self.generate_panel.set_busy(busy, name)

    def _progress(self, fraction: float, message: str) -> None:
        self.job_bar.setValue(int(fraction * 1000))
        if message:
            self.job_label.setText(message)
        self.generate_panel.show_progress(fraction, message)

    def _update_title(self) -> None:
        self.setWindowTitle(window_title(self.doc.project, self.doc.modified))

    def report_error(self, title: str, message: str) -> None:
        """Show a user error without blocking (the window stays usable)."""
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message}", 10000)
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def _exported(self, report) -> None:
        """Remember the levels (the export dialog's "Last export") and say where the files went,
        with a button that opens that folder in the file manager."""
        from ui.widgets.export_dialog import levels_text, remember_report

        self.last_export = report
        remember_report(report)
        folder, n = self.controller.export_folder, len(report.files)
        box = QMessageBox(QMessageBox.Information, "Export finished",
                          f"Exported {n} file{'s' * (n != 1)}" + (f" to {folder}" if folder else "")
                          + f".\nMix: {levels_text(report)}.", QMessageBox.Close, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        if folder is not None:
            opener = box.addButton("Open folder", QMessageBox.ActionRole)
            opener.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))
            box.setDefaultButton(opener)
        self.export_done_box = box
        box.open()

    def _ask_external_audio(self, paths: list[str]) -> bool:
        shown = "\n".join(paths[:8]) + (f"\n\u2026 and {len(paths) - 8} more" if len(paths) > 8 else "")
        answer = QMessageBox.question(
            self, "Audio from outside the project",
            "This project plays audio files from outside its folder:\n\n" + shown +
            "\n\nExport them into the mix and stems? Only agree if you trust where the project came from.",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def _ask_existing(self, parts: dict) -> str | None:
        """Generating parts that are there already: Replace (the old tracks of those engines go,
        one undo step), Add as a variation (new tracks beside them, "Drums 2") or Cancel (None)."""
        from studio.generate import REPLACE, VARIATION

        box = QMessageBox(QMessageBox.Question, "Generate again", existing_question(parts), QMessageBox.NoButton, self)
        replace = box.addButton("Replace", QMessageBox.DestructiveRole)
        variation = box.addButton("Add as a variation", QMessageBox.AcceptRole)
        box.addButton(QMessageBox.Cancel)
        replace.setToolTip("the old tracks of these engines go; one Undo brings them back")
        variation.setToolTip("keep the old tracks and add the new ones beside them, named uniquely")
        box.setDefaultButton(variation)
        box.exec()
        clicked = box.clickedButton()
        return REPLACE if clicked is replace else VARIATION if clicked is variation else None

    def _ask_restore(self, path: Path) -> bool:
        answer = QMessageBox.question(self, "Recover autosave",
                                      f"{path.name} has an autosave newer than the saved project "
                                      "(the studio was closed without saving). Open the autosave?")
        return answer == QMessageBox.Yes

    # -- commands -------------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Before replacing or closing a modified project: save, discard, or cancel (False)."""
        if not (self.doc.modified and self.doc.project is not None):
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.doc.project.name}?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel)
        if answer == QMessageBox.Discard:
            self.doc.discard_autosave()  # discarded changes are not offered back as a recovery
            return True
        return answer == QMessageBox.Save and self.save()

    def import_audio_dialog(self) -> None:
        from ui.controller import AUDIO_SUFFIXES

        exts = " ".join(f"*{s}" for s in sorted(AUDIO_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, "Import audio as a track", "", f"Audio ({exts})")
        if path:
            self.controller.import_audio(path)

    def save(self) -> bool:
        return self.controller.save() if self.doc.project is not None else False

    def show_generate(self) -> None:
        self.generate_dock.show()
        self.generate_dock.raise_()
        self.generate_panel.refresh()

    def export_dialog(self) -> None:
        from ui.widgets.export_dialog import ExportDialog

        dlg = ExportDialog(self.doc.project, self.loop_region, self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.controller.export(dlg.arguments()))
        dlg.open()
        self.export_window = dlg

    def routing_dialog(self) -> None:
        from ui.widgets.routing_dialog import RoutingDialog

        dlg = RoutingDialog(self.doc, self.playback.routing, self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: (self.playback.set_routing(dlg.routing()), dlg.apply_channels()))
        dlg.open()
        self.routing_window = dlg

    # -- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            path = urls[0].toLocalFile()
            from ui.controller import AUDIO_SUFFIXES

            importing = self.doc.project is not None and Path(path).suffix.lower() in AUDIO_SUFFIXES
            if importing or self.maybe_save():  # an audio file goes into the open project
                self.controller.open_path(path)

    def closeEvent(self, event) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        QApplication.instance().removeEventFilter(self.space_plays)
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        self.playback.close()
        self.workers.shutdown()
        self.preview.frames.close()
        self.timeline.canvas.thumbs.close()
