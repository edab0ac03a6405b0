"""Kinematic models of playing gestures (numpy only): notes -> keypoint sequences, and onsets
detected back from the keypoints alone.

``synthesize(notes, instrument, fps, seed=...)`` turns a performance (``(start_s, dur_s, pitch,
velocity)`` tuples) into the keypoints a camera would see of a (right-handed, front-facing)
player: image axes (x right, y down), person's right on the image left.

* drums: each hit is a stick-hand wrist drop onto the drum's place (a cusp: fastest at the
  contact, then the rebound); cymbals go to the right hand, the snare to the left, toms to the
  free hand; the kick lifts and drops the right ankle / knee. Lift height ~ velocity, wind-up
  starts earlier before long gaps (anticipation).
* guitar: the strumming wrist crosses the strings at each onset (down / up strokes alternate,
  a downstroke after a pause, faster and longer when louder); the fretting wrist's x along the
  neck follows the lowest pitch and moves in just before the chord.
* violin: the bowing wrist runs along the bow and reverses at each onset (stroke speed ~
  velocity, bow length respected); the bow arm's height follows the string (pitch); the left
  hand's place and fingers follow the pitch.
* piano: each hand's x follows its notes' pitch (split at middle C), the wrist and index
  fingertip dip at each onset (depth ~ velocity).

Realism: per-performer proportions, idle sway, breathing, camera scale / offset / roll,
keypoint jitter, dropped joints (short gaps, missing hands or legs), low confidences. The result
goes through ``keypoints.normalise`` like any file the user brings.
"""
from __future__ import annotations

import numpy as np

from engines.performer.keypoints import JOINTS, J, Keypoints, normalise

INSTRUMENTS = ("drums", "guitar", "violin", "piano")

# drum places (x, y of the contact) per GM pitch; hand preference: 0 right, 1 left, 2 free
_DRUM = {36: None, 38: ((0.15, 1.45), 1), 42: ((0.55, 1.25), 0), 46: ((0.58, 1.22), 0),
         45: ((-0.65, 1.5), 2), 48: ((-0.2, 1.15), 2), 50: ((0.2, 1.15), 2), 49: ((0.75, 0.85), 0),
         51: ((-0.75, 1.0), 0)}


def _ease(u, kind):
    if kind == "in":  # accelerate into the key (a strike)
        return u * u
    if kind == "out":  # decelerate away from the previous key (a rebound)
        return 1.0 - (1.0 - u) ** 2
    return u * u * (3.0 - 2.0 * u)


def _path(keys, t):
    """keys: sorted list of (time, (x, y), ease of the segment arriving at it) -> (T, 2)."""
    kt = np.array([k[0] for k in keys], np.float64)
    kv = np.array([k[1] for k in keys], np.float64)
    order = np.argsort(kt, kind="stable")
    kt, kv = kt[order], kv[order]
    eases = [keys[i][2] for i in order]
    i = np.clip(np.searchsorted(kt, t, side="right"), 1, len(kt) - 1)
    t0, t1 = kt[i - 1], kt[i]
    u = np.clip((t - t0) / np.maximum(t1 - t0, 1e-6), 0.0, 1.0)
    w = np.empty_like(u)
    for kind in ("in", "out", "smooth"):
        m = np.array([eases[j] == kind for j in i])
        if m.any():
            w[m] = _ease(u[m], kind)
    out = kv[i - 1] + w[:, None] * (kv[i] - kv[i - 1])
    out[t < kt[0]] = kv[0]
    out[t > kt[-1]] = kv[-1]
    return out


def _strikes(hits, rest, rng, lift_scale=1.0, t_end=None):
    """hits: sorted (time, (x, y) contact, velocity) -> keyframes of a striking limb."""
    if not hits:
        return [(0.0, rest, "smooth")]
    keys = [(0.0, rest, "smooth")]
    prev_t = None
    for k, (t, pos, vel) in enumerate(hits):
        lift = lift_scale * (0.12 + 0.45 * vel / 127.0) * rng.uniform(0.85, 1.15)
        gap = np.inf if prev_t is None else t - prev_t
        up = (pos[0], pos[1] - min(lift, 0.9 * lift_scale * max(gap, 0.05) + 0.02))
        if gap > 0.9:  # back to the rest height, then a wind-up (anticipation)
            if prev_t is not None:
                keys.append((prev_t + 0.2, rest, "out"))
            prep = rng.uniform(0.18, 0.3)
            keys.append((t - prep, up, "smooth"))
        else:
            keys.append((prev_t + gap * rng.uniform(0.4, 0.55), up, "out"))
        keys.append((t, pos, "in"))
        prev_t = t
    keys.append((prev_t + 0.25, rest, "out"))
    return keys


