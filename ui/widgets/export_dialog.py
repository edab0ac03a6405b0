"""Export dialog: stems, mixdown, MIDI file, video with sound, REAPER project; format, rate,
bit depth, range. Choices are remembered with QSettings. It only gathers arguments for
``export.export_project``; the main window runs the export as a job."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
    QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

PREFIX = "export/"


class ExportDialog(QDialog):
    def __init__(self, project, loop_region=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.project, self.loop_region = project, loop_region
        self.settings = QSettings()
        root = QVBoxLayout(self)

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

        what = QGroupBox("What", self)
        wl = QVBoxLayout(what)
        self.stems = QCheckBox("Stems (one file per track)", self)
        self.mix = QCheckBox("Mixdown", self)
        self.midi = QCheckBox("MIDI file (with tempo map)", self)
        self.video = QCheckBox("Video with the new sound", self)
        self.rpp = QCheckBox("DAW project (REAPER .rpp; needs the stems)", self)
        for cb in (self.stems, self.mix, self.midi, self.video, self.rpp):
            wl.addWidget(cb)
        self.rpp.toggled.connect(lambda on: on and self.stems.setChecked(True))
        self.stems.toggled.connect(lambda on: on or self.rpp.setChecked(False))
        has_midi = any(t.notes for t in project.audible_tracks())
        self.midi.setEnabled(has_midi)
        self.midi.setToolTip("" if has_midi else "no audible MIDI track to write")
        self.video.setEnabled(project.video is not None)
        root.addWidget(what)

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
        self.limiter = QCheckBox("Peak limiter on the mixdown", self)
        self.overwrite = QCheckBox("Replace existing files", self)
        f.addRow("File type", self.file_format)
        f.addRow("Sample rate", self.rate)
        f.addRow("Bit depth", self.depth)
        f.addRow("Range", self.range)
        f.addRow("", self.limiter)
        f.addRow("", self.overwrite)
        root.addWidget(fmt)

        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        self.buttons.button(QDialogButtonBox.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        root.addWidget(self.buttons)
        self._load()
        for w in (self.stems, self.mix, self.midi, self.video, self.rpp):
            w.toggled.connect(self._validate)
        self.folder.textChanged.connect(self._validate)
        self._validate()

    # -- settings -------------------------------------------------------------------------------
    def _load(self) -> None:
        s = self.settings
        default_folder = str(self.project.folder / "export") if self.project.path else str(Path.home())
        self.folder.setText(str(s.value(PREFIX + "folder", default_folder)))
        self.base.setText(self.project.name)
        for key, cb, default in (("stems", self.stems, True), ("mix", self.mix, True), ("midi", self.midi, True),
                                 ("video", self.video, False), ("rpp", self.rpp, False),
                                 ("limiter", self.limiter, False), ("overwrite", self.overwrite, False)):
            cb.setChecked(cb.isEnabled() and str(s.value(PREFIX + key, default)).lower() in ("true", "1"))
        self.file_format.setCurrentText(str(s.value(PREFIX + "format", "wav")))
        self.rate.setCurrentIndex(max(0, self.rate.findData(int(s.value(PREFIX + "rate", self.project.sample_rate)))))
        self.depth.setCurrentIndex(max(0, self.depth.findData(str(s.value(PREFIX + "depth", "24")))))

    def _save(self) -> None:
        s = self.settings
        s.setValue(PREFIX + "folder", self.folder.text())
        for key, cb in (("stems", self.stems), ("mix", self.mix), ("midi", self.midi), ("video", self.video),
                        ("rpp", self.rpp), ("limiter", self.limiter), ("overwrite", self.overwrite)):
            s.setValue(PREFIX + key, cb.isChecked())
        s.setValue(PREFIX + "format", self.file_format.currentText())
        s.setValue(PREFIX + "rate", self.rate.currentData())
        s.setValue(PREFIX + "depth", self.depth.currentData())
        s.sync()

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if d:
            self.folder.setText(d)

    def _validate(self) -> None:
        any_on = any(cb.isChecked() for cb in (self.stems, self.mix, self.midi, self.video, self.rpp))
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(any_on and bool(self.folder.text().strip()))

    def accept(self) -> None:
        self._save()
        super().accept()

    def arguments(self) -> dict:
        """Keyword arguments for ``export.export_project`` (folders are created by the caller)."""
        folder = Path(self.folder.text().strip()).expanduser()
        base = self.base.text().strip() or self.project.name
        ext = self.file_format.currentText()
        return {
            "stems_dir": folder / f"{base} stems" if self.stems.isChecked() else None,
            "mix_path": folder / f"{base} mix.{ext}" if self.mix.isChecked() else None,
            "midi_path": folder / f"{base}.mid" if self.midi.isChecked() and self.midi.isEnabled() else None,
            "video_path": folder / f"{base} with sound.mp4" if self.video.isChecked() else None,
            "rpp_path": folder / f"{base}.rpp" if self.rpp.isChecked() else None,
            "sample_rate": self.rate.currentData(),
            "bit_depth": self.depth.currentData(),
            "file_format": ext,
            "time_range": self.range.currentData(),
            "limiter": self.limiter.isChecked(),
            "overwrite": self.overwrite.isChecked(),
        }
