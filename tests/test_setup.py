"""The two set-ups of the Makefile (``make run``: lean; ``make test``: everything) and the package
sets of packaging/debian-deps.sh, checked without installing anything (``make -n``; a fake
``dpkg-query`` that finds nothing installed and a fake ``id`` that is not root)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(target: str, venv: Path) -> str:
    out = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout


def test_make_run_installs_only_what_the_app_needs(tmp_path):
    steps = dry_run("run", tmp_path / "venv")
    assert "debian-deps.sh --run --gui" in steps
    assert "pip install -q -e .\n" in steps
    for heavy in ("torch", ".[", "pose-env", "realclips", "-m pytest"):  # no extras: no torch, Ray, PyInstaller
        assert heavy not in steps, heavy
    assert "xvfb-run" in steps  # what to run without a display


def test_make_test_installs_everything_even_after_make_run(tmp_path):
    venv = tmp_path / "venv"
    fresh = dry_run("test", venv)
    venv.mkdir()
    (venv / ".installed-run").touch()  # make run was done
    after_run = dry_run("test", venv)
    for steps in (fresh, after_run):
        assert "pip install -q torch==2.13.0" in steps
        assert "pip install -q -e '.[dev,train,cluster,package]'" in steps
        assert "pose-env.sh" in steps and "studio.realclips" in steps
        assert "-m pytest" in steps


def deps(tmp_path, *args) -> tuple[int, set[str]]:
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "dpkg-query").write_text("#!/bin/sh\nprintf 'unknown ok not-installed'\n")
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    for f in fake.iterdir():
        f.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}")
    out = subprocess.run(["bash", "packaging/debian-deps.sh", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    line = next((x for x in out.stderr.splitlines() if x.startswith("Missing Debian packages:")), "")
    return out.returncode, set(line.split(":", 1)[1].split()) if line else set()


def test_debian_package_sets(tmp_path):
    rc, run = deps(tmp_path, "--run")
    assert rc == 1 and {"libfluidsynth3", "libportaudio2", "fluid-soundfont-gm"} <= run
    assert not run & {"jackd2", "fluidsynth", "timgm6mb-soundfont", "xvfb", "lmms-common"}
    _, run_gui = deps(tmp_path, "--run", "--gui")
    assert {"xvfb", "libxcb-cursor0", "libxkbcommon-x11-0"} <= run_gui - run
    _, tests = deps(tmp_path)
    assert run < tests and {"jackd2", "fluidsynth", "hydrogen-data", "libmysofa1"} <= tests
    assert "lmms-common" not in tests  # the tests' smoke trainings read Hydrogen's songs only
    _, train = deps(tmp_path, "--train")
    assert {"asterisk-moh-opsound-wav", "colobot-common-sounds"} <= tests  # the codec's smoke and test clips
    assert train - tests == {"lmms-common", "freeciv-data", "warzone2100-music"}  # full training data
    assert deps(tmp_path, "--nonsense")[0] == 2
