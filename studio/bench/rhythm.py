"""Benchmark: the rhythm engine on 60 s of (already analysed) video -> drums, bass and keys.

The feature timeline is synthetic and deterministic (120 BPM pulses on the beats, weaker
off-beat motion, noise; 30 Hz), so only the engine is timed, not the analysis. Timed, best of
three: Video2Rhythm grid + Rhythm2Drum (all bars batched) + groove U-Net + Drum2Music (bar by
bar). Baseline: the rule baselines of ``engines.rhythm.baseline`` (fixed backbeat + rule
accompaniment) on the same grid. Then 64 causal ``next_bar`` calls (p50/p99 latency), and 64
more while a busy-looping process takes a core (``next_bar_hog_*``; issue 23's target p99 10 ms).
Targets (issue 4): under 1 s for the 60 s clip; next_bar p99 under 20 ms. Wall-clock and
thread CPU time are both reported, with the machine's load average (the runs share 2 cores).
"""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

import numpy as np

from studio.jobs import Job

SECONDS, RATE, BPM = 60.0, 30.0, 120.0


def synthetic_timeline(seconds: float = SECONDS, bpm: float = BPM, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    beats = 0.5 + np.arange(int((seconds - 0.5) * bpm / 60)) * 60.0 / bpm
    env = 0.05 * rng.random(n)
    for i, b in enumerate(beats):
        k = int(round(b * RATE))
        if k < n:
            env[k] = 1.0 if i % 2 == 0 else 0.8
        k2 = int(round((b + 30.0 / bpm) * RATE))
        if k2 < n and rng.random() < 0.5:
            env[k2] = 0.4
    return SimpleNamespace(duration_s=seconds, rate_hz=RATE, times_s=t, onset_envelope=env,
                           motion_energy=0.2 + 0.1 * rng.random(n), tempo_bpm=bpm, beat_times_s=beats,
                           downbeat_times_s=beats[::4], cuts_s=(), params=SimpleNamespace(beats_per_bar=4))


def _baseline(grid) -> int:
    from engines.rhythm import baseline

    n = 0
    for k, bar in enumerate(grid.bars):
        h, v, o = baseline.fixed_pattern(1)
        _, notes = baseline.rule_music(h[0], k, 0)
        n += int(h.sum()) + len(notes)
    return n


def _next_bar_ms(eng, grid, calls: int = 64) -> tuple[list[float], list[float]]:
    """Wall and thread-CPU milliseconds of ``calls`` causal next_bar calls over the grid's bars."""
    state = eng.start("rock", seed=1)
    lat, cpu = [], []
    for i in range(calls):
        bar = grid.bars[1 + i % (len(grid.bars) - 1)]
        t, c = time.perf_counter(), time.thread_time()
        _, state = eng.next_bar(state, bar)
        lat.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
    return lat, cpu


def run(job: Job | None = None) -> dict:
    from engines.rhythm import RhythmEngine, video_to_rhythm
    from studio.bench._hog import CpuHog

    job = Job.quiet(job)
    tl = synthetic_timeline()
    t0 = time.perf_counter()
    eng = RhythmEngine().load()
    load_s = time.perf_counter() - t0
    walls, base_walls, counts = [], [], {}
    for r in range(3):
        job.report(r / 4, "timing the rhythm engine")
        t = time.perf_counter()
        grid = video_to_rhythm(tl)
        notes = eng.generate(grid, eng.start("funk", seed=r))
        walls.append(time.perf_counter() - t)
        t = time.perf_counter()
        _baseline(video_to_rhythm(tl))
        base_walls.append(time.perf_counter() - t)
        counts = {p: sum(1 for e in notes if e.part == p) for p in ("drums", "bass", "keys")}
    job.report(0.75, "timing next_bar")
    lat, cpu = _next_bar_ms(eng, grid)
    job.report(0.85, "timing next_bar with a CPU hog")
    with CpuHog():  # issue 23: the live engine's next bar under load
        lat_hog, _ = _next_bar_ms(eng, grid)
    wall, base = min(walls), min(base_walls)
    job.report(1.0, "done")
    return {
        "name": "rhythm",
        "video_s": SECONDS,
        "bars": len(grid.bars),
        "tempo_bpm": round(grid.tempo_bpm, 2),
        "notes": counts,
        "model_load_s": round(load_s, 3),
        "wall_s": round(wall, 4),
        "wall_runs_s": [round(w, 4) for w in walls],
        "realtime_factor": round(SECONDS / wall, 1),
        "baseline": "rule_baselines",
        "baseline_detail": "fixed backbeat drums + I-V-vi-IV root bass / triad keys on the same grid",
        "baseline_wall_s": round(base, 4),
        "ratio_to_baseline": round(wall / max(base, 1e-9), 1),
        "next_bar_p50_ms": round(float(np.percentile(lat, 50)), 2),
        "next_bar_p99_ms": round(float(np.percentile(lat, 99)), 2),
        "next_bar_max_ms": round(float(np.max(lat)), 2),
        # CPU time of the calling thread: what the call costs when it is not pre-empted (the
        # wall-clock p99 on a loaded machine is mostly time spent waiting for a core)
        "next_bar_cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
        "next_bar_cpu_p99_ms": round(float(np.percentile(cpu, 99)), 2),
        # the same calls while a busy-looping process takes a core (target <= 10 ms, issue 23)
        "next_bar_hog_p50_ms": round(float(np.percentile(lat_hog, 50)), 2),
        "next_bar_hog_p99_ms": round(float(np.percentile(lat_hog, 99)), 2),
        "target_next_bar_hog_p99_ms": 10.0,
        "meets_target_next_bar_hog": float(np.percentile(lat_hog, 99)) <= 10.0,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "target_wall_s": 1.0,
        "target_next_bar_p99_ms": 20.0,
        "meets_target_wall": wall < 1.0,
        "meets_target_next_bar": float(np.percentile(lat, 99)) < 20.0,
        "providers": "CPUExecutionProvider",
    }
