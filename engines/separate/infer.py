"""Separate the sound of one visible player from a soundtrack (Music Gesture style): the mixture's
spectrogram + the player's body keypoints -> a mask -> the player's audio and the residual.

    from engines.performer.keypoints import load_keypoints
    from engines.separate.infer import Separator

    kp = load_keypoints("clip.keypoints.json", person=1)
    sep = Separator().separate(audio, sample_rate, kp)   # audio (channels, n) or (n,) float32
    sep.player, sep.residual                             # (channels, n) float32 each; player + residual == audio

Run time: numpy + onnxruntime only (the model through ``engines.runtime.session``; STFTs in
``dsp.py``). The network works on mono at 11025 Hz in 4 s windows (``dsp.CLIP_S``) at 50 %
overlap (masks cross-faded with a sine window); the mask is then mapped onto the STFT of the
original audio at its own rate and channels (linear interpolation over time and frequency;
above 5.5 kHz, which the model does not see, each frame's mask is the mean of its top octave,
2.75-5.5 kHz) and the player's audio is the masked STFT with the mixture's phase, one channel
and 2048 frames at a time (10 minutes of 48 kHz stereo: 11.5 s and 1.6 GB peak memory here). The
residual is the original minus the player, so the two always sum to the original.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.errors import EngineError, ModelError
from engines.performer.keypoints import Keypoints
from engines.separate import dsp

PLAYER, AUDIO_ONLY = "separate_player", "separate_audio_only"
BATCH = 16


@dataclass
class Separation:
    player: np.ndarray  # (channels, n) float32
    residual: np.ndarray  # (channels, n) float32
    sample_rate: int
    mask: np.ndarray  # (N_BINS, frames) the model-domain mask, for inspection


def to_model_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(channels, n) or (n,) at ``sample_rate`` -> mono float32 at dsp.SR."""
    from math import gcd

    from scipy.signal import resample_poly

    x = np.asarray(audio, np.float32)
    mono = x.mean(0) if x.ndim == 2 else x
    if sample_rate == dsp.SR:
        return mono.astype(np.float32)
    g = gcd(int(sample_rate), dsp.SR)
    return resample_poly(mono, dsp.SR // g, int(sample_rate) // g).astype(np.float32)


def _window_starts(n: int, t: int) -> list[int]:
    if n <= t:
        return [0]
    starts = list(range(0, n - t + 1, t // 2))
    if starts[-1] != n - t:
        starts.append(n - t)
    return starts


def _check_meta(sess, name: str) -> int:
    meta = sess.get_modelmeta().custom_metadata_map
    try:
        ok = (int(meta["sample_rate"]), int(meta["n_fft"]), int(meta["hop"])) == (dsp.SR, dsp.N_FFT, dsp.HOP)
        frames = int(meta["frames"])
    except (KeyError, ValueError) as exc:
        raise ModelError(f"model {name} lacks its STFT metadata ({exc}); rebuild it") from None
    if not ok:
        raise ModelError(f"model {name} was trained on another STFT ({meta.get('sample_rate')} Hz, "
                         f"{meta.get('n_fft')}/{meta.get('hop')}) than this engine computes; rebuild it")
    return frames


class Separator:
    """The shipped player model (``separate_player``)."""

    def __init__(self, models_dir: Path | None = None):
        from engines import runtime

        self.models_dir = Path(models_dir) if models_dir else runtime.MODELS_DIR
        self.sess = runtime.session(PLAYER, self.models_dir)
        self.frames = _check_meta(self.sess, PLAYER)

    def window_masks(self, logmag: np.ndarray, motion: np.ndarray) -> np.ndarray:
        """Windows (B, N_BINS, frames) log-magnitude + (B, frames, MOTION_DIM) -> masks (B, N_BINS, frames)."""
        out = [self.sess.run(None, {"mixture": np.ascontiguousarray(logmag[i:i + BATCH], np.float32),
                                    "motion": np.ascontiguousarray(motion[i:i + BATCH], np.float32)})[0][:, 0]
               for i in range(0, len(logmag), BATCH)]
        return np.concatenate(out)

    def mask(self, mono: np.ndarray, kp: Keypoints, start_s: float = 0.0) -> np.ndarray:
        """Mono audio at dsp.SR + the player's keypoints -> mask (N_BINS, frames of dsp.stft).
        ``start_s``: the keypoints' time of the audio's first sample."""
        lm = dsp.log_magnitude(dsp.stft(mono))
        n, t = lm.shape[1], self.frames
        motion = dsp.motion_features(kp, max(n, t), start_s)
        if n < t:
            lm = np.pad(lm, ((0, 0), (0, t - n)), constant_values=np.log(dsp.LOG_FLOOR))
        starts = _window_starts(lm.shape[1], t)
        masks = self.window_masks(np.stack([lm[:, s:s + t] for s in starts]),
                                  np.stack([motion[s:s + t] for s in starts]))
        w = np.sin(np.pi * (np.arange(t) + 0.5) / t).astype(np.float32)
        acc = np.zeros_like(lm)
        wsum = np.zeros(lm.shape[1], np.float32)
        for s, m in zip(starts, masks):
            acc[:, s:s + t] += m * w
            wsum[s:s + t] += w
        return (acc / np.maximum(wsum, 1e-6))[:, :n]

    def separate(self, audio: np.ndarray, sample_rate: int, kp: Keypoints, start_s: float = 0.0) -> Separation:
        """The player's audio and the residual; ``start_s``: where the audio starts on the
        keypoints' clock (an audio stream that starts after the picture: positive)."""
        x = np.asarray(audio, np.float32)
        if x.ndim not in (1, 2) or x.shape[-1] == 0:
            raise EngineError(f"audio must be (n,) or (channels, n) with samples; got shape {x.shape}")
        if not np.isfinite(x).all():
            raise EngineError("audio holds NaN or infinite samples")
        stereo = x if x.ndim == 2 else x[None]
        m = self.mask(to_model_rate(stereo, sample_rate), kp, start_s)
        player = apply_mask(stereo, int(sample_rate), m)
        return Separation(player, (stereo - player).astype(np.float32), int(sample_rate), m)


def apply_mask(audio: np.ndarray, sample_rate: int, mask: np.ndarray) -> np.ndarray:
    """(channels, n) at ``sample_rate`` x a model-domain mask (N_BINS, frames) -> the masked
    audio (channels, n), mixture phase (module doc). One channel and block of frames at a time."""
    if sample_rate == dsp.SR:
        n_fft, hop = dsp.N_FFT, dsp.HOP
    else:
        n_fft = int(2 ** round(np.log2(dsp.N_FFT * sample_rate / dsp.SR)))
        hop = n_fft // 4
    m = mask_on_grid(mask, n_fft // 2 + 1, dsp.n_frames(audio.shape[-1], hop), sample_rate / n_fft,
                     hop / sample_rate)
    return np.stack([dsp.masked(ch, m, n_fft, hop) for ch in audio])


def mask_on_grid(mask: np.ndarray, bins: int, frames: int, bin_hz: float, frame_s: float) -> np.ndarray:
    """The model-domain mask linearly interpolated onto another STFT grid (``bins`` bins
    ``bin_hz`` apart, ``frames`` frames ``frame_s`` apart), time first, then frequency; above
    the model's band each frame's mean over its top octave; float32 (bins, frames)."""
    t = np.clip(np.arange(frames) * frame_s * dsp.FRAME_RATE, 0, mask.shape[1] - 1)
    t0 = np.floor(t).astype(int)
    t1 = np.minimum(t0 + 1, mask.shape[1] - 1)
    wt = (t - t0).astype(np.float32)
    mt = (1 - wt) * mask[:, t0] + wt * mask[:, t1]  # (N_BINS, frames)
    ext = np.concatenate([mt, mt[dsp.N_BINS // 2:].mean(0, keepdims=True)], 0)  # row N_BINS: above the band
    f = np.arange(bins) * bin_hz / (dsp.SR / dsp.N_FFT)
    above = f > dsp.N_BINS - 1
    f = np.clip(f, 0, dsp.N_BINS - 1)
    f0 = np.floor(f).astype(int)
    f1 = np.minimum(f0 + 1, dsp.N_BINS - 1)
    wf = (f - f0).astype(np.float32)[:, None]
    f0, f1 = np.where(above, dsp.N_BINS, f0), np.where(above, dsp.N_BINS, f1)
    return ((1 - wf) * ext[f0] + wf * ext[f1]).astype(np.float32)


def audio_only_masks(logmag: np.ndarray, models_dir: Path | None = None) -> np.ndarray:
    """The audio-only baseline (evaluation only): 4 s windows (B, N_BINS, frames) -> (B, K, N_BINS, frames)."""
    from engines import runtime

    sess = runtime.session(AUDIO_ONLY, Path(models_dir) if models_dir else runtime.MODELS_DIR)
    _check_meta(sess, AUDIO_ONLY)
    return np.concatenate([sess.run(None, {"mixture": np.ascontiguousarray(logmag[i:i + BATCH], np.float32)})[0]
                           for i in range(0, len(logmag), BATCH)])
