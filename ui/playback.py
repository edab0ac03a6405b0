"""Qt adapter over studio.transport: the transport is the master clock; a 60 Hz GUI timer reads
its position for the playhead and the video preview. Transport events (from its threads) come
back to the GUI thread through a queued signal.

Routing (``Routing``): the audio output device (None: no audio, the system clock drives video and
MIDI) and the MIDI port (None: the virtual "Studio" port, "" for no MIDI). Audio tracks with a
file play through the device with their mixer gain/pan, honouring mute and solo; MIDI tracks are
scheduled to the port on each track's channel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from studio.errors import DeviceError, StudioError
from studio.transport import State, Transport


@dataclass(frozen=True)
class Routing:
    audio_device: int | str | None = None  # None: no audio output
    midi_port: str | None = None  # None: virtual "Studio"; "": MIDI off


def _track_sources(project, sample_rate: int, job=None) -> list:
    """BufferSources of the audible tracks that have an audio file (gain and pan applied)."""
    from studio import media
    from studio.transport import BufferSource

    out = []
    for t in project.audible_tracks():
        if not t.audio_path or not project.resolve(t.audio_path).exists():
            continue
        audio, sr = media.read_audio(project.resolve(t.audio_path), sample_rate=sample_rate)
        if audio.shape[0] == 1:
            audio = np.repeat(audio, 2, axis=0)
        gain = 10 ** (t.mixer.gain_db / 20.0)
        pan = t.mixer.pan  # constant-power pan law
        lr = np.array([np.cos((pan + 1) * np.pi / 4), np.sin((pan + 1) * np.pi / 4)], np.float32) * np.sqrt(2)
        out.append(BufferSource(audio[:2] * (gain * lr[:, None]), sr, offset_s=t.offset_s, name=t.name))
    return out


class Playback(QObject):
    positionChanged = Signal(float)
    stateChanged = Signal(str)
    message = Signal(str)  # a device problem for the status bar
    _transportEvent = Signal(str)

    def __init__(self, doc, workers, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.workers = doc, workers
        self.routing = Routing()
        self.transport = Transport()
        self.transport.add_listener(lambda event, _t: self._transportEvent.emit(event))
        self._transportEvent.connect(self._on_transport_event)
        self._timer = QTimer(self, interval=16)
        self._timer.timeout.connect(self._tick)
        self._midi_dirty = True
        self._audio_dirty = True
        self._last_pos = -1.0
        doc.projectReset.connect(self._on_reset)
        doc.tempoChanged.connect(self._on_tempo)
        doc.tracksChanged.connect(self._mark_dirty)
        doc.trackChanged.connect(self._mark_dirty)

    # -- commands ---------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.transport.state is State.PLAYING

    @property
    def position_s(self) -> float:
        return self.transport.position_s

    def play(self) -> None:
        if self.doc.project is None:
            return
        self._prepare_outputs()
        self.transport.play()
        self._timer.start()

    def pause(self) -> None:
        self.transport.pause()
        self._tick()

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def stop(self) -> None:
        self.transport.stop()
        self._tick()

    def seek(self, time_s: float) -> None:
        self.transport.seek(time_s)
        self._tick()

    def set_loop(self, start_s: float | None, end_s: float | None = None) -> None:
        self.transport.set_loop(start_s, end_s)

    def set_routing(self, routing: Routing) -> None:
        self.routing = routing
        self._midi_dirty = self._audio_dirty = True
        if self.transport.midi is not None:
            self.transport.midi.port.close()
            self.transport.midi = None
        if self.transport.audio is not None:
            self.transport.set_audio(None)

    def close(self) -> None:
        self._timer.stop()
        self.transport.close()

    # -- internals --------------------------------------------------------------------------------
    def _on_reset(self) -> None:
        self.transport.stop()
        self.transport.seek(0.0)
        p = self.doc.project
        self.transport.duration_s = p.duration_s if p else 0.0
        if p is not None:
            self.transport.tempo = p.tempo
        self._mark_dirty()
        self._tick()

    def _on_tempo(self) -> None:
        self.transport.tempo = self.doc.project.tempo
        self._midi_dirty = True

    def _mark_dirty(self, *_args) -> None:
        self._midi_dirty = self._audio_dirty = True

    def _prepare_outputs(self) -> None:
        """(Re)build MIDI parts and audio sources when the project changed since the last play."""
        from studio.transport import AudioOutput, MidiPort, MidiScheduler
        from studio.transport.transport import midi_parts_for

        p = self.doc.project
        if self._midi_dirty:
            self._midi_dirty = False
            parts = midi_parts_for(p) if self.routing.midi_port != "" else []
            if parts and self.transport.midi is None:
                try:
                    self.transport.midi = MidiScheduler(MidiPort(port=self.routing.midi_port or None))
                except DeviceError as exc:
                    self.message.emit(f"MIDI off: {exc}")
            if self.transport.midi is not None:
                self.transport.midi.set_parts(parts, p.tempo)
        if self._audio_dirty and self.routing.audio_device is not None:
            self._audio_dirty = False
            audio = self.transport.audio
            if audio is None or not audio.is_open:
                audio = AudioOutput(p.sample_rate, 256, device=self.routing.audio_device)
                try:
                    audio.open()
                except DeviceError as exc:
                    self.message.emit(f"no audio: {exc}")
                    return
                self.transport.set_audio(audio)
            try:
                audio.set_sources(_track_sources(p, audio.sample_rate))
            except StudioError as exc:
                self.message.emit(f"audio track not playable: {exc}")

    def _on_transport_event(self, event: str) -> None:
        if event == "state":
            self.stateChanged.emit(self.transport.state.value)
            if not self.playing:
                self._timer.stop()
                self._tick()
        elif event in ("error", "midi") and self.transport.error:
            self.message.emit(self.transport.error)
            self.stateChanged.emit(self.transport.state.value)

    def _tick(self) -> None:
        pos = self.transport.position_s
        if pos != self._last_pos:
            self._last_pos = pos
            self.positionChanged.emit(pos)
