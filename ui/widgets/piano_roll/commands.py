"""The piano roll's edits: each runs one pure operation of studio.note_edits on the track's notes
and puts the result into the project as ONE undo step (``ui.undo.edit_track``), so playback, the
MIDI port and export read the edited notes as they read any other. Mixed into the editor window,
which provides ``doc``, ``track()``, ``tempo()``, ``step()``, ``selected``, ``position_s`` and ``say``."""
from __future__ import annotations

import math

import numpy as np

from studio import note_edits as ne
from studio.music import Note
from ui import undo
from ui.widgets.piano_roll.geometry import NoteIndex, note_name


def plural(n: int, word: str = "note") -> str:
    return f"{n} {word}{'s' * (n != 1)}"


class NoteCommands:
    clipboard: tuple[Note, ...] = ()
    last_velocity = 100  # what a drawn note gets: the last velocity set in the lane
    quantise_lengths = False

    def _commit(self, edit: ne.Edit, text: str) -> None:
        track = self.track()
        if track is None:
            return
        if list(edit.notes) != track.notes:
            self.remember_selection(track)
            undo.edit_track(self.doc, track.id, text, notes=list(edit.notes))
        self.set_selection(set(edit.selected))
        self.remember_selection(self.track())

    def _need_selection(self, what: str) -> bool:
        if self.track() is None or not self.selected:
            self.say(f"select notes to {what} (click, Shift-click, drag a box, or Ctrl+A)")
            return False
        return True

    def snapped(self, t: float, free: bool = False, how=round) -> float:
        """``t`` on the grid chosen in the snap box (Alt held, or snap off: as it is)."""
        return ne.snap(self.tempo(), t, None if free else self.step(), how)

    # -- the selection --------------------------------------------------------------------------
    def select_all(self) -> None:
        track = self.track()
        if track is not None:
            self.set_selection(set(range(len(track.notes))))
            self.say(f"selected {plural(len(track.notes))}")

    def band_selection(self, drag: dict) -> set[int]:
        """The notes a rubber band covers (Shift: added to what was selected before)."""
        v, idx = self.view, NoteIndex.of(self.track())
        a, b = drag["p0"], drag["p1"]
        t0, t1 = sorted((v.t_of(a.x()), v.t_of(b.x())))
        p0, p1 = sorted((v.pitch_of(a.y()), v.pitch_of(b.y())))
        return drag["base"] | set(idx.visible(t0, t1, p0, p1).tolist())

    # -- edits ----------------------------------------------------------------------------------
    def move_selected(self, dt: float, semitones: int) -> None:
        n = len(self.selected)
        self._commit(ne.move(self.track().notes, self.selected, dt, semitones), f"Move {plural(n)}")

    def resize_selected(self, d_dur: float) -> None:
        n = len(self.selected)
        self._commit(ne.resize(self.track().notes, self.selected, d_dur), f"Resize {plural(n)}")

    def set_velocity(self, velocity: int, targets) -> None:
        self.last_velocity = int(velocity)
        self._commit(ne.set_velocity(self.track().notes, targets, velocity),
                     f"Velocity {int(velocity)} on {plural(len(targets))}")

    def draw_at(self, t: float, pitch: int, free: bool = False) -> None:
        """A new note in the grid cell under the mouse: one grid step long (a quarter beat with
        snap off), on the track's channel, with the last velocity set."""
        track, tempo = self.track(), self.tempo()
        step = None if free else self.step()
        start = self.snapped(t, free, math.floor)
        length = tempo.time_at(tempo.beat_at(start) + (step or 0.25)) - start
        note = Note(start, length, int(pitch), self.last_velocity, track.channel)
        self._commit(ne.add(track.notes, note), f"Draw {note_name(int(pitch))}")

    def delete_selected(self) -> None:
        if self._need_selection("delete"):
            n = len(self.selected)
            self._commit(ne.delete(self.track().notes, self.selected), f"Delete {plural(n)}")
            self.say(f"deleted {plural(n)}")

    def transpose(self, semitones: int) -> None:
        if self._need_selection("transpose"):
            n = len(self.selected)
            self._commit(ne.transpose(self.track().notes, self.selected, semitones),
                         f"Transpose {plural(n)} {semitones:+d}")

    def nudge(self, direction: int) -> None:
        """The selected notes one grid step (a sixteenth with snap off) earlier or later."""
        if self._need_selection("move"):
            tempo, notes = self.tempo(), self.track().notes
            first = min(notes[i].start_s for i in self.selected)
            dt = tempo.time_at(tempo.beat_at(first) + direction * (self.step() or 0.25)) - first
            self.move_selected(dt, 0)

    def quantise(self) -> None:
        """The selected notes (none selected: all) onto the snap grid; lengths too when asked."""
        track, step = self.track(), self.step()
        if track is None or not track.notes:
            return
        if step is None:
            self.say("choose a grid (1/4 \u2026 1/32) to quantise to")
            return
        chosen = sorted(self.selected) if self.selected else None
        n = len(chosen) if chosen else len(track.notes)
        edit = ne.quantise(track.notes, chosen, self.tempo(), step, self.quantise_lengths)
        self._commit(edit if chosen else ne.Edit(edit.notes, ()), f"Quantise {plural(n)} to {self.grid_name()}")
        self.say(f"quantised {plural(n)} to {self.grid_name()}" + (" (starts and lengths)" if self.quantise_lengths
                                                                   else ""))

    # -- clipboard ------------------------------------------------------------------------------
    def copy_selected(self) -> None:
        if self._need_selection("copy"):
            self.clipboard = ne.copy(self.track().notes, self.selected)
            self.say(f"copied {plural(len(self.clipboard))}")

    def cut_selected(self) -> None:
        if self._need_selection("cut"):
            self.clipboard = ne.copy(self.track().notes, self.selected)
            self._commit(ne.delete(self.track().notes, self.selected), f"Cut {plural(len(self.clipboard))}")
            self.say(f"cut {plural(len(self.clipboard))}")

    def paste(self) -> None:
        """The copied notes at the playhead, on this track's channel; they are selected after."""
        track = self.track()
        if track is None or not self.clipboard:
            self.say("nothing copied yet")
            return
        at, n = self.position_s, len(self.clipboard)
        self._commit(ne.paste(track.notes, self.clipboard, at, track.channel),
                     f"Paste {plural(n)} at {at:.2f} s")
        self.say(f"pasted {plural(n)} at {at:.2f} s")

    def duplicate_selected(self) -> None:
        if self._need_selection("duplicate"):
            n = len(self.selected)
            edit = ne.duplicate(self.track().notes, self.selected, self.tempo(), self.step())
            self._commit(edit, f"Duplicate {plural(n)}")
            first = float(np.min([edit.notes[i].start_s for i in edit.selected]))
            self.say(f"duplicated {plural(n)} from {first:.2f} s")
