"""Keys and sections: one key per section of the piece, sections from the video's scene cuts.

The token grid has no key token: the key is what the chord, bass and melody tokens imply. To
keep a soundtrack in one key per section the sampler (:mod:`engines.soundtrack.sampler`)
constrains those tokens: inside a section in key K a chord token may only be one of K's
diatonic triads (or "no chord"), a bass or melody onset only a pitch of K's scale (rests and
holds always). The key of each section is the model's own choice: the window where a section
starts is first decoded as before, without the new section's key, and :func:`read_key` reads
the key that proposal is in (a later section keeps the previous key unless the proposal has
clearly left it); the proposal's tokens outside that key are then masked again and decoded
once more under the key (``SoundtrackModel._decode_in_keys``). So a key change can only happen
where a section starts, and a proposal already in one key is kept as it was.

Keys are numbered like the chord tokens without "no chord": ``key = 2 * tonic + mode`` (tonic
0..11 = C..B, mode 0 major / 1 minor). A major key is its major scale (chords I ii iii IV V vi);
a minor key its natural minor scale plus the leading tone (harmonic minor's dominant, as in the
chorales the model learned from; chords i III iv v V VI VII).

Sections (:func:`plan_sections`): a cut starts a section at the bar line nearest to it;
sections shorter than ``min_bars`` are merged into their shorter neighbour (repeatedly, the
shortest first), so a flurry of cuts does not make a key change every bar.

:func:`key_changes` is the measurement: the fewest key changes (dynamic programming over bars,
each note outside the bar's key costing 1, each change ``change_cost``) that explain the
pitch classes of a piece, with where each change could lie.
"""
from __future__ import annotations

import numpy as np

from engines.soundtrack.tokens import BASS_HI, BASS_LO, MEL_HI, MEL_LO

N_KEYS = 24
_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor + leading tone
# (interval above the tonic, quality 0 major / 1 minor) of the triads each mode allows
MAJOR_CHORDS = ((0, 0), (2, 1), (4, 1), (5, 0), (7, 0), (9, 1))
MINOR_CHORDS = ((0, 1), (3, 0), (5, 1), (7, 1), (7, 0), (8, 0), (10, 0))


def key_name(key: int) -> str:
    tonic, mode = divmod(int(key), 2)
    return _NAMES[tonic] + ("m" if mode else "")


def key_pitch_classes(key: int) -> np.ndarray:
    """(12,) bool: the pitch classes of ``key``'s scale."""
    tonic, mode = divmod(int(key), 2)
    out = np.zeros(12, bool)
    out[[(tonic + i) % 12 for i in (MINOR_SCALE if mode else MAJOR_SCALE)]] = True
    return out


def key_chords(key: int) -> tuple[int, ...]:
    """The chord tokens (1 + 2 * root + quality) of ``key``'s diatonic triads."""
    tonic, mode = divmod(int(key), 2)
    return tuple(1 + 2 * ((tonic + iv) % 12) + q for iv, q in (MINOR_CHORDS if mode else MAJOR_CHORDS))


def _line_allowed(pcs: np.ndarray, lo: int, hi: int) -> np.ndarray:
    ok = np.ones(2 + hi - lo + 1, bool)  # rest, hold, then onsets of lo..hi
    ok[2:] = pcs[np.arange(lo, hi + 1) % 12]
    return ok


_ALLOWED: dict[tuple, list[np.ndarray]] = {}


def allowed_tokens(key: int, vocab_sizes) -> list[np.ndarray]:
    """Per level (chord, bass, melody, drums) a (V,) bool, read-only: the tokens allowed in ``key``."""
    cache_key = (int(key), tuple(vocab_sizes))
    if cache_key not in _ALLOWED:
        _ALLOWED[cache_key] = _make_allowed(int(key), tuple(vocab_sizes))
    return _ALLOWED[cache_key]


def _make_allowed(key: int, vocab_sizes: tuple) -> list[np.ndarray]:
    pcs = key_pitch_classes(key)
    chord = np.zeros(vocab_sizes[0], bool)
    chord[0] = True  # no chord
    chord[list(key_chords(key))] = True
    out = [chord, _line_allowed(pcs, BASS_LO, BASS_HI), _line_allowed(pcs, MEL_LO, MEL_HI),
           np.ones(vocab_sizes[3], bool)]
    if [len(a) for a in out] != list(vocab_sizes):
        raise ValueError(f"key masks do not fit the vocabulary {tuple(vocab_sizes)}")
    for a in out:
        a.setflags(write=False)
    return out


def out_of_key(tokens: np.ndarray, key: int, vocab_sizes, rates=(1, 1, 1, 1)) -> np.ndarray:
    """(T, L) bool: the tokens of a (T, L) grid that ``key`` does not allow (negative = unknown:
    never; the chord level judged per group of ``rates[0]`` steps, on its first step)."""
    tokens = np.asarray(tokens)
    ok = allowed_tokens(key, vocab_sizes)
    out = np.zeros(tokens.shape, bool)
    for lvl in range(tokens.shape[1]):
        t = tokens[:, lvl]
        out[:, lvl] = (t >= 0) & ~ok[lvl][np.clip(t, 0, len(ok[lvl]) - 1)]
    k = int(rates[0]) if rates else 1
    if k > 1 and len(tokens) % k == 0:
        out[:, 0] = np.repeat(out[::k, 0], k)
    return out


KEY_CHANGE_COST = 2.0  # out-of-key tokens (notes) a key change must explain away to be worth it


