"""Offline rendering of moving sources (issue 23): batched field queries at anchors along the
path, interpolated in between, against the block-by-block renderer that queries the field at
every block (what render_path did before); the hall's trained field."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engines.spatial.infer import field as get_field
from engines.spatial.render import MultiRenderer, keyframe_path, render_path

SR = 48000
BLOCK = 512


class Counting:
    """A field that counts the positions its network is run for (``positions``) and its runs
    (``runs``); the direct path's HRIR lookup (``hrirs``, no network) is counted apart."""

    def __init__(self, f):
        self.f, self.room, self.n, self.sample_rate = f, f.room, f.n, f.sample_rate
        self.positions = self.runs = self.hrir_positions = 0

    def raw(self, src, lis, yaw):
        self.runs += 1
        self.positions += len(np.atleast_2d(src))
        return self.f.raw(src, lis, yaw)

    def hrirs(self, src, lis, yaw):
        self.hrir_positions += len(np.atleast_2d(src))
        return self.f.hrirs(src, lis, yaw)


def per_block(f, x, path):
    """The reference: MultiRenderer block by block, the field queried at every block's centre
    while the source moves (the renderer before issue 23's offline path)."""
    r = MultiRenderer(f, [path], SR, BLOCK)
    r.anchor_m = 0.0  # every block (the stream's own anchors are tested in test_spatial_stream)
    n = len(x) + r.n_ir
    nb = -(-n // BLOCK)
    xp = np.zeros(nb * BLOCK, np.float32)
    xp[:len(x)] = x
    out = np.concatenate([r.process(xp[None, i * BLOCK:(i + 1) * BLOCK])[0] for i in range(nb)], axis=-1)
    return out[:, :n], r.queries


def _signal(seconds):
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * rng.standard_normal(len(t)) + 0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _paths(room, seconds):
    lis = np.asarray(room.listener, np.float64)
    yaw = room.listener_yaw
    t = np.linspace(0.0, seconds, 41)
    circle = np.stack([room.clip(lis + [3 * math.cos(math.pi * s), 3 * math.sin(math.pi * s), 0.3]) for s in t])
    a = room.clip(lis + [-1.0, 3.0, 0.0])
    u = np.array([2.0, -1.0, 0.2]) / np.linalg.norm([2.0, -1.0, 0.2])

    def line(speed, t0=0.0):  # from a at speed (m/s) along u, starting at t0
        return np.stack([a, a, room.clip(a + speed * (seconds - t0) * u)])

    times = np.array([0.0, 1.0, seconds])
    return {
        "fast": keyframe_path(t, circle, lis, yaw),  # 9.4 m/s: every block is an anchor
        "walk": keyframe_path(np.array([0.0, 0.0, seconds]), line(1.4), lis, yaw),
        "slow": keyframe_path(np.array([0.0, 0.0, seconds]), line(0.5), lis, yaw),
        "still_then_moving": keyframe_path(times, line(1.0, 1.0), lis, yaw),
    }


@pytest.fixture(scope="module")
def hall():
    return get_field("hall")


@pytest.mark.parametrize("name", ["fast", "walk", "slow", "still_then_moving"])
def test_offline_moving_render_is_within_minus_40_db_of_querying_every_block(hall, name):
    seconds = 3.0
    x = _signal(seconds)
    path = _paths(hall.room, seconds)[name]
    ref, _ = per_block(hall, x, path)
    y = render_path(hall, x, SR, path, block=BLOCK)
    assert y.shape == ref.shape
    diff_db = 10 * np.log10(np.sum((y - ref) ** 2) / np.sum(ref ** 2))
    assert diff_db < -40.0, diff_db
    if name == "fast":  # every block is an anchor: the same filters, float rounding only
        assert diff_db < -90.0, diff_db


def test_a_slow_source_queries_the_field_far_less_often_than_every_block(hall):
    seconds = 2.0
    x = _signal(seconds)
    paths = _paths(hall.room, seconds)
    slow, stats = Counting(hall), {}
    render_path(slow, x, SR, paths["slow"], block=BLOCK, tail=False, stats=stats)
    updates = stats["updates"]  # the blocks whose filter changes (all of them: it always moves)
    assert updates == -(-len(x) // BLOCK)
    assert slow.hrir_positions == updates  # the direct path follows the source exactly
    # 0.5 m/s is 5 mm per block: one network query per ~7 blocks (anchors 4 cm apart), in
    # batches (a few ONNX runs, not one per block)
    assert slow.positions <= updates / 4, (slow.positions, updates)
    assert slow.runs <= math.ceil(slow.positions / 8) + 2, slow.runs
    fast = Counting(hall)
    render_path(fast, x, SR, paths["fast"], block=BLOCK, tail=False, stats=stats)
    assert fast.positions == stats["updates"]  # 10 cm per block: no query can be skipped
    # the streaming renderer still queries every block it moves in
    _, queries = per_block(Counting(hall), x[:SR // 2], paths["slow"])
    assert queries == -(-(SR // 2 + int(round(hall.room.ir_s * SR))) // BLOCK)
