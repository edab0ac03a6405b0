"""Export a project: WAV/FLAC stems and mixdown, a Standard MIDI File, the re-muxed video, a
REAPER project and a DAWproject file, in one action. The files are written by the format writers
of ``export/`` (``wav``, ``smf``, ``video``, ``reaper``, ``dawproject``: plain data in, files out); this module decides what they
get: it checks the options and the targets, renders and masters the project, measures the mix
and stages every file in a transaction.

All or nothing: every target is checked before anything is written (an existing file without
``overwrite``, a folder where a file should go, a missing folder, a video without a project
video, too little free space), and every folder written in is locked first (a second writer
gets a "busy" error at once). Each file is written into a private staging folder beside its
target and all of them are renamed into place only after the last one was written
(``studio.transaction``). A failure on the way (disk full, read-only folder, cancelled job,
kill) leaves the targets exactly as they were and no new file; a stems folder that did not
exist appears whole with the commit. ``transaction=`` writes into a caller's transaction
instead (``studio generate`` commits the export together with its project).

What is exported follows the mixer: muted tracks are left out, soloed tracks alone play
(``Project.audible_tracks``), in stems, mix, MIDI file, REAPER project and DAWproject alike.

Mastering (:mod:`studio.mastering`) is on by default: the mix is normalised to
``loudness_lufs`` (-14 LUFS; -23 for broadcast; None/"off" for the plain mix) and held under
-1 dBTP, every stem under -1 dBTP too, so no export clips at any bit depth. The report gives the
integrated loudness, true peak and clipped-sample count of the mix as written, i.e. measured on
the samples after the bit-depth conversion (dither included), read back as a player would.

The steps, in the order ``export_project`` runs them: ``_settings`` (the options checked),
``_targets`` (every output checked before any work), ``render_for_export`` (the tracks rendered
and mastered into a :class:`RenderedProject`: plain arrays and figures), ``_check_space``,
``_write_files`` (the writers of ``export/`` into the staging; ``measure_as_written`` on the way;
the DAWproject last, as it copies the stems written before it)
and ``_report``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export import dawproject, reaper, smf, video, wav
from studio import heap, mastering, render
from studio.errors import ExportError, StudioError
from studio.jobs import Job
from studio.names import external_paths, require_inside
from studio.project import Project, Track, TrackKind
from studio.transaction import Transaction

__all__ = ["ExportReport", "RenderedProject", "export_project", "measure_as_written", "render_for_export"]

OUTPUTS = ("stems", "mix", "midi", "video", "rpp", "dawproject")  # the keys of an export's targets, in writing order


class TargetsExistError(ExportError):
    """Files an export would write are there already and replacing them was not asked for;
    ``paths`` lists them. Its text names the CLI's ``--overwrite``; the app says it in its own
    words (the Export dialog's "Replace existing files")."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = list(paths)
        more = f" (and {len(self.paths) - 1} more)" if len(self.paths) > 1 else ""
        super().__init__(f"{self.paths[0]} already exists{more}; pass --overwrite to replace")


@dataclass(frozen=True)
class ExportReport:
    files: tuple[Path, ...]  # everything written, in order
    stems: dict[str, Path]  # track id -> stem file
    mix_path: Path | None
    midi_path: Path | None
    video_path: Path | None
    rpp_path: Path | None
    sample_rate: int
    bit_depth: str
    file_format: str
    duration_s: float
    frames: int
    peak_dbfs: float
    clipped: bool
    limiter_max_reduction_db: float
    timings_s: dict[str, float] = field(default_factory=dict)
    # the mix as written (after the bit-depth conversion; the float render when no mix file)
    loudness_lufs: float = float("-inf")
    true_peak_dbtp: float = float("-inf")
    clipped_samples: int = 0
    stems_clipped_samples: int = 0  # over every stem written
    loudness_target_lufs: float | None = None  # None: mastering off
    dawproject_path: Path | None = None

    @property
    def written(self) -> tuple[Path, ...]:
        """Same as ``files`` (the name studio.cli uses)."""
        return self.files


@dataclass(frozen=True)
class RenderedProject:
    """A project rendered for the writers: plain arrays and figures, no tracks. The arrays are
    the render's disk-backed ones (``studio.diskaudio``); the writers read them in blocks."""
    stems: dict[str, np.ndarray]  # track id -> (2, n) float32, post-fader, mastered
    names: dict[str, str]  # track id -> track name
    mix: np.ndarray  # (2, n) float32, mastered
    sample_rate: int
    peak_dbfs: float  # of ``mix``
    clipped: bool  # ``mix`` has samples beyond full scale
    limiter_max_reduction_db: float
    loudness_lufs: float  # of the float ``mix`` (BS.1770 integrated)
    true_peak_dbtp: float  # of the float ``mix``

    @property
    def n_frames(self) -> int:
        return int(self.mix.shape[1])


def render_for_export(project: Project, *, sample_rate: int, time_range: tuple[float, float] | None = None,
                      loudness_lufs: float | None = -14.0, limiter: bool | None = None, soundfont=None,
                      job: Job | None = None, then_writes: tuple[Path, int] | None = None,
                      on_stems=None) -> RenderedProject:
    """The audible tracks rendered and mastered (``studio.render.render_project``, see there for
    the options); a failure to render is an ``ExportError``. Through the render cache: an
    unchanged project exported again with the same options in this process (``studio generate``'s
    export, then a video export; app playback, then an export) is rendered once; its arrays are
    then shared and read-only. ``then_writes``: the files written after it, ``on_stems``: called
    with the final stems before the mix is mastered (both ``render_project``'s)."""
    try:
        result = render.render_project(project, sample_rate=sample_rate, time_range=time_range,
                                       loudness_lufs=loudness_lufs, limiter=limiter, soundfont=soundfont,
                                       cache=True, job=job, then_writes=then_writes, on_stems=on_stems)
    except ExportError:
        raise
    except StudioError as exc:
        raise ExportError(f"cannot render the project: {exc}") from exc
    return RenderedProject(
        stems=result.stems, names=result.names, mix=result.mix, sample_rate=result.sample_rate,
        peak_dbfs=result.peak_dbfs, clipped=result.clipped, limiter_max_reduction_db=result.limiter_max_reduction_db,
        loudness_lufs=result.loudness_lufs, true_peak_dbtp=result.true_peak_dbtp)


def measure_as_written(rendered: RenderedProject, bit_depth: str) -> tuple[float, float, int]:
    """(integrated LUFS, true peak dBTP, clipped samples) of the mix after quantisation.

    16 bit is measured on the samples written (TPDF dither adds up to 1.5 LSB, which can matter
    next to a ceiling); 24-bit and float files hold the render's samples to within 2**-24 (far
    below 0.001 dB), so the render's own measurement stands and only the clipping is counted on
    the quantised samples."""
    from studio import diskaudio, mastering_blocks

    mix, n = rendered.mix, rendered.n_frames
    exact = bit_depth != "16" and math.isfinite(rendered.loudness_lufs)
    back = None if exact else diskaudio.disk_array(*mix.shape)  # what a player reads back, on disk
    clipped, anything = 0, False
    for a, x in wav.blocks(mix):  # the samples write_audio wrote (same seed, same dither)
        data = wav.quantise(x, bit_depth, start=a, total=n)
        clipped += wav.clipped_count(data, bit_depth)
        anything = anything or bool(np.any(x))
        if back is not None:
            diskaudio.write(back, a, wav.dequantise(data, bit_depth))
    if exact or not anything:
        return rendered.loudness_lufs, rendered.true_peak_dbtp, clipped
    return (mastering_blocks.integrated_lufs(back, rendered.sample_rate), mastering_blocks.true_peak_dbtp(back),
            clipped)


def export_project(project: Project, *, transaction: Transaction | None = None, **options) -> ExportReport:
    """Write what was asked for, all or nothing (see the module doc and ``_export_project`` for
    the options). The folders written in are locked before any work; with ``transaction`` the
    files are staged in it and the caller commits."""
    heap.limit_arenas()  # before the render's threads (``studio export`` alone)
    if transaction is not None:
        return _export_project(project, transaction, **options)
    folders = [Path(options[k]).parent for k in ("mix_path", "midi_path", "video_path", "rpp_path", "dawproject_path")
               if options.get(k) is not None and Path(options[k]).parent.is_dir()]
    stems = options.get("stems_dir")
    if stems is not None:
        folders += [d for d in (Path(stems), Path(stems).parent) if d.is_dir()][:1]
    with Transaction(folders, error=ExportError) as txn:
        report = _export_project(project, txn, **options)
        txn.commit()
    return report


def _export_project(
    project: Project,
    txn: Transaction,
    *,
    stems_dir=None,
    mix_path=None,
    midi_path=None,
    video_path=None,
    rpp_path=None,
    dawproject_path=None,
    sample_rate: int | None = None,
    bit_depth: str = "24",
    file_format: str = "wav",
    time_range: tuple[float, float] | None = None,
    keep_original_audio: bool = True,
    loudness_lufs: float | str | None = -14.0,
    limiter: bool | None = None,
    overwrite: bool = False,
    quantize: float | None = None,
    soundfont=None,
    job: Job | None = None,
    root=None,
    allow_external_audio: bool = False,
) -> ExportReport:
    """Write what was asked for (each ``*_path``/``stems_dir`` that is not None); see module doc.

    ``rpp_path`` needs stems (it references them) and uses the MIDI file when one is written;
    ``dawproject_path`` needs stems too (it holds them) and carries the MIDI file's parts as notes.
    ``time_range=(start_s, end_s)`` exports that part of the timeline (audio and MIDI; the
    video cannot be cut without re-encoding and is refused with a range).
    ``loudness_lufs``: the mastering target, or None / ``"off"`` for the plain mix (then
    ``limiter=True`` adds the true-peak limiter alone; with a target the limiter always runs).
    ``keep_original_audio``: the video's own audio stays in the export: its track
    (``Track.original_audio``, studio.original) in the stems and the mix, and the source's audio
    stream(s) copied into the video beside the mix; False leaves both out.
    ``root``: the folder the user chose; every output, resolved with its symlinks, must lie in it
    (``studio.names.require_inside``), checked before any work. ``allow_external_audio``: render
    audio files a track references outside the project's folder (refused by default: a shared
    project could pull any file of the recipient's disk into the export).
    """
    job = Job.quiet(job)
    t_start = time.perf_counter()
    if not keep_original_audio and project.original_tracks():  # the video's own audio left out of everything
        project = dataclasses.replace(project, tracks=[t for t in project.tracks if not t.original_audio])
    asked = dict(zip(OUTPUTS, (stems_dir, mix_path, midi_path, video_path, rpp_path,
                                dawproject_path)))
    settings = _settings(project, asked, sample_rate=sample_rate, bit_depth=bit_depth, file_format=file_format,
                         time_range=time_range, loudness_lufs=loudness_lufs,
                         allow_external_audio=allow_external_audio)
    targets = _targets(project, settings, asked, root=root, overwrite=overwrite)
    timings: dict[str, float] = {}
    rendered = None
    out = _Staged(txn, job, len(targets.stems) + len(targets.singles))
    with _AudioFiles(targets, settings, out) as audio:
        if targets.stems or mix_path is not None or video_path is not None:
            rendered = _render(project, txn, settings, targets, audio, time_range=time_range, limiter=limiter,
                               soundfont=soundfont, job=job.sub(0.0, 0.6), timings=timings)
        origin = float(time_range[0]) if time_range else 0.0
        end = float(time_range[1]) if time_range else (project.duration_s or None)
        frames = rendered.n_frames if rendered is not None else int(round(((end or 0) - origin) * settings.sample_rate))
        _check_space(project, targets, frames, settings.bit_depth)
        _stage_stems_folder(txn, targets.stems_dir)
        files, stems_clipped, measured = _write_files(
            project, settings, targets, rendered, out, audio, span=(origin, end), frames=frames,
            quantize=quantize, keep_original_audio=keep_original_audio, job=job, timings=timings)
    timings["total"] = time.perf_counter() - t_start
    return _report(settings, targets, rendered, files=files, frames=frames, timings=timings, measured=measured,
                   stems_clipped=stems_clipped)


def _render(project: Project, txn: Transaction, settings: _Settings, targets: _Targets, audio: _AudioFiles, *,
            time_range: tuple[float, float] | None, limiter: bool | None, soundfont, job: Job,
            timings: dict[str, float]) -> RenderedProject:
    """The render for the audio files and the video. The files and the render's own disk arrays
    are checked against the free space before it (minutes for a film), not only after; where
    that is known, the stem files start while the mix is mastered (``_AudioFiles``)."""
    expected = _expected_frames(project, settings.sample_rate, time_range)
    writes = early = None
    if expected is not None:
        writes = _check_space(project, targets, expected, settings.bit_depth)
        if targets.stems:
            _stage_stems_folder(txn, targets.stems_dir)
            early = audio.start_stems
    t = time.perf_counter()
    rendered = render_for_export(project, sample_rate=settings.sample_rate, time_range=time_range,
                                 loudness_lufs=settings.loudness_lufs, limiter=limiter, soundfont=soundfont,
                                 job=job, then_writes=writes if writes and writes[0] else None, on_stems=early)
    timings["render"] = time.perf_counter() - t
    return rendered


# ----------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class _Settings:
    """The options of one export, checked."""
    sample_rate: int
    bit_depth: str
    file_format: str
    loudness_lufs: float | None  # None: mastering off
    audible: list[Track]  # the tracks that play (mute/solo honoured)
    parts: list[smf.Part]  # the MIDI file's parts


@dataclass(frozen=True)
class _Targets:
    """Where each file goes, every path checked."""
    stems_dir: Path | None
    stems: dict[str, Path]  # track id -> stem file
    singles: dict[str, Path]  # "mix" / "midi" / "video" / "rpp" / "dawproject" -> file, for those asked for


def _settings(project: Project, asked: dict, *, sample_rate, bit_depth, file_format, time_range, loudness_lufs,
              allow_external_audio: bool) -> _Settings:
    """The options checked (nothing is read or written yet); an ``ExportError`` for the first
    that cannot be exported."""
    bit_depth, file_format = str(bit_depth), str(file_format).lower()
    wav.check_format(bit_depth, file_format)
    try:
        loudness_lufs = mastering.parse_loudness(loudness_lufs)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    sr = int(sample_rate or project.sample_rate)
    if sr not in wav.SAMPLE_RATES:
        raise ExportError(f"sample rate {sr} Hz is not offered; choose 44100, 48000 or 96000")
    _check_outputs(project, asked, time_range)
    audible = project.audible_tracks()
    if (asked["stems"] is not None or asked["mix"] is not None) and not audible:
        raise ExportError("every track is muted (or no track exists); there is nothing to render")
    if asked["mix"] is not None:
        wav.check_format(bit_depth, wav.format_of(Path(asked["mix"]), file_format))
    renders = any(asked[k] is not None for k in ("stems", "mix", "video"))
    outside = external_paths(project, audible) if renders and not allow_external_audio else []
    if outside:
        more = f" (and {len(outside) - 3} more)" if len(outside) > 3 else ""
        raise ExportError(f"the project plays audio from outside its folder: {', '.join(outside[:3])}{more}; "
                          "confirm it to export (--allow-external-audio), or import the file into the project")
    parts = _midi_parts(project)
    if asked["midi"] is not None and not parts:
        raise ExportError("no audible MIDI part to write; generate or unmute a MIDI track")
    return _Settings(sr, bit_depth, file_format, loudness_lufs, audible, parts)


def _check_outputs(project: Project, asked: dict, time_range) -> None:
    """Something to export, and each output possible for this project."""
    if all(p is None for p in asked.values()):
        raise ExportError("nothing to export: choose stems, a mix, a MIDI file, a video, a REAPER project "
                          "or a DAWproject")
    if asked["rpp"] is not None and asked["stems"] is None:
        raise ExportError("a REAPER project references the stems; choose a stems folder as well")
    if asked["dawproject"] is not None and asked["stems"] is None:
        raise ExportError("a DAWproject holds the stems; choose a stems folder as well")
    if asked["video"] is not None:
        if project.video is None:
            raise ExportError("the project has no video to export with the new sound")
        video.container_format(asked["video"])
        if time_range is not None and (time_range[0] > 0 or time_range[1] < project.duration_s):
            raise ExportError("a video cannot be cut to a time range without re-encoding; "
                              "export the whole video, or stems/mix for the range")


def _midi_parts(project: Project) -> list[smf.Part]:
    return [
        smf.Part(t.name, t.notes, t.program, t.is_drums, t.channel)
        if t.kind is not TrackKind.FOLEY else smf.foley_part(t.name, t.events, t.channel)
        for t in _midi_tracks(project)
    ]


def _midi_tracks(project: Project) -> list[Track]:
    """The audible tracks the MIDI file has a part for, in its order."""
    return [t for t in project.audible_tracks()
            if (t.kind in (TrackKind.MIDI, TrackKind.SOUNDTRACK) and t.notes)
            or (t.kind is TrackKind.FOLEY and t.events)]


def _targets(project: Project, settings: _Settings, asked: dict, *, root, overwrite: bool) -> _Targets:
    """Every target named and checked before any is written: inside the stems folder and
    ``root``, distinct, not there already (unless ``overwrite``), a file in an existing folder."""
    ext = "." + settings.file_format
    stems_dir = Path(asked["stems"]) if asked["stems"] is not None else None
    stem_paths: dict[str, Path] = {}
    if stems_dir is not None:
        names = wav.unique_names([t.name for t in settings.audible])
        stem_paths = {t.id: stems_dir / (n + ext) for t, n in zip(settings.audible, names)}
    singles = {k: Path(p) for k, p in asked.items() if k != "stems" and p is not None}
    targets = list(stem_paths.values()) + list(singles.values())
    if stems_dir is not None:  # a track's name never leads out of the stems folder
        require_inside(stems_dir, stem_paths.values())
    if root is not None:  # nothing outside the folder the user chose
        require_inside(root, [stems_dir, *targets])
    resolved = [p.resolve() for p in targets]
    if len(set(resolved)) != len(resolved):
        raise ExportError("two exports would write the same file; choose different names")
    if not overwrite:
        existing = [p for p in targets if p.exists()]
        if existing:
            raise TargetsExistError(existing)
    for p in singles.values():
        if not p.parent.is_dir():
            raise ExportError(f"cannot write {p}: the folder {p.parent} does not exist")
    for p in targets:
        if p.is_dir() and not p.is_symlink():
            raise ExportError(f"{p} is a folder, not a file; choose a file name")
    if stems_dir is not None and stems_dir.exists() and not stems_dir.is_dir():
        raise ExportError(f"{stems_dir} is a file, not a folder for stems")
    if "video" in singles:
        src = project.resolve(project.video.path)
        if not src.is_file():
            raise ExportError(f"the project video {src} is missing; relink it before exporting the video")
    return _Targets(stems_dir, stem_paths, singles)


def _space_needed(project: Project, targets: _Targets, frames: int, bit_depth: str) -> tuple[Path | None, int]:
    """(the folder the files go to, about how many bytes they take)."""
    files = len(targets.stems) * (1 + ("dawproject" in targets.singles)) + ("mix" in targets.singles)
    need = files * wav.estimated_bytes(frames, 2, bit_depth)  # a DAWproject holds a copy of each stem
    if "video" in targets.singles:
        need += project.resolve(project.video.path).stat().st_size + frames  # AAC at 256 kb/s is < 1 byte per frame
    folder = next((p.parent for p in targets.singles.values()), None)
    stems_dir = targets.stems_dir
    if stems_dir is not None:
        folder = stems_dir if stems_dir.exists() else stems_dir.parent
    return folder, need


def _check_space(project: Project, targets: _Targets, frames: int, bit_depth: str) -> tuple[Path | None, int]:
    """Enough room for what is about to be written (known exactly once rendered; checked before
    the render too, from the project's length, ``_expected_frames``); returns ``_space_needed``."""
    folder, need = _space_needed(project, targets, frames, bit_depth)
    if folder is not None and folder.exists():
        free = shutil.disk_usage(folder).free
        if free < need:
            raise ExportError(f"not enough free space in {folder}: the export needs about "
                              f"{need / 1e6:.1f} MB, {free / 1e6:.1f} MB are free")
    return folder, need


def _expected_frames(project: Project, sample_rate: int, time_range: tuple[float, float] | None) -> int | None:
    """The frames the render will give, known before it from the video's length (None without one)."""
    n = render.project_frames(project, sample_rate)
    if n is None or time_range is None:
        return n
    a, b = (min(n, max(0, int(round(float(t) * sample_rate)))) for t in time_range)
    return max(0, b - a)


# ----------------------------------------------------------------------------- the writing


def _stage_stems_folder(txn: Transaction, stems_dir: Path | None) -> None:
    if stems_dir is not None and not stems_dir.exists() and not txn.staged(stems_dir):
        txn.lock(stems_dir.parent, create=True)  # folders made here go again on a rollback
        txn.stage_dir(stems_dir)  # a new stems folder appears whole, with the commit


class _Staged:
    """The files written so far into the transaction's staging (renamed into place by its
    commit), and the job's progress past the render (0.6 .. 1)."""

    def __init__(self, txn: Transaction, job: Job, total: int):
        self.txn, self.job, self.total = txn, job, total
        self.files: list[Path] = []
        self.staged: dict[Path, Path] = {}  # target -> where it is being written

    def temp(self, target: Path) -> Path:
        self.staged[target] = self.txn.stage(target)
        return self.staged[target]

    def done(self, target: Path, what: str) -> None:
        self.files.append(target)
        self.job.report(0.6 + 0.4 * len(self.files) / max(1, self.total), what)


def _write_files(project: Project, settings: _Settings, targets: _Targets, rendered: RenderedProject | None,
                 out: _Staged, audio: _AudioFiles, *, span: tuple[float, float | None], frames: int,
                 quantize: float | None, keep_original_audio: bool, job: Job,
                 timings: dict[str, float]) -> tuple[list[Path], int, tuple[float, float, int]]:
    """Every file through its writer into the staging (``out``; the stem files ``audio`` may
    have started during the render); the mix measured as written. Returns (files written, the
    stems' clipped samples, the mix's (LUFS, dBTP, clipped samples)). A writer's OSError (disk
    full, read-only folder) is an ExportError; the caller rolls back."""
    singles = targets.singles
    measured = (float("-inf"), float("-inf"), 0)
    try:
        with contextlib.ExitStack() as stack:
            mux = None
            if "video" in singles:  # AAC encoding + packet copy run beside the audio files
                mux = _start_video(stack, project, singles["video"], rendered, settings.sample_rate, out,
                                   keep_original_audio=keep_original_audio)
                # leaving the stack waits for the mux (pool) before temporaries are removed
            stems_clipped = audio.finish(rendered, timings)
            if rendered is not None:  # measure the mix as written (read back as a player would)
                t = time.perf_counter()
                measured = measure_as_written(rendered, settings.bit_depth if "mix" in singles else "float32")
                timings["measure"] = time.perf_counter() - t
            tm = smf.tick_map(project.tempo, span[0]) if singles.keys() & {"midi", "rpp", "dawproject"} else None
            mid = None  # the MIDI file's bytes
            if singles.keys() & {"midi", "dawproject"}:  # the DAWproject's notes are the MIDI file's
                t = time.perf_counter()
                try:
                    mid = smf.midi_bytes(settings.parts, project.tempo, origin_s=span[0], end_s=span[1],
                                         quantize=quantize, title=project.name)
                except ExportError as exc:  # named by the file the user asked for
                    raise ExportError(f"cannot encode the MIDI file {singles.get('midi') or singles['dawproject']}: "
                                      f"{exc}") from None
                timings["midi_encode"] = time.perf_counter() - t
            if "midi" in singles:
                _write_midi(mid, singles["midi"], out, timings=timings)
            if mux is not None:
                future, t_video = mux
                future.result()
                timings["video"] = time.perf_counter() - t_video
                out.done(singles["video"], "video")
            if "rpp" in singles:
                _write_rpp(project, settings, targets, rendered, out, frames=frames, origin=span[0], tick_map=tm)
            if "dawproject" in singles:
                _write_dawproject(project, settings, targets, rendered, out, frames=frames, mid=mid, tick_map=tm,
                                  timings=timings)
            job.check_cancelled()
    except OSError as exc:  # a writer failed (disk full, read-only folder): the caller rolls back
        raise ExportError(f"export failed: {exc.strerror or exc}" +
                          ("; the disk is full" if exc.errno == errno.ENOSPC else "")) from None
    return out.files, stems_clipped, measured


def _start_video(stack: contextlib.ExitStack, project: Project, target: Path, rendered: RenderedProject,
                 sample_rate: int, out: _Staged, *, keep_original_audio: bool) -> tuple[Future, float]:
    """The video re-muxed with the mix on a worker thread of ``stack``; (its future, its start)."""
    tmp = out.temp(target)
    pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="mux"))
    t = time.perf_counter()
    future = pool.submit(
        video.mux, project.resolve(project.video.path), tmp, rendered.mix, sample_rate,
        keep_original_audio=keep_original_audio, container=video.container_format(target), shown=target)
    return future, t


