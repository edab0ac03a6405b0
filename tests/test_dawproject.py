"""The DAWproject export (export/dawproject.py via studio.exporting and ``studio export
--dawproject``): the ZIP's contents, notes on the SMF's beats (bar 1 = the first downbeat, the
pickup before it), the tempo map, IDREFs and the schema's element order. No schema file here
(the published XSD may not be copied into the repository); the order rules below are the
schema's sequences."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from export import dawproject, smf
from studio import exporting
from studio.errors import ExportError
from studio.music import Note, TempoChange, TempoMap
from studio.project import Mixer, Project, Track, TrackKind, VideoClip

SF = "/usr/share/sounds/sf2/TimGM6mb.sf2"
REPO = Path(__file__).resolve().parents[1]
DUR = 3.0
TEMPO = TempoMap((TempoChange(0.37, 100.0), TempoChange(1.6, 132.0)), 4)  # bar 1 at 0.37 s, a pickup before

# the schema's xs:sequence orders (children may be left out, never reordered)
SEQUENCES = {
    "Project": ["Application", "Transport", "Structure", "Arrangement", "Scenes"],
    "Transport": ["Tempo", "TimeSignature"],
    "Track": ["Channel", "Track"],
    "Channel": ["Devices", "Mute", "Pan", "Sends", "Volume"],
    "Arrangement": ["Lanes", "Markers", "TempoAutomation", "TimeSignatureAutomation"],
    "TempoAutomation": ["Target", "RealPoint"],
    "TimeSignatureAutomation": ["Target", "TimeSignaturePoint"],
    "Audio": ["File"],
    "Clips": ["Clip"],
    "Notes": ["Note"],
    "Markers": ["Marker"],
    "MetaData": ["Title", "Artist", "Album", "OriginalArtist", "Composer", "Songwriter", "Producer", "Arranger",
                 "Year", "Genre", "Copyright", "Website", "Comment"],
}


@pytest.fixture(autouse=True)
def _small_font(monkeypatch):
    monkeypatch.setenv("STUDIO_SOUNDFONT", SF)


def make_project(folder: Path) -> Project:
    """A saved 3 s project: two MIDI tracks (one note in the pickup before bar 1, drums) and an
    audio track; no video file is needed for stems, MIDI and the DAWproject."""
    folder.mkdir(parents=True, exist_ok=True)
    p = Project(name="demo", sample_rate=48000, tempo=TEMPO,
                video=VideoClip("none.mp4", DUR, 25.0, 64, 48, has_audio=False), master_fader_db=-6.0)
    lead = [Note(0.1, 0.2, 67, 90)] + [Note(0.4123 + 0.31 * i, 0.25, 60 + (i * 5) % 12, 70 + i) for i in range(7)]
    drums = [Note(0.37 + 0.6 * i, 0.1, (36, 38)[i % 2], 110, 9) for i in range(4)]
    p.add_track(Track("Lead\x01 / melody", TrackKind.MIDI, notes=lead, program=73, channel=2,
                      mixer=Mixer(gain_db=-6.0, pan=-0.5)))
    p.add_track(Track("Drums", TrackKind.MIDI, notes=drums, channel=9))
    t = np.arange(48000) / 48000
    sf.write(folder / "pad.wav", (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 48000)
    p.add_track(Track("Pad", TrackKind.AUDIO, audio_path="pad.wav", offset_s=1.0, mixer=Mixer(pan=0.3)))
    p.save(folder / "project.json")
    return p


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{None: whole project, (1.0, 3.0): a range after bar 1} -> (project, report, project.xml root)."""
    base = tmp_path_factory.mktemp("dawproject")
    p = make_project(base / "proj")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_SOUNDFONT", SF)
        for i, rng in enumerate((None, (1.0, 3.0))):
            d = base / f"out{i}"
            d.mkdir()
            r = exporting.export_project(p, stems_dir=d / "stems", midi_path=d / "song.mid",
                                         dawproject_path=d / "song.dawproject", time_range=rng)
            with zipfile.ZipFile(r.dawproject_path) as zf:
                out[rng] = (p, r, ET.fromstring(zf.read("project.xml")))
    return out


