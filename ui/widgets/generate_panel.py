"""The Generate panel: the installed engines with their main settings, analysis/tempo set-up,
the running job's progress with Cancel, and re-generation of one track or the loop region.

Engines are read from ``studio.generate.available_engines()`` each time the panel is shown, with
the label and tooltip their adapter module declares (``LABEL``, ``TOOLTIP``/``HELP``), so an
engine that lands in ``ADAPTERS`` is offered without UI changes."""
from __future__ import annotations

import random

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QCompleter, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from ui import beatgrid, theme

def engine_label(name: str) -> tuple[str, str]:
    """The check box's label and tooltip of an engine: its adapter's LABEL and TOOLTIP (else
    HELP) metadata (studio.adapters.info, read without importing the adapter)."""
    from studio import adapters

    info = adapters.info(name)
    return info.label, info.tooltip


def engine_inpaints(name: str) -> bool:
    """True when ``name``'s engine makes a region of its own track again itself (its adapter's
    INPAINTS: an audio track with no notes to splice, as the ambience engine's)."""
    from studio import adapters

    return adapters.info(name).inpaints


INSTRUMENTS = ("drums", "guitar", "violin", "piano")  # engines/performer/infer.py INSTRUMENTS
# the rhythm engine's styles, then the soundtrack's moods (each engine maps the other's words)
STYLES = ("", "rock", "funk", "hip-hop", "electronic", "latin", "jazz", "calm", "tense", "happy", "dark",
          "epic", "lo-fi", "orchestral")
ROOMS = ("studio", "living_room", "hall")  # the spatial engine's preset rooms with a trained field


class WordCompleter(QCompleter):
    """Completes the word being typed in a comma-separated list ("rain, ci" -> "rain, city"), the
    words before it kept: the ambience words field."""

    def __init__(self, words, line_edit: QLineEdit) -> None:
        super().__init__(list(words), line_edit)
        self.line_edit = line_edit
        self.setCaseSensitivity(Qt.CaseInsensitive)
        line_edit.setCompleter(self)

    def splitPath(self, path: str) -> list[str]:
        return [path.rsplit(",", 1)[-1].strip()]

    def pathFromIndex(self, index) -> str:
        head = self.line_edit.text().rsplit(",", 1)
        word = super().pathFromIndex(index)
        return f"{head[0]}, {word}" if len(head) == 2 else word


