"""Render the bundled demo video and its ground truth.

    python -m studio.demo --out studio/assets/demo.mp4     (also writes demo_truth.json beside it)

14 s, 640x360, 30 fps, H.264 (yuv420p, faststart), no audio: the studio adds the sound. It shows
what the engines listen for, with the exact answers in the truth file:

* rhythm: a little figure hops at 100 BPM in 4/4, landing on every beat (the motion reverses
  there), its arms swing and reverse on each beat, a ring pulses from its feet, and four lamps
  count the bar; downbeats land from a higher hop with a bigger, brighter ring;
* impacts: balls under gravity bounce off the floor, the walls and each other (restitution
  below 1, so they settle); every impact seen on screen is listed with its time, contact point
  (normalised 0..1 in the frame, y downwards), the objects and the normal speed;
* one hard cut at 7.3 s (between beats), where the palette changes and new balls drop in.

Everything is computed from constants and a seeded generator, so the output is reproducible.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

W, H, FPS = 640, 360, 30
DURATION_S = 14.0
TEMPO_BPM = 100.0
BEATS_PER_BAR = 4
FIRST_BEAT_S = 0.4
CUT_S = 7.3
SEED = 7

FLOOR_Y = 322.0  # px, y downwards
WALL_L, WALL_R = 236.0, 624.0
GRAVITY = 1600.0  # px/s^2
E_WALL, E_BALL = 0.9, 0.95
MIN_IMPACT_SPEED = 150.0  # px/s: slower contacts are not visible bounces; the ball rests
SIM_DT = 1.0 / 4800
FIGURE_X, FIGURE_FLOOR = 118.0, 300.0

PALETTES = [
    {"name": "night", "top": (18, 28, 48), "bottom": (38, 86, 104), "floor": (24, 44, 58),
     "figure": (246, 196, 84), "accent": (255, 236, 170), "ring": (250, 210, 120),
     "balls": [(236, 98, 88), (120, 190, 240), (170, 220, 150)]},
    {"name": "dusk", "top": (58, 36, 98), "bottom": (214, 128, 112), "floor": (72, 42, 78),
     "figure": (120, 226, 214), "accent": (220, 255, 248), "ring": (160, 240, 230),
     "balls": [(255, 200, 90), (250, 250, 240), (120, 90, 200)]},
]


@dataclass
class Ball:
    name: str
    x: float
    y: float
    vx: float
    vy: float
    r: float
    e_floor: float
    colour_index: int
    resting: bool = False


def beat_times() -> list[float]:
    period = 60.0 / TEMPO_BPM
    n = int((DURATION_S - FIRST_BEAT_S) / period) + 1
    return [round(FIRST_BEAT_S + k * period, 6) for k in range(n) if FIRST_BEAT_S + k * period < DURATION_S]


# (name, x, y, vx, vy, radius, floor restitution) per scene; jittered by the seeded generator
_SCENE_BALLS = [
    [("ball_coral", 300, 90, 150, 0, 22, 0.82), ("ball_sky", 520, 150, -110, -200, 16, 0.86)],
    [("ball_amber", 280, 60, 170, 0, 20, 0.84), ("ball_pearl", 440, 30, -60, 0, 14, 0.88),
     ("ball_violet", 580, 110, -150, -150, 26, 0.78)],
]
_LATE_DROP_S = 4.9  # a third ball drops into the first scene once the first two have settled
_LATE_BALL = ("ball_mint", 560, -30, -90, 0, 18, 0.84)  # enters from above the frame


def _make(spec, index: int, rng: np.random.Generator) -> Ball:
    name, x, y, vx, vy, r, e = spec
    jitter = rng.uniform(-1, 1, 3)
    return Ball(name, x + 6 * jitter[0], y + 6 * jitter[1], vx + 15 * jitter[2], vy, r, e, index)


def _spawn(scene: int, rng: np.random.Generator) -> list[Ball]:
    return [_make(spec, i, rng) for i, spec in enumerate(_SCENE_BALLS[scene])]


def simulate(rng: np.random.Generator) -> tuple[dict[int, list[tuple[float, float, float, int]]], list[dict]]:
    """Ball (x, y, radius, colour index) per video frame and every visible impact (fine steps)."""
    positions: dict[int, list[tuple[float, float, float, int]]] = {}
    impacts: list[dict] = []
    n_frames = int(round(DURATION_S * FPS))
    scene, balls = -1, []
    steps_per_frame = int(round(1 / (FPS * SIM_DT)))
    for f in range(n_frames):
        frame_t = f / FPS
        if (frame_t >= CUT_S - 1e-9) != (scene == 1) or scene < 0:
            scene = 1 if frame_t >= CUT_S - 1e-9 else 0
            balls = _spawn(scene, rng)
        if scene == 0 and abs(frame_t - _LATE_DROP_S) < 0.5 / FPS:
            balls.append(_make(_LATE_BALL, len(balls), rng))
        positions[f] = [(b.x, b.y, b.r, b.colour_index) for b in balls]
        for i in range(steps_per_frame):
            _step(balls, frame_t + i * SIM_DT, SIM_DT, impacts)
    impacts.sort(key=lambda i: i["time_s"])
    return positions, _merge_contacts(impacts)


def _merge_contacts(impacts: list[dict], window_s: float = 0.03) -> list[dict]:
    """One entry per contact: a pair touching again within ``window_s`` is the same impact."""
    out: list[dict] = []
    last: dict[frozenset, float] = {}
    for imp in impacts:
        pair = frozenset((imp["object"], imp["surface"]))
        if imp["time_s"] - last.get(pair, -1.0) >= window_s:
            out.append(imp)
        last[pair] = imp["time_s"]
    return out


def _record(impacts, t, x, y, obj, other, speed) -> None:
    impacts.append({"time_s": round(t, 4), "x": round(x / W, 4), "y": round(y / H, 4), "object": obj,
                    "surface": other, "normal_speed_px_s": round(speed, 1)})


def _step(balls: list[Ball], t: float, dt: float, impacts: list[dict]) -> None:
    for b in balls:
        if b.resting:
            b.vx *= math.exp(-1.5 * dt)
            b.x += b.vx * dt
        else:
            y0, vy0 = b.y, b.vy
            b.x += b.vx * dt
            b.y += b.vy * dt + 0.5 * GRAVITY * dt * dt
            b.vy += GRAVITY * dt
            if b.y + b.r > FLOOR_Y and b.vy > 0:  # exact crossing time inside the step
                a, bb, c = 0.5 * GRAVITY, vy0, y0 + b.r - FLOOR_Y
                s = (-bb + math.sqrt(max(0.0, bb * bb - 4 * a * c))) / (2 * a)
                s = min(max(s, 0.0), dt)
                v_hit = vy0 + GRAVITY * s
                if v_hit >= MIN_IMPACT_SPEED:
                    _record(impacts, t + s, b.x, FLOOR_Y, b.name, "floor", v_hit)
                    b.vy = -b.e_floor * v_hit
                    rest = dt - s
                    b.y = FLOOR_Y - b.r + b.vy * rest + 0.5 * GRAVITY * rest * rest
                    b.vy += GRAVITY * rest
                else:
                    b.y, b.vy, b.resting = FLOOR_Y - b.r, 0.0, True
        for wall, sign, label in ((WALL_L, 1, "left_wall"), (WALL_R, -1, "right_wall")):
            if sign * (b.x - wall) < b.r and sign * b.vx < 0:
                over = b.r - sign * (b.x - wall)
                s = over / abs(b.vx)
                if abs(b.vx) >= MIN_IMPACT_SPEED:
                    _record(impacts, t + dt - s, wall, b.y, b.name, label, abs(b.vx))
                b.vx = -E_WALL * b.vx
                b.x = wall + sign * (b.r + over)
    for i in range(len(balls)):
        for j in range(i + 1, len(balls)):
            a, b = balls[i], balls[j]
            dx, dy = b.x - a.x, b.y - a.y
            dist = math.hypot(dx, dy)
            if dist >= a.r + b.r or dist == 0:
                continue
            n = (dx / dist, dy / dist)
            rel = (a.vx - b.vx) * n[0] + (a.vy - b.vy) * n[1]
            if rel <= 0:  # separating
                continue
            ma, mb = a.r ** 3, b.r ** 3
            jimp = (1 + E_BALL) * rel / (1 / ma + 1 / mb)
            a.vx, a.vy = a.vx - jimp / ma * n[0], a.vy - jimp / ma * n[1]
            b.vx, b.vy = b.vx + jimp / mb * n[0], b.vy + jimp / mb * n[1]
            a.resting = b.resting = False
            if rel >= MIN_IMPACT_SPEED:
                cx, cy = a.x + n[0] * a.r, a.y + n[1] * a.r
                _record(impacts, t + dt, cx, cy, a.name, b.name, rel)


# ----------------------------------------------------------------------------- drawing

_SHIFT = 4  # cv2 fixed-point bits: sub-pixel positions for smooth, anti-aliased motion
_ONE = 1 << _SHIFT


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _background(pal: dict) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None, None]
    top, bottom = np.array(pal["top"], np.float32), np.array(pal["bottom"], np.float32)
    img = (top * (1 - ramp) + bottom * ramp) * np.ones((1, W, 1), np.float32)
    vignette = 1.0 - 0.18 * (np.linspace(-1, 1, W)[None, :] ** 2)
    img *= vignette[:, :, None].astype(np.float32)
    img[int(FLOOR_Y):] = img[int(FLOOR_Y):] * 0.55 + np.array(pal["floor"], np.float32) * 0.45
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _blend_circle(img, centre, radius, colour, thickness, alpha) -> None:
    if alpha <= 0.01 or radius <= 0:
        return
    x, y = centre
    pad = int(radius + thickness + 3)
    x0, x1 = max(0, int(x) - pad), min(W, int(x) + pad)
    y0, y1 = max(0, int(y) - pad), min(H, int(y) + pad)
    if x0 >= x1 or y0 >= y1:
        return
    roi = img[y0:y1, x0:x1]
    layer = roi.copy()
    cv2.circle(layer, _pt(x - x0, y - y0), int(radius * _ONE), colour, thickness, cv2.LINE_AA, _SHIFT)
    cv2.addWeighted(layer, alpha, roi, 1 - alpha, 0, dst=roi)


def _draw_figure(img, t: float, beats: list[float], pal: dict) -> None:
    period = 60.0 / TEMPO_BPM
    k = int(np.searchsorted(beats, t, side="right")) - 1  # last beat at or before t
    prev_t = beats[k] if k >= 0 else 0.0
    next_t = beats[k + 1] if k + 1 < len(beats) else prev_t + period
    next_down = (k + 1) % BEATS_PER_BAR == 0
    u = (t - prev_t) / max(1e-6, next_t - prev_t)
    hop = (56.0 if next_down else 28.0) * 4 * u * (1 - u)
    since = t - prev_t if k >= 0 else 9.0
    down = k >= 0 and k % BEATS_PER_BAR == 0
    squash = (0.22 if down else 0.12) * math.exp(-since / 0.06)
    x, feet = FIGURE_X, FIGURE_FLOOR - hop
    body_h, body_w = 56 * (1 - squash), 34 * (1 + squash)
    # shadow shrinks while the figure is in the air
    s = 1.0 - hop / 120
    x0, y0 = int(x) - 40, int(FIGURE_FLOOR) - 10
    roi = img[y0 : y0 + 24, x0 : x0 + 80]
    shade = roi.copy()
    cv2.ellipse(shade, _pt(x - x0, FIGURE_FLOOR + 4 - y0), _pt(22 * s, 5 * s), 0, 0, 360, (0, 0, 0), -1,
                cv2.LINE_AA, _SHIFT)
    cv2.addWeighted(shade, 0.45, roi, 0.55, 0, dst=roi)
    # ring pulse from the feet on every beat; bigger and brighter on downbeats
    if k >= 0 and since < 0.5:
        grow = since / 0.5
        radius = (30 + (90 if down else 55) * grow)
        _blend_circle(img, (x, FIGURE_FLOOR), radius, pal["ring"], 4 if down else 2, (0.9 if down else 0.55) * (1 - grow))
    colour = np.array(pal["figure"], float)
    flash = (0.6 if down else 0.25) * math.exp(-since / 0.12)
    colour = tuple(int(c) for c in colour + (np.array(pal["accent"]) - colour) * flash)
    top = feet - body_h
    # arms swing between +/-40 degrees, reversing exactly on each beat
    swing = math.cos(math.pi * u) * (1 if k % 2 == 0 else -1)
    for side in (-1, 1):
        ang = math.radians(90 + side * 20 + 40 * swing * side)
        sx, sy = x + side * body_w * 0.42, top + 16
        ex, ey = sx + side * 30 * abs(math.cos(ang)), sy + 30 * math.sin(ang) - 18
        cv2.line(img, _pt(sx, sy), _pt(ex, ey), colour, 6, cv2.LINE_AA, _SHIFT)
    for side in (-1, 1):  # legs
        cv2.line(img, _pt(x + side * 8, feet - 8), _pt(x + side * 10, feet), colour, 7, cv2.LINE_AA, _SHIFT)
    cv2.ellipse(img, _pt(x, top + body_h / 2), _pt(body_w / 2, body_h / 2), 0, 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)
    head_y = top - 16
    cv2.circle(img, _pt(x, head_y), 17 * _ONE, colour, -1, cv2.LINE_AA, _SHIFT)
    for side in (-1, 1):
        cv2.circle(img, _pt(x + side * 6, head_y - 2), int(2.6 * _ONE), (30, 30, 40), -1, cv2.LINE_AA, _SHIFT)
    # bar counter lamps
    for i in range(BEATS_PER_BAR):
        lit = k >= 0 and k % BEATS_PER_BAR == i
        glow = math.exp(-since / 0.25) if lit else 0.0
        base = np.array(pal["floor"], float) * 0.6 + 40
        c = base + (np.array(pal["accent"] if i == 0 else pal["ring"]) - base) * glow
        cv2.circle(img, _pt(36 + i * 26, 30), (8 if i == 0 else 6) * _ONE, tuple(int(v) for v in c), -1, cv2.LINE_AA, _SHIFT)


def _draw_balls(img, balls, pal: dict) -> None:
    shade = img.copy()
    for x, y, r, _ in balls:  # soft contact shadows, smaller and fainter while a ball is high
        height = max(0.0, FLOOR_Y - (y + r))
        s = max(0.35, 1 - height / 300)
        cv2.ellipse(shade, _pt(x, FLOOR_Y + 3), _pt(r * 1.1 * s, r * 0.28 * s), 0, 0, 360, (0, 0, 0), -1,
                    cv2.LINE_AA, _SHIFT)
    for wall in (WALL_L, WALL_R):
        cv2.line(shade, _pt(wall, 48), _pt(wall, FLOOR_Y), (255, 255, 255), 2, cv2.LINE_AA, _SHIFT)
    cv2.addWeighted(shade, 0.45, img, 0.55, 0, dst=img)
    for x, y, r, ci in balls:
        c = np.array(pal["balls"][ci], float)
        cv2.circle(img, _pt(x, y), int(r * _ONE), tuple(int(v) for v in c * 0.72), -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(img, _pt(x - r * 0.12, y - r * 0.12), int(r * 0.86 * _ONE), tuple(int(v) for v in c), -1,
                   cv2.LINE_AA, _SHIFT)
        hl = tuple(int(v) for v in c + (255 - c) * 0.6)
        cv2.circle(img, _pt(x - r * 0.35, y - r * 0.38), int(r * 0.25 * _ONE), hl, -1, cv2.LINE_AA, _SHIFT)


def render(out: str | Path, truth: str | Path | None = None, *, seed: int = SEED) -> dict:
    """Write the demo video to ``out`` and its ground truth JSON to ``truth``; return the truth."""
    import av

    from studio.errors import ExportError
    from studio.fsutil import atomic_path, write_text_atomic

    out = Path(out)
    truth_path = Path(truth) if truth else out.with_name(out.stem + "_truth.json")
    rng = np.random.default_rng(seed)
    beats = beat_times()
    positions, impacts = simulate(rng)
    backgrounds = [_background(p) for p in PALETTES]
    n_frames = int(round(DURATION_S * FPS))
    with atomic_path(out, error=ExportError) as tmp:
        container = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "slow", "crf": "20", "g": str(2 * FPS), "bf": "2", "threads": "2"}
        for f in range(n_frames):
            t = f / FPS
            scene = int(t >= CUT_S - 1e-9)
            pal = PALETTES[scene]
            img = backgrounds[scene].copy()
            _draw_balls(img, positions[f], pal)
            _draw_figure(img, t, beats, pal)
            cv2.putText(img, f"{TEMPO_BPM:.0f} BPM", (W - 92, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        tuple(int(v * 0.5 + 100) for v in pal["accent"]), 1, cv2.LINE_AA)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = f
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        container.close()
    truth_data = {
        "video": out.name, "width": W, "height": H, "fps": FPS, "frame_count": n_frames,
        "duration_s": DURATION_S, "seed": seed,
        "tempo_bpm": TEMPO_BPM, "time_signature": [BEATS_PER_BAR, 4],
        "beat_times_s": beats,
        "downbeat_times_s": [b for i, b in enumerate(beats) if i % BEATS_PER_BAR == 0],
        "cut_times_s": [CUT_S],
        "scenes": [{"start_s": 0.0, "end_s": CUT_S, "palette": PALETTES[0]["name"]},
                   {"start_s": CUT_S, "end_s": DURATION_S, "palette": PALETTES[1]["name"]}],
        "balls": [{"name": s[0], "radius_px": s[5], "rgb": list(PALETTES[scene]["balls"][i]), "scene": scene}
                  for scene, specs in enumerate([_SCENE_BALLS[0] + [_LATE_BALL], _SCENE_BALLS[1]])
                  for i, s in enumerate(specs)],
        "impacts": impacts,
        "notes": "x, y normalised to the frame (0..1, y downwards) at the contact point; "
                 "surface is floor, left_wall, right_wall or the other ball (ball-ball impacts "
                 "are listed once); only impacts of at least 150 px/s (visible bounces) are listed; "
                 "beats are when the "
                 "figure lands (motion reverses); downbeats every 4 beats.",
    }
    write_text_atomic(truth_path, json.dumps(truth_data, indent=1) + "\n", error=ExportError)
    for p in (out, truth_path):  # temporary files are private (0600); assets are for everyone
        p.chmod(0o644)
    return truth_data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m studio.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "assets" / "demo.mp4"))
    ap.add_argument("--truth", default=None, help="ground-truth JSON (default: <out stem>_truth.json)")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    from studio.errors import StudioError

    try:
        truth = render(args.out, args.truth, seed=args.seed)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {truth['duration_s']} s, {len(truth['beat_times_s'])} beats, "
          f"{len(truth['impacts'])} impacts, cut at {truth['cut_times_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
