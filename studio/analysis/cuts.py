"""Hard scene cuts: frame-to-frame colour-histogram distance against an adaptive threshold."""
from __future__ import annotations

import cv2
import numpy as np

from studio.analysis.timeline import AnalysisParams

HIST_BINS = 8  # per RGB channel


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalised 8x8x8 RGB histogram (512,) of a small frame."""
    h = cv2.calcHist([rgb], [0, 1, 2], None, [HIST_BINS] * 3, [0, 256] * 3).ravel()
    return h / max(1.0, float(h.sum()))


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance (0..1) between two normalised histograms."""
    return 0.5 * float(np.abs(a - b).sum())


def detect_cuts(times_s: np.ndarray, distances: np.ndarray, params: AnalysisParams) -> np.ndarray:
    """Indices i (into ``distances``; the cut lies between frame i and i+1) of hard cuts.

    A cut is a distance above ``cut_min_distance`` and ``cut_ratio`` times the median distance
    over the surrounding second (smooth motion and slow fades change the histogram gradually,
    a cut at once), and the largest within ``cut_min_gap_s``.
    """
    n = len(distances)
    if n == 0:
        return np.zeros(0, int)
    t = np.asarray(times_s[1:n + 1], dtype=np.float64)
    out: list[int] = []
    for i in np.argsort(-distances, kind="stable"):
        d = distances[i]
        if d < params.cut_min_distance:
            break
        near = (np.abs(t - t[i]) <= 1.0)
        near[i] = False
        background = float(np.median(distances[near])) if near.any() else 0.0
        if d < params.cut_ratio * background:
            continue
        if any(abs(t[i] - t[j]) < params.cut_min_gap_s for j in out):
            continue
        out.append(int(i))
    return np.array(sorted(out), dtype=int)
