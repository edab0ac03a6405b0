"""Edits of the timeline's Foley hits and track headers, as undo commands (mixed into the canvas)."""
from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtWidgets import QMenu

from studio.project import FoleyEvent
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
        menu.addAction("Delete track", lambda: undo.remove_track(self.doc, track.id))
        menu.exec(global_pos)

