"""Export dialog: stems, mixdown, MIDI file, video with sound, REAPER project, whether the video's
own audio stays in them ("Keep original audio"); format, rate, bit depth, range, loudness
(mastering: -14 LUFS online, -23 LUFS broadcast, or off). Choices are remembered with QSettings.
It only gathers arguments for ``studio.exporting.export_project``; the main window runs the export
as a job and hands the report to :func:`remember_report`, so the dialog shows the measured
loudness and true peak of the last export."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

from studio.names import export_names, safe_stem

PREFIX = "export/"
LOUDNESS_CHOICES = (("-14 LUFS (online video)", -14.0), ("-23 LUFS (broadcast, EBU R128)", -23.0),
                    ("off (plain sum of the tracks)", None))


def levels_text(report) -> str:
    """'-14.0 LUFS, true peak -1.0 dBTP, no clipped samples' of an ExportReport."""
    lufs = f"{report.loudness_lufs:.1f} LUFS" if report.loudness_lufs > float("-inf") else "silent"
    peak = f"{report.true_peak_dbtp:.1f} dBTP" if report.true_peak_dbtp > float("-inf") else "-inf dBTP"
    clip = report.clipped_samples + report.stems_clipped_samples
    return f"{lufs}, true peak {peak}, " + (f"{clip} clipped samples" if clip else "no clipped samples")


def remember_report(report) -> None:
    """Keep the measured levels of an export for the dialog's "Last export" line."""
    s = QSettings()
    s.setValue(PREFIX + "last_levels", levels_text(report))
    s.sync()


