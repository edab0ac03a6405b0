"""Export a project: WAV/FLAC stems and mixdown, a Standard MIDI File, the re-muxed video and a
REAPER project, in one action (see the modules for each format).

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
(``Project.audible_tracks``), in stems, mix, MIDI file and REAPER project alike.

Mastering (:mod:`studio.mastering`) is on by default: the mix is normalised to
``loudness_lufs`` (-14 LUFS; -23 for broadcast; None/"off" for the plain mix) and held under
-1 dBTP, every stem under -1 dBTP too, so no export clips at any bit depth. The report gives the
integrated loudness, true peak and clipped-sample count of the mix as written, i.e. measured on
the samples after the bit-depth conversion (dither included), read back as a player would.
"""
from __future__ import annotations

import contextlib
import errno
import math
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.errors import ExportError, StudioError
from studio.transaction import Transaction
from studio.jobs import Job
from studio.names import external_paths, require_inside
from studio.project import Project, TrackKind

from export import reaper, smf, video, wav

__all__ = ["ExportReport", "export_project"]


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

    @property
    def written(self) -> tuple[Path, ...]:
        """Same as ``files`` (the name studio.cli uses)."""
        return self.files


def _midi_parts(project: Project) -> list[smf.Part]:
    return [
        smf.Part(t.name, t.notes, t.program, t.is_drums, t.channel)
        if t.kind is not TrackKind.FOLEY else smf.foley_part(t.name, t.events, t.channel)
        for t in project.audible_tracks()
        if (t.kind in (TrackKind.MIDI, TrackKind.SOUNDTRACK) and t.notes)
        or (t.kind is TrackKind.FOLEY and t.events)
    ]


