"""`studio batch`: a folder of videos, one project each, resumable, one bad file fails alone."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import videogen
from studio import generate
from studio.batch import run_batch
from studio.errors import StudioError
from studio.generate import GenerateSettings
from studio.music import Note
from studio.project import Project, Track, TrackKind

REPO = Path(__file__).resolve().parents[1]
CALLS: list[str] = []


def beat_engine(project, timeline, settings, job):
    """A tiny engine for the tests: a hi-hat on every visual beat."""
    CALLS.append(project.video.path)
    notes = [Note(float(t), 0.1, 42, 90, 9) for t in timeline.beat_times_s]
    return [Track("Hats", TrackKind.MIDI, notes=notes or [Note(0.1, 0.1, 42, 90, 9)], channel=9,
                  engine="rhythm")]


def _clip(path: Path, seconds: float = 2.0, fps: int = 25) -> Path:
    def draw(t):
        img = np.full((72, 96, 3), 40, np.uint8)
        y = int(30 + 25 * abs(np.sin(np.pi * t * 2)))  # bounces twice a second
        img[y:y + 10, 40:50] = 230
        return img

    videogen.write_video(path, draw, duration_s=seconds, fps=fps, size=(96, 72))
    return path


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    _clip(src / "a.mp4")
    _clip(src / "b.mp4", 1.5)
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    (src / "notes.txt").write_text("not a video")
    return src


@pytest.fixture
def engine(monkeypatch):
    CALLS.clear()
    monkeypatch.setitem(generate.ADAPTERS, "rhythm", "test_batch:beat_engine")
    return GenerateSettings(engines=("rhythm",), seed=1)


def test_batch_makes_a_project_per_video_and_records_the_bad_one(folder, tmp_path, engine):
    out = tmp_path / "out"
    items = run_batch(folder, out, engine)
    status = {Path(i.video).name: i.status for i in items}
    assert status == {"a.mp4": "done", "b.mp4": "done", "broken.mp4": "failed"}
    for name in ("a", "b"):
        p = Project.load(out / name / "project.json")
        assert [t.name for t in p.tracks] == ["Hats"]
        assert (out / name / "mix.wav").exists() and (out / name / "stems").is_dir()
    assert not (out / "broken").exists()
    assert not list(out.glob(".*partial"))
    state = json.loads((out / ".studio-batch" / "batch.json").read_text())
    assert state["total"] == 3 and state["videos"]["broken.mp4"]["status"] == "failed"
    assert "broken.mp4" in state["videos"]["broken.mp4"]["error"]


def test_batch_resumes_skips_finished_and_redoes_changed(folder, tmp_path, engine):
    out = tmp_path / "out"
    run_batch(folder, out, engine)
    finished = (out / "a" / "project.json").stat().st_mtime_ns
    # an interrupted run left a partial project behind for b, and b's finished project is gone
    shutil.rmtree(out / "b")
    (out / ".b.partial").mkdir()
    (out / ".b.partial" / "junk").write_text("half")
    CALLS.clear()
    items = run_batch(folder, out, engine)
    status = {Path(i.video).name: i.status for i in items}
    assert status["a.mp4"] == "skipped" and status["b.mp4"] == "done"
    assert (out / "a" / "project.json").stat().st_mtime_ns == finished  # finished output untouched
    assert [Path(c).name for c in CALLS] == ["b.mp4"]
    assert not (out / ".b.partial").exists() and not (out / "b" / "junk").exists()
    # other settings (a new seed) make every video out of date; the old projects are replaced whole
    items = run_batch(folder, out, GenerateSettings(engines=("rhythm",), seed=2))
    assert [i.status for i in items if i.status != "failed"] == ["done", "done"]
    assert json.loads((out / "a" / "batch-source.json").read_text())["settings"]["seed"] == 2


def test_batch_refuses_bad_folders_and_missing_engines(tmp_path, engine, monkeypatch):
    with pytest.raises(StudioError, match="not a folder"):
        run_batch(tmp_path / "nowhere", tmp_path / "out", engine)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StudioError, match="no videos"):
        run_batch(tmp_path / "empty", tmp_path / "out", engine)
    monkeypatch.delitem(generate.ADAPTERS, "soundtrack", raising=False)  # a build without it
    with pytest.raises(StudioError, match="soundtrack engine is not part"):
        run_batch(tmp_path, tmp_path / "out", GenerateSettings(engines=("soundtrack",)))


def _cli(*args):
    """The real entry point in a subprocess, with this module's small engine as the rhythm engine."""
    code = ("import sys; from studio import generate; generate.ADAPTERS['rhythm'] = 'test_batch:beat_engine'; "
            "from studio.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    return subprocess.run([sys.executable, "-c", code, "-q", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=600)


def test_batch_cli_exit_status_and_summary(folder, tmp_path):
    out = tmp_path / "out"
    r = _cli("batch", folder, "--rhythm", "--out", out)
    assert r.returncode == 1, r.stderr  # one video failed
    assert "2 done, 0 skipped (already done), 1 failed" in r.stderr
    assert "failed   broken.mp4" in r.stdout
    (folder / "broken.mp4").unlink()
    r = _cli("batch", folder, "--rhythm", "--out", out)
    assert r.returncode == 0 and "0 done, 2 skipped" in r.stderr, r.stderr
    r = _cli("batch", tmp_path / "nowhere", "--rhythm", "--out", out)
    assert r.returncode == 2 and r.stderr.startswith("studio: error:") and "Traceback" not in r.stderr
    r = _cli("batch", folder, "--rhythm", "--out", out, "--jobs", "0")
    assert r.returncode == 2 and "--jobs takes a whole number" in r.stderr and "Traceback" not in r.stderr


def ray_worker_setup() -> None:
    """Runs in every Ray worker process: the same small engine as in the driver."""
    generate.ADAPTERS["rhythm"] = "test_batch:beat_engine"


def test_batch_on_a_local_ray_instance(folder, tmp_path, engine):
    ray = pytest.importorskip("ray", reason="Ray is in the [cluster] extra")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"worker_process_setup_hook": "test_batch.ray_worker_setup",
                          "env_vars": {"PYTHONPATH": str(REPO / "tests")}})
    try:
        out = tmp_path / "out"
        items = run_batch(folder, out, engine, ray_address="local")
        status = {Path(i.video).name: i.status for i in items}
        assert status == {"a.mp4": "done", "b.mp4": "done", "broken.mp4": "failed"}
        for name in ("a", "b"):
            p = Project.load(out / name / "project.json")
            assert p.tracks[0].name == "Hats" and (out / name / "mix.wav").exists()
        # resumable on the cluster too
        items = run_batch(folder, out, engine, ray_address="local")
        assert sorted(i.status for i in items) == ["failed", "skipped", "skipped"]
    finally:
        ray.shutdown()


