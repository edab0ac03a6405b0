"""Qt adapter over studio.transport: the transport is the master clock; a 60 Hz GUI timer reads
its position for the playhead and the video preview. Transport events (from its threads) come
back to the GUI thread through a queued signal.

Routing (``Routing``): the audio output device (None: no audio, the system clock drives video and
MIDI) and the MIDI port (None: the virtual "Studio" port, "" for no MIDI). MIDI tracks are
scheduled to the port on each track's channel (and then not synthesised: the port's instrument
plays them); with MIDI off they are rendered with the GM synth. The audio is the project's
offline render (studio.render), made on a worker whenever the project changed before a play.

Levels (``levels``, ``levelsChanged``): the mixer's meters (``studio.meters``) of that same
render, made after it (a render-cache hit, not a second render) or alone when no audio device
plays; the master fader re-makes them at once (it is applied after the render cache: cheap).
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from studio.errors import DeviceError
from studio.transport import State, Transport


DEFAULT_DEVICE = "default"


@dataclass(frozen=True)
class Routing:
    audio_device: int | str | None = DEFAULT_DEVICE  # the system's default output; None: no audio
    midi_port: str | None = None  # None: virtual "Studio"; "": MIDI off

    def save(self) -> None:
        from PySide6.QtCore import QSettings

        s = QSettings()
        s.setValue("routing/audio_device", "" if self.audio_device is None else str(self.audio_device))
        s.setValue("routing/midi_port", "\x00virtual" if self.midi_port is None else self.midi_port)

    @classmethod
    def load(cls) -> "Routing":
        from PySide6.QtCore import QSettings

        s = QSettings()
        audio = s.value("routing/audio_device", DEFAULT_DEVICE)
        midi = s.value("routing/midi_port", "\x00virtual")
        device = None if audio == "" else int(audio) if str(audio).isdigit() else str(audio)
        return cls(device, None if midi == "\x00virtual" else str(midi))


def audio_project(project, midi_to_port: bool):
    """The copy of ``project`` to render for the audio device: when MIDI goes to a port, the
    notes are left to the port's instrument (not synthesised twice)."""
    from studio.transport.play import audio_tracks_project
    from studio.generate import snapshot

    return audio_tracks_project(snapshot(project), midi_to_port)  # a snapshot: rendered on a worker


def render_for_playback(project, job=None):
    """(mix (2, n) float32, sample rate) of the audible tracks, or None when nothing sounds.
    The render's default mastering (studio.mastering: -14 LUFS, -1 dBTP true-peak limiter) runs
    here as on export, so what plays never clips and sounds as the export will. Through the
    render cache (``render_project(cache=True)``), shared with export: an unchanged project is not
    rendered again."""
    from studio.render import render_project

    if not project.audible_tracks():
        return None
    result = render_project(project, cache=True, job=job)
    return result.mix, result.sample_rate


def render_levels(project, job=None):
    """The mixer's meters (``studio.meters.Levels``) of what ``render_for_playback`` plays, or None
    when nothing sounds; through the render cache, so after that render this is no second one."""
    from studio.meters import levels_of
    from studio.render import render_project

    if not project.audible_tracks():
        return None
    return levels_of(render_project(project, cache=True, job=job))


