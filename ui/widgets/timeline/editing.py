"""Edits of the timeline's Foley hits and track headers, as undo commands (mixed into the canvas)."""
from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtWidgets import QMenu

from studio import regions
from studio.project import FoleyEvent, TrackKind
from ui import undo


class EventEditing:
    """Needs ``self.doc``, ``self.scale`` and ``self.snap`` (the canvas provides them)."""

    def move_selected_events(self, dt: float) -> None:
        track = self.doc.track(self.doc.selected_track)
        sel = set(self.doc.selected_events)
        moved = [dataclasses.replace(e, time_s=max(0.0, e.time_s + dt)) if i in sel else e
                 for i, e in enumerate(track.events)]
        keep = [moved[i] for i in sorted(sel)]
        n = len(sel)
        undo.set_events(self.doc, track.id, moved, f"Move {n} event{'s' * (n != 1)}")
        new = self.doc.track(track.id).events  # sorted again: find the moved ones
        self.doc.select(track.id, tuple(i for i, e in enumerate(new) if any(e is k for k in keep)))

    def add_event(self, track_id: str, t: float, material: str | None = None) -> None:
        track = self.doc.track(track_id)
        if material is None:
            material = track.events[-1].material if track.events else "wood"
        new = FoleyEvent(time_s=t, material=material, seed=len(track.events))
        undo.set_events(self.doc, track.id, list(track.events) + [new], f"Add event at {t:.2f} s")
        events = self.doc.track(track.id).events
        self.doc.select(track.id, (next(i for i, e in enumerate(events) if e is new),))

    def delete_selected_events(self) -> None:
        if self.doc.selected_track is None or not self.doc.selected_events:
            return
        track = self.doc.track(self.doc.selected_track)
        sel = set(self.doc.selected_events)
        kept = [e for i, e in enumerate(track.events) if i not in sel]
        self.doc.select(track.id)
        undo.set_events(self.doc, track.id, kept, f"Delete {len(sel)} event{'s' * (len(sel) != 1)}")

    # -- the Edit menu's selection commands (Ctrl+A, Ctrl+C, Ctrl+V, Ctrl+D, Delete) -----------
    # The timeline's selection is one track and, on a Foley lane, some of its hits (MIDI notes
    # are selected in the piano roll): hits are copied, pasted and duplicated; with no hit
    # selected, a loop region is copied / duplicated across every track (studio.regions), else
    # a track is duplicated or deleted as a whole. Each is one undo step.
    def _selected(self):
        tid = self.doc.selected_track
        return self.doc.track(tid) if self.doc.project is not None and tid is not None else None

    def select_all(self) -> str:
        """Every hit of the selected Foley lane (else of the first Foley lane)."""
        track = self._selected()
        if track is None or track.kind is not TrackKind.FOLEY:
            track = next((t for t in (self.doc.project.tracks if self.doc.project else [])
                          if t.kind is TrackKind.FOLEY), track)
        if track is None:
            return "nothing to select"
        self.doc.select(track.id, tuple(range(len(track.events))))
        return f"selected {len(track.events)} hits of {track.name}" if track.events else f"selected {track.name}"

    def copy_selection(self) -> str:
        """The selected hits, their times kept relative to the first, for Paste; with no hit
        selected and a loop region set, every track's notes and hits in the region."""
        track = self._selected()
        if not self.doc.selected_events and self.loop is not None and self.doc.project is not None:
            clip = regions.copy_region(self.doc.project, *self.loop)
            if not clip.count:
                return "nothing starts in the loop region to copy"
            self.clipboard = clip
            return (f"copied the loop region ({clip.length_s:.2f} s): {clip.count} notes and hits "
                    f"of {len(clip.parts)} track{'s' * (len(clip.parts) != 1)}")
        if track is None or not self.doc.selected_events:
            return ("select hits on a Foley lane or set a loop region (Shift-drag on the ruler) to copy "
                    "(notes: the piano roll; Ctrl+D duplicates a track)")
        events = [track.events[i] for i in self.doc.selected_events]
        t0 = min(e.time_s for e in events)
        self.clipboard = [dataclasses.replace(e, time_s=e.time_s - t0) for e in events]
        return f"copied {len(events)} hit{'s' * (len(events) != 1)}"

    def paste(self) -> str:
        """The copied hits at the playhead, on the selected Foley lane; they are selected after."""
        track = self._selected()
        if not getattr(self, "clipboard", None):
            return "nothing copied yet"
        if isinstance(self.clipboard, regions.RegionClip):
            return self._paste_region(self.clipboard, self.position_s, "Paste")
        if track is None or track.kind is not TrackKind.FOLEY:
            return "select a Foley lane to paste the hits into"
        at = self.position_s
        pasted = [dataclasses.replace(e, time_s=at + e.time_s) for e in self.clipboard]
        n = len(pasted)
        self._add_events(track, pasted, f"Paste {n} hit{'s' * (n != 1)} at {at:.2f} s")
        return f"pasted {n} hit{'s' * (n != 1)} at {at:.2f} s"

    def duplicate_selection(self) -> str:
        """The selected hits again right after themselves (shifted by whole beats, at least one);
        with no hit selected, the selected track (a copy named "NAME 2")."""
        track = self._selected()
        if not self.doc.selected_events and self.loop is not None and self.doc.project is not None:
            clip = regions.copy_region(self.doc.project, *self.loop)
            if clip.count:  # the loop region's notes and hits again, right after it
                return self._paste_region(clip, self.loop[1], "Duplicate")
        if track is None:
            return "select a track or some hits to duplicate"
        if not self.doc.selected_events:
            new = undo.duplicate_tracks(self.doc, {track.id}, f"Duplicate track {track.name}")
            if new:
                self.doc.select(new[0])
                return f"duplicated {track.name} as {self.doc.track(new[0]).name}"
            return f"{track.name} cannot be duplicated"
        tempo = self.doc.project.tempo
        events = [track.events[i] for i in self.doc.selected_events]
        first, last = min(e.time_s for e in events), max(e.time_s for e in events)
        shift = int(np.floor(tempo.beat_at(last) - tempo.beat_at(first) + 1e-6)) + 1
        copies = [dataclasses.replace(e, time_s=tempo.time_at(tempo.beat_at(e.time_s) + shift)) for e in events]
        n = len(copies)
        self._add_events(track, copies, f"Duplicate {n} hit{'s' * (n != 1)}")
        return f"duplicated {n} hit{'s' * (n != 1)} {shift} beat{'s' * (shift != 1)} later"

    def delete_selection(self) -> str:
        """The selected hits; with none selected, the selected track."""
        track = self._selected()
        if track is None:
            return "nothing selected to delete"
        if self.doc.selected_events:
            n = len(self.doc.selected_events)
            self.delete_selected_events()
            return f"deleted {n} hit{'s' * (n != 1)}"
        undo.remove_track(self.doc, track.id)
        return f"deleted track {track.name}"

    def _paste_region(self, clip, at: float, verb: str) -> str:
        """A region's notes and hits into their tracks from ``at``: one undo step for them all."""
        changed = regions.paste_region(self.doc.project, clip, at)
        if not changed:
            return "the tracks of the copied region are gone"
        stack = self.doc.undo_stack
        stack.beginMacro(f"{verb} region ({clip.count} notes and hits) at {at:.2f} s")
        try:
            for tid, (notes, hits) in changed.items():
                undo.edit_track(self.doc, tid, "", notes=notes, events=hits)
        finally:
            stack.endMacro()
        return f"{verb.lower()}d {clip.count} notes and hits into {len(changed)} track{'s' * (len(changed) != 1)} at {at:.2f} s"

    def _add_events(self, track, new: list, text: str) -> None:
        undo.set_events(self.doc, track.id, list(track.events) + new, text)
        events = self.doc.track(track.id).events
        self.doc.select(track.id, tuple(i for i, e in enumerate(events) if any(e is k for k in new)))

    def set_material(self, material: str) -> None:
        track = self.doc.track(self.doc.selected_track)
        sel = set(self.doc.selected_events)
        events = [dataclasses.replace(e, material=material) if i in sel else e for i, e in enumerate(track.events)]
        undo.set_events(self.doc, track.id, events, f"Material {material}")

    def nudge_selected_events(self, direction: int, fine: bool = False) -> None:
        """Move the selected hits one grid step (Alt: one video frame) left or right."""
        project = self.doc.project
        track = self.doc.track(self.doc.selected_track)
        first = min(track.events[i].time_s for i in self.doc.selected_events)
        if fine or not self.snap:
            step = 1.0 / (project.video.fps if project.video and project.video.fps else 30.0)
            dt = direction * step
        else:
            from ui.widgets.timeline.geometry import grid_division

            tempo = project.tempo
            div = grid_division(self.scale.px_per_s * 60.0 / tempo.bpm_at(first))
            beat = tempo.beat_at(first)
            target = (np.floor(beat / div + 1e-6) + 1 if direction > 0 else np.ceil(beat / div - 1e-6) - 1) * div
            dt = tempo.time_at(float(target)) - first
        if first + dt >= 0:
            self.move_selected_events(dt)

    def _header_menu(self, track, global_pos) -> None:
        menu = QMenu(self)
        menu.addAction("Unmute" if track.mixer.mute else "Mute",
                       lambda: undo.set_mixer(self.doc, track.id, f"Mute {track.name}", mute=not track.mixer.mute))
        menu.addAction("Unsolo" if track.mixer.solo else "Solo",
                       lambda: undo.set_mixer(self.doc, track.id, f"Solo {track.name}", solo=not track.mixer.solo))
        menu.addSeparator()
        self.add_look_actions(menu, track)
        menu.addSeparator()
        menu.addAction("Delete track", lambda: undo.remove_track(self.doc, track.id))
        menu.exec(global_pos)

