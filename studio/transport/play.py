"""``studio play``: a project through the audio device and its MIDI tracks to a MIDI port.

The audio is the project's offline render (studio.render), so what plays is exactly what exports.
When MIDI goes to a port, MIDI tracks are left to the port's instrument (a DAW or a synth) and
not synthesised into the audio as well; with ``synth_midi=True`` they are in both.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from studio.errors import StudioError
from studio.jobs import Job
from studio.project import Project


def audio_tracks_project(project: Project, midi_to_port: bool) -> Project:
    """A copy of ``project`` for the audio render: without the pure MIDI tracks when a MIDI port
    voices them."""
    copy = dataclasses.replace(project, tracks=list(project.tracks))
    if midi_to_port:  # pure MIDI tracks go; others keep their audio/events without their notes
        copy.tracks = [dataclasses.replace(t, notes=[]) for t in copy.tracks
                       if not (t.notes and not t.audio_path and not t.events)]
    return copy


def play_project(project: Project, *, audio_device=None, no_audio: bool = False,
                 midi_port: str | None = None, midi: bool = True, synth_midi: bool = False,
                 start_s: float = 0.0, end_s: float | None = None, blocksize: int = 256,
                 on_tick: Callable[[float], None] | None = None, job: Job | None = None,
                 follow: str | None = None, mtc_offset_s: float = 0.0, jack_stems: bool = False,
                 varispeed: bool = False) -> dict:
    """Play ``project`` from ``start_s`` to ``end_s`` (default: its end) and return what happened:
    ``{"played_s", "underruns", "audio_device", "midi_port", "error"}``. Blocks until done;
    KeyboardInterrupt stops cleanly (all notes off, streams closed).

    ``follow`` (a MIDI input port, "" for the virtual "Studio Sync"): the DAW's MIDI clock or MTC
    starts, stops and positions playback (studio.transport.follow) and no clock is sent; it runs
    until ``end_s`` is reached or KeyboardInterrupt, and adds ``follow`` figures to the result.
    ``varispeed`` (with ``follow``): chase the DAW's speed (video, audio and MIDI at the DAW's
    rate, the audio's pitch with it) instead of jumping; the result adds the rate figures
    (``daw_rate``, ``rate_mean`` / ``rate_min`` / ``rate_max``, ``rate_checks``).

    ``jack_stems``: play through a JACK client of the studio's own with the mix on "Mix L/R" and
    each audible track's stem on its own pair (studio.transport.jack_audio), for a DAW to record
    or mix; a DeviceError when no JACK server runs."""
    from studio.render import render_project
    from studio.transport.transport import State, open_transport

    job = Job.quiet(job)
    send_midi = midi and any(t.notes for t in project.audible_tracks())
    audio_project = audio_tracks_project(project, send_midi and not synth_midi)
    stems, output = [], None
    if jack_stems and (no_audio or audio_device is not None):
        raise StudioError("--jack-stems plays on the studio's own JACK client: leave out --no-audio and --device")
    if not no_audio and audio_project.audible_tracks():
        result = render_project(audio_project, job=job.sub(0.0, 0.9))
        stems = [(result.mix, result.sample_rate)]
        if jack_stems:
            from studio.transport.jack_audio import stem_output

            named = [(result.names.get(tid, tid), a) for tid, a in result.stems.items()]
            output = stem_output(result.mix, named, result.sample_rate)
    try:
        transport = open_transport(project, stems, sample_rate=project.sample_rate, audio_device=audio_device,
                                   blocksize=blocksize, midi_port=midi_port if send_midi else None,
                                   virtual_port=send_midi, no_audio=no_audio, send_clock=follow is None,
                                   audio_output=output)
    except BaseException:
        if output is not None:
            output.close()
        raise
    audio = transport.audio
    info = {"audio_device": audio.device_name if audio else None,
            "midi_port": transport.midi.port.label if transport.midi else None}
    if follow is not None:
        return _follow(transport, info, follow, mtc_offset_s, end_s, on_tick, job, varispeed)
    end = transport.duration_s if end_s is None else min(end_s, transport.duration_s)
    job.report(1.0, "playing")
    start = max(0.0, start_s)
    reached = start
    try:
        transport.seek(start)
        transport.play()
        while transport.state is State.PLAYING and reached < end:
            reached = max(reached, transport.position_s)  # at its end the transport returns home
            if on_tick is not None:
                on_tick(reached)
            time.sleep(0.02)
        if transport.error is None:  # it ran to the end (the loop ends there or on an error)
            reached = end
    finally:
        played = reached - start
        stats = audio.stats() if audio is not None else {}
        error = transport.error
        transport.close()
    return {**info, "played_s": round(max(0.0, played), 3), "underruns": stats.get("underruns", 0),
            "error": error}


def _follow(transport, info: dict, port: str, mtc_offset_s: float, end_s: float | None,
            on_tick: Callable[[float], None] | None, job: Job, varispeed: bool = False) -> dict:
    """Playback driven by the DAW on ``port`` until ``end_s`` or KeyboardInterrupt; ``info``
    names the outputs, as ``play_project`` reports them."""
    from studio.transport.follow import DawFollower, SyncInput

    follower = DawFollower(transport, mtc_offset_s=mtc_offset_s, varispeed=varispeed)
    try:
        sync = SyncInput(follower, port=port or None)
    except Exception:
        transport.close()
        raise
    info = {**info, "follow": sync.label}
    audio = transport.audio  # its figures even if the device is lost meanwhile
    job.report(1.0, f"following the DAW on {sync.label}")
    reached = 0.0
    try:
        while end_s is None or reached < end_s:
            pos = transport.position_s
            reached = max(reached, pos)
            if on_tick is not None:
                on_tick(pos)
            time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    finally:
        sync.close()
        stats = audio.stats() if audio is not None else {}
        error = transport.error
        transport.close()
    return {**info, "played_s": round(reached, 3), "underruns": stats.get("underruns", 0), "error": error,
            "daw_messages": sync.received, "daw_input_missed_cycles": sync.missed_cycles, "daw_bpm": round(follower.daw_bpm, 2) if follower.daw_bpm else None,
            "tempo_warning": follower.tempo_warning(), **follower.rate_figures()}
