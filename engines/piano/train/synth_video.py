"""Synthetic top-down piano videos with an exact ground-truth roll (numpy + cv2 + av only).

Used by the training scripts (the data), the tests and the benchmark (the input). A video shows
an 88-key keyboard (52 white + 36 black keys in the real layout) somewhere in the frame (seeded
random position, scale, small rotation and keystone perspective), pressed keys shaded (a white
key darkens, a black key loses its highlight; the shade depth grows with the velocity, so the
velocity is observable), two skin-coloured hands with fingers on the pressed keys plus a stray
occluder, a lighting gradient with flicker, per-frame camera jitter, sensor noise, background
clutter, and the encoder's compression.

Geometry is analytic in keyboard units: u in [0, 52) across the keys (one white key = 1), v in
[0, 1] from the back edge (where the black keys sit) to the front edge. Every pixel of a frame
(or of a rectified view) is mapped back to (u, v) once per video; a frame is then one gather of
per-key shade amounts, so rendering is fast.

Key index k = MIDI pitch - 21 (0 = A0, 87 = C8). A frame f shows time f / fps; key k is pressed
in frame f when some note of pitch 21 + k has start <= f / fps < start + dur (``roll_of``).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import cv2
import numpy as np

N_KEYS = 88
N_WHITE = 52
LOWEST = 21
BLACK_W = 0.58          # black key width, in white-key widths
BLACK_L = 0.63          # black key length, in white-key lengths
KEY_ASPECT = 6.4        # white key length / width (23.5 mm x 150 mm)
_WHITE_PC = (0, 2, 4, 5, 7, 9, 11)
# black key centre offset from the boundary of the white keys around it (real keyboards are not
# evenly spaced: C# and F# sit left, D# and A# right)
_BLACK_OFFSET = {1: -0.08, 3: 0.08, 6: -0.12, 8: 0.0, 10: 0.12}


class Note(NamedTuple):
    start_s: float
    dur_s: float
    pitch: int
    velocity: int = 80


def _layout():
    """For every key: is_black, centre u, and for white keys its white index."""
    is_black = np.zeros(N_KEYS, bool)
    centre = np.zeros(N_KEYS, np.float64)
    white_index = np.full(N_KEYS, -1)
    w = 0
    for k in range(N_KEYS):
        pc = (LOWEST + k) % 12
        if pc in _WHITE_PC:
            white_index[k] = w
            centre[k] = w + 0.5
            w += 1
        else:
            is_black[k] = True
            centre[k] = w + _BLACK_OFFSET[pc]   # boundary between white w-1 and w
    return is_black, centre, white_index


IS_BLACK, KEY_CENTRE, WHITE_INDEX = _layout()
_WHITE_KEYS = np.flatnonzero(~IS_BLACK)
_BLACK_KEYS = np.flatnonzero(IS_BLACK)
# boundary b (1..51) -> black key index at that boundary, or -1
_BOUNDARY_BLACK = np.full(N_WHITE + 1, -1)
for _k in _BLACK_KEYS:
    _BOUNDARY_BLACK[int(round(KEY_CENTRE[_k] - _BLACK_OFFSET[(LOWEST + _k) % 12]))] = _k

# labels of the label map besides the keys 0..87
L_LINE, L_BODY, L_OUT = 88, 89, 90


def key_labels(u: np.ndarray, v: np.ndarray, line_w: float = 0.06) -> np.ndarray:
    """Label of each canonical point: key 0..87, L_LINE (gap between white keys), L_BODY (the
    piano around the keys), L_OUT (outside the piano)."""
    u = np.asarray(u, np.float32)
    v = np.asarray(v, np.float32)
    lab = np.full(u.shape, L_OUT, np.int16)
    body = (u > -1.6) & (u < N_WHITE + 1.6) & (v > -0.4) & (v < 1.12)
    lab[body] = L_BODY
    inside = (u >= 0) & (u < N_WHITE) & (v >= 0) & (v <= 1)
    wi = np.clip(np.floor(u).astype(np.int32), 0, N_WHITE - 1)
    lab[inside] = _WHITE_KEYS[wi[inside]]
    frac = u - np.floor(u)
    lab[inside & ((frac < line_w / 2) | (frac > 1 - line_w / 2))] = L_LINE
    b = np.clip(np.rint(u).astype(np.int32), 0, N_WHITE)
    bk = _BOUNDARY_BLACK[b]
    has = (bk >= 0) & inside & (v < BLACK_L)
    cen = KEY_CENTRE[np.maximum(bk, 0)]
    blk = has & (np.abs(u - cen) < BLACK_W / 2)
    lab[blk] = bk[blk]
    return lab


def roll_of(notes: Iterable, fps: float, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact frame roll (n_frames, 88) bool and velocity (n_frames, 88) uint8 of a note list."""
    notes = [Note(*n) for n in notes]
    if n_frames is None:
        end = max((n.start_s + n.dur_s for n in notes), default=0.0)
        n_frames = int(np.ceil(end * fps)) + int(fps // 2) + 1
    roll = np.zeros((n_frames, N_KEYS), bool)
    vel = np.zeros((n_frames, N_KEYS), np.uint8)
    for n in notes:
        k = int(n.pitch) - LOWEST
        if not 0 <= k < N_KEYS:
            continue
        a = int(np.ceil(n.start_s * fps - 1e-9))
        b = int(np.ceil((n.start_s + n.dur_s) * fps - 1e-9))
        a, b = max(a, 0), min(b, n_frames)
        if b > a:
            roll[a:b, k] = True
            vel[a:b, k] = int(np.clip(n.velocity, 1, 127))
    return roll, vel


@dataclass
class _Scene:
    """Per-video random appearance."""
    white: float
    black: float
    black_hi: float
    line: float
    body_rgb: np.ndarray
    tint: np.ndarray
    skin_rgb: np.ndarray
    press_white: float
    press_black: float
    light_dir: np.ndarray
    light_amp: float
    flicker: float
    noise: float
    jitter_px: float
    hand_split: float


def _scene(rng: np.random.Generator) -> _Scene:
    skins = np.array([[232, 190, 160], [224, 172, 140], [198, 134, 96], [141, 85, 50], [96, 60, 40]], np.float32)
    s = skins[rng.integers(len(skins))] * rng.uniform(0.85, 1.1, 3)
    return _Scene(
        white=rng.uniform(0.82, 0.97), black=rng.uniform(0.05, 0.14), black_hi=rng.uniform(0.22, 0.34),
        line=rng.uniform(0.35, 0.6), body_rgb=rng.uniform(0.05, 0.3) * rng.uniform(0.6, 1.0, 3),
        tint=np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 1.0)], np.float32),
        skin_rgb=np.clip(s / 255.0, 0, 1), press_white=rng.uniform(0.18, 0.3),
        press_black=rng.uniform(0.6, 0.9), light_dir=rng.normal(size=2), light_amp=rng.uniform(0.0, 0.25),
        flicker=rng.uniform(0.0, 0.04), noise=rng.uniform(0.0, 0.025), jitter_px=rng.uniform(0.0, 1.5),
        hand_split=float(rng.uniform(24, 32)))


