"""What the window's commands do: open a video (probe, then analyse in the background), open and
save projects (with autosave recovery), generate / re-generate with the engines, export. Long work
runs on ``Workers``; results are applied on the GUI thread, edits as undo commands."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Signal

from studio.generate import GenerateSettings, snapshot
from studio.project import Project, autosave_path, has_newer_autosave
from ui import beatgrid, generation, undo
from ui.document import Document

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".mts", ".wmv", ".flv"}


def projects_dir() -> Path:
    env = os.environ.get("STUDIO_PROJECTS_DIR")
    if env:
        return Path(env)
    docs = QStandardPaths.writableLocation(QStandardPaths.DocumentsLocation) or str(Path.home())
    return Path(docs) / "Video Sound Studio"


class Controller(QObject):
    error = Signal(str, str)  # title, message for the user
    info = Signal(str)  # a status line
    busyChanged = Signal(bool, str)  # a project job (analysis, generation, export) runs / ended
    progress = Signal(float, str)
    exported = Signal(object)  # ExportReport (the folder it went to: ``export_folder``)

    def __init__(self, doc: Document, workers, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.workers = doc, workers
        self.current = None  # the running project job's handle
        self._grid_job = None  # the running re-generation for a grid correction
        self._grid_next = None  # a newer correction waiting for it to stop: (tempo, text, merge_key)
        self.ask_restore = lambda path: False  # the window replaces this with a question
        # audio the project plays from outside its folder: export only when the user confirms
        self.ask_external_audio = lambda paths: False  # the window replaces this with a question
        # parts that would be generated again ({engine: [tracks]}): "replace", "variation" or
        # None (cancel); the window replaces this with a question
        self.ask_existing = lambda parts: "replace"
        self.export_folder: Path | None = None  # where the last export went (the folder chosen)

    # -- jobs -----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.current is not None

    def _start(self, name: str, fn, *args, on_done, title: str, **kwargs):
        if self.current is not None:
            self.error.emit(title, f"wait for {self.current.name} to finish, or cancel it")
            return None
        h = self.workers.submit(name, fn, *args, **kwargs)
        self.current = h
        h.progress.connect(self.progress)
        h.finished.connect(on_done)
        h.failed.connect(lambda msg: self.error.emit(title, msg))
        h.cancelled.connect(lambda: self.info.emit(f"{name} cancelled"))
        h.ended.connect(lambda: self._ended(h))
        self.busyChanged.emit(True, name)
        return h

    def run_job(self, name: str, fn, *args, on_done, title: str, **kwargs):
        """A project job started by another of the window's command modules (ui/keypoints.py:
        Separate Player): the same one-at-a-time slot, progress and messages as the others."""
        return self._start(name, fn, *args, on_done=on_done, title=title, **kwargs)

    def _ended(self, handle) -> None:
        if self.current is handle:
            self.current = None
            self.busyChanged.emit(False, "")

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()

    # -- opening --------------------------------------------------------------------------------
    def open_path(self, path: str | Path, reuse: bool = False) -> None:
        """A dropped or chosen file: a project file opens as a project, an audio file is imported
        as a track into the open project, anything else opens as a video (``reuse``: see
        ``open_video``)."""
        p = Path(path)
        if p.suffix.lower() == ".json" or p.is_dir():
            self.open_project(p)
        elif p.suffix.lower() in AUDIO_SUFFIXES and self.doc.project is not None:
            self.import_audio(p)
        else:
            self.open_video(p, reuse=reuse)

    def import_audio(self, path: str | Path) -> None:
        """Copy an audio file into the project's assets and add it as an audio track (undoable)."""
        import shutil

        from studio import media
        from studio.errors import StudioError
        from studio.project import Track, TrackKind

        src = Path(path)
        try:
            if not media.probe(src).has_audio:
                raise StudioError(f"{src.name} has no audio stream")
            assets = self.doc.project.assets_dir
            assets.mkdir(parents=True, exist_ok=True)
            target = assets / src.name
            n = 2
            while target.exists():
                target = assets / f"{src.stem}-{n}{src.suffix}"
                n += 1
            shutil.copyfile(src, target)
        except OSError as exc:
            self.error.emit("Cannot import audio", f"cannot copy {src} into the project: {exc}")
            return
        except StudioError as exc:
            self.error.emit("Cannot import audio", str(exc))
            return
        track = Track(src.stem, TrackKind.AUDIO, audio_path=self.doc.project.relative(target))
        undo.add_tracks(self.doc, [track], f"Import {src.name}")

    def open_video(self, path: str | Path, reuse: bool = False, target: Path | None = None,
                   name: str | None = None) -> None:
        """A new project for the video in ``projects_dir()`` (or at the project file ``target``,
        named ``name``: File › New Project from Video); with ``reuse`` (a video named on the
        command line, e.g. ``make run``'s demo), the project an earlier run made for that same
        file opens again instead of a new ``<name>-N`` folder each time. An open project that
        has neither a video nor tracks yet (File › New Project) takes the video in."""
        video = Path(path)
        if not video.is_file():
            self.error.emit("Cannot open video", f"{video} does not exist or is not a file")
            return
        earlier = generation.existing_project_path(projects_dir(), video) if reuse and target is None else None
        if earlier is not None:
            self.open_project(earlier)
            return
        empty = self.doc.project
        if target is None and empty is not None and empty.path is not None and empty.video is None \
                and not empty.tracks:
            target, name = empty.path, empty.name
        target = target or generation.unique_project_path(projects_dir(), video)
        self._start("opening video", generation.open_video, video.resolve(), target, project_name=name,
                    on_done=self._video_opened, title=f"Cannot open {video.name}")

    def _video_opened(self, project: Project) -> None:
        self.doc.set_project(project, None)
        self.info.emit(f"{project.name} saved in {project.folder}: {project.duration_s:.1f} s; analysing\u2026")
        self._ended(self.current)  # free the slot now: analysis is the next job
        self.analyse()

    def analyse(self) -> None:
        if self.doc.video_path is None:
            return
        self._start("analysing video", generation.analyse, self.doc.video_path,
                    on_done=self._analysed, title="Analysis failed")

    def _analysed(self, timeline) -> None:
        if self.doc.project is None:
            return  # the project was closed meanwhile
        fresh = self.doc.analysis is None
        self.doc.set_analysis(timeline)
        if fresh and not any(not t.original_audio for t in self.doc.project.tracks):  # none on a grid yet
            self._opening_grid(timeline)
        cuts = len(timeline.cuts_s)
        tempo = beatgrid.analysis_tempo_text(timeline, self.doc.tempo, self.doc.project.duration_s)
        self.info.emit(f"analysis: {tempo}, {len(timeline.impacts)} impacts, {cuts} cut{'s' * (cuts != 1)}")

    # -- the beat grid --------------------------------------------------------------------------
    def _opening_grid(self, timeline) -> None:
        """The video's grid for a project opened without one: part of opening, not an edit, so it
        is saved with the project and leaves it unmodified (``Document.set_opened_tempo``); after
        an edit, or when the file cannot be written, it is an undo step as a correction is."""
        if len(timeline.beat_times_s) < 2:
            self.info.emit("too few visual beats for a tempo map: one constant tempo from the analysis")
        if not self.doc.set_opened_tempo(generation.tempo_from_analysis(timeline)):
            self.set_grid(generation.tempo_from_analysis(timeline), "Tempo from video")

    def tempo_from_analysis(self) -> None:
        """Back to the grid the analysis found (bar 1 on the first visual downbeat)."""
        a = self.doc.analysis
        if a is None:
            return
        if len(a.beat_times_s) < 2:
            self.info.emit("too few visual beats for a tempo map: one constant tempo from the analysis")
        self.set_grid(generation.tempo_from_analysis(a), "Tempo from video")

    def set_grid(self, tempo, text: str, merge_key: str = "") -> None:
        """A correction of the beat grid (typed or tapped tempo, double / half time, bar 1 moved,
        back to the video's): one undo step that also generates the tracks that follow the grid
        again on it, with the settings they were made with, as a background job (the views show
        the new grid meanwhile). A newer correction replaces one whose tracks are still being made."""
        doc = self.doc
        if doc.project is None or tempo is None:
            return
        merge_key = merge_key or None
        if self._grid_job is not None:
            self._grid_next = (tempo, text, merge_key)
            doc.set_pending_tempo(tempo)
            self._grid_job.cancel()
            return
        tracks = generation.grid_tracks(doc.project) if doc.analysis is not None else []
        if not tracks:
            if doc.analysis is None and any(t.engine in generation.GRID_ENGINES for t in doc.project.tracks):
                self.info.emit("the video is not analysed: the tracks stay as they are on the new grid")
            undo.set_tempo(doc, tempo, text, merge_key=merge_key)
            doc.set_pending_tempo(None)
            return
        if tempo == doc.project.tempo:
            doc.set_pending_tempo(None)
            return
        if self.current is not None:
            self.error.emit(text, f"wait for {self.current.name} to finish, or cancel it")
            doc.tempoChanged.emit()  # the views show the grid as it still is
            return
        project = doc.project
        doc.set_pending_tempo(tempo)
        h = self._start("re-generating on the new grid", generation.regrid, snapshot(project),
                        doc.analysis, tempo, title=f"{text} failed",
                        on_done=lambda new: self._regridded(project, tempo, new, text, merge_key))
        if h is None:
            doc.set_pending_tempo(None)
            return
        self._grid_job = h
        h.ended.connect(self._grid_ended)

    def _regridded(self, project, tempo, new: dict, text: str, merge_key) -> None:
        doc = self.doc
        if self._grid_next is not None or doc.project is not project:
            return  # a newer correction (or another project) replaced this one
        after = [dataclasses.replace(new[t.id], id=t.id, name=t.name, mixer=t.mixer) if t.id in new else t
                 for t in project.tracks]
        undo.set_tempo(doc, tempo, text, tracks=after, merge_key=merge_key)
        doc.set_pending_tempo(None)
        empty = [t.name for t in after if t.id in new and not t.notes]
        self.info.emit(f"{text}: {len(new)} track{'s' * (len(new) != 1)} generated again on the new grid"
                       + (f" ({', '.join(empty)}: no notes on this grid)" if empty else ""))

    def _grid_ended(self) -> None:
        self._grid_job = None
        nxt, self._grid_next = self._grid_next, None
        if nxt is not None:
            self.set_grid(*nxt)
        else:
            self.doc.set_pending_tempo(None)

    def open_project(self, path: str | Path) -> None:
        from studio.errors import StudioError

        p = Path(path)
        if p.is_dir():
            p = p / "project.json"
        try:
            restore = has_newer_autosave(p) and self.ask_restore(p)
            project = Project.load(autosave_path(p) if restore else p)
            project.path = p
        except StudioError as exc:
            self.error.emit("Cannot open project", str(exc))
            return
        self.doc.set_project(project, Document.load_analysis(project))
        self.info.emit(f"opened {project.name} ({p.parent})")
        if restore:  # unsaved until the user saves: mark modified with a marker step
            undo.set_tempo(self.doc, project.tempo, "Restored autosave")
            self.doc.undo_stack.resetClean()
        missing = project.missing_assets()
        if missing:
            self.error.emit("Missing files", "these files of the project are missing:\n" + "\n".join(missing))
        if self.doc.analysis is None and self.doc.video_path is not None and self.doc.video_path.exists():
            self.analyse()

    def save(self, path: str | Path | None = None) -> bool:
        import contextlib

        from studio.errors import StudioError
        from studio.transaction import FolderLock

        where = Path(path) if path is not None else (self.doc.project.path if self.doc.project else None)
        try:  # not while a `studio` process writes that folder (BusyError: a message, nothing saved)
            with (FolderLock(where.parent) if where is not None and where.parent.is_dir()
                  else contextlib.nullcontext()):
                target = self.doc.save(path)
        except StudioError as exc:
            self.error.emit("Cannot save", str(exc))
            return False
        self.info.emit(f"saved {target}")
        return True

    def new_project(self, folder: str | Path) -> bool:
        """A new empty project (named after its folder) saved at ``folder/project.json``; a video
        dropped into it becomes its video (``open_video``)."""
        from studio.errors import StudioError

        folder = Path(folder)
        project = Project(name=folder.name)
        try:
            project.save(folder / "project.json")
        except StudioError as exc:
            self.error.emit("Cannot create the project", str(exc))
            return False
        self.doc.set_project(project, None)
        self.info.emit(f"new project saved in {folder}")
        return True

    def save_as(self, folder: str | Path) -> bool:
        """Save As: the project folder copied to ``folder`` with the project as it is now
        (``ui.projects.save_copy``: staged, then renamed into place), and the window goes on
        with the copy; the original keeps its last save (its autosave, whose changes went into
        the copy, is dropped)."""
        from studio.errors import StudioError
        from ui.projects import save_copy

        doc = self.doc
        try:
            copy = save_copy(doc.project, doc.analysis, folder)
        except StudioError as exc:
            self.error.emit("Cannot save a copy", str(exc))
            return False
        doc.discard_autosave()
        doc.set_project(copy, doc.analysis)
        self.info.emit(f"saved as {copy.folder}; now editing this copy")
        return True

    def close_project(self) -> None:
        """Back to no project (the start page); a job of the closed project is cancelled."""
        self.cancel()
        name = self.doc.project.name if self.doc.project is not None else ""
        self.doc.set_project(None)
        if name:
            self.info.emit(f"closed {name}")

    # -- generation -----------------------------------------------------------------------------
    def _settings(self, s: dict) -> GenerateSettings:
        """The panel's values as GenerateSettings: the engine options (a Foley material, the
        ambience words too) in ``options``, where the adapters read them, as the CLI's flags are."""
        options = {k: s[k] for k in ("keyboard_box", "instrument", "keypoints", "material", "motion_sections",
                                     "ambience") if s.get(k) not in (None, "")}
        if s.get("region") is not None and s.get("track_id") is not None:  # an engine that inpaints reads them
            options.update(regenerate_track=s["track_id"], region=list(s["region"]))
        return GenerateSettings(engines=tuple(s["engines"]), seed=s["seed"], room=s.get("room"),
                                style=s.get("style"), options=options)

    def _plan(self, s: dict, title: str):
        """The panel's values planned with ``studio.generate.plan`` on the open project, its
        analysis and its grid: checked like the CLI's (studio.options, the engines, the
        adapters' checks); a bad value is shown at once and nothing starts (None)."""
        from studio import generate as gen
        from studio.errors import StudioError

        if self.doc.analysis is None:
            self.error.emit(title, "the video has not been analysed yet")
            return None
        try:
            return gen.plan(self.doc.project, list(s["engines"]), self._settings(s), timeline=self.doc.analysis,
                            tempo=self.doc.project.tempo)
        except StudioError as exc:
            self.error.emit(title, str(exc))
            return None

    def generate(self, s: dict) -> None:
        """Generate with the panel's values. Where a chosen engine made tracks before (Rhythm's
        Drums, Bass, Keys; a Soundtrack), the user chooses first: Replace them (one undo step),
        Add as a variation (new tracks, named uniquely) or Cancel (``ask_existing``)."""
        from studio.generate import VARIATION, existing_parts, run

        plan = self._plan(s, "Generate")
        if plan is None:
            return
        project = self.doc.project
        parts = existing_parts(project, [e for e in plan.engines if e != "spatial"])
        existing = self.ask_existing(parts) if parts else VARIATION  # no part there: all added, named uniquely
        if existing is None:
            self.info.emit("generation cancelled: the existing tracks stay as they are")
            return
        s = {**s, "existing": existing}
        self._start("generating", run, plan, on_done=lambda result: self._generated(result, s, project),
                    title="Generation failed")

    def _generated(self, result, s: dict, project: Project | None = None) -> None:
        """A generation's Result applied as one undo step: new tracks added, edited copies of
        existing tracks (spatial sets their room) in place of them, its tempo map."""
        if project is not None and self.doc.project is not project:
            self.info.emit("another project was opened while generating: the generated tracks are dropped")
            return
        if not result.tracks and result.tempo == self.doc.project.tempo:
            self.info.emit("the engines produced no tracks for this video")
            return
        existing = s.get("existing")
        before = list(self.doc.project.tracks)
        undo.apply_generated(self.doc, result, f"Generate {', '.join(s['engines'])}", existing)
        after = self.doc.project.tracks
        text = generation.summary(before, after, result, existing)
        clash = generation.channel_warning(after)
        self.info.emit(text + (f". Warning: {clash}" if clash else ""))

    def regenerate(self, s: dict) -> None:
        from studio.generate import run

        plan = self._plan(s, "Re-generate")
        if plan is None:
            return
        self._start("re-generating", run, plan, on_done=lambda result: self._regenerated(result, s),
                    title="Re-generation failed")

    def _regenerated(self, result, s: dict) -> None:
        try:
            old = self.doc.track(s["track_id"])
        except Exception:
            self.info.emit("the track was deleted while it was re-generated")
            return
        new = generation.pick_counterpart(old, list(result.tracks))
        if new is None:
            self.error.emit("Re-generate", f"the {old.engine} engine produced no {old.kind.value} track this time")
            return
        region = s.get("region")
        what = f"region {region[0]:.2f}\u2013{region[1]:.2f} s of " if region else ""
        undo.replace_track(self.doc, old.id, generation.regenerated(old, new, region),
                           f"Re-generate {what}{old.name} (seed {s['seed']})")
        if new.settings.get("warnings"):  # e.g. the Foley engine found no impacts
            self.info.emit(f"{new.name}: " + "; ".join(new.settings["warnings"]))

    # -- export ---------------------------------------------------------------------------------
    def export(self, args: dict) -> None:
        from studio.errors import StudioError
        from studio.names import external_paths, require_inside

        project = self.doc.project
        try:  # before any folder is made: every output inside the chosen folder
            if args.get("root") is not None:
                require_inside(args["root"], [args.get(k) for k in
                                              ("stems_dir", "mix_path", "midi_path", "video_path", "rpp_path",
                                               "dawproject_path")])
        except StudioError as exc:
            self.error.emit("Export refused", str(exc))
            return
        renders = any(args.get(k) is not None for k in ("stems_dir", "mix_path", "video_path"))
        outside = external_paths(project, project.audible_tracks()) if renders else []
        if outside and not args.get("allow_external_audio"):
            if not self.ask_external_audio(outside):
                self.info.emit("export cancelled: the project plays audio from outside its folder")
                return
            args = {**args, "allow_external_audio": True}
        for key in ("stems_dir", "mix_path", "midi_path", "video_path", "rpp_path", "dawproject_path"):
            p = args.get(key)
            if p is not None:
                (p if key == "stems_dir" else p.parent).parent.mkdir(parents=True, exist_ok=True)
                if key != "stems_dir":
                    p.parent.mkdir(parents=True, exist_ok=True)
        from studio.generate import without_silent

        snap, silent = without_silent(snapshot(self.doc.project))
        if silent:  # e.g. a Foley track without hits: no stem of digital silence
            self.info.emit(f"no stem for {', '.join(silent)}: no hits yet (double-click the Foley lane to add some)")
        root = args.get("root")
        self._start("exporting", generation.export, snap, on_done=lambda report: self._exported(report, root),
                    title="Export failed", **args)

    def _exported(self, report, root: Path | None = None) -> None:
        from ui.widgets.export_dialog import levels_text

        self.info.emit(f"exported {len(report.files)} files (mix {levels_text(report)})")
        self.export_folder = Path(root) if root is not None else (
            Path(os.path.commonpath([str(Path(f).parent) for f in report.files])) if report.files else None)
        self.exported.emit(report)
