"""``studio generate``: video -> analysed project -> engine tracks -> stems, MIDI and mix.

Each engine plugs in through its adapter module ``studio.adapters.<name>`` (the name is the CLI
flag; the module's metadata gives its run order, label and help), which defines
``generate(project, timeline, settings, job) -> list[Track]`` (see :mod:`studio.adapters`). The
adapter lives in studio (it turns the engine's plain data into tracks); the engine itself never
imports studio. An engine that is not part of this build is simply absent from
``available_engines()``.

One way through, for the CLI, the app and ``studio batch`` alike:

* ``plan(project, engines, settings)`` checks everything before any work (the options, that
  every engine is in this build, each adapter's ``check``) and takes a private copy of the
  project;
* ``run(plan, job) -> Result`` analyses the video (unless the plan has the analysis), puts the
  grid on the copy and runs the adapters in order on it, each seeing what the earlier ones
  made (those that read none of it, ``runs_beside``, run at once, their tracks still taken in
  order); it never changes the project it was planned for. The Result holds the new tracks, the
  edited copies of existing tracks (spatial sets their room), the tempo map they were written
  on, the engines' warnings and the analysis;
* ``apply(project, result)`` puts a Result into a project (``applied_tracks`` gives the track
  list alone: the app pushes it, with the tempo map, as one undo step). Where the project has
  tracks of an engine that ran already (``existing_parts``), ``existing`` says what becomes of
  them: ``REPLACE`` (the engine's old tracks go) or ``VARIATION`` (the new ones are added beside
  them, named uniquely: "Drums 2"); None, the default (the CLI's, on a fresh project), puts a
  track with an id already there in its place and adds the others.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from studio import adapters, grid, heap
from studio.errors import StudioError
from studio.fsutil import explain_os_error
from studio.jobs import Job
from studio.music import TempoMap
from studio.names import safe_stem, unique_name
from studio.project import Project, Track, TrackKind, autosave_path, new_project_for_video
from studio.transaction import Transaction

ENGINE_NAMES = adapters.ENGINE_NAMES  # the adapter modules found (studio/adapters/__init__.py), in run order
# engines that need a particular picture (a keyboard seen from above; a player's keypoints):
# they run when asked, never by default (their adapters say ON_REQUEST = True)
ON_REQUEST = adapters.on_request()
# engine name -> "module:function" of its adapter: every adapter module present in this build
# (tests and plug-ins may add or replace entries)
ADAPTERS: dict[str, str] = {name: f"{adapters.module_name(name)}:generate"
                            for name in ENGINE_NAMES if adapters.present(name)}


def rescan() -> tuple[str, ...]:
    """Look for adapter modules again (``adapters.rescan``) and refresh ENGINE_NAMES, ON_REQUEST
    and ADAPTERS from what is found: an adapter file added or removed since the start is offered
    or dropped, as a new process would. Returns the new ENGINE_NAMES."""
    global ENGINE_NAMES, ON_REQUEST, ADAPTERS
    ENGINE_NAMES = adapters.rescan()
    ON_REQUEST = adapters.on_request()
    ADAPTERS = {name: f"{adapters.module_name(name)}:generate" for name in ENGINE_NAMES}
    return ENGINE_NAMES


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


def checked(engines, settings: GenerateSettings) -> tuple[GenerateSettings, tuple[str, ...], tuple]:
    """What needs no project, checked: the settings (studio.options: seed, tempo, steps, material
    ...; the grid correction they ask for), the engines to run (``engines``, else
    ``settings.engines``, else ``default_engines``) and their adapters ((name, function) pairs);
    a StudioError naming the bad option or the missing engine."""
    from studio.options import check_generate

    settings = check_generate(settings)
    grid.GridCorrection.from_options(settings.options)
    names = tuple(engines or settings.engines or default_engines(settings.room))
    return settings, names, tuple((name, engine_adapter(name)) for name in names)


@dataclass(frozen=True)
class Plan:
    """A generation checked and ready to run (made by :func:`plan`)."""

    project: Project  # a private copy of the project, taken when planned
    engines: tuple[str, ...]
    settings: GenerateSettings  # checked (studio.options)
    adapters: tuple  # (engine name, adapter generate function), in the order they run
    timeline: object | None = None  # the video's analysis; None: run analyses the project's video
    tempo: TempoMap | None = None  # the grid to write on; None: the analysis' grid, as the settings correct it


@dataclass(frozen=True)
class Result:
    """What :func:`run` made; nothing of it is in any project until :func:`apply`."""

    new_tracks: tuple[Track, ...]
    replaced_tracks: tuple[Track, ...]  # edited copies of the project's tracks (same ids)
    tempo: TempoMap  # the grid the tracks are written on: the project's tempo map after apply
    warnings: tuple[str, ...]  # "track name: what the engine says" (no impacts, DSP fallback, ...)
    timeline: object  # the video's analysis the engines read
    engines: tuple[str, ...] = ()  # the engines that ran, in order
    made: frozenset = frozenset()  # ids of the tracks an engine made as its own part (not an edit
    # of another's track, as spatial's placing): what ``existing`` replaces or adds as a variation

    @property
    def tracks(self) -> tuple[Track, ...]:
        """Every track the engines returned, as it ends up: the replaced ones, then the new ones."""
        return self.replaced_tracks + self.new_tracks


def snapshot(project: Project) -> Project:
    """An independent copy of ``project`` (same path), through the project schema like every
    load (``Project.from_dict`` of ``to_dict``: a bad value in memory is refused here, naming
    the field); plan and run work on it, the app's workers (playback, export, re-grid) read it."""
    out = Project.from_dict(project.to_dict())
    out.path = project.path
    return out