def arm_elbow(sh, wr, ua, fa, side):
    """Elbow of a two-link arm (shoulder, wrist), bent outward; the wrist clamped to reach."""
    d = wr - sh
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    reach = 0.98 * (ua + fa)
    wr = np.where(n > reach, sh + d / np.maximum(n, 1e-6) * reach, wr)
    d = wr - sh
    n = np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
    a = (ua ** 2 - fa ** 2 + n ** 2) / (2 * n)
    h = np.sqrt(np.maximum(ua ** 2 - a ** 2, 0.0))
    u = d / n
    perp = np.stack([-u[:, 1], u[:, 0]], -1)
    e1, e2 = sh + a * u + h * perp, sh + a * u - h * perp
    outward = np.where((side * (e1[:, 0] - e2[:, 0]))[:, None] > 0, e1, e2)
    return outward, wr


def _group(notes, tol=0.03):
    """Onsets of notes merged within tol: list of (time, [notes])."""
    out = []
    for n in sorted(notes):
        if out and n[0] - out[-1][0] < tol:
            out[-1][1].append(n)
        else:
            out.append((n[0], [n]))
    return out


def _drums(notes, t, rng, body):
    right, left, kick = [], [], []
    busy = {0: -1.0, 1: -1.0}
    for onset, grp in _group(notes, 0.02):
        grp = sorted(grp, key=lambda n: -n[3])
        used = set()
        for s, d, p, v in grp:
            if p == 36 or p == 35:
                kick.append((s, v))
                continue
            place, pref = _DRUM.get(p) or ((0.15, 1.45), 2)
            hand = pref if pref != 2 else (0 if 0 not in used else 1)
            if hand in used:
                hand = 1 - hand
            if hand in used:
                continue  # a third simultaneous hit: no hand free (still heard)
            used.add(hand)
            pos = (place[0] + rng.normal(0, 0.02), place[1] + rng.normal(0, 0.02))
            (right if hand == 0 else left).append((s, pos, v))
            busy[hand] = s
    rw = _path(_strikes(right, (-0.3, 1.2), rng), t)
    lw = _path(_strikes(left, (0.3, 1.25), rng), t)
    foot = np.zeros((len(t), 2))
    if kick:
        keys = _strikes([(s, (0.0, 0.0), v) for s, v in kick], (0.0, -0.02), rng, lift_scale=0.45)
        foot = _path(keys, t)
    return rw, lw, {"r_ankle": foot, "r_knee": 0.5 * foot}, {}, True


def _guitar(notes, t, rng, body):
    body_c = np.array([-0.25 + rng.normal(0, 0.03), 1.35 + rng.normal(0, 0.03)])
    keys = [(0.0, tuple(body_c + (0.0, -0.25)), "smooth")]
    down_pos = True  # hand is up (ready for a downstroke)
    prev_end = -1.0
    fret_keys = [(0.0, (0.95, 1.05), "smooth")]
    for onset, grp in _group(notes, 0.04):
        v = np.mean([n[3] for n in grp])
        amp = 0.18 + 0.2 * v / 127.0
        dur = np.clip(0.16 - 0.08 * v / 127.0, 0.06, 0.16) * rng.uniform(0.85, 1.15)
        gap = onset - prev_end
        direction = 1.0 if (down_pos or gap > 0.35) else -1.0
        if direction > 0 and not down_pos:  # recovery up in the pause (slow)
            keys.append((max(prev_end + 0.05, onset - dur / 2 - 0.3), tuple(body_c + (0, amp)), "smooth"))
            keys.append((onset - dur / 2 - 0.03, tuple(body_c + (0, -amp)), "smooth"))
        else:
            keys.append((onset - dur / 2, tuple(body_c + (0, -direction * amp)), "smooth"))
        keys.append((onset + dur / 2, tuple(body_c + (rng.normal(0, 0.03), direction * amp)), "smooth"))
        down_pos = direction < 0
        prev_end = onset + dur / 2
        lo = min(n[2] for n in grp)
        fret = float(np.clip(lo - 40, 0, 15))
        pos = (0.75 + 0.055 * fret, 1.1 - 0.018 * fret)
        fret_keys.append((onset - 0.07, fret_keys[-1][1], "smooth"))
        fret_keys.append((onset - 0.01, pos, "smooth"))
    rw = _path(keys, t)
    lw = _path(fret_keys, t)
    return rw, lw, {}, {}, False


