"""Benchmark: the performer engines. Piano transcription (Audeo) of a 720p30 top-down piano
video, against plain decoding of the same file in the same run; and the movement engine
(Foley Music) per second of keypoints for each instrument.

Piano: a 20 s 1280x720 30 fps video is rendered by the engine's own renderer
(engines/piano/synth_video.py: a keyboard placed in the frame, hands, lighting, x264) from a
seeded piece (``studio.demo_performers.demo_piece``: a melody over broken chords). Timed, best of three interleaved
rounds:

* baseline: ``studio.media.iter_frames`` in grey at full size (what the adapter decodes);
* engine path: the same decoding + keyboard location + rectification + Video2Roll + Roll2Midi,
  exactly as ``studio generate --piano`` runs it.

``realtime_factor`` is video seconds per wall second of the engine path (target >= 1: as fast as
the video plays, decoding included); ``transcription_s`` is the engine path less decoding. The note-level onset F1 of this run
is reported too, so a fast but wrong engine shows.

Movement engine: keypoints synthesised by engines/performer/gestures.py from a seeded 20 s
performance per instrument, timed through ``Performer.generate``; and MediaPipe Pose (when its
environment is installed) over the drummer demo, as ``studio pose`` runs it.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from studio.demo_performers import demo_piece
from studio.jobs import Job

DURATION_S = 20.0
FPS = 30
SIZE = (1280, 720)
ROUNDS = 3
TARGET_REALTIME = 1.0  # transcribe at least as fast as the video plays (decoding included)


def _piano(job: Job) -> dict:
    from engines.piano.infer import Transcriber
    from engines.piano.metrics import onset_prf
    from engines.piano.train.synth_video import Note, write_video
    from studio import media

    notes = demo_piece(duration_s=DURATION_S)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "piano720.mp4"
        job.report(0.02, "rendering a 720p piano video")
        write_video(video, notes, fps=FPS, size=SIZE, seed=5)
        frames = lambda: (f.image for f in media.iter_frames(video, pixel_format="gray", rate_hz=FPS))
        Transcriber().transcribe(frames(), FPS)  # warm-up: sessions, allocations
        decode, engine, result = [], [], None
        for r in range(ROUNDS):
            job.report(0.1 + 0.6 * r / ROUNDS, "timing decoding and transcription")
            t0 = time.perf_counter()
            n = sum(1 for _ in frames())
            decode.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = Transcriber().transcribe(frames(), FPS)
            engine.append(time.perf_counter() - t0)
    d, e = min(decode), min(engine)
    return {
        "video": f"{SIZE[0]}x{SIZE[1]} {FPS} fps, {DURATION_S:g} s, {n} frames (rendered piano, x264)",
        "baseline": "decoding alone (studio.media.iter_frames, grey, full size)",
        "decode_s": round(d, 3),
        "wall_s": round(e, 3),
        "transcription_s": round(e - d, 3),
        "realtime_factor": round(DURATION_S / e, 2),
        "transcription_realtime_factor": round(DURATION_S / max(1e-9, e - d), 2),
        "ratio_to_decode": round(e / d, 2),
        "frames_per_s": round(n / e, 1),
        "notes": len(result.notes),
        "onset_f1": round(onset_prf([Note(*n) for n in notes], result.notes)[2], 3),
    }


def _movement(job: Job) -> dict:
    from engines.performer.gestures import synthesize
    from engines.performer.infer import INSTRUMENTS, Performer

    out = {}
    performer = Performer()
    for i, inst in enumerate(INSTRUMENTS):
        job.report(0.75 + 0.25 * i / len(INSTRUMENTS), f"performer: {inst}")
        notes = [(s, d, p if inst != "drums" else (36, 38, 42)[k % 3], v)
                 for k, (s, d, p, v) in enumerate(demo_piece(11 + i, DURATION_S))]
        kp = synthesize(notes, inst, fps=FPS, seed=i)
        performer.generate(kp, inst, seed=0)  # warm-up
        walls = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            performer.generate(kp, inst, seed=0)
            walls.append(time.perf_counter() - t0)
        out[inst] = {"ms_per_s": round(1000 * min(walls) / DURATION_S, 2),
                     "realtime_factor": round(DURATION_S / min(walls), 1)}
    return out


def _pose(job: Job) -> dict | str:
    """MediaPipe Pose (its own environment, a separate process) over the 12 s drummer demo."""
    from studio import pose

    if not pose.available():
        return "not available: " + pose.MISSING
    video = Path(__file__).resolve().parents[1] / "assets" / "drummer_demo.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = pose.estimate(video, Path(tmp) / "kp.json", job)
        wall = time.perf_counter() - t0
        import json

        n = len(json.loads(out.read_text())["frames"])
    return {"video": "drummer_demo.mp4, 480x480, 12 s", "frames": n, "wall_s": round(wall, 2),
            "ms_per_frame": round(1000 * wall / n, 1), "realtime_factor": round(12.0 / wall, 2),
            "includes": "process start, model load, decoding"}


def run(job: Job | None = None) -> dict:
    job = Job.quiet(job)
    report = {"name": "performer", **_piano(job), "target_realtime_factor": TARGET_REALTIME}
    try:
        report["movement"] = _movement(job)
    except ImportError as exc:  # the movement engine is not part of this build
        report["movement"] = f"not available: {exc}"
    report["pose"] = _pose(job.sub(0.9, 1.0))
    job.report(1.0, "done")
    return report
