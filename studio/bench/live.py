"""Benchmark: `studio live`, the rhythm engine driven bar by bar by a playing video (issue: real time).

A 20 s 640x360 30 fps clip that hops at 110 BPM is generated once (cache folder) and played in
real time twice, MIDI going to a counting null port:

* look-ahead (how a file plays): each bar is generated from its own frames before it is heard;
* causal (how a camera plays; the file is paced to real time and treated as a camera): bar k+1 is
  generated from the window that closes ``lead_s`` before it starts.

Reported per mode: per-bar processing latency (decode + flow of the frame that completes the
bar's window, then activation + Rhythm2Drum/groove/Drum2Music) p50/p99, the smallest slack before
a bar is due (negative = late) and the count of late bars, MIDI send timing error p50/p99 against
the scheduled times, and per-frame feature time. Baseline: the bar period; the ratio is the share
of a bar the work takes. The causal mode's input-to-MIDI latency is one bar plus nothing: the
answer to a visual accent is played on the same step one bar later.
"""
from __future__ import annotations

import os
from pathlib import Path

from studio.jobs import Job

BPM, SECONDS = 110.0, 20.0
CLIP = "bench-live-110bpm-20s-v1.mp4"


def _clip() -> Path:
    import numpy as np

    from studio.fsutil import atomic_path

    root = os.environ.get("STUDIO_CACHE_DIR")
    folder = (Path(root) if root else Path.home() / ".cache" / "video-sound-studio") / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CLIP
    if not path.exists():
        import av
        import cv2

        with atomic_path(path) as tmp:
            out = av.open(str(tmp), "w", format="mp4")
            st = out.add_stream("libx264", rate=30)
            st.width, st.height, st.pix_fmt = 640, 360, "yuv420p"
            st.options = {"preset": "veryfast", "crf": "23"}
            rng = np.random.default_rng(7)
            bg = np.clip(90 + 40 * cv2.GaussianBlur(rng.standard_normal((360, 640, 3)), (0, 0), 3), 0, 255)
            bg = bg.astype(np.uint8)
            for i in range(int(SECONDS * 30)):
                t = i / 30
                img = bg.copy()
                hop = abs(np.sin(np.pi * t * BPM / 60.0))  # lands on every beat
                y = int(300 - 200 * hop)
                cv2.rectangle(img, (280, y - 60), (360, y), (240, 200, 60), -1)
                for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(p)
            for p in st.encode():
                out.mux(p)
            out.close()
    return path


def run(job: Job | None = None) -> dict:
    from studio.live import LiveSettings, run_live

    job = Job.quiet(job)
    clip = str(_clip())
    bar_ms = 4 * 60.0 / BPM * 1e3
    result = {"clip": f"640x360 30 fps, {SECONDS:g} s, hops at {BPM:g} BPM", "baseline": "bar period",
              "bar_period_ms": round(bar_ms, 3), "targets": []}
    for k, (mode, causal) in enumerate((("lookahead", False), ("causal", True))):
        sub = job.sub(k / 2, (k + 1) / 2)
        sub.report(0.0, mode)
        r = run_live(clip, LiveSettings(bpm=None, style="funk", seed=1, causal=causal), job=sub).summary()
        for key in ("tempo_bpm", "bars", "notes_sent", "late_bars", "bar_latency_p50_ms", "bar_latency_p99_ms",
                    "bar_slack_min_ms", "midi_send_error_p50_ms", "midi_send_error_p99_ms", "frame_p99_ms"):
            result[f"{mode}_{key}"] = r[key]
        result[f"{mode}_bar_latency_p99_fraction_of_bar"] = round(r["bar_latency_p99_ms"] / bar_ms, 4)
        result[f"{mode}_input_to_midi_latency"] = r["input_to_midi_latency"]
        result["targets"] += [
            {"key": f"{mode}_bar_latency_p99_ms", "target": 20.0 + 33.4, "better": "lower"},  # next_bar + 1 frame
            {"key": f"{mode}_midi_send_error_p99_ms", "target": 2.0, "better": "lower"},
        ]
    result["causal_input_to_midi_latency_ms"] = round(bar_ms, 3)
    return result
