"""The video's own soundtrack as the project's "Original audio" track.

When a project is made from a video that has an audio stream (``studio generate``, and through it
``studio batch``; the app's opening of a video, ``ui/generation.py:open_video``), the one function
:func:`add_original_audio` decodes the stream once (PyAV, ``studio.media.read_audio``; more than
two channels are downmixed to stereo) into ``assets/original-audio.wav`` (24-bit PCM at the
stream's own sample rate, written piece by piece as it decodes, so a film's soundtrack is never
whole in memory; atomically, or staged in the caller's transaction) and adds an
ordinary AUDIO track that plays it, marked ``Track.original_audio``. To the mixer, the render and
playback it is an audio track like an imported one (waveform, mute, solo, gain, pan; no gain
staging, no reverb send); it is placed where the stream starts relative to the picture
(``offset_s``), so it plays in sync. ``Mixer.duck_db`` ("duck under music", off by default) lowers
it where the generated music is loud (``studio.mastering.duck_gain``, in the render).

No engine touches or replaces it (``studio.generate.run`` drops a returned track with its id; the
spatial engine leaves it where it is), and an export with ``keep_original_audio=False``
(``studio export --no-original-audio``, the Export dialog's "Keep original audio") leaves it out of
the stems, the mix and the video. A video without audio gets no such track, and no message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from studio.errors import MediaError, ProjectError
from studio.fsutil import atomic_path
from studio.jobs import Job
from studio.project import Project, Track, TrackKind

__all__ = ["NAME", "FILE", "add_original_audio", "original_track", "staged_view"]

NAME = "Original audio"
FILE = "original-audio.wav"  # in the project's assets/
SUBTYPE = "PCM_24"


def original_track(project: Project) -> Track | None:
    """The project's original-audio track, or None (a video without audio, an older project)."""
    return next(iter(project.original_tracks()), None)


def add_original_audio(project: Project, *, transaction=None, job: Job | None = None) -> Track | None:
    """Give ``project`` (saved or about to be: its ``path`` is set) its video's own soundtrack:
    the first audio stream decoded into ``assets/original-audio.wav`` and an AUDIO track marked
    ``original_audio`` added first in the track list. Returns the track; the one already there
    when the project has it; None when the video has no audio stream (or its audio cannot be
    decoded: the project then simply has none, and the job's status line says why).
    ``transaction``: a ``studio.transaction.Transaction`` to stage the file in (``studio
    generate``: the ``assets/`` folder is staged whole; ``staged_view`` plays it before the
    commit); without it the file is written atomically in place. A file that cannot be
    written is a ProjectError."""
    from studio import media

    job = Job.quiet(job)
    have = original_track(project)
    if have is not None or project.video is None:
        return have
    video = project.resolve(project.video.path)
    info = media.probe(video)
    if not info.has_audio:
        return None
    job.report(0.0, "reading the video's own audio")
    pieces = media.iter_audio(video, stereo=True)
    try:  # the first piece: a stream that cannot be decoded at all is no track, not an error
        first = next(pieces)
    except MediaError as exc:
        job.report(1.0, f"no original audio track: {exc}")
        return None
    target = project.assets_dir / FILE
    try:
        _write(target, first, pieces, transaction)
    except MediaError as exc:  # damaged further on: the file is not kept
        job.report(1.0, f"no original audio track: {exc}")
        return None
    start = info.audio[0].start_s - (info.video.start_s if info.video is not None else 0.0)
    track = Track(NAME, TrackKind.AUDIO, audio_path=project.relative(target), offset_s=round(start, 6),
                  original_audio=True)
    project.tracks.insert(0, track)
    job.report(1.0, "original audio read")
    return track


def staged_view(project: Project, transaction) -> Project:
    """A shallow copy of ``project`` whose original-audio track plays its file where
    ``transaction`` staged it (before the commit puts it in place): ``studio generate`` renders
    its export inside the transaction that writes the project."""
    import copy
    import dataclasses

    def playing(t: Track) -> Track:
        target = project.resolve(t.audio_path) if t.original_audio and t.audio_path else None
        if target is None or target.exists() or not transaction.staged(target):
            return t
        return dataclasses.replace(t, audio_path=str(transaction.stage(target)))

    out = copy.copy(project)
    out.tracks = [playing(t) for t in project.tracks]
    return out


def _write(target: Path, first: tuple[int, np.ndarray], rest: Iterator[tuple[int, np.ndarray]],
           transaction) -> None:
    """The decoded pieces (``media.iter_audio``) as a WAV at ``target``, written as they come (a
    film's soundtrack never whole in memory): staged in ``transaction``, else atomically."""
    if transaction is not None:
        if not transaction.staged(target):
            transaction.stage_dir(target.parent)  # assets/ appears whole with the commit, as stems/ does
        _write_pieces(transaction.stage(target), first, rest)
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"cannot create {target.parent}: {exc.strerror or exc}") from None
    with atomic_path(target, error=ProjectError) as tmp:
        _write_pieces(tmp, first, rest)


def _write_pieces(path: Path, first: tuple[int, np.ndarray], rest: Iterator[tuple[int, np.ndarray]]) -> None:
    import soundfile as sf

    rate, audio = first
    with sf.SoundFile(str(path), "w", samplerate=int(rate), channels=audio.shape[0], subtype=SUBTYPE,
                      format="WAV") as f:
        f.write(audio.T)
        for _, piece in rest:
            f.write(piece.T)


def write_wav(target: Path, audio, rate: int, *, overwrite: bool = True, error=ProjectError) -> None:
    """``audio`` (channels, n) as a 24-bit WAV at ``target``, atomically, its folder made;
    ``overwrite=False`` refuses an existing file; problems raise ``error``."""
    import soundfile as sf

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot create {target.parent}: {exc.strerror or exc}") from None
    with atomic_path(target, overwrite=overwrite, error=error) as tmp:
        sf.write(str(tmp), audio.T, int(rate), subtype=SUBTYPE, format="WAV")
