"""Undo commands over the document. Each user edit is one command; gestures that touch several
tracks are wrapped in a macro by the caller (``undo_stack.beginMacro``)."""
from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtGui import QUndoCommand

from studio.music import TempoMap
from studio.project import FoleyEvent, Mixer, SpatialKeyframe, Track

_MERGE_TRACK = 1001
_MERGE_GRID = 1002


class TrackEdit(QUndoCommand):
    """Replace one track by an edited copy. ``merge_key`` lets a slider drag collapse into one
    command (consecutive edits of the same field of the same track)."""

    def __init__(self, doc, before: Track, after: Track, text: str, merge_key: str | None = None) -> None:
        super().__init__(text)
        self.doc, self.before, self.after, self.merge_key = doc, before, after, merge_key

    def id(self) -> int:
        return _MERGE_TRACK if self.merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, TrackEdit) or other.merge_key != self.merge_key \
                or other.before.id != self.before.id:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.doc._apply_track(self.after)

    def undo(self) -> None:
        self.doc._apply_track(self.before)


class SetTracks(QUndoCommand):
    """Replace the whole track list (add, remove, reorder, generation results)."""

    def __init__(self, doc, before: list[Track], after: list[Track], text: str) -> None:
        super().__init__(text)
        self.doc, self.before, self.after = doc, list(before), list(after)

    def redo(self) -> None:
        self.doc._apply_tracks(self.after)

    def undo(self) -> None:
        self.doc._apply_tracks(self.before)


class SetTempo(QUndoCommand):
    def __init__(self, doc, before: TempoMap, after: TempoMap, text: str = "Change tempo") -> None:
        super().__init__(text)
        self.doc, self.before, self.after = doc, before, after

    def redo(self) -> None:
        self.doc._apply_tempo(self.after)

    def undo(self) -> None:
        self.doc._apply_tempo(self.before)


class SetGrid(QUndoCommand):
    """A correction of the beat grid together with the tracks generated again on it (or a
    generation's tracks with the grid they were written on): one step, so one Undo brings back
    the old tempo map and the old tracks. ``merge_key`` collapses one gesture (the taps of one
    tapping) into one step."""

    def __init__(self, doc, tempo_before: TempoMap, tempo_after: TempoMap, tracks_before: list[Track] | None,
                 tracks_after: list[Track] | None, text: str, merge_key: str | None = None) -> None:
        super().__init__(text)
        self.doc, self.merge_key = doc, merge_key
        self.tempo_before, self.tempo_after = tempo_before, tempo_after
        self.tracks_before = None if tracks_before is None else list(tracks_before)
        self.tracks_after = None if tracks_after is None else list(tracks_after)

    def id(self) -> int:
        return _MERGE_GRID if self.merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetGrid) or other.merge_key != self.merge_key:
            return False
        self.tempo_after = other.tempo_after
        if other.tracks_after is not None:
            if self.tracks_before is None:
                self.tracks_before = other.tracks_before
            self.tracks_after = other.tracks_after
        self.setText(other.text())
        return True

    def redo(self) -> None:
        self.doc._apply_tempo(self.tempo_after)
        if self.tracks_after is not None:
            self.doc._apply_tracks(self.tracks_after)

    def undo(self) -> None:
        self.doc._apply_tempo(self.tempo_before)
        if self.tracks_before is not None:
            self.doc._apply_tracks(self.tracks_before)


class SetMasterFader(QUndoCommand):
    """The master fader (the mixer pushes one per drag, on release)."""

    def __init__(self, doc, before: float, after: float) -> None:
        super().__init__(f"Master fader {after:+.1f} dB")
        self.doc, self.before, self.after = doc, before, after

    def redo(self) -> None:
        self.doc._apply_master_fader(self.after)

    def undo(self) -> None:
        self.doc._apply_master_fader(self.before)


# -- helpers that build and push commands (what widgets call) ---------------------------------
def set_master_fader(doc, db: float) -> None:
    before = doc.project.master_fader_db
    if float(db) != before:
        doc.undo_stack.push(SetMasterFader(doc, before, float(db)))


def edit_track(doc, track_id: str, text: str, merge_key: str | None = None, **changes: Any) -> None:
    before = doc.track(track_id)
    after = dataclasses.replace(before, **changes)
    if after == before:
        return
    doc.undo_stack.push(TrackEdit(doc, before, after, text, merge_key))