def export_project(project: Project, *, transaction: Transaction | None = None, **options) -> ExportReport:
    """Write what was asked for, all or nothing (see the module doc and ``_export_project`` for
    the options). The folders written in are locked before any work; with ``transaction`` the
    files are staged in it and the caller commits."""
    if transaction is not None:
        return _export_project(project, transaction, **options)
    folders = [Path(options[k]).parent for k in ("mix_path", "midi_path", "video_path", "rpp_path")
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

    ``rpp_path`` needs stems (it references them) and uses the MIDI file when one is written.
    ``time_range=(start_s, end_s)`` exports that part of the timeline (audio and MIDI; the
    video cannot be cut without re-encoding and is refused with a range).
    ``loudness_lufs``: the mastering target, or None / ``"off"`` for the plain mix (then
    ``limiter=True`` adds the true-peak limiter alone; with a target the limiter always runs).
    ``root``: the folder the user chose; every output, resolved with its symlinks, must lie in it
    (``studio.names.require_inside``), checked before any work. ``allow_external_audio``: render
    audio files a track references outside the project's folder (refused by default: a shared
    project could pull any file of the recipient's disk into the export).
    """
    job = Job.quiet(job)
    t_start = time.perf_counter()
    bit_depth, file_format = str(bit_depth), str(file_format).lower()
    wav.check_format(bit_depth, file_format)
    from studio.mastering import parse_loudness

    try:
        loudness_lufs = parse_loudness(loudness_lufs)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    sr = int(sample_rate or project.sample_rate)
    if sr not in wav.SAMPLE_RATES:
        raise ExportError(f"sample rate {sr} Hz is not offered; choose 44100, 48000 or 96000")
    if all(p is None for p in (stems_dir, mix_path, midi_path, video_path, rpp_path)):
        raise ExportError("nothing to export: choose stems, a mix, a MIDI file, a video or a REAPER project")
    if rpp_path is not None and stems_dir is None:
        raise ExportError("a REAPER project references the stems; choose a stems folder as well")
    if video_path is not None:
        if project.video is None:
            raise ExportError("the project has no video to export with the new sound")
        video.container_format(video_path)
        if time_range is not None and (time_range[0] > 0 or time_range[1] < project.duration_s):
            raise ExportError("a video cannot be cut to a time range without re-encoding; "
                              "export the whole video, or stems/mix for the range")
    audible = project.audible_tracks()
    if (stems_dir is not None or mix_path is not None) and not audible:
        raise ExportError("every track is muted (or no track exists); there is nothing to render")
    if mix_path is not None:
        wav.check_format(bit_depth, _format_of(Path(mix_path), file_format))
    renders = stems_dir is not None or mix_path is not None or video_path is not None
    outside = external_paths(project, audible) if renders and not allow_external_audio else []
    if outside:
        more = f" (and {len(outside) - 3} more)" if len(outside) > 3 else ""
        raise ExportError(f"the project plays audio from outside its folder: {', '.join(outside[:3])}{more}; "
                          "confirm it to export (--allow-external-audio), or import the file into the project")
    parts = _midi_parts(project)
    if midi_path is not None and not parts:
        raise ExportError("no audible MIDI part to write; generate or unmute a MIDI track")

    # ---- every target, checked before any is written
    ext = "." + file_format
    stems_dir = Path(stems_dir) if stems_dir is not None else None
    stem_paths: dict[str, Path] = {}
    if stems_dir is not None:
        names = wav.unique_names([t.name for t in audible])
        stem_paths = {t.id: stems_dir / (n + ext) for t, n in zip(audible, names)}
    singles = {k: Path(p) for k, p in (("mix", mix_path), ("midi", midi_path), ("video", video_path),
                                         ("rpp", rpp_path)) if p is not None}
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
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise ExportError(f"{existing[0]} already exists{more}; pass --overwrite to replace")
    for p in singles.values():
        if not p.parent.is_dir():
            raise ExportError(f"cannot write {p}: the folder {p.parent} does not exist")
    for p in targets:
        if p.is_dir() and not p.is_symlink():
            raise ExportError(f"{p} is a folder, not a file; choose a file name")
    if stems_dir is not None and stems_dir.exists() and not stems_dir.is_dir():
        raise ExportError(f"{stems_dir} is a file, not a folder for stems")
    if video_path is not None:
        src = project.resolve(project.video.path)
        if not src.is_file():
            raise ExportError(f"the project video {src} is missing; relink it before exporting the video")
    # ---- render
    timings: dict[str, float] = {}
    result = None
    if stem_paths or mix_path is not None or video_path is not None:
        from studio.render import render_project

        t = time.perf_counter()
        try:
            result = render_project(project, sample_rate=sr, time_range=time_range, loudness_lufs=loudness_lufs,
                                    limiter=limiter, soundfont=soundfont, job=job.sub(0.0, 0.6))
        except ExportError:
            raise
        except StudioError as exc:
            raise ExportError(f"cannot render the project: {exc}") from exc
        timings["render"] = time.perf_counter() - t
    origin = float(time_range[0]) if time_range else 0.0
    end = float(time_range[1]) if time_range else (project.duration_s or None)
    frames = result.n_frames if result is not None else int(round(((end or 0) - origin) * sr))

    # ---- enough room for what is about to be written (known exactly once rendered)
    need = (len(stem_paths) + (mix_path is not None)) * wav.estimated_bytes(frames, 2, bit_depth)
    if video_path is not None:
        need += project.resolve(project.video.path).stat().st_size + frames  # AAC at 256 kb/s is < 1 byte per frame
    folder = next((p.parent for p in singles.values()), None)
    if stems_dir is not None:
        folder = stems_dir if stems_dir.exists() else stems_dir.parent
    if folder is not None and folder.exists():
        free = shutil.disk_usage(folder).free
        if free < need:
            raise ExportError(f"not enough free space in {folder}: the export needs about "
                              f"{need / 1e6:.1f} MB, {free / 1e6:.1f} MB are free")

    # ---- write everything into staging folders beside the targets (renamed into place by the commit)
    if stems_dir is not None and not stems_dir.exists() and not txn.staged(stems_dir):
        txn.lock(stems_dir.parent, create=True)  # folders made here go again on a rollback
        txn.stage_dir(stems_dir)  # a new stems folder appears whole, with the commit
    written: list[Path] = []
    stems_clipped = 0
    measured = (float("-inf"), float("-inf"), 0)
    try:
        with contextlib.ExitStack() as stack:
            def temp(target: Path) -> Path:
                return txn.stage(target)

            total = len(stem_paths) + len(singles)
            step = [0]

            def tick(msg: str) -> None:
                step[0] += 1
                job.report(0.6 + 0.4 * step[0] / max(1, total), msg)

            video_future = None
            if video_path is not None:  # AAC encoding + packet copy run beside the audio files
                video_tmp = temp(singles["video"])
                pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="mux"))
                t_video = time.perf_counter()
                video_future = pool.submit(
                    video.mux, project.resolve(project.video.path), video_tmp, result.mix, sr,
                    keep_original_audio=keep_original_audio, container=video.container_format(singles["video"]),
                    shown=singles["video"])
                # leaving the stack waits for the mux (pool) before temporaries are removed
            t = time.perf_counter()
            for tid, path in stem_paths.items():
                stem = result.stems[tid]
                wav.write_audio(temp(path), stem, sr, bit_depth=bit_depth, file_format=file_format, shown=path)
                stems_clipped += _clipped_estimate(stem, bit_depth)
                written.append(path)
                tick(f"stem {path.name}")
            if mix_path is not None:
                wav.write_audio(temp(singles["mix"]), result.mix, sr, bit_depth=bit_depth,
                                file_format=_format_of(singles["mix"], file_format), shown=singles["mix"])
                written.append(singles["mix"])
                tick("mixdown")
            timings["audio_files"] = time.perf_counter() - t
            if result is not None:  # measure the mix as written (read back as a player would)
                t = time.perf_counter()
                measured = _measure(result, bit_depth if mix_path is not None else "float32")
                timings["measure"] = time.perf_counter() - t
            tm = None
            if midi_path is not None or rpp_path is not None:
                tm = smf.tick_map(project.tempo, origin)
            if midi_path is not None:
                t = time.perf_counter()
                mid = smf.build_midi(parts, project.tempo, origin_s=origin, end_s=end,
                                     quantize=quantize, title=project.name)
                smf.write_midi(temp(singles["midi"]), mid, shown=singles["midi"])
                written.append(singles["midi"])
                timings["midi"] = time.perf_counter() - t
                tick("MIDI file")
            if video_future is not None:
                video_future.result()
                written.append(singles["video"])
                timings["video"] = time.perf_counter() - t_video
                tick("video")
            if rpp_path is not None:
                length = frames / sr
                items = [(result.names[tid], p, length) for tid, p in stem_paths.items()]
                midi_item = ("MIDI", singles["midi"], length) if midi_path is not None else None
                text = reaper.rpp_text(singles["rpp"], items, sample_rate=sr,
                                       bpm=project.tempo.bpm_at(origin), tick_map=tm,
                                       beats_per_bar=project.tempo.beats_per_bar,
                                       beat_unit=project.tempo.beat_unit, midi=midi_item)
                with open(temp(singles["rpp"]), "w", encoding="utf-8") as fh:
                    fh.write(text)
                written.append(singles["rpp"])
                tick("REAPER project")
            job.check_cancelled()
    except OSError as exc:  # a writer failed (disk full, read-only folder): the caller rolls back
        raise ExportError(f"export failed: {exc.strerror or exc}" +
                          ("; the disk is full" if exc.errno == errno.ENOSPC else "")) from None
    timings["total"] = time.perf_counter() - t_start
    return ExportReport(
        files=tuple(written),
        stems=stem_paths,
        mix_path=singles.get("mix"),
        midi_path=singles.get("midi"),
        video_path=singles.get("video"),
        rpp_path=singles.get("rpp"),
        sample_rate=sr,
        bit_depth=bit_depth,
        file_format=file_format,
        duration_s=frames / sr,
        frames=frames,
        peak_dbfs=result.peak_dbfs if result is not None else float("-inf"),
        clipped=result.clipped if result is not None else False,
        limiter_max_reduction_db=result.limiter_max_reduction_db if result is not None else 0.0,
        timings_s=timings,
        loudness_lufs=measured[0],
        true_peak_dbtp=measured[1],
        clipped_samples=measured[2],
        stems_clipped_samples=stems_clipped,
        loudness_target_lufs=loudness_lufs,
    )


def _measure(result, bit_depth: str) -> tuple[float, float, int]:
    """(integrated LUFS, true peak dBTP, clipped samples) of the mix after quantisation.

    16 bit is measured on the samples written (TPDF dither adds up to 1.5 LSB, which can matter
    next to a ceiling); 24-bit and float files hold the render's samples to within 2**-24 (far
    below 0.001 dB), so the render's own measurement stands and only the clipping is counted on
    the quantised samples."""
    from studio.mastering import integrated_lufs, true_peak_dbtp

    data = wav.quantise(result.mix, bit_depth)  # the samples write_audio wrote (same seed)
    clipped = wav.clipped_count(data, bit_depth)
    if bit_depth != "16" and math.isfinite(result.loudness_lufs) or not np.any(result.mix):
        return result.loudness_lufs, result.true_peak_dbtp, clipped
    back = wav.dequantise(data, bit_depth)
    return integrated_lufs(back, result.sample_rate), true_peak_dbtp(back), clipped


def _clipped_estimate(audio, bit_depth: str) -> int:
    """Samples of a stem that quantise to the format's extremes: beyond full scale less one LSB
    (plus one LSB of dither at 16 bit), without quantising the stem a second time."""
    lsb = {"16": 2.0 / 2**15, "24": 1.0 / 2**23, "float32": 0.0}[str(bit_depth)]
    return int(np.count_nonzero(np.abs(audio) >= 1.0 - lsb))


def _format_of(path: Path, default: str) -> str:
    ext = path.suffix.lower().lstrip(".")
    return ext if ext in wav.FORMATS else default

