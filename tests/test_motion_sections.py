"""Motion sections (engines/motion, Predict & Cluster): the smoke training, the shipped encoder
through engines.runtime, its features against the raw-keypoint baseline on held-out synthetic
windows, change points on a constructed multi-action sequence, and `studio analyze --sections`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engines.motion import data as D
from engines.motion import evaluate as E
from engines.motion import infer as M
from engines.motion import synth as S
from engines.runtime import sha256_of

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "engines" / "models"


def test_smoke_training_writes_a_loadable_encoder(tmp_path):
    pytest.importorskip("torch")
    from engines.motion.train.train import main
    from engines.runtime import clear_cache, session

    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    entry = json.loads((tmp_path / "manifest.json").read_text())[M.MODEL]
    assert entry["sha256"] == sha256_of(tmp_path / entry["file"]) and entry["training"]["steps"] == 3
    assert (tmp_path / "motion_train.json").exists()
    clear_cache()
    ms = M.MotionSections(tmp_path)
    assert ms.sess is session(M.MODEL, tmp_path)
    f = ms.features(np.zeros((3, M.WINDOW, M.N_IN), np.float32))
    assert f.shape == (3, 4 * 16) and np.isfinite(f).all()
    assert set(ms.prototypes) == set(S.ACTIONS) and np.isfinite(ms.threshold)


def test_smoke_refuses_the_shipped_folder():
    pytest.importorskip("torch")
    from engines.motion.train.train import main

    with pytest.raises(SystemExit, match="smoke"):
        main(["--smoke", "--out", str(MODELS)])


def test_shipped_encoder_entry_and_features():
    e = json.loads((MODELS / "manifest.json").read_text())[M.MODEL]
    f = MODELS / e["file"]
    assert f.stat().st_size < 2 * 1024 * 1024 and e["bytes"] == f.stat().st_size
    assert e["sha256"] == sha256_of(f)
    assert e["model_card"] == "engines/motion/README.md" and "synthetic" in e["licence"]
    assert {"command", "data", "params", "seed", "steps"} <= set(e["training"])
    assert {"recognition", "sections"} <= set(e["metrics"])
    ms = M.MotionSections()
    kp, _, _ = S.synthesize([("clap", 5.0)], 30.0, seed=3)
    times, feats = ms.track_features(kp)
    n = (int(round(5.0 * M.FPS)) - M.WINDOW) // M.HOP + 1
    assert feats.shape == (n, e["training"]["hidden"] * 4) and times.shape == (n,)
    assert np.isfinite(feats).all()


@pytest.fixture(scope="module")
def heldout():
    """Held-out windows (seeds never used in training) and a labelled gallery."""
    g_x, g_y = D.labelled_windows(25, D.CALIB_SEED)
    q_x, q_y = D.labelled_windows(25, D.TEST_SEED)
    return g_x, g_y, q_x, q_y


def test_encoder_features_recognise_actions_by_nearest_neighbour(heldout):
    """Measured (engines/motion/README.md): nearest-neighbour accuracy 0.82 for the encoder on the
    full held-out set, chance 0.125. The raw-keypoint baseline is BETTER on this synthetic data
    (0.91), so no "beats raw" assertion: the test checks the encoder's features carry the action,
    and that the baseline it is compared with is computed on the same windows."""
    g_x, g_y, q_x, q_y = heldout
    ms = M.MotionSections()
    enc = E.nn_accuracy(ms.features(g_x), g_y, ms.features(q_x), q_y)
    mean = M.raw_window_features(g_x).mean(0)
    raw = E.nn_accuracy(M.raw_window_features(g_x, mean), g_y, M.raw_window_features(q_x, mean), q_y)
    assert enc > 0.7, (enc, raw)  # chance: 1/8
    assert raw > 0.7  # the baseline is a real one, not a strawman


def test_boundaries_found_within_half_a_second():
    segs = [("walk", 6.0), ("clap", 5.0), ("spin", 6.0), ("wave", 5.0)]
    kp, bounds, _ = S.synthesize(segs, 30.0, seed=123_456)
    sec = M.MotionSections().sections(kp)
    found = [s.start_s for s in sec[1:]]
    p, r, f = M.boundary_f(found, bounds, 0.5)
    assert r == 1.0 and len(found) <= len(bounds) + 2, (found, bounds)  # measured: 1 extra (inside the spin)
    assert sec[0].start_s == 0.0 and abs(sec[-1].end_s - kp.duration_s) < 1e-6
    assert len({s.label for s in sec}) >= 3


def test_cli_analyze_sections_on_a_keypoint_file(tmp_path):
    from engines.performer.keypoints import save_keypoints

    kp, bounds, _ = S.synthesize([("wave", 5.0), ("walk", 5.0), ("clap", 5.0)], 25.0, seed=77)
    path = tmp_path / "dancer.keypoints.json"
    save_keypoints(path, kp)
    cmd = [sys.executable, "-m", "studio", "-q", "analyze", str(path), "--sections"]
    r = subprocess.run(cmd + ["--json"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    starts = [s["start_s"] for s in out["sections"][1:]]
    assert M.boundary_f(starts, bounds, 0.5)[1] == 1.0, (starts, bounds)
    assert all(set(s) == {"start_s", "end_s", "label", "action", "action_distance"} for s in out["sections"])
    assert out["sections"][-1]["end_s"] == pytest.approx(kp.duration_s, abs=1e-3)
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0 and "sections" in r.stdout and " A " in r.stdout, r.stderr


def test_quick_evaluation_reports_every_baseline(tmp_path):
    res = E.evaluate(MODELS, per_class=4, n_seq=3, quick=True)
    assert set(res["recognition"]) == {"encoder", "raw", "pca", "chance"}
    assert {"encoder", "raw", "chance_uniform"} <= set(res["sections"])
    for v in res["recognition"].values():
        assert 0.0 <= v["nn_accuracy"] <= 1.0


def test_cli_analyze_sections_on_a_video_reads_the_keypoints_beside_it():
    video = REPO / "studio" / "assets" / "drummer_demo.mp4"  # drummer_demo.mp4.keypoints.json beside it
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "analyze", str(video), "--sections", "--json"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tempo_bpm"] > 0 and out["keypoints"].endswith("drummer_demo.mp4.keypoints.json")
    assert out["sections"][0]["start_s"] == 0.0 and out["sections"][-1]["end_s"] > 10.0
