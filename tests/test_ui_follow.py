"""Transport › Follow DAW in the real window (offscreen), on a private dummy JACK server: a JACK
client acting as the DAW, wired to the "Studio Sync" input, starts, positions and stops the app's
playback with MIDI clock."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from jack_server import jack_server, require_jack_client, wait_until  # noqa: F401

from studio.music import TempoMap
from studio.project import Project, Track, TrackKind
from studio.transport.follow import CLOCK, SPP, START, STOP

from test_ui_window import window  # noqa: E402,F401 (the window fixture)


@pytest.fixture
def w(window, jack_server, tmp_path):
    require_jack_client()
    sf.write(tmp_path / "tone.wav", np.full((48000 * 6, 2), 0.05, np.float32), 48000)
    p = Project(name="follow")
    p.tempo = TempoMap.constant(120.0, downbeat_s=0.5)
    p.add_track(Track("tone", TrackKind.AUDIO, audio_path="tone.wav"))
    p.save(tmp_path / "project.json")
    window.playback.set_routing(type(window.playback.routing)(audio_device=None, midi_port=""))
    window.controller.open_project(tmp_path / "project.json")
    assert window.doc.project is not None and window.last_error is None
    yield window
    window.act_follow.setChecked(False)
    window.set_follow_daw(False)


def test_follow_daw_plays_locates_and_stops_with_the_daws_clock(w, qtbot):
    from studio.transport.jack_midi import JackMidiOutput

    w.act_follow.trigger()  # checks it and opens the input
    assert w.act_follow.isChecked() and w.playback.following
    daw = JackMidiOutput("UiDaw")
    try:
        assert wait_until(lambda: any("Studio Sync" in q for q in daw.input_ports()), 5.0)
        daw.connect(next(q for q in daw.input_ports() if "Studio Sync" in q))
        daw.send(bytes([SPP, 8, 0]))  # bar 1, beat 3 (8 sixteenths)
        qtbot.waitUntil(lambda: abs(w.playback.position_s - 1.5) < 1e-6, timeout=3000)
        f0 = int(daw.frame_now()[0] + 0.05 * daw.rate)
        daw.send_at(bytes([START]), f0 - 10)
        tick = daw.rate * 60.0 / (120.0 * 24)
        for k in range(3 * 24):
            daw.send_at(bytes([CLOCK]), int(round(f0 + k * tick)))
        qtbot.waitUntil(lambda: w.playback.playing, timeout=3000)  # Start = song position 0
        qtbot.wait(800)
        beat = (daw.frame_now()[0] - f0) / tick / 24
        assert abs(w.playback.position_s - (0.5 + beat * 0.5)) < 0.04
        shown = []
        w.playback.positionChanged.connect(shown.append)
        qtbot.waitUntil(lambda: len(shown) >= 3, timeout=2000)  # the playhead moves (GUI timer runs)
        daw.send(bytes([STOP]))  # after the queued ticks: the DAW stops at beat 3 (2.0 s)
        qtbot.waitUntil(lambda: not w.playback.playing, timeout=3000)
        assert abs(w.playback.position_s - 2.0) < 0.04
    finally:
        daw.close(drain_s=0)
    w.act_follow.trigger()
    assert not w.playback.following


def test_follow_daw_speed_is_on_by_default_and_can_be_turned_off(w, qtbot):
    """Transport › Follow DAW Speed (checked by default): following chases the DAW's speed
    (the transport's varispeed on); unchecked, the transport plays at rate 1 and follows by jumps;
    leaving Follow DAW turns varispeed off."""
    assert w.act_follow_speed.isChecked() and w.playback.follow_speed
    w.act_follow.trigger()
    assert w.playback.follower.varispeed and w.playback.transport.varispeed
    w.act_follow_speed.trigger()  # off while following
    assert not w.playback.follower.varispeed and not w.playback.transport.varispeed
    assert w.playback.transport.rate == 1.0
    w.act_follow_speed.trigger()  # on again
    assert w.playback.transport.varispeed
    w.act_follow.trigger()
    assert not w.playback.following and not w.playback.transport.varispeed
