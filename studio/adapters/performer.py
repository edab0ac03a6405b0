"""Performer adapter (Foley Music): a player's body keypoints -> a MIDI track for one instrument.

Settings in ``settings.options``: ``instrument`` (drums, guitar, violin, piano; default drums)
and ``keypoints``: a MediaPipe or OpenPose JSON file (or an OpenPose output folder) of the
video's player. Without it the keypoints are looked for beside the video: ``VIDEO.keypoints.json``
(``clip.mp4.keypoints.json`` or ``clip.keypoints.json``) or the OpenPose folder
``clip_keypoints/``; failing that, MediaPipe Pose estimates them from the picture
(:mod:`studio.pose`, its own environment) into the project folder, once per video content.

Keypoint frame k is at k / fps from the start of the video (fps from the file, else the
video's); a file that covers much less or more than the video is used as it is, with a warning.
"""
from __future__ import annotations

from pathlib import Path

from studio import pose
from studio.errors import StudioError
from studio.jobs import Job
from studio.music import DRUM_CHANNEL, Note
from studio.project import Project, Track, TrackKind

# engine metadata (studio.adapters: read from this source without importing it)
ORDER = 50
ON_REQUEST = True  # needs a player's keypoints
LABEL = "Performer"
HELP = "MIDI for INSTRUMENT (drums, guitar, violin, piano) from the player's movements"
TOOLTIP = "instrument MIDI from the player's movements (body keypoint file)"
# it makes parts the synth plays: generate loads the default soundfonts beside the engines
MAKES_PARTS = True
METAVAR = "INSTRUMENT"
VALUE = "instrument"  # --performer INSTRUMENT -> settings.options["instrument"]
CLI_ARGS = (
    ("--keypoints", "keypoints", {"metavar": "PATH",
                                  "help": "performer: body keypoints (MediaPipe JSON, OpenPose JSON or folder); "
                                          "default VIDEO.keypoints.json beside the video, else MediaPipe Pose "
                                          "on the picture"}),
)

PERFORMER_CHANNEL = 4  # rhythm: 1 bass, 2 keys, 9 drums; piano engine: 3
DEFAULT_INSTRUMENT = "drums"


def sidecars(video: Path) -> list[Path]:
    """Where keypoints of ``video`` are looked for when none are named."""
    return [video.with_name(video.name + ".keypoints.json"), video.with_suffix(".keypoints.json"),
            video.with_name(video.stem + "_keypoints")]


def find_keypoints(video: Path | None, given: str | None = None) -> Path | None:
    """The keypoint file ``given`` (it must exist), else one beside ``video`` (``sidecars``);
    None when there is none."""
    if given:
        path = Path(given).expanduser()
        if not path.exists():
            raise StudioError(f"keypoint file {path} does not exist")
        return path
    return next((p for p in sidecars(video) if p.exists()), None) if video is not None else None


def keypoints_source(project: Project, options: dict) -> Path | None:
    """The keypoint file named in the options or found beside the video; None when there is
    none (the pose estimator then makes one from the picture)."""
    video = project.resolve(project.video.path) if project.video is not None else None
    return find_keypoints(video, (options or {}).get("keypoints"))


def estimated_path(project: Project) -> Path:
    """Where the keypoints MediaPipe estimated for the project's video are kept (by content)."""
    clip = project.video
    tag = (clip.content_hash or "")[:12] or "video"
    return project.folder / "keypoints" / f"{Path(clip.path).stem}-{tag}.keypoints.json"


def _no_keypoints(project: Project, who: str = "the performer engine") -> StudioError:
    video = project.resolve(project.video.path) if project.video is not None else None
    where = f", or put {sidecars(video)[0].name} beside the video" if video is not None else ""
    return StudioError(f"{who} needs the player's body keypoints and " + pose.MISSING + where)


def instrument_of(options: dict) -> str:
    from engines.performer.infer import INSTRUMENTS

    instrument = str((options or {}).get("instrument") or DEFAULT_INSTRUMENT).strip().lower()
    if instrument not in INSTRUMENTS:
        raise StudioError(f"unknown performer instrument {instrument!r}; choose from {', '.join(INSTRUMENTS)}")
    return instrument


def check(project: Project, settings) -> None:
    instrument_of(settings.options)
    if keypoints_source(project, settings.options) is None:
        if project.video is None:
            raise StudioError("the performer engine needs the project's video or a keypoint file")
        if not pose.available() and not estimated_path(project).exists():
            raise _no_keypoints(project)


def player_keypoints(project: Project, options: dict, job: Job,
                     who: str = "the performer engine") -> tuple[Path, Job]:
    """The player's keypoint file: named in the options, beside the video, or estimated from the
    picture (MediaPipe Pose, once per video content, kept in the project); with the part of
    ``job`` left for the caller's own work."""
    path = keypoints_source(project, options)
    if path is not None:
        return path, job
    if project.video is None:
        raise StudioError(f"{who} needs the project's video or a keypoint file")
    path = estimated_path(project)
    if not path.exists():
        if not pose.available():
            raise _no_keypoints(project, who)
        pose.estimate(project.resolve(project.video.path), path, job.sub(0.0, 0.6))
    return path, job.sub(0.6, 1.0)


def generate(project: Project, timeline, settings, job: Job | None = None) -> list[Track]:
    from engines.performer.infer import PROGRAM, Performer
    from engines.performer.keypoints import load_keypoints

    job = Job.quiet(job)
    check(project, settings)
    options = settings.options or {}
    instrument = instrument_of(options)
    path, job = player_keypoints(project, options, job)
    video_fps = project.video.fps if project.video is not None and project.video.fps > 0 else None
    job.report(0.02, f"performer: reading {path.name}")
    kp = load_keypoints(path, fps=video_fps)
    warnings = []
    if project.video is not None and project.video.duration_s > 0:
        covered = kp.xy.shape[0] / kp.fps
        if abs(covered - project.video.duration_s) > max(1.0, 0.1 * project.video.duration_s):
            warnings.append(f"the keypoints cover {covered:.1f} s of a {project.video.duration_s:.1f} s video")
    job.report(0.1, f"performer: {instrument}")
    sub = job.sub(0.1, 0.98)
    notes = Performer().generate(kp, instrument, seed=int(settings.seed),
                                 progress=lambda f, _text=None: sub.report(f, f"performer: {instrument}"))
    drums = instrument == "drums"
    channel = DRUM_CHANNEL if drums else PERFORMER_CHANNEL
    track_notes = [Note(float(n.start_s), float(n.dur_s), int(n.pitch), int(n.velocity), channel) for n in notes]
    job.report(1.0, f"performer: {len(track_notes)} notes")
    return [Track(instrument.title(), TrackKind.MIDI, id=f"performer-{instrument}", notes=track_notes,
                  program=PROGRAM[instrument], channel=channel, engine="performer",
                  settings={"instrument": instrument, "keypoints": str(path), "seed": int(settings.seed),
                            **({"warnings": warnings} if warnings else {})})]
