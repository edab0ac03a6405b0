"""Motion sections of a player (engines/motion, Predict & Cluster): the one way the CLI
(``studio analyze --sections``), the adapters that follow them (``--motion-sections`` of the
soundtrack and rhythm engines) and the app's Motion sections lane get them.

The keypoints are the performer engine's (``studio.adapters.performer``): named, beside the video
(``VIDEO.keypoints.json``, written by ``studio pose``), or MediaPipe Pose on the picture. The lane
only shows sections where keypoints exist already (estimating them is a long job the user starts
with ``studio pose``); it keeps them in the project folder (``keypoints/motion-sections.json``),
keyed by the keypoint file's path, size and modification time, so reopening reads them back.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from studio.errors import StudioError
from studio.jobs import Job

__all__ = ["CACHE_NAME", "boundaries", "keypoint_sections", "player_sections", "project_sections",
           "video_sections"]

CACHE_NAME = "motion-sections.json"


def keypoint_sections(path: Path, fps: float | None = None) -> list[dict]:
    """The motion sections of the keypoint file ``path`` as dicts (``Section.as_dict``: start_s,
    end_s, label, action, action_distance); ``fps`` overrides the file's (the video's rate)."""
    from engines.motion.infer import MotionSections
    from engines.performer.keypoints import load_keypoints

    return [s.as_dict() for s in MotionSections().sections(load_keypoints(path, fps=fps))]


def video_sections(src: Path, job: Job | None = None, keypoints_file: bool = False) -> tuple[str, list[dict]]:
    """``analyze --sections``: (where the keypoints came from, the sections) of a keypoint file
    (``keypoints_file``) or of a video: VIDEO.keypoints.json beside it, else MediaPipe Pose into a
    temporary file."""
    from studio.adapters.performer import find_keypoints

    job = Job.quiet(job)
    kp_path = src if keypoints_file else find_keypoints(src)
    if kp_path is not None:
        return str(kp_path), keypoint_sections(kp_path)
    from studio import pose

    with tempfile.TemporaryDirectory() as tmp:
        estimated = Path(tmp) / "pose.keypoints.json"
        pose.estimate(src, estimated, job)
        return "MediaPipe Pose", keypoint_sections(estimated)


def _video_fps(project) -> float | None:
    return project.video.fps if project.video is not None and project.video.fps > 0 else None


def player_sections(project, options: dict, job: Job, who: str = "--motion-sections") -> list[dict]:
    """The motion sections of the player, the keypoints as the performer engine finds them (named
    in ``options["keypoints"]``, beside the video, or MediaPipe Pose on the picture)."""
    from studio.adapters.performer import player_keypoints

    path, _ = player_keypoints(project, options, job.sub(0.0, 0.05), who=who)
    return keypoint_sections(path, _video_fps(project))


def boundaries(project, options: dict, job: Job, who: str = "--motion-sections") -> list[float]:
    """Where the player's movement changes kind, in seconds: the starts of its motion sections
    after the first (:func:`player_sections`)."""
    return [float(s["start_s"]) for s in player_sections(project, options, job, who)[1:]]


def project_sections(project, job: Job | None = None) -> tuple[Path, list[dict]] | None:
    """(the keypoint file, its sections) of the project's video, or None when it has no keypoints
    yet (none beside the video nor estimated for the project). Read from the project's cache when
    the keypoint file has not changed since; computed and cached otherwise."""
    from studio.adapters.performer import estimated_path, keypoints_source

    job = Job.quiet(job)
    if project.video is None:
        return None
    path = keypoints_source(project, {})
    if path is None and project.path is not None and estimated_path(project).exists():
        path = estimated_path(project)
    if path is None:
        return None
    stat = path.stat()
    key = {"keypoints": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
           "fps": _video_fps(project)}
    cache = project.folder / "keypoints" / CACHE_NAME if project.path is not None else None
    cached = _read_cache(cache, key)
    if cached is not None:
        return path, cached
    job.report(0.1, "motion sections")
    sections = keypoint_sections(path, _video_fps(project))
    _write_cache(cache, key, sections)
    job.report(1.0, "motion sections")
    return path, sections


def _read_cache(cache: Path | None, key: dict) -> list[dict] | None:
    if cache is None or not cache.is_file():
        return None
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable: computed again and rewritten
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("sections"), list):
        return None
    return data["sections"]


def _write_cache(cache: Path | None, key: dict, sections: list[dict]) -> None:
    """Best effort: a cache that cannot be written only costs the computation next time."""
    from studio.fsutil import write_text_atomic

    if cache is None:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cache, json.dumps({"key": key, "sections": sections}, indent=1))
    except (OSError, StudioError):
        pass