class _Layers:
    """Base and pressed intensity of every pixel of a view plus its key label."""

    def __init__(self, u: np.ndarray, v: np.ndarray, sc: _Scene, rng: np.random.Generator):
        lab = key_labels(u, v)
        self.lab = lab
        base = np.zeros(u.shape, np.float32)
        press = np.zeros(u.shape, np.float32)
        white = lab < N_KEYS
        white &= ~IS_BLACK[np.minimum(lab, N_KEYS - 1)]
        black = (lab < N_KEYS) & ~white
        # white keys: slight shading towards the front, pressed: darker with a back shadow
        base[white] = sc.white * (1.0 - 0.06 * v[white])
        press[white] = base[white] * (1.0 - sc.press_white * (1.0 - 0.35 * v[white]))
        # black keys: body plus a highlight on the front part; pressed: highlight gone, darker
        vb = v[black]
        hi = (vb > 0.35 * BLACK_L) & (vb < 0.92 * BLACK_L)
        base[black] = np.where(hi, sc.black_hi, sc.black)
        press[black] = sc.black * sc.press_black
        base[lab == L_LINE] = sc.line
        press[lab == L_LINE] = sc.line
        self.base, self.press = base, press
        self.delta = press - base
        self.key_mask = lab <= L_LINE


def _amounts(roll_f: np.ndarray, vel_f: np.ndarray) -> np.ndarray:
    """Per-label shade amount (91,) for one frame: 0 unpressed, 0.55..1 with velocity."""
    a = np.zeros(L_OUT + 1, np.float32)
    a[:N_KEYS] = roll_f * (0.55 + 0.45 * vel_f.astype(np.float32) / 127.0)
    return a