AUDIO_WRITERS = 2  # files written at once: the samples' conversion and dither release the GIL in blocks


class _AudioFiles:
    """The stems and the mixdown (WAV/FLAC), ``AUDIO_WRITERS`` files at a time, each file's
    samples as one writer makes them. The stems may start during the render (``start_stems``,
    its ``on_stems``): they are final before the mix is mastered, and that pass and the mix's
    measuring keep one core busy while the other writes (the 60 s bench project: 0.8 s of stem
    files, 0.6 s of mastering; 10 minutes: the export 63.8 -> 58.0 s; two hours: 936.7 s, the
    render itself slower, 919.6 s, against 960.0 s with the files after the render in a run an
    hour later). Leaving the ``with`` waits for the writers (a failed render: those not started
    are not)."""

    def __init__(self, targets: _Targets, settings: _Settings, out: _Staged) -> None:
        self.targets, self.settings, self.out = targets, settings, out
        self.futures: dict[Path, Future] = {}  # target -> its writer, in the order submitted
        self.t_stems: float | None = None  # when the stems started
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> _AudioFiles:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, path: Path, audio: np.ndarray, file_format: str, stem: bool) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=AUDIO_WRITERS, thread_name_prefix="audio-files")
        sr, bit_depth = self.settings.sample_rate, self.settings.bit_depth

        def write(tmp: Path) -> int:
            wav.write_audio(tmp, audio, sr, bit_depth=bit_depth, file_format=file_format, shown=path)
            return wav.clipped_estimate(audio, bit_depth) if stem else 0

        self.futures[path] = self._pool.submit(write, self.out.temp(path))  # staging paths taken in order

    def start_stems(self, stems: dict[str, np.ndarray]) -> None:
        """Start writing every stem file (the render's ``on_stems``)."""
        self.t_stems = time.perf_counter()
        for tid, path in self.targets.stems.items():
            self._submit(path, stems[tid], self.settings.file_format, True)

    def finish(self, rendered: RenderedProject | None, timings: dict[str, float]) -> int:
        """The stems not started yet and the mixdown written, every file waited for and reported
        in order; returns the stems' clipped samples. ``timings["audio_files"]``: from the
        stems' start, render time they overlapped included."""
        t = time.perf_counter()
        if rendered is None:  # nothing rendered, no audio file asked for
            timings["audio_files"] = 0.0
            return 0
        if self.t_stems is None:
            self.start_stems(rendered.stems)
        mix = self.targets.singles.get("mix")
        if mix is not None:
            self._submit(mix, rendered.mix, wav.format_of(mix, self.settings.file_format), False)
        clipped = 0
        for path, fut in self.futures.items():
            clipped += fut.result()
            self.out.done(path, "mixdown" if path == mix else f"stem {path.name}")
        timings["audio_files"] = time.perf_counter() - min(t, self.t_stems)
        return clipped


