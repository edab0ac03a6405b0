"""Names and containment: names in any script survive into files and the MIDI file (UTF-8),
a shared project's names cannot steer a file out of the folder the user chose, REAPER strings
stay on one line, and audio from outside a project is exported only when confirmed."""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

import videogen
from export import reaper, smf
from studio import exporting, generate
from studio.errors import ExportError
from studio.music import Note, TempoMap
from studio.names import export_names, external_paths, is_inside, require_inside, safe_stem, unique_stems
from studio.project import Project, Track, TrackKind

REPO = Path(__file__).resolve().parents[1]
SF = "/usr/share/sounds/sf2/TimGM6mb.sf2"
SCRIPTS = ("Ударные", "drums 🥁", "鼓")
HOSTILE = ("../../x", "..", "a\x00b", "a\rb\nc", "con", " .hidden", "x/../../y", "\u202egnp.exe")


@pytest.fixture(autouse=True)
def _small_font(monkeypatch):
    monkeypatch.setenv("STUDIO_SOUNDFONT", SF)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def project_in(folder: Path, name: str = "demo", track_names=("Drums",), duration_s: float = 1.0) -> Project:
    """A saved project with one short MIDI track per name (no video needed)."""
    from studio.project import VideoClip

    folder.mkdir(parents=True, exist_ok=True)
    p = Project(name=name, sample_rate=48000, tempo=TempoMap.constant(120.0, 0.0),
                video=VideoClip("none.mp4", duration_s, 25.0, 64, 48, has_audio=False))
    for i, n in enumerate(track_names):
        p.add_track(Track(n, TrackKind.MIDI, notes=[Note(0.1 + 0.2 * i, 0.1, 60 + i, 100)], program=i, channel=i))
    p.save(folder / "project.json")
    return p


def midi_names(path: Path) -> list[str]:
    mid = mido.MidiFile(str(path), charset="utf-8")  # DAWs read the names as UTF-8
    return [m.name for tr in mid.tracks for m in tr if m.type == "track_name"]


# -- safe_stem ----------------------------------------------------------------------------------
def test_safe_stem_keeps_scripts_and_removes_every_way_out():
    for name in SCRIPTS:
        assert safe_stem(name) == name
    assert safe_stem("e\u0301") == "\u00e9"  # one normal form (NFC), as macOS and Linux agree on
    for name in HOSTILE + ("/etc/passwd", "C:\\Windows\\x", "a\\..\\b", "\t", "\x85x\u2028y", "<>:\"|?*"):
        s = safe_stem(name)
        assert s and "/" not in s and "\\" not in s and ".." not in s and not s.startswith(".")
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in '<>:"|?*\u2028\u202e' for c in s), repr(s)
        assert s == s.strip(" .")
    assert safe_stem("..") == "untitled" and safe_stem("") == "untitled" and safe_stem(" . ", "track") == "track"
    assert safe_stem("con") == "con_" and safe_stem("NUL.mid") == "NUL_.mid" and safe_stem("com1") == "com1_"
    assert safe_stem("console") == "console"  # only the device names themselves
    # bounded in bytes, cut between characters (3 bytes each)
    long = safe_stem("鼓" * 200)
    assert len(long.encode("utf-8")) <= 120 and long == "鼓" * 40
    assert len(safe_stem("x" * 1000).encode()) == 120
    assert unique_stems(["Drums", "drums", "DRUMS", "a/b"]) == ["Drums", "drums (2)", "DRUMS (3)", "a_b"]
    assert export_names("../../x", "flac") == {"stems_dir": "_._x stems", "mix_path": "_._x mix.flac",
                                              "midi_path": "_._x.mid", "video_path": "_._x with sound.mp4",
                                              "rpp_path": "_._x.rpp", "dawproject_path": "_._x.dawproject"}


