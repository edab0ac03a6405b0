"""The ambience model's conditions (numpy only): style words and per-second visual features.

Visual features, one row per second, each in 0..1 (``VISUAL``):

* ``motion``: how much moves (video: mean flow speed; training: loudness),
* ``impacts``: impact density (video: impacts per second / 4; training: onsets per second / 4),
* ``brightness``: (video: mean luma; training: spectral centroid / 4 kHz),
* ``colour``: saturation (video: mean saturation; training: 1 - spectral flatness, i.e. tonal),
* ``cuts``: a cut in that second (video: cut rate; training: a change of scene in the window).

There are no real video/audio pairs here: in training the "visual" side is derived from the
audio's own envelopes (``audio_frame_features`` -> ``per_second``), so the model learns e.g.
"more motion -> louder, busier sound". Words: the category words of the codec's data
(``engines.codec.data``), plus a few everyday synonyms mapped onto them (``SYNONYMS``).
"""
from __future__ import annotations

import numpy as np

from engines.errors import EngineError

VISUAL = ("motion", "impacts", "brightness", "colour", "cuts")
N_VISUAL = len(VISUAL)
FRAME_RATE = 50  # codec tokens per second
FRAME_HOP = 480  # samples at 24 kHz
# a video's rows are mapped into the range where the shipped model makes sound: it learned
# "motion" as loudness ((dB + 60) / 50) and its MaskGIT decoding settles on the codec's silence
# token below motion ~0.85 or with no impacts (README: limits), so a still shot gets the quiet
# end of a bed, not silence
MOTION_FLOOR, IMPACT_FLOOR = 0.85, 0.25
WORDS = ("alert", "bell", "cannon", "click", "crumple", "effect", "explosion", "footsteps", "gun",
         "impact", "machine", "mechanical", "metal", "music", "voice", "water", "wood")
SYNONYMS = {
    "rain": "water", "river": "water", "sea": "water", "ocean": "water", "stream": "water", "splash": "water",
    "waves": "water", "city": "machine", "traffic": "machine", "engine": "machine", "car": "machine",
    "factory": "machine", "motor": "machine", "robot": "machine", "crowd": "voice", "people": "voice",
    "speech": "voice", "talk": "voice", "battle": "gun", "war": "explosion", "steps": "footsteps",
    "walking": "footsteps", "door": "wood", "knock": "wood", "steel": "metal", "clock": "mechanical",
    "alarm": "alert", "beep": "alert", "chime": "bell", "paper": "crumple", "song": "music",
    "soundtrack": "music", "blast": "explosion", "hit": "impact", "crash": "impact",
}


def parse_words(words) -> tuple[str, ...]:
    """"rain, city" or ["rain", "city"] -> the model's words (sorted, unique). Unknown words are
    an EngineError naming the words the model knows."""
    if words is None:
        return ()
    if isinstance(words, str):
        words = words.replace(";", ",").split(",")
    out = set()
    for raw in words:
        for w in str(raw).lower().split():
            w = w.strip(" .!?'\"")
            if not w:
                continue
            w = SYNONYMS.get(w, w)
            if w not in WORDS:
                raise EngineError(f"unknown ambience word {raw.strip()!r}; known words: {', '.join(WORDS)} "
                                  f"(and {', '.join(sorted(SYNONYMS))})")
            out.add(w)
    return tuple(sorted(out))


def word_mask(words) -> int:
    """The words as a bit mask (bit i: WORDS[i]); the sampler passes it as its integer style."""
    return int(sum(1 << WORDS.index(w) for w in parse_words(words)))


def multi_hot(masks) -> np.ndarray:
    """Bit masks (B,) -> (B, len(WORDS)) float32 multi-hot rows."""
    m = np.asarray(masks, np.int64).reshape(-1, 1)
    return ((m >> np.arange(len(WORDS))[None]) & 1).astype(np.float32)


