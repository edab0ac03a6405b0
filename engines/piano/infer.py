"""Piano transcription from a top-down video (Audeo style): keyboard box -> rectified frames ->
Video2Roll (per-frame pressed keys) -> Roll2Midi (cleaned roll + onsets) -> notes.

    from engines.piano.infer import Transcriber
    t = Transcriber().transcribe(frames, fps=30)          # frames: iterable of RGB/gray uint8
    t.notes  -> [PianoNote(start_s, dur_s, pitch, velocity), ...]

Run time: numpy, cv2, onnxruntime only. Frames are streamed: only rectified 624x48 frames are
kept (and only the few the next CNN batch needs), plus, when no box is given, the first
LOCATE_FRAMES full frames until the keyboard is found.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from engines import runtime
from engines.piano.keyboard import RECT_SIZE, KeyboardBox, locate_in_box, locate_keyboard, rectify

N_KEYS = 88
LOWEST = 21
STACK = 5
WINDOW = 64                  # Roll2Midi window (frames); the middle half of each is kept
LOCATE_FRAMES = 30           # full frames buffered to locate the keyboard (median of 9)
FRAME_THRESHOLD = 0.4        # Audeo's frame threshold
ONSET_THRESHOLD = 0.5
# Roll2Midi decides the cells where Video2Roll is unsure; where Video2Roll is confident
# (p >= 1 - CONFIDENT or p <= CONFIDENT) its answer stands. Measured on held-out video: the
# Roll2Midi model alone fills the one-frame releases between fast repeated notes and drops
# one-frame notes (it was trained against drop-outs and short false presses), see README.
CONFIDENT = 0.05


@dataclass
class PianoNote:
    start_s: float
    dur_s: float
    pitch: int
    velocity: int            # 1..127


@dataclass
class Transcription:
    notes: list[PianoNote]
    box: KeyboardBox
    video2roll_probs: np.ndarray          # (T, 88) float32, Video2Roll alone
    roll: np.ndarray                      # (T, 88) bool, after Roll2Midi
    fps: float
    onset_probs: np.ndarray = field(default=None, repr=False)     # (T, 88) Roll2Midi onsets
    roll2midi_probs: np.ndarray = field(default=None, repr=False) # (T, 88) Roll2Midi frame probs
    velocity: np.ndarray = field(default=None, repr=False)        # (T, 88) 0..1 per frame


class Transcriber:
    """Opens both models (ModelError from engines.runtime when missing or corrupt)."""

    def __init__(self, box: KeyboardBox | None = None, *, models_dir: Path | str | None = None,
                 batch: int = 64):
        kw = {} if models_dir is None else {"models_dir": Path(models_dir)}
        self.v2r = runtime.session("piano_video2roll", **kw)
        self.r2m = runtime.session("piano_roll2midi", **kw)
        self.box = box
        self.batch = int(batch)

    # -- Video2Roll over a stream of rectified frames ---------------------------------------
    def _cnn(self, rects: list[np.ndarray], base: int, centres: range, total: int | None):
        """Probabilities and velocities for the centre frames; rects[i] is frame base + i;
        ``total`` is the frame count once the stream has ended (for clamping at the end)."""
        last = (total - 1) if total is not None else base + len(rects) - 1
        off = np.arange(STACK) - STACK // 2
        idx = np.clip(np.asarray(centres)[:, None] + off, 0, last) - base
        idx = np.maximum(idx, 0)
        x = np.stack(rects)[idx].astype(np.float32)       # (B, 5, H, W)
        logits, vel = self.v2r.run(None, {"frames": x})
        return 1.0 / (1.0 + np.exp(-logits)), vel

    def _video2roll(self, frames: Iterable[np.ndarray], progress, n_total):
        rects: list[np.ndarray] = []
        base = 0            # global index of rects[0]
        done = 0            # next centre frame to compute
        n = 0
        probs, vels = [], []
        pending: list[np.ndarray] = []
        box = self.box

        def push(r):
            nonlocal n
            rects.append(r)
            n += 1

        def run_ready(total=None):
            nonlocal done, base, rects
            while True:
                avail = (total if total is not None else n - STACK // 2) - done
                if avail <= 0 or (total is None and avail < self.batch):
                    break
                k = min(self.batch, avail)
                p, v = self._cnn(rects, base, range(done, done + k), total)
                probs.append(p), vels.append(v)
                done += k
                drop = max(0, done - STACK // 2 - base)
                rects = rects[drop:]
                base += drop
                if progress is not None and n_total:
                    progress(min(0.95, 0.95 * done / n_total))

        def locate(pending):  # the whole picture, or inside the user's rough box
            return locate_keyboard(pending) if self.box is None else locate_in_box(pending, self.box)

        for f in frames:
            if box is None or box.drawn:
                pending.append(np.asarray(f))
                if len(pending) < LOCATE_FRAMES:
                    continue
                box = locate(pending)
                for g in pending:
                    push(rectify(g, box, RECT_SIZE))
                pending = []
            else:
                push(rectify(np.asarray(f), box, RECT_SIZE))
            run_ready()
        if box is None or box.drawn:
            if not pending:
                raise ValueError("no frames to transcribe")
            box = locate(pending)
            for g in pending:
                push(rectify(g, box, RECT_SIZE))
        if n == 0:
            raise ValueError("no frames to transcribe")
        run_ready(total=n)
        return box, np.concatenate(probs).astype(np.float32), np.concatenate(vels).astype(np.float32)

    # -- Roll2Midi -------------------------------------------------------------------------------
    def _roll2midi(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        T = len(probs)
        q = WINDOW // 4
        hop = WINDOW // 2
        n_win = int(np.ceil(T / hop))
        padded = np.zeros((n_win * hop + 2 * q + WINDOW, N_KEYS), np.float32)
        padded[q:q + T] = probs
        wins = np.stack([padded[i * hop:i * hop + WINDOW] for i in range(n_win)])
        frame = np.zeros((n_win * hop, N_KEYS), np.float32)
        onset = np.zeros_like(frame)
        for a in range(0, n_win, 256):
            fr, on = self.r2m.run(None, {"probs": wins[a:a + 256]})
            for j in range(len(fr)):
                i = a + j
                frame[i * hop:(i + 1) * hop] = fr[j, q:q + hop]
                onset[i * hop:(i + 1) * hop] = on[j, q:q + hop]
        return frame[:T], onset[:T]

    def transcribe(self, frames: Iterable[np.ndarray], fps: float,
                   progress: Callable[[float], None] | None = None) -> Transcription:
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive (got {fps})")
        n_total = len(frames) if hasattr(frames, "__len__") else None
        box, probs, vel = self._video2roll(frames, progress, n_total)
        frame, onset = self._roll2midi(probs)
        roll = combine(probs, frame)
        notes = roll_to_notes(roll, onset, vel, fps)
        if progress is not None:
            progress(1.0)
        return Transcription(notes, box, probs, roll, float(fps), onset, frame, vel)


def combine(video2roll: np.ndarray, roll2midi: np.ndarray) -> np.ndarray:
    """The engine's roll: Roll2Midi's frame decision (>= 0.4) where Video2Roll is unsure,
    Video2Roll's where it is confident."""
    return np.where(video2roll >= 1 - CONFIDENT, True,
                    np.where(video2roll <= CONFIDENT, False, roll2midi >= FRAME_THRESHOLD))