def test_app_project_folders_use_the_same_names(tmp_path):
    from ui.generation import unique_project_path

    assert unique_project_path(tmp_path, Path("Ударные 🥁.mp4")).parent.name == "Ударные 🥁"
    assert unique_project_path(tmp_path, Path("a\rb.mp4")).parent.name == "a_b"
    assert unique_project_path(tmp_path, Path("..mp4")).parent.name == "project"


def test_inside_follows_symlinks(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere)
    assert is_inside(out, out / "a" / "b.wav") and is_inside(out, out)
    assert not is_inside(out, out / ".." / "x") and not is_inside(out, "/etc/x")
    assert not is_inside(out, out / "link" / "mix.wav")  # a link inside that leads out
    with pytest.raises(ExportError, match="outside the chosen folder"):
        require_inside(out, [out / "ok.wav", out / "link" / "mix.wav"])


# -- UTF-8 names: generate and export -----------------------------------------------------------
def script_engine(project, timeline, settings, job):
    """Tracks named in three scripts, a note each."""
    return [Track(n, TrackKind.MIDI, notes=[Note(0.1 + 0.2 * i, 0.1, 60 + i, 100)], program=i, channel=i,
                  engine="rhythm") for i, n in enumerate(SCRIPTS)]


def test_generate_video_and_tracks_named_in_any_script(tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_names:script_engine"})
    video = videogen.write_video(tmp_path / "鼓.mp4", lambda t: np.full((48, 64, 3), int(t * 200) % 255, np.uint8),
                                 duration_s=1.0, fps=25, size=(64, 48))
    out = tmp_path / "out"
    project = generate.generate(video, out, generate.GenerateSettings(engines=("rhythm",)))
    assert project.name == "鼓"
    assert midi_names(out / "鼓.mid") == ["鼓", *SCRIPTS]  # conductor (the project's name), then each part
    assert sorted(p.name for p in (out / "stems").iterdir()) == sorted(f"{n}.wav" for n in SCRIPTS)
    assert not [p for p in out.rglob(".*")]  # no temporary file left behind


def test_smf_round_trip_utf8_and_errors_name_the_target(tmp_path, monkeypatch):
    parts = [smf.Part(n, [Note(0.5, 0.25, 60, 90)], channel=i) for i, n in enumerate(SCRIPTS)]
    mid = smf.build_midi(parts, TempoMap.constant(100.0, 0.0), title="Проект 鼓 🥁")
    smf.write_midi(tmp_path / "a.mid", mid)
    assert midi_names(tmp_path / "a.mid") == ["Проект 鼓 🥁", *SCRIPTS]
    raw = (tmp_path / "a.mid").read_bytes()
    assert "Ударные".encode("utf-8") in raw and "🥁".encode("utf-8") in raw  # the bytes are UTF-8
    # an error while writing names the user's file, never the hidden temporary one
    p = project_in(tmp_path / "proj", track_names=SCRIPTS)
    target = tmp_path / "out" / "song.mid"
    target.parent.mkdir()

    bad = dataclasses.replace(p, tracks=[dataclasses.replace(p.tracks[0], program=200), *p.tracks[1:]])
    with pytest.raises(ExportError) as err:  # 200: no MIDI program
        exporting.export_project(bad, midi_path=target)
    assert str(target) in str(err.value) and ".part" not in str(err.value) and "program 200" in str(err.value)
    assert list(target.parent.iterdir()) == []

    def broken(*a, **k):  # a mido MidiFile that cannot be encoded
        raise ValueError("data byte must be in range 0..127")

    monkeypatch.setattr(mido.MidiFile, "save", broken)
    with pytest.raises(ExportError, match="a.mid"):
        smf.write_midi(tmp_path / "a.mid", mid)

    class Failing:  # libsndfile reports its errors as RuntimeError
        def __init__(self, *a, **k):
            raise RuntimeError("Error : unspecified internal error")

    monkeypatch.setattr(sf, "SoundFile", Failing)
    mix = target.parent / "Ударные mix.wav"
    with pytest.raises(ExportError) as err:
        exporting.export_project(p, mix_path=mix)
    assert str(mix) in str(err.value) and ".part" not in str(err.value)
    assert list(target.parent.iterdir()) == []


# -- containment --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../x", "ABS", "a\x00b/../../c", "a\rb\n../..", "x/../../../y"])
def test_export_dialog_names_cannot_leave_the_chosen_folder(qapp, private_settings, tmp_path, name):
    """The dialog's base name (pre-filled from the project's name, or typed) and every track
    name end up inside the chosen folder; checked on the file system after a real export."""
    from ui.widgets.export_dialog import ExportDialog

    if name == "ABS":
        name = str(tmp_path / "abs" / "x")
    proj_dir = tmp_path / "a" / "b" / "proj"
    p = project_in(proj_dir, name=name, track_names=(name, "/etc/evil", "..", "Drums\x00\r"))
    out = tmp_path / "a" / "b" / "out"
    dlg = ExportDialog(p)
    assert dlg.base.text() == safe_stem(name)  # pre-filled sanitised
    dlg.folder.setText(str(out))
    for cb in (dlg.stems, dlg.mix, dlg.midi, dlg.rpp):
        cb.setChecked(True)
    args = dlg.arguments()
    assert args["root"] == out
    for key in ("stems_dir", "mix_path", "midi_path", "rpp_path"):
        assert args[key].parent == out and is_inside(out, args[key])
    out.mkdir(parents=True)
    before = files_under(tmp_path)
    exporting.export_project(p, **args)
    new = files_under(tmp_path) - before
    assert new and all(is_inside(out, f) for f in new), sorted(map(str, new))
    assert len(list(args["stems_dir"].glob("*.wav"))) == 4
    dlg.base.setText("../../typed")  # what the user types is made safe the same way
    assert dlg.arguments()["mix_path"] == out / "_._typed mix.wav"


def test_export_refuses_outputs_outside_root_and_through_links(tmp_path):
    p = project_in(tmp_path / "proj")
    out = tmp_path / "out"
    (tmp_path / "elsewhere").mkdir()
    out.mkdir()
    (out / "link").symlink_to(tmp_path / "elsewhere")
    before = files_under(tmp_path)
    for kwargs in ({"mix_path": out / ".." / "mix.wav"}, {"midi_path": tmp_path / "x.mid"},
                   {"stems_dir": out / "link" / "stems"}, {"mix_path": out / "link" / "mix.wav"}):
        with pytest.raises(ExportError, match="outside the chosen folder"):
            exporting.export_project(p, root=out, **kwargs)
    assert files_under(tmp_path) == before  # nothing written, no folder made
    # a stem file that is a link leading out is refused as well (without root too)
    (out / "stems").mkdir()
    (out / "stems" / "Drums.wav").symlink_to(tmp_path / "elsewhere" / "victim.wav")
    with pytest.raises(ExportError, match="outside the chosen folder"):
        exporting.export_project(p, stems_dir=out / "stems", overwrite=True)
    assert not (tmp_path / "elsewhere" / "victim.wav").exists()


def studio(*args, cwd=None):
    env = {**os.environ, "STUDIO_SOUNDFONT": SF}
    return subprocess.run([sys.executable, "-m", "studio", "-q", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=300, env=env)


def test_cli_export_out_default_names_and_containment(tmp_path):
    base = tmp_path / "a" / "b"
    project_in(base / "proj", name="../../x", track_names=("../../evil", "鼓"))
    out = base / "out"
    out.mkdir()
    before = files_under(tmp_path)
    r = studio("export", base / "proj", "--out", out, "--stems", "--mix", "--midi", "--rpp")
    assert r.returncode == 0, r.stderr
    new = files_under(tmp_path) - before
    assert new and all(is_inside(out, f) for f in new), sorted(map(str, new))
    assert {f.name for f in out.iterdir()} == {"_._x stems", "_._x mix.wav", "_._x.mid", "_._x.rpp"}
    assert midi_names(out / "_._x.mid") == ["../../x", "../../evil", "鼓"]  # the names themselves, in the file
    # an explicit path outside --out is refused before any work
    before = files_under(tmp_path)
    r = studio("export", base / "proj", "--out", out, "--mix", "../escape.wav", "--overwrite")
    assert r.returncode == 2 and "outside the chosen folder" in r.stderr and "Traceback" not in r.stderr
    r = studio("export", base / "proj", "--out", out, "--midi", tmp_path / "abs.mid", "--overwrite")
    assert r.returncode == 2 and "outside the chosen folder" in r.stderr
    assert files_under(tmp_path) == before


# -- REAPER strings -----------------------------------------------------------------------------
INJECTION = ['Drums"\r  >\r  <TRACK\r    NAME "evil', "a\nb", "tab\there", "nul\x00byte", "nel\x85x",
             "ls\u2028ps\u2029x", "esc\x1b[2J", "all'three\"`quotes\r<ITEM"]


def rpp_tokens(args: str) -> list[str]:
    """Split an RPP line's arguments as REAPER does: quoted strings ("", '', ``) or bare words."""
    tokens, i = [], 0
    while i < len(args):
        if args[i] == " ":
            i += 1
            continue
        if args[i] in "\"'`":
            end = args.index(args[i], i + 1)  # raises when a quote is left open
            tokens.append(args[i + 1:end])
            i = end + 1
            assert i == len(args) or args[i] == " ", args
        else:
            end = args.find(" ", i)
            end = len(args) if end < 0 else end
            tokens.append(args[i:end])
            i = end
    return tokens


def parse_rpp(text: str) -> list:
    """Chunks as nested lists [name, args, children...]; every line split as any reader could
    (str.splitlines breaks at CR, LF, VT, FF, FS-RS, NEL, U+2028/9)."""
    root: list = ["ROOT", [], []]
    stack = [root]
    for line in text.splitlines():
        s = line.strip()
        assert not any(unicodedata_cc(c) for c in s), repr(line)
        if s.startswith("<"):
            name, _, rest = s[1:].partition(" ")
            chunk = [name, rpp_tokens(rest), []]
            stack[-1][2].append(chunk)
            stack.append(chunk)
        elif s == ">":
            stack.pop()
        else:
            key, _, rest = s.partition(" ")
            stack[-1][2].append((key, rpp_tokens(rest)))
    assert len(stack) == 1
    return root[2]


def unicodedata_cc(c: str) -> bool:
    import unicodedata

    return unicodedata.category(c) in ("Cc", "Zl", "Zp")


def test_rpp_strings_stay_on_one_line(tmp_path):
    p = project_in(tmp_path / "proj", track_names=INJECTION)
    out = tmp_path / "out"
    out.mkdir()
    report = exporting.export_project(p, stems_dir=out / "stems", midi_path=out / "p.mid", rpp_path=out / "p.rpp")
    text = report.rpp_path.read_text(encoding="utf-8")
    (project,) = parse_rpp(text)
    assert project[0] == "REAPER_PROJECT"
    tracks = [c for c in project[2] if isinstance(c, list) and c[0] == "TRACK"]
    # the video's track, one per stem and the MIDI track, no injected chunk
    assert len(tracks) == len(INJECTION) + 2 and tracks[0][2][0] == ("NAME", ["Video"])
    for track, name in zip(tracks[1:], INJECTION):
        (key, args), item = track[2][0], track[2][1]
        assert key == "NAME" and len(args) == 1
        assert args[0].replace("'", '"') == re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", name).replace("'", '"')
        assert item[0] == "ITEM" and [c[0] for c in item[2] if isinstance(c, list)] == ["SOURCE"]
        source = next(c for c in item[2] if isinstance(c, list))
        (fkey, fargs), = source[2]
        assert fkey == "FILE" and len(fargs) == 1 and (out / fargs[0]).is_file()  # the stem it names exists
    # the writer alone, with the control characters in a file path too
    tm = smf.tick_map(TempoMap.constant(120.0, 0.0))
    text = reaper.rpp_text(out / "q.rpp", [("x\ry", out / "a\r<TRACK.wav", 1.0)], sample_rate=48000, bpm=120.0,
                           tick_map=tm, beats_per_bar=4, beat_unit=4)
    (project,) = parse_rpp(text)
    assert [c[0] for c in project[2] if isinstance(c, list)] == ["TRACK"]


# -- audio from outside the project -------------------------------------------------------------
def external_project(tmp_path: Path) -> tuple[Project, Path]:
    secret = tmp_path / "private" / "secret.wav"
    secret.parent.mkdir()
    sf.write(str(secret), (0.2 * np.sin(np.arange(24000) / 10)).astype(np.float32), 48000)
    p = project_in(tmp_path / "shared")
    p.add_track(Track("Pad", TrackKind.AUDIO, audio_path=str(secret)))
    p.add_track(Track("Pad 2", TrackKind.AUDIO, audio_path="../private/secret.wav"))
    (tmp_path / "shared" / "inside.wav").symlink_to(secret)  # a link inside that leads out
    p.add_track(Track("Pad 3", TrackKind.AUDIO, audio_path="inside.wav"))
    p.save()
    return p, secret


def test_external_audio_is_refused_unless_allowed(tmp_path):
    p, secret = external_project(tmp_path)
    assert external_paths(p) == [str(secret), "../private/secret.wav", "inside.wav"]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError, match="outside its folder") as err:
        exporting.export_project(p, mix_path=out / "mix.wav", root=out)
    assert str(secret) in str(err.value)
    assert list(out.iterdir()) == []
    exporting.export_project(p, midi_path=out / "p.mid", root=out)  # MIDI alone reads no audio
    report = exporting.export_project(p, mix_path=out / "mix.wav", root=out, allow_external_audio=True)
    assert report.mix_path.is_file() and report.loudness_lufs > -70
    # muted tracks are not rendered, so not asked about
    p.tracks = [dataclasses.replace(t, mixer=dataclasses.replace(t.mixer, mute=True))
                if t.kind is TrackKind.AUDIO else t for t in p.tracks]
    exporting.export_project(p, mix_path=out / "mix2.wav", root=out)


def test_cli_external_audio_needs_the_flag(tmp_path):
    p, secret = external_project(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    r = studio("export", p.folder, "--mix", out / "mix.wav")
    assert r.returncode == 2 and "--allow-external-audio" in r.stderr and str(secret) in r.stderr
    assert not (out / "mix.wav").exists()
    r = studio("export", p.folder, "--mix", out / "mix.wav", "--allow-external-audio")
    assert r.returncode == 0, r.stderr
    assert (out / "mix.wav").is_file() and "outside the project" in r.stderr  # shown to the user


def test_app_asks_before_exporting_external_audio(qapp, private_settings, qtbot, tmp_path):
    from ui.controller import Controller
    from ui.document import Document
    from ui.workers import Workers

    p, secret = external_project(tmp_path)
    doc = Document()
    doc.set_project(p)
    workers = Workers()
    c = Controller(doc, workers)
    asked, reports, errors = [], [], []
    c.exported.connect(reports.append)
    c.error.connect(lambda t, m: errors.append(m))
    out = tmp_path / "out"
    args = {"root": out, "mix_path": out / "mix.wav", "stems_dir": None}
    c.ask_external_audio = lambda paths: asked.append(paths) or False
    c.export(dict(args))
    assert asked == [[str(secret), "../private/secret.wav", "inside.wav"]] and not c.busy and not out.exists()
    c.ask_external_audio = lambda paths: asked.append(paths) or True
    c.export(dict(args))
    qtbot.waitUntil(lambda: not c.busy, timeout=30_000)
    assert not errors and reports and (out / "mix.wav").is_file()
    # outputs outside the chosen folder are refused before any folder is made
    c.export({"root": out, "mix_path": tmp_path / "elsewhere" / "mix.wav"})
    assert errors and "outside the chosen folder" in errors[-1] and not (tmp_path / "elsewhere").exists()
    workers.shutdown()
