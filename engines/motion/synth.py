"""Labelled synthetic action sequences of 2-D body keypoints (numpy only): the motion engine's
training and evaluation data. Everything here is SYNTHETIC: simple kinematic models of a
front-facing person, not recordings of people.

``synthesize(segments, fps, seed)`` renders one person doing a list of ``(action, seconds)``
segments one after the other (0.3 s cross-fades between them), through a random camera (scale,
offset, roll, the body turned up to 40 degrees from it), with jitter, low confidences, short drop-outs, sometimes legs out of frame or no
hand landmarks, and the readers' normalisation (``engines.performer.keypoints.normalise``: neck
at 0, shoulder width 1, y down), exactly as a keypoint file the user brings. Returns the
Keypoints and the true boundaries (seconds).

Actions (``ACTIONS``), each with a random tempo, amplitude and phase per segment:

* ``still``: standing, sway and breathing, arms hanging;
* ``walk``: walking in place, alternating knee lifts, arms swinging in counter-phase;
* ``side_step``: stepping side to side, feet apart and together, torso leaning;
* ``jump``: jumping on the spot, crouch at take-off / landing, arms swinging up;
* ``wave``: one arm raised above the head, waving side to side;
* ``clap``: both hands meeting in front of the chest;
* ``drum``: hands striking alternately at waist height;
* ``spin``: turning round on the spot, arms out (the shoulders and hips narrow and swap).

The person's global translation (a jump's flight, a side step's travel) is lost in the
normalisation, as in every keypoint file the studio reads: the actions differ by the body's
shape over time.
"""
from __future__ import annotations

import numpy as np

from engines.performer.gestures import arm_elbow, camera_view
from engines.performer.keypoints import J, JOINTS

ACTIONS = ("still", "walk", "side_step", "jump", "wave", "clap", "drum", "spin")
FADE_S = 0.3
# tempo ranges (cycles per second) per action
TEMPO = {"still": (0.1, 0.3), "walk": (0.7, 1.2), "side_step": (0.35, 0.8), "jump": (0.8, 1.6),
         "wave": (1.2, 2.6), "clap": (1.2, 2.6), "drum": (1.6, 3.2), "spin": (0.3, 0.7)}