def check_visual(visual, seconds: int | None = None) -> np.ndarray:
    v = np.asarray(visual, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != N_VISUAL or v.shape[0] == 0:
        raise EngineError(f"visual features must have shape (seconds>0, {N_VISUAL}); got {v.shape}")
    if not np.isfinite(v).all():
        raise EngineError("visual features contain NaN or infinite values")
    if seconds is not None and v.shape[0] < seconds:
        raise EngineError(f"visual features cover {v.shape[0]} s, the duration needs {seconds}")
    return np.clip(v, 0.0, 1.0).astype(np.float32)


def to_frames(per_second: np.ndarray, n_frames: int) -> np.ndarray:
    """(S, F) per-second rows -> (n_frames, F) at FRAME_RATE (each second's row repeated)."""
    idx = np.minimum(np.arange(n_frames) // FRAME_RATE, len(per_second) - 1)
    return np.ascontiguousarray(per_second[idx], dtype=np.float32)


def from_video(duration_s: float, motion_mean, brightness, saturation, cut_rate, impact_times) -> np.ndarray:
    """Per-second features (S, 5) of an analysed video: motion_mean (flow speed, frame heights/s),
    brightness and saturation (0..1), cut_rate (cuts per second) per second, impact times (s).
    Motion maps to MOTION_FLOOR..1 and impact density to IMPACT_FLOOR..1 (see MOTION_FLOOR)."""
    S = max(1, int(np.ceil(float(duration_s) - 1e-6)))

    def fit(x):
        x = np.nan_to_num(np.asarray(x, np.float64).reshape(-1))
        return np.pad(x, (0, max(0, S - len(x))), mode="edge" if len(x) else "constant")[:S]

    imp = np.bincount(np.clip(np.asarray(impact_times, np.float64).astype(int), 0, S - 1), minlength=S)[:S] \
        if len(impact_times) else np.zeros(S)
    motion = np.clip(np.log1p(fit(motion_mean) / 0.01) / np.log1p(50.0), 0, 1)  # 0.5 frame heights/s -> 1
    motion = MOTION_FLOOR + (1 - MOTION_FLOOR) * motion
    impacts = IMPACT_FLOOR + (1 - IMPACT_FLOOR) * np.clip(imp / 4.0, 0, 1)
    return np.stack([motion, impacts, np.clip(fit(brightness), 0, 1),
                     np.clip(fit(saturation), 0, 1), np.clip(fit(cut_rate), 0, 1)], 1).astype(np.float32)


def audio_frame_features(x: np.ndarray, sr: int = 24000) -> np.ndarray:
    """Per codec frame (50/s) of 24 kHz mono audio: (T, 4) loudness dB, onset flux, spectral
    centroid (Hz), spectral flatness."""
    n = -(-len(x) // FRAME_HOP)
    xp = np.pad(np.asarray(x, np.float32), (FRAME_HOP // 2, n * FRAME_HOP - len(x) + FRAME_HOP // 2))
    frames = np.lib.stride_tricks.sliding_window_view(xp, 2 * FRAME_HOP)[::FRAME_HOP][:n]
    mag = np.abs(np.fft.rfft(frames * np.hanning(2 * FRAME_HOP), axis=1)) + 1e-9
    freqs = np.fft.rfftfreq(2 * FRAME_HOP, 1.0 / sr)
    db = 10 * np.log10(np.mean(frames ** 2, 1) + 1e-10)
    logm = np.log(mag)
    flux = np.maximum(0.0, np.diff(logm, axis=0, prepend=logm[:1])).mean(1)
    cent = (mag * freqs).sum(1) / mag.sum(1)
    flat = np.exp(logm.mean(1)) / mag.mean(1)
    return np.stack([db, flux, cent, flat], 1).astype(np.float32)


def per_second(frame_feats: np.ndarray, scene_starts=()) -> np.ndarray:
    """Training's synthetic "visual" rows from audio frame features (T, 4) (see module doc)."""
    T = len(frame_feats)
    S = max(1, -(-T // FRAME_RATE))
    f = np.pad(frame_feats, ((0, S * FRAME_RATE - T), (0, 0)), mode="edge").reshape(S, FRAME_RATE, 4)
    db, flux, cent, flat = f[..., 0], f[..., 1], f[..., 2], f[..., 3]
    w = 10 ** (db / 10) + 1e-12
    motion = np.clip((10 * np.log10(np.mean(10 ** (db / 10), 1)) + 60) / 50, 0, 1)
    loud = db > -45
    peaks = (flux[:, 1:-1] > flux[:, :-2]) & (flux[:, 1:-1] >= flux[:, 2:]) & (flux[:, 1:-1] > 1.0) & loud[:, 1:-1]
    bright = np.clip((cent * w).sum(1) / w.sum(1) / 4000.0, 0, 1)
    colour = np.clip(1 - (flat * w).sum(1) / w.sum(1), 0, 1)
    cuts = np.zeros(S)
    for s in scene_starts:
        if 0 < s < T:
            cuts[s // FRAME_RATE] = 1.0
    return np.stack([motion, np.clip(peaks.sum(1) / 4, 0, 1), bright * (motion > 0), colour * (motion > 0),
                     cuts], 1).astype(np.float32)
