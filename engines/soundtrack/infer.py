"""Run time of the soundtrack engine: numpy + onnxruntime (no torch).

    model = SoundtrackModel()                                  # engines/models/soundtrack*.onnx
    feats = beat_features(VisualSeries.from_timeline(tl), beat_times)   # (n_beats, 11)
    grid = model.generate(feats, style="calm piano", settings=DecodeSettings(steps=16, cfg=3, seed=1))
    parts = model.levels.decode(grid)                          # {"keys", "bass", "melody", "drums"}: notes in beats

Long videos (LORIS): the grid is generated in windows of 16 beats (4 bars) that overlap by
``overlap_beats`` (default 4 = one bar); in each window the overlapping steps are given
(unmasked) from the previous window, so the piece continues across windows; every window
reads the visual features of its own beats (cuts included), so sections change with the scenes.
Keys: the piece is split into sections (start bars, e.g. at the video's cuts); each keeps one key,
chosen by the model where the section starts (:mod:`engines.soundtrack.keys`), so neither a
window boundary nor anything inside a section can change the key.

Retrieval: ``embed_video(feats)`` and ``embed_music(grid)`` pool the backbone over 16-beat
windows (hop 8 beats) into unit vectors; their dot product is the video<->music similarity;
``rank_library`` scores a folder of MIDI files for a video.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engines.errors import EngineError, ModelError
from engines.runtime import MODELS_DIR, session
from engines.soundtrack.keys import N_KEYS, allowed_tokens, out_of_key, read_key
from engines.soundtrack.sampler import DecodeSettings, autoregressive, maskgit
from engines.soundtrack.styles import match_style
from engines.soundtrack.tokens import STEPS_PER_BAR, STEPS_PER_BEAT, PartNote, SymbolicLevels

WINDOW_BEATS = 16
WINDOW_STEPS = WINDOW_BEATS * STEPS_PER_BEAT


@dataclass(frozen=True)
class WindowPlan:
    start_step: int
    given_steps: int  # how many leading steps of this window were given from the previous one


def window_plan(n_steps: int, overlap_beats: int = 4) -> list[WindowPlan]:
    """Bar-aligned windows covering ``n_steps`` (>= one window; the last one ends at the end)."""
    if not 0 <= overlap_beats < WINDOW_BEATS or overlap_beats % 4:
        raise EngineError(f"overlap of {overlap_beats} beats: use 0, 4, 8 or 12")
    hop = WINDOW_STEPS - overlap_beats * STEPS_PER_BEAT
    n = max(-(-n_steps // STEPS_PER_BAR) * STEPS_PER_BAR, WINDOW_STEPS)  # whole bars
    starts = list(range(0, n - WINDOW_STEPS + 1, hop))
    if starts[-1] + WINDOW_STEPS < n:
        starts.append(n - WINDOW_STEPS)
    plans = [WindowPlan(0, 0)]
    for a, b in zip(starts, starts[1:]):
        plans.append(WindowPlan(b, a + WINDOW_STEPS - b))
    return plans


class SoundtrackModel:
    """The generator and embedding ONNX sessions plus the tokenizer."""

    def __init__(self, name: str = "soundtrack", models_dir: Path = MODELS_DIR, *, cpu_only: bool = True):
        self.name = name
        self.gen = session(name, models_dir, cpu_only=cpu_only)
        self._embed_args = (f"{name}_embed", models_dir, cpu_only)
        self._emb = None
        meta = self.gen.get_modelmeta().custom_metadata_map
        self.levels = SymbolicLevels()
        try:
            vocab = tuple(json.loads(meta["vocab_sizes"]))
            steps, beats = int(meta["grid_steps"]), int(meta["visual_beats"])
        except (KeyError, ValueError) as exc:
            raise ModelError(f"model {name} has no usable metadata ({exc}); rebuild it with "
                             f"python -m engines.soundtrack.train.train") from None
        if vocab != self.levels.vocab_sizes or steps != WINDOW_STEPS or beats != WINDOW_BEATS:
            raise ModelError(f"model {name} was built for another token grid ({vocab}, {steps} steps); "
                             f"rebuild it with python -m engines.soundtrack.train.train")
        self.n_features = int(meta.get("n_features", 11))
        self.metadata = dict(meta)
        self.calls = 0

    # -- raw model
    def logits(self, tokens, visual, style, vis_keep):
        self.calls += 1
        return self.gen.run(None, {"tokens": np.ascontiguousarray(tokens, np.int64),
                                   "visual": np.ascontiguousarray(visual, np.float32),
                                   "style": np.ascontiguousarray(style, np.int64),
                                   "vis_keep": np.ascontiguousarray(vis_keep, np.float32)})

    @property
    def embed_session(self):
        if self._emb is None:
            name, models_dir, cpu_only = self._embed_args
            self._emb = session(name, models_dir, cpu_only=cpu_only)
        return self._emb

    # -- generation
    def generate(self, visual: np.ndarray, style: str | int | None = None,
                 settings: DecodeSettings = DecodeSettings(), *, overlap_beats: int = 4,
                 given: np.ndarray | None = None, method: str = "maskgit",
                 progress: Callable[[float], None] | None = None,
                 sections: Sequence[int] | None = (0,), section_keys: Sequence[int | None] | None = None,
                 return_keys: bool = False):
        """(n_beats * 4, 4) grid for ``visual`` (n_beats, n_features), window by window.

        ``sections``: start bars of the piece's sections (bar 0 always starts one; default: the
        whole piece is one section); each section stays in one key (:mod:`engines.soundtrack.keys`),
        chosen by the model when the first window that reaches the section is decoded, unless
        ``section_keys`` fixes it (a key id per section, None = the model's choice). ``None``
        leaves chord, bass and melody unconstrained. ``return_keys``: return ``(grid, [(start
        bar, key id), ...])`` instead of the grid alone."""
        visual = np.asarray(visual, np.float32)
        if visual.ndim != 2 or visual.shape[1] != self.n_features or len(visual) == 0:
            raise EngineError(f"visual features must be (beats, {self.n_features}), got {visual.shape}")
        style_id = style if isinstance(style, (int, np.integer)) else match_style(style)
        n_beats = len(visual)
        n_steps = n_beats * STEPS_PER_BEAT
        total = max(-(-n_steps // STEPS_PER_BAR) * STEPS_PER_BAR, WINDOW_STEPS)  # whole bars
        vis = np.concatenate([visual, np.repeat(visual[-1:], total // STEPS_PER_BEAT - n_beats, 0)])
        grid = np.full((total, len(self.levels.names)), -1, np.int64)
        if given is not None:
            g = np.asarray(given, np.int64)
            grid[:min(total, len(g))] = g[:total]
        decode = {"maskgit": maskgit, "autoregressive": autoregressive}[method]
        plans = window_plan(total, overlap_beats)
        n_bars = total // STEPS_PER_BAR
        starts = None if sections is None else sorted({0} | {int(b) for b in sections if 0 < int(b) < n_bars})
        keys: list[int | None] = [None] * len(starts or ())
        for i, key in enumerate(list(section_keys or ())[:len(keys)]):
            if key is not None and not 0 <= int(key) < N_KEYS:
                raise EngineError(f"key {key} is not a key id (0..{N_KEYS - 1})")
            keys[i] = None if key is None else int(key)
        sec_of_step = (None if starts is None else
                       np.repeat(np.searchsorted(starts, np.arange(n_bars), side="right") - 1, STEPS_PER_BAR))
        for k, plan in enumerate(plans):
            a = plan.start_step
            win = grid[a:a + WINDOW_STEPS]
            b0 = a // STEPS_PER_BEAT
            rng = np.random.default_rng([int(settings.seed), k])
            args = (self.logits, vis[b0:b0 + WINDOW_BEATS], int(style_id), self.levels.vocab_sizes)
            if sec_of_step is None:
                out = decode(*args, win, settings, rng, self.levels.token_rates)
            else:
                out = self._decode_in_keys(decode, args, win, sec_of_step[a:a + WINDOW_STEPS], keys, settings, rng)
            grid[a:a + WINDOW_STEPS] = out
            if progress:
                progress((k + 1) / len(plans))
        grid = self.levels.canonical(grid[:n_steps])
        if return_keys:
            return grid, [(b, key) for b, key in zip(starts or (), keys) if b * STEPS_PER_BAR < max(1, n_steps)]
        return grid

    def _key_masks(self, secs: np.ndarray, keys: list) -> list:
        """Per level the (T, V) tokens allowed at each step by its section's key (any token where
        the key is not chosen yet)."""
        vocab = self.levels.vocab_sizes
        rows = {s: (allowed_tokens(keys[s], vocab) if keys[s] is not None else [np.ones(v, bool) for v in vocab])
                for s in set(secs.tolist())}
        return [np.stack([rows[s][lvl] for s in secs.tolist()]) for lvl in range(len(vocab))]

    def _decode_in_keys(self, decode, args, win: np.ndarray, secs: np.ndarray, keys: list,
                        settings: DecodeSettings, rng: np.random.Generator) -> np.ndarray:
        """Decode one window with every step in its section's key. A section that starts here
        (no key yet) is decoded freely first; its key is read from that proposal
        (:func:`read_key`), and the proposal's tokens outside the key are masked and decoded
        again under it (at most ``settings.steps`` more model calls; none when it was in key)."""
        rates = self.levels.token_rates
        vocab = self.levels.vocab_sizes
        out = decode(*args, win, settings, rng, rates, self._key_masks(secs, keys))
        new = [s for s in dict.fromkeys(secs.tolist()) if keys[s] is None]
        if not new:
            return out
        unknown = win < 0
        for s in new:
            prev = keys[s - 1] if s > 0 else None
            keys[s] = read_key(out, (secs == s) & unknown.any(1), vocab, rates, previous=prev)
        bad = np.zeros(out.shape, bool)
        for s in new:
            bad |= out_of_key(out, keys[s], vocab, rates) & (secs == s)[:, None] & unknown
        if not bad.any():
            return out
        return decode(*args, np.where(bad, -1, out), settings, rng, rates, self._key_masks(secs, keys))

    # -- retrieval
    def _windows(self, n_beats: int, hop_beats: int = 8) -> list[int]:
        if n_beats <= WINDOW_BEATS:
            return [0]
        starts = list(range(0, n_beats - WINDOW_BEATS + 1, hop_beats))
        if starts[-1] + WINDOW_BEATS < n_beats:
            starts.append(n_beats - WINDOW_BEATS)
        return starts

    def embed_video(self, visual: np.ndarray) -> np.ndarray:
        visual = np.asarray(visual, np.float32)
        pad = np.repeat(visual[-1:], max(0, WINDOW_BEATS - len(visual)), 0)
        visual = np.concatenate([visual, pad])
        starts = self._windows(len(visual))
        vis = np.stack([visual[b:b + WINDOW_BEATS] for b in starts])
        tok = np.zeros((len(starts), WINDOW_STEPS, len(self.levels.names)), np.int64)
        v, _ = self.embed_session.run(None, {"tokens": tok, "visual": vis})
        return _unit(v.mean(0))

    def embed_music(self, grid: np.ndarray) -> np.ndarray:
        grid = np.asarray(grid, np.int64)
        pad = np.zeros((max(0, WINDOW_STEPS - len(grid)), grid.shape[1]), np.int64)
        grid = np.concatenate([grid, pad])
        starts = self._windows(len(grid) // STEPS_PER_BEAT)
        tok = np.stack([grid[b * STEPS_PER_BEAT:b * STEPS_PER_BEAT + WINDOW_STEPS] for b in starts])
        vis = np.zeros((len(starts), WINDOW_BEATS, self.n_features), np.float32)
        _, m = self.embed_session.run(None, {"tokens": tok, "visual": vis})
        return _unit(m.mean(0))

    def rank_library(self, visual: np.ndarray, folder: str | Path) -> list[tuple[str, float]]:
        """(path, similarity) of every readable MIDI file under ``folder``, best first."""
        from engines.soundtrack.midifile import read_midi_parts

        folder = Path(folder)
        if not folder.is_dir():
            raise EngineError(f"{folder} is not a folder; give a folder of MIDI files")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())
        if not files:
            raise EngineError(f"no .mid/.midi files in {folder}")
        v = self.embed_video(visual)
        scores = []
        for path in files:
            try:
                parts, n_beats = read_midi_parts(path)
            except EngineError:
                continue  # an unreadable file is skipped, not fatal
            grid = self.levels.encode(parts, max(1, int(np.ceil(n_beats))) * STEPS_PER_BEAT)
            scores.append((str(path), float(v @ self.embed_music(grid))))
        if not scores:
            raise EngineError(f"none of the {len(files)} MIDI files in {folder} could be read")
        return sorted(scores, key=lambda s: -s[1])


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / max(1e-12, float(np.linalg.norm(x)))


def parts_to_seconds(parts: dict[str, list[PartNote]], beat_to_s: Callable[[float], float],
                     start_beat: float, end_s: float) -> dict[str, list[tuple[float, float, int, int]]]:
    """Notes in beats (grid start = ``start_beat`` of the tempo map) -> (start_s, dur_s, pitch,
    velocity) on the video timeline, cut at 0 and ``end_s``."""
    out: dict[str, list[tuple[float, float, int, int]]] = {}
    for name, notes in parts.items():
        rows = []
        for n in notes:
            t0 = beat_to_s(start_beat + n.start_beat)
            t1 = min(end_s, beat_to_s(start_beat + n.start_beat + n.dur_beats))
            if t0 < -1e-6 or t0 >= end_s or t1 <= t0:
                continue
            rows.append((max(0.0, t0), t1 - max(0.0, t0), int(n.pitch), int(n.velocity)))
        out[name] = rows
    return out