def _violin(notes, t, rng, body):
    frog = np.array([0.3, 0.45]) + rng.normal(0, 0.03, 2)
    tip = np.array([-0.9, 0.8]) + rng.normal(0, 0.03, 2)
    b, direction = rng.uniform(0.1, 0.4), 1.0
    keys = [(0.0, (b, 0.0), "smooth")]
    lkeys = [(0.0, (1.05, 0.25), "smooth")]
    notes = sorted(notes)
    for k, (s, d, p, v) in enumerate(notes):
        nxt = notes[k + 1][0] if k + 1 < len(notes) else s + d
        length = max(0.05, min(d, nxt - s))
        speed = (0.35 + 1.3 * v / 127.0) * rng.uniform(0.85, 1.15)
        room = (1.0 - b) if direction > 0 else b
        if room < 0.25:
            direction = -direction
            room = (1.0 - b) if direction > 0 else b
        travel = min(speed * length, room * 0.97)
        string = float(np.clip((p - 55) // 7, 0, 3))
        keys.append((s, (b, string), "smooth"))
        b = b + direction * travel
        keys.append((s + length, (b, string), "smooth"))
        direction = -direction
        x = 1.02 + 0.01 * ((p - 55) % 7) + 0.025 * max(0, p - 76) / 7
        lkeys.append((s - 0.05, lkeys[-1][1], "smooth"))
        lkeys.append((s, (x, 0.25 - 0.015 * string), "smooth"))
    bs = _path(keys, t)
    rw = frog[None] + bs[:, :1] * (tip - frog)[None]
    rw[:, 1] += 0.18 - 0.06 * bs[:, 1]  # the bow arm's height changes with the string (0 = G)
    lw = _path(lkeys, t)
    # left fingers tap at onsets
    fing = np.zeros(len(t))
    for s, d, p, v in notes:
        fing += 0.06 * np.exp(-0.5 * ((t - s - 0.01) / 0.025) ** 2)
    return rw, lw, {}, {"l_index": np.stack([np.zeros_like(fing), fing], -1)}, False


def _piano(notes, t, rng, body):
    split = 60
    hands = {0: [n for n in notes if n[2] >= split], 1: [n for n in notes if n[2] < split]}
    out, fingers = {}, {}
    base_y = 1.3 + rng.normal(0, 0.03)
    for h, ns in hands.items():
        rest_x = -0.5 if h == 0 else 0.5
        hits = []
        for onset, grp in _group(ns, 0.03):
            mp = np.mean([n[2] for n in grp])
            v = max(n[3] for n in grp)
            hits.append((onset, (-(mp - 60) * 0.034 + (-0.1 if h == 0 else 0.1), base_y), v))
        keys = _strikes(hits, (rest_x, base_y - 0.1), rng, lift_scale=0.3)
        out[h] = _path(keys, t)
        dip = np.zeros(len(t))
        for onset, _, v in hits:
            dip += (0.04 + 0.06 * v / 127) * np.exp(-0.5 * ((t - onset - 0.02) / 0.03) ** 2)
        fingers["r_index" if h == 0 else "l_index"] = np.stack([np.zeros_like(dip), dip], -1)
    return out[0], out[1], {}, fingers, True


_MODELS = {"drums": _drums, "guitar": _guitar, "violin": _violin, "piano": _piano}


def synthesize(notes, instrument: str, fps: float = 30.0, duration_s: float | None = None, seed: int = 0,
               realism: float = 1.0) -> Keypoints:
    """Keypoints of a player performing ``notes`` (start_s, dur_s, pitch, velocity) on ``instrument``."""
    if instrument not in _MODELS:
        raise ValueError(f"unknown instrument {instrument!r}; choose from {', '.join(INSTRUMENTS)}")
    rng = np.random.default_rng(seed)
    notes = [tuple(n) for n in notes]
    end = max([n[0] + n[1] for n in notes], default=1.0) + 0.5
    dur = float(duration_s if duration_s is not None else end)
    n = max(1, int(round(dur * fps)))
    t = np.arange(n) / fps
    body = {"sw": 0.5 * rng.uniform(0.92, 1.08), "ua": rng.uniform(0.7, 0.82), "fa": rng.uniform(0.65, 0.76)}
    rw, lw, extra, fingers, seated = _MODELS[instrument](notes, t, rng, body)
    xy = np.zeros((n, len(JOINTS), 2))
    sway = realism * np.stack([0.03 * np.sin(2 * np.pi * rng.uniform(0.1, 0.35) * t + rng.uniform(0, 6.3)),
                               0.015 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6.3))], -1)
    breath = realism * 0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 0.33) * t + rng.uniform(0, 6.3))
    sw = body["sw"]
    xy[:, J["neck"]] = sway
    xy[:, J["nose"]] = sway * 1.5 + (rng.normal(0, 0.05), -0.8 * rng.uniform(0.9, 1.1))
    if instrument == "violin":
        xy[:, J["nose"]] += (0.25, 0.1)  # chin on the instrument
    for s, side in (("r", -1.0), ("l", 1.0)):
        xy[:, J[f"{s}_shoulder"]] = sway + (side * sw, 0.0)
        xy[:, J[f"{s}_shoulder"], 1] -= breath
        xy[:, J[f"{s}_hip"]] = sway * 0.3 + (side * 0.35 * rng.uniform(0.9, 1.1), 1.75)
        kx = side * (0.55 if seated else 0.38)
        xy[:, J[f"{s}_knee"]] = xy[:, J[f"{s}_hip"]] + (kx - side * 0.35, 0.75 if seated else 1.05)
        xy[:, J[f"{s}_ankle"]] = xy[:, J[f"{s}_knee"]] + (0.0, 0.85 if seated else 1.0)
    for name, off in extra.items():
        xy[:, J[name]] += off
    for s, side, w in (("r", -1.0, rw), ("l", 1.0, lw)):
        w = w + sway * 0.6 + rng.normal(0, 0.01, 2)
        elbow, w = arm_elbow(xy[:, J[f"{s}_shoulder"]], w, body["ua"], body["fa"], side)
        xy[:, J[f"{s}_elbow"]] = elbow
        xy[:, J[f"{s}_wrist"]] = w
        u = w - elbow
        u /= np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-6)

        def rot(a):
            c, s_ = np.cos(a), np.sin(a)
            return np.stack([c * u[:, 0] - s_ * u[:, 1], s_ * u[:, 0] + c * u[:, 1]], -1)
        xy[:, J[f"{s}_index"]] = w + 0.32 * rot(0.15 * side)
        xy[:, J[f"{s}_thumb"]] = w + 0.22 * rot(0.7 * side)
        xy[:, J[f"{s}_pinky"]] = w + 0.26 * rot(-0.5 * side)
    for name, off in fingers.items():
        xy[:, J[name]] += off
    conf = np.full((n, len(JOINTS)), 1.0)
    if realism > 0:
        conf = rng.uniform(0.6, 1.0, (n, len(JOINTS)))
        jit = realism * rng.uniform(0.003, 0.015)
        xy += rng.normal(0, jit, xy.shape)
        hand = [J[x] for x in ("r_thumb", "r_index", "r_pinky", "l_thumb", "l_index", "l_pinky")]
        xy[:, hand] += rng.normal(0, jit, (n, len(hand), 2))
        if rng.random() < 0.3 * realism:  # legs out of frame
            conf[:, [J[x] for x in ("r_knee", "l_knee", "r_ankle", "l_ankle")]] = 0.0
        if rng.random() < 0.25 * realism:  # no hand model
            conf[:, hand] = 0.0
        for j in range(len(JOINTS)):  # short drop-outs
            for _ in range(rng.poisson(0.5 * realism * dur / 20.0)):
                a = int(rng.integers(n))
                conf[a:a + int(rng.integers(2, max(3, int(0.4 * fps)))), j] = rng.uniform(0, 0.2)
    return camera_view(xy, conf, fps, rng, realism)


