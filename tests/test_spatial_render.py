"""Spatial engine DSP: partitioned convolution, click-free moving sources, tail/measures
(no trained model needed: a synthetic field stands in)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engines.spatial import dsp
from engines.spatial.render import Convolver, MultiRenderer, convolve, keyframe_path, render_path
from engines.spatial.rooms import PRESETS, bounce_points


@pytest.mark.parametrize("block", [128, 512])
def test_partitioned_equals_direct_convolution(block):
    rng = np.random.default_rng(block)
    x = (0.5 * rng.standard_normal(9000)).astype(np.float32)
    n = 5000
    ir = (0.2 * rng.standard_normal((2, n)) * np.exp(-np.arange(n) / 1200)).astype(np.float32)
    y = convolve(x, ir, block)
    ref = np.stack([np.convolve(x.astype(np.float64), ir[e].astype(np.float64)) for e in range(2)])
    assert y.shape == ref.shape
    assert np.max(np.abs(y - ref)) < 1e-5


@pytest.mark.parametrize("taps,block", [(16 * 512, 512), (3 * 512 + 100, 512), (512, 512), (5 * 64, 64)])
def test_a_run_of_held_blocks_equals_them_one_by_one(taps, block):
    """``process_run`` (the offline renderer's held stretches) gives the outputs and leaves the
    delay line as the same blocks through ``process``, around a filter change, for runs shorter
    and longer than the filter's partitions."""
    rng = np.random.default_rng(taps)
    ir = (0.2 * rng.standard_normal((2, taps))).astype(np.float32)
    x = rng.standard_normal(60 * block).astype(np.float32)
    one, runs = Convolver(ir, block), Convolver(ir, block)
    ref = []
    for i in range(60):
        if i == 20:
            one.set_ir(0.5 * ir)
        ref.append(one.process(x[i * block:(i + 1) * block]))
    got, i = [], 0
    for k in (1, 3, 16, 21, 2, 17):
        if i == 20:
            runs.set_ir(0.5 * ir)
            with pytest.raises(ValueError):
                runs.process_run(x[i * block:(i + k) * block])  # a pending change is process()'s
            got.append(runs.process(x[i * block:(i + 1) * block]))
            i, k = i + 1, k - 1
        got.append(runs.process_run(x[i * block:(i + k) * block]))
        i += k
    ref, got = np.concatenate(ref, axis=-1), np.concatenate(got, axis=-1)
    assert got.shape == ref.shape == (2, 60 * block)
    assert np.max(np.abs(got - ref)) < 1e-6 * np.max(np.abs(ref))
    assert runs._h == one._h and np.allclose(runs._fdl2, one._fdl2)
    assert np.array_equal(runs.buf, one.buf)


def test_partial_update_equals_full_filter():
    """Changing only the first partitions gives the same stationary output as the new filter."""
    rng = np.random.default_rng(1)
    a = (0.1 * rng.standard_normal((2, 4096))).astype(np.float32)
    b = a.copy()
    b[:, :1024] = 0.1 * rng.standard_normal((2, 1024))
    x = rng.standard_normal(256 * 40).astype(np.float32)
    c = Convolver(a, 256)
    out = []
    for i in range(40):
        if i == 20:
            c.set_ir(b, 0, 4)
        out.append(c.process(x[i * 256:(i + 1) * 256]))
    y = np.concatenate(out, axis=-1)
    ref = np.stack([np.convolve(x, b[e])[:len(x)] for e in range(2)])
    # once the new filter's whole length has passed, the output is that of the new filter
    assert np.max(np.abs(y[:, 21 * 256 + 4096:] - ref[:, 21 * 256 + 4096:])) < 1e-5


class FakeField:
    """Stands in for engines.spatial.infer.Field: a direct path whose delay and level follow
    the distance, an early reflection and a tail; no ONNX needed."""

    def __init__(self, room="studio"):
        self.room = PRESETS[room]
        self.n = int(round(self.room.ir_s * dsp.IR_RATE))
        self.sample_rate = dsp.IR_RATE

    def raw(self, src, lis, yaw):
        src, lis = np.atleast_2d(src), np.atleast_2d(lis)
        N = len(src)
        T = int(dsp.EARLY_S * dsp.FIELD_RATE)
        early = np.zeros((N, 2, T), np.float32)
        tail = np.zeros((N, 2, dsp.N_BANDS, 2), np.float32)
        hrir = np.zeros((N, 2, 128), np.float32)
        for i in range(N):
            v = src[i] - lis[i]
            d = np.linalg.norm(v)
            k = int(round((d + 2.0) / 343.0 * dsp.FIELD_RATE))
            early[i, :, min(k, T - 1)] = 0.3 / (4 * math.pi * (d + 2.0))
            tail[i, :, :, 0] = -70.0 - 5 * d
            tail[i, :, :, 1] = -200.0
            side = np.sign(v[1]) if abs(v[1]) > 1e-6 else 0.0
            hrir[i, 0, 8] = 1.0 + 0.5 * side
            hrir[i, 1, 8] = 1.0 - 0.5 * side
        return early, tail, hrir


def _boundary_jump_ratio(y, block, skip):
    """Largest sample-to-sample step across a block boundary over the 99.9th percentile of the
    steps inside blocks (after ``skip`` samples)."""
    d = np.abs(np.diff(y, axis=-1))[:, skip:]
    at = (np.arange(skip, skip + d.shape[-1]) + 1) % block == 0  # d[k] = y[k + 1] - y[k]
    return float(d[:, at].max() / np.percentile(d[:, ~at], 99.9))


def test_moving_source_has_no_clicks_at_block_boundaries():
    field = FakeField()
    room = field.room
    sr, block = 48000, 512
    t = np.arange(int(1.2 * sr)) / sr
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    lis = np.asarray(room.listener)
    times = np.array([0.5, 1.2])  # about 6 cm (8 samples of delay) per block
    pos = np.stack([room.clip(lis + [-2.2, 2.4, 0.0]), room.clip(lis + [2.2, 0.3, 0.0])])
    path = keyframe_path(times, pos, lis, room.listener_yaw)
    y = render_path(field, x, sr, path, block=block, tail=False)
    assert y.shape == (2, len(x))
    ratio = _boundary_jump_ratio(y, block, skip=int(0.55 * sr))
    assert ratio < 1.5, ratio
    # the same path with hard filter switches does click (the measure can see a click)
    rend = MultiRenderer(field, [path], sr, block)
    out = []
    for i in range(len(x) // block):
        if rend.voices[0].conv is not None:
            rend.voices[0].conv.crossfade = False
        out.append(rend.process(x[None, i * block:(i + 1) * block])[0])
    hard = np.concatenate(out, axis=-1)
    assert _boundary_jump_ratio(hard, block, skip=int(0.55 * sr)) > 2 * ratio


def test_tail_matches_its_parameters():
    p = np.zeros((2, dsp.N_BANDS, 2), np.float32)
    p[..., 0] = -60.0
    p[..., 1] = -120.0  # 120 dB/s: T60 = 0.5 s
    n = 48000
    y = dsp.tail(p, n)
    assert np.all(y[:, :int((dsp.EARLY_S - dsp.FADE_S) * dsp.IR_RATE)] == 0)
    ir = y.copy()
    ir[:, 0] = 0.05  # a direct sound so onset() finds the start
    assert abs(dsp.t60_s(ir[0]) - 0.5) < 0.05


def test_bounce_points_lie_on_the_surfaces():
    r = PRESETS["living_room"]
    p = bounce_points(r, 48)
    assert p.shape == (48, 3)
    on = np.isclose(p, 0.0, atol=1e-5) | np.isclose(p, np.asarray(r.dims, np.float32), atol=1e-4)
    assert np.all(on.any(axis=1))
    inside = (p >= -1e-5) & (p <= np.asarray(r.dims) + 1e-4)
    assert inside.all()


class CountingField(FakeField):
    """Counts field runs (``calls``) and the positions they were asked for (``positions``)."""

    def __init__(self, room="studio"):
        super().__init__(room)
        self.calls = 0
        self.positions = 0

    def raw(self, src, lis, yaw):
        self.calls += 1
        self.positions += len(np.atleast_2d(src))
        return super().raw(src, lis, yaw)


def test_static_source_is_one_query_and_one_convolution_equal_to_the_partitioned_one():
    from engines.spatial.render import brir

    field = CountingField("living_room")
    room = field.room
    sr, block = 48000, 512
    x = (0.3 * np.random.default_rng(4).standard_normal(3 * sr)).astype(np.float32)
    lis = np.asarray(room.listener)
    for times, pos in ((np.zeros(1), room.default_source()[None]),  # one keyframe
                       (np.array([0.0, 1.0, 2.5]), np.stack([room.default_source()] * 3))):  # still ones
        path = keyframe_path(times, pos, lis, room.listener_yaw)
        assert path.static
        field.calls = 0
        y = render_path(field, x, sr, path, block=block)
        assert field.calls == 1  # one field query for the whole track
        ir = brir(field, path(0.0), sr)
        ref = convolve(x, ir, block)  # the uniformly partitioned convolver, fixed filter
        assert y.shape == (2, len(x) + ir.shape[-1]) and np.all(y[:, ref.shape[-1]:] == 0)
        assert np.max(np.abs(y[:, :ref.shape[-1]] - ref)) < 1e-5 * np.max(np.abs(ref))
        short = render_path(field, x, sr, path, block=block, tail=False)
        assert np.array_equal(short, y[:, :len(x)])


def test_static_overlap_add_over_blocks_and_silence_is_the_whole_convolution(monkeypatch):
    """A still source longer than one overlap-add block, with a rest of several blocks (whose
    convolution is skipped) and sound again after it: the whole-signal convolution."""
    from engines.spatial import render as sr_render
    from engines.spatial.render import brir

    monkeypatch.setattr(sr_render, "STATIC_BLOCK", 8192)
    field = CountingField("living_room")
    room = field.room
    sr = 48000
    x = (0.3 * np.random.default_rng(5).standard_normal(3 * sr)).astype(np.float32)
    x[20000:100000] = 0.0  # blocks 3-11 silent, the tail of block 2 still ringing through them
    path = keyframe_path(np.zeros(1), room.default_source()[None], np.asarray(room.listener), room.listener_yaw)
    y = render_path(field, x, sr, path)
    ir = brir(field, path(0.0), sr)
    from scipy.signal import fftconvolve

    ref = fftconvolve(x[None].astype(np.float64), ir.astype(np.float64), axes=-1)
    assert y.shape == (2, len(x) + ir.shape[-1])
    assert np.max(np.abs(y[:, :ref.shape[-1]] - ref)) < 1e-5 * np.max(np.abs(ref))


def test_keyframe_path_knows_where_it_moves():
    p0, p1 = np.array([1.0, 1.0, 1.5]), np.array([2.0, 1.0, 1.5])
    lis = np.array([2.5, 2.0, 1.5])
    path = keyframe_path(np.array([0.2, 0.75, 0.8, 2.0]), np.stack([p0, p0, p1, p1]), lis, 0.0)
    assert not path.static
    assert not path.moves(0.0, 0.75) and not path.moves(0.8, 5.0)
    assert path.moves(0.7, 0.76) and path.moves(0.79, 0.81) and path.moves(0.0, 10.0)
    jump = keyframe_path(np.array([1.0, 1.0]), np.stack([p0, p1]), lis, 0.0)  # a jump at 1 s
    assert jump.moves(0.99, 1.01) and not jump.moves(0.0, 0.9) and not jump.moves(1.1, 2.0)
    # many intervals at once (the offline render's blocks): the same answers, edges included
    rng = np.random.default_rng(0)
    t0 = np.concatenate([rng.uniform(-1.0, 3.0, 500), [0.0, 0.75, 0.8, 0.7, 0.79, 2.0, 0.2]])
    t1 = t0 + np.concatenate([rng.uniform(0.0, 0.2, 500), [0.75, 0.0, 4.2, 0.06, 0.02, 1.0, 0.0]])
    for p in (path, jump):
        assert p.moves_in(t0, t1).tolist() == [p.moves(a, b) for a, b in zip(t0, t1)]


def test_moving_source_queries_only_while_it_moves_and_equals_updating_every_block():
    field = CountingField()
    room = field.room
    sr, block = 48000, 512
    lis = np.asarray(room.listener)
    x = (0.3 * np.random.default_rng(5).standard_normal(int(1.5 * sr))).astype(np.float32)
    pos = np.stack([room.clip(lis + [-1.5, 1.0, 0.0]), room.clip(lis + [1.5, 1.0, 0.0])])
    path = keyframe_path(np.array([0.5, 0.6]), pos, lis, room.listener_yaw)  # held, moves 100 ms, held
    stats = {}
    y = render_path(field, x, sr, path, block=block, tail=False, stats=stats)
    # the filter changes in the first block, then in the blocks whose span reaches into
    # 0.5 .. 0.6 s; the field is asked for at most those positions (offline it is queried in
    # batches, and only at anchors along the path: tests/test_spatial_speed.py)
    centres = (np.arange(-(-len(x) // block)) + 0.5) * block / sr
    moving = sum(path.moves(c - block / sr, c) for c in centres[1:])
    assert stats["updates"] == 1 + moving and moving <= 12
    assert 0 < field.positions <= 2 * (1 + moving)  # anchors + the direct paths' HRIRs (FakeField)

    class Compared:  # what the renderer did before paths knew their motion: compare poses
        def __call__(self, t):
            return path(t)

        def moves(self, t0, t1):
            return not np.allclose(path(t0)[0], path(t1)[0], atol=1e-4)

    compared = render_path(field, x, sr, Compared(), block=block, tail=False, stats=stats)
    assert stats["updates"] == 1 + moving and np.array_equal(y, compared)
    render_path(field, x, sr, lambda t: path(t), block=block, tail=False, stats=stats)  # no motion schedule
    assert stats["updates"] == len(centres)  # a plain callable's filter is rebuilt every block