def plan(project: Project, engines=None, settings: GenerateSettings = GenerateSettings(), *,
         timeline=None, tempo: TempoMap | None = None) -> Plan:
    """Check a generation before any work and fix what it reads: a bad option, an engine not in
    this build or settings an adapter's ``check`` refuses raise StudioError here. ``project``
    is copied (later edits of it do not reach the run). ``timeline``: the analysis when there is
    one (the app's); ``tempo``: the grid to write on (the app's: the one the user sees and may
    have corrected); None: the analysis' grid with the settings' corrections (``bpm``,
    ``tempo_factor``, ``downbeat_s``, ``beats_per_bar``: studio.grid), what a new project gets."""
    settings, names, adapters = checked(engines, settings)
    check_settings(names, project, settings)
    return Plan(snapshot(project), names, settings, adapters, timeline, tempo)


def run(plan: Plan, job: Job | None = None) -> Result:
    """Run a plan: analyse the video (when the plan has no analysis), write the grid on a copy of
    the planned project and run each engine's adapter on it in order; a track an adapter returns
    with the id of one already there replaces it, others are added, so later engines see what
    earlier ones made (spatial places them). Neither the planned project nor the project
    ``plan`` was given is changed."""
    job = Job.quiet(job)
    heap.limit_arenas()  # before the analysis, the engines and the render start their threads
    work = snapshot(plan.project)
    before = {t.id for t in work.tracks}
    originals = {t.id for t in work.tracks if t.original_audio}  # the video's own audio: no engine replaces it
    timeline, split = plan.timeline, 0.0
    if timeline is None:
        from studio.analysis import analyze  # heavy imports only when analysing

        if work.video is None:
            raise StudioError("the project has no video to analyse")
        split = 0.5
        timeline = analyze(work.resolve(work.video.path), job=job.sub(0.0, split),
                           contact_patches=_any_adapter_says(plan, "USES_CONTACT_PATCHES"))
        heap.trim()  # what the analysis let go of (its frames, flow, spill buffers), before the engines load
    work.tempo = plan.tempo if plan.tempo is not None else grid.tempo_map(
        timeline, grid.GridCorrection.from_options(plan.settings.options),
        (plan.settings.options or {}).get("beats_per_bar"))  # the one grid every engine writes on
    returned: set[str] = set()
    made: set[str] = set()
    span = (1.0 - split) / max(1, len(plan.adapters))
    prefetched = _prefetch(plan, work, timeline)
    if _any_adapter_says(plan, "MAKES_PARTS"):
        from studio import synth

        synth.warm_up_default_banks(work.sample_rate)  # beside the engines (see there)
    try:
        _run_adapters(plan, work, timeline, job, split, span, originals, returned, made)
    finally:
        for handle in prefetched:  # what an engine did not take (it failed, or a cancel)
            handle.cancel()
        patches = getattr(timeline, "extra", {}).pop("contact_patches", None)  # not kept with the result
        if patches is not None:
            patches.close()
    new = tuple(t for t in work.tracks if t.id not in before and t.id in returned)
    replaced = tuple(t for t in work.tracks if t.id in before and t.id in returned)
    warnings = tuple(f"{t.name}: {w}" for t in replaced + new for w in (t.settings or {}).get("warnings", []))
    job.report(1.0, "generated")
    return Result(new, replaced, work.tempo, warnings, timeline, tuple(plan.engines), frozenset(made))


def _adapter_module(name: str):
    return importlib.import_module(ADAPTERS[name].split(":")[0])


def _any_adapter_says(plan: Plan, flag: str) -> bool:
    """Whether an adapter of the run sets module constant ``flag`` (``USES_CONTACT_PATCHES``,
    ``MAKES_PARTS``)."""
    return any(getattr(_adapter_module(name), flag, False) for name, _ in plan.adapters)


