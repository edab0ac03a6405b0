"""Shared measures for the spatial tests: interaural time and level differences of a BRIR."""
from __future__ import annotations

import numpy as np


def itd_ild(ir: np.ndarray, fs: int = 48000) -> tuple[float, float]:
    """(ITD seconds, > 0 when the right ear lags; ILD dB, > 0 when the left ear is louder) of
    the direct sound: the 2.5 ms from the first arrival at either ear."""
    a = np.abs(ir).max(axis=0)
    start = int(np.argmax(a >= 0.1 * a.max()))
    seg = ir[:, max(0, start - 48):start + 120].astype(np.float64)
    max_lag = int(0.001 * fs)
    lags = np.arange(-max_lag, max_lag + 1)
    l, r = seg[0], seg[1]
    xc = [np.dot(l[max(0, -k):len(l) - max(0, k)], r[max(0, k):len(r) - max(0, -k)]) for k in lags]
    itd = lags[int(np.argmax(xc))] / fs
    ild = 10 * np.log10(np.sum(l ** 2) / max(np.sum(r ** 2), 1e-30))
    return float(itd), float(ild)