def _pose(action: str, t: np.ndarray, rng, body: dict) -> np.ndarray:
    """(T, J, 2) body-frame joints (neck at 0 before sway; shoulder half-width ~0.5) of one action."""
    n = len(t)
    f = rng.uniform(*TEMPO[action])
    f *= 1.0 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t + rng.uniform(0, 6.3))  # tempo drift
    dt = float(t[1] - t[0]) if n > 1 else 1.0 / 30.0
    ph = 2 * np.pi * np.cumsum(f) * dt + rng.uniform(0, 6.3)
    amp = rng.uniform(0.7, 1.3)
    s, c = np.sin(ph), np.cos(ph)
    sw, hw = body["sw"], body["hw"]
    xy = np.zeros((n, len(JOINTS), 2))
    xy[:, J["nose"]] = (rng.normal(0, 0.03), -0.8 * body["head"])
    rest_w = {-1.0: np.array([-body["arm_x"], 1.45]), 1.0: np.array([body["arm_x"], 1.45])}
    wr = {side: np.tile(rest_w[side], (n, 1)) + rng.normal(0, 0.03, 2) for side in (-1.0, 1.0)}
    legs = {side: {"knee": np.tile([side * body["leg_x"], 1.75 + body["thigh"]], (n, 1)),
                   "ankle": np.tile([side * body["leg_x"], 1.75 + body["thigh"] + body["shin"]], (n, 1))}
            for side in (-1.0, 1.0)}
    hip_shift = np.zeros((n, 2))
    turn = np.full(n, np.cos(body["yaw"]))  # cos of the body's yaw to the camera
    if action == "still":
        for side in (-1.0, 1.0):
            wr[side] = wr[side] + 0.03 * amp * np.stack([s, c], -1)
    elif action == "walk":
        for side, lift in ((-1.0, np.maximum(0, s)), (1.0, np.maximum(0, -s))):
            lift = 0.55 * amp * lift
            legs[side]["knee"] = legs[side]["knee"] + np.stack([0.05 * side * lift, -0.9 * lift], -1)
            legs[side]["ankle"] = legs[side]["ankle"] + np.stack([0.0 * lift, -0.75 * lift], -1)
            swing = -side * s  # arms in counter-phase to the legs
            wr[side] = wr[side] + np.stack([0.05 * side * np.abs(swing), -0.22 * amp * swing], -1)
        hip_shift[:, 1] = -0.04 * amp * np.abs(s)
    elif action == "side_step":
        w = 0.5 + 0.5 * s  # 1: feet apart, 0: together
        lean = 0.12 * amp * np.sin(ph + 0.8)
        for side in (-1.0, 1.0):
            out = side * 0.4 * amp * w
            legs[side]["ankle"] = legs[side]["ankle"] + np.stack([out, -0.05 * (1 - w)], -1)
            legs[side]["knee"] = legs[side]["knee"] + np.stack([0.5 * out, 0.02 * w], -1)
            wr[side] = wr[side] + np.stack([side * 0.15 * amp * w, -0.1 * amp * w], -1)
        hip_shift[:, 0] = lean
        hip_shift[:, 1] = 0.06 * amp * w
    elif action == "jump":
        u = (ph / (2 * np.pi)) % 1.0  # 0 take-off .. 0.5 top .. 1 landing
        crouch = amp * np.exp(-0.5 * (np.minimum(u, 1 - u) / 0.1) ** 2)  # crouched at ground contact
        up = np.sin(np.pi * u) ** 2
        for side in (-1.0, 1.0):
            legs[side]["knee"] = legs[side]["knee"] + np.stack([side * 0.25 * crouch, -0.35 * crouch], -1)
            legs[side]["ankle"] = legs[side]["ankle"] + np.stack([0.0 * crouch, -0.55 * crouch + 0.08 * up], -1)
            wr[side] = wr[side] + np.stack([side * 0.45 * amp * up, -1.9 * amp * up + 0.15 * crouch], -1)
        hip_shift[:, 1] = 0.08 * crouch
    elif action == "wave":
        side = body["hand"]
        wr[side] = np.stack([side * (0.75 + 0.35 * amp * s), np.full(n, -1.05) + 0.08 * np.abs(c)], -1)
    elif action == "clap":
        gap = 0.5 + 0.5 * np.cos(ph)  # 0: hands together
        for side in (-1.0, 1.0):
            wr[side] = np.stack([side * (0.06 + 0.45 * amp * gap), np.full(n, 0.85) - 0.1 * amp * gap], -1)
    elif action == "drum":
        for side, q in ((-1.0, s), (1.0, -s)):
            hit = np.maximum(0, q) ** 0.7
            wr[side] = np.stack([np.full(n, side * 0.38), 1.25 - 0.35 * amp * hit], -1)
    elif action == "spin":
        turn = np.cos(ph + body["yaw"])
        for side in (-1.0, 1.0):
            wr[side] = np.tile([side * 1.25, 0.55], (n, 1)) + np.stack([np.zeros(n), 0.1 * amp * s], -1)
        xy[:, J["nose"], 0] = 0.35 * np.sin(ph)
        for side, lift in ((-1.0, np.maximum(0, s)), (1.0, np.maximum(0, -s))):
            legs[side]["ankle"] = legs[side]["ankle"] + np.stack([np.zeros(n), -0.2 * lift], -1)
    for side, p in ((-1.0, "r"), (1.0, "l")):
        xy[:, J[f"{p}_shoulder"]] = (side * sw, 0.0)
        xy[:, J[f"{p}_hip"]] = np.stack([np.full(n, side * hw), np.full(n, 1.75)], -1) + hip_shift
        xy[:, J[f"{p}_knee"]] = legs[side]["knee"] + hip_shift * [0.6, 1.0]
        xy[:, J[f"{p}_ankle"]] = legs[side]["ankle"] + hip_shift * [0.3, 0.0]
        elbow, w = arm_elbow(xy[:, J[f"{p}_shoulder"]], wr[side], body["ua"], body["fa"], side)
        xy[:, J[f"{p}_elbow"]] = elbow
        xy[:, J[f"{p}_wrist"]] = w
        u = w - elbow
        u /= np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-6)

        def rot(a, u=u):
            ca, sa = np.cos(a), np.sin(a)
            return np.stack([ca * u[:, 0] - sa * u[:, 1], sa * u[:, 0] + ca * u[:, 1]], -1)
        xy[:, J[f"{p}_index"]] = w + 0.32 * rot(0.15 * side)
        xy[:, J[f"{p}_thumb"]] = w + 0.22 * rot(0.7 * side)
        xy[:, J[f"{p}_pinky"]] = w + 0.26 * rot(-0.5 * side)
    xy[:, :, 0] *= turn[:, None]  # yaw: the body narrows and mirrors (front view)
    return xy