def read_key(tokens: np.ndarray, steps: np.ndarray, vocab_sizes, rates=(1, 1, 1, 1),
             previous: int | None = None, change_cost: float = KEY_CHANGE_COST) -> int:
    """The key of the music the decoder proposed for a section: ``tokens`` (T, L) a window's
    draft, ``steps`` (T,) bool its section's steps. The key with the fewest proposed chord
    tokens (one per group), bass and melody onsets outside it; the previous section's key is
    kept unless another key leaves more than ``change_cost`` fewer tokens outside (a stray
    chromatic note is no modulation; the same rule as :func:`key_changes`). Among equals the
    key whose tonic triad the proposal uses most (C major and A minor both contain an
    all-white-key proposal: its chords say which), then the lowest id."""
    tokens = np.asarray(tokens)
    steps = np.asarray(steps, bool)
    k = int(rates[0]) if rates else 1
    chords = tokens[steps & ((np.arange(len(tokens)) % k) == 0), 0]
    chords = chords[chords >= 0]
    onsets = tokens[steps][:, 1:3] >= 2
    misses = np.zeros(N_KEYS)
    tonic = np.zeros(N_KEYS)
    for key in range(N_KEYS):
        bad = out_of_key(tokens[steps], key, vocab_sizes)[:, 1:3] & onsets
        misses[key] = int(bad.sum()) + int((~allowed_tokens(key, vocab_sizes)[0][chords]).sum())
        tonic[key] = int((chords == 1 + key).sum())
    best = min(range(N_KEYS), key=lambda key: (misses[key], -tonic[key], key))
    if previous is not None and misses[previous] - misses[best] <= change_cost:
        return int(previous)
    return int(best)


def plan_sections(cut_beats, n_bars: int, beats_per_bar: int = 4, min_bars: int = 4) -> list[int]:
    """Start bars of the sections (the first is 0) of a grid of ``n_bars`` bars with scene cuts
    at ``cut_beats`` (grid beats, fractional): each cut starts a section at its nearest bar
    line; a section shorter than ``min_bars`` merges into its shorter neighbour, the shortest
    first, until none is (or one section is left)."""
    n_bars = max(1, int(n_bars))
    starts = sorted({int(round(float(b) / beats_per_bar)) for b in cut_beats} - {0})
    bounds = [0] + [s for s in starts if 0 < s < n_bars] + [n_bars]
    while len(bounds) > 2:
        lengths = np.diff(bounds)
        i = int(np.argmin(lengths))
        if lengths[i] >= min_bars:
            break
        if i == 0:
            j = 1  # merge with the next: drop the boundary between them
        elif i == len(lengths) - 1:
            j = i
        else:
            j = i if lengths[i - 1] <= lengths[i + 1] else i + 1
        del bounds[j]
    return bounds[:-1]


def bar_pitch_classes(notes, n_bars: int) -> np.ndarray:
    """(n_bars, 12) note counts per bar and pitch class from (bar, pitch) pairs."""
    out = np.zeros((max(0, n_bars), 12))
    for bar, pitch in notes:
        if 0 <= bar < n_bars:
            out[int(bar), int(pitch) % 12] += 1.0
    return out


def _viterbi(cost: np.ndarray, change_cost: float) -> np.ndarray:
    """Key per bar minimising out-of-key notes + change_cost per change; ties keep the key."""
    n = len(cost)
    d = cost[0].copy()
    back = np.zeros((n, N_KEYS), np.int64)
    for b in range(1, n):
        j = int(np.argmin(d))
        stay_better = d <= d[j] + change_cost + 1e-9
        back[b] = np.where(stay_better, np.arange(N_KEYS), j)
        d = cost[b] + np.where(stay_better, d, d[j] + change_cost)
    path = np.zeros(n, np.int64)
    path[-1] = int(np.argmin(d))
    for b in range(n - 1, 0, -1):
        path[b - 1] = back[b, path[b]]
    return path


def key_changes(bar_pcs: np.ndarray, change_cost: float = KEY_CHANGE_COST) -> dict:
    """The fewest key changes that explain the pitch classes per bar (see the module doc).

    Returns ``keys`` (a key per bar, the earliest placement of each change), ``changes``
    (bars where a new key starts) and ``intervals``: per change the first and last bar where it
    could start at the same cost (the notes between cannot tell the two keys apart)."""
    pcs = np.asarray(bar_pcs, np.float64)
    if len(pcs) == 0:
        return {"keys": [], "changes": [], "intervals": [], "out_of_key_notes": 0.0}
    member = np.stack([key_pitch_classes(k) for k in range(N_KEYS)], 1)  # (12, 24)
    cost = pcs @ (~member).astype(np.float64)  # (bars, 24): notes outside each key
    early = _viterbi(cost, change_cost)  # backtracking from the end keeps the later key: earliest change
    late = _viterbi(cost[::-1], change_cost)[::-1]  # the same in reverse: latest change
    ch_e = [b for b in range(1, len(early)) if early[b] != early[b - 1]]
    ch_l = [b for b in range(1, len(late)) if late[b] != late[b - 1]]
    intervals = ([(a, b) if a <= b else (b, a) for a, b in zip(ch_e, ch_l)] if len(ch_e) == len(ch_l)
                 else [(a, a) for a in ch_e])
    miss = float(sum(cost[b, early[b]] for b in range(len(early))))
    return {"keys": [key_name(k) for k in early], "changes": ch_e, "intervals": intervals,
            "out_of_key_notes": miss}


def changes_at_boundaries(intervals, boundaries, tolerance_bars: int = 1) -> int:
    """How many key changes (``intervals`` from :func:`key_changes`) could lie within
    ``tolerance_bars`` of a section start in ``boundaries`` (bars)."""
    bs = np.asarray(sorted(boundaries), float)
    return int(sum(1 for a, b in intervals
                   if bs.size and np.any((bs >= a - tolerance_bars) & (bs <= b + tolerance_bars))))