def camera_view(xy: np.ndarray, conf: np.ndarray, fps: float, rng, realism: float) -> np.ndarray:
    """Body-frame joints (T, J, 2) as a camera sees them (scale, roll, offset in pixels, random
    with ``realism`` > 0), then the keypoint readers' normalisation."""
    scale = rng.uniform(80, 400) if realism > 0 else 200.0
    a = rng.normal(0, 0.05) * realism
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    px = xy @ R.T * scale + rng.uniform(200, 800, 2) * (realism > 0)
    return normalise(px, conf, fps)


# -- onsets from the keypoints alone ----------------------------------------------------------
def _smooth(x, k=3):
    if len(x) < k:
        return x
    w = np.ones(k) / k
    pad = np.pad(x, ((k // 2, k // 2),) + ((0, 0),) * (x.ndim - 1), mode="edge")
    return np.apply_along_axis(lambda c: np.convolve(c, w, mode="valid"), 0, pad)


def _reversals(pos, fps, thr, amp):
    """Times where the velocity of pos (T,) goes from > thr (downward, +y) to <= 0 after a drop
    of at least ``amp`` over the last 0.15 s (and a rebound of amp / 2 within 0.15 s)."""
    v = np.gradient(pos) * fps
    w = max(2, int(round(0.15 * fps)))
    out = []
    for i in range(1, len(v) - 1):
        if v[i] > 0 >= v[i + 1] and v[max(0, i - 2):i + 1].max() > thr \
                and pos[i] - pos[max(0, i - w):i + 1].min() > amp and pos[i] - pos[i:i + w + 1].min() > 0.5 * amp:
            f = i + v[i] / max(v[i] - v[i + 1], 1e-9)  # zero crossing between i and i+1
            out.append(f / fps)
    return out


def _merge(times, tol=0.04):
    out = []
    for x in sorted(times):
        if not out or x - out[-1] > tol:
            out.append(x)
    return out


def gesture_onsets(kp: Keypoints, instrument: str) -> np.ndarray:
    """Onset times (s) read from the keypoints of ``instrument``'s playing gesture alone."""
    fps = kp.fps
    xy = kp.xy.astype(np.float64)
    if kp.n_frames < 3:
        return np.zeros(0)
    times: list[float] = []
    if instrument in ("drums", "piano"):
        names = ["r_wrist", "l_wrist"] + (["r_ankle"] if instrument == "drums" else ["r_index", "l_index"])
        for nm in names:
            j = J[nm]
            if instrument == "drums" and nm == "r_ankle" and (kp.conf[:, j] < 0.3).mean() > 0.5:
                continue
            y = _smooth(xy[:, j, 1], 3 if fps > 40 else 1)
            v = np.abs(np.gradient(y) * fps)
            thr = max(0.3 if instrument == "drums" else 0.15, 0.25 * np.percentile(v, 95))
            amp = (0.08 if nm != "r_ankle" else 0.04) if instrument == "drums" else 0.05
            times += _reversals(y, fps, thr, amp)
    elif instrument == "guitar":
        y = xy[:, J["r_wrist"], 1]
        v = np.abs(np.gradient(y) * fps)
        thr = max(0.5, 0.3 * np.percentile(v, 98))
        peaks = []
        for i in range(1, len(v) - 1):
            if v[i] >= v[i - 1] and v[i] > v[i + 1] and v[i] > thr:
                den = v[i - 1] - 2 * v[i] + v[i + 1]
                off = 0.5 * (v[i - 1] - v[i + 1]) / den if abs(den) > 1e-9 else 0.0
                peaks.append(((i + float(np.clip(off, -0.5, 0.5))) / fps, v[i]))
        # a slow return of the hand between strokes (not touching the strings) is a smaller peak
        # than the strokes around it
        for t_, sp in peaks:
            near = [q for u, q in peaks if abs(u - t_) < 0.7]
            if sp >= 0.55 * max(near):
                times.append(t_)
        times = _merge(times, 0.07)
    elif instrument == "violin":
        x = xy[:, J["r_wrist"], 0]
        v = np.gradient(x) * fps
        sp = np.abs(v)
        thr = max(0.08, 0.2 * np.percentile(sp, 90))
        w = max(2, int(round(0.1 * fps)))
        moving = False
        for i in range(len(v) - 1):
            if v[i] * v[i + 1] < 0 or (v[i] != 0 and v[i + 1] == 0):
                before = sp[max(0, i - w):i + 1].max()
                after = sp[i + 1:i + 2 + w].max()
                if before > thr and after > thr:
                    f = i + abs(v[i]) / max(abs(v[i]) + abs(v[i + 1]), 1e-9)
                    times.append(f / fps)
            if not moving and sp[i] > thr and sp[max(0, i - 2 * w):i].max(initial=0) < 0.5 * thr:
                times.append(max(0, i - 1) / fps)
            moving = sp[i] > 0.5 * thr
        times = _merge(times, 0.06)
    else:
        raise ValueError(f"unknown instrument {instrument!r}")
    return np.array(_merge(times), np.float64)