def set_mixer(doc, track_id: str, text: str, merge: bool = False, **changes: Any) -> None:
    before = doc.track(track_id)
    mixer: Mixer = dataclasses.replace(before.mixer, **changes)
    key = f"mixer:{','.join(sorted(changes))}" if merge else None
    edit_track(doc, track_id, text, key, mixer=mixer)


def set_events(doc, track_id: str, events: list[FoleyEvent], text: str) -> None:
    edit_track(doc, track_id, text, events=sorted(events, key=lambda e: e.time_s))


def set_spatial(doc, track_id: str, keyframes: list[SpatialKeyframe], text: str, merge: bool = False,
                room: str | None = None) -> None:
    changes: dict[str, Any] = {"spatial": sorted(keyframes, key=lambda k: k.time_s)}
    if room is not None:
        changes["room"] = room
    edit_track(doc, track_id, text, "spatial" if merge else None, **changes)


def add_tracks(doc, tracks: list[Track], text: str) -> None:
    """Add tracks as one step, each named uniquely in the project (a second "Drums" is "Drums 2")."""
    from studio.names import unique_name

    before = list(doc.project.tracks)
    taken, added = [t.name for t in before], []
    for t in tracks:
        name = unique_name(t.name, taken)
        taken.append(name)
        added.append(t if name == t.name else dataclasses.replace(t, name=name))
    doc.undo_stack.push(SetTracks(doc, before, before + added, text))


def remove_track(doc, track_id: str) -> None:
    before = list(doc.project.tracks)
    after = [t for t in before if t.id != track_id]
    name = doc.track(track_id).name
    doc.undo_stack.push(SetTracks(doc, before, after, f"Delete track {name}"))


def move_track(doc, track_id: str, index: int) -> None:
    """Move a track to ``index`` in the track list (a drag in the timeline's headers): one step."""
    before = list(doc.project.tracks)
    track = doc.track(track_id)
    after = [t for t in before if t.id != track_id]
    after.insert(max(0, min(index, len(after))), track)
    if [t.id for t in after] != [t.id for t in before]:
        doc.undo_stack.push(SetTracks(doc, before, after, f"Move track {track.name}"))


def replace_track(doc, old_id: str, new: Track, text: str) -> None:
    before = list(doc.project.tracks)
    after = [new if t.id == old_id else t for t in before]
    doc.undo_stack.push(SetTracks(doc, before, after, text))


def apply_generated(doc, result, text: str, existing: str | None = None) -> None:
    """A generation's Result (``studio.generate.run``) as one undo step, as the CLI applies it
    (``studio.generate.apply``): the new tracks added, the edited copies of existing tracks in
    their place, and the tempo map the tracks were written on; ``existing`` (``REPLACE`` /
    ``VARIATION``) says what becomes of the tracks the engines made before. One Undo brings
    back all of it."""
    from studio.generate import applied_tracks

    before = list(doc.project.tracks)
    after = applied_tracks(before, result, existing)
    doc.undo_stack.push(SetGrid(doc, doc.project.tempo, result.tempo, before, after, text))


def duplicate_tracks(doc, track_ids, text: str = "") -> list[str]:
    """Copies of the tracks (new ids, unique names: "Drums 2"), each right after its original,
    as one undo step; the new ids."""
    import uuid

    from studio.names import unique_name

    before = list(doc.project.tracks)
    taken = [t.name for t in before]
    after, new_ids = [], []
    for t in before:
        after.append(t)
        if t.id in track_ids and not t.original_audio:
            copy = dataclasses.replace(t, id=uuid.uuid4().hex[:12], name=unique_name(t.name, taken))
            taken.append(copy.name)
            after.append(copy)
            new_ids.append(copy.id)
    if new_ids:
        n = len(new_ids)
        doc.undo_stack.push(SetTracks(doc, before, after, text or f"Duplicate {n} track{'s' * (n != 1)}"))
    return new_ids


def set_tempo(doc, tempo: TempoMap, text: str = "Change tempo", tracks: list[Track] | None = None,
              merge_key: str | None = None) -> None:
    """Set the project's tempo map; with ``tracks``, the whole track list at the same time (the
    tracks generated again on the new grid): one undo step either way."""
    if tracks is None and merge_key is None:
        if tempo != doc.project.tempo:
            doc.undo_stack.push(SetTempo(doc, doc.project.tempo, tempo, text))
        return
    before = list(doc.project.tracks)
    if tempo == doc.project.tempo and (tracks is None or list(tracks) == before):
        return
    doc.undo_stack.push(SetGrid(doc, doc.project.tempo, tempo, None if tracks is None else before, tracks, text,
                                merge_key))