def _prefetch(plan: Plan, work: Project, timeline) -> list:
    """Each adapter's optional ``prefetch(project, timeline, settings)``: work that needs only
    the analysis started on a thread now, so it overlaps the engines that run first (Foley
    describes its impact regions). Returns the handles (``cancel()``)."""
    handles = []
    for name, _ in plan.adapters:
        start = getattr(_adapter_module(name), "prefetch", None)
        if start is not None:
            handle = start(work, timeline, plan.settings)
            if handle is not None:
                handles.append(handle)
    return handles


def _beside(plan: Plan) -> set[str]:
    """The adapters of the run that may run beside one another: the module of the function that
    runs says so with ``runs_beside(settings)`` (it reads only the analysis, the grid and the
    settings, never the tracks the others make; a function put in an adapter's place, as tests
    do, runs in order unless its own module says so); fewer than two: none, all run in order."""
    names = set()
    for name, adapter in plan.adapters:
        module = sys.modules.get(getattr(adapter, "__module__", None) or "")
        if getattr(module, "runs_beside", lambda settings: False)(plan.settings):
            names.add(name)
    return names if len(names) >= 2 else set()


def _run_adapters(plan: Plan, work: Project, timeline, job: Job, split: float, span: float,
                  originals: set, returned: set, made: set) -> None:
    """Each adapter's tracks put on ``work`` in plan order. The adapters that may (``_beside``)
    start at once, a thread each: with the video decoded once, an engine runs on about one core
    and Foley mostly waits for the impact patches its prefetch cuts, so one engine alone leaves
    a 2-core machine half idle. The others run on this thread when their turn comes, after
    every track before them in the plan is on ``work``. The tracks, and the first error, are
    the ones a run in order gives; an error is raised once every engine started has ended."""
    from concurrent.futures import ThreadPoolExecutor

    subs = [job.sub(split + i * span, split + (i + 1) * span) for i in range(len(plan.adapters))]
    beside = _beside(plan)
    pool = ThreadPoolExecutor(len(beside), thread_name_prefix="engine") if beside else None
    futures = {}
    try:
        for (name, adapter), sub in zip(plan.adapters, subs):
            if name in beside:
                sub.report(0.0, f"generating {name}")
                futures[name] = pool.submit(lambda a=adapter, s=sub: list(a(work, timeline, plan.settings, s)))
        for (name, adapter), sub in zip(plan.adapters, subs):
            if name in futures:
                tracks = futures[name].result()
            else:
                sub.report(0.0, f"generating {name}")
                tracks = list(adapter(work, timeline, plan.settings, sub))
            _warm_up_synth([t for t in tracks if t.engine in (None, name)], work.sample_rate)  # its own parts
            _add_tracks(work, name, tracks, originals, returned, made)
    finally:
        if pool is not None:  # after an error: the engines not started yet never start, the running ones end
            pool.shutdown(wait=True, cancel_futures=True)


def _add_tracks(work: Project, name: str, tracks: list[Track], originals: set, returned: set,
                made: set) -> None:
    for track in tracks:
        if track.id in originals:
            continue
        ids = [t.id for t in work.tracks]
        if track.id in ids:  # an edited copy of a track there (spatial sets its room)
            work.tracks[ids.index(track.id)] = track
        else:
            work.add_track(track if track.engine else dataclasses.replace(track, engine=name))
        returned.add(track.id)
        if track.engine in (None, name):  # the engine's own part, not an edit of another's track
            made.add(track.id)


def _warm_up_synth(tracks: list[Track], sample_rate: int) -> None:
    """Have the synth load the fonts and presets of the parts just made while the next engine
    runs (``studio.synth.warm_up``): the render that follows then finds them decoded."""
    parts = [(t.notes, t.program, t.is_drums, t.bank) for t in tracks
             if t.kind in (TrackKind.MIDI, TrackKind.SOUNDTRACK) and t.notes]
    if parts:
        from studio import synth

        synth.warm_up(parts, sample_rate)


REPLACE = "replace"  # the engines' old tracks go; their new ones take the place
VARIATION = "variation"  # the new tracks are added beside the old ones, named uniquely


def existing_parts(project: Project, engines) -> dict[str, list[Track]]:
    """The tracks of ``project`` that each of ``engines`` made before (an engine's part that
    would be generated again: the rhythm engine's Drums, Bass, Keys; a soundtrack), by engine;
    the video's own audio never counts. Empty: nothing to replace, nothing to ask."""
    out: dict[str, list[Track]] = {}
    for t in project.tracks:
        if t.engine in engines and not t.original_audio:
            out.setdefault(t.engine, []).append(t)
    return out


