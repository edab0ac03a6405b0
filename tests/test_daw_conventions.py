"""DAW conventions (issue 24, item 6): a persistent virtual MIDI port a DAW can wire before
play, the JACK audio client named after the studio, the video on its own track in the REAPER
project, and bar 1 = the first downbeat in the SMF, the RPP and the MIDI clock."""
from __future__ import annotations

import re
import time

import mido
import pytest
from jack_server import (MidiDump, jack_server, judged_by_the_dump, midi_dump, require_jack_client,  # noqa: F401
                         wait_until)

from export import reaper, smf
from studio.music import Note, TempoMap
from studio.transport import AudioOutput, MidiPart, MidiPort, MidiScheduler, State, Transport
from studio.transport.devices import AUDIO_CLIENT_NAME, STUDIO_NAME
from studio.transport.midi import CONTINUE, SPP, START

SR = 48000


@pytest.fixture
def _jack_client():
    require_jack_client()


# -- the persistent virtual port ---------------------------------------------------------------
def test_the_studio_port_is_wired_before_play_and_outlives_stop(jack_server, midi_dump, _jack_client):
    from studio.project import Project, Track, TrackKind
    from studio.transport.transport import open_transport

    p = Project()
    p.add_track(Track("lead", TrackKind.MIDI, notes=[Note(0.05, 0.05, 60, 100, 0), Note(0.15, 0.05, 62, 100, 0)],
                      channel=0))
    t = open_transport(p, no_audio=True)  # what `studio play` opens: the virtual "Studio" port
    name = f"{STUDIO_NAME}:{STUDIO_NAME}"
    try:
        assert name in jack_server.ports()  # there before play: a DAW can wire it now
        jack_server.connect(name, midi_dump.port)
        for _ in range(2):
            t.play()
            assert wait_until(lambda: t.state is State.STOPPED, 5.0)  # ran to its end (0.3 s)
            t.stop()
            assert name in jack_server.ports() and t.midi.port.connected()  # kept, still wired
    finally:
        t.close()
    assert name not in jack_server.ports()
    time.sleep(0.1)
    with judged_by_the_dump(midi_dump, "the notes"):
        ons = [b for _, b in midi_dump.events() if b[0] == 0x90]
        assert ons == [bytes([0x90, 60, 100]), bytes([0x90, 62, 100])] * 2


def test_the_jack_audio_client_is_named_after_the_studio(jack_server):
    audio = AudioOutput(SR, 256, device="JACK")
    audio.open()
    try:
        ports = jack_server.client_ports()
        assert [p for p in ports if p.startswith(f"{AUDIO_CLIENT_NAME}:out_")], ports
        assert not [p for p in ports if p.startswith("PortAudio:")]
    finally:
        audio.close()


# -- the REAPER project's video item -----------------------------------------------------------
def _chunks(text: str) -> list[dict]:
    """The RPP's tracks as {name, items: [{position, length, soffs, kind, file}]}."""
    tracks, track, item = [], None, None
    for line in text.splitlines():
        s = line.strip()
        if s == "<TRACK":
            track = {"items": []}
            tracks.append(track)
        elif s.startswith("NAME") and track is not None and item is None:
            track["name"] = s[5:].strip('"')
        elif s == "<ITEM":
            item = {"soffs": 0.0}
            track["items"].append(item)
        elif item is not None and s.split(" ")[0] in ("POSITION", "LENGTH", "SOFFS"):
            item[s.split(" ")[0].lower()] = float(s.split(" ")[1])
        elif item is not None and s.startswith("<SOURCE"):
            item["kind"] = s.split(" ")[1]
        elif item is not None and s.startswith("FILE"):
            item["file"] = s[5:].strip('"')
            item = None
    return tracks


def test_the_rpp_carries_the_video_on_its_own_track(tmp_path):
    tm = smf.tick_map(TempoMap.constant(120), 0.0)
    video = tmp_path / "film.mp4"
    stem = tmp_path / "stems" / "drums.wav"
    kw = dict(sample_rate=SR, bpm=120, tick_map=tm, beats_per_bar=4, beat_unit=4)
    text = reaper.rpp_text(tmp_path / "p.rpp", [("drums", stem, 12.0)], video=("Video", video, 0.0, 12.0), **kw)
    tracks = _chunks(text)
    assert [t["name"] for t in tracks] == ["Video", "drums"]
    v = tracks[0]["items"]
    assert v == [{"position": 0.0, "length": 12.0, "soffs": 0.0, "kind": "VIDEO", "file": "film.mp4"}]
    assert tracks[1]["items"][0]["kind"] == "WAVE" and tracks[1]["items"][0]["file"] == "stems/drums.wav"
    # an export of 4 s .. 12 s: the item starts at the range's start and skips 4 s of the video
    cut = _chunks(reaper.rpp_text(tmp_path / "p.rpp", [], video=("Video", video, -4.0, 12.0), **kw))
    assert cut[0]["items"][0] == {"position": 0.0, "length": 8.0, "soffs": 4.0, "kind": "VIDEO", "file": "film.mp4"}
    late = _chunks(reaper.rpp_text(tmp_path / "p.rpp", [], video=("Video", video, 1.5, 12.0), **kw))
    assert late[0]["items"][0]["position"] == 1.5 and late[0]["items"][0]["length"] == 12.0


