"""Body keypoints from the picture: MediaPipe Pose, run as a separate process in its own
environment.

MediaPipe 0.10.21 is the last release whose wheel carries its pose model (later ones download
it at run time, which cannot work offline), and it needs NumPy 1 and protobuf 4 while the studio
runs NumPy 2; so it lives in ``.venv-pose`` (``make pose`` / ``packaging/pose-env.sh``) and
``studio/pose_worker.py`` runs there on the video, writing a MediaPipe keypoint JSON file that the
performer engine reads like one the user brought. ``STUDIO_POSE_PYTHON`` names another
interpreter with MediaPipe.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from studio.errors import StudioError
from studio.jobs import Job

WORKER = Path(__file__).with_name("pose_worker.py")
MISSING = ("no pose estimator is installed: run `make pose` (MediaPipe Pose in its own environment, "
           "packaging/pose-env.sh) or pass --keypoints FILE (MediaPipe or OpenPose JSON)")


def pose_python() -> Path | None:
    """The interpreter of the pose environment, or None when there is none."""
    named = os.environ.get("STUDIO_POSE_PYTHON")
    if named:
        return Path(named) if Path(named).exists() else None
    for base in (Path(sys.prefix).parent, Path(__file__).resolve().parents[1]):
        candidate = base / ".venv-pose" / "bin" / "python"
        if candidate.exists():
            return candidate
    return None


def available() -> bool:
    return pose_python() is not None


def _reason(stderr: str) -> str:
    """The worker's own message: the last line that is not MediaPipe/absl logging."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    mine = [l for l in lines if not l[:1] in "WIEF" or not l[1:5].isdigit()]
    mine = [l for l in mine if not l.startswith(("WARNING: All log messages", "INFO:"))]
    return (mine or lines or ["no message"])[-1]


def estimate(video: str | os.PathLike, out: str | os.PathLike, job: Job | None = None) -> Path:
    """Run MediaPipe Pose over ``video`` and write its keypoints to ``out`` (atomically)."""
    job = Job.quiet(job)
    python = pose_python()
    if python is None:
        raise StudioError(MISSING)
    video, out = Path(video), Path(out)
    if not video.is_file():
        raise StudioError(f"{video} is not a video file")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudioError(f"cannot create {out.parent}: {exc.strerror or exc}") from None
    job.report(0.0, f"pose: {video.name}")
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([str(python), str(WORKER), str(video), str(out)], stdout=subprocess.PIPE,
                                stderr=err, text=True)
        try:
            for line in proc.stdout:
                parts = line.split()
                if len(parts) == 3 and parts[0] == "progress":
                    done, total = int(parts[1]), int(parts[2])
                    job.report(min(0.99, done / total) if total else 0.5, "pose: tracking the player")
            proc.wait()
        except BaseException:  # cancelled (or interrupted): stop the worker, leave no file
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdout.close()
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0 or not out.exists():
        raise StudioError(f"pose estimation of {video.name} failed: {_reason(stderr)}")
    job.report(1.0, "pose: done")
    return out