def applied_tracks(tracks: list[Track], result: Result, existing: str | None = None) -> list[Track]:
    """``tracks`` with ``result`` applied. ``existing`` None: each replaced track in its place, the
    new ones after. ``REPLACE``: the tracks the engines made take the place of the ones with
    their ids, the other old tracks of those engines go, edits of other tracks (spatial) land in
    place, the rest is added. ``VARIATION``: the old tracks stay (edits in place), the made ones
    are added with ids of their own. With either, every made track gets a name unique in the
    project (``studio.names.unique_name``: a second "Drums" is "Drums 2")."""
    if existing is None:
        by_id = {t.id: t for t in result.replaced_tracks}
        return [by_id.get(t.id, t) for t in tracks] + list(result.new_tracks)
    if existing not in (REPLACE, VARIATION):
        raise StudioError(f"existing tracks: {existing!r} is not {REPLACE!r} or {VARIATION!r}")
    edits = {t.id: t for t in result.replaced_tracks if t.id not in result.made}
    made = [t for t in result.replaced_tracks if t.id in result.made] + list(result.new_tracks)
    engines = set(result.engines)
    out: list[Track] = []
    if existing == REPLACE:
        in_place = {t.id: t for t in made}
        for t in tracks:
            if t.id in in_place:
                out.append(in_place.pop(t.id))
            elif not (t.engine in engines and not t.original_audio):  # an old part of an engine that ran goes
                out.append(edits.get(t.id, t))
        made_ids = {t.id for t in made}
        fresh = list(in_place.values())
    else:
        ids = {t.id for t in tracks}
        out = [edits.get(t.id, t) for t in tracks]
        fresh = [dataclasses.replace(t, id=uuid.uuid4().hex[:12]) if t.id in ids else t for t in made]
        made_ids = {t.id for t in fresh}
    out += fresh
    taken = [t.name for t in out if t.id not in made_ids]
    named = []
    for t in out:
        if t.id in made_ids:
            t = dataclasses.replace(t, name=unique_name(t.name, taken))
            taken.append(t.name)
        named.append(t)
    return named


def apply(project: Project, result: Result, existing: str | None = None) -> Project:
    """Put ``result`` into ``project`` (in place): its tracks (``applied_tracks``: ``existing``
    says what becomes of the tracks the engines made before) and tempo map."""
    project.tracks = applied_tracks(project.tracks, result, existing)
    project.tempo = result.tempo
    return project


def generate(video: str | Path, out_dir: str | Path, settings: GenerateSettings = GenerateSettings(),
             *, overwrite: bool = False, job: Job | None = None) -> Project:
    """Analyse ``video``, run the chosen engines and write project, stems, MIDI and mix to ``out_dir``.

    All or nothing (``studio.transaction``): ``out_dir`` is locked first (a second writer gets a
    "busy" error at once), everything is written into a staging folder inside it and renamed
    into place at the end, ``project.json`` last; the stems folder is replaced as a whole. Any
    failure (an engine, a full disk, a cancel, a kill) leaves ``out_dir`` as it was."""
    job = Job.quiet(job)
    settings, engines, _ = checked(settings.engines, settings)  # a bad option or engine: before any work
    out_dir = Path(out_dir)
    project_file = out_dir / "project.json"
    with Transaction([out_dir], create=True) as txn:  # locked, and what a killed run left cleaned up
        if project_file.exists() and not overwrite:
            raise StudioError(f"{project_file} already exists; pass --overwrite to replace it")
        try:
            project = _generate(video, out_dir, project_file, settings, engines, txn, overwrite=overwrite, job=job)
            txn.commit()
        except OSError as exc:  # a writer outside the export (analysis file, project file)
            raise StudioError(explain_os_error(exc, Path(exc.filename or out_dir))) from None
    autosave_path(project_file).unlink(missing_ok=True)  # a fresh project supersedes an old autosave
    job.report(1.0, "done")
    return project


def _generate(video, out_dir: Path, project_file: Path, settings: GenerateSettings, engines,
              txn: Transaction, *, overwrite: bool, job: Job) -> Project:
    from studio.original import add_original_audio, staged_view

    project = new_project_for_video(video, project_file)
    check_settings(engines, project, settings)  # the adapters' checks before any work
    add_original_audio(project, transaction=txn, job=job.sub(0.0, 0.05))  # the video's own audio, as the app's
    result = run(plan(project, engines, settings), job.sub(0.05, 0.8))
    apply(project, result)
    result.timeline.save(txn.stage(out_dir / "analysis.npz"))
    del result  # the analysis is saved; the export does not need it
    heap.trim()  # what the engines let go of, before the render's peak
    if any(not silent(t) for t in project.audible_tracks()):  # else there is nothing to render yet
        txn.stage_dir(out_dir / "stems")  # replaced as a whole: no stem of an earlier run stays
        _export(staged_view(project, txn), out_dir, overwrite=overwrite, loudness_lufs=settings.loudness_lufs,
                job=job.sub(0.8, 1.0), transaction=txn)
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
    from studio.exporting import export_project

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
