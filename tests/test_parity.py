"""One way through the code (issue 19): the CLI (``studio.generate.generate``) and the app (the
Generate button of the real window, offscreen) both go through ``studio.generate.plan`` /
``run`` / ``apply``, so the same video, engines, settings and seed give the same project: the
same tracks, notes, Foley hits (the material fixed before the physics are sampled, in both) and
tempo map. ``run`` never changes the project it is given; the app's Generate is one undo step."""
from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

import rhythm_fixtures as rf
from studio import adapters, generate
from studio.music import Note, TempoMap
from studio.project import Track, TrackKind, foley_signature, new_project_for_video

ENGINES = ("rhythm", "foley")
SEED, STYLE, MATERIAL = 3, "funk", "metal"
SET_TEMPO = TempoMap.constant(97.0, 0.25, 3)  # what tempo_rhythm puts on the project it is given


# -- small adapters -------------------------------------------------------------------------------
def tempo_rhythm(project, timeline, settings, job):
    """A music engine that sets its own grid on the project it is given (and writes on it)."""
    project.tempo = SET_TEMPO
    return [Track("Drums", TrackKind.MIDI, id="rhythm-drums", channel=9, engine="rhythm",
                  notes=[Note(SET_TEMPO.time_at(b), 0.1, 36, 100, 9) for b in range(4)])]


def meddling(project, timeline, settings, job):
    """Changes everything it can reach of the project it is given, and returns an edited copy of
    its first track (as spatial does) plus a new one."""
    first = project.tracks[0]
    project.tracks.append(Track("Stray", TrackKind.MIDI))
    project.tempo, project.name = SET_TEMPO, "meddled"
    return [dataclasses.replace(first, room="studio"), Track("New", TrackKind.MIDI, engine="")]


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("parity") / "beat.mp4"
    rf.beat_video(path, 120, duration_s=5.0)
    return path


def real_engines(monkeypatch, names=ENGINES):
    missing = [n for n in names if not adapters.present(n)]
    if missing:
        pytest.skip(f"the {', '.join(missing)} engine is not part of this build")
    monkeypatch.setattr(generate, "ADAPTERS", {n: f"{adapters.module_name(n)}:generate" for n in names})


def cli(video, out, engines=ENGINES, material=MATERIAL, style=STYLE):
    options = {"material": material} if material else {}
    return generate.generate(video, out, generate.GenerateSettings(engines=engines, seed=SEED, style=style,
                                                                   options=options))


def app(w, qtbot, video, engines=ENGINES, material=MATERIAL, style=STYLE):
    """Open and analyse ``video`` in the window, then Generate from the panel (its button)."""
    w.controller.open_video(video)
    qtbot.waitUntil(lambda: w.doc.analysis is not None and not w.controller.busy, timeout=120_000)
    w.show_generate()
    panel = w.generate_panel
    panel.refresh()  # the engines of this test
    for name, box in panel.checks.items():
        box.setChecked(name in engines)
    panel.seed.setValue(SEED)
    panel.style.setCurrentText(style or "")
    panel.material.setCurrentIndex(panel.material.findData(material) if material else 0)
    steps = w.doc.undo_stack.count()
    qtbot.mouseClick(panel.generate_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: w.doc.undo_stack.count() > steps and not w.controller.busy, timeout=180_000)
    assert w.last_error is None
    assert w.doc.undo_stack.count() == steps + 1 and w.doc.undo_stack.undoText().startswith("Generate")
    return w.doc.project


def content(project) -> dict:
    """What generation decides: every track but its random id, in order, and the tempo map."""
    d = project.to_dict()
    tracks = [{k: v for k, v in t.items() if k != "id"} for t in d["tracks"]]
    return {"tracks": tracks, "tempo": d["tempo"]}


def summary(project):
    return [(t.name, t.kind, t.engine, [(n.start_s, n.dur_s, n.pitch, n.velocity) for n in t.notes],
             t.events) for t in project.tracks]


# -- tests ----------------------------------------------------------------------------------------
def test_cli_and_app_generate_the_same_project(window, qtbot, video, tmp_path, monkeypatch):
    """The shipped rhythm and Foley engines, seed 3, style funk, material metal: the CLI core and
    the Generate button give identical tracks (names, kinds, notes, Foley hits with their
    physics) and the identical tempo map."""
    real_engines(monkeypatch)
    made = cli(video, tmp_path / "cli")
    shown = app(window, qtbot, video)
    assert [t.name for t in made.tracks] == ["Drums", "Bass", "Keys", "Foley"]
    foley = made.tracks[-1]
    assert made.tracks[0].notes and foley.events and {e.material for e in foley.events} == {MATERIAL}
    # the physics were sampled for the material (not re-labelled afterwards): still valid
    assert all(e.params is not None and e.params_for == foley_signature(e) for e in foley.events)
    assert summary(shown) == summary(made)
    assert shown.tempo == made.tempo
    assert content(shown) == content(made)


