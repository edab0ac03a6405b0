"""Spectrogram and motion features of the separation engine (numpy only; training, evaluation and
run time share them, so the network sees the same numbers everywhere).

Model domain: mono at ``SR`` = 11025 Hz, periodic-Hann STFT of ``N_FFT`` = 512 samples every
``HOP`` = 256 (43.07 frames/s, 257 bins up to 5.5 kHz; Sound of Pixels works at 11 kHz too),
centred frames (the signal reflected by N_FFT / 2 at both ends). ``istft`` inverts ``stft``
exactly (Hann at 50 % overlap sums to a constant; the window-sum is divided out anyway).

Motion: the player's keypoints (the studio's 20-joint skeleton, normalised: neck at 0, shoulder
width 1) resampled to the STFT frame rate; per frame x, y of every joint and their velocities
(shoulder widths per second, clipped to +-30): ``MOTION_DIM`` = 80 channels.
"""
from __future__ import annotations

import numpy as np

from engines.performer.keypoints import N_JOINTS, Keypoints, resample

SR = 11025
N_FFT = 512
HOP = 256
N_BINS = N_FFT // 2 + 1
FRAME_RATE = SR / HOP
CLIP_S = 4.0  # the windows the network is trained on
CLIP_SAMPLES = int(CLIP_S * SR)
MOTION_DIM = N_JOINTS * 4
LOG_FLOOR = 1e-3


def hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def n_frames(n_samples: int, hop: int = HOP) -> int:
    return 1 + n_samples // hop


def _padded(x: np.ndarray, n_fft: int) -> np.ndarray:
    pad = n_fft // 2
    widths = [(0, 0)] * (x.ndim - 1) + [(pad, pad)]
    return np.pad(np.asarray(x, np.float32), widths, mode="reflect" if x.shape[-1] > pad else "constant")


def _frames(xp: np.ndarray, a: int, b: int, n_fft: int, hop: int) -> np.ndarray:
    """Windowed frames a..b-1 of the padded signal: (..., b - a, n_fft)."""
    idx = np.arange(n_fft)[None, :] + hop * np.arange(a, b)[:, None]
    return xp[..., idx] * hann(n_fft)


def stft(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """(..., n) real -> (..., n_fft // 2 + 1, 1 + n // hop) complex64 (centred frames)."""
    xp = _padded(x, n_fft)
    frames = _frames(xp, 0, 1 + (xp.shape[-1] - n_fft) // hop, n_fft, hop)
    return np.fft.rfft(frames, axis=-1).swapaxes(-1, -2).astype(np.complex64)


def _overlap_add(out: np.ndarray, frames: np.ndarray, first: int, hop: int) -> None:
    """Add windowed frames (..., t, n_fft) starting at frame ``first`` into ``out``, in
    n_fft // hop strided passes (``hop`` divides n_fft)."""
    t, n_fft = frames.shape[-2:]
    for j in range(n_fft // hop):
        seg = frames[..., j * hop:(j + 1) * hop]
        a = (first + j) * hop
        out[..., a:a + t * hop] += seg.reshape(seg.shape[:-2] + (t * hop,))


def _finish(out: np.ndarray, t: int, length: int, n_fft: int, hop: int) -> np.ndarray:
    """Divide the overlap-added ``out`` by the squared window's sum and cut the padding."""
    w2 = hann(n_fft) ** 2
    wsum = np.zeros(out.shape[-1], np.float32)
    _overlap_add(wsum, np.broadcast_to(w2, (t, n_fft)), 0, hop)
    out /= np.maximum(wsum, 1e-6)
    pad = n_fft // 2
    out = out[..., pad:pad + length]
    if out.shape[-1] < length:
        out = np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, length - out.shape[-1])])
    return out


def istft(spec: np.ndarray, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Inverse of :func:`stft`: (..., F, T) complex -> (..., length) float32 (``hop`` must divide ``n_fft``)."""
    frames = np.fft.irfft(np.swapaxes(spec, -1, -2), n=n_fft, axis=-1).astype(np.float32) * hann(n_fft)
    t = frames.shape[-2]
    out = np.zeros(frames.shape[:-2] + (n_fft + hop * (t - 1),), np.float32)
    _overlap_add(out, frames, 0, hop)
    return _finish(out, t, length, n_fft, hop)


def masked(x: np.ndarray, mask: np.ndarray, n_fft: int = N_FFT, hop: int = HOP, block: int = 2048) -> np.ndarray:
    """``istft(stft(x) * mask)`` for one signal (n,) and a mask (n_fft // 2 + 1, 1 + n // hop),
    ``block`` frames at a time (memory stays that of a block, not of the whole spectrogram)."""
    xp = _padded(x, n_fft)
    t = 1 + (xp.shape[-1] - n_fft) // hop
    out = np.zeros(n_fft + hop * (t - 1), np.float32)
    for a in range(0, t, block):
        b = min(t, a + block)
        spec = np.fft.rfft(_frames(xp, a, b, n_fft, hop), axis=-1) * mask[:, a:b].T
        _overlap_add(out, np.fft.irfft(spec, n=n_fft, axis=-1).astype(np.float32) * hann(n_fft), a, hop)
    return _finish(out, t, x.shape[-1], n_fft, hop)


def log_magnitude(spec: np.ndarray) -> np.ndarray:
    return np.log(np.abs(spec) + LOG_FLOOR).astype(np.float32)


def motion_features(kp: Keypoints, frames: int, start_s: float = 0.0) -> np.ndarray:
    """Keypoints -> (frames, MOTION_DIM) float32 at FRAME_RATE from ``start_s`` (the last
    frame is held past the end of the track)."""
    r = resample(kp, FRAME_RATE)
    xy = r.xy.reshape(r.n_frames, -1).astype(np.float32)
    vel = np.gradient(xy, axis=0) * FRAME_RATE if len(xy) > 1 else np.zeros_like(xy)
    f = np.concatenate([xy, np.clip(vel, -30, 30)], 1)
    a = int(round(start_s * FRAME_RATE))
    idx = np.clip(np.arange(a, a + frames), 0, len(f) - 1)
    return np.ascontiguousarray(f[idx], np.float32)
