"""Benchmark: visual analysis of a 60 s 30 fps H.264 clip, at 720p and at 480p, against plain
PyAV decoding of the same file.

The clip (a scrolling noise texture with moving, bouncing and pulsing shapes) is generated once,
deterministically, and kept in the cache folder; the 480p one is the same pictures shrunk. In the
same run, per size, we time (best of three interleaved rounds):

* baseline: PyAV decoding every frame of that file, no conversion, the faster of two threadings:
  FFmpeg's default (``thread_count=0``: a frame thread per core plus one) and one thread per
  core. On this 2-core machine the second decodes the 720p clip 1.1 s where the default takes
  1.3-1.4 s; until 2026-12 the default alone was the baseline, so the ratio read ~20 % lower.
  The ratio to the default is still reported (``ratio_to_default_decode``) beside it;
* ``analyze()`` of that file with the cache disabled (decode + small frames + optical flow +
  features + tempo/beats/impacts/cuts), modules already imported.

Targets: issue 16 asks that the analysis get no slower than its ratio when the issue was filed
(1.54-1.56x, measured against FFmpeg's default threads, the only baseline then), at most 1.5x:
``ratio_to_default_decode``. Issue 23 asks 1.2x of the fastest plain decode at 720p and 480p
(``ratio_to_decode``, ``ratio_to_decode_480p``). And at least 10x real time.
"""
from __future__ import annotations

import math
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from studio.jobs import Job

W, H, FPS, SECONDS = 1280, 720, 30, 60
ROUNDS = 3
CLIP_NAME = "bench-analysis-720p30-60s-v1.mp4"
SIZES = {"720p": (W, H), "480p": (854, 480)}
TARGET_RATIO = 1.5  # issue 16, against the default-threads decode (the measure it was filed with)
GOAL_RATIO = 1.2  # issue 23, against the fastest plain decode, at both sizes


