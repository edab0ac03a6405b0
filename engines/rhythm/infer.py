"""Run-time Rhythm engine (numpy + onnxruntime only): drums, groove and accompaniment, bar by bar.

    eng = RhythmEngine()
    state = eng.start(style="funk", seed=3, key="Am")
    notes, state = eng.next_bar(state, bar)          # bar: video2rhythm.Bar or a (16,) activation
    notes = eng.generate(grid, style="funk", seed=3) # a whole RhythmGrid (drum bars batched)

Decoding runs the exported decoder-step graphs (one token per call, key/value cache kept
here). Sampling: temperature + top-k over masked logits, numpy Generator seeded by (seed, bar index),
so a bar is the same whether it is generated offline or live. Masks keep drum tokens strictly
increasing and music tokens in the REMI grammar, in the key (scale pitch classes) and on
diatonic chords.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engines import runtime
from engines.errors import EngineError
from engines.rhythm import vocab as V
from engines.rhythm.video2rhythm import Bar, RhythmGrid

MODEL_NAMES = ("rhythm2drum_encoder", "rhythm2drum_decoder", "rhythm_groove",
               "drum2music_encoder", "drum2music_decoder")
MIN_BPM, MAX_BPM = 20.0, 300.0  # tempi next_bar steps bare activations at (the studio's range)
_KEY_NAMES = {"c": 0, "c#": 1, "db": 1, "d": 2, "d#": 3, "eb": 3, "e": 4, "f": 5, "f#": 6, "gb": 6,
              "g": 7, "g#": 8, "ab": 8, "a": 9, "a#": 10, "bb": 10, "b": 11}
DEFAULT_KEY = {"rock": "E", "funk": "Em", "hip-hop": "Am", "electronic": "Am", "latin": "Dm", "jazz": "F"}


@dataclass(frozen=True)
class NoteEvent:
    start_s: float
    dur_s: float
    pitch: int
    velocity: int
    part: str  # drums / bass / keys


@dataclass(frozen=True)
class RhythmState:
    """Everything next_bar needs from earlier bars (immutable; next_bar returns a new one)."""

    style: str = "rock"
    seed: int = 0
    key_root: int = 4
    mode: int = 0  # 0 major, 1 minor
    bar_index: int = 0
    chords: tuple[int, ...] = ()  # chord tokens so far (key-normalised)
    prev_notes: tuple = ()  # (step, track, pitch, dur) of the previous bar, key-normalised
    temperature: float = 1.0
    top_k: int = 8
    humanize: float = 1.0  # scales the micro-timing offsets
    tempo_bpm: float = 120.0  # only for bare activation arrays
    next_start_s: float = 0.0  # only for bare activation arrays
    music: bool = True


def parse_key(key: str) -> tuple[int, int]:
    """'C', 'F#', 'Bbm', 'A minor' -> (root pitch class, mode)."""
    k = key.strip().lower().replace(" minor", "m").replace(" major", "").replace("min", "m")
    minor = k.endswith("m") and k not in _KEY_NAMES
    root = k[:-1] if minor else k
    if root not in _KEY_NAMES:
        raise ValueError(f"unknown key {key!r}; use e.g. C, F#, Bb, Am, C#m")
    return _KEY_NAMES[root], int(minor)


def velocity_midi(v: float) -> int:
    return min(127, max(1, round(float(v) * 127)))


# the per-token helpers below run ~40 times a bar while the live engine waits: numpy's methods,
# not its module functions (whose Python dispatch cost as much as the arithmetic at this size)
def sample(logits: np.ndarray, allowed: np.ndarray, rng: np.random.Generator, temperature: float,
           top_k: int) -> int:
    """One token from masked logits: temperature, then the top k (temperature <= 0: greedy)."""
    idx = allowed.nonzero()[0]
    n = idx.size
    if n == 0:
        return int(logits.argmax())
    z = logits.take(idx).astype(np.float64)
    if temperature <= 0 or n == 1:
        return int(idx[z.argmax()])
    if 0 < top_k < n:
        keep = z.argpartition(-top_k)[-top_k:]
        idx, z, n = idx.take(keep), z.take(keep), top_k
    c = np.exp((z - z.max()) / temperature).cumsum()
    return int(idx[min(n - 1, int(c.searchsorted(rng.random() * c[-1], side="right")))])


def _src_drums(act: np.ndarray) -> np.ndarray:
    act = np.asarray(act, np.float32)
    pos = np.zeros(act.shape + (4,), np.float32)
    pos[..., np.arange(V.STEPS), np.arange(V.STEPS) % 4] = 1.0
    return np.concatenate([act[..., None], pos], axis=-1)


# drum rows (bar chunks) decoded together by ``generate``. onnxruntime's arena keeps what the
# largest batch needed: 1,800 rows (an hour at 120 BPM) took +196 MB of peak memory in batches of
# 512, +58 in 128, +31 in 64, with the same CPU time (2.4-2.8 s) and the same hits
DRUM_BATCH = 64


class RhythmEngine:
    def __init__(self, models_dir=None, cpu_only: bool = True):
        self._kw = {"cpu_only": cpu_only}
        if models_dir is not None:
            self._kw["models_dir"] = Path(models_dir)
        self._s = _Sessions(self._kw)

    def load(self) -> "RhythmEngine":
        """Open every model now (otherwise each opens on first use)."""
        for n in MODEL_NAMES:
            self._s[n]
        return self

    # -- state -------------------------------------------------------------------------------
    def start(self, style: str = "rock", seed: int = 0, key: str | None = None, *, temperature: float = 1.0,
              top_k: int = 8, humanize: float = 1.0, tempo_bpm: float = 120.0, music: bool = True) -> RhythmState:
        if style not in V.STYLES:
            raise ValueError(f"unknown style {style!r}; choose from {', '.join(V.STYLES)}")
        root, mode = parse_key(key or DEFAULT_KEY[style])
        if not (np.isfinite(tempo_bpm) and MIN_BPM <= tempo_bpm <= MAX_BPM):
            raise ValueError(f"tempo {tempo_bpm:g} BPM is outside {MIN_BPM:g}..{MAX_BPM:g}")
        return RhythmState(style, int(seed), root, mode, temperature=float(temperature), top_k=int(top_k),
                           humanize=float(humanize), tempo_bpm=float(tempo_bpm), music=bool(music))

    def _rng(self, state: RhythmState, bar_index: int, part: int) -> np.random.Generator:
        return np.random.default_rng([state.seed & 0x7FFFFFFF, bar_index + 1000, part])

    # -- Rhythm2Drum + groove ----------------------------------------------------------------
    def drum_bars(self, acts: np.ndarray, state: RhythmState, bar_indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """acts (B, 16) -> hits, velocity, offset (B, 9, 16); rows decoded together."""
        acts = np.asarray(acts, np.float32).reshape(-1, V.STEPS)
        b = len(acts)
        style = np.full((b, 1), V.STYLES.index(state.style), np.int64)
        enc = self._s["rhythm2drum_encoder"]
        encoded = enc.run(None, {"src": _src_drums(acts), "style": style})
        rngs = [self._rng(state, int(i), 0) for i in bar_indices]
        toks = np.full((b, V.D_MAXLEN), V.D_PAD, np.int64)
        toks[:, 0] = V.D_BOS
        last = np.full(b, V.D_HIT0 - 1)
        done = np.zeros(b, bool)
        step = _Stepper(self._s["rhythm2drum_decoder"], enc, encoded)
        ids = np.arange(V.D_VOCAB)
        for t in range(1, V.D_MAXLEN):
            # finished rows keep stepping (fixed batch for the cache); their tokens are ignored
            logits = step(toks[:, t - 1:t], t - 1)
            for i in np.flatnonzero(~done):
                allowed = ids > last[i]
                allowed[V.D_EOS] = True
                if t == V.D_MAXLEN - 1:
                    allowed[:] = False
                    allowed[V.D_EOS] = True
                tok = sample(logits[i], allowed, rngs[i], state.temperature, state.top_k)
                toks[i, t] = tok
                if tok == V.D_EOS:
                    done[i] = True
                else:
                    last[i] = tok
            if done.all():
                break
        hits = np.stack([V.tokens_to_grid(row) for row in toks])
        vel, off = self.groove(hits, acts, state.style)
        return hits, vel * hits, off * hits

    def groove(self, hits: np.ndarray, acts: np.ndarray, style: str) -> tuple[np.ndarray, np.ndarray]:
        b = len(hits)
        sty = np.zeros((b, len(V.STYLES), V.STEPS), np.float32)
        sty[:, V.STYLES.index(style)] = 1.0
        x = np.concatenate([hits.astype(np.float32), acts[:, None].astype(np.float32), sty], axis=1)
        vel, off = self._s["rhythm_groove"].run(None, {"x": x})
        return vel, off

    # -- Drum2Music --------------------------------------------------------------------------
    def music_bar(self, drums: np.ndarray, state: RhythmState, chord: int | None = None):
        """One bar of bass + keys (key-normalised) after the bars in ``state``: (chord, notes)."""
        src = np.concatenate([drums.T.astype(np.float32), _pcs(state.prev_notes, 0), _pcs(state.prev_notes, 1)], 1)
        hist = [2 + (c - V.M_CHORD0) for c in state.chords[-V.N_HIST:]]
        cond = np.array([[state.mode, 27 + state.bar_index % 4] + [26] * (V.N_HIST - len(hist)) + hist], np.int64)
        enc = self._s["drum2music_encoder"]
        step = _Stepper(self._s["drum2music_decoder"], enc, enc.run(None, {"src": src[None], "cond": cond}))
        rng = self._rng(state, state.bar_index, 1)
        toks = [V.M_BOS]
        chords_ok = [V.chord_token(r, m) for r, m in V.DIATONIC[state.mode]]
        kinds, pitch_of = _KINDS, _PITCH_OF
        keys_above, pitches_ok = _KEYS_ABOVE[state.mode], _PITCHES_OK[state.mode]
        pos, last_kind, last_keys, n_at_pos = -1, "bos", -1, 0
        while len(toks) < V.M_MAXLEN:
            logits = step(np.array([[toks[-1]]], np.int64), len(toks) - 1)[0]
            near_end = len(toks) >= V.M_MAXLEN - 3
            if last_kind == "bos":
                allowed = np.zeros(V.M_VOCAB, bool)
                if chord is not None:
                    allowed[chord] = True
                else:
                    allowed[chords_ok] = True
            elif last_kind in ("chord", "dur"):
                if near_end:
                    allowed = np.zeros(V.M_VOCAB, bool)
                elif last_kind == "dur" and n_at_pos < 4:
                    allowed = _POS_AFTER[pos + 1] | keys_above[last_keys + 1]
                else:
                    allowed = _POS_AFTER[pos + 1].copy()
                allowed[V.M_EOS] = True
            elif last_kind == "pos":
                allowed = pitches_ok
            elif last_kind in ("bass", "keys"):
                allowed = _DUR_FITS[pos + 1]
            else:
                allowed = np.zeros(V.M_VOCAB, bool)
            tok = sample(logits, allowed, rng, state.temperature, state.top_k)
            toks.append(tok)
            k = kinds[tok]
            if k == "eos":
                break
            if k == "pos":
                pos, n_at_pos, last_keys = tok - V.M_POS0, 0, -1
            elif k == "keys":
                last_keys, n_at_pos = pitch_of[tok], n_at_pos + 1
            last_kind = k
        ch, notes = V.tokens_to_notes(toks)
        return (ch if ch is not None else chords_ok[0]), notes

    # -- one bar, causal ---------------------------------------------------------------------
    def next_bar(self, state: RhythmState, rhythm_bar) -> tuple[list[NoteEvent], RhythmState]:
        """Notes of the next bar and the state after it (live use: call one bar ahead)."""
        bar = self._as_bar(rhythm_bar, state)
        acts, full = _chunks(bar)
        hits, vel, off = self.drum_bars(acts, state, [state.bar_index * 8 + i for i in range(len(acts))])
        return self._finish_bar(bar, full, hits, vel, off, state)

    def generate(self, grid: RhythmGrid, state: RhythmState, job=None) -> list[NoteEvent]:
        """All bars of a grid: drum bars decoded in one batch, music bar by bar."""
        per_bar = [_chunks(b) for b in grid.bars]
        rows, idx = [], []
        for k, (acts, _) in enumerate(per_bar):
            for i, a in enumerate(acts):
                rows.append(a)
                idx.append((state.bar_index + k) * 8 + i)
        if not rows:
            return []
        # in batches: the decoder's key/value cache grows with the rows (a 2-hour video's 3,600
        # bars in one batch held about 1.2 GB); each row has its own generator, so batching
        # does not change its notes
        parts = [self.drum_bars(np.stack(rows[a:a + DRUM_BATCH]), state, idx[a:a + DRUM_BATCH])
                 for a in range(0, len(rows), DRUM_BATCH)]
        hits, vel, off = (np.concatenate([p[k] for p in parts]) for k in range(3))
        notes, r = [], 0
        for k, (bar, (acts, full)) in enumerate(zip(grid.bars, per_bar)):
            n = len(acts)
            bar_notes, state = self._finish_bar(bar, full, hits[r:r + n], vel[r:r + n], off[r:r + n], state)
            r += n
            notes += bar_notes
            if job is not None:
                job.report((k + 1) / len(grid.bars), "rhythm: bars")
        return notes

    def _as_bar(self, rhythm_bar, state: RhythmState) -> Bar:
        if isinstance(rhythm_bar, Bar):
            return rhythm_bar
        if not (np.isfinite(state.tempo_bpm) and MIN_BPM <= state.tempo_bpm <= MAX_BPM):
            # a caller stepping bars by this tempo would never advance (zero/negative/NaN) or flood
            raise EngineError(f"tempo {state.tempo_bpm:g} BPM is outside {MIN_BPM:g}..{MAX_BPM:g}")
        if not np.isfinite(state.next_start_s):
            raise EngineError(f"bar start {state.next_start_s} s is not a finite time")
        a = np.clip(np.nan_to_num(np.asarray(rhythm_bar, np.float32).ravel()), 0, 1)
        step = 15.0 / state.tempo_bpm
        t = state.next_start_s + step * np.arange(len(a))
        return Bar(state.bar_index, float(t[0]), t, np.full(len(a), step), a, False, ())

    def _finish_bar(self, bar: Bar, full: int, hits, vel, off, state: RhythmState):
        """Turn decoded chunks into timed notes; run Drum2Music; advance the state."""
        hits = np.concatenate(list(hits), axis=1)[:, bar.first_step:bar.first_step + bar.steps]
        vel = np.concatenate(list(vel), axis=1)[:, bar.first_step:bar.first_step + bar.steps]
        off = np.concatenate(list(off), axis=1)[:, bar.first_step:bar.first_step + bar.steps]
        notes: list[NoteEvent] = []
        t, d = bar.step_times_s, bar.step_dur_s
        if bar.rest:
            hits = np.zeros_like(hits)
        for s in bar.cut_steps:  # a scene cut: crash (and kick) on its step
            hits[7, s] = hits[0, s] = 1.0
            vel[7, s] = 0.6  # a soft crash: a loud one masks the next bar's onsets
            vel[0, s] = max(vel[0, s], 0.85)
            off[7, s] = off[0, s] = 0.0
        for v, s in zip(*np.nonzero(hits)):
            start = t[s] + min(0.5, max(-0.5, float(off[v, s] * state.humanize))) * d[s]
            notes.append(NoteEvent(max(0.0, float(start)), float(min(0.1, d[s])), V.VOICE_PITCH[v],
                                   velocity_midi(vel[v, s]), "drums"))
        new_state = state
        if state.music and bar.index >= 0:
            drums16 = np.zeros((V.N_VOICES, V.STEPS), np.float32)
            drums16[:, :min(V.STEPS, hits.shape[1])] = hits[:, :V.STEPS]
            if bar.rest:
                chord = state.chords[-1] if state.chords else V.chord_token(0, state.mode)
                r, m = V.chord_of(chord)
                notes_n = [(0, 1, p, V.STEPS) for p in _triad(r, m)]
            else:
                chord, notes_n = self.music_bar(drums16, state)
            notes += self._music_notes(notes_n, bar, state)
            new_state = replace(state, chords=(state.chords + (chord,))[-16:], prev_notes=tuple(notes_n))
        end = float(t[-1] + d[-1])
        return notes, replace(new_state, bar_index=state.bar_index + 1, next_start_s=end,
                              tempo_bpm=float(15.0 / np.mean(d)))

    def _music_notes(self, notes_n, bar: Bar, state: RhythmState) -> list[NoteEvent]:
        out = []
        shift = (state.key_root + 5) % 12 - 5  # -5..+6 semitones: keep the register
        t, d = bar.step_times_s, bar.step_dur_s
        ends = np.concatenate([t, [t[-1] + d[-1]]])
        for step, track, pitch, dur in notes_n:
            if step >= bar.steps:
                continue
            e = min(bar.steps, step + dur)
            start = float(t[step])
            length = float(ends[e] - start) * 0.95
            vel = (96 if step % 4 == 0 else 84) if track == 0 else (76 if step % 8 == 0 else 66)
            out.append(NoteEvent(start, max(0.02, length), int(np.clip(pitch + shift, 0, 127)), vel,
                                 "bass" if track == 0 else "keys"))
        return out


_KINDS = np.array([V.kind(i) for i in range(V.M_VOCAB)])
_IDS = np.arange(V.M_VOCAB)
_PITCH_OF = np.full(V.M_VOCAB, -1)
_PITCH_OF[V.M_BASS0:V.M_KEYS0] = np.arange(V.BASS_LO, V.BASS_HI + 1)
_PITCH_OF[V.M_KEYS0:V.M_DUR0] = np.arange(V.KEYS_LO, V.KEYS_HI + 1)
_IN_SCALE = {m: np.array([p >= 0 and (p % 12) in V.SCALE_PCS[m] for p in _PITCH_OF]) for m in (0, 1)}
# Drum2Music's grammar masks, made once (read-only; indexed by position or pitch + 1, as -1 is
# "none yet"): positions after ``pos``; durations that end in the bar from ``pos``; by mode,
# in-scale keys above ``last_keys`` (a chord is written upwards) and every in-scale pitch
_POS_AFTER = np.array([(_KINDS == "pos") & (_IDS - V.M_POS0 > p) for p in range(-1, V.STEPS)])
_DUR_FITS = np.array([(_KINDS == "dur") & (_IDS - V.M_DUR0 + 1 <= V.STEPS - p) for p in range(-1, V.STEPS)])
_KEYS_ABOVE = {m: np.array([(_KINDS == "keys") & _IN_SCALE[m] & (_PITCH_OF > k) for k in range(-1, 128)])
               for m in (0, 1)}
_PITCHES_OK = {m: np.isin(_KINDS, ("keys", "bass")) & _IN_SCALE[m] for m in (0, 1)}
for _mask in (_POS_AFTER, _DUR_FITS, *_KEYS_ABOVE.values(), *_PITCHES_OK.values()):
    _mask.flags.writeable = False


class _Stepper:
    """Drives an exported decoder-step graph (``train/step_graph.py``): feeds one token per call
    with the encoder's cross-attention keys and values, and keeps each layer's key/value cache
    (batch, heads, length, head_dim) between calls."""

    def __init__(self, sess, encoder, encoded: list) -> None:
        names = [i.name for i in sess.get_inputs()]
        # the cache each output after the logits feeds at the next step (present_k0 -> past_k0)
        self.sess, self.past = sess, ["past" + o.name[len("present"):] for o in sess.get_outputs()[1:]]
        by_name = dict(zip([o.name for o in encoder.get_outputs()], encoded))
        wanted = [n for n in names if n.startswith("cross_")]
        if not wanted or any(n not in by_name for n in wanted):
            raise EngineError("the rhythm models are of an older export (the decoder step reads the memory); "
                              "convert them with: python -m engines.rhythm.train.step_graph")
        self.feed = {n: by_name[n] for n in wanted}
        some = next(iter(self.feed.values()))  # (batch, heads, memory length, head_dim)
        empty = np.zeros(some.shape[:2] + (0,) + some.shape[3:], np.float32)
        self.feed.update({n: empty for n in self.past})

    def __call__(self, token: np.ndarray, pos: int) -> np.ndarray:
        feed = self.feed
        feed["token"], feed["pos"] = token, np.array([pos], np.int64)
        logits, *present = self.sess.run(None, feed)
        feed.update(zip(self.past, present))
        return logits


class _Sessions(dict):
    def __init__(self, kw):
        super().__init__()
        self.kw = kw

    def __missing__(self, name):
        """engines.runtime's per-process session, single-threaded: these graphs are tiny and
        called hundreds of times per bar, where a spinning intra-op thread pool only adds
        latency (and jitter on a busy machine)."""
        sess = runtime.session(name, self.kw.get("models_dir", runtime.MODELS_DIR),
                               cpu_only=True, single_thread=True)
        self[name] = sess
        return sess


def _triad(root: int, minor: int) -> list[int]:
    base = 60 + root if root < 6 else 48 + root
    return [base, base + (3 if minor else 4), base + 7]


def _pcs(notes, track: int) -> np.ndarray:
    r = np.zeros((V.STEPS, 12), np.float32)
    for step, tr, pitch, dur in notes or ():
        if tr == track:
            r[step:step + dur, pitch % 12] = 1.0
    return r


def _chunks(bar: Bar) -> tuple[np.ndarray, int]:
    """A bar's activation as 16-step model chunks (a pickup is right-aligned in its bar)."""
    full = bar.first_step + bar.steps
    n = max(1, int(np.ceil(full / V.STEPS)))
    a = np.zeros(n * V.STEPS, np.float32)
    a[bar.first_step:full] = bar.activation
    return a.reshape(n, V.STEPS), full