def _notes(out: Path) -> dict[str, list]:
    """Each finished project's tracks and notes, to compare two runs of the same batch."""
    return {d.name: [(t.name, [(n.start_s, n.pitch, n.velocity) for n in t.notes])
                     for t in Project.load(d / "project.json").tracks]
            for d in sorted(out.iterdir()) if (d / "project.json").exists()}


def test_local_pool_makes_the_same_projects_as_one_process(folder, tmp_path, engine):
    one = run_batch(folder, tmp_path / "one", engine, jobs=1)
    pool = run_batch(folder, tmp_path / "pool", engine, jobs=2)  # spawned workers, the engine passed on
    assert [(Path(i.video).name, i.status) for i in pool] == [(Path(i.video).name, i.status) for i in one]
    assert [i.status for i in pool] == ["done", "done", "failed"]
    assert _notes(tmp_path / "pool") == _notes(tmp_path / "one") and len(_notes(tmp_path / "one")) == 2
    assert sorted(i.status for i in run_batch(folder, tmp_path / "pool", engine, jobs=2)) == ["failed", "skipped",
                                                                                              "skipped"]


def test_batch_on_a_ray_cluster_started_on_loopback_equals_the_local_pool(folder, tmp_path, engine):
    """A real cluster: `ray start --head` (one CPU, on loopback, its own temp folder and token) in
    a process of the test's, joined by `studio batch --ray ADDRESS` in a fresh process as a user
    would (its workers get this module's small engine through Ray's setup hook); the projects
    equal the local pool's."""
    import secrets
    import socket
    import tempfile

    pytest.importorskip("ray", reason="Ray is in the [cluster] extra")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           "PYTHONPATH": str(REPO / "tests")}
    head = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}",
                             "--node-ip-address=127.0.0.1", "--num-cpus=1", "--include-dashboard=false",
                             "--disable-usage-stats", f"--temp-dir={temp}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert head.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(0.2)
        code = ("import sys, ray; from studio import generate; generate.ADAPTERS['rhythm'] = 'test_batch:beat_engine'; "
                f"ray.init(address={address!r}, log_to_driver=False, configure_logging=False, runtime_env="
                "{'worker_process_setup_hook': 'test_batch.ray_worker_setup'}); "
                "from studio.cli import main; sys.exit(main(sys.argv[1:]))")
        r = subprocess.run([sys.executable, "-c", code, "-q", "batch", str(folder), "--rhythm", "--seed", "1",
                            "--out", str(tmp_path / "ray"), "--ray", address],
                           capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
        assert r.returncode == 1 and "2 done, 0 skipped (already done), 1 failed" in r.stderr, r.stderr[-2000:]
        run_batch(folder, tmp_path / "pool", engine, jobs=2)
        assert _notes(tmp_path / "ray") == _notes(tmp_path / "pool") and len(_notes(tmp_path / "pool")) == 2
    finally:
        head.terminate()  # --block: the head stops the processes it started
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(temp, ignore_errors=True)


def test_the_batch_bench_counts_the_whole_process_tree(tmp_path):
    """``studio bench batch`` sums the resident memory of a process and its children (/proc): a
    child holding 200 MB shows in its parent's tree and not in the parent alone."""
    from studio.bench.batch import _tree_rss_mb

    alone = _tree_rss_mb(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; b = bytearray(200 * 2**20); "
                              "b[::4096] = b'x' * len(b[::4096]); print('ready', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with_child = _tree_rss_mb(os.getpid())
        assert with_child - alone > 190, (alone, with_child)
    finally:
        child.kill()
        child.wait()
