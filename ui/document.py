"""The open project as a QObject: fine-grained change signals, the undo stack, autosave.

The document knows no views. Edits go through undo commands (ui/undo.py) that call the
``_apply_*`` methods here; those mutate the plain ``studio.project.Project`` and emit signals.
Tracks are never changed in place: an edit replaces the Track object (``dataclasses.replace``),
so an undo command can keep the before/after objects as its snapshots.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from studio.music import TempoMap
from studio.project import Project, Track

AUTOSAVE_MS = 20_000
ANALYSIS_FILE = "analysis.npz"


class Document(QObject):
    projectReset = Signal()  # a different project (or none) is open
    tracksChanged = Signal()  # tracks added, removed or reordered
    trackChanged = Signal(str)  # one track's content (mixer, events, notes, spatial, ...)
    tempoChanged = Signal()
    masterChanged = Signal()  # the master fader (Project.master_fader_db)
    analysisChanged = Signal()
    selectionChanged = Signal()  # selected track / events
    modifiedChanged = Signal(bool)
    autosaved = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.analysis = None  # studio.analysis.AnalysisTimeline once analysed
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.selected_track: str | None = None
        self.selected_events: tuple[int, ...] = ()
        # a grid correction whose tracks are being generated again: shown at once, committed
        # (one undo step with the tracks) when they are ready
        self.pending_tempo: TempoMap | None = None
        self._autosave = QTimer(self, singleShot=True, interval=AUTOSAVE_MS)
        self._autosave.timeout.connect(self.autosave)
        self.undo_stack.indexChanged.connect(self._schedule_autosave)

    def _clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)

    # -- lifecycle ------------------------------------------------------------------------
    def set_project(self, project: Project | None, analysis=None) -> None:
        self.project = project
        self.analysis = analysis
        self.selected_track, self.selected_events = None, ()
        self.pending_tempo = None
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.projectReset.emit()
        self.selectionChanged.emit()

    @classmethod
    def load_analysis(cls, project: Project):
        """The analysis saved beside a project, or None when it has none (or it is unreadable)."""
        from studio.analysis.timeline import AnalysisTimeline
        from studio.errors import StudioError

        if project.path is None:
            return None
        path = project.folder / ANALYSIS_FILE
        if not path.exists():
            return None
        try:
            return AnalysisTimeline.load(path)
        except StudioError:
            return None

    def set_analysis(self, analysis) -> None:
        self.analysis = analysis
        if analysis is not None and self.project is not None and self.project.path is not None:
            analysis.save(self.project.folder / ANALYSIS_FILE)
        self.analysisChanged.emit()

    @property
    def tempo(self) -> TempoMap | None:
        """The grid every view shows: a pending correction, else the project's tempo map."""
        if self.project is None:
            return None
        return self.pending_tempo if self.pending_tempo is not None else self.project.tempo

    def set_pending_tempo(self, tempo: TempoMap | None) -> None:
        if tempo is not self.pending_tempo:
            self.pending_tempo = tempo
            self.tempoChanged.emit()

    def set_opened_tempo(self, tempo: TempoMap) -> bool:
        """The grid the analysis found for a project opened without one (a new video's, or one
        whose analysis was missing): part of opening, so written into the project file at once
        and no undo step, and the project stays unmodified. Only before any edit (an empty undo
        history) and when the file can be written (the folder not busy); False: nothing changed."""
        from studio.errors import StudioError
        from studio.transaction import FolderLock

        p = self.project
        if p is None or p.path is None or self.undo_stack.count() or not self.undo_stack.isClean():
            return False
        before, p.tempo = p.tempo, tempo
        try:
            with FolderLock(p.folder):
                p.save(p.path)
        except StudioError:
            p.tempo = before
            return False
        self.tempoChanged.emit()
        return True

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def video_path(self) -> Path | None:
        if self.project is None or self.project.video is None:
            return None
        return self.project.resolve(self.project.video.path)

    def save(self, path: str | Path | None = None) -> Path:
        """Save (atomically, via studio.project); raises ProjectError for the caller to show.
        Saving to another folder keeps the video and audio references pointing at the same files."""
        import dataclasses

        p = self.project
        assert p is not None
        old_folder = p.folder if p.path is not None else None
        if path is not None:
            video = self.video_path.resolve() if p.video is not None and old_folder else None
            audio = {t.id: p.resolve(t.audio_path).resolve() for t in p.tracks if t.audio_path and old_folder}
            p.path = Path(path)
            if video is not None:
                p.video = dataclasses.replace(p.video, path=p.relative(video))
            p.tracks[:] = [dataclasses.replace(t, audio_path=p.relative(audio[t.id])) if t.id in audio else t
                           for t in p.tracks]
        target = p.save(p.path)
        if self.analysis is not None and (old_folder is None or old_folder != p.folder):
            self.analysis.save(p.folder / ANALYSIS_FILE)
        self.undo_stack.setClean()
        self._autosave.stop()
        return target

    def autosave(self) -> None:
        from studio.errors import StudioError

        if self.project is None or self.project.path is None or not self.modified:
            return
        try:
            path = self.project.autosave()
        except StudioError:
            return  # the next autosave tries again; a real save reports the problem
        self.autosaved.emit(str(path))

    def discard_autosave(self) -> None:
        """The user threw the changes away: no recovery copy of them stays behind to be offered
        the next time the project opens."""
        from studio.project import autosave_path

        self._autosave.stop()
        if self.project is not None and self.project.path is not None:
            try:
                autosave_path(self.project.path).unlink(missing_ok=True)
            except OSError:
                pass

    def _schedule_autosave(self) -> None:
        if self.project is not None and self.project.path is not None:
            self._autosave.start()

    # -- selection (view state shared by timeline and inspector) --------------------------------
    def select(self, track_id: str | None, events: tuple[int, ...] = ()) -> None:
        if (track_id, tuple(events)) == (self.selected_track, self.selected_events):
            return
        self.selected_track, self.selected_events = track_id, tuple(sorted(set(events)))
        self.selectionChanged.emit()

    def track(self, track_id: str) -> Track:
        assert self.project is not None
        return self.project.track(track_id)

    # -- mutations (called by undo commands only) ---------------------------------------------
    def _apply_track(self, track: Track) -> None:
        """Replace the track with the same id by ``track``."""
        tracks = self.project.tracks
        i = next(i for i, t in enumerate(tracks) if t.id == track.id)
        tracks[i] = track
        if self.selected_track == track.id:
            n = len(track.events)
            kept = tuple(i for i in self.selected_events if i < n)
            if kept != self.selected_events:
                self.selected_events = kept
                self.selectionChanged.emit()
        self.trackChanged.emit(track.id)

    def _apply_tracks(self, tracks: list[Track]) -> None:
        self.project.tracks[:] = list(tracks)
        if self.selected_track is not None and all(t.id != self.selected_track for t in tracks):
            self.selected_track, self.selected_events = None, ()
            self.selectionChanged.emit()
        self.tracksChanged.emit()

    def _apply_tempo(self, tempo: TempoMap) -> None:
        self.project.tempo = tempo
        self.tempoChanged.emit()

    def _apply_master_fader(self, db: float) -> None:
        self.project.master_fader_db = float(db)
        self.masterChanged.emit()
