"""The piano roll: a MIDI track's notes edited in a window of their own (issue 18, item 5).

``editor`` (the window, its tools and keys), ``commands`` (each edit: studio.note_edits, then one
undo step), ``notes_area`` (painting and mouse gestures), ``lanes`` (keyboard column, velocity
lane), ``geometry`` (mapping, grid lines, the index of the notes in view)."""
from __future__ import annotations


def open_piano_roll(window, track_id: str | None) -> str:
    """Open (or bring forward) the main window's piano roll on ``track_id``; what to tell the
    user when that track has no notes to edit ("" when it opened)."""
    from ui.widgets.piano_roll.editor import PianoRoll, editable

    doc = window.doc
    track = next((t for t in doc.project.tracks if t.id == track_id), None) if doc.project else None
    if not editable(track):
        return "select a MIDI track to edit its notes (double-click its lane, or Enter)"
    roll = getattr(window, "piano_roll", None)
    if roll is None:
        roll = PianoRoll(doc, window, (window.act_undo, window.act_redo, window.act_play))
        roll.notes_area.seekRequested.connect(window.playback.seek)
        window.playback.positionChanged.connect(roll.set_position)
        window.piano_roll = roll
    roll.set_position(window.playback.position_s)
    roll.show()
    roll.open_track(track.id)
    roll.raise_()
    roll.activateWindow()
    roll.notes_area.setFocus()
    return ""
