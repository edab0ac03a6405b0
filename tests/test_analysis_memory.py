"""The analysis keeps compact features and works on windows (issue 23): memory that does not grow
with the video beyond a few hundred bytes a frame, and results equal to the whole-length pass."""
from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pytest

import rhythm_fixtures as rf
from studio.analysis import AnalysisParams, analyze
from studio.analysis import impacts as I
from studio.analysis import motion as M
from studio.analysis import onsets as O


def _fields(tl) -> dict:
    return {f.name: getattr(tl, f.name) for f in dataclasses.fields(tl) if f.name != "extra"}


@pytest.mark.parametrize("kind", ["ball-60fps", "cuts-30fps"])
def test_windows_chunks_and_blocks_give_the_whole_length_result(tmp_path, monkeypatch, kind):
    """Tiny windows (contacts), chunks (flux) and blocks (the pair store) put a boundary at
    almost every pair, in both contact modes (60 fps: two pairs as one) and across cuts:
    every field of the timeline is the same as with one window over the whole clip."""
    path = tmp_path / "clip.mp4"
    if kind == "ball-60fps":
        rf.bouncing_ball_video(path, fps=60, min_speed=0.0)
    else:
        rf.cut_video(path)
    whole = _fields(analyze(path, use_cache=False))
    monkeypatch.setattr(I, "WINDOW", 7)  # the smallest: each window judges one pair
    monkeypatch.setattr(O, "FLUX_CHUNK", 3)
    monkeypatch.setattr(M, "BLOCK_ROWS", 5)
    small = _fields(analyze(path, use_cache=False))
    assert kind != "ball-60fps" or len(whole["impacts"]) >= 4
    for name, value in whole.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == small[name].dtype and np.array_equal(value, small[name]), name
        else:
            assert value == small[name], name


@pytest.mark.parametrize("spill", [False, True])
def test_pair_store_keeps_640_bytes_a_pair_in_blocks(spill):
    """640 bytes a pair (a PairFeatures object held ~1.3 kB); spilled, the cells (576 of them)
    wait in a temporary file but for the block being filled, and read back the same."""
    params = AnalysisParams()
    store = M.PairStore(params.impact_grid, spill=spill)
    gw, gh = params.impact_grid
    rng = np.random.default_rng(1)
    rows = [M.PairFeatures(i / 30, (i + 1) / 30, float(i), rng.random(10).astype(np.float32),
                           rng.random((gh, gw, M.N_CELL)).astype(np.float32)) for i in range(2 * 4096 + 3)]
    for q in rows:
        store.append(q)
    # t0, t1, energy float64; directions, cells float32
    assert store.nbytes == (3 * 4096 * 64 + 4096 * 576 if spill else 3 * 4096 * 640)
    a = store.arrays()
    assert np.array_equal(a["t0"], [q.t0 for q in rows]) and np.array_equal(a["energy"], [q.energy for q in rows])
    assert np.array_equal(a["directions"], np.stack([q.directions for q in rows]))
    cells = np.stack([q.cells for q in rows])
    for lo, hi in ((0, 1), (4090, 4100), (4096, 8192), (8190, 8195), (5, 5), (0, len(rows))):
        got = a["cells"][lo:hi]
        assert got.dtype == np.float32 and got.shape == cells[lo:hi].shape and np.array_equal(got, cells[lo:hi])


def test_contact_search_memory_does_not_grow_with_the_length():
    """The contact search held ~15 kB of float64 temporaries a pair (1.3 GB at an hour of
    30 fps); windows of pairs bound them."""
    params = AnalysisParams()
    gw, gh = params.impact_grid
    peaks = []
    for k in (3000, 9000):
        t0 = np.arange(k) / 30.0
        cells = np.zeros((k, gh, gw, M.N_CELL), np.float32)
        valid = np.ones(k, bool)
        tracemalloc.start()
        I.detect_impacts(t0, t0 + 1 / 30, cells, valid, params)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] - peaks[0] < 2e6 and peaks[1] < 30e6, peaks