class _Hands:
    """Two hands following the pressed keys (smoothed), fingers on pressed keys, a stray
    occluder. Geometry in canonical (u, v)."""

    def __init__(self, sc: _Scene, rng: np.random.Generator):
        self.split = sc.hand_split
        self.pos = [self.split - 8.0, self.split + 8.0]
        self.rng = rng
        self.palm_w = rng.uniform(2.2, 3.0)
        self.palm_v = rng.uniform(1.05, 1.35)
        self.stray = rng.random() < 0.5
        self.stray_u = rng.uniform(0, N_WHITE)

    def step(self, roll_f: np.ndarray):
        """Shapes for this frame: ("e", u, v, ru, rv) ellipses, ("l", u0, v0, u1, v1, width) fingers."""
        keys = np.flatnonzero(roll_f)
        out = []
        for h in range(2):
            mine = keys[(KEY_CENTRE[keys] < self.split) == (h == 0)] if len(keys) else keys
            if len(mine):
                target = float(np.mean(KEY_CENTRE[mine]))
                self.pos[h] += 0.5 * (target - self.pos[h])
            else:
                self.pos[h] += self.rng.normal(0, 0.05)
            self.pos[h] = float(np.clip(self.pos[h], 1.0, N_WHITE - 1.0))
            c = self.pos[h]
            out.append(("e", c, self.palm_v, self.palm_w, 0.32))               # palm, over the front edge
            out.append(("e", c + (1 if h == 0 else -1) * 0.6, 1.7, 1.6, 0.5))    # wrist / arm
            for k in mine[:5]:
                if abs(KEY_CENTRE[k] - c) > 5:
                    continue
                tip_v = 0.5 if IS_BLACK[k] else 0.78
                base_u = c + 0.5 * (KEY_CENTRE[k] - c)
                out.append(("l", KEY_CENTRE[k], tip_v, base_u, self.palm_v, 0.34))   # finger
        if self.stray:
            self.stray_u = float(np.clip(self.stray_u + self.rng.normal(0, 0.15), 0, N_WHITE))
            out.append(("e", self.stray_u, 1.25, 1.2, 0.22))
        return out


def _draw_hands(img: np.ndarray, shapes, to_px, value) -> None:
    """Draw canonical shapes onto img through to_px(u, v) -> (x, y, px per u, px per v)."""
    for sh in shapes:
        if sh[0] == "l":   # a finger: a thick line from tip to palm
            _, u0, v0, u1, v1, th = sh
            p0, p1 = to_px(u0, v0), to_px(u1, v1)
            t = max(1, int(round(th * p0[2])))
            cv2.line(img, (int(round(p0[0])), int(round(p0[1]))), (int(round(p1[0])), int(round(p1[1]))),
                     value, t, cv2.LINE_AA)
        else:
            _, u, v, ru, rv = sh
            x, y, sx, sy = to_px(u, v)
            axes = (max(1, int(ru * sx)), max(1, int(rv * sy)))
            cv2.ellipse(img, (int(round(x)), int(round(y))), axes, 0, 0, 360, value, -1, cv2.LINE_AA)


def _lighting(shape, sc: _Scene) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = sc.light_dir / (np.linalg.norm(sc.light_dir) + 1e-9)
    g = ((xx / w - 0.5) * d[0] + (yy / h - 0.5) * d[1]) * 2
    return (1.0 + sc.light_amp * g).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# rectified view (training data): the keyboard box maps to (0,0)-(W,H), with a per-video
# misalignment (as a localisation error would give) and per-frame jitter

