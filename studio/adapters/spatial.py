"""Spatial adapter: places tracks in a virtual room and renders them binaurally.

register
    Installs the spatializer of :mod:`studio.render`: a track with ``track.room`` set is mixed
    to mono (a point source), then rendered through the room's neural acoustic field
    (``engines.spatial``): a source that does not move (one keyframe, or keyframes at one place)
    is one field query and one FFT convolution per ear for the whole track; a moving one is
    partitioned convolution, the field queried every 512-sample block while the source moves
    (cross-faded, so no clicks). Positions come from the track's spatial
    keyframes, linearly interpolated; a track without keyframes sits 2 m in front of the
    listener. Keyframe coordinates are the UI room view's 8 x 6 m stage (listener at (4, 3),
    facing y = 0; ``z`` is the height, 1.5 m by default), mapped around the room's listening
    position (:meth:`engines.spatial.rooms.Room.from_stage`). The result (2 channels) is the
    binaural stem, before the track's gain and pan.

generate (``studio generate VIDEO --spatial ROOM``)
    Runs after the other engines (``studio.generate.ENGINE_NAMES`` order) and places every track
    of the project in ``settings.room``: tracks that already have keyframes keep them; Foley
    tracks follow their hits (each hit's screen x spreads over +-3 m across the stage, its
    screen y sets the height 1-2 m, 2 m in front; the source jumps to each hit's place
    ``ARRIVE_LEAD_S`` before the hit and holds it until the next: see that constant); every
    other track gets a fixed place on an arc 2.5 m in front (-40 .. +40 degrees, in track
    order). It returns edited copies of those tracks with the same ids, which
    ``studio generate`` and the UI (in one undo step) put in place of the originals, so the
    project keeps its tracks, in the same order, placed in the room.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from studio.errors import StudioError
from studio.jobs import Job
from studio.project import Project, SpatialKeyframe, Track, TrackKind

# engine metadata (studio.adapters: read from this source without importing it)
ORDER = 90  # last: it places the tracks the others made
LABEL = "Spatial"
HELP = "binaural rendering in ROOM"
TOOLTIP = "binaural rendering of the tracks in a room"
METAVAR = "ROOM"
VALUE = "room"  # --spatial ROOM -> settings.room

BLOCK = 512
ARC_RADIUS_M = 2.5
ARC_HALF_DEG = 40.0
# A Foley track's source jumps to each hit's place this long before the hit (but not before
# halfway from the hit before, which would then be heard from the next one's place): the block
# renderer (engines/spatial/render.py, 512-sample blocks) takes a block's filter at its centre
# and cross-fades from the block before, so a hit's onset is heard wholly from its place only when
# both blocks are there: 1.5 blocks, 17.4 ms at 44.1 kHz. Until 2026-12-07 the source glided to
# the next place over the 50 ms before the hit, arriving with it. Against each hit rendered alone
# at its own place (error energy / signal energy; the pipeline bench clip's 310 hits in the hall,
# 80 ms noise bursts): the 10 ms after each onset -3.3 -> -9.1 dB, the whole track -5.2 -> -11.4
# dB (what is left is mostly the earlier hits' reverberation, which moves with the one source),
# the render's CPU time 1.9 -> 0.74 s (310 filter updates instead of 1618). `studio bench
# spatial` measures the same on random hits (foley_*), with the old path as its baseline.
ARRIVE_LEAD_S = 0.022


def _engine():
    from engines.spatial import infer, render, rooms

    return infer, render, rooms


def check_room(name: str) -> str:
    """The preset room's canonical name, or a StudioError naming the ones there are."""
    from engines.errors import EngineError

    infer, _, rooms = _engine()
    try:
        r = rooms.room(name)
    except EngineError as exc:
        raise StudioError(str(exc)) from None
    have = infer.available_rooms()
    if r.name not in have:
        raise StudioError(f"room {name!r} has no trained field in this build; available rooms: "
                          f"{', '.join(have) or 'none'}")
    return r.name


def spatialize(audio: np.ndarray, track: Track, project: Project, sr: int) -> np.ndarray:
    """The registered spatializer: (2, n) dry source -> (2, n + IR length) binaural."""
    from studio import diskaudio as da

    infer, render, _ = _engine()
    field = infer.field(track.room)
    # a stereo source is the point source of its channels' mean, downmixed by the renderer as
    # it reads each block (no film-length mono copy on disk: 1.4 GB a track at two hours)
    return render.render_path(field, np.asanyarray(audio, np.float32), sr, track_path(track, field.room),
                              block=BLOCK, alloc=da.buffer, release=da.release)


