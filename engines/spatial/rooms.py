"""Preset rooms of the spatial engine (plain data, no heavy imports).

A room is a shoebox (metres, x across, y depth, z up) with one pyroomacoustics material per
surface, a listening position, and the image-source order its teacher simulation uses. The
``stage`` maps the UI's room view (an 8 x 6 m top-down stage, listener at (4, 3) looking up the
screen, i.e. towards y = 0) into the room: stage (x, y, z) -> room
(lx + x - 4, ly - (y - 3), z), head yaw = +90 degrees (facing +y), so a source dragged to the
right of the listener on screen is on the listener's right.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

STAGE_W, STAGE_D = 8.0, 6.0  # the UI's room view (ui/widgets/room_view.py)
STAGE_LISTENER = (4.0, 3.0)
WALL_MARGIN_M = 0.3  # sources and listeners stay this far from every surface
SURFACES = ("west", "east", "south", "north", "floor", "ceiling")  # pyroomacoustics' order


@dataclass(frozen=True)
class Room:
    name: str
    dims: tuple[float, float, float]
    materials: dict = field(default_factory=dict)  # surface -> pyroomacoustics material name
    listener: tuple[float, float, float] = (0.0, 0.0, 1.6)
    max_order: int = 20  # image-source order of the teacher (RT60 checked against Eyring)
    ir_s: float = 1.0  # length of the teacher's full IR
    description: str = ""

    @property
    def listener_yaw(self) -> float:
        return math.pi / 2  # facing +y (the screen in the UI's view)

    def clip(self, p) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        lo = np.full(3, WALL_MARGIN_M)
        hi = np.asarray(self.dims) - WALL_MARGIN_M
        return np.clip(p, lo, hi)

    def from_stage(self, x: float, y: float, z: float) -> np.ndarray:
        """A keyframe position (UI stage metres) as a position in this room."""
        lx, ly, _ = self.listener
        return self.clip((lx + (x - STAGE_LISTENER[0]), ly - (y - STAGE_LISTENER[1]), z))

    def default_source(self) -> np.ndarray:
        """Where a track without keyframes sits: 2 m in front of the listener, ear height."""
        lx, ly, lz = self.listener
        return self.clip((lx, ly + 2.0, lz))


PRESETS: dict[str, Room] = {
    # image-source orders chosen so the teacher's measured T30 (500 Hz / 1 kHz / 2 kHz bands)
    # matches the room's Eyring / Sabine estimate (tests/test_spatial_teacher.py checks it)
    "studio": Room(
        "studio", (5.0, 4.2, 2.8),
        {"west": "curtains_velvet", "east": "curtains_velvet", "south": "curtains_cotton_0.33",
         "north": "facing_brick", "floor": "carpet_soft_10mm", "ceiling": "carpet_6mm_closed_cell_foam"},
        listener=(2.5, 1.6, 1.3), max_order=18, ir_s=0.4,
        description="small studio, curtained, foam ceiling (RT60 about 0.25-0.3 s)"),
    "living_room": Room(
        "living_room", (6.4, 5.0, 2.6),
        {"west": "smooth_brickwork_10mm_pointing", "east": "smooth_brickwork_10mm_pointing",
         "south": "curtains_cotton_0.33", "north": "wooden_lining", "floor": "carpet_rubber_5mm",
         "ceiling": "smooth_brickwork_10mm_pointing"},
        listener=(3.2, 2.0, 1.2), max_order=28, ir_s=0.8,
        description="living room, plastered brick, thin carpet, curtains (RT60 about 0.5-0.8 s)"),
    "hall": Room(
        "hall", (20.0, 14.0, 8.0),
        {"west": "facing_brick", "east": "facing_brick", "south": "curtains_cotton_0.33",
         "north": "wooden_lining", "floor": "carpet_soft_10mm", "ceiling": "curtains_velvet"},
        listener=(10.0, 5.6, 1.6), max_order=16, ir_s=1.2,
        description="small concert hall, brick side walls, wood stage wall (RT60 about 1 s)"),
}


def room(name: str) -> Room:
    from engines.errors import EngineError

    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    aliases = {"concert_hall": "hall", "living": "living_room", "livingroom": "living_room",
               "small_studio": "studio"}
    key = aliases.get(key, key)
    if key not in PRESETS:
        raise EngineError(f"unknown room {name!r}; choose from: {', '.join(PRESETS)}")
    return PRESETS[key]


def bounce_points(r: Room, n: int = 48, seed: int = 0) -> np.ndarray:
    """``n`` points spread over the six surfaces, in proportion to their areas (stratified)."""
    W, D, H = r.dims
    faces = [  # (area, fixed axis, value, free axes)
        (D * H, 0, 0.0), (D * H, 0, W), (W * H, 1, 0.0), (W * H, 1, D), (W * D, 2, 0.0), (W * D, 2, H)]
    areas = np.array([f[0] for f in faces])
    counts = np.maximum(1, np.round(n * areas / areas.sum())).astype(int)
    while counts.sum() > n:
        counts[np.argmax(counts)] -= 1
    while counts.sum() < n:
        counts[np.argmax(areas / counts)] += 1
    rng = np.random.default_rng(seed)
    pts = []
    for (area, axis, value), k in zip(faces, counts):
        free = [a for a in range(3) if a != axis]
        g = int(math.ceil(math.sqrt(k)))
        cells = rng.permutation(g * g)[:k]
        u = (cells % g + rng.uniform(0.2, 0.8, k)) / g
        v = (cells // g + rng.uniform(0.2, 0.8, k)) / g
        p = np.zeros((k, 3))
        p[:, axis] = value
        p[:, free[0]] = u * r.dims[free[0]]
        p[:, free[1]] = v * r.dims[free[1]]
        pts.append(p)
    return np.concatenate(pts).astype(np.float32)
