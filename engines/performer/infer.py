"""Run-time performer engine (numpy + onnxruntime only): keypoints -> notes for an instrument.

    from engines.performer.infer import Performer
    from engines.performer.keypoints import load_keypoints
    notes = Performer().generate(load_keypoints("pose.json"), "drums", seed=1)

Input features: ``vocab.frame_features`` (positions, velocity, acceleration, seen flag and the
motion-onset channels of ``gestures.gesture_onsets`` run on the keypoints as given). The keypoints
are resampled to 30 fps and cut into 4 s windows with a 1 s overlap; all windows
are encoded and decoded together (one batch through the decoder-step graph, key/value cache
kept here), and each keeps the notes that start in its middle part (the first from 0 s, the last
to the end). Sampling: temperature + top-k over masked logits (the masks keep the token grammar:
time within the window, offs only for sounding notes, pitches in the instrument's range),
numpy Generator seeded by (seed, window index); ``temperature <= 0`` is greedy.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines import runtime
from engines.errors import EngineError
from engines.performer import vocab as V
from engines.performer.gestures import gesture_onsets
from engines.performer.keypoints import N_JOINTS, Keypoints, resample
from engines.rhythm.infer import sample

INSTRUMENTS = V.INSTRUMENTS
PROGRAM = {"drums": 0, "guitar": 25, "violin": 40, "piano": 0}  # GM programs (0-based)
CHANNEL = {"drums": 9, "guitar": 1, "violin": 2, "piano": 0}  # drums: GM percussion channel
MODEL_NAMES = ("performer_encoder", "performer_decoder")
HOP_S = 3.0
TOP_K = 3  # chosen on validation performances of training pieces (2, 3, 5, 8 tried)
_ENC_BATCH = 32


@dataclass(frozen=True)
class PerformerNote:
    start_s: float
    dur_s: float
    pitch: int
    velocity: int  # 1..127


def _open(name: str, models_dir: Path):
    """The model's session: engines.runtime's per-process cache, single-threaded (the
    decoder-step graph is tiny and called hundreds of times)."""
    return runtime.session(name, models_dir, cpu_only=True, single_thread=True)


def _masks(instrument: str):
    on = np.zeros(V.VOCAB, bool)
    if instrument == "drums":
        on[[V.ON0 + p for p in V.DRUM_PITCHES]] = True
    else:
        lo, hi = V.PITCH_RANGE[instrument]
        on[V.ON0 + lo:V.ON0 + hi + 1] = True
    vel = np.zeros(V.VOCAB, bool)
    vel[V.VEL0:V.VEL0 + V.N_VEL] = True
    return on, vel


class Performer:
    def __init__(self, models_dir=None):
        self.models_dir = Path(models_dir) if models_dir is not None else runtime.MODELS_DIR
        self._s: dict = {}

    def _sess(self, name):
        if name not in self._s:
            self._s[name] = _open(name, self.models_dir)
        return self._s[name]

    def load(self) -> "Performer":
        for n in MODEL_NAMES:
            self._sess(n)
        return self

    def generate(self, kp: Keypoints, instrument: str, *, seed: int = 0, temperature: float = 1.0,
                 progress=None) -> list[PerformerNote]:
        """Notes for ``instrument`` played by the person in ``kp``; ``progress(fraction, text)``."""
        if instrument not in INSTRUMENTS:
            raise EngineError(f"unknown instrument {instrument!r}; choose from {', '.join(INSTRUMENTS)}")
        if not isinstance(kp, Keypoints) or kp.xy.ndim != 3 or kp.n_frames == 0:
            raise EngineError("performer: no keypoint frames to play from")
        if kp.xy.shape[1:] != (N_JOINTS, 2) or kp.conf.shape != kp.xy.shape[:2]:
            raise EngineError(f"performer: keypoints must be (frames, {N_JOINTS}, 2) in the engine's joint list "
                              f"(read them with engines.performer.keypoints.load_keypoints)")
        enc, dec = self._sess("performer_encoder"), self._sess("performer_decoder")
        k30 = resample(kp, V.FPS)
        # motion-onset channels: the gesture detector's onsets, read on the keypoints as given
        feats = V.frame_features(k30.xy, k30.conf, onsets=gesture_onsets(kp, instrument))
        n = len(feats)
        W, hop = V.WINDOW_FRAMES, int(HOP_S * V.FPS)
        starts = [0]
        while starts[-1] + W < n:
            starts.append(starts[-1] + hop)
        pad = starts[-1] + W - n
        if pad > 0:  # hold the last pose, flagged unseen
            tail = np.repeat(feats[-1:], pad, 0)
            tail[..., 2:8] = 0.0  # no motion, unseen
            tail[..., 8:] = 1.0  # no onset near
            feats = np.concatenate([feats, tail])
        cin = enc.get_inputs()[0].shape[-1]  # graphs of an earlier release read the first 5 channels
        src = np.stack([feats[a:a + W, :, :cin if isinstance(cin, int) else None] for a in starts]).astype(np.float32)
        inst = np.full((len(starts), 1), INSTRUMENTS.index(instrument), np.int64)
        mem = np.concatenate([enc.run(None, {"src": src[i:i + _ENC_BATCH], "instrument": inst[i:i + _ENC_BATCH]})[0]
                              for i in range(0, len(src), _ENC_BATCH)])
        toks = self._decode(dec, mem, instrument, seed, temperature, progress)
        out: list[PerformerNote] = []
        dur = kp.duration_s
        for w, (a, tk) in enumerate(zip(starts, toks)):
            t0 = a / V.FPS
            lo = t0 + (0.5 if w > 0 else 0.0) - 1e-9
            hi = t0 + HOP_S + 0.5 if w + 1 < len(starts) else np.inf
            for s, d, p, v in V.tokens_to_notes(tk, instrument, t0):
                if lo <= s < hi and s < dur:
                    out.append(PerformerNote(round(float(s), 4), round(float(max(0.02, min(d, dur - s + 0.1))), 4),
                                             int(p), int(np.clip(v, 1, 127))))
        out.sort(key=lambda x: (x.start_s, x.pitch))
        return out

    def _decode(self, dec, mem, instrument, seed, temperature, progress):
        b = len(mem)
        shape = dec.get_inputs()[4].shape  # past_k: [layers, batch, heads, past, head_dim]
        layers, heads, dh = int(shape[0]), int(shape[2]), int(shape[4])
        pk = pv = np.zeros((layers, b, heads, 0, dh), np.float32)
        rngs = [np.random.default_rng([int(seed) & 0x7FFFFFFF, w]) for w in range(b)]
        on_ok, vel_ok = _masks(instrument)
        drums = instrument == "drums"
        end_ticks = int(round(V.WINDOW_S / V.TICK_S))
        seqs = [[V.BOS] for _ in range(b)]
        clock = np.zeros(b, np.int64)
        sounding = [set() for _ in range(b)]
        done = np.zeros(b, bool)
        tok = np.full((b, 1), V.BOS, np.int64)
        for t in range(V.MAX_LEN - 1):
            logits, pk, pv = dec.run(None, {"token": tok, "pos": np.array([t], np.int64),
                                            "clock": clock[:, None].astype(np.float32), "memory": mem,
                                            "past_k": pk, "past_v": pv})
            for i in np.flatnonzero(~done):
                allowed = np.zeros(V.VOCAB, bool)
                allowed[V.EOS] = True
                if t < V.MAX_LEN - 2:
                    last = seqs[i][-1]
                    allowed |= on_ok
                    if not (V.VEL0 <= last < V.VEL0 + V.N_VEL):
                        allowed |= vel_ok
                    if not drums:
                        for p in sounding[i]:
                            allowed[V.OFF0 + p] = True
                    room = min(V.N_TS, end_ticks - int(clock[i]) - 1)
                    if room > 0:
                        allowed[V.TS0:V.TS0 + room] = True
                    if V.VEL0 <= last < V.VEL0 + V.N_VEL:  # a velocity is followed by a note
                        allowed &= on_ok
                k = sample(logits[i], allowed, rngs[i], temperature, TOP_K)
                seqs[i].append(k)
                tok[i, 0] = k
                if k == V.EOS:
                    done[i] = True
                elif V.TS0 <= k < V.TS0 + V.N_TS:
                    clock[i] += k - V.TS0 + 1
                elif V.ON0 <= k < V.OFF0 and not drums:
                    sounding[i].add(k - V.ON0)
                elif V.OFF0 <= k < V.TS0:
                    sounding[i].discard(k - V.OFF0)
            if progress is not None and t % 16 == 0:
                progress(float(np.mean(np.minimum(1.0, clock / end_ticks + done))), "performer: decoding")
            if done.all():
                break
        if progress is not None:
            progress(1.0, "performer: decoding")
        return seqs
