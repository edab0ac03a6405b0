"""The command line as a user runs it: a subprocess, stdout/stderr, exit codes."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "studio" / "assets" / "demo.mp4"


def studio(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "studio", "-q", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or REPO, timeout=300)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studio: error:"), result.stderr
    assert "Traceback" not in result.stderr
    for f in fragments:
        assert f in lines[0]


def test_version():
    r = studio("--version")
    assert r.returncode == 0 and r.stdout.startswith("studio ")


def test_analyze_missing_and_broken_files_give_one_line(tmp_path):
    assert_one_line_error(studio("analyze", tmp_path / "nope.mp4"), "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    assert_one_line_error(studio("analyze", junk), "junk.mp4")


def test_analyze_demo_json():
    r = studio("analyze", DEMO, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    truth = json.loads(DEMO.with_name("demo_truth.json").read_text())
    assert abs(s["tempo_bpm"] - truth["tempo_bpm"]) / truth["tempo_bpm"] < 0.04
    assert len(s["beat_times_s"]) >= 10 and s["impacts"]
    assert s["duration_s"] == pytest.approx(truth["duration_s"], abs=0.05)


def test_generate_with_no_engine_writes_project_and_analysis(tmp_path, monkeypatch):
    from studio import generate
    from studio.errors import StudioError
    from studio.project import Project

    monkeypatch.setattr(generate, "ADAPTERS", {})  # a build without engines
    out = tmp_path / "gen"
    project = generate.generate(DEMO, out)
    assert project.tracks == [] and (out / "analysis.npz").exists()
    again = Project.load(out / "project.json")
    assert again.video is not None and again.tempo.changes
    assert not (out / "mix.wav").exists()  # nothing to render, nothing half-written
    with pytest.raises(StudioError, match="already exists"):
        generate.generate(DEMO, out)
    with pytest.raises(StudioError, match="rhythm engine is not part of this build"):
        generate.generate(DEMO, tmp_path / "g2", generate.GenerateSettings(engines=("rhythm",)))
    assert not (tmp_path / "g2").exists()  # refused before any work


def test_generate_refuses_existing_project_from_the_command_line(tmp_path):
    out = tmp_path / "gen"
    out.mkdir()
    (out / "project.json").write_text("{}")
    assert_one_line_error(studio("generate", DEMO, "--out", out), "already exists")


def test_export_of_missing_project(tmp_path):
    assert_one_line_error(studio("export", tmp_path / "none.json", "--mix", tmp_path / "m.wav"),
                          "does not exist")


def test_bench_unknown_name():
    assert_one_line_error(studio("bench", "nonsense"), "unknown benchmark")


def test_default_engines_leave_out_the_alternative_music_engine_and_roomless_spatial(monkeypatch):
    from studio import generate

    four = {n: f"x:{n}" for n in generate.ENGINE_NAMES}
    monkeypatch.setattr(generate, "ADAPTERS", four)
    assert generate.default_engines() == ("rhythm", "foley")
    assert generate.default_engines("hall") == ("rhythm", "foley", "spatial")
    monkeypatch.setattr(generate, "ADAPTERS", {"soundtrack": "x:s", "foley": "x:f"})
    assert generate.default_engines() == ("foley", "soundtrack")  # without rhythm it is the music
