"""Copy and paste of a time region across tracks: the notes and Foley hits that start in it.

What a DAW does with a time selection: Copy takes every track's notes and hits that start inside
[start, end) (times kept relative to the start, lengths as they are), Paste puts them back into
the same tracks from a time on, Duplicate pastes right after the region. Pure functions on the
project's data, so the app's Edit menu (one undo step for every track touched) and tests share them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from studio.music import Note
from studio.project import FoleyEvent, Project


@dataclass(frozen=True)
class RegionClip:
    length_s: float
    parts: dict  # track id -> (notes, hits), times from the region's start

    @property
    def count(self) -> int:
        return sum(len(n) + len(h) for n, h in self.parts.values())


def copy_region(project: Project, start_s: float, end_s: float) -> RegionClip:
    """Every track's notes and hits that start in [start_s, end_s)."""
    a, b = float(start_s), float(end_s)
    if not b > a:
        raise ValueError("a region needs an end after its start")
    parts = {}
    for t in project.tracks:
        notes = tuple(replace(n, start_s=n.start_s - a) for n in t.notes if a <= n.start_s < b)
        hits = tuple(replace(e, time_s=e.time_s - a) for e in t.events if a <= e.time_s < b)
        if notes or hits:
            parts[t.id] = (notes, hits)
    return RegionClip(b - a, parts)


def paste_region(project: Project, clip: RegionClip, at_s: float) -> dict[str, tuple[list[Note], list[FoleyEvent]]]:
    """The new (notes, hits) of each track ``clip`` holds a part for that is still in the project,
    with the part added from ``at_s`` on (in time order)."""
    at = max(0.0, float(at_s))
    out = {}
    for t in project.tracks:
        part = clip.parts.get(t.id)
        if part is None:
            continue
        notes = sorted([*t.notes, *(replace(n, start_s=at + n.start_s) for n in part[0])], key=lambda n: n.start_s)
        hits = sorted([*t.events, *(replace(e, time_s=at + e.time_s) for e in part[1])], key=lambda e: e.time_s)
        out[t.id] = (notes, hits)
    return out
