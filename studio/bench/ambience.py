"""Benchmark: the ambience engine (engines/ambience): compute seconds per 10 s of audio, and the
speed-up of parallel (MaskGIT) decoding over one token per model call with the same model.

Conditions: words "rain, city" and a ramp of per-second visual rows (motion 0.1 -> 0.9). MaskGIT
at the engine's defaults (steps, guidance) for one 10 s window (500 frames x 8 codebooks = 4000
tokens), median of two runs (one with ``--quick``) after a warm-up; decoding of those tokens to
audio timed apart. The one-token-per-step baseline (``engines.soundtrack.sampler.autoregressive``,
same model and guidance) fills ``AR_TOKENS`` tokens of the window (the rest given) and its time
per token is scaled to the window's 4000 tokens (it would take minutes to run whole).
"""
from __future__ import annotations

import time

import numpy as np

from studio.jobs import Job

TARGET_S_PER_10S = 2.0
AR_TOKENS = 16


def _rows() -> np.ndarray:
    r = np.zeros((10, 5), np.float32)
    r[:, 0] = np.linspace(0.1, 0.9, 10)
    r[:, 1], r[:, 2], r[:, 3] = r[:, 0] / 2, 0.5, 0.5
    return r


def run(job: Job | None = None, quick: bool = False) -> dict:
    from engines.ambience.features import to_frames, word_mask
    from engines.ambience.infer import DEFAULT_CFG, DEFAULT_STEPS, Ambience
    from engines.soundtrack.sampler import DecodeSettings, autoregressive

    job = Job.quiet(job)
    amb = Ambience()
    rows, words = _rows(), "rain, city"
    amb.generate_tokens(2.0, rows, words, seed=0, steps=1)  # warm-up: sessions, allocations
    job.report(0.1, "parallel decoding")
    times, codes = [], None
    for k in range(1 if quick else 2):
        calls = amb.calls
        t0 = time.perf_counter()
        codes = amb.generate_tokens(10.0, rows, words, seed=k)
        times.append(time.perf_counter() - t0)
        n_calls = amb.calls - calls
    t0 = time.perf_counter()
    amb.decode(codes)
    decode_s = time.perf_counter() - t0
    job.report(0.6, "one token per step")
    given = codes.T.copy()
    flat = given.reshape(-1)
    flat[:AR_TOKENS] = -1  # the first tokens in raster order (frame by frame, level by level)
    settings = DecodeSettings(steps=DEFAULT_STEPS, cfg=DEFAULT_CFG, seed=0)
    t0 = time.perf_counter()
    autoregressive(amb.logits, to_frames(rows, 500), word_mask(words), [amb.vocab] * amb.levels, given, settings)
    per_token = (time.perf_counter() - t0) / AR_TOKENS
    parallel = float(np.median(times))
    ar = per_token * codes.size
    job.report(1.0, "done")
    return {
        "audio": "10 s window, words 'rain, city', motion ramp 0.1 -> 0.9",
        "baseline": f"one token per model call (autoregressive, same model; {AR_TOKENS} tokens timed, scaled to 4000)",
        "steps": DEFAULT_STEPS, "cfg": DEFAULT_CFG, "model_calls": n_calls,
        "maskgit_s_per_10s": round(parallel, 3),
        "decode_s_per_10s": round(decode_s, 3),
        "total_s_per_10s": round(parallel + decode_s, 3),
        "target_s_per_10s": TARGET_S_PER_10S,
        "autoregressive_s_per_token": round(per_token, 4),
        "autoregressive_s_per_10s_estimated": round(ar, 1),
        "speedup_vs_autoregressive": round(ar / parallel, 1),
    }