def smf_notes(path: Path) -> list[list[tuple[float, float, int, int, int]]]:
    """Per part of the SMF: (start beat, length in beats, channel, key, velocity), beats = ticks / PPQ."""
    mid = mido.MidiFile(str(path), charset="utf-8")
    parts = []
    for track in mid.tracks[1:]:
        k, open_, notes = 0, {}, []
        for msg in track:
            k += msg.time
            if msg.type == "note_on" and msg.velocity:
                open_.setdefault((msg.channel, msg.note), []).append((k, msg.velocity))
            elif msg.type in ("note_on", "note_off"):
                k0, vel = open_[(msg.channel, msg.note)].pop(0)
                notes.append((k0 / mid.ticks_per_beat, (k - k0) / mid.ticks_per_beat, msg.channel, msg.note, vel))
        parts.append(sorted(notes))
    return parts


def smf_conductor(path: Path) -> tuple[list[tuple[float, float]], list[tuple[float, str]]]:
    """(tempo points as (beat, quarter-note BPM), markers as (beat, text)) of the SMF."""
    mid = mido.MidiFile(str(path), charset="utf-8")
    k, tempos, markers = 0, [], []
    for msg in mid.tracks[0]:
        k += msg.time
        if msg.type == "set_tempo":
            tempos.append((k / mid.ticks_per_beat, 60e6 / msg.tempo))
        elif msg.type == "marker":
            markers.append((k / mid.ticks_per_beat, msg.text))
    return tempos, markers


def lanes_of(root: ET.Element) -> dict[str, ET.Element]:
    """Track id -> its lane in the arrangement."""
    return {lane.get("track"): lane for lane in root.find("Arrangement/Lanes").findall("Lanes")}


# -- the container ------------------------------------------------------------------------------
def test_the_zip_holds_the_xml_and_every_stem_as_written(exported):
    p, r, root = exported[None]
    with zipfile.ZipFile(r.dawproject_path) as zf:
        names = zf.namelist()
        assert names[:2] == ["project.xml", "metadata.xml"]
        assert sorted(names[2:]) == sorted(f"audio/{path.name}" for path in r.stems.values())
        for path in r.stems.values():
            assert zf.read(f"audio/{path.name}") == path.read_bytes()  # byte-identical to the stem
        meta = ET.fromstring(zf.read("metadata.xml"))
    assert meta.tag == "MetaData" and meta.findtext("Title") == "demo"
    assert root.tag == "Project" and root.get("version") == "1.0"
    assert root.find("Application").get("name") and r.dawproject_path in r.files
    tracks = root.findall("Structure/Track")
    audio = [t for t in tracks if t.get("contentType") == "audio"]
    notes = [t for t in tracks if t.get("contentType") == "notes"]
    assert [t.get("name") for t in audio] == ["Lead  / melody", "Drums", "Pad"]  # control character: a space
    assert [t.get("name") for t in notes] == ["Lead  / melody (MIDI)", "Drums (MIDI)"]
    lanes = lanes_of(root)
    for t in audio:
        a = lanes[t.get("id")].find("Clips/Clip/Audio")
        assert a.get("timeUnit") == "seconds" and float(a.get("duration")) == pytest.approx(DUR)
        assert a.get("sampleRate") == "48000" and a.get("channels") == "2"
        assert a.find("File").get("path") in names


def test_faders_stems_at_unity_parts_with_their_tracks_master_fader(exported):
    _, _, root = exported[None]
    faders = {t.get("name"): (float(t.find("Channel/Volume").get("value")), float(t.find("Channel/Pan").get("value")))
              for t in root.findall("Structure/Track")}
    assert faders["Pad"] == (1.0, 0.5)  # the stems are post-fader
    assert faders["Lead  / melody (MIDI)"] == (pytest.approx(10 ** (-6 / 20)), pytest.approx(0.25))
    master = root.find("Structure/Channel")
    assert master.get("role") == "master" and float(master.find("Volume").get("value")) == pytest.approx(10 ** (-6 / 20))
    assert all(t.find("Channel").get("destination") == master.get("id") for t in root.findall("Structure/Track"))


