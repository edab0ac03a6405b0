"""Routing: the audio output device, the MIDI output port (virtual "Studio" by default) and each
MIDI track's channel. Devices and ports come from studio.transport; the transport takes one MIDI
port, so every MIDI track goes to that port, each on its own channel."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGroupBox, QLabel, QSpinBox, QVBoxLayout, QWidget,
)

from studio.errors import DeviceError
from ui import undo
from ui.playback import DEFAULT_DEVICE, Routing

VIRTUAL = "__virtual__"
OFF = "__off__"


class RoutingDialog(QDialog):
    def __init__(self, doc, routing: Routing, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Audio and MIDI routing")
        self.doc = doc
        root = QVBoxLayout(self)
        out = QGroupBox("Outputs", self)
        f = QFormLayout(out)
        self.audio = QComboBox(self)
        self.audio.addItem("System default output", DEFAULT_DEVICE)
        self.audio.addItem("No audio output (video and MIDI on the system clock)", None)
        self.problems = QLabel("", self, objectName="dim")
        self.problems.setWordWrap(True)
        problems = []
        try:
            from studio.transport import list_audio_devices

            devices = list_audio_devices()
            for d in devices:
                default = "  \u2014 default" if d.is_default else ""
                self.audio.addItem(f"{d.name} ({d.host_api}){default}", d.index)
            if not devices:
                problems.append("no audio output device found (connect one or start PipeWire/JACK)")
        except DeviceError as exc:
            problems.append(str(exc))
        self.midi = QComboBox(self)
        self.midi.addItem("Off", OFF)
        self.midi.addItem('"Studio" (virtual port for your DAW)', VIRTUAL)
        try:
            from studio.transport import choose_midi_api, list_midi_ports

            choose_midi_api()  # says why when this machine has no MIDI system at all
            for api, ports in list_midi_ports().items():
                for port in ports:
                    self.midi.addItem(f"{port} [{api}]", port)
        except DeviceError as exc:
            problems.append(str(exc))
        self.problems.setText("\n".join(problems))
        self.problems.setVisible(bool(problems))
        f.addRow("Audio device", self.audio)
        f.addRow("MIDI port", self.midi)
        f.addRow("", self.problems)
        root.addWidget(out)
        i = self.audio.findData(routing.audio_device)
        self.audio.setCurrentIndex(max(0, i))
        midi_key = OFF if routing.midi_port == "" else VIRTUAL if routing.midi_port is None else routing.midi_port
        self.midi.setCurrentIndex(max(0, self.midi.findData(midi_key)))

        self.channels: dict[str, QSpinBox] = {}
        tracks = [t for t in (doc.project.tracks if doc.project else []) if t.notes]
        if tracks:
            box = QGroupBox("MIDI channel per track", self)
            cf = QFormLayout(box)
            for t in tracks:
                spin = QSpinBox(self, minimum=1, maximum=16, value=t.channel + 1)
                spin.setToolTip("channel 10 is GM drums")
                spin.valueChanged.connect(self._check_channels)
                self.channels[t.id] = spin
                cf.addRow(t.name, spin)
            root.addWidget(box)
        # two tracks on one channel: one instrument hears both parts
        self.channel_warning = QLabel("", self, objectName="warning")
        self.channel_warning.setWordWrap(True)
        self.channel_warning.setStyleSheet("color: #f2d15c;")
        root.addWidget(self.channel_warning)
        self._check_channels()
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        root.addWidget(buttons)

    def _check_channels(self) -> None:
        """Warn while two tracks share a MIDI channel (as the spin boxes now say)."""
        import dataclasses

        from ui.generation import shared_channel_text

        tracks = [dataclasses.replace(self.doc.track(tid), channel=s.value() - 1) for tid, s in self.channels.items()]
        text = shared_channel_text(tracks)
        self.channel_warning.setText(f"⚠ {text}: one instrument would play both parts" if text else "")
        self.channel_warning.setVisible(bool(text))

    def routing(self) -> Routing:
        m = self.midi.currentData()
        return Routing(audio_device=self.audio.currentData(), midi_port="" if m == OFF else None if m == VIRTUAL else m)

    def apply_channels(self) -> None:
        """Channel changes as one undoable step."""
        changed = [(tid, s.value() - 1) for tid, s in self.channels.items() if self.doc.track(tid).channel != s.value() - 1]
        if not changed:
            return
        self.doc.undo_stack.beginMacro("MIDI routing")
        for tid, ch in changed:
            undo.edit_track(self.doc, tid, f"Channel {ch + 1}", None, channel=ch)
        self.doc.undo_stack.endMacro()