# -- bar 1 = the first downbeat: SMF, RPP and MIDI clock -----------------------------------------
def _smf_bar(mid: mido.MidiFile, seconds: float) -> tuple[int, float, float]:
    """(bar, beat from 1, seconds of bar 1) at ``seconds`` in the SMF, bars numbered as notation
    numbers them: a first bar shorter than the next signature's is a pickup, bar 0."""
    tpq = mid.ticks_per_beat
    k, sigs, tempos = 0, [], []
    for msg in mid.tracks[0]:
        k += msg.time
        if msg.type == "time_signature":
            sigs.append((k, msg.numerator, msg.denominator))
        elif msg.type == "set_tempo":
            tempos.append((k, msg.tempo))

    def sec(tick):
        s, (k0, us) = 0.0, tempos[0]
        for k1, us1 in tempos[1:] + [(None, None)]:
            end = tick if k1 is None else min(tick, k1)
            s += max(0, end - k0) * us / tpq / 1e6
            if k1 is None or tick <= k1:
                return s
            k0, us = k1, us1

    lo, hi = 0, 10 ** 7  # the tick at ``seconds`` (bisection over the tempo segments)
    while hi - lo > 1:
        mid_k = (lo + hi) // 2
        lo, hi = (mid_k, hi) if sec(mid_k) <= seconds + 1e-9 else (lo, mid_k)
    tick = lo
    pickup = len(sigs) > 1 and sigs[0][1] * 4 / sigs[0][2] < sigs[1][1] * 4 / sigs[1][2]
    bar, start = (0 if pickup else 1), 0
    for i, (k0, num, den) in enumerate(sigs):
        k_end = sigs[i + 1][0] if i + 1 < len(sigs) else None
        bar_ticks = num * tpq * 4 // den
        if k_end is None or tick < k_end:
            n, rest = divmod(tick - k0, bar_ticks)
            return bar + n, 1 + rest / (tpq * 4 / den), sec(sigs[1][0] if pickup else 0)
        bar += (k_end - k0) // bar_ticks
        start = k_end
    raise AssertionError(start)


