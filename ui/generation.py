"""Work the UI runs in the background (no Qt here): opening a video as a project, analysing it,
and generating the grid-following tracks again on a corrected grid.

Generating goes the one way the CLI and ``studio batch`` go (``studio.generate``): the window
checks with ``plan`` on the GUI thread (a bad option or engine fails before any work; the plan
holds a copy of the project, so the worker never touches the GUI thread's model), a worker
runs ``run(plan, job)``, and the GUI applies the Result as one undo command
(``ui.undo.apply_generated``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from studio.jobs import Job
from studio.music import TempoMap
from studio.names import safe_stem
from studio.project import Project, Track

ANALYSIS_FILE = "analysis.npz"


def unique_project_path(projects_dir: Path, video: Path) -> Path:
    """``projects_dir/<video stem>[-n]/project.json`` that does not exist yet."""
    stem = safe_stem(video.stem, "project")  # the one way a name becomes a file name (studio.names)
    for n in range(1, 1000):
        folder = projects_dir / (stem if n == 1 else f"{stem}-{n}")
        if not (folder / "project.json").exists():
            return folder / "project.json"
    raise OSError(f"too many projects named {stem} in {projects_dir}")


def existing_project_path(projects_dir: Path, video: Path) -> Path | None:
    """The project an earlier opening of ``video`` made in ``projects_dir`` (one of the folders
    ``unique_project_path`` gives: ``<stem>``, ``<stem>-2``, ...), whose video is that same file;
    None when there is none (an unreadable project does not count)."""
    from studio.errors import StudioError

    stem = safe_stem(video.stem, "project")
    target = video.resolve()
    for n in range(1, 1000):
        path = projects_dir / (stem if n == 1 else f"{stem}-{n}") / "project.json"
        if not path.is_file():
            continue
        try:
            project = Project.load(path)
        except StudioError:
            continue
        project.path = path
        if project.video is not None and project.resolve(project.video.path).resolve() == target:
            return path
    return None


def open_video(video: Path, project_path: Path, job: Job | None = None,
               project_name: str | None = None) -> Project:
    """Probe ``video`` and save a fresh project around it (named ``project_name``, else after the video;
    MediaError/ProjectError for bad files), with the video's own audio as its "Original audio"
    track when it has any (``studio.original.add_original_audio``, as ``studio generate``)."""
    from studio.original import add_original_audio
    from studio.project import new_project_for_video

    job = Job.quiet(job)
    job.report(0.0, f"opening {video.name}")
    project = new_project_for_video(video, project_path)
    if project_name:
        project.name = project_name
    add_original_audio(project, job=job.sub(0.1, 0.9))
    project.save(project_path)
    job.report(1.0, "opened")
    return project


def export(project: Project, job: Job | None = None, **options):
    """``studio.exporting.export_project`` for the app: files that are there already are named
    in the app's words (the Export dialog's "Replace existing files" box, not the CLI's flag)."""
    from studio.errors import ExportError
    from studio.exporting import TargetsExistError, export_project

    try:
        return export_project(project, job=job, **options)
    except TargetsExistError as exc:
        raise ExportError(existing_files_text(exc.paths)) from None


def existing_files_text(paths: list[Path]) -> str:
    """The app's message for an export whose files are there already."""
    first = Path(paths[0])
    more = f" (and {len(paths) - 1} more file{'s' * (len(paths) > 2)})" if len(paths) > 1 else ""
    return (f"{first.name} is already in {first.parent}{more}. Tick \u201cReplace existing files\u201d "
            "in the Export dialog to write over the earlier export, or choose another folder or name.")


def analyse(video: Path, job: Job | None = None):
    from studio.analysis import analyze

    return analyze(video, job=job)


def tempo_from_analysis(timeline) -> TempoMap:
    """The grid the analysis gives, uncorrected (bar 1 on the first visual downbeat): the same
    map ``studio generate`` writes on (studio.grid.tempo_map)."""
    from studio.grid import tempo_map

    return tempo_map(timeline)


# engines whose tracks are written on the project's beat grid: they are generated again when
# the user corrects the grid (Foley follows the impacts, piano and performer what is played)
GRID_ENGINES = ("rhythm", "soundtrack")
# provenance in track.settings that is not a setting to generate with again (the grid itself
# now comes from project.tempo, so a tempo the track was once made at is dropped too)
_NOT_SETTINGS = ("part", "warnings", "bpm", "lock", "style_matched", "grid_first_beat", "grid_beats", "sections",
                 "motion_boundaries_s", "motion_bars_s")


def grid_tracks(project: Project) -> list[Track]:
    """The project's tracks that follow the beat grid and whose engine is in this build."""
    from studio.generate import ADAPTERS

    return [t for t in project.tracks if t.engine in GRID_ENGINES and t.engine in ADAPTERS]


def settings_of(track: Track):
    """The GenerateSettings ``track`` was made with (its provenance in ``track.settings``)."""
    from studio.generate import GenerateSettings

    s = {k: v for k, v in (track.settings or {}).items() if k not in _NOT_SETTINGS and v is not None}
    seed = s.pop("seed", 0)  # checked with the rest by studio.generate.plan (studio.options)
    style = s.pop("style", None)
    return GenerateSettings(engines=(track.engine,), seed=seed, style=style, options=s)