# -- time: the SMF's beats ------------------------------------------------------------------------
@pytest.mark.parametrize("rng", [None, (1.0, 3.0)])
def test_every_note_sits_on_the_smf_beat(exported, rng):
    p, r, root = exported[rng]
    lanes = lanes_of(root)
    ours = []
    for t in root.findall("Structure/Track[@contentType='notes']"):
        clip = lanes[t.get("id")].find("Clips/Clip")
        assert float(clip.get("time")) == 0.0
        ours.append(sorted((float(n.get("time")), float(n.get("duration")), int(n.get("channel")), int(n.get("key")),
                            round(float(n.get("vel")) * 127)) for n in clip.find("Notes")))
    theirs = smf_notes(r.midi_path)
    assert ours == theirs and all(theirs)
    tempos, markers = smf_conductor(r.midi_path)
    got = [(float(m.get("time")), m.get("name")) for m in root.findall("Arrangement/Markers/Marker")]
    assert got == markers
    if rng is None:  # bar 1 is the first downbeat; the pickup note comes before it
        assert [m for _, m in got] == [smf.BAR_ONE_MARKER] and got[0][0] > 0
        assert min(n[0] for n in ours[0]) < got[0][0]
    else:
        assert root.find("Arrangement/Markers") is None  # bar 1 lies before the range


def test_tempo_points_are_the_project_tempo_map(exported):
    p, r, root = exported[None]
    auto = root.find("Arrangement/TempoAutomation")
    target = auto.find("Target").get("parameter")
    assert target == root.find("Transport/Tempo").get("id") and auto.get("unit") == "bpm"
    points = [(float(pt.get("time")), float(pt.get("value"))) for pt in auto.findall("RealPoint")]
    assert all(pt.get("interpolation") == "hold" for pt in auto.findall("RealPoint"))
    assert points == smf_conductor(r.midi_path)[0]  # the SMF's conductor, point for point
    assert float(root.find("Transport/Tempo").get("value")) == points[0][1]
    # in seconds, the points are the project's map: the pickup up to bar 1, then each change
    seconds = [0.0]
    for (b0, bpm), (b1, _) in zip(points, points[1:]):
        seconds.append(seconds[-1] + (b1 - b0) * 60.0 / bpm)
    bar_one = float(root.find("Arrangement/Markers/Marker").get("time"))
    assert seconds[1] == pytest.approx(TEMPO.downbeat_s, abs=1e-4) and points[1][0] == bar_one
    for c in TEMPO.changes:
        i = next(i for i, s in enumerate(seconds) if abs(s - c.time_s) < 1e-3)
        assert points[i][1] == pytest.approx(c.bpm, abs=0.05)
    sigs = root.find("Arrangement/TimeSignatureAutomation")
    assert sigs.find("Target").get("parameter") == root.find("Transport/TimeSignature").get("id")
    got = [(float(s.get("time")), int(s.get("numerator")), int(s.get("denominator")))
           for s in sigs.findall("TimeSignaturePoint")]
    assert got == [(k / 480, n, d) for k, n, d in smf.tick_map(TEMPO, 0.0).signatures]
    assert got[0][0] == 0.0 and got[1] == (bar_one, 4, 4)  # the pickup bar, then 4/4 from bar 1


# -- well-formed by the schema's rules ------------------------------------------------------------
def test_ids_unique_and_every_idref_resolves(exported):
    for _, _, root in exported.values():
        ids = [e.get("id") for e in root.iter() if e.get("id") is not None]
        assert len(ids) == len(set(ids)) and all(i[0].isalpha() for i in ids)
        refs = [(e.tag, a, e.get(a)) for e in root.iter() for a in ("track", "destination", "parameter", "reference")
                if e.get(a) is not None]
        assert refs and all(v in ids for _, _, v in refs), refs
        tracks = {t.get("id") for t in root.iter("Track")}
        assert {lane.get("track") for lane in root.find("Arrangement/Lanes").findall("Lanes")} == tracks


def check_order(root: ET.Element) -> None:
    for e in root.iter():
        order = SEQUENCES.get(e.tag)
        if order is None:
            continue
        tags = [c.tag for c in e]
        assert all(t in order for t in tags), (e.tag, tags)
        assert [order.index(t) for t in tags] == sorted(order.index(t) for t in tags), (e.tag, tags)
    for e in root.iter():
        if e.tag in ("TempoAutomation", "TimeSignatureAutomation"):
            assert [c.tag for c in e][:1] == ["Target"] and len(e.findall("Target")) == 1
        if e.tag == "Clip":
            assert len(e) <= 1  # one content element
        if e.tag == "Markers":
            assert len(e) >= 1


