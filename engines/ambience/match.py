"""How well recorded sound fits a video, by the ambience model (numpy + onnxruntime): the
retrieval of the model card (``evaluate.retrieval``) applied to files.

    from engines.ambience.infer import Ambience
    from engines.ambience.match import score_audio

    amb = Ambience()
    s = score_audio(amb, audio, 44100, rows, "rain")   # rows: the video's (seconds, 5) visual rows

The score of a file is the mean, over its scored tokens, of the log-likelihood of each codec
token given the others (masked, as in training) under the video's conditions (its visual rows
and words) minus the same under no conditions: nats per token; higher = the conditions explain
the sound better. Subtracting the unconditioned term keeps a file that is easy to predict anyway
(silence, a steady hum) from winning every video.

Bounded: a file is compared with the video from both starts, in windows of the model's 10 s
(500 frames): window k is the file's seconds [10k, 10k + 10) against the video's same seconds,
at most ``max_windows`` of them, over the shorter of the two (a last partial window is moved
back to end at that end, as generation does; its frames already scored are not scored again;
both shorter than 10 s: one window whose missing frames are masked and not scored). Every token
is scored once: two passes with complementary random halves masked (the same halves for every
file, ``seed``). Per window two model calls with a batch of two (the passes; conditioned, then
unconditioned: the memory of generation's guided calls); :func:`match_seconds` says how much of
a file to decode.
"""
from __future__ import annotations

import numpy as np

from engines.ambience.features import FRAME_RATE, check_visual, to_frames, word_mask
from engines.errors import EngineError

WINDOW = 500  # frames: the model's 10 s
DEFAULT_WINDOWS = 3
MAX_WINDOWS = 30


def check_windows(max_windows) -> int:
    if isinstance(max_windows, bool) or not isinstance(max_windows, (int, np.integer)) \
            or not 1 <= max_windows <= MAX_WINDOWS:
        raise EngineError(f"windows must be a whole number in 1..{MAX_WINDOWS}, not {max_windows!r}")
    return int(max_windows)


def match_seconds(video_seconds: float, max_windows: int = DEFAULT_WINDOWS) -> float:
    """Seconds from a file's start that its score reads (no more need decoding)."""
    return float(min(float(video_seconds), check_windows(max_windows) * WINDOW / FRAME_RATE))


def windows(n_video: int, n_file: int, max_windows: int = DEFAULT_WINDOWS) -> list[tuple[int, int, int]]:
    """(start, end, first scored frame) of the windows compared, in frames of both."""
    n = min(int(n_video), int(n_file), check_windows(max_windows) * WINDOW)
    if n <= 0:
        return []
    out: list[tuple[int, int, int]] = []
    done = 0
    while done < n:
        a = max(0, min(done, n - WINDOW))
        b = min(n, a + WINDOW)
        out.append((a, b, done))
        done = b
    return out


def token_logprob(amb, inputs: np.ndarray, tokens: np.ndarray, visual: np.ndarray, styles, keep) -> np.ndarray:
    """(B, T, L) log-probability of ``tokens`` under the model given ``inputs`` (the tokens with
    the places to predict set to the MASK id ``amb.vocab``), per row's visual frames (B, T, 5),
    word mask and keep flag (1: conditioned, 0: no conditions)."""
    tokens = np.asarray(tokens)
    out = np.empty(tokens.shape, np.float32)
    for lvl, lg in enumerate(amb.logits(inputs, visual, styles, keep)):  # a level at a time: memory
        lg = lg - lg.max(-1, keepdims=True)
        out[..., lvl] = np.take_along_axis(lg, tokens[..., lvl, None], -1)[..., 0] \
            - np.log(np.exp(lg).sum(-1))
    return out


def _window_gain(amb, tok: np.ndarray, vis: np.ndarray, style: int, scored: np.ndarray, half: np.ndarray):
    """Sum of (conditioned - unconditioned) log-probabilities over the scored frames of one
    window, each token predicted in the pass that masks it; and the number of tokens."""
    inp = np.stack([np.where(half, amb.vocab, tok), np.where(half, tok, amb.vocab)])
    inp[:, (tok < 0).any(1)] = amb.vocab  # padding beyond the end: unknown, never scored
    true, v, s = np.maximum(np.stack([tok] * 2), 0), np.repeat(vis[None], 2, 0), np.full(2, style, np.int64)
    gain = token_logprob(amb, inp, true, v, s, np.ones(2, np.float32)) \
        - token_logprob(amb, inp, true, v, s, np.zeros(2, np.float32))  # two calls: generation's memory
    which = np.stack([half, ~half]) & scored[None]
    return float(gain[which].sum()), int(scored.sum())


def score_codes(amb, codes, visual, words=(), max_windows: int = DEFAULT_WINDOWS, seed: int = 0) -> float:
    """The score (nats per token, see the module doc) of codec ``codes`` (8, T) from a file's
    start against a video's per-second ``visual`` rows (S, 5) and ``words``."""
    c = amb.check_codes(codes)
    v = check_visual(visual)
    style = word_mask(words)
    n_video = len(v) * FRAME_RATE
    plan = windows(n_video, c.shape[1], max_windows)
    total = count = 0.0
    for k, (a, b, first) in enumerate(plan):
        tok = np.full((WINDOW, amb.levels), -1, np.int64)
        tok[:b - a] = c[:, a:b].T
        vis = to_frames(v, a + WINDOW)[a:]
        scored = np.zeros((WINDOW, amb.levels), bool)
        scored[first - a:b - a] = True
        half = np.random.default_rng([seed, k]).random((WINDOW, amb.levels)) < 0.5
        g, n = _window_gain(amb, tok, vis, style, scored, half)
        total, count = total + g, count + n
    if not count:
        raise EngineError("nothing to score: the audio or the video is empty")
    return total / count


def score_audio(amb, audio, sample_rate: int, visual, words=(), max_windows: int = DEFAULT_WINDOWS,
                seed: int = 0) -> float:
    """:func:`score_codes` of audio (n,) or (n, channels) at ``sample_rate`` from its start,
    encoded with the codec; only its first :func:`match_seconds` are read, so give no more."""
    return score_codes(amb, amb.codec.encode(audio, sample_rate), visual, words, max_windows, seed)