def synthesize(segments, fps: float = 30.0, seed: int = 0, realism: float = 1.0):
    """``segments``: list of (action, seconds) -> (Keypoints, boundaries_s list, labels list)."""
    rng = np.random.default_rng(seed)
    durs = [float(d) for _, d in segments]
    total = sum(durs)
    n = max(2, int(round(total * fps)))
    t = np.arange(n) / fps
    body = {"sw": 0.5 * rng.uniform(0.9, 1.1), "hw": 0.35 * rng.uniform(0.85, 1.15), "head": rng.uniform(0.9, 1.1),
            "ua": rng.uniform(0.7, 0.82), "fa": rng.uniform(0.65, 0.76), "arm_x": rng.uniform(0.5, 0.7),
            "leg_x": rng.uniform(0.3, 0.45), "thigh": rng.uniform(0.95, 1.1), "shin": rng.uniform(0.9, 1.05),
            "hand": float(rng.choice([-1.0, 1.0])), "yaw": rng.uniform(-0.7, 0.7)}
    edges = np.concatenate([[0.0], np.cumsum(durs)])
    xy = np.zeros((n, len(JOINTS), 2))
    wsum = np.zeros(n)
    for k, (action, _) in enumerate(segments):
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}")
        a, b = edges[k], edges[k + 1]
        lo = a - FADE_S / 2 if k else -1.0
        hi = b + FADE_S / 2 if k < len(segments) - 1 else total + 1.0
        w = np.clip(np.minimum((t - lo) / FADE_S, (hi - t) / FADE_S), 0.0, 1.0) if len(segments) > 1 else np.ones(n)
        m = w > 0
        xy[m] += w[m, None, None] * _pose(action, t[m], rng, body)
        wsum += w
    xy /= np.maximum(wsum, 1e-6)[:, None, None]
    # sway, breathing, global motion (lost in the normalisation but kept for honesty)
    sway = realism * np.stack([0.03 * np.sin(2 * np.pi * rng.uniform(0.1, 0.35) * t + rng.uniform(0, 6.3)),
                               0.015 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6.3))], -1)
    xy += sway[:, None]
    xy[:, [J["r_shoulder"], J["l_shoulder"]], 1] -= realism * 0.01 * np.sin(2 * np.pi * 0.25 * t)[:, None]
    conf = np.ones((n, len(JOINTS)))
    if realism > 0:
        conf = rng.uniform(0.6, 1.0, (n, len(JOINTS)))
        jit = realism * rng.uniform(0.003, 0.02)
        xy += rng.normal(0, jit, xy.shape)
        hand = [J[x] for x in ("r_thumb", "r_index", "r_pinky", "l_thumb", "l_index", "l_pinky")]
        if rng.random() < 0.1 * realism:  # legs out of frame
            conf[:, [J[x] for x in ("r_knee", "l_knee", "r_ankle", "l_ankle")]] = 0.0
        if rng.random() < 0.25 * realism:  # no hand model
            conf[:, hand] = 0.0
        for j in range(len(JOINTS)):  # short drop-outs
            for _ in range(rng.poisson(0.5 * realism * total / 20.0)):
                a = int(rng.integers(n))
                conf[a:a + int(rng.integers(2, max(3, int(0.4 * fps)))), j] = rng.uniform(0, 0.2)
    kp = camera_view(xy, conf, fps, rng, realism)
    return kp, [float(e) for e in edges[1:-1]], [a for a, _ in segments]


def random_segments(rng, n_min: int = 2, n_max: int = 5, dur=(3.0, 8.0)) -> list[tuple[str, float]]:
    """A random multi-action sequence: consecutive actions differ."""
    k = int(rng.integers(n_min, n_max + 1))
    out, prev = [], None
    for _ in range(k):
        a = str(rng.choice([x for x in ACTIONS if x != prev]))
        out.append((a, float(rng.uniform(*dur))))
        prev = a
    return out


def random_fps(rng) -> float:
    return float(rng.choice([24.0, 25.0, 30.0, 30.0, 50.0, 60.0]))
