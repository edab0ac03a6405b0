"""The ambience engine at run time (numpy + onnxruntime): words + per-second visual features ->
codec tokens (MaskGIT with classifier-free guidance, ``engines.soundtrack.sampler``) -> audio.

    from engines.ambience.infer import Ambience

    amb = Ambience()
    codes = amb.generate_tokens(duration_s, visual, "rain, city", seed=0)   # (8, T) int64, 50/s
    codes2 = amb.inpaint(codes, 4.0, 7.0, visual, "water", seed=1)          # rest kept
    for start, block in amb.iter_audio(codes): ...                           # 24 kHz mono blocks

``visual``: (seconds, 5) rows in 0..1 (``features.VISUAL``), at least ceil(duration) rows.
Tokens are made in windows of 10 s (500 frames); each next window starts ``OVERLAP`` frames
before the first unknown token and keeps the tokens it overlaps as known (continuation), so
the token stream is continuous and one decode of it has no seam to crossfade. Audio is decoded
in blocks of ``DECODE_BLOCK`` frames with ``DECODE_CONTEXT`` frames of context each side (beyond
the codec decoder's receptive field: the same samples as one pass), so memory does not grow
with the duration beyond the tokens (64 bytes per frame).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from engines.ambience.features import (N_VISUAL, check_visual, multi_hot, parse_words, to_frames,
                                       word_mask)
from engines.errors import EngineError
from engines.runtime import MODELS_DIR, model_info, session
from engines.soundtrack.sampler import DecodeSettings, autoregressive, maskgit

NAME = "ambience"
OVERLAP = 100  # frames (2 s) of the previous window kept as known tokens
DECODE_BLOCK = 1500  # frames (30 s) per codec decode call
DECODE_CONTEXT = 25  # frames of context each side (0.5 s, as the codec's own windows)
MAX_SECONDS = 6 * 3600
DEFAULT_STEPS = 8
DEFAULT_CFG = 3.0


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EngineError(f"seed must be a non-negative integer, not {seed!r}")
    return int(seed)


def _frames(duration_s) -> int:
    try:
        d = float(duration_s)
    except (TypeError, ValueError):
        raise EngineError(f"duration must be a number of seconds, not {duration_s!r}") from None
    if not np.isfinite(d) or d <= 0 or d > MAX_SECONDS:
        raise EngineError(f"duration must be in (0, {MAX_SECONDS}] seconds; got {duration_s!r}")
    return int(np.ceil(d * 50 - 1e-6))


class Ambience:
    def __init__(self, models_dir: Path = MODELS_DIR, codec=None):
        from engines.codec.infer import Codec

        self.models_dir = Path(models_dir)
        self._sess = session(NAME, self.models_dir, cpu_only=True)
        t = model_info(NAME, self.models_dir).entry.get("training", {})
        self.window = int(t.get("max_frames", 500))
        self.levels, self.vocab = int(t.get("levels", 8)), int(t.get("vocab", 1024))
        self.codec = codec if codec is not None else Codec(self.models_dir)
        self.calls = 0

    def logits(self, tokens, visual, style, keep) -> list[np.ndarray]:
        """The sampler's ``logits_fn``: style = word bit masks; per level (B, T, V) logits."""
        self.calls += 1
        out = self._sess.run(None, {"tokens": np.asarray(tokens, np.int64),
                                    "visual": np.asarray(visual, np.float32),
                                    "words": multi_hot(style), "keep": np.asarray(keep, np.float32)})[0]
        return [out[:, :, lvl] for lvl in range(out.shape[2])]

    def _fill(self, tokens: np.ndarray, vis: np.ndarray, style: int, settings: DecodeSettings, rng,
              fill=maskgit) -> np.ndarray:
        """Fill the unknown (-1) rows of tokens (N, L) window by window (continuation)."""
        N, W = len(tokens), self.window
        vocab = [self.vocab] * self.levels
        if N < W:  # one window, padded; the padding is generated too and dropped
            grid = np.full((W, self.levels), -1, np.int64)
            grid[:N] = tokens
            v = np.concatenate([vis, np.repeat(vis[-1:], W - N, 0)])
            return fill(self.logits, v, style, vocab, grid, settings, rng)[:N]
        while (tokens < 0).any():
            u = int(np.argmax((tokens < 0).any(1)))
            s = max(0, min(u - OVERLAP, N - W))
            tokens[s:s + W] = fill(self.logits, vis[s:s + W], style, vocab, tokens[s:s + W], settings, rng)
        return tokens

    def _prepare(self, n_frames: int, visual, words, seed, steps, cfg):
        vis = to_frames(check_visual(visual, int(np.ceil(n_frames / 50 - 1e-9))), n_frames)
        try:
            settings = DecodeSettings(steps=int(steps), cfg=float(cfg), seed=_seed(seed))
        except (TypeError, ValueError) as exc:
            raise EngineError(f"bad decoding settings: {exc}") from None
        return vis, word_mask(words), settings, np.random.default_rng(settings.seed)

    def generate_tokens(self, duration_s, visual, words=(), seed: int = 0, steps: int = DEFAULT_STEPS,
                        cfg: float = DEFAULT_CFG, parallel: bool = True) -> np.ndarray:
        """(8, ceil(duration * 50)) int64 codes for the duration; deterministic per seed.
        ``parallel=False``: one token per model call (the speed baseline; slow)."""
        N = _frames(duration_s)
        vis, style, settings, rng = self._prepare(N, visual, words, seed, steps, cfg)
        tokens = np.full((N, self.levels), -1, np.int64)
        return self._fill(tokens, vis, style, settings, rng, maskgit if parallel else autoregressive).T.copy()

    def inpaint(self, codes, start_s: float, end_s: float, visual, words=(), seed: int = 0,
                steps: int = DEFAULT_STEPS, cfg: float = DEFAULT_CFG) -> np.ndarray:
        """Codes with the frames of [start_s, end_s) made again (the rest kept, as known tokens)."""
        c = self.check_codes(codes)
        N = c.shape[1]
        a, b = int(np.floor(float(start_s) * 50)), int(np.ceil(float(end_s) * 50))
        if not (np.isfinite(start_s) and np.isfinite(end_s)) or a < 0 or b > N or a >= b:
            raise EngineError(f"region {start_s!r}..{end_s!r} s is not inside the 0..{N / 50:g} s of the codes")
        vis, style, settings, rng = self._prepare(N, visual, words, seed, steps, cfg)
        tokens = c.T.copy()
        tokens[a:b] = -1
        return self._fill(tokens, vis, style, settings, rng).T.copy()

    def check_codes(self, codes) -> np.ndarray:
        c = np.asarray(codes)
        if c.ndim != 2 or c.shape[0] != self.levels or c.shape[1] == 0:
            raise EngineError(f"codes must have shape ({self.levels}, T>0); got {c.shape}")
        if not np.issubdtype(c.dtype, np.integer) or c.min() < 0 or c.max() >= self.vocab:
            raise EngineError(f"codes must be integers in [0, {self.vocab})")
        return c.astype(np.int64)

    def iter_audio(self, codes, block: int = DECODE_BLOCK) -> Iterator[tuple[int, np.ndarray]]:
        """(first sample, 24 kHz mono float32 block) over the decoded codes, in order."""
        c = self.check_codes(codes)
        N, hop = c.shape[1], 480
        for s in range(0, N, block):
            e = min(N, s + block)
            a, b = max(0, s - DECODE_CONTEXT), min(N, e + DECODE_CONTEXT)
            y = self.codec.decode(c[:, a:b])
            yield s * hop, y[(s - a) * hop:(e - a) * hop]

    def decode(self, codes, n_samples: int | None = None) -> np.ndarray:
        """All of the audio (24 kHz mono), trimmed to ``n_samples`` when given."""
        y = np.concatenate([blk for _, blk in self.iter_audio(codes)])
        return y if n_samples is None else y[:n_samples]

    def generate(self, duration_s, visual, words=(), seed: int = 0, **kw) -> np.ndarray:
        """Audio at 24 kHz mono, exactly round(duration * 24000) samples."""
        codes = self.generate_tokens(duration_s, visual, words, seed, **kw)
        return self.decode(codes, int(round(float(duration_s) * 24000)))


def known_words() -> tuple[str, ...]:
    from engines.ambience.features import WORDS

    return WORDS


__all__ = ["Ambience", "N_VISUAL", "parse_words", "known_words"]
