"""The analysis's Farneback flow from per-frame expansions against OpenCV's own call."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from studio.analysis.flow import FarnebackFlow
from studio.analysis.motion import MotionAnalyzer, PairStore
from studio.analysis.timeline import AnalysisParams

TOLERANCE_PX = 1e-4  # measured: at most ~1.3e-5 px apart on the bench clip's frames


def _scene(w: int, h: int, t: float, seed: int = 0) -> np.ndarray:
    """A blurred noise texture drifting sideways with a bright ball falling across it."""
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.standard_normal((h, 2 * w)).astype(np.float32), (0, 0), 2.0)
    tex = np.clip(120 + 50 * tex / tex.std(), 0, 255).astype(np.uint8)
    off = int(round(3 * t)) % w
    img = np.ascontiguousarray(tex[:, off:off + w])
    cv2.circle(img, (int(w * (0.3 + 0.02 * t)), int(h * (0.2 + 0.05 * t))), max(2, h // 8), 240, -1)
    return img


def _opencv(a, b, levels=3, winsize=9, iterations=1, poly_n=5, poly_sigma=1.1):
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, levels, winsize, iterations, poly_n, poly_sigma, 0)


@pytest.mark.parametrize("size", [(96, 54), (54, 96), (63, 40), (127, 63), (11, 11)])
@pytest.mark.parametrize("window", [(9, 5, 1.1), (15, 7, 1.5)])
def test_the_flow_from_kept_expansions_is_opencvs(size, window):
    w, h = size
    winsize, poly_n, poly_sigma = window
    assert FarnebackFlow.supported(size, levels=3, iterations=1)
    flow = FarnebackFlow(size, winsize, poly_n, poly_sigma)
    frames = [_scene(w, h, t) for t in range(6)]
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (h, w), dtype=np.uint8)
    frames += [noise, np.roll(noise, 2, axis=1), np.full((h, w), 77, np.uint8)]
    expansions = [flow.expand(f) for f in frames]  # each frame once, as the analysis does
    moved = 0.0
    for (a, ea), (b, eb) in zip(zip(frames, expansions), zip(frames[1:], expansions[1:])):
        ref = _opencv(a, b, winsize=winsize, poly_n=poly_n, poly_sigma=poly_sigma)
        got = flow.flow(ea, eb)
        assert got.shape == ref.shape and got.dtype == np.float32
        assert np.abs(got - ref).max() <= TOLERANCE_PX
        moved = max(moved, float(np.abs(ref).max()))
    assert moved > 0.5  # the frames did move: the comparison is not of zeros


def test_only_opencvs_single_level_one_iteration_case_is_computed_here():
    # OpenCV builds a pyramid level only where half the short side is 32 px or more
    assert FarnebackFlow.supported((96, 54), levels=3, iterations=1)
    assert not FarnebackFlow.supported((96, 72), levels=3, iterations=1)
    assert FarnebackFlow.supported((96, 72), levels=0, iterations=1)
    assert not FarnebackFlow.supported((96, 54), levels=3, iterations=2)
    assert not FarnebackFlow.supported((10, 54), levels=0, iterations=1)  # all border
    a, b = _scene(96, 72, 0), _scene(96, 72, 1)
    flow = FarnebackFlow((96, 72), 9, 5, 1.1)
    same = flow.flow(flow.expand(a), flow.expand(b))
    assert np.abs(same - _opencv(a, b, levels=0)).max() <= TOLERANCE_PX
    # with the pyramid OpenCV's answer is another one: this is why such sizes are left to it
    assert np.abs(same - _opencv(a, b, levels=3)).max() > 100 * TOLERANCE_PX


def _pairs(params: AnalysisParams, n: int = 8) -> PairStore:
    m = MotionAnalyzer(params, (160, 90), pairs=PairStore(params.impact_grid))
    for i in range(n):
        m.add(i / 30, _scene(160, 90, 2 * i, seed=5))
    return m.pairs


def test_the_motion_analysis_uses_it_with_the_same_features(monkeypatch):
    params = AnalysisParams()
    assert MotionAnalyzer(params, (160, 90))._fast_flow is not None
    fast = _pairs(params)
    monkeypatch.setattr(FarnebackFlow, "supported", staticmethod(lambda *a, **k: False))
    assert MotionAnalyzer(params, (160, 90))._fast_flow is None
    slow = _pairs(params)
    f, s = fast.arrays(), slow.arrays()
    assert len(f["t0"]) == len(s["t0"]) == 7
    assert s["energy"].min() > 0
    np.testing.assert_allclose(f["energy"], s["energy"], rtol=1e-4)
    np.testing.assert_allclose(f["directions"], s["directions"], rtol=1e-3, atol=1e-6)
    # the camera fit (the texture drifts) resamples the second frame: ~1e-4 of the differences
    np.testing.assert_allclose(f["cells"].array(), s["cells"].array(), rtol=1e-3, atol=1e-2)


def test_other_settings_are_left_to_opencv():
    params = AnalysisParams(flow_iterations=2)
    m = MotionAnalyzer(params, (160, 90))
    assert m._fast_flow is None
    a, b = _scene(96, 54, 0), _scene(96, 54, 1)
    np.testing.assert_array_equal(m._flow(a, b), _opencv(a, b, iterations=2))
