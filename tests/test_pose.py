"""MediaPipe Pose in its own environment (studio.pose): keypoints from the picture of the
drummer demo against the keypoints it was drawn from, and `generate --performer` on a video
with no keypoint file beside it."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio import pose

REPO = Path(__file__).resolve().parents[1]
DRUMMER = REPO / "studio" / "assets" / "drummer_demo.mp4"


@pytest.fixture(scope="module")
def estimated(tmp_path_factory):
    if not pose.available():
        pytest.fail("no pose environment: run `make pose` (packaging/pose-env.sh)")
    folder = tmp_path_factory.mktemp("pose")
    video = folder / "drummer.mp4"
    shutil.copy(DRUMMER, video)
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "pose", str(video)], capture_output=True, text=True,
                       cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    return video, video.with_name(video.name + ".keypoints.json")


def test_mediapipe_tracks_the_drawn_drummer(estimated):
    from engines.performer.keypoints import J, load_keypoints

    _, path = estimated
    data = json.loads(path.read_text())
    assert data["estimator"].startswith("MediaPipe Pose 0.10.21") and data["fps"] == 30
    est = load_keypoints(path)
    ref = load_keypoints(DRUMMER.with_name(DRUMMER.name + ".keypoints.json"))
    assert est.n_frames == ref.n_frames == 360
    err = np.linalg.norm(est.xy - ref.xy, axis=-1)  # shoulder widths (both normalised the same way)
    for joint in ("r_shoulder", "l_shoulder", "l_elbow", "r_knee", "l_knee"):
        assert np.median(err[:, J[joint]]) < 0.1, joint
    for joint in ("r_wrist", "l_wrist"):  # the sticks' hands, what the engine plays from
        assert np.median(err[:, J[joint]]) < 0.35, joint
    # the wrists move with the truth: the vertical motion correlates
    for joint in ("r_wrist", "l_wrist"):
        c = np.corrcoef(est.xy[:, J[joint], 1], ref.xy[:, J[joint], 1])[0, 1]
        assert c > 0.6, (joint, c)


def test_refuses_to_overwrite_and_reports_a_bad_video(estimated, tmp_path):
    video, path = estimated
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "pose", str(video)], capture_output=True, text=True,
                       cwd=REPO, timeout=60)
    assert r.returncode != 0 and "already exists" in r.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "pose", str(junk)], capture_output=True, text=True,
                       cwd=REPO, timeout=60)
    assert r.returncode != 0 and "pose estimation of junk.mp4 failed" in r.stderr
    assert not junk.with_name("junk.mp4.keypoints.json").exists()


def test_generate_estimates_the_keypoints_once_per_video(tmp_path):
    from studio.demo_performers import rock_groove

    video = tmp_path / "lonely_drummer.mp4"  # no keypoint file beside it
    shutil.copy(DRUMMER, video)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "studio", "-q", "generate", str(video), "--performer", "drums", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    (track,) = json.loads((out / "project.json").read_text())["tracks"]
    (cached,) = (out / "keypoints").iterdir()
    assert track["settings"]["keypoints"] == str(cached) and track["notes"]
    onsets = np.array(sorted({n[0] for n in track["notes"]}))
    truth = np.array(sorted({n[0] for n in rock_groove()}))
    near = np.mean([np.min(np.abs(onsets - t)) <= 0.05 for t in truth])
    assert near >= 0.5, near  # the hits follow the sticks seen in the picture
    stamp = cached.stat().st_mtime_ns
    r = subprocess.run(cmd + ["--overwrite", "--seed", "2"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    assert cached.stat().st_mtime_ns == stamp  # not estimated again


def test_cancel_stops_the_worker_and_leaves_no_file(tmp_path):
    from studio.errors import JobCancelled
    from studio.jobs import Job

    if not pose.available():
        pytest.fail("no pose environment: run `make pose` (packaging/pose-env.sh)")
    job = Job("pose")
    job.add_listener(lambda progress: job.cancel() if progress.fraction > 0 else None)
    out = tmp_path / "kp.json"
    with pytest.raises(JobCancelled):
        pose.estimate(DRUMMER, out, job)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_piano_on_a_video_without_a_keyboard_says_so(tmp_path):
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "generate", str(DRUMMER), "--piano", "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 2 and "no piano keyboard found" in r.stderr and "Traceback" not in r.stderr