def regrid(project: Project, timeline, tempo: TempoMap, job: Job | None = None) -> dict[str, Track]:
    """The grid-following tracks of ``project`` (a snapshot) generated again, with the settings
    they were made with, on ``tempo``: ``{old track id: replacement}`` (same id, name and mixer).
    Tracks made in one run (the rhythm engine's Drums, Bass, Keys) are made again in one run."""
    from studio.generate import plan, run

    job = Job.quiet(job)
    groups: dict[tuple, list[Track]] = {}
    for t in grid_tracks(project):
        s = settings_of(t)
        groups.setdefault((t.engine, s.seed, s.style, repr(sorted(s.options.items()))), []).append(t)
    out: dict[str, Track] = {}
    for i, (key, olds) in enumerate(groups.items()):
        fresh = run(plan(project, [key[0]], settings_of(olds[0]), timeline=timeline, tempo=tempo),  # on the new grid
                    job.sub(i / len(groups), (i + 1) / len(groups))).tracks
        for old in olds:
            new = next((t for t in fresh if t.name == old.name and t.kind == old.kind), None)
            if new is None:  # match the part the track plays, else: nothing for it on this grid
                part = old.settings.get("part")
                new = next((t for t in fresh if part is not None and t.settings.get("part") == part
                            and t.kind == old.kind), None)
            out[old.id] = regenerated(old, new, None) if new is not None else dataclasses.replace(old, notes=[])
    project.tempo = tempo
    job.report(1.0, "done")
    return out


def pick_counterpart(old: Track, candidates: list[Track]) -> Track | None:
    """The freshly generated track that corresponds to ``old`` (the same track, edited by its
    engine, else same name, else same kind)."""
    same = next((t for t in candidates if t.id == old.id), None)
    if same is not None:
        return same
    for t in candidates:
        if t.name == old.name and t.kind == old.kind:
            return t
    return next((t for t in candidates if t.kind == old.kind), None)


def merge_region(old: Track, new: Track, start_s: float, end_s: float) -> Track:
    """``old`` with its notes and events inside [start_s, end_s) taken from ``new``."""
    def inside(t: float) -> bool:
        return start_s <= t < end_s

    notes = [n for n in old.notes if not inside(n.start_s)] + [n for n in new.notes if inside(n.start_s)]
    events = [e for e in old.events if not inside(e.time_s)] + [e for e in new.events if inside(e.time_s)]
    return dataclasses.replace(old, notes=sorted(notes, key=lambda n: (n.start_s, n.pitch)),
                               events=sorted(events, key=lambda e: e.time_s))


def regenerated(old: Track, new: Track, region: tuple[float, float] | None) -> Track:
    """The replacement for ``old``: same id and mixer; whole track or only the region (an
    engine that made the region again itself, inpainting it, returns ``old``'s own id: taken whole)."""
    if region is not None and new.id != old.id:
        return merge_region(old, new, *region)
    return dataclasses.replace(new, id=old.id, mixer=old.mixer, name=old.name)


# -- what a generation did, in a creator's words ----------------------------------------------------
def _names(tracks) -> str:
    return ", ".join(t.name for t in tracks)


def room_words(room: str | None) -> str:
    """A preset room's name as the status line says it ("living_room" -> "the living room")."""
    return "the " + room.replace("_", " ") if room else "the room"


def summary(before: list[Track], after: list[Track], result, existing: str | None = None) -> str:
    """The status line after a generation: "generated Drums, Bass, Keys", "replaced Soundtrack
    Bass, ...", "added a variation: Drums 2, ...", "placed 8 tracks in the hall" (the spatial
    engine moves tracks, it makes none), and the engines' warnings after it."""
    from studio.generate import REPLACE, VARIATION

    old = {t.id: t for t in before}
    made = [t for t in after if old.get(t.id) is not t and (t.id in result.made or t.id not in old)]  # new parts
    parts = []
    if made:
        again = any(t.engine in result.engines and not t.original_audio for t in before)  # parts there before
        verb = {REPLACE: "replaced", VARIATION: "added a variation:"}.get(existing, "generated") if again \
            else "generated"
        parts.append(f"{verb} {_names(made)}")
    if "spatial" in result.engines:
        placed = [t for t in result.tracks if t.room]
        rooms = {t.room for t in placed}
        n = len(placed)
        parts.append(f"placed {n} track{'s' * (n != 1)} in {room_words(rooms.pop() if len(rooms) == 1 else None)}")
    text = "; ".join(parts) or "the engines produced no new tracks"
    return text + (" (" + "; ".join(result.warnings) + ")" if result.warnings else "")


def shared_channels(tracks) -> list[tuple[int, list[str]]]:
    """MIDI channels (0-based) that two or more tracks with notes play on, with those tracks'
    names: one synth or DAW instrument per channel hears both parts (Soundtrack + Rhythm put
    two basses on channel 2 and two drum kits on channel 10)."""
    by_channel: dict[int, list[str]] = {}
    for t in tracks:
        if t.notes and not t.original_audio:
            by_channel.setdefault(t.channel, []).append(t.name)
    return [(ch, names) for ch, names in sorted(by_channel.items()) if len(names) > 1]


def shared_channel_text(tracks) -> str:
    """The tracks that share a MIDI channel, in words ("Bass and Soundtrack Bass share MIDI
    channel 2"); "" when none do."""
    return "; ".join(f"{' and '.join(names)} share MIDI channel {ch + 1}" for ch, names in shared_channels(tracks))


def channel_warning(tracks) -> str:
    """The status bar's warning after a generation; "" when no two tracks share a channel."""
    said = shared_channel_text(tracks)
    return f"{said}: give each its own channel in Generate \u203a Audio & MIDI Routing" if said else ""
