"""Per-frame colour statistics and their per-second summaries (1 Hz appearance descriptors)."""
from __future__ import annotations

import cv2
import numpy as np


def thumbnail(rgb: np.ndarray, max_pixels: int = 4096) -> np.ndarray:
    """The frame halved until it has at most ``max_pixels`` (colour statistics need no more)."""
    while rgb.shape[0] * rgb.shape[1] > max_pixels and min(rgb.shape[:2]) >= 4:
        rgb = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return rgb


def colour_stats(rgb: np.ndarray) -> np.ndarray:
    """(5,) for one small RGB frame: mean R, G, B, brightness (HSV V), saturation (HSV S), 0..1."""
    r, g, b, _ = cv2.mean(rgb)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    _, s, v, _ = cv2.mean(hsv)
    return np.array([r, g, b, v, s], dtype=np.float64) / 255.0


def per_second(times_s: np.ndarray, values: np.ndarray, n_seconds: int) -> np.ndarray:
    """Mean of ``values`` (F, C) over frames in each second [s, s+1); empty seconds take the
    nearest earlier (or later) filled second. Linear in frames + seconds (bincount)."""
    values = np.asarray(values, dtype=np.float64).reshape(len(times_s), -1)
    out = np.full((n_seconds, values.shape[1]), np.nan)
    if len(times_s) and n_seconds > 0:
        sec = np.clip(np.floor(np.asarray(times_s) + 1e-9).astype(int), 0, n_seconds - 1)
        count = np.bincount(sec, minlength=n_seconds)
        filled = count > 0
        for c in range(values.shape[1]):
            out[filled, c] = np.bincount(sec, weights=values[:, c], minlength=n_seconds)[filled] / count[filled]
    return _fill(out)


def per_second_stats(grid_t: np.ndarray, x: np.ndarray, n_seconds: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of a grid signal in each second (0 for a second without samples).
    Linear in samples + seconds: the cost follows the grid, not a product with the seconds."""
    mean, var = np.zeros(n_seconds), np.zeros(n_seconds)
    x = np.asarray(x, dtype=np.float64)
    sec = np.floor(np.asarray(grid_t) + 1e-9).astype(int)
    keep = (sec >= 0) & (sec < n_seconds)
    sec, x = sec[keep], x[keep]
    count = np.bincount(sec, minlength=n_seconds)[:n_seconds]
    ok = count > 0
    if ok.any():
        total = np.bincount(sec, weights=x, minlength=n_seconds)[:n_seconds]
        mean[ok] = total[ok] / count[ok]
        dev = x - mean[sec]  # two passes: no cancellation in the variance
        var[ok] = np.bincount(sec, weights=dev * dev, minlength=n_seconds)[:n_seconds][ok] / count[ok]
    return mean, var


def _fill(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a[:, 0]) if len(a) else np.zeros(0, bool)
    if not ok.any():
        return np.zeros_like(a)
    idx = np.where(ok, np.arange(len(a)), -1)
    np.maximum.accumulate(idx, out=idx)
    first = int(np.argmax(ok))
    idx[idx < 0] = first
    return a[idx]
