"""Decoding a token grid: MaskGIT parallel decoding with classifier-free guidance (numpy).

``logits_fn(tokens, visual, style, vis_keep) -> [per level (B, T, V_l)]`` is the model (the
ONNX session in :mod:`engines.soundtrack.infer`, or torch during evaluation).

MaskGIT (VAB's decoder): all unknown tokens start as MASK; at step i of N every masked token is
sampled from the guided distribution ``softmax((l_u + w (l_c - l_u)) / temperature)`` (l_c with
the visual condition, l_u with the null visual tokens, the style in both), each sampled token
gets the confidence ``log p + g (1 - (i+1)/N) * Gumbel`` and all but the
``floor(n cos(pi/2 (i+1)/N))`` least confident are kept (cosine schedule; annealed Gumbel noise
on the confidences). Given tokens (``given >= 0``: e.g. the overlap from the previous window)
are never masked. ``autoregressive`` fills one token per model call in raster order (step by
step, level by level) with the same model and guidance: the speed baseline.

Constraints (``allowed``): per level a (T, V) bool array of the tokens each position may take
(None: any); disallowed tokens get no probability (their guided logits are set to ``NEG``
before sampling). This is how a section is kept in its key (:mod:`engines.soundtrack.keys`).
Given tokens are never changed, allowed or not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

LogitsFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Sequence[np.ndarray]]
Allowed = Optional[Sequence[Optional[np.ndarray]]]
NEG = -1e9  # logit of a disallowed token (finite: no NaN when a softmax row is all masked)


@dataclass(frozen=True)
class DecodeSettings:
    steps: int = 16  # parallel decoding steps N
    cfg: float = 3.0  # guidance scale w (1 = conditional only, 0 = unconditional)
    temperature: float = 1.0  # sampling temperature
    gumbel: float = 2.0  # scale of the annealed Gumbel noise on the confidences
    seed: int = 0
    level_order: tuple[int, ...] | None = None  # None: all levels together

    def __post_init__(self) -> None:
        if not 1 <= int(self.steps) <= 1024:
            raise ValueError(f"steps {self.steps} outside 1..1024")
        if not (0.0 <= self.cfg <= 20.0):
            raise ValueError(f"guidance scale {self.cfg} outside 0..20")
        if not 0.05 <= self.temperature <= 5.0:
            raise ValueError(f"temperature {self.temperature} outside 0.05..5")
        if not 0.0 <= self.gumbel <= 20.0:
            raise ValueError(f"gumbel noise {self.gumbel} outside 0..20")


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def guided_logits(logits_fn: LogitsFn, tokens: np.ndarray, visual: np.ndarray, style: int,
                  cfg: float) -> list[np.ndarray]:
    """Per level (T, V) guided logits for one grid (both branches in one batch of two)."""
    if cfg == 1.0:
        out = logits_fn(tokens[None], visual[None], np.array([style], np.int64), np.ones(1, np.float32))
        return [np.asarray(o[0], np.float64) for o in out]
    if cfg == 0.0:
        out = logits_fn(tokens[None], visual[None], np.array([style], np.int64), np.zeros(1, np.float32))
        return [np.asarray(o[0], np.float64) for o in out]
    out = logits_fn(np.stack([tokens, tokens]), np.stack([visual, visual]),
                    np.array([style, style], np.int64), np.array([1.0, 0.0], np.float32))
    return [np.asarray(o[1], np.float64) + cfg * (np.asarray(o[0], np.float64) - np.asarray(o[1], np.float64))
            for o in out]


def maskgit(logits_fn: LogitsFn, visual: np.ndarray, style: int, vocab_sizes: Sequence[int],
            given: np.ndarray, settings: DecodeSettings = DecodeSettings(),
            rng: np.random.Generator | None = None, rates: Sequence[int] | None = None,
            allowed: Allowed = None) -> np.ndarray:
    """Fill the unknown (``given < 0``) tokens of a (T, L) grid; returns the (T, L) int64 grid.

    ``settings.level_order`` (e.g. ``(3, 0, 1, 2)``) decodes one level after the other
    (SoundStorm-style), ``steps // L`` parallel steps each (at least one); ``None`` decodes
    every level together in ``steps`` steps. ``rates[l]`` = k > 1 makes level l one token per k
    steps (groups aligned to step 0; T must be a multiple of k): its k positions share one draw
    from their mean logits and are fixed together."""
    rng = rng if rng is not None else np.random.default_rng(settings.seed)
    given = np.asarray(given, np.int64)
    T, L = given.shape
    rates = tuple(int(k) for k in (rates or (1,) * L))
    if any(k < 1 or T % k for k in rates):
        raise ValueError(f"token rates {rates} do not divide {T} steps")
    order = settings.level_order
    masks = _Masks(allowed, T, vocab_sizes)
    if not order:
        return _maskgit_pass(logits_fn, visual, style, vocab_sizes, given, given < 0, int(settings.steps),
                             settings, rng, rates, masks)
    grid = given.copy()
    per_level = max(1, int(settings.steps) // len(order))
    for lvl in order:
        active = np.zeros((T, L), bool)
        active[:, lvl] = grid[:, lvl] < 0
        grid = _maskgit_pass(logits_fn, visual, style, vocab_sizes, grid, active, per_level, settings, rng, rates,
                             masks)
    return grid


class _Masks:
    """``allowed`` checked against the grid: per level a (T, V) bool array or None."""

    def __init__(self, allowed: Allowed, T: int, vocab_sizes):
        vocab = tuple(vocab_sizes)
        self.masks: list = [None] * len(vocab)
        for lvl, m in enumerate(allowed or ()):
            if m is None:
                continue
            m = np.asarray(m, bool)
            if m.shape != (T, vocab[lvl]):
                raise ValueError(f"allowed tokens of level {lvl}: shape {m.shape}, expected {(T, vocab[lvl])}")
            if not m.any(1).all():
                raise ValueError(f"level {lvl} has a position where no token is allowed")
            self.masks[lvl] = m

    def apply(self, logits: list[np.ndarray]) -> list[np.ndarray]:
        return [lg if m is None else np.where(m, lg, NEG) for lg, m in zip(logits, self.masks)]


def _maskgit_pass(logits_fn, visual, style, vocab_sizes, given, active, N, settings, rng, rates, masks):
    """Fill the ``active`` unknown tokens in N steps; other unknown tokens stay -1 (MASK in)."""
    T, L = given.shape
    mask_ids = np.array(vocab_sizes, np.int64)
    tokens = np.where(given >= 0, given, mask_ids[None, :])
    n_unknown = int(active.sum())
    masked = active.copy()
    for i in range(N):
        if not masked.any():
            break
        logits = masks.apply(guided_logits(logits_fn, tokens, visual, style, settings.cfg))
        sampled = np.zeros((T, L), np.int64)
        conf = np.full((T, L), np.inf)
        noise = rng.gumbel(size=(T, L))
        for lvl in range(L):
            lg = logits[lvl] / settings.temperature
            g = rng.gumbel(size=lg.shape)
            k = rates[lvl]
            if k > 1:  # one token per group of k steps: mean logits, one draw, one confidence
                lg = lg.reshape(T // k, k, -1).mean(1)
                if masks.masks[lvl] is not None:  # the group's first row holds for the group
                    lg = np.where(masks.masks[lvl][::k], lg, NEG)
                g = g[::k]
            choice = np.argmax(lg + g, axis=-1)
            logp = _log_softmax(lg)[np.arange(len(lg)), choice]
            if k > 1:
                choice, logp = np.repeat(choice, k), np.repeat(logp, k)
                noise[:, lvl] = np.repeat(noise[::k, lvl], k)
            sampled[:, lvl] = choice
            conf[:, lvl] = logp
        r = (i + 1) / N
        conf = conf + settings.gumbel * (1.0 - r) * noise
        conf[~masked] = np.inf
        n_mask_next = int(math.floor(n_unknown * math.cos(math.pi / 2 * r)))
        n_mask_next = min(n_mask_next, int(masked.sum()) - 1) if i + 1 < N else 0
        order = np.argsort(conf, axis=None, kind="stable")  # lowest confidence first
        still = np.zeros(T * L, bool)
        still[order[:max(0, n_mask_next)]] = True
        still = still.reshape(T, L) & masked
        fix = masked & ~still
        for lvl in range(L):  # a group is fixed whole (the schedule may round up by a group)
            k = rates[lvl]
            if k > 1:
                fix[:, lvl] = np.repeat(fix[:, lvl].reshape(-1, k).any(1), k) & masked[:, lvl]
        still = masked & ~fix
        tokens[fix] = sampled[fix]
        masked = still
    return np.where((given < 0) & ~active, -1, tokens)


def autoregressive(logits_fn: LogitsFn, visual: np.ndarray, style: int, vocab_sizes: Sequence[int],
                   given: np.ndarray, settings: DecodeSettings = DecodeSettings(),
                   rng: np.random.Generator | None = None, rates: Sequence[int] | None = None,
                   allowed: Allowed = None) -> np.ndarray:
    """One token per model call, in raster order (the baseline of the speed comparison; a
    grouped level's token is drawn at its group's first step and repeated)."""
    rng = rng if rng is not None else np.random.default_rng(settings.seed)
    given = np.asarray(given, np.int64)
    T, L = given.shape
    mask_ids = np.array(vocab_sizes, np.int64)
    tokens = np.where(given >= 0, given, mask_ids[None, :])
    rates = tuple(int(k) for k in (rates or (1,) * L))
    masks = _Masks(allowed, T, vocab_sizes)
    for t in range(T):
        for lvl in range(L):
            if given[t, lvl] >= 0:
                continue
            if t % rates[lvl]:
                tokens[t, lvl] = tokens[t - 1, lvl]
                continue
            logits = masks.apply(guided_logits(logits_fn, tokens, visual, style, settings.cfg))
            lg = logits[lvl][t] / settings.temperature
            tokens[t, lvl] = int(np.argmax(lg + rng.gumbel(size=lg.shape)))
    return tokens