def test_cli_and_app_soundtrack_is_the_same(window, qtbot, video, tmp_path, monkeypatch):
    real_engines(monkeypatch, ("soundtrack",))
    made = cli(video, tmp_path / "cli", engines=("soundtrack",), material=None, style="calm")
    shown = app(window, qtbot, video, engines=("soundtrack",), material=None, style="calm")
    assert made.tracks and any(t.notes for t in made.tracks)
    assert content(shown) == content(made)


def test_a_tempo_an_engine_sets_reaches_the_app_as_in_the_cli(window, qtbot, video, tmp_path, monkeypatch):
    """Result.tempo: the grid the tracks were written on becomes the project's, in the CLI and in
    the app; the app's Generate (tracks and tempo) is one undo step."""
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_parity:tempo_rhythm"})
    made = cli(video, tmp_path / "cli", engines=("rhythm",), material=None)
    assert made.tempo == SET_TEMPO
    w = window
    shown = app(w, qtbot, video, engines=("rhythm",), material=None)
    assert shown.tempo == SET_TEMPO and content(shown) == content(made)
    w.doc.undo_stack.undo()  # one step back: no tracks, the grid from the video
    assert w.doc.project.tracks == [] and w.doc.project.tempo != SET_TEMPO
    w.doc.undo_stack.redo()
    assert content(w.doc.project) == content(made)


def test_run_leaves_the_project_alone_and_apply_puts_the_result_in(tmp_path, video, monkeypatch):
    monkeypatch.setattr(generate, "ADAPTERS", {"spatial": "test_parity:meddling"})
    project = new_project_for_video(video, tmp_path / "p" / "project.json")
    project.add_track(Track("Keys", TrackKind.MIDI, notes=[Note(1.0, 0.5, 60, 90, 0)]))
    before = project.to_dict()
    plan = generate.plan(project, ["spatial"], generate.GenerateSettings(seed=SEED))
    project.name = "edited after planning"  # the plan holds its own copy
    planned = plan.project.to_dict()
    result = generate.run(plan)
    assert project.name == "edited after planning" and plan.project.to_dict() == planned
    project.name = before["name"]
    assert project.to_dict() == before  # run changed nothing of it
    (placed,), (new,) = result.replaced_tracks, result.new_tracks
    assert placed.id == project.tracks[0].id and placed.room == "studio" and project.tracks[0].room is None
    assert new.name == "New" and new.engine == "spatial"  # named after the engine that made it
    assert [t.name for t in result.tracks] == ["Keys", "New"] and result.tempo == SET_TEMPO
    assert result.timeline is not None
    generate.apply(project, result)
    assert [(t.name, t.room) for t in project.tracks] == [("Keys", "studio"), ("New", None)]
    assert project.tempo == SET_TEMPO


def test_plan_fails_before_any_work(tmp_path, video, monkeypatch):
    from studio.errors import StudioError

    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_parity:tempo_rhythm"})
    project = new_project_for_video(video, tmp_path / "p" / "project.json")
    for engines, options, fragment in ((["rhythm"], {"material": "lava"}, "material 'lava'"),
                                       (["rhythm"], {"bpm": 1000}, "bpm 1000"),
                                       (["piano"], {}, "piano engine is not part of this build")):
        with pytest.raises(StudioError, match=fragment):
            generate.plan(project, engines, generate.GenerateSettings(options=options))


def test_run_warms_the_synth_up_with_each_engines_parts(tmp_path, video, monkeypatch):
    """The fonts and presets of the parts an engine made start loading while the next engine
    runs (``synth.warm_up``), with exactly the notes, program, kit and bank the render plays."""
    from studio import synth

    warmed = []
    monkeypatch.setattr(synth, "warm_up", lambda parts, rate, soundfont=None: warmed.append((list(parts), rate)))
    monkeypatch.setattr(generate, "ADAPTERS", {"rhythm": "test_parity:tempo_rhythm", "spatial": "test_parity:meddling"})
    project = new_project_for_video(video, tmp_path / "p" / "project.json")
    generate.run(generate.plan(project, ["rhythm", "spatial"], generate.GenerateSettings(seed=SEED)))
    (parts, rate), = warmed  # the spatial stand-in placed the Drums (warmed already) and made no part
    (notes, program, drums, bank), = parts
    assert rate == project.sample_rate and drums and program == 0 and bank is None
    assert [n.start_s for n in notes] == [SET_TEMPO.time_at(b) for b in range(4)]