class GeneratePanel(QWidget):
    generateRequested = Signal(object)  # dict: engines, seed, style, room, material, keyboard_box, ...
    regenerateRequested = Signal(object)  # dict as above + track_id, region
    analyseRequested = Signal()
    tempoFromAnalysisRequested = Signal()
    cancelRequested = Signal()
    drawKeyboardRequested = Signal()  # the video preview lets the user drag the keyboard's box
    keyboardBoxChanged = Signal(object)  # (x, y, w, h) in video pixels, or None: found automatically

    def __init__(self, doc, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.loop_region = None
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        self.keyboard_box = None
        self._build_engines(root)
        self._build_settings(root)
        self.generate_button = QPushButton("Generate", self, objectName="primary",
                                           toolTip="run the checked engines on the video (one undo step)")
        self.generate_button.clicked.connect(self._generate)
        root.addWidget(self.generate_button)
        self._build_regenerate(root)
        self._build_analysis(root)
        self._build_job(root)
        root.addStretch(1)

        self.busy = False
        doc.projectReset.connect(lambda: self.set_keyboard_box(None))  # a box belongs to one video
        for sig in (doc.projectReset, doc.analysisChanged, doc.selectionChanged, doc.tracksChanged, doc.tempoChanged):
            sig.connect(self.refresh)
        self.refresh()

    # -- building -------------------------------------------------------------------------------
    def _build_engines(self, root: QVBoxLayout) -> None:
        """The Engines box; ``refresh`` fills it with a check box per installed engine."""
        self.engine_box = QGroupBox("Engines", self)
        self.engine_layout = QVBoxLayout(self.engine_box)
        self.no_engines = QLabel("No generation engines are installed yet.\nAnalysis and tempo set-up "
                                 "work; engines appear here when they are installed.", self, objectName="dim")
        self.no_engines.setWordWrap(True)
        self.engine_layout.addWidget(self.no_engines)
        self.checks: dict[str, QCheckBox] = {}
        root.addWidget(self.engine_box)

    def _build_settings(self, root: QVBoxLayout) -> None:
        """The Settings box: style, seed, material, room, then the piano's and performer's rows."""
        self.settings_box = QGroupBox("Settings", self)
        form = QFormLayout(self.settings_box)
        self.style = QComboBox(self, editable=True)
        self.style.addItems(STYLES)
        self.style.setToolTip("style word for the engines that take one (soundtrack, rhythm)")
        # the empty first item: each engine picks its own style from the picture
        self.style.lineEdit().setPlaceholderText("auto (from the picture)")
        seed_row = QHBoxLayout()
        self.seed = QSpinBox(self, minimum=0, maximum=2**31 - 1)
        self.seed.setMinimumWidth(80)  # not the width of ten digits: the dock stays narrow
        self.seed.setToolTip("the same seed and settings give the same tracks again; another seed, another take")
        dice = QPushButton("New", self, toolTip="a random seed")
        dice.clicked.connect(lambda: self.seed.setValue(random.randrange(2**31 - 1)))
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(dice)
        self.material = QComboBox(self)
        self.material.addItem("as detected", None)
        for m in theme.MATERIALS:
            self.material.addItem(m, m)
        self.material.setToolTip("material of every generated Foley hit")
        self.room = QComboBox(self, editable=True)
        self.room.addItems(ROOMS)
        self.room.setToolTip("the room the spatial engine places the tracks in (binaural stems and mix)")
        self.style_label, self.material_label, self.room_label = QLabel("Style"), QLabel("Material"), QLabel("Room")
        form.addRow(self.style_label, self.style)
        form.addRow("Seed", seed_row)
        form.addRow(self.material_label, self.material)
        form.addRow(self.room_label, self.room)
        self._build_keyboard_row(form)
        self._build_performer_rows(form)
        self._build_ambience_rows(form)
        self.motion_sections = QCheckBox("Follow motion sections", self)
        self.motion_sections.setToolTip("where the player's movement changes kind (the timeline's Motion sections "
                                        "lane): the soundtrack starts a section, the drums play a fill and change "
                                        "groove (needs the video's keypoints: studio pose VIDEO)")
        form.addRow(self.motion_sections)
        self.keypoints.textChanged.connect(self._show_settings)  # a named file brings the box
        root.addWidget(self.settings_box)

    def _build_keyboard_row(self, form: QFormLayout) -> None:
        """The piano engine's keyboard box: found in the picture, or drawn on the video."""
        kb_row = QHBoxLayout()
        self.keyboard_text = QLabel("found in the picture", self, objectName="dim")
        self.keyboard_draw = QPushButton("Draw", self, toolTip="drag the keyboard's box on the video")
        self.keyboard_auto = QPushButton("Auto", self, toolTip="find the keyboard in the picture")
        self.keyboard_draw.clicked.connect(self.drawKeyboardRequested)
        self.keyboard_auto.clicked.connect(lambda: self.set_keyboard_box(None))
        kb_row.addWidget(self.keyboard_text, 1)
        kb_row.addWidget(self.keyboard_draw)
        kb_row.addWidget(self.keyboard_auto)
        self.keyboard_label = QLabel("Keyboard")
        form.addRow(self.keyboard_label, kb_row)
        self._keyboard_widgets = (self.keyboard_label, self.keyboard_text, self.keyboard_draw, self.keyboard_auto)

    def _build_performer_rows(self, form: QFormLayout) -> None:
        """The performer engine's instrument and keypoint file."""
        self.instrument = QComboBox(self)
        self.instrument.addItems(INSTRUMENTS)
        self.instrument.setToolTip("the instrument the player in the video plays")
        kp_row = QHBoxLayout()
        self.keypoints = QLineEdit(self, placeholderText="beside the video, else from the picture")
        self.keypoints.setToolTip("MediaPipe or OpenPose keypoints of the player, one set per video frame; "
                                  "empty: VIDEO.keypoints.json beside the video, else MediaPipe Pose tracks "
                                  "the player in the picture")
        browse = QPushButton("\u2026", self, toolTip="choose a keypoint file")
        browse.clicked.connect(self._browse_keypoints)
        kp_row.addWidget(self.keypoints, 1)
        kp_row.addWidget(browse)
        self.instrument_label, self.keypoints_label = QLabel("Instrument"), QLabel("Keypoints")
        form.addRow(self.instrument_label, self.instrument)
        form.addRow(self.keypoints_label, kp_row)
        self._performer_widgets = (self.instrument_label, self.instrument, self.keypoints_label, self.keypoints, browse)

    def _build_ambience_rows(self, form: QFormLayout) -> None:
        """The ambience engine's words (checked as they are typed by the engine's parser, the
        words it knows completed and listed in the tooltip) and the line that says what is wrong."""
        try:
            from studio.adapters.ambience import known_words, word_choices

            known, choices = known_words(), word_choices()
        except ImportError:  # the engine is not part of this build: the row is never shown
            known, choices = (), ()
        self.ambience_words = QLineEdit(self, placeholderText="none: the picture alone (e.g. rain, city)")
        self.ambience_words.setToolTip("words the ambience should sound like, separated by commas; the model knows "
                                       + ", ".join(known) + " (and everyday words such as rain, city, crowd, "
                                       "traffic, which it maps onto those)")
        self.ambience_completer = WordCompleter(choices, self.ambience_words)
        self.ambience_error = QLabel("", self, objectName="error")
        self.ambience_error.setWordWrap(True)
        self.ambience_words.textChanged.connect(self.check_ambience_words)
        self.ambience_label = QLabel("Ambience")
        form.addRow(self.ambience_label, self.ambience_words)
        form.addRow(self.ambience_error)
        self.ambience_error.hide()

    def check_ambience_words(self) -> str | None:
        """The engine's message for the words typed (None when it takes them), shown under the
        field while the Ambience engine is checked."""
        from studio.errors import StudioError

        if "ambience" not in self.checks:
            self.ambience_error.hide()
            return None
        from studio.adapters.ambience import parse_words

        try:
            parse_words(self.ambience_words.text())
            problem = None
        except StudioError as exc:
            problem = str(exc)
        self.ambience_error.setText(problem or "")
        self.ambience_error.setVisible(problem is not None and "ambience" in self.checked_engines())
        return problem

    def _build_regenerate(self, root: QVBoxLayout) -> None:
        regen = QGroupBox("Selected track", self)
        rl = QVBoxLayout(regen)
        # short labels (the tooltips say the rest): the dock fits beside the timeline at 1280 px
        self.regen_track = QPushButton("Re-generate track", self,
                                       toolTip="make the selected track again with a new seed")
        self.regen_region = QPushButton("Re-generate loop region", self,
                                        toolTip="make the selected track again with a new seed, inside the loop "
                                                "region only")
        self.regen_track.clicked.connect(lambda: self._regenerate(False))
        self.regen_region.clicked.connect(lambda: self._regenerate(True))
        rl.addWidget(self.regen_track)
        rl.addWidget(self.regen_region)
        root.addWidget(regen)

    def _build_analysis(self, root: QVBoxLayout) -> None:
        ana = QGroupBox("Analysis", self)
        al = QVBoxLayout(ana)
        self.analysis_label = QLabel("", self, objectName="dim")
        self.analysis_label.setWordWrap(True)
        al.addWidget(self.analysis_label)
        row = QVBoxLayout()  # stacked, as the track's buttons: side by side they widen the dock
        self.analyse_button = QPushButton("Analyse again", self,
                                          toolTip="analyse the video again: beats, contacts and impacts, cuts")
        self.tempo_button = QPushButton("Tempo from video", self,
                                        toolTip="the grid the analysis found: the visual beats, bar 1 on the first "
                                                "downbeat (tracks on the grid are generated again)")
        self.analyse_button.clicked.connect(self.analyseRequested)
        self.tempo_button.clicked.connect(self.tempoFromAnalysisRequested)
        row.addWidget(self.analyse_button)
        row.addWidget(self.tempo_button)
        al.addLayout(row)
        root.addWidget(ana)

    def _build_job(self, root: QVBoxLayout) -> None:
        """The running job's progress bar, Cancel and message."""
        job_row = QHBoxLayout()
        self.progress = QProgressBar(self, minimum=0, maximum=1000)
        self.cancel = QPushButton("Cancel", self, toolTip="stop the running job; nothing of it is kept")
        self.cancel.clicked.connect(self.cancelRequested)
        job_row.addWidget(self.progress, 1)
        job_row.addWidget(self.cancel)
        self.job_label = QLabel("", self, objectName="dim")
        root.addLayout(job_row)
        root.addWidget(self.job_label)

    # -- state ----------------------------------------------------------------------------------
    def available(self) -> list[str]:
        from studio.generate import available_engines

        return available_engines()

    def refresh(self) -> None:
        from studio.generate import default_engines

        engines = self.available()
        for name in [n for n in self.checks if n not in engines]:
            self.checks.pop(name).deleteLater()
        for name in engines:
            if name not in self.checks:
                label, tip = engine_label(name)
                cb = QCheckBox(label, self, toolTip=tip or f"generate with the {label} engine",
                               checked=name in default_engines())
                cb.toggled.connect(self._show_settings)
                self.checks[name] = cb
                self.engine_layout.addWidget(cb)
        self.no_engines.setVisible(not engines)
        self._show_settings()
        doc = self.doc
        has_project = doc.project is not None
        ready = has_project and doc.analysis is not None and not self.busy
        self.generate_button.setVisible(bool(engines))
        self.generate_button.setEnabled(ready and bool(engines))
        track = doc.track(doc.selected_track) if has_project and doc.selected_track else None
        can_regen = ready and track is not None and track.engine in engines
        self.regen_track.setEnabled(can_regen)
        self.regen_region.setEnabled(can_regen and self.loop_region is not None
                                     and bool(track.notes or track.events or engine_inpaints(track.engine)))
        self.analyse_button.setEnabled(has_project and not self.busy)
        self.tempo_button.setEnabled(ready)
        a = doc.analysis
        self.analysis_label.setText(
            "open a video first" if not has_project else "not analysed yet" if a is None else
            f"{beatgrid.analysis_tempo_text(a, doc.tempo, doc.project.duration_s)}, {len(a.beat_times_s)} visual "
            f"beats, {len(a.impacts)} impacts, {len(a.cuts_s)} cut{'s' * (len(a.cuts_s) != 1)}")
        self.progress.setVisible(self.busy)
        self.cancel.setVisible(self.busy)
        self.job_label.setVisible(self.busy)

    def checked_engines(self) -> set[str]:
        return {n for n, cb in self.checks.items() if cb.isChecked()}

    def _show_settings(self) -> None:
        """Only the checked engines' settings: style for rhythm and soundtrack, material for
        Foley, room for spatial, the keyboard for piano, instrument and keypoints for the
        performer, words for ambience; the seed for any."""
        on = self.checked_engines()
        self.style_label.setVisible(bool({"rhythm", "soundtrack"} & on))
        self.style.setVisible(self.style_label.isVisible())
        self.material_label.setVisible("foley" in on)
        self.material.setVisible("foley" in on)
        self.room_label.setVisible("spatial" in on)
        self.room.setVisible("spatial" in on)
        for w in self._keyboard_widgets:
            w.setVisible("piano" in on)
        for w in self._performer_widgets:
            w.setVisible("performer" in on)
        self.ambience_label.setVisible("ambience" in on)
        self.ambience_words.setVisible("ambience" in on)
        self.check_ambience_words()
        self.motion_sections.setVisible(bool({"rhythm", "soundtrack"} & on) and self.has_keypoints())
        self.settings_box.setVisible(bool(on))

    def has_keypoints(self) -> bool:
        """True when the player's keypoints are there (named, beside the video, or estimated for
        the project): what "Follow motion sections" needs."""
        from studio.adapters.performer import estimated_path, keypoints_source
        from studio.errors import StudioError

        project = self.doc.project
        if project is None or project.video is None:
            return False
        try:
            found = keypoints_source(project, {"keypoints": self.keypoints.text().strip() or None})
        except StudioError:  # a named file that is not there
            return False
        return found is not None or (project.path is not None and estimated_path(project).exists())

    def set_loop_region(self, region) -> None:
        self.loop_region = region
        self.refresh()

    def set_busy(self, busy: bool, name: str = "") -> None:
        self.busy = busy
        self.progress.setValue(0)
        self.job_label.setText(name)
        self.refresh()

    def show_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        if message:
            self.job_label.setText(message)

    def settings(self) -> dict:
        return {
            "engines": [n for n, cb in self.checks.items() if cb.isChecked()],
            "seed": self.seed.value(),
            "style": self.style.currentText().strip() or None,
            "room": self.room.currentText().strip() or None if "spatial" in self.checks else None,
            "material": self.material.currentData(),
            "keyboard_box": self.keyboard_box,
            "instrument": self.instrument.currentText() if "performer" in self.checks else None,
            "keypoints": self.keypoints.text().strip() or None,
            "motion_sections": True if not self.motion_sections.isHidden() and self.motion_sections.isChecked()
            else None,
            "ambience": self.ambience_words.text().strip() or None if "ambience" in self.checked_engines() else None,
        }

    def set_keyboard_box(self, box) -> None:
        """The keyboard's box the user drew ((x, y, w, h), video pixels), or None to find it."""
        self.keyboard_box = None if box is None else tuple(int(round(v)) for v in box)
        self.keyboard_text.setText("found in the picture" if box is None else
                                   "{}, {}  {}\u00d7{}".format(*self.keyboard_box))
        self.keyboardBoxChanged.emit(self.keyboard_box)

    def _browse_keypoints(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Keypoints of the player", "",
                                              "Keypoints (*.json *.npz);;All files (*)")
        if path:
            self.keypoints.setText(path)

    def _generate(self) -> None:
        s = self.settings()
        if "ambience" in s["engines"] and self.check_ambience_words() is not None:
            return  # the words field says why; nothing starts
        if s["engines"]:
            self.generateRequested.emit(s)

    def _regenerate(self, region: bool) -> None:
        track = self.doc.track(self.doc.selected_track)
        s = self.settings()
        if track.engine == "ambience":
            if "ambience" not in self.checked_engines():  # the field is hidden: the track's own words again
                s["ambience"] = ", ".join(track.settings.get("words") or []) or None
            elif self.check_ambience_words() is not None:
                return
        s["seed"] = random.randrange(2**31 - 1)
        self.seed.setValue(s["seed"])
        s.update(engines=[track.engine], track_id=track.id, region=self.loop_region if region else None)
        self.regenerateRequested.emit(s)