class Playback(QObject):
    positionChanged = Signal(float)
    stateChanged = Signal(str)
    levelsChanged = Signal(object)  # studio.meters.Levels of what plays, or None
    message = Signal(str)  # a device problem for the status bar
    _transportEvent = Signal(str)

    def __init__(self, doc, workers, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.workers = doc, workers
        self.routing = Routing.load()
        self.transport = Transport()
        self.transport.add_listener(lambda event, _t: self._transportEvent.emit(event))
        self._transportEvent.connect(self._on_transport_event)
        self._timer = QTimer(self, interval=16)
        self._timer.timeout.connect(self._tick)
        self._midi_dirty = True
        self._audio_dirty = True
        self._last_pos = -1.0
        self.levels = None  # studio.meters.Levels
        self._levels_dirty = True
        self._audio_job = self._levels_job = None  # the running render handles
        self._epoch = 0  # a project opened since a meters job started: its result is dropped
        self._sync = None  # studio.transport.follow.SyncInput while following the DAW
        self.follow_speed = True  # Transport › Follow DAW Speed: chase its speed (varispeed) while following
        # the master fader while playing: heard once the drag settles (a cheap re-render)
        self._master_timer = QTimer(self, singleShot=True, interval=150)
        self._master_timer.timeout.connect(self._on_master_settled)
        # an edit while paused with meters shown: new meters once the edits pause (the render it
        # makes is the next play's, from the cache)
        self._levels_timer = QTimer(self, singleShot=True, interval=500)
        self._levels_timer.timeout.connect(self.refresh_levels)
        doc.projectReset.connect(self._on_reset)
        doc.tempoChanged.connect(self._on_tempo)
        doc.tracksChanged.connect(self._mark_dirty)
        doc.trackChanged.connect(self._mark_dirty)
        doc.masterChanged.connect(self._on_master)

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
        loop = self.transport.loop
        if loop is not None and not loop[0] <= self.transport.position_s < loop[1]:
            self.transport.seek(loop[0])  # playing with a loop on starts inside it
        self.transport.play()
        self._timer.start()
        if self._levels_dirty:
            self.refresh_levels()

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
        routing.save()
        self._midi_dirty = self._audio_dirty = True
        if self.transport.midi is not None:
            self.transport.midi.port.close()
            self.transport.midi = None
        if self.transport.audio is not None:
            self.transport.set_audio(None)

    @property
    def following(self) -> bool:
        return self._sync is not None

    def set_follow(self, on: bool) -> None:
        """Follow the DAW (studio.transport.follow): its MIDI clock or MTC on the virtual input
        "Studio Sync" starts, stops and positions playback; no clock goes out meanwhile (the DAW
        is the master). Raises DeviceError when the input cannot open."""
        from studio.transport.follow import DawFollower, SyncInput

        if on == self.following:
            return
        if on:
            if self.doc.project is not None:
                self._prepare_outputs()  # the DAW may press play any time from now
            follower = DawFollower(self.transport, varispeed=self.follow_speed)
            try:
                self._sync = SyncInput(follower)
            except Exception:
                follower.close()
                raise
        else:
            self._sync.close()
            self._sync.follower.close()  # the transport back to rate 1
            self._sync = None
        if self.transport.midi is not None:
            self.transport.midi.send_clock = not on

    def set_follow_speed(self, on: bool) -> None:
        """Transport › Follow DAW Speed: while following, chase the DAW's speed (the video, audio
        and MIDI play at its rate, the audio's pitch with it, as tape varispeed) instead of
        jumping back onto it when its tempo differs from the project's."""
        self.follow_speed = bool(on)
        if self._sync is not None:
            self._sync.follower.set_varispeed(self.follow_speed)

    @property
    def follower(self):
        """The DawFollower while following (its figures: ``rate_figures()``), else None."""
        return self._sync.follower if self._sync is not None else None

    def close(self) -> None:
        self._timer.stop()
        if self._sync is not None:
            self._sync.close()
            self._sync.follower.close()
            self._sync = None
        self.transport.close()

    # -- internals --------------------------------------------------------------------------------
    def _on_reset(self) -> None:
        self.transport.stop()
        self.transport.seek(0.0)
        p = self.doc.project
        self.transport.duration_s = p.duration_s if p else 0.0
        if p is not None:
            self.transport.tempo = p.tempo
        self._epoch += 1
        self.levels = None
        self.levelsChanged.emit(None)
        self._mark_dirty()
        self._tick()

    def _on_tempo(self) -> None:
        self.transport.tempo = self.doc.project.tempo
        self._midi_dirty = True

    def _mark_dirty(self, *_args) -> None:
        self._midi_dirty = self._audio_dirty = self._levels_dirty = True
        if self.levels is not None and not self.playing:
            self._levels_timer.start()

    def _on_master(self) -> None:
        self._audio_dirty = self._levels_dirty = True
        if self.levels is not None:  # meters shown: follow the fader now
            self.refresh_levels()
        if self.playing:
            self._master_timer.start()

    def _on_master_settled(self) -> None:
        if self.playing and self.doc.project is not None:
            self._prepare_outputs()

    def refresh_levels(self) -> None:
        """Make the meters of the project as it is now (on a worker; ``levelsChanged`` then). After
        a running playback render, so that this one reads the render cache."""
        if self.doc.project is None:
            return
        if self._audio_job is not None or self._levels_job is not None:
            self._levels_dirty = True  # asked again when the running job ends
            return
        self._levels_dirty = False
        h = self.workers.submit("meters", render_levels, audio_project(self.doc.project, self.routing.midi_port != ""))
        self._levels_job = h
        h.finished.connect(lambda levels, epoch=self._epoch: self._levels_ready(levels, epoch))
        h.failed.connect(lambda msg: self.message.emit(f"meters: {msg}"))
        h.ended.connect(lambda: self._job_ended("_levels_job", h))

    def _levels_ready(self, levels, epoch: int) -> None:
        if epoch == self._epoch:
            self.levels = levels
            self.levelsChanged.emit(levels)

    def _job_ended(self, attr: str, handle) -> None:
        if getattr(self, attr) is handle:
            setattr(self, attr, None)
        if self._levels_dirty and (self.levels is not None or self.playing):
            self.refresh_levels()

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
                    self.transport.midi = MidiScheduler(MidiPort(port=self.routing.midi_port or None),
                                                        send_clock=not self.following)
                except DeviceError as exc:
                    self.message.emit(f"MIDI off: {exc}")
            if self.transport.midi is not None:
                self.transport.midi.set_parts(parts, p.tempo)
        if self._audio_dirty and self.routing.audio_device is not None:
            self._audio_dirty = False
            audio = self.transport.audio
            if audio is None or not audio.is_open:
                device = None if self.routing.audio_device == DEFAULT_DEVICE else self.routing.audio_device
                audio = AudioOutput(p.sample_rate, 256, device=device)
                try:
                    audio.open()
                except DeviceError as exc:
                    self.message.emit(f"no audio, video and MIDI play on: {exc}")
                    return
                self.transport.set_audio(audio)
            self.message.emit("rendering audio for playback\u2026")
            h = self.workers.submit("render for playback", render_for_playback,
                                    audio_project(p, self.routing.midi_port != ""))
            self._audio_job = h
            h.finished.connect(self._rendered)
            h.failed.connect(lambda msg: self.message.emit(f"playback audio: {msg}"))
            h.ended.connect(lambda: self._job_ended("_audio_job", h))

    def _rendered(self, result) -> None:
        from studio.transport import BufferSource

        audio = self.transport.audio
        if audio is None or not audio.is_open:
            return
        audio.set_sources([BufferSource(*result)] if result is not None else [])
        if self.playing:  # restart the run so the new buffers are heard from here on
            self.transport.seek(self.transport.position_s)

    def _on_transport_event(self, event: str) -> None:
        if event == "state":
            self.stateChanged.emit(self.transport.state.value)
            if self.playing:
                self._timer.start()  # also when the DAW started it (following)
            else:
                self._timer.stop()
                self._tick()
                if self.following and self.doc.project is not None:
                    self._prepare_outputs()  # edits made meanwhile play at the DAW's next start
        elif event in ("error", "midi") and self.transport.error:
            self.message.emit(self.transport.error)
            self.stateChanged.emit(self.transport.state.value)
        elif event == "health" and self.transport.health_message:
            self.message.emit(self.transport.health_message)  # late blocks, xruns, late MIDI

    def _tick(self) -> None:
        pos = self.transport.position_s
        if pos != self._last_pos:
            self._last_pos = pos
            self.positionChanged.emit(pos)
