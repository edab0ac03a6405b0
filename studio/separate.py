"""Separate one visible player's sound from a video's own soundtrack (engines/separate): the
player's WAV and the residual (everything else), written atomically, and optionally added to a
project as two audio tracks.

Keypoints come from ``--keypoints FILE`` (MediaPipe / OpenPose / the studio's own JSON or .npz,
read by the performer engine's reader; ``person`` picks one of several people per frame, in the
file's order, 0 first) or from ``VIDEO.keypoints.json`` beside the video (``studio pose`` writes
it). The audio is the video's first audio stream (downmixed to stereo), at its own sample rate;
the keypoints' clock is the picture's, so the stream's start offset is taken into account.

With a project the two WAVs go into its ``assets/`` folder and two AUDIO tracks are added after
the existing ones ("<who> (separated)" and "Without <who>"); they sum to the original audio, so
the project's "Original audio" track is muted (the tracks together play what it played).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from studio.errors import EngineError, MediaError, StudioError
from studio.jobs import Job

__all__ = ["PeopleInView", "SeparateResult", "load_player", "people_in_view", "separate_video", "separated_tracks",
           "with_separated"]

@dataclass
class SeparateResult:
    player_path: Path
    residual_path: Path
    sample_rate: int
    duration_s: float
    keypoints: Path
    tracks: list[str]  # names of the tracks added to the project (empty without one)
    person: int = 0
    offset_s: float = 0.0  # where the audio starts on the picture's clock


def load_player(path: Path, person: int):
    """The keypoints of person ``person`` in ``path``; a clear error when the file has no such person."""
    from engines.performer.keypoints import load_keypoints

    if person < 0:
        raise StudioError(f"--person {person}: people are numbered from 0")
    try:
        kp = load_keypoints(path, person=person)
    except EngineError as exc:
        if person == 0:
            raise
        try:
            load_keypoints(path, person=0)
        except EngineError:
            raise exc from None
        raise StudioError(f"keypoint file {path.name} has no person {person} (people are numbered from 0 "
                          "in the order the file lists them per frame)") from None
    if person > 0:
        first = load_keypoints(path, person=0)
        if first.n_frames == kp.n_frames and np.array_equal(first.xy, kp.xy):
            raise StudioError(f"keypoint file {path.name} holds one person; --person {person} does not exist")
    return kp


def _keypoint_file(video: Path, keypoints: str | None) -> Path:
    from studio.adapters.performer import find_keypoints

    found = find_keypoints(video, keypoints)
    if found is None:
        raise StudioError(f"no keypoints for {video.name}: run `studio pose {video}` first (it writes "
                          f"{video.name}.keypoints.json beside the video) or pass --keypoints FILE")
    return found


def separate_video(video, person: int = 0, *, keypoints: str | None = None, out_dir=None, project=None,
                   overwrite: bool = False, job: Job | None = None) -> SeparateResult:
    """Separate person ``person`` of ``video`` (module doc). ``out_dir``: where the WAVs go
    (default: beside the video; with ``project``: its assets folder)."""
    from studio import media
    from studio.original import write_wav

    job = Job.quiet(job)
    video = Path(video)
    if not video.exists():
        raise MediaError(f"video {video} does not exist")
    proj = None
    if project is not None:
        from studio.project import Project

        proj = Project.load(project)
    kp_path = _keypoint_file(video, keypoints)
    kp = load_player(kp_path, person)
    info = media.probe(video)
    if not info.has_audio:
        raise MediaError(f"{video.name} has no audio stream: there is no sound to separate")
    who = f"person {person}"
    stem = f"{video.stem}.person{person}"
    folder = Path(out_dir) if out_dir else (proj.assets_dir if proj is not None else video.parent)
    player_path, residual_path = folder / f"{stem}.separated.wav", folder / f"{stem}.residual.wav"
    for p in (player_path, residual_path):
        if p.exists() and not overwrite:
            raise StudioError(f"{p} already exists; pass --overwrite to replace it")
    job.report(0.05, "reading the audio")
    audio, rate = media.read_audio(video, stereo=True)
    offset = info.audio[0].start_s - (info.video.start_s if info.video is not None else 0.0)
    job.report(0.2, f"separating {who}")
    from engines.separate.infer import Separator

    sep = Separator().separate(audio, rate, kp, start_s=offset)
    job.report(0.8, "writing")
    for path, audio in ((player_path, sep.player), (residual_path, sep.residual)):
        write_wav(path, audio, rate, overwrite=overwrite, error=StudioError)
    result = SeparateResult(player_path, residual_path, rate, audio.shape[-1] / rate, kp_path, [], person, offset)
    if proj is not None:
        tracks = separated_tracks(proj, result)
        proj.tracks = with_separated(proj.tracks, tracks)
        proj.save()
        result.tracks = [t.name for t in tracks]
    job.report(1.0, "separated")
    return result


def separated_tracks(proj, result: SeparateResult) -> list:
    """The two AUDIO tracks of a separation for ``proj`` (its WAVs referenced from the project):
    "<Who> (separated)" and "Without <who>"."""
    from studio.project import Track, TrackKind

    who = f"person {result.person}"
    settings = {"person": result.person, "keypoints": str(result.keypoints)}
    offset = round(result.offset_s, 6)
    return [Track(f"{who.capitalize()} (separated)", TrackKind.AUDIO, audio_path=proj.relative(result.player_path),
                  offset_s=offset, engine="separate", settings=settings),
            Track(f"Without {who}", TrackKind.AUDIO, audio_path=proj.relative(result.residual_path),
                  offset_s=offset, engine="separate", settings=dict(settings))]


def with_separated(tracks: list, new: list) -> list:
    """The track list with ``new`` after the others (an earlier separation of the same person
    replaced) and the original audio muted: the two new tracks sum to it. Tracks are replaced,
    never changed in place (the app keeps the old list for Undo)."""
    names = {t.name for t in new}
    kept = [replace(t, mixer=replace(t.mixer, mute=True)) if t.original_audio else t
            for t in tracks if t.name not in names or t.engine != "separate"]
    return kept + list(new)


@dataclass
class PeopleInView:
    """The people of a video's keypoint file, for picking one (the app's preview): how many
    ``--person`` can name, and where each is per frame (``boxes``: per frame, per person in the
    file's order, ``(x, y, w, h)`` in video pixels or None; all None where the file keeps no
    image positions, as the studio's own normalised format)."""

    keypoints: Path
    fps: float
    count: int
    boxes: list

    def at(self, time_s: float) -> list:
        """The boxes of the frame shown at ``time_s`` (one entry per person, None: not located)."""
        if not self.boxes:
            return [None] * self.count
        i = min(len(self.boxes) - 1, max(0, int(time_s * self.fps + 1e-6)))
        frame = list(self.boxes[i])
        return frame + [None] * (self.count - len(frame))


def people_in_view(video: Path, width: int, height: int, keypoints: str | None = None) -> PeopleInView | None:
    """The people of ``video``'s keypoints (named, or VIDEO.keypoints.json beside it: ``studio
    pose``), their boxes in a ``width`` x ``height`` picture; None when the video has none."""
    from engines.performer.keypoints import people_boxes
    from studio.adapters.performer import find_keypoints

    path = find_keypoints(Path(video), keypoints)
    if path is None:
        return None
    found = people_boxes(path)
    scale = (1.0, 1.0) if found.units == "px" else (float(width), float(height))
    boxes = [[None if b is None else (b[0] * scale[0], b[1] * scale[1], (b[2] - b[0]) * scale[0],
                                      (b[3] - b[1]) * scale[1]) for b in frame] for frame in found.frames]
    count = max(1, max((len(f) for f in found.frames), default=1))
    return PeopleInView(path, found.fps, count, boxes if found.units else [])