def render_rectified(notes, fps: float, size=(624, 48), seed: int = 0, n_frames: int | None = None,
                     misalign: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gray frames (n, H, W) uint8 of the rectified keyboard, roll, velocity. ``misalign``
    scales the per-video box error (0.3 white keys shift, 1.5 % scale, 4 % edge offsets)."""
    rng = np.random.default_rng(seed)
    W, H = size
    roll, vel = roll_of(notes, fps, n_frames)
    sc = _scene(rng)
    m = misalign
    du = rng.normal(0, 0.25 * m)
    su = 1.0 + rng.normal(0, 0.012 * m)
    dv0, dv1 = rng.normal(0, 0.035 * m), rng.normal(0, 0.035 * m)
    skew = rng.normal(0, 0.12 * m)    # u shift per unit v (rotation / keystone residue)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    v = dv0 + (yy + 0.5) / H * (1 + dv1 - dv0)
    u = ((xx + 0.5) / W * N_WHITE - N_WHITE / 2) * su + N_WHITE / 2 + du + skew * (v - 0.5)
    L = _Layers(u, v, sc, rng)
    bg = np.where(L.lab == L_BODY, float(np.mean(sc.body_rgb)), 0.3).astype(np.float32)
    light = _lighting((H, W), sc)
    hands = _Hands(sc, rng)
    skin = float(np.dot(sc.skin_rgb, [0.299, 0.587, 0.114]))
    sxu, syv = W / N_WHITE / su, H / (1 + dv1 - dv0)

    def to_px(uu, vv):
        return ((uu - du - skew * (vv - 0.5) - N_WHITE / 2) / su + N_WHITE / 2) * W / N_WHITE, \
               (vv - dv0) * syv, sxu, syv

    out = np.empty((len(roll), H, W), np.uint8)
    for f in range(len(roll)):
        a = _amounts(roll[f], vel[f])
        img = np.where(L.key_mask, L.base + L.delta * a[L.lab], bg)
        _draw_hands(img, hands.step(roll[f]), to_px, skin)
        img *= light * (1 + sc.flicker * rng.standard_normal())
        if sc.jitter_px > 0:
            M = np.float32([[1, 0, rng.normal(0, sc.jitter_px * 0.4)], [0, 1, rng.normal(0, sc.jitter_px * 0.3)]])
            img = cv2.warpAffine(img, M, (W, H), borderMode=cv2.BORDER_REPLICATE)
        img += rng.normal(0, sc.noise, img.shape).astype(np.float32)
        out[f] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return out, roll, vel


def compress_gray(frames: np.ndarray, crf: int, fps: float = 30) -> np.ndarray:
    """Round-trip gray frames through libx264 yuv420p (in memory) and back."""
    import av

    n, h, w = frames.shape
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=int(round(fps)))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": str(int(crf)), "preset": "ultrafast", "tune": "zerolatency"}
        s.thread_count = 1
        for f in frames:
            vf = av.VideoFrame.from_ndarray(f, format="gray")
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    buf.seek(0)
    out = np.empty_like(frames)
    i = 0
    with av.open(buf) as c:
        c.streams.video[0].thread_count = 1
        for fr in c.decode(video=0):
            if i < n:
                out[i] = fr.to_ndarray(format="gray")
            i += 1
    if i < n:
        out[i:] = out[max(i - 1, 0)]
    return out


# ---------------------------------------------------------------------------------------------
# full frame (localisation, evaluation, tests, benchmark)

def random_placement(size, rng: np.random.Generator) -> np.ndarray:
    """Corner points (4, 2) float32 of the keyboard's key area: back-left, back-right,
    front-right, front-left (back = where the black keys are)."""
    W, H = size
    width = W * rng.uniform(0.6, 0.92)
    depth = width / N_WHITE * KEY_ASPECT * rng.uniform(0.85, 1.1)
    ang = np.radians(rng.uniform(-6, 6))
    cx = W / 2 + rng.uniform(-1, 1) * max(0.0, (W - width) / 2 - 0.04 * W)
    cy = H / 2 + rng.uniform(-1, 1) * max(0.0, (H - depth) / 2 - 0.12 * H)
    keyst = rng.uniform(-0.06, 0.06)   # back edge shorter/longer than the front (perspective)
    pts = np.array([[-width / 2 * (1 - keyst), -depth / 2], [width / 2 * (1 - keyst), -depth / 2],
                    [width / 2 * (1 + keyst), depth / 2], [-width / 2 * (1 + keyst), depth / 2]])
    R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    return (pts @ R.T + [cx, cy]).astype(np.float32)


def _canon_to_px(corners: np.ndarray) -> np.ndarray:
    src = np.float32([[0, 0], [N_WHITE, 0], [N_WHITE, 1], [0, 1]])
    return cv2.getPerspectiveTransform(src, np.float32(corners))


def _clutter(size, rng: np.random.Generator) -> np.ndarray:
    W, H = size
    base = rng.uniform(0.15, 0.55, 3).astype(np.float32)
    img = np.ones((H, W, 3), np.float32) * base
    for _ in range(int(rng.integers(6, 18))):
        col = tuple(float(c) for c in np.clip(base + rng.normal(0, 0.15, 3), 0, 0.75))
        x, y = int(rng.uniform(0, W)), int(rng.uniform(0, H))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + int(rng.uniform(20, W / 4)), y + int(rng.uniform(20, H / 4))), col, -1)
        else:
            cv2.circle(img, (x, y), int(rng.uniform(10, H / 6)), col, -1)
    return cv2.GaussianBlur(img, (0, 0), 1.5)


def render_frames(notes, fps: float, size=(1280, 720), seed: int = 0, n_frames: int | None = None,
                  corners: np.ndarray | None = None, piano: bool = True,
                  info: dict | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) of a full top-down scene. The keyboard corners (random from
    the seed unless given) go into ``info['corners']``, the roll/velocity into info['roll'] /
    info['velocity']. piano=False draws the scene without any keyboard (hands and clutter only)."""
    rng = np.random.default_rng(seed)
    W, H = size
    roll, vel = roll_of(notes, fps, n_frames)
    sc = _scene(rng)
    if corners is None:
        corners = random_placement(size, rng)
    Hm = _canon_to_px(corners)
    Hinv = np.linalg.inv(Hm)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    pts = np.stack([xx + 0.5, yy + 0.5, np.ones_like(xx)], -1) @ Hinv.T.astype(np.float32)
    u, v = pts[..., 0] / pts[..., 2], pts[..., 1] / pts[..., 2]
    L = _Layers(u, v, sc, rng)
    if not piano:
        L.lab[:] = L_OUT
        L.key_mask[:] = False
    bg = _clutter(size, rng)
    body = L.lab == L_BODY
    bg[body] = sc.body_rgb
    light = _lighting((H, W), sc)[..., None]
    hands = _Hands(sc, rng)
    skin = tuple(float(c) for c in sc.skin_rgb)
    if info is not None:
        info.update(corners=np.float32(corners), roll=roll, velocity=vel)

    def to_px(uu, vv):
        p = Hm @ np.array([uu, vv, 1.0])
        q = Hm @ np.array([uu + 1, vv, 1.0])
        r = Hm @ np.array([uu, vv + 1, 1.0])
        x, y = p[0] / p[2], p[1] / p[2]
        return x - 0.5, y - 0.5, float(np.hypot(q[0] / q[2] - x, q[1] / q[2] - y)), \
            float(np.hypot(r[0] / r[2] - x, r[1] / r[2] - y))

    km = L.key_mask
    light = light[..., 0]
    bg = bg * light[..., None]
    base_km, delta_km, lab_km = L.base[km] * light[km], L.delta[km] * light[km], L.lab[km]
    tint = sc.tint.astype(np.float32)
    pad = 16
    noise = (rng.normal(0, sc.noise * 255, (H + pad, W + pad)).astype(np.float32)
             if sc.noise > 0 else None)
    for f in range(len(roll)):
        a = _amounts(roll[f], vel[f])
        img = bg.copy()
        g = base_km + delta_km * a[lab_km]
        img[km] = g[:, None] * tint
        _draw_hands(img, hands.step(roll[f]), to_px, skin)
        if sc.jitter_px > 0:
            M = np.float32([[1, 0, rng.normal(0, sc.jitter_px)], [0, 1, rng.normal(0, sc.jitter_px)]])
            img = cv2.warpAffine(img, M, (W, H), borderMode=cv2.BORDER_REPLICATE)
        img *= 255 * (1 + sc.flicker * rng.standard_normal())
        if noise is not None:
            oy, ox = rng.integers(0, pad, 2)
            img += noise[oy:oy + H, ox:ox + W, None]
        yield cv2.convertScaleAbs(img)


def write_video(path, notes, fps: float = 30, size=(1280, 720), seed: int = 0, crf: int = 23,
                n_frames: int | None = None, corners=None, piano: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render and encode (PyAV libx264, yuv420p) a video; returns (roll (n, 88) bool,
    velocity (n, 88) uint8, keyboard corners (4, 2) float32)."""
    import av

    info: dict = {}
    W, H = size
    with av.open(str(Path(path)), "w") as c:
        s = c.add_stream("libx264", rate=int(round(fps)))
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"crf": str(int(crf)), "preset": "veryfast"}
        for fr in render_frames(notes, fps, size, seed, n_frames, corners, piano, info):
            for p in s.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return info["roll"], info["velocity"], info["corners"]


def read_video(path) -> Iterator[tuple[np.ndarray, float]]:
    """(RGB frame, fps) of each frame of a video (tests and evaluation)."""
    import av

    with av.open(str(path)) as c:
        st = c.streams.video[0]
        fps = float(st.average_rate or 30)
        for fr in c.decode(st):
            yield fr.to_ndarray(format="rgb24"), fps


def scale_and_chord(fps: float = 30) -> list[Note]:
    """A C major scale (C4..C5, 0.3 s each) then a C major chord - the tests' known roll."""
    notes = [Note(0.4 + 0.3 * i, 0.25, p, 90) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    notes += [Note(3.0, 0.8, p, 100) for p in (48, 60, 64, 67)]
    return notes