def _rpp_bar(text: str, seconds: float) -> tuple[int, float, float]:
    """(bar, beat from 1, seconds of bar 1) at ``seconds`` as REAPER counts them: tempo points
    with a time signature start a bar; the project's first bar is 1 + PROJOFFS's measure offset."""
    m = re.search(r"^\s*PROJOFFS \S+ (-?\d+)", text, re.M)
    first = 1 + (int(m.group(1)) if m else 0)
    tempo = re.search(r"^\s*TEMPO (\S+) (\d+) (\d+)", text, re.M)
    pts = [(float(a), float(b), int(c) if c else None)
           for a, b, c in re.findall(r"^\s*PT (\S+) (\S+) 1(?: (\d+))?$", text, re.M)]
    if not pts:
        pts = [(0.0, float(tempo.group(1)), int(tempo.group(2)) + 65536 * int(tempo.group(3)))]
    bar, num, den, bar1 = first, None, None, None
    pos_bar_start = 0.0
    out = None
    for i, (t, bpm, sig) in enumerate(pts):
        t_next = pts[i + 1][0] if i + 1 < len(pts) else float("inf")
        if sig is not None:
            if num is not None and t > pos_bar_start + 1e-9:
                bar += 1  # a signature starts a new bar
            num, den = sig % 65536, sig // 65536
            pos_bar_start = t
        bar_s = num * 4 / den * 60 / bpm
        if bar == 1 and bar1 is None:
            bar1 = pos_bar_start
        if out is None and seconds < t_next:
            n, rest = divmod(seconds - pos_bar_start + 1e-9, bar_s)
            out = (bar + int(n), 1 + max(0.0, rest - 1e-9) / (60 / bpm * 4 / den))
        n_full = int((min(t_next, 1e9) - pos_bar_start) // bar_s + 1e-9) if t_next < float("inf") else 0
        if t_next < float("inf"):
            bar += n_full
            pos_bar_start += n_full * bar_s
        if bar1 is None and bar >= 1:
            bar1 = pos_bar_start - (bar - 1) * bar_s
    return out[0], out[1], bar1


def test_bar_one_is_the_first_downbeat_in_the_smf_the_rpp_and_the_midi_clock(jack_server, midi_dump,
                                                                               _jack_client, tmp_path):
    tempo = TempoMap.constant(120, downbeat_s=0.75)  # a pickup of 1.5 beats before bar 1
    notes = [Note(0.25, 0.1, 60, 90, 0), Note(0.75, 0.1, 62, 90, 0), Note(3.0, 0.1, 64, 90, 0)]
    mid = smf.build_midi([smf.Part("lead", notes)], tempo)
    tm = smf.tick_map(tempo, 0.0)
    rpp = reaper.rpp_text(tmp_path / "p.rpp", [], sample_rate=SR, bpm=120, tick_map=tm, beats_per_bar=4, beat_unit=4)
    # the files: bar 1 beat 1 at the downbeat, and 3.0 s (4.5 beats after it) at bar 2 beat 1.5
    for decode, what in ((lambda s: _smf_bar(mid, s), "SMF"), (lambda s: _rpp_bar(rpp, s), "RPP")):
        bar, beat, bar1_s = decode(0.75)
        assert (bar, beat) == (1, pytest.approx(1.0, abs=1e-3)) and bar1_s == pytest.approx(0.75, abs=1e-3), what
        bar, beat, _ = decode(3.0)
        assert (bar, beat) == (2, pytest.approx(1.5, abs=1e-3)), what
        assert decode(0.25)[0] == 0, what  # the pickup
    # a pickup longer than a bar (4.6 beats: the file's first bar line is a bar before bar 1)
    long = TempoMap.constant(120, downbeat_s=2.3)
    text = reaper.rpp_text(tmp_path / "p.rpp", [], sample_rate=SR, bpm=120, tick_map=smf.tick_map(long, 0.0),
                           beats_per_bar=4, beat_unit=4, measure_offset=reaper.measure_offset(long, 0.0))
    assert _rpp_bar(text, 2.3)[:2] == (1, pytest.approx(1.0, abs=1e-3)) and _rpp_bar(text, 0.3)[0] == 0
    # ... which the SMF's bar numbers cannot say: its "Bar 1" marker sits at the downbeat (both files)
    for m, at, tmap in ((smf.build_midi([smf.Part("lead", notes)], long), 2.3, smf.tick_map(long, 0.0)),
                        (mid, 0.75, tm)):
        ticks, marks = 0, []
        for msg in m.tracks[0]:
            ticks += msg.time
            if msg.type == "marker":
                marks.append((msg.text, ticks))
        assert marks == [(smf.BAR_ONE_MARKER, round(tmap.tick(at)))]
        assert abs(tmap.time(marks[0][1]) - at) < 1e-3  # where the file plays the downbeat
    # an export that starts after the downbeat (at 3.0 s: beat 4.5 of bar 2; a 3.5-beat pickup
    # bar, the rest of bar 2, up to bar 3 at 4.75 s = 1.75 s into the file)
    text = reaper.rpp_text(tmp_path / "p.rpp", [], sample_rate=SR, bpm=120, tick_map=smf.tick_map(tempo, 3.0),
                           beats_per_bar=4, beat_unit=4, measure_offset=reaper.measure_offset(tempo, 3.0))
    assert _rpp_bar(text, 0.0)[0] == 2 and _rpp_bar(text, 1.75)[:2] == (3, pytest.approx(1.0, abs=1e-3))
    # the MIDI clock: from 0, SPP 0 + Start at the downbeat (bar 1); from 3.0 s, SPP = bar 2 beat 1.5
    port = MidiPort(name="StudioBars")
    jack_server.connect("StudioBars:StudioBars", midi_dump.port)
    midi = MidiScheduler(port, send_clock=True)
    midi.set_parts([MidiPart(notes)], tempo)
    t = Transport(tempo=tempo, duration_s=4.0, midi=midi)
    xruns0 = jack_server.xruns()
    midi_dump.mark()
    try:
        t.play()
        time.sleep(1.0)
        t.seek(3.0)
        time.sleep(0.3)
        t.pause()
        late = port.jack.late + jack_server.xruns() - xruns0  # late events, xruns: a busy machine
    finally:
        t.close()
    time.sleep(0.1)
    ev = midi_dump.events()
    msgs = [b for _, b in ev]
    with judged_by_the_dump(midi_dump, "the clock"):
        spps = [(i, b[1] | b[2] << 7) for i, b in enumerate(msgs) if b[0] == SPP]
        values = [s for _, s in spps]  # sixteenths from bar 1 (an xrun may add a resync's SPP)
        assert values[0] == 0 and 18 in values and all(v <= 2 for v in values[:values.index(18)])
        spps = [spps[0], spps[values.index(18)]]
        assert msgs[spps[0][0] + 1] == bytes([START]) and msgs[spps[1][0] + 1] == bytes([CONTINUE])
        f_start = ev[spps[0][0] + 1][0]
        f_down = next(f for f, b in ev if b == bytes([0x90, 62, 90]))
        assert f_start == f_down or late  # Start = the first downbeat's frame
        s = spps[1][1]
        assert (s // 16 + 1, 1 + (s % 16) / 4) == (2, 1.5)  # the clock's bar and beat (4/4, from SPP 0)