class ExportDialog(QDialog):
    def __init__(self, project, loop_region=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.project, self.loop_region = project, loop_region
        self.settings = QSettings()
        root = QVBoxLayout(self)
        self._build_destination(root)
        self._build_what(root, project)
        self._build_format(root, loop_region)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        self.buttons.button(QDialogButtonBox.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        root.addWidget(self.buttons)
        self._load()
        for w in (self.stems, self.mix, self.midi, self.video, self.rpp, self.dawproject):
            w.toggled.connect(self._validate)
        self.folder.textChanged.connect(self._validate)
        self._validate()

    # -- building -------------------------------------------------------------------------------
    def _build_destination(self, root: QVBoxLayout) -> None:
        """The folder (with Browse) and the base name of the files."""
        where = QGroupBox("Destination", self)
        f = QFormLayout(where)
        row = QHBoxLayout()
        self.folder = QLineEdit(self)
        self.folder.setMinimumWidth(380)
        browse = QPushButton("Browse\u2026", self)
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        f.addRow("Folder", row)
        self.base = QLineEdit(self)
        f.addRow("Name", self.base)
        root.addWidget(where)

    def _build_what(self, root: QVBoxLayout, project) -> None:
        """Which files: stems, mix, MIDI, video, REAPER project, DAWproject (the last two need the stems)."""
        what = QGroupBox("What", self)
        wl = QVBoxLayout(what)
        self.stems = QCheckBox("Stems (one file per track)", self)
        self.mix = QCheckBox("Mixdown", self)
        self.midi = QCheckBox("MIDI file (with tempo map)", self)
        self.video = QCheckBox("Video with the new sound", self)
        self.rpp = QCheckBox("DAW project (REAPER .rpp; needs the stems)", self)
        self.dawproject = QCheckBox("DAWproject (Bitwig, Studio One .dawproject; needs the stems)", self)
        self.original = QCheckBox("Keep original audio", self)
        has_original = bool(project.original_tracks()) or bool(project.video and project.video.has_audio)
        self.original.setEnabled(has_original)
        self.original.setToolTip("the video's own sound: its \u201cOriginal audio\u201d track in the stems and the "
                                 "mix, and its audio stream in the video" if has_original
                                 else "the video has no sound of its own")
        for cb in (self.stems, self.mix, self.midi, self.video, self.rpp, self.dawproject, self.original):
            wl.addWidget(cb)
        self.rpp.toggled.connect(lambda on: on and self.stems.setChecked(True))
        self.stems.toggled.connect(lambda on: on or self.rpp.setChecked(False))
        self.dawproject.toggled.connect(lambda on: on and self.stems.setChecked(True))
        self.stems.toggled.connect(lambda on: on or self.dawproject.setChecked(False))
        has_midi = any(t.notes for t in project.audible_tracks())
        self.midi.setEnabled(has_midi)
        self.midi.setToolTip("" if has_midi else "no audible MIDI track to write")
        self.video.setEnabled(project.video is not None)
        root.addWidget(what)

    def _build_format(self, root: QVBoxLayout, loop_region) -> None:
        """File type, rate, depth, range, loudness, limiter, overwrite, and the last export's levels."""
        fmt = QGroupBox("Format", self)
        f = QFormLayout(fmt)
        self.file_format = QComboBox(self)
        self.file_format.addItems(["wav", "flac"])
        self.rate = QComboBox(self)
        for r in (44100, 48000, 96000):
            self.rate.addItem(f"{r / 1000:g} kHz", r)
        self.depth = QComboBox(self)
        for label, d in (("16 bit", "16"), ("24 bit", "24"), ("32 bit float", "float32")):
            self.depth.addItem(label, d)
        self.range = QComboBox(self)
        self.range.addItem("whole video", None)
        if loop_region is not None:
            self.range.addItem(f"loop region {loop_region[0]:.2f}\u2013{loop_region[1]:.2f} s", tuple(loop_region))
        self.loudness = QComboBox(self)
        for label, value in LOUDNESS_CHOICES:
            self.loudness.addItem(label, value)
        self.loudness.setToolTip("Mastering: the mix is brought to this integrated loudness with a -1 dBTP "
                                 "true-peak limiter, every stem is held under -1 dBTP, generated tracks get "
                                 "default levels and the reverb bus; off writes the plain sum of the tracks")
        self.limiter = QCheckBox("True-peak limiter on the mixdown (mastering always limits)", self)
        self.overwrite = QCheckBox("Replace existing files", self)
        self.last_levels = QLabel(self)
        self.last_levels.setObjectName("lastLevels")
        f.addRow("File type", self.file_format)
        f.addRow("Sample rate", self.rate)
        f.addRow("Bit depth", self.depth)
        f.addRow("Range", self.range)
        f.addRow("Loudness", self.loudness)
        f.addRow("", self.limiter)
        f.addRow("", self.overwrite)
        f.addRow("Last export", self.last_levels)
        root.addWidget(fmt)
        self.loudness.currentIndexChanged.connect(self._loudness_changed)

    # -- settings -------------------------------------------------------------------------------
    def _load(self) -> None:
        s = self.settings
        default_folder = str(self.project.folder / "export") if self.project.path else str(Path.home())
        self.folder.setText(str(s.value(PREFIX + "folder", default_folder)))
        self.base.setText(safe_stem(self.project.name))  # a shared project's name may hold "../" or "/"
        for key, cb, default in (("stems", self.stems, True), ("mix", self.mix, True), ("midi", self.midi, True),
                                 ("video", self.video, False), ("rpp", self.rpp, False),
                                 ("dawproject", self.dawproject, False),
                                 ("limiter", self.limiter, False), ("overwrite", self.overwrite, False),
                                 ("keep_original_audio", self.original, True)):
            cb.setChecked(cb.isEnabled() and str(s.value(PREFIX + key, default)).lower() in ("true", "1"))
        self.file_format.setCurrentText(str(s.value(PREFIX + "format", "wav")))
        self.rate.setCurrentIndex(max(0, self.rate.findData(int(s.value(PREFIX + "rate", self.project.sample_rate)))))
        self.depth.setCurrentIndex(max(0, self.depth.findData(str(s.value(PREFIX + "depth", "24")))))
        stored = str(s.value(PREFIX + "loudness", "-14"))
        index = next((i for i, (_, v) in enumerate(LOUDNESS_CHOICES) if str(v if v is None else int(v)) == stored
                      or (v is None and stored == "off")), 0)
        self.loudness.setCurrentIndex(index)
        self._loudness_changed()
        self.last_levels.setText(str(s.value(PREFIX + "last_levels", "not exported yet")))

    def _save(self) -> None:
        s = self.settings
        s.setValue(PREFIX + "folder", self.folder.text())
        for key, cb in (("stems", self.stems), ("mix", self.mix), ("midi", self.midi), ("video", self.video),
                        ("rpp", self.rpp), ("dawproject", self.dawproject), ("limiter", self.limiter),
                        ("overwrite", self.overwrite)):
            s.setValue(PREFIX + key, cb.isChecked())
        if self.original.isEnabled():  # a video without sound does not forget the choice
            s.setValue(PREFIX + "keep_original_audio", self.original.isChecked())
        s.setValue(PREFIX + "format", self.file_format.currentText())
        s.setValue(PREFIX + "rate", self.rate.currentData())
        s.setValue(PREFIX + "depth", self.depth.currentData())
        v = self.loudness.currentData()
        s.setValue(PREFIX + "loudness", "off" if v is None else str(int(v)))
        s.sync()

    def _loudness_changed(self, *_args) -> None:
        # with mastering on the limiter always runs; the box matters only with loudness off
        self.limiter.setEnabled(self.loudness.currentData() is None)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if d:
            self.folder.setText(d)

    def _validate(self) -> None:
        any_on = any(cb.isChecked() for cb in (self.stems, self.mix, self.midi, self.video, self.rpp,
                                               self.dawproject))
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(any_on and bool(self.folder.text().strip()))

    def accept(self) -> None:
        self._save()
        super().accept()

    def arguments(self) -> dict:
        """Keyword arguments for ``studio.exporting.export_project`` (folders are created by the caller).
        File names come from the base name through ``studio.names`` (whatever was typed or stored
        in the project), and ``root`` keeps every output inside the chosen folder."""
        folder = Path(self.folder.text().strip()).expanduser()
        ext = self.file_format.currentText()
        names = export_names(self.base.text().strip() or self.project.name, ext)
        return {
            "root": folder,
            "stems_dir": folder / names["stems_dir"] if self.stems.isChecked() else None,
            "mix_path": folder / names["mix_path"] if self.mix.isChecked() else None,
            "midi_path": folder / names["midi_path"] if self.midi.isChecked() and self.midi.isEnabled() else None,
            "video_path": folder / names["video_path"] if self.video.isChecked() else None,
            "rpp_path": folder / names["rpp_path"] if self.rpp.isChecked() else None,
            "dawproject_path": folder / names["dawproject_path"] if self.dawproject.isChecked() else None,
            "sample_rate": self.rate.currentData(),
            "bit_depth": self.depth.currentData(),
            "file_format": ext,
            "time_range": self.range.currentData(),
            "loudness_lufs": self.loudness.currentData(),
            "limiter": self.limiter.isChecked() and self.loudness.currentData() is None,
            "overwrite": self.overwrite.isChecked(),
            "keep_original_audio": self.original.isChecked() or not self.original.isEnabled(),
        }
