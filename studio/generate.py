"""``studio generate``: video -> analysed project -> engine tracks -> stems, MIDI and mix.

Each engine plugs in through its adapter module ``studio.adapters.<name>`` (the name is the CLI
flag), which defines ``generate(project, timeline, settings, job) -> list[Track]`` (see
:mod:`studio.adapters`). The adapter lives in studio (it turns the engine's plain data into
tracks); the engine itself never imports studio. An engine that is not part of this build is
simply absent from ``available_engines()``.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from studio import adapters, grid
from studio.errors import StudioError
from studio.fsutil import explain_os_error
from studio.jobs import Job
from studio.names import safe_stem
from studio.project import Project, Track, TrackKind, autosave_path, new_project_for_video
from studio.transaction import Transaction

ENGINE_NAMES = adapters.ENGINE_NAMES  # defined with the adapters (studio/adapters/__init__.py)
# engines that need a particular picture (a keyboard seen from above; a player's keypoints):
# they run when asked, never by default
ON_REQUEST = ("piano", "performer")
# engine name -> "module:function" of its adapter: every adapter module present in this build
# (tests and plug-ins may add or replace entries)
ADAPTERS: dict[str, str] = {name: f"{adapters.module_name(name)}:generate"
                            for name in ENGINE_NAMES if adapters.present(name)}


@dataclass(frozen=True)
class GenerateSettings:
    engines: tuple[str, ...] = ()  # empty = default_engines()
    seed: int = 0
    room: str | None = None  # for the spatial engine
    style: str | None = None
    # engine-specific settings by name, e.g. {"material": "metal"} (Foley), {"bpm": 120} (the grid: studio.grid)
    options: dict = field(default_factory=dict)
    # the exported mix's loudness target (studio.mastering); None: mastering off
    loudness_lufs: float | None = -14.0


def available_engines() -> list[str]:
    return [name for name in ENGINE_NAMES if name in ADAPTERS]


def default_engines(room: str | None = None) -> tuple[str, ...]:
    """What runs when no engine is named: every engine of the build, except that the soundtrack
    is an alternative to the rhythm engine's parts (two pieces in two keys would clash) and runs
    only when asked while the rhythm engine is there, spatial only with a room, and the
    performer engines (piano, performer) only when asked."""
    have = available_engines()
    return tuple(n for n in have if not (n == "soundtrack" and "rhythm" in have)
                 and not (n == "spatial" and not room) and n not in ON_REQUEST)


def engine_adapter(name: str) -> Callable[..., list[Track]]:
    """The ``generate`` function of ``name``'s adapter (its renderers registered); a StudioError
    naming the engines of this build when ``name`` is not one of them."""
    if name not in ADAPTERS:
        have = ", ".join(available_engines()) or "none yet"
        raise StudioError(f"the {name} engine is not part of this build (available engines: {have})")
    module, func = ADAPTERS[name].split(":")
    if name in ENGINE_NAMES:
        adapters.register_all((name,))
    return getattr(importlib.import_module(module), func)


def check_settings(engines, project: Project, settings: GenerateSettings) -> None:
    """Let each adapter refuse its settings (an optional ``check(project, settings)``) before any
    analysis or generation is done: a bad keyboard box or a missing keypoint file fails at once."""
    for name in engines:
        module = importlib.import_module(ADAPTERS[name].split(":")[0])
        check = getattr(module, "check", None)
        if check is not None:
            check(project, settings)


def generate(video: str | Path, out_dir: str | Path, settings: GenerateSettings = GenerateSettings(),
             *, overwrite: bool = False, job: Job | None = None) -> Project:
    """Analyse ``video``, run the chosen engines and write project, stems, MIDI and mix to ``out_dir``.

    All or nothing (``studio.transaction``): ``out_dir`` is locked first (a second writer gets a
    "busy" error at once), everything is written into a staging folder inside it and renamed
    into place at the end, ``project.json`` last; the stems folder is replaced as a whole. Any
    failure (an engine, a full disk, a cancel, a kill) leaves ``out_dir`` as it was."""
    from studio.options import check_generate

    job = Job.quiet(job)
    settings = check_generate(settings)  # a bad option fails before any work, as in the CLI and the app
    engines = settings.engines or default_engines(settings.room)
    adapters = [(name, engine_adapter(name)) for name in engines]  # fail before any work is done
    out_dir = Path(out_dir)
    project_file = out_dir / "project.json"
    with Transaction([out_dir], create=True) as txn:  # locked, and what a killed run left cleaned up
        if project_file.exists() and not overwrite:
            raise StudioError(f"{project_file} already exists; pass --overwrite to replace it")
        try:
            project = _generate(video, out_dir, project_file, settings, engines, adapters, txn,
                                overwrite=overwrite, job=job)
            txn.commit()
        except OSError as exc:  # a writer outside the export (analysis file, project file)
            raise StudioError(explain_os_error(exc, Path(exc.filename or out_dir))) from None
    autosave_path(project_file).unlink(missing_ok=True)  # a fresh project supersedes an old autosave
    job.report(1.0, "done")
    return project


def _generate(video, out_dir: Path, project_file: Path, settings: GenerateSettings, engines, adapters,
              txn: Transaction, *, overwrite: bool, job: Job) -> Project:
    from studio.analysis import analyze  # heavy imports only when generating

    project = new_project_for_video(video, project_file)
    check_settings(engines, project, settings)
    correction = grid.GridCorrection.from_options(settings.options)  # a bad value fails before any work
    timeline = analyze(video, job=job.sub(0.0, 0.4))
    bpb = (settings.options or {}).get("beats_per_bar")
    project.tempo = grid.tempo_map(timeline, correction, bpb)  # the one grid every engine writes on
    timeline.save(txn.stage(out_dir / "analysis.npz"))

    span = 0.4 / max(1, len(adapters))
    for i, (name, adapter) in enumerate(adapters):
        sub = job.sub(0.4 + i * span, 0.4 + (i + 1) * span)
        sub.report(0.0, f"generating {name}")
        for track in adapter(project, timeline, settings, sub):
            # an engine may return edited copies of existing tracks (spatial sets their room):
            # those replace the originals in place, new ones are added
            ids = [t.id for t in project.tracks]
            if track.id in ids:
                project.tracks[ids.index(track.id)] = track
            else:
                project.add_track(track)

    if any(not silent(t) for t in project.audible_tracks()):  # else there is nothing to render yet
        txn.stage_dir(out_dir / "stems")  # replaced as a whole: no stem of an earlier run stays
        _export(project, out_dir, overwrite=overwrite, loudness_lufs=settings.loudness_lufs, job=job.sub(0.8, 1.0),
                transaction=txn)
    project.save(txn.stage(project_file, last=True))
    project.path = project_file
    job.check_cancelled()
    return project


def silent(track: Track) -> bool:
    """A track with nothing to voice yet: a Foley track without hits. It stays in the project
    (editable: hits are added by double-clicking its lane), but its stem would be digital
    silence, so ``studio generate`` writes none for it."""
    return track.kind is TrackKind.FOLEY and not track.events


def without_silent(project: Project) -> tuple[Project, list[str]]:
    """For export: a shallow copy of ``project`` with its ``silent`` tracks muted (so no stem of
    digital silence is written), and their names; ``project`` itself when there are none."""
    names = [t.name for t in project.audible_tracks() if silent(t)]
    if not names:
        return project, []
    out = copy.copy(project)
    out.tracks = [dataclasses.replace(t, mixer=dataclasses.replace(t.mixer, mute=True)) if silent(t) else t
                  for t in project.tracks]
    return out, names


def _export(project: Project, out_dir: Path, *, overwrite: bool, job: Job,
            loudness_lufs: float | None = -14.0, transaction=None) -> None:
    from export import export_project

    project, _ = without_silent(project)  # the CLI already printed why (the track's warning)
    has_midi = any(t.notes for t in project.tracks)
    export_project(
        project,
        stems_dir=out_dir / "stems",
        mix_path=out_dir / "mix.wav",
        midi_path=out_dir / f"{safe_stem(project.name)}.mid" if has_midi else None,
        root=out_dir,  # nothing outside the output folder, whatever the video's name
        overwrite=overwrite,
        loudness_lufs=loudness_lufs,
        job=job,
        transaction=transaction,
    )
