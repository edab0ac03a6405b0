"""The desktop bundle (packaging/studio.spec) builds and its executable works headless.

Building takes a few minutes, so it happens once per test session in a temporary folder.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "studio" / "assets" / "demo.mp4"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    pytest.importorskip("PyInstaller", reason="PyInstaller is in the [package] extra")
    work = tmp_path_factory.mktemp("bundle")
    r = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                        "--distpath", str(work / "dist"), "--workpath", str(work / "build"),
                        str(REPO / "packaging" / "studio.spec")], capture_output=True, text=True,
                       cwd=REPO, timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    exe = work / "dist" / "video-sound-studio" / "video-sound-studio"
    assert exe.exists()
    return exe


def run(exe: Path, *args, timeout=180, **env):
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=exe.parent.parent, env={**os.environ, **env})


def test_bundle_runs_the_cli(bundle):
    started = time.monotonic()
    r = run(bundle, "--version")
    assert r.returncode == 0 and r.stdout.startswith("studio "), r.stderr
    assert time.monotonic() - started < 30
    r = run(bundle, "-q", "analyze", DEMO, "--json", "--no-cache")
    assert r.returncode == 0, r.stderr
    truth = json.loads(DEMO.with_name("demo_truth.json").read_text())
    assert abs(json.loads(r.stdout)["tempo_bpm"] - truth["tempo_bpm"]) < 4
    r = run(bundle, "-q", "analyze", REPO / "nothing-here.mp4")
    assert r.returncode == 2 and r.stderr.startswith("studio: error:")


def test_bundle_ships_models_and_no_training_stack(bundle):
    internal = bundle.parent / "_internal"
    manifest = json.loads((internal / "engines" / "models" / "manifest.json").read_text())
    for entry in manifest.values():
        assert (internal / "engines" / "models" / entry["file"]).exists()
    assert (internal / "studio" / "assets" / "demo.mp4").exists()
    assert not (internal / "torch").exists() and not (internal / "ray").exists()
    r = run(bundle, "devices", "--json")
    assert r.returncode == 0 and "audio" in json.loads(r.stdout)


def test_bundle_opens_the_window_and_analyses_the_demo_headless(bundle):
    r = run(bundle, "--smoke-test", DEMO, QT_QPA_PLATFORM="offscreen")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "smoke test: ok" in r.stdout
