"""Benchmark: the separation engine (engines/separate) on a minute of 48 kHz stereo, against the
STFT round trip alone in the same run.

The audio is 15 held-out rendered 2-player mixtures (``engines.separate.data.mixtures``, seeds
900000+, 4 s each) at 11025 Hz, resampled to 48 kHz and laid end to end (60 s); the player asked
for is the first of the first mixture, whose keypoints repeat for the whole minute, so the SDR
reported is that of the first 4 s (a fast but wrong engine shows). Timed, best of ``ROUNDS``
interleaved rounds:

* baseline: ``engines.separate.infer.apply_mask`` with a mask of ones (resampling, block STFT and
  inverse STFT at 48 kHz, both channels): what any spectral mask costs;
* engine: ``Separator.separate`` (downmix and resampling to 11025 Hz, model STFT, the network over
  4 s windows, mask mapping, the masked STFT of both channels), as ``studio separate`` runs it.

``realtime_factor`` is audio seconds per wall second (target >= 10: a ten-minute soundtrack in
under a minute).
"""
from __future__ import annotations

import time

import numpy as np

from studio.jobs import Job

RATE = 48000
SECONDS = 60.0
ROUNDS = 3
TARGET_REALTIME = 10.0


def _sdr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / max(float(np.sum((ref - est) ** 2)), 1e-12)))


def run(job: Job | None = None, quick: bool = False) -> dict:
    from scipy.signal import resample_poly

    from engines.separate import data as D
    from engines.separate.infer import Separator, apply_mask

    job = Job.quiet(job)
    job.report(0.02, "rendering held-out mixtures")
    mixes = D.mixtures(4 if quick else 15, 2)
    first = mixes[0][0][0]
    x = np.concatenate([sum(g * s.audio for s, g in zip(srcs, gains)) for srcs, gains in mixes])
    seconds = 16.0 if quick else SECONDS
    x = resample_poly(np.resize(x, int(seconds * D.dsp.SR)), 640, 147).astype(np.float32)
    audio = np.stack([x, 0.8 * x])
    sep = Separator()
    sep.separate(audio[:, :RATE], RATE, first.kp)  # warm-up: session, allocations
    base, eng, result = [], [], None
    for r in range(ROUNDS):
        job.report(0.1 + 0.85 * r / ROUNDS, "timing the STFT round trip and the separation")
        t0 = time.perf_counter()
        apply_mask(audio, RATE, np.ones((D.dsp.N_BINS, 2), np.float32))
        base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = sep.separate(audio, RATE, first.kp)
        eng.append(time.perf_counter() - t0)
    b, e = min(base), min(eng)
    ref = resample_poly(mixes[0][1][0] * first.audio, 640, 147).astype(np.float32)
    n = len(ref)
    return {
        "audio": f"{seconds:g} s of 48 kHz stereo (held-out rendered 2-player mixtures, seeds 900000+)",
        "baseline": "apply_mask with a mask of ones (block STFT and inverse STFT at 48 kHz, 2 channels; no network)",
        "baseline_s": round(b, 3),
        "wall_s": round(e, 3),
        "seconds_per_minute": round(e * 60.0 / seconds, 3),
        "ratio_to_baseline": round(e / b, 2),
        "realtime_factor": round(seconds / e, 1),
        "target_realtime_factor": TARGET_REALTIME,
        "sdr_first_4s_db": round(_sdr(ref, result.player[0, :n]), 2),
        "sdr_mixture_first_4s_db": round(_sdr(ref, audio[0, :n]), 2),
    }