def _write_midi(mid: bytes, target: Path, out: _Staged, *, timings: dict[str, float]) -> None:
    t = time.perf_counter()
    smf.write_midi(out.temp(target), mid, shown=target)
    timings["midi"] = time.perf_counter() - t
    out.done(target, "MIDI file")


def _write_rpp(project: Project, settings: _Settings, targets: _Targets, rendered: RenderedProject, out: _Staged,
               *, frames: int, origin: float, tick_map) -> None:
    """The REAPER project: the video on a track of its own, one item per stem (and the MIDI file
    when one is written), bar 1 on the tempo map's first downbeat."""
    sr = settings.sample_rate
    length = frames / sr
    items = [(rendered.names[tid], p, length) for tid, p in targets.stems.items()]
    midi = targets.singles.get("midi")
    midi_item = ("MIDI", midi, length) if midi is not None else None
    video_item = (("Video", project.resolve(project.video.path), -origin, project.video.duration_s)
                  if project.video is not None else None)
    target = targets.singles["rpp"]
    text = reaper.rpp_text(target, items, sample_rate=sr, bpm=project.tempo.bpm_at(origin), tick_map=tick_map,
                           beats_per_bar=project.tempo.beats_per_bar, beat_unit=project.tempo.beat_unit,
                           midi=midi_item, video=video_item,
                           measure_offset=reaper.measure_offset(project.tempo, origin))
    with open(out.temp(target), "w", encoding="utf-8") as fh:
        fh.write(text)
    out.done(target, "REAPER project")