def roll_to_notes(roll: np.ndarray, onset: np.ndarray | None, vel: np.ndarray | None,
                  fps: float, min_frames: int = 1, split_gap: int = 2) -> list[PianoNote]:
    """Notes from a cleaned roll: one note per run of pressed frames, split where the onset
    probability peaks inside the run (a re-struck key); velocity = mean of the first frames."""
    notes = []
    for k in range(roll.shape[1]):
        col = roll[:, k]
        if not col.any():
            continue
        d = np.diff(np.concatenate([[0], col.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        for a, b in zip(starts, ends):
            cuts = [a]
            if onset is not None and b - a > 2 * split_gap:
                o = onset[a:b, k]
                for i in range(split_gap, b - a - split_gap + 1):
                    if o[i] >= ONSET_THRESHOLD and o[i] >= o[i - 1] and (i + 1 >= len(o) or o[i] > o[i + 1]) \
                            and i + a - cuts[-1] >= split_gap:
                        cuts.append(a + i)
            cuts.append(b)
            for s, e in zip(cuts[:-1], cuts[1:]):
                if e - s < min_frames:
                    continue
                v = 80
                if vel is not None:
                    v = int(np.clip(round(float(vel[s:min(e, s + 3), k].mean()) * 127), 1, 127))
                # frame f shows time f / fps, so a key pressed first in frame s went down in
                # ((s - 1) / fps, s / fps]: take the middle
                notes.append(PianoNote(float(max(0.0, (s - 0.5) / fps)), float((e - s) / fps), int(LOWEST + k), v))
    notes.sort(key=lambda n: (n.start_s, n.pitch))
    return notes
