"""All or nothing, and one writer per folder: generate, spatialize, export and batch (issue 22).

Each failure is injected at a known point (an engine, a writer, a full disk as ``ENOSPC``, a
cancel, a rename in the commit, ``kill -9``) and the folder is compared byte for byte with what
it held before. The kills and the concurrent runs are real processes, made deterministic by a
hook in the child (``CHILD``): it writes a mark file at a chosen point and then waits for a "go"
file (never given when the parent means to kill it).
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import videogen
from export import smf, wav
from studio import exporting
from studio import generate as generate_mod
from studio.analysis.timeline import AnalysisTimeline
from studio.batch import run_batch
from studio.cli import main
from studio.errors import JobCancelled, StudioError
from studio.generate import GenerateSettings, generate
from studio.music import Note
from studio.project import Project, Track, TrackKind

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SF = "/usr/share/sounds/sf2/TimGM6mb.sf2"
LEFTOVER = (".studio-stage-", ".studio.lock")


def hats(project, timeline, settings, job):
    """A tiny engine: a hi-hat on every visual beat (a different pitch per seed)."""
    if os.environ.get("TXN_ENGINE_FAILS"):
        raise StudioError("the engine failed")
    notes = [Note(float(t), 0.1, 42 + settings.seed % 3, 90, 9) for t in timeline.beat_times_s]
    return [Track("Hats", TrackKind.MIDI, notes=notes or [Note(0.1, 0.1, 42, 90, 9)], channel=9, engine="rhythm")]


def _clip(path: Path, seconds: float, speed: float) -> Path:
    def draw(t):
        img = np.full((72, 96, 3), 40, np.uint8)
        y = int(30 + 25 * abs(np.sin(np.pi * t * speed)))
        img[y:y + 10, 40:50] = 230
        return img

    return videogen.write_video(path, draw, duration_s=seconds, fps=25, size=(96, 72))


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder under ``folder``, hidden ones included."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def visible(snap: dict) -> dict:
    """A snapshot without what a killed writer may leave until the next run (stage, lock file)."""
    return {k: v for k, v in snap.items() if not any(part.startswith(LEFTOVER) for part in Path(k).parts)}


def assert_consistent(out: Path) -> None:
    """One project: its stems are exactly its audible tracks, nothing half-written around it."""
    p = Project.load(out / "project.json")
    assert sorted(f.stem for f in (out / "stems").iterdir()) == sorted(t.name for t in p.tracks)
    assert (out / "mix.wav").is_file()
    assert not [x for x in out.rglob("*") if x.name.startswith(LEFTOVER)]


@pytest.fixture(autouse=True)
def _small_font(monkeypatch):
    monkeypatch.setenv("STUDIO_SOUNDFONT", SF)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("videos")
    return _clip(d / "a.mp4", 2.0, 2.0), _clip(d / "b.mp4", 1.5, 3.0)


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setitem(generate_mod.ADAPTERS, "rhythm", "test_transactions:hats")
    return GenerateSettings(engines=("rhythm",), seed=1)


@pytest.fixture
def out(tmp_path, videos, engine) -> Path:
    """A finished project (video a, seed 1) to be kept intact."""
    generate(videos[0], tmp_path / "out", engine)
    return tmp_path / "out"


def _enospc(path, *a, **k):
    with open(path, "wb") as fh:
        fh.write(b"half")  # a writer that dies half-way
    raise OSError(errno.ENOSPC, "No space left on device")


def _failing_rename(monkeypatch, when):
    """os.rename and os.replace fail when ``when(src, dst, n)`` says so; n counts the calls that
    move a file into or out of a staging folder (a commit's renames)."""
    real_rename, real_replace, n = os.rename, os.replace, [0]

    def make(real):
        def fake(src, dst, *a, **k):
            n[0] += ".studio-stage-" in str(src) + str(dst)
            if when(Path(src), Path(dst), n[0]):
                raise OSError(errno.EIO, "Input/output error", str(dst))
            return real(src, dst, *a, **k)
        return fake

    monkeypatch.setattr(os, "rename", make(real_rename))
    monkeypatch.setattr(os, "replace", make(real_replace))


# -- generate ---------------------------------------------------------------------------------------
def _undo(monkeypatch) -> None:
    """The injected fault gone; the test's small engine and soundfont kept."""
    monkeypatch.undo()
    monkeypatch.setitem(generate_mod.ADAPTERS, "rhythm", "test_transactions:hats")
    monkeypatch.setenv("STUDIO_SOUNDFONT", SF)


def _inject(case: str, monkeypatch) -> None:
    if case == "engine":
        monkeypatch.setenv("TXN_ENGINE_FAILS", "1")
    elif case == "analysis_disk_full":
        monkeypatch.setattr(AnalysisTimeline, "save", lambda self, path, **k: _enospc(path))
    elif case == "stem_disk_full":
        monkeypatch.setattr(wav, "write_audio", _enospc)
    elif case == "midi_disk_full":
        monkeypatch.setattr(smf, "write_midi", lambda path, mid, **k: _enospc(path))
    elif case == "cancel":
        def cancelled(*a, **k):
            raise JobCancelled("generating was cancelled")
        monkeypatch.setattr(wav, "write_audio", cancelled)
    elif case == "project_disk_full":
        real = Project.save

        def save(self, path=None):
            if Path(path or self.path).name == "project.json":
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(self, path)
        monkeypatch.setattr(Project, "save", save)
    elif case == "commit":  # the commit's fourth rename fails: two targets already replaced
        _failing_rename(monkeypatch, lambda src, dst, n: n == 4)


GENERATE_FAULTS = ["engine", "analysis_disk_full", "stem_disk_full", "midi_disk_full", "cancel",
                   "project_disk_full", "commit"]


@pytest.mark.parametrize("case", GENERATE_FAULTS)
def test_failed_generate_leaves_the_previous_project_byte_identical(out, videos, engine, monkeypatch, case):
    before = snapshot(out)
    _inject(case, monkeypatch)
    with pytest.raises((StudioError, OSError)):
        generate(videos[1], out, GenerateSettings(engines=("rhythm",), seed=2), overwrite=True)
    assert snapshot(out) == before  # byte-identical, no new file, no staging folder, no lock file
    _undo(monkeypatch)
    generate(videos[1], out, GenerateSettings(engines=("rhythm",), seed=2), overwrite=True)
    assert Project.load(out / "project.json").name == "b"
    assert_consistent(out)


@pytest.mark.parametrize("case", ["stem_disk_full", "midi_disk_full", "project_disk_full"])
def test_failed_generate_into_a_new_folder_leaves_nothing_and_the_rerun_works(tmp_path, videos, engine,
                                                                              monkeypatch, case):
    target = tmp_path / "new" / "out"
    _inject(case, monkeypatch)
    with pytest.raises((StudioError, OSError)):
        generate(videos[0], target, engine)
    assert not (tmp_path / "new").exists()  # the folders it made are gone again
    _undo(monkeypatch)
    generate(videos[0], target, engine)  # no "project.json already exists"
    assert_consistent(target)


def test_cli_generate_failure_is_one_line_and_the_rerun_needs_no_overwrite(tmp_path, videos, engine,
                                                                          monkeypatch, capsys):
    monkeypatch.setattr(wav, "write_audio", _enospc)
    assert main(["-q", "generate", str(videos[0]), "--rhythm", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("studio: error:") and "disk is full" in err[0]
    assert not (tmp_path / "o").exists()
    _undo(monkeypatch)
    assert main(["-q", "generate", str(videos[0]), "--rhythm", "--out", str(tmp_path / "o")]) == 0
    assert_consistent(tmp_path / "o")


def test_generate_replaces_the_stems_of_an_earlier_run_whole(out, videos, monkeypatch):
    (out / "stems" / "Old engine.wav").write_bytes(b"RIFF")  # a stem no track of the new run makes
    generate(videos[1], out, GenerateSettings(engines=("rhythm",), seed=2), overwrite=True)
    assert_consistent(out)


# -- spatialize -------------------------------------------------------------------------------------
def _spatial_fault(case: str, monkeypatch, tmp_path) -> list[str]:
    if case == "hrir_damaged":
        import studio.render
        from studio.errors import ModelError

        def damaged(*a, **k):
            raise ModelError("the HRIR model is damaged (sha256 mismatch); reinstall it")
        monkeypatch.setattr(studio.render, "render_project", damaged)
    elif case == "disk_full":
        real, calls = wav.write_audio, []

        def second_fails(path, *a, **k):
            calls.append(path)
            if len(calls) == 2:
                _enospc(path)
            return real(path, *a, **k)
        monkeypatch.setattr(wav, "write_audio", second_fails)
    elif case == "mix_is_a_folder":
        (tmp_path / "a_folder").mkdir()
        return ["--mix", str(tmp_path / "a_folder")]
    elif case == "commit":
        _failing_rename(monkeypatch, lambda src, dst, n: n == 3)
    return []


@pytest.mark.parametrize("case", ["hrir_damaged", "disk_full", "mix_is_a_folder", "commit"])
def test_failed_spatialize_leaves_project_and_exports_byte_identical(out, tmp_path, monkeypatch, capsys, case):
    pytest.importorskip("studio.adapters.spatial")
    extra = _spatial_fault(case, monkeypatch, tmp_path)
    before = snapshot(out), snapshot(tmp_path / "a_folder") if extra else None
    assert main(["-q", "spatialize", str(out), "--room", "studio", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("studio: error:"), err
    assert (snapshot(out), snapshot(tmp_path / "a_folder") if extra else None) == before
    _undo(monkeypatch)
    assert main(["-q", "spatialize", str(out), "--room", "studio"]) == 0
    assert Project.load(out / "project.json").tracks[0].spatial is not None
    assert_consistent(out)


# -- export -----------------------------------------------------------------------------------------
def _exports(out: Path, folder: Path, **kw):
    p = Project.load(out / "project.json")
    return exporting.export_project(p, stems_dir=folder / "stems", midi_path=folder / "x.mid",
                                 rpp_path=folder / "x.rpp", **kw)


@pytest.fixture
def exported(out, tmp_path) -> Path:
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "mix.wav").mkdir()  # a folder where the mix would go
    (folder / "mine.txt").write_text("the user's own file")
    _exports(out, folder, mix_path=folder / "old-mix.wav", bit_depth="24")
    return folder


def test_export_with_a_mix_path_that_is_a_folder_changes_nothing(out, exported):
    before = snapshot(exported)
    with pytest.raises(StudioError, match="folder"):
        _exports(out, exported, mix_path=exported / "mix.wav", bit_depth="16", overwrite=True)
    assert snapshot(exported) == before  # the old MIDI file and REAPER project too


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5])
def test_export_failing_in_the_commit_renames_back(out, exported, monkeypatch, fail_at):
    before = snapshot(exported)
    _failing_rename(monkeypatch, lambda src, dst, n: n == fail_at)
    with pytest.raises(StudioError):
        _exports(out, exported, mix_path=exported / "old-mix.wav", bit_depth="16", overwrite=True)
    assert snapshot(exported) == before


def test_export_into_a_folder_being_written_is_busy_at_once(out, exported, monkeypatch):
    from studio.transaction import BusyError, FolderLock

    rendered = []
    monkeypatch.setattr("studio.render.render_project", lambda *a, **k: rendered.append(1))
    before = snapshot(exported)
    with FolderLock(exported):  # another writer (a second open of the lock, as another process)
        with pytest.raises(BusyError, match=f"busy: another studio process \\(pid {os.getpid()}\\)"):
            _exports(out, exported, mix_path=exported / "old-mix.wav", overwrite=True)
        assert rendered == []  # refused before any work
    assert snapshot(exported) == before


# -- batch ------------------------------------------------------------------------------------------
@pytest.fixture
def batch_in(tmp_path, videos) -> Path:
    src = tmp_path / "videos"
    src.mkdir()
    for name, v in (("a.mp4", videos[0]), ("batch.json.mp4", videos[1])):
        (src / name).write_bytes(v.read_bytes())
    return src


def test_batch_state_cannot_collide_with_a_video_name(batch_in, tmp_path, engine):
    out = tmp_path / "out"
    items = run_batch(batch_in, out, engine)
    assert [i.status for i in items] == ["done", "done"], items
    assert_consistent(out / "batch.json")
    items = run_batch(batch_in, out, engine)  # resumable, not broken for good
    assert [i.status for i in items] == ["skipped", "skipped"]


def test_batch_failing_to_swap_a_project_keeps_the_finished_one(batch_in, tmp_path, engine, monkeypatch):
    out = tmp_path / "out"
    run_batch(batch_in, out, engine)
    before = snapshot(out / "a")
    # installing a's new project fails (putting the old one back does not)
    _failing_rename(monkeypatch, lambda src, dst, n: dst == out / "a" and src.parent.name != "old")
    items = run_batch(batch_in, out, GenerateSettings(engines=("rhythm",), seed=2))
    assert [i.status for i in items] == ["failed", "done"]
    assert snapshot(out / "a") == before
    assert not [x for x in out.iterdir() if x.name.startswith(LEFTOVER) or x.name.endswith((".old", ".partial"))]


def test_batch_into_a_folder_being_written_is_busy_at_once(batch_in, tmp_path, engine):
    from studio.transaction import BusyError, FolderLock

    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out):
        with pytest.raises(BusyError, match="busy"):
            run_batch(batch_in, out, engine)
    assert list(out.iterdir()) == []


# -- kill -9 and two writers at once: real processes ------------------------------------------------
CHILD = """
import os, sys, time, pathlib, signal
sys.path.insert(0, {tests!r})
from studio import generate
generate.ADAPTERS['rhythm'] = 'test_transactions:hats'
mark, go = os.environ.get('TXN_MARK'), os.environ.get('TXN_GO')
if mark:  # after the first audio file is written: say so, then wait for "go" (or the kill)
    import export.wav as w
    real = w.write_audio
    def slow(*a, **k):
        real(*a, **k)
        pathlib.Path(mark).write_text(str(os.getpid()))
        while not (go and os.path.exists(go)):
            time.sleep(0.02)
    w.write_audio = slow
kill_at = int(os.environ.get('TXN_KILL_AT_RENAME', '0'))
if kill_at:  # die in the middle of the commit's renames
    real_rename, n = os.rename, [0]
    def rename(src, dst):
        if '.studio-stage-' in str(src) + str(dst):
            n[0] += 1
            if n[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        real_rename(src, dst)
    os.rename = rename
from studio.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _child(*args, **env) -> subprocess.Popen:
    code = CHILD.format(tests=str(TESTS))
    return subprocess.Popen([sys.executable, "-c", code, "-q", *map(str, args)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "STUDIO_SOUNDFONT": SF, **{k: str(v) for k, v in env.items()}})


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "the child never reached its mark"
        time.sleep(0.02)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("fresh", [True, False], ids=["new-folder", "overwrite"])
def test_generate_killed_mid_run_leaves_the_previous_state_and_the_rerun_works(out, videos, tmp_path, fresh):
    target = tmp_path / "fresh" if fresh else out
    before = snapshot(target) if target.exists() else None
    mark = tmp_path / "mark"
    proc = _child("generate", videos[1], "--rhythm", "--seed", 2, "--out", target,
                  *([] if fresh else ["--overwrite"]), TXN_MARK=mark)
    _wait_for(mark, proc)  # a stem is written (into the staging folder)
    _kill(proc)
    if fresh:
        assert not (target / "project.json").exists()
    else:
        assert visible(snapshot(target)) == before
    r = _child("generate", videos[1], "--rhythm", "--seed", 2, "--out", target, *([] if fresh else ["--overwrite"]))
    stdout, stderr = r.communicate(timeout=300)
    assert r.returncode == 0, stderr
    assert Project.load(target / "project.json").name == "b"
    assert_consistent(target)  # the killed run's staging folder and lock file are gone


def test_spatialize_killed_mid_run_leaves_the_previous_state_and_the_rerun_works(out, tmp_path):
    pytest.importorskip("studio.adapters.spatial")
    before = snapshot(out)
    mark = tmp_path / "mark"
    proc = _child("spatialize", out, "--room", "hall", TXN_MARK=mark)
    _wait_for(mark, proc)
    _kill(proc)
    assert visible(snapshot(out)) == visible(before)
    r = _child("spatialize", out, "--room", "hall")
    _, stderr = r.communicate(timeout=300)
    assert r.returncode == 0, stderr
    assert Project.load(out / "project.json").tracks[0].spatial is not None
    assert_consistent(out)


@pytest.mark.parametrize("kill_at", [2, 3, 4])
def test_kill_during_the_commit_is_rolled_back_by_the_next_writer(out, exported, tmp_path, kill_at):
    from studio.transaction import Transaction

    before = snapshot(exported)
    proc = _child("export", out, "--stems", exported / "stems", "--midi", exported / "x.mid",
                  "--mix", exported / "old-mix.wav", "--bit-depth", "16", "--overwrite",
                  TXN_KILL_AT_RENAME=kill_at)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert visible(snapshot(exported)) != before  # killed half-way through the renames
    with Transaction([exported, exported / "stems"]):  # the next writer of these folders
        pass
    assert snapshot(exported) == before  # the old files back, the staging folders gone


def test_two_generates_into_one_folder_one_wins_the_other_is_busy_at_once(videos, tmp_path):
    target, mark, go = tmp_path / "out", tmp_path / "mark", tmp_path / "go"
    first = _child("generate", videos[0], "--rhythm", "--out", target, TXN_MARK=mark, TXN_GO=go)
    _wait_for(mark, first)  # the first one holds the folder and is writing
    t0 = time.monotonic()
    second = _child("generate", videos[1], "--rhythm", "--seed", 2, "--out", target, "--overwrite",
                    TXN_MARK=tmp_path / "mark2")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2 and "busy" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and f"pid {first.pid}" in err
    assert not (tmp_path / "mark2").exists()  # refused before any work
    assert time.monotonic() - t0 < 60
    go.write_text("go")
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    p = Project.load(target / "project.json")
    assert p.name == "a" and [t.name for t in p.tracks] == ["Hats"]
    assert_consistent(target)


def test_batch_state_file_is_in_a_hidden_folder(batch_in, tmp_path, engine):
    out = tmp_path / "out"
    run_batch(batch_in, out, engine)
    state = json.loads((out / ".studio-batch" / "batch.json").read_text())
    assert set(state["videos"]) == {"a.mp4", "batch.json.mp4"}


def _app_controller(out: Path):
    """The app's controller on the project in ``out``, its workers and the list its error
    messages go to (the test asks for private_settings)."""
    from ui.controller import Controller
    from ui.document import Document
    from ui.workers import Workers

    doc = Document()
    doc.set_project(Project.load(out / "project.json"))
    workers = Workers()
    c = Controller(doc, workers)
    errors = []
    c.error.connect(lambda title, msg: errors.append((title, msg)))
    return c, workers, errors


def test_app_shows_a_busy_folder_as_a_message(qapp, private_settings, qtbot, out, exported):
    from studio.transaction import FolderLock

    c, workers, errors = _app_controller(out)
    before = snapshot(exported)
    try:
        with FolderLock(exported):  # a `studio` process writing there
            c.export({"mix_path": exported / "old-mix.wav", "overwrite": True})
            qtbot.waitUntil(lambda: not c.busy, timeout=30_000)
    finally:
        workers.shutdown()
    assert len(errors) == 1 and errors[0][0] == "Export failed"
    assert "is busy: another studio process" in errors[0][1] and "internal error" not in errors[0][1]
    assert snapshot(exported) == before


def test_app_save_into_a_folder_being_written_is_a_message(qapp, private_settings, out):
    from studio.transaction import FolderLock

    c, workers, errors = _app_controller(out)
    before = snapshot(out)
    try:
        with FolderLock(out):  # `studio generate --overwrite` is committing there
            assert c.save() is False
        assert snapshot(out) == before
        assert errors == [("Cannot save", errors[0][1])] and "is busy" in errors[0][1]
        assert c.save() is True and not (out / ".studio.lock").exists()
    finally:
        workers.shutdown()


def test_a_planted_staging_folder_cannot_touch_anything_outside_its_folder(tmp_path):
    """A shared project folder may hold a crafted `.studio-stage-*`: its journal is read only as
    names inside that folder, so the clean-up of the next writer cannot reach anywhere else."""
    from studio.transaction import Transaction

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    folder = tmp_path / "shared"
    stage = folder / ".studio-stage-evil"
    (stage / "new").mkdir(parents=True)
    (stage / "old").mkdir()
    entries = [{"name": "../victim.txt", "had_old": False}, {"name": str(victim), "had_old": False},
               {"name": "..", "had_old": False}]
    (stage / "journal.json").write_text(json.dumps(entries))
    (folder / ".studio-stage-link").symlink_to(tmp_path)  # a link posing as a staging folder
    with Transaction([folder]):
        pass
    assert victim.read_text() == "keep" and (tmp_path / "shared").is_dir()
    assert sorted(p.name for p in folder.iterdir()) == [".studio-stage-link"]


# -- the real failures, no injection: damaged spatial/HRIR models, a bad soundfont ------
@pytest.fixture(scope="module")
def damaged_spatial_models(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    for f in (REPO / "engines" / "models").iterdir():
        if f.name.startswith("spatial_") and f.suffix == ".onnx":
            data = bytearray(f.read_bytes())
            data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
            (d / f.name).write_bytes(bytes(data))
        else:
            (d / f.name).symlink_to(f)
    return d


@pytest.mark.parametrize("case", ["generate-damaged-hrir", "generate-bad-soundfont", "spatialize-damaged-hrir"])
def test_real_late_failures_leave_the_previous_project_byte_identical(out, videos, tmp_path, damaged_spatial_models,
                                                                     case):
    pytest.importorskip("studio.adapters.spatial")
    before = snapshot(out)
    bad_font = tmp_path / "bad.sf2"
    bad_font.write_bytes(b"RIFF" + os.urandom(200))
    if case == "generate-damaged-hrir":
        r = _child("generate", videos[1], "--rhythm", "--spatial", "hall", "--out", out, "--overwrite",
                   STUDIO_MODELS_DIR=damaged_spatial_models)
    elif case == "generate-bad-soundfont":
        r = _child("generate", videos[1], "--rhythm", "--out", out, "--overwrite", STUDIO_SOUNDFONT=bad_font)
    else:
        r = _child("spatialize", out, "--room", "studio", STUDIO_MODELS_DIR=damaged_spatial_models)
    _, err = r.communicate(timeout=300)
    assert r.returncode == 2 and err.strip().splitlines()[-1].startswith("studio: error:"), err
    assert "Traceback" not in err
    assert snapshot(out) == before