def _write_dawproject(project: Project, settings: _Settings, targets: _Targets, rendered: RenderedProject,
                      out: _Staged, *, frames: int, mid: bytes, tick_map, timings: dict[str, float]) -> None:
    """The DAWproject: every stem (copied in from the staging, as written) on an audio track,
    every part of the MIDI file ``mid`` (its bytes) on a notes track with its track's fader, the MIDI file's
    tempo map and its "Bar 1" marker, so every beat position is the SMF's."""
    from studio import __version__

    t = time.perf_counter()
    sr = settings.sample_rate
    stems = [dawproject.AudioStem(rendered.names[tid], out.staged[p], p.name, frames / sr, sr)
             for tid, p in targets.stems.items()]
    mid = smf.read_midi_bytes(mid)
    parts, markers = dawproject.smf_parts(mid)
    parts = [dataclasses.replace(part, name=f"{track.name} (MIDI)", volume=10 ** (track.mixer.gain_db / 20),
                                 pan=track.mixer.pan)
             for part, track in zip(parts, _midi_tracks(project))]
    target = targets.singles["dawproject"]
    comment = f"Sound for {Path(project.video.path).name}" if project.video is not None else ""
    dawproject.write_dawproject(out.temp(target), stems, parts, tick_map=tick_map, ppq=mid.ticks_per_beat,
                                length_s=frames / sr, title=project.name, markers=markers,
                                application=("Video Sound Studio", __version__),
                                master_volume=10 ** (project.master_fader_db / 20), comment=comment)
    timings["dawproject"] = time.perf_counter() - t
    out.done(target, "DAWproject")


def _report(settings: _Settings, targets: _Targets, rendered: RenderedProject | None, *, files: list[Path],
            frames: int, timings: dict[str, float], measured: tuple[float, float, int],
            stems_clipped: int) -> ExportReport:
    sr = settings.sample_rate
    return ExportReport(
        files=tuple(files),
        stems=targets.stems,
        mix_path=targets.singles.get("mix"),
        midi_path=targets.singles.get("midi"),
        video_path=targets.singles.get("video"),
        rpp_path=targets.singles.get("rpp"),
        sample_rate=sr,
        bit_depth=settings.bit_depth,
        file_format=settings.file_format,
        duration_s=frames / sr,
        frames=frames,
        peak_dbfs=rendered.peak_dbfs if rendered is not None else float("-inf"),
        clipped=rendered.clipped if rendered is not None else False,
        limiter_max_reduction_db=rendered.limiter_max_reduction_db if rendered is not None else 0.0,
        timings_s=timings,
        loudness_lufs=measured[0],
        true_peak_dbtp=measured[1],
        clipped_samples=measured[2],
        stems_clipped_samples=stems_clipped,
        loudness_target_lufs=settings.loudness_lufs,
        dawproject_path=targets.singles.get("dawproject"),
    )