def bench_cache_dir() -> Path:
    root = os.environ.get("STUDIO_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "video-sound-studio"
    return base / "bench"


def clip_path(label: str) -> Path:
    return bench_cache_dir() / (CLIP_NAME if label == "720p" else CLIP_NAME.replace("720p", label))


def make_clip(path: Path, job: Job | None = None, seconds: int = SECONDS,
              size: tuple[int, int] = (W, H)) -> Path:
    """Write the benchmark clip (deterministic: seeded texture, analytic motion), ``seconds`` long
    (the pipeline bench makes a 10 s one for its quick mode); drawn at 720p, shrunk to ``size``."""
    import av
    import cv2

    from studio.fsutil import atomic_path

    job = Job.quiet(job)
    rng = np.random.default_rng(2024)
    tex = cv2.GaussianBlur(rng.standard_normal((H, 2 * W, 3)).astype(np.float32), (0, 0), 6.0)
    tex = np.clip(110 + 60 * tex / tex.std(), 0, 255).astype(np.uint8)
    with atomic_path(path) as tmp:
        out = av.open(str(tmp), "w", format="mp4")
        st = out.add_stream("libx264", rate=Fraction(FPS))
        st.width, st.height, st.pix_fmt = size[0], size[1], "yuv420p"
        st.options = {"preset": "veryfast", "crf": "23"}
        n = int(seconds) * FPS
        for i in range(n):
            t = i / FPS
            off = int(round(90 * t)) % W
            img = np.ascontiguousarray(tex[:, off:off + W])
            beat = (t * 2.0) % 1.0  # 120 BPM
            hop = abs(math.sin(math.pi * t * 2.0))
            cv2.rectangle(img, (300, int(560 - 260 * hop)), (420, int(680 - 260 * hop)), (250, 200, 60), -1)
            cv2.circle(img, (int(640 + 400 * math.sin(0.5 * t)), 200), int(40 + 60 * (1 - beat) ** 3),
                       (240, 240, 250), -1)
            by = 660 - abs(420 * math.cos(math.pi * t / 1.3))
            cv2.circle(img, (int(900 + 200 * math.cos(0.3 * t)), int(by)), 50, (220, 70, 70), -1)
            if size != (W, H):
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for p in st.encode(frame):
                out.mux(p)
            if i % FPS == 0:
                job.report(i / n, "making the benchmark clip")
        for p in st.encode():
            out.mux(p)
        out.close()
    return path


def decode_wall_s(path: Path, threads: int = 0) -> tuple[float, int]:
    """Plain PyAV decode of every frame, frame-threaded: ``threads`` 0 is FFmpeg's own choice."""
    import av

    t = time.perf_counter()
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        vs.codec_context.thread_count = threads
        n = sum(1 for _ in c.decode(vs))
    return time.perf_counter() - t, n


def fastest_decode_s(path: Path) -> tuple[float, int]:
    """The faster plain decode of FFmpeg's default threads and one thread per core; frames."""
    from studio.media import usable_cores

    d, n = decode_wall_s(path)
    return min(d, decode_wall_s(path, usable_cores())[0]), n


def _one_size(label: str, job: Job) -> dict:
    from studio.analysis import analyze
    from studio.media import usable_cores

    clip = clip_path(label)
    if not clip.is_file():
        make_clip(clip, job.sub(0.0, 0.5), size=SIZES[label])
    # interleaved rounds (decode, analyse, decode, analyse, ...) so drifting machine load hits
    # both alike; the best of each is reported, all runs are listed
    default, per_core, walls, tl, frames = [], [], [], None, 0
    for i in range(ROUNDS):
        job.report(0.5 + 0.5 * i / ROUNDS, f"timing decode and analysis at {label}")
        d, frames = decode_wall_s(clip)
        default.append(d)
        per_core.append(decode_wall_s(clip, usable_cores())[0])
        t = time.perf_counter()
        tl = analyze(clip, use_cache=False)
        walls.append(time.perf_counter() - t)
    decode_s, wall = min(default + per_core), min(walls)
    return {"clip_path": str(clip), "video_s": round(float(tl.duration_s), 3), "frames": frames,
            "decode_wall_s": round(decode_s, 3), "decode_default_threads_s": round(min(default), 3),
            "analysis_wall_s": round(wall, 3), "analysis_wall_runs_s": [round(w, 3) for w in walls],
            "decode_default_runs_s": [round(d, 3) for d in default],
            "decode_per_core_runs_s": [round(d, 3) for d in per_core],
            "ratio_to_decode": round(wall / decode_s, 3),
            "ratio_to_default_decode": round(wall / min(default), 3),
            "realtime_factor": round(float(tl.duration_s) / wall, 2), "tl": tl}


def run(job: Job | None = None) -> dict:
    from studio.analysis import pipeline  # noqa: F401  (imports are not part of the timing)
    from studio.media import usable_cores

    job = Job.quiet(job)
    bench_cache_dir().mkdir(parents=True, exist_ok=True)
    sizes = {}
    for i, label in enumerate(SIZES):
        sizes[label] = _one_size(label, job.sub(i / len(SIZES), (i + 1) / len(SIZES)))
    main, low = sizes["720p"], sizes["480p"]
    tl = main.pop("tl")
    low.pop("tl")
    job.report(1.0, "done")
    return {
        "name": "analysis",
        "clip": "720p30 60 s",
        **main,
        "ratio_to_decode_480p": low["ratio_to_decode"],
        "realtime_factor_480p": low["realtime_factor"],
        "at_480p": low,
        "baseline": "pyav_decode",
        "baseline_detail": ("PyAV decode of the same file, no conversion, the faster of FFmpeg's default threads "
                            f"and one frame thread per core ({usable_cores()})"),
        "targets": [{"key": "ratio_to_default_decode", "target": TARGET_RATIO, "better": "lower"},
                    {"key": "ratio_to_decode", "target": GOAL_RATIO, "better": "lower"},
                    {"key": "ratio_to_decode_480p", "target": GOAL_RATIO, "better": "lower"},
                    {"key": "realtime_factor", "target": 10, "better": "higher"}],
        "meets_target_ratio": main["ratio_to_default_decode"] <= TARGET_RATIO,
        "meets_goal_ratio": main["ratio_to_decode"] <= GOAL_RATIO and low["ratio_to_decode"] <= GOAL_RATIO,
        "meets_target_realtime": main["realtime_factor"] >= 10,
        "flow": f"Farneback {min(tl.params.flow_max_side, tl.params.farneback_side)} px long side "
                f"(frame difference {tl.params.flow_max_side} px), {tl.params.flow_levels} levels, "
                f"{tl.params.flow_iterations} iterations",
        "tempo_bpm": round(tl.tempo_bpm, 2),
        "beats": len(tl.beat_times_s),
        "impacts": len(tl.impacts),
        "cpu_count": os.cpu_count(),
    }