def track_path(track: Track, room):
    """The path ``track``'s source takes in ``room`` (an ``engines.spatial.rooms.Room``), as the
    renderer convolves it: its keyframes mapped from the stage, else the room's default place.
    ``path(t)`` is the (source, listener, yaw) pose at ``t``; ``studio/room_response.py`` reads it too."""
    _, render, _ = _engine()
    if track.spatial:
        kfs = sorted(track.spatial, key=lambda k: k.time_s)
        times = np.array([k.time_s for k in kfs])
        pos = np.stack([room.from_stage(k.x, k.y, k.z) for k in kfs])
    else:
        times, pos = np.zeros(1), room.default_source()[None, :]
    return render.keyframe_path(times, pos, np.asarray(room.listener), room.listener_yaw)


def register() -> None:
    from studio import render

    render.register_spatializer(spatialize)


# ----------------------------------------------------------------------------- generate


def hit_place(event) -> tuple[float, float]:
    """A Foley hit's place on the stage, (x, z): its screen x across +-3 m, its screen y as the
    height 1-2 m (the source 2 m in front, y = 1)."""
    return 4.0 + (min(max(event.x, 0.0), 1.0) - 0.5) * 6.0, 1.5 + (0.5 - min(max(event.y, 0.0), 1.0)) * 1.0


def foley_keyframes(track: Track) -> list[SpatialKeyframe]:
    events = sorted(track.events, key=lambda e: e.time_s)
    out: list[SpatialKeyframe] = []
    times = [float(e.time_s) for e in events]
    # at each place ARRIVE_LEAD_S before its hit, but not before halfway from the hit before
    # (which would then be heard from the next one's place)
    arrive = [max(0.0, t - ARRIVE_LEAD_S) if i == 0 else max(t - ARRIVE_LEAD_S, 0.5 * (times[i - 1] + t))
              for i, t in enumerate(times)]
    for i, e in enumerate(events):
        x, z = hit_place(e)
        out.append(SpatialKeyframe(arrive[i], x, 1.0, z))
        if i + 1 < len(events) and arrive[i + 1] > arrive[i] + 1e-3:
            out.append(SpatialKeyframe(arrive[i + 1], x, 1.0, z))  # held, then a jump to the next place
    return out


def arc_keyframe(i: int, n: int) -> SpatialKeyframe:
    a = 0.0 if n <= 1 else math.radians(-ARC_HALF_DEG + 2 * ARC_HALF_DEG * i / (n - 1))
    return SpatialKeyframe(0.0, 4.0 + ARC_RADIUS_M * math.sin(a), 3.0 - ARC_RADIUS_M * math.cos(a), 1.5)


def place(tracks: list[Track], room: str) -> list[Track]:
    """Copies of ``tracks`` placed in ``room`` (see the module doc)."""
    others = [t.id for t in tracks if not t.spatial and not (t.kind == TrackKind.FOLEY and t.events)]
    out = []
    for t in tracks:
        if t.spatial:
            kf = list(t.spatial)
        elif t.kind == TrackKind.FOLEY and t.events:
            kf = foley_keyframes(t)
        else:
            kf = [arc_keyframe(others.index(t.id), len(others))]
        out.append(dataclasses.replace(t, room=room, spatial=kf))
    return out


def generate(project: Project, timeline, settings, job: Job | None = None) -> list[Track]:
    job = Job.quiet(job)
    if not settings.room:
        raise StudioError("the spatial engine needs a room: give --spatial ROOM")
    room = check_room(settings.room)
    # copies with the same ids: they replace the tracks placed; the video's own audio stays where it is
    placed = place([t for t in project.tracks if not t.original_audio], room)
    job.report(1.0, f"placed {len(placed)} tracks in {room}")
    return placed


def spatialize_project(project: Project, room: str, tracks: list[str] | None = None) -> list[str]:
    """Place ``project``'s tracks (all but the video's own audio, or those named / with these ids)
    in ``room``, in place;
    returns the names of the placed tracks (``studio spatialize``)."""
    room = check_room(room)
    chosen = [t for t in project.tracks if not t.original_audio]  # the video's own audio only when named
    if tracks:
        wanted = set(tracks)
        chosen = [t for t in project.tracks if t.name in wanted or t.id in wanted]
        missing = wanted - {t.name for t in chosen} - {t.id for t in chosen}
        if missing:
            raise StudioError(f"no track named {', '.join(sorted(missing))} in the project "
                              f"(tracks: {', '.join(t.name for t in project.tracks) or 'none'})")
    if not chosen:
        raise StudioError("the project has no tracks to place in a room")
    placed = {t.id: t for t in place(chosen, room)}
    project.tracks[:] = [placed.get(t.id, t) for t in project.tracks]
    return [t.name for t in placed.values()]
