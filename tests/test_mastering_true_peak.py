"""studio.mastering's true-peak detector (issue 23): the matrix-product oversampler in
``_intersample_level`` against a plain per-channel, per-phase convolution of the whole signal, on
random audio, intersample overs, silence, a click, signals shorter than the filter, float32 and
float64, mono and stereo, with and without the threshold/block selection the callers use."""
from __future__ import annotations

import math

import numpy as np
import pytest

from studio import mastering as mst

SR = 48000
BLOCK = mst.BLOCK


def _full_level(x: np.ndarray) -> np.ndarray:
    """The straightforward route: every frame, every channel, every phase, one np.convolve each
    (float64), zeros beyond the ends; per frame the max of |sample| and |interpolated|."""
    taps, _ = mst._interpolator()
    x = np.asarray(x, np.float32)
    n = x.shape[1]
    level = np.abs(x).max(axis=0).astype(np.float64)
    lead = mst.TAPS_PER_PHASE // 2 - 1  # tap j multiplies x[frame - 7 + j]
    for ch in x.astype(np.float64):
        for t in taps.astype(np.float64):
            full = np.convolve(ch, t[::-1])  # full[i] = sum_j t[j] ch[i - 15 + j]
            y = full[mst.TAPS_PER_PHASE - 1 - lead:][:n]  # value at frame m + k/4
            if y.size < n:
                y = np.concatenate([y, np.zeros(n - y.size)])
            level = np.maximum(level, np.abs(y))
    return level


def _expected(x: np.ndarray, threshold: float = 0.0, blocks=None) -> np.ndarray:
    """The documented contract: interpolated in the blocks whose reach (own and neighbouring block
    peaks) times the bound can reach ``threshold`` (and among ``blocks``), the sample level elsewhere."""
    _, bound = mst._interpolator()
    x = np.asarray(x, np.float32)
    sample = np.abs(x).max(axis=0).astype(np.float64)
    full = _full_level(x)
    nb = -(-x.shape[1] // BLOCK)
    peaks = np.array([sample[b * BLOCK:(b + 1) * BLOCK].max() for b in range(nb)])
    reach = np.array([peaks[max(0, b - 1):b + 2].max() for b in range(nb)])
    chosen = set(np.nonzero(reach.astype(np.float32) * bound >= threshold)[0].tolist())
    if blocks is not None:
        chosen &= set(np.asarray(blocks).tolist())
    out = sample.copy()
    for b in chosen:
        out[b * BLOCK:(b + 1) * BLOCK] = full[b * BLOCK:(b + 1) * BLOCK]
    return out


def _check(x, threshold=0.0, blocks=None):
    got = mst._intersample_level(x, threshold, None if blocks is None else np.asarray(blocks))
    want = _expected(x, threshold, blocks)
    assert got.dtype == np.float32 and got.shape == (np.asarray(x).shape[1],)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
    return got


def _signals():
    rng = np.random.default_rng(23)
    n = np.arange(3 * BLOCK * 16 + 777)  # several 16-block chunks and a ragged end
    quarter = np.sin(2 * np.pi * 0.25 * n + np.pi / 4)  # samples at 0.707, the wave peaks at 1.0
    click = np.zeros(5000)
    click[2500] = 0.9
    return {
        "noise": rng.standard_normal((2, n.size)) * 0.3,
        "quarter_sine": np.stack([quarter, 0.5 * quarter]),
        "silence": np.zeros((2, 4000)),
        "click": click[None],
        "click_at_start": np.eye(1, 3000, 0),
        "click_at_end": np.eye(1, 3000, 2999),
        "one_frame": np.array([[0.5], [-0.25]]),
        "shorter_than_filter": rng.standard_normal((2, 11)),
        "exactly_the_filter": rng.standard_normal((1, mst.TAPS_PER_PHASE)),
        "one_block": rng.standard_normal((2, BLOCK)),
        "block_and_one": rng.standard_normal((1, BLOCK + 1)),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(_signals()))
def test_level_equals_full_oversampling(name, dtype):
    x = _signals()[name].astype(dtype)
    for xs in (x, x[:1]):  # as given, and its first channel alone
        _check(xs)  # threshold 0: every block
        if np.abs(xs).max() > 0:
            peak = float(np.abs(xs.astype(np.float32)).max())
            _check(xs, peak)  # true_peak_dbtp's selection
            _check(xs, 1.5 * peak)
        _check(xs, 1e9)  # nothing can reach it: the sample level


def test_quarter_sine_reads_its_true_peak_3db_above_the_samples():
    x = _signals()["quarter_sine"].astype(np.float32)
    level = _check(x)
    assert abs(float(np.abs(x).max()) - math.sqrt(0.5)) < 1e-6
    inner = float(level[100:-100].max())  # away from the ends, where the cut-off wave rings
    assert abs(inner - 1.0) < 0.02  # 3 dB over the samples (the 16-tap filter reads 0.9985)
    assert inner == pytest.approx(float(_full_level(x)[100:-100].max()), rel=1e-6)
    assert mst.true_peak_dbtp(x) == pytest.approx(20 * math.log10(_full_level(x).max()), abs=1e-5)


def test_selected_blocks_and_sparse_loud_blocks():
    """Non-consecutive blocks (the gather path), the first and last block (zero padding), and a
    threshold that picks a few loud blocks out of a quiet signal."""
    rng = np.random.default_rng(5)
    n = 40 * BLOCK + 300
    x = (0.01 * rng.standard_normal((2, n))).astype(np.float32)
    for b in (0, 7, 8, 20, 39, 40):
        x[:, b * BLOCK + 100:b * BLOCK + 250] = rng.standard_normal((2, 150)) * 0.8
    x[:, -1] = 0.95  # a loud last frame
    _check(x, 0.5)
    _check(x, 0.0, [0, 3, 4, 5, 17, 40])
    _check(x, 0.5, list(range(0, 41, 2)))
    _check(x, 0.0, list(range(3, 3 + 16)))  # a whole chunk of consecutive blocks
    _check(x[:, ::-1].copy(), 0.5)
    _check(np.asfortranarray(x), 0.0)  # (frames, channels) data transposed, as the CLI passes it


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 2])
def test_true_peak_dbtp_is_the_full_oversampled_maximum(dtype, channels):
    rng = np.random.default_rng(channels)
    for x in (rng.standard_normal((channels, 30000)) * 0.2,
              np.concatenate([np.zeros((channels, 20000)), rng.standard_normal((channels, 3000))], axis=1),
              rng.standard_normal((channels, 7))):
        x = x.astype(dtype)
        want = 20 * math.log10(float(_full_level(x).max()))
        assert mst.true_peak_dbtp(x) == pytest.approx(want, abs=1e-5)  # 1e-6 relative in amplitude
    assert mst.true_peak_dbtp(np.zeros((channels, 50), dtype)) == float("-inf")
    assert mst.true_peak_dbtp(np.zeros((channels, 0), dtype)) == float("-inf")
    assert mst._intersample_level(np.zeros((channels, 0), dtype)).shape == (0,)
