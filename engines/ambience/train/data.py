"""Training windows for the ambience model: codec tokens of the codec's recorded data
(``engines.codec.data``: same files, same train / held-out split) with synthetic "visual" rows.

Each file is decoded (music capped at 60 s as six 10 s excerpts, as the codec's training does;
effects shorter than 0.25 s skipped), encoded with the shipped codec and described per frame
(``features.audio_frame_features``). A 10 s window (500 frames) is one scene or two (a "cut"
between them); a scene is a crop of one long file of a category, or events of that category
(clips of its files up to 4 s) separated by silence, at a random density. Its words are the
categories of what it holds; its visual rows come from its own audio (``features.per_second``).
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.ambience.features import FRAME_RATE, WORDS, per_second, to_frames

WINDOW = 500
SILENT_FEATURES = np.array([-100.0, 0.0, 0.0, 1.0], np.float32)


@dataclass
class Clip:
    tokens: np.ndarray  # (8, T) int16
    feats: np.ndarray  # (T, 4) float32
    words: tuple[str, ...]
    path: str


def _words(category: str) -> tuple[str, ...]:
    return tuple(sorted(w.strip() for w in category.split(",") if w.strip() in WORDS))


def encode_files(files, codec, max_seconds: float = 60.0, min_seconds: float = 0.25, cache: bool = True):
    """[Clip] of the sound files (``engines.codec.data.SoundFile``), cached in the temp folder by
    file list and codec checksum."""
    from engines.ambience.features import audio_frame_features
    from engines.codec import data as D
    from engines.runtime import model_info

    key = hashlib.sha256(json.dumps([[f.path, f.category] for f in files] + [max_seconds, min_seconds,
                         model_info("codec_encoder", codec.models_dir).sha256]).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"ambience_tokens_{key}.npz"
    if cache and path.exists():
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        return [Clip(z[f"t{i}"], z[f"f{i}"], tuple(m["words"]), m["path"]) for i, m in enumerate(meta)]
    clips = []
    for f in files:
        x = D.decode(f.path, max_seconds if f.category == "music" else None)
        if len(x) < min_seconds * D.SR or not np.isfinite(x).all():
            continue
        tok = codec.encode(x, D.SR).astype(np.int16)
        feats = audio_frame_features(x)[:tok.shape[1]]
        clips.append(Clip(tok, feats, _words(f.category), f.path))
    if cache:
        arrays = {f"t{i}": c.tokens for i, c in enumerate(clips)} | {f"f{i}": c.feats for i, c in enumerate(clips)}
        meta = json.dumps([{"words": list(c.words), "path": c.path} for c in clips])
        tmp = path.with_name(path.name + f".{time.time_ns()}.tmp.npz")
        np.savez(tmp, meta=np.array(meta), **arrays)
        tmp.replace(path)
    return clips


class Windows:
    """Random 10 s training windows (tokens (500, 8), visual (500, 5), words multi-hot (17,))."""

    def __init__(self, clips: list[Clip], silence: np.ndarray, rng: np.random.Generator, window: int = WINDOW,
                 cut_p: float = 0.3):
        self.rng, self.window, self.silence = rng, window, np.asarray(silence, np.int64).reshape(-1, 1)
        self.cut_p = cut_p
        self.by_cat: dict[tuple, list[Clip]] = {}
        for c in clips:
            self.by_cat.setdefault(c.words, []).append(c)
        self.cats = sorted(self.by_cat)
        w = np.array([sum(c.tokens.shape[1] for c in self.by_cat[k]) ** 0.25 for k in self.cats])
        self.p = w / w.sum()

    def scene(self, cat, n: int):
        rng, clips = self.rng, self.by_cat[cat]
        long = [c for c in clips if c.tokens.shape[1] >= n]
        if long and rng.random() < 0.6:
            c = long[rng.integers(len(long))]
            s = int(rng.integers(0, c.tokens.shape[1] - n + 1))
            return c.tokens[:, s:s + n].astype(np.int64), c.feats[s:s + n]
        density = rng.uniform(0.1, 1.0)
        toks, feats, used = [], [], 0
        while used < n:
            gap = int(rng.uniform(0, 2 * FRAME_RATE * (1 - density) / density)) if used or rng.random() < 0.5 else 0
            gap = min(gap, n - used)
            toks.append(np.repeat(self.silence, gap, 1))
            feats.append(np.repeat(SILENT_FEATURES[None], gap, 0))
            used += gap
            if used >= n:
                break
            c = clips[rng.integers(len(clips))]
            T = c.tokens.shape[1]
            length = min(T, 4 * FRAME_RATE, n - used)
            s = int(rng.integers(0, T - length + 1))
            toks.append(c.tokens[:, s:s + length].astype(np.int64))
            feats.append(c.feats[s:s + length])
            used += length
        return np.concatenate(toks, 1), np.concatenate(feats, 0)

    def sample(self):
        rng, n = self.rng, self.window
        cuts = [int(rng.integers(150, 351))] if rng.random() < self.cut_p and len(self.cats) > 1 else []
        bounds = [0] + cuts + [n]
        toks, feats, words = [], [], set()
        for a, b in zip(bounds[:-1], bounds[1:]):
            cat = self.cats[rng.choice(len(self.cats), p=self.p)]
            t, f = self.scene(cat, b - a)
            toks.append(t)
            feats.append(f)
            words.update(cat)
        tok, fr = np.concatenate(toks, 1), np.concatenate(feats, 0)
        vis = to_frames(per_second(fr, cuts), n)
        mh = np.array([w in words for w in WORDS], np.float32)
        return tok.T.copy(), vis, mh

    def batch(self, b: int):
        rows = [self.sample() for _ in range(b)]
        return tuple(np.stack(r) for r in zip(*rows))


def silence_tokens(codec) -> np.ndarray:
    """The codec's tokens of silence (one frame's 8 codes, from the middle of 1 s of zeros)."""
    return codec.encode(np.zeros(24000, np.float32), 24000)[:, 25]
