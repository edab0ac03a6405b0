"""MIDI event tokens (Foley Music's vocabulary) and the encoder's frame features (numpy only).

Tokens: PAD, BOS, EOS, NOTE_ON(pitch 0..127), NOTE_OFF(pitch), TIME_SHIFT(10 ms .. 1 s in 10 ms
bins), SET_VELOCITY(16 bins). Drums have no NOTE_OFF (a hit lasts ``DRUM_DUR_S``). A window's
events are sorted by time (offs before ons at the same time); a velocity token only when the
bin changes. The decoder also gets a clock: the time (10 ms units) reached so far in the window.
"""
from __future__ import annotations

import numpy as np

PAD, BOS, EOS = 0, 1, 2
ON0 = 3
OFF0 = ON0 + 128
TS0 = OFF0 + 128
N_TS = 100  # 10 ms .. 1 s
VEL0 = TS0 + N_TS
N_VEL = 16
VOCAB = VEL0 + N_VEL
TICK_S = 0.01
FPS = 30.0  # model frame rate (keypoints are resampled to it)
WINDOW_S = 4.0
WINDOW_FRAMES = int(WINDOW_S * FPS)
MAX_LEN = 320
DRUM_DUR_S = 0.1
INSTRUMENTS = ("drums", "guitar", "violin", "piano")
PITCH_RANGE = {"drums": (35, 59), "guitar": (40, 88), "violin": (55, 103), "piano": (21, 108)}
DRUM_PITCHES = (36, 38, 42, 46, 45, 48, 50, 49, 51)


def vel_bin(v: float) -> int:
    return int(np.clip((int(v) - 1) * N_VEL // 127, 0, N_VEL - 1))


def bin_vel(b: int) -> int:
    return int(np.clip(round((b + 0.5) * 127 / N_VEL), 1, 127))


def notes_to_tokens(notes, instrument: str, t0: float, length_s: float = WINDOW_S) -> list[int]:
    """Notes (start_s, dur_s, pitch, velocity) starting in [t0, t0 + length) -> BOS ... EOS."""
    ev = []
    for s, d, p, v in notes:
        if not t0 <= s < t0 + length_s:
            continue
        a = int(round((s - t0) / TICK_S))
        ev.append((a, 1, int(p), int(v)))
        if instrument != "drums":
            b = int(round((s + d - t0) / TICK_S))
            if b < round(length_s / TICK_S):
                ev.append((max(b, a + 1), 0, int(p), 0))
    ev.sort(key=lambda e: (e[0], e[1], e[2]))
    toks, clock, vb = [BOS], 0, -1
    for a, on, p, v in ev:
        while a > clock:
            k = min(N_TS, a - clock)
            toks.append(TS0 + k - 1)
            clock += k
        if on:
            b = vel_bin(v)
            if b != vb:
                toks.append(VEL0 + b)
                vb = b
            toks.append(ON0 + p)
        else:
            toks.append(OFF0 + p)
    toks.append(EOS)
    return toks


def clocks(tokens) -> np.ndarray:
    """Clock (10 ms units) after each token."""
    t = np.asarray(tokens)
    shift = np.where((t >= TS0) & (t < TS0 + N_TS), t - TS0 + 1, 0)
    return np.cumsum(shift).astype(np.float32)


def tokens_to_notes(tokens, instrument: str, t0: float, length_s: float = WINDOW_S):
    """Decoded tokens -> notes (start_s, dur_s, pitch, velocity); open notes end at the window end."""
    clock, vel, open_ = 0, 80, {}
    out = []
    for tok in tokens:
        tok = int(tok)
        if tok == EOS:
            break
        if TS0 <= tok < TS0 + N_TS:
            clock += tok - TS0 + 1
        elif VEL0 <= tok < VEL0 + N_VEL:
            vel = bin_vel(tok - VEL0)
        elif ON0 <= tok < OFF0:
            p = tok - ON0
            s = t0 + clock * TICK_S
            if instrument == "drums":
                out.append((s, DRUM_DUR_S, p, vel))
            else:
                if p in open_:  # re-struck before its off
                    a, v = open_.pop(p)
                    out.append((a, max(0.02, s - a), p, v))
                open_[p] = (s, vel)
        elif OFF0 <= tok < TS0:
            p = tok - OFF0
            if p in open_:
                a, v = open_.pop(p)
                out.append((a, max(0.02, t0 + clock * TICK_S - a), p, v))
    end = t0 + length_s
    for p, (a, v) in open_.items():
        out.append((a, max(0.05, end - a), p, v))
    return sorted(out)


N_FEAT = 10  # per-joint frame features (see frame_features)


def onset_channels(onsets, n_frames: int, fps: float = FPS) -> np.ndarray:
    """Motion-onset times (s, from the keypoints alone: ``gestures.gesture_onsets``) -> (T, 3) per
    frame: a bump at the nearest onset (exp(-dt^2 / 2 frame^2)), time to the next onset and since
    the previous one (s, clipped to 0..1)."""
    t = np.arange(n_frames) / fps
    g = np.sort(np.asarray(onsets if onsets is not None else [], np.float64))
    out = np.zeros((n_frames, 3), np.float32)
    out[:, 1:] = 1.0
    if len(g) == 0 or n_frames == 0:
        return out
    i = np.searchsorted(g, t)  # g[i - 1] < t <= g[i]
    nxt = np.where(i < len(g), g[np.minimum(i, len(g) - 1)] - t, np.inf)
    prv = np.where(i > 0, t - g[np.maximum(i - 1, 0)], np.inf)
    near = np.minimum(nxt, prv)
    out[:, 0] = np.exp(-0.5 * (near * fps) ** 2)
    out[:, 1] = np.clip(nxt, 0.0, 1.0)
    out[:, 2] = np.clip(prv, 0.0, 1.0)
    return out


def frame_features(xy: np.ndarray, conf: np.ndarray, fps: float = FPS, onsets=None) -> np.ndarray:
    """(T, J, 2) normalised positions + (T, J) confidences (+ motion-onset times in s) -> (T, J,
    N_FEAT): x, y, vx, vy (units/s, scaled by 0.1), seen flag, ax, ay (units/s^2, scaled by 0.01),
    and the frame's ``onset_channels`` (the same for every joint)."""
    xy = np.asarray(xy, np.float32)
    v = np.gradient(xy, axis=0) * fps if len(xy) > 1 else np.zeros_like(xy)
    acc = np.gradient(v, axis=0) * fps if len(xy) > 1 else np.zeros_like(xy)
    seen = (np.asarray(conf) >= 0.3).astype(np.float32)[..., None]
    oc = np.broadcast_to(onset_channels(onsets, len(xy), fps)[:, None, :], (len(xy), xy.shape[1], 3))
    return np.concatenate([xy, np.clip(v * 0.1, -5, 5), seen, np.clip(acc * 0.01, -5, 5), oc], -1).astype(np.float32)