def test_elements_follow_the_schema_order(exported):
    for _, r, root in exported.values():
        check_order(root)
        with zipfile.ZipFile(r.dawproject_path) as zf:
            check_order(ET.fromstring(zf.read("metadata.xml")))
    with pytest.raises(AssertionError):  # the check catches a swap
        bad = ET.fromstring("<Project><Transport/><Application/></Project>")
        check_order(bad)


def test_the_writer_keeps_every_string_xml_safe(tmp_path):
    tm = smf.tick_map(TempoMap.constant(120.0, 0.0))
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF")
    name = 'x"<&>\r\n\x00\x1b\u2028\ufffe y'
    xml = dawproject.project_xml([dawproject.AudioStem(name, wav, "a.wav", 1.0, 48000)],
                                 [dawproject.NotePart(name, ((0, 480, 0, 60, 100),))],
                                 tick_map=tm, ppq=480, length_s=1.0, application=(name, "1"))
    root = ET.fromstring(xml)  # well-formed: no character XML 1.0 cannot hold
    assert {t.get("name") for t in root.iter("Track")} == {'x"<&>' + " " * 7 + "y"}
    assert root.find("Arrangement/Markers") is None  # none given: the schema wants one or more
    check_order(root)


# -- the options --------------------------------------------------------------------------------
def test_a_dawproject_needs_the_stems(tmp_path):
    p = make_project(tmp_path / "proj")
    with pytest.raises(ExportError, match="DAWproject holds the stems"):
        exporting.export_project(p, dawproject_path=tmp_path / "x.dawproject")
    assert not (tmp_path / "x.dawproject").exists()


def studio(*args):
    env = {**os.environ, "STUDIO_SOUNDFONT": SF}
    return subprocess.run([sys.executable, "-m", "studio", "-q", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=300, env=env)


def test_cli_dawproject_flag(tmp_path):
    make_project(tmp_path / "proj")
    out = tmp_path / "out"
    out.mkdir()
    r = studio("export", tmp_path / "proj", "--out", out, "--dawproject")
    assert r.returncode == 2 and "DAWproject holds the stems" in r.stderr and "Traceback" not in r.stderr
    assert not any(out.iterdir())
    r = studio("export", tmp_path / "proj", "--out", out, "--stems", "--dawproject")
    assert r.returncode == 0, r.stderr
    assert {f.name for f in out.iterdir()} == {"demo stems", "demo.dawproject"}
    with zipfile.ZipFile(out / "demo.dawproject") as zf:
        stems = sorted(f.name for f in (out / "demo stems").iterdir())
        assert sorted(n[len("audio/"):] for n in zf.namelist() if n.startswith("audio/")) == stems
        assert ET.fromstring(zf.read("project.xml")).findall("Structure/Track[@contentType='notes']")


def test_export_dialog_offers_the_dawproject_beside_the_rpp(qapp, private_settings, tmp_path):
    from ui.widgets.export_dialog import ExportDialog

    p = make_project(tmp_path / "proj")
    dlg = ExportDialog(p)
    dlg.folder.setText(str(tmp_path / "out"))
    for cb in (dlg.stems, dlg.mix, dlg.midi, dlg.video, dlg.rpp, dlg.dawproject):
        cb.setChecked(False)
    assert dlg.arguments()["dawproject_path"] is None
    assert not dlg.buttons.button(dlg.buttons.StandardButton.Ok).isEnabled()
    dlg.dawproject.setChecked(True)  # it needs the stems: they are checked with it
    assert dlg.stems.isChecked() and dlg.buttons.button(dlg.buttons.StandardButton.Ok).isEnabled()
    args = dlg.arguments()
    assert args["dawproject_path"] == tmp_path / "out" / "demo.dawproject"
    dlg.accept()
    assert ExportDialog(p).dawproject.isChecked()  # remembered like the other choices
    dlg.stems.setChecked(False)  # no stems, no DAWproject
    assert not dlg.dawproject.isChecked() and dlg.arguments()["dawproject_path"] is None
