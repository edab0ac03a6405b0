"""The analysis pass: decode once, compute per-frame/per-pair features on a worker thread
(overlapping decode, which releases the GIL, with optical flow, which does too), then derive the
uniform-grid timeline."""
from __future__ import annotations

import contextlib
import math
import queue
import threading

import cv2
import numpy as np

from studio.analysis import beats as _beats
from studio.analysis.contact_patches import FRAME_HEIGHT, ContactPatches
from studio.analysis.colour import colour_stats, thumbnail, per_second, per_second_stats
from studio.analysis.cuts import colour_histogram, detect_cuts, histogram_distance
from studio.analysis.impacts import detect_impacts
from studio.analysis.motion import MotionAnalyzer, PairStore, Rows, flow_size, resample_pairs
from studio.analysis.onsets import directogram_flux, onset_envelope, with_contacts
from studio.analysis.timeline import N_DIRECTIONS, AnalysisParams, AnalysisTimeline
from studio.errors import AnalysisError
from studio.jobs import Job

_QUEUE = 16
# frames further apart than this leave a gap: nothing is known in between (a sparse or absurd
# timestamp, a long freeze). The gap is blank and bounds the beat tracking, so the work follows
# the frames, not the timestamp span (two frames 10 h apart once kept the analysis busy for > 10 min)
MAX_GAP_S = 2.0
MIN_TRAIN = 6  # contacts needed before their train takes part in the tempo decision
# frames analysed per second at most (every frame of a 60 fps video): the onset envelope places a
# deceleration at the frame where it shows, so the beats (and the drums on them) can be no finer
# than the frame step. At 30 a second a 60 fps drummer's beats sat 26-43 ms after its hits and a
# noisy 60 fps clip's 27-66 ms off its contacts (sync suite: drums within 25 ms of the contacts
# 0.945 -> 0.96, p95 26 -> 19 ms). Costs twice the flow work on such a video (so does its decoding)
MAX_PAIR_RATE_HZ = 60.0
_STOP = object()


class _FrameWorker:
    """Per-frame features (flow pair, histogram, colour) of the frames it is given, in order,
    kept compact (float rows in blocks, no object per frame: 120 bytes a frame in memory, the
    pair's 576 bytes of cells for the contacts in a temporary file), so memory hardly grows
    with the video's length."""

    def __init__(self, params: AnalysisParams, size: tuple[int, int], contact_patches: bool = False) -> None:
        self.motion = MotionAnalyzer(params, flow_size(size, params.flow_max_side),
                                     pairs=PairStore(params.impact_grid, spill=True))
        self.times = Rows()
        self.hist_distances = Rows()  # to the previous frame (only the scalar is kept)
        self._last_hist: np.ndarray | None = None
        self.colours = Rows((5,))  # colour_stats
        self.patches = ContactPatches(params, self.motion.w / self.motion.h) if contact_patches else None

    def add(self, t: float, rgb: np.ndarray | None, partial_thumbnail=None) -> None:
        """Frame ``rgb`` at ``t``; None: a frame the features skip (above MAX_PAIR_RATE_HZ), which
        only the contact patches' ring takes."""
        if self.patches is not None:
            self.patches.frame(t, partial_thumbnail)
        if rgb is None:
            return
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if self.motion.repeats(t, gray):
            return  # the frame before again (a doubled frame rate): its pair would fake a stop
        self.motion.add(t, gray)
        if self.patches is not None:
            self.patches.pairs_added(self.motion.pairs)
        self.times.append(t)
        small = thumbnail(rgb)
        hist = colour_histogram(small)
        if self._last_hist is not None:
            self.hist_distances.append(histogram_distance(self._last_hist, hist))
        self._last_hist = hist
        self.colours.append(colour_stats(small))


def _run_threaded(frames, worker: _FrameWorker, min_step: float) -> tuple[int, float]:
    """Feed decoded frames to ``worker`` on a thread; returns (frames decoded, typical step)."""
    q: queue.Queue = queue.Queue(maxsize=_QUEUE)
    failure: list[BaseException] = []
    stop = threading.Event()

    def consume() -> None:
        while True:
            item = q.get()
            if item is _STOP:
                return
            if failure or stop.is_set():
                continue
            try:
                worker.add(*item)
            except BaseException as exc:  # handed to the decoding thread
                failure.append(exc)

    thread = threading.Thread(target=consume, name="analysis-features", daemon=True)
    thread.start()
    n, last_kept, steps, last_t = 0, -math.inf, [], None
    try:
        for fr in frames:
            if failure:
                break
            n += 1
            if last_t is not None and fr.time_s > last_t:
                steps.append(fr.time_s - last_t)
            last_t = fr.time_s
            if fr.time_s >= last_kept + min_step:
                last_kept = fr.time_s
                q.put((fr.time_s, fr.image, fr.thumbnail))
            elif worker.patches is not None:
                q.put((fr.time_s, None, fr.thumbnail))
    except BaseException:
        stop.set()
        raise
    finally:
        q.put(_STOP)
        thread.join()
    if failure:
        raise failure[0]
    step = float(np.median(steps)) if steps else 0.0
    return n, step


def compute(path, info, content_hash: str, params: AnalysisParams, job: Job,
            contact_patches: bool = False) -> AnalysisTimeline:
    """``contact_patches``: also cut the Foley engine's contact patches in this pass, handed
    over in ``timeline.extra["contact_patches"]`` (see ``contact_patches``)."""
    from studio import media

    rate = float(params.rate_hz)
    if not rate > 0:
        raise AnalysisError(f"the feature rate must be positive, not {rate}")
    size = media.analysis_size(info.video, params.max_side)
    worker = _FrameWorker(params, size, contact_patches)
    frames = media.iter_frames(path, size=size, pixel_format="rgb24", job=job.sub(0.0, 0.9),
                               thumbnail_height=FRAME_HEIGHT if contact_patches else None)
    # tiny images: OpenCV's thread pool would only contend with the decoder's threads. The
    # media module's guard is reference-counted, so concurrent analyses/readers nest correctly.
    serial = getattr(media, "_SERIAL_CV2", None) or contextlib.nullcontext()
    try:
        with serial:
            _, step = _run_threaded(frames, worker, 0.75 / max(rate, MAX_PAIR_RATE_HZ))
    finally:
        frames.close()  # closes the file at once, also when cancelled
    job.report(0.9, "deriving rhythm, impacts and cuts")
    times = worker.times.array()
    if len(times) == 0:
        raise AnalysisError(f"{path}: no video frames could be decoded")
    frame_step = step if step > 0 else (1.0 / info.video.fps if info.video.fps > 0 else 1.0 / rate)
    duration = float(times[-1] + frame_step)
    if worker.patches is not None:
        worker.patches.finish(worker.motion.pairs)
    timeline = _derive(str(path), content_hash, params, duration, times, worker, job.check_cancelled)
    if worker.patches is not None:
        timeline.extra["contact_patches"] = worker.patches
    return timeline


def _derive(source: str, content_hash: str, params: AnalysisParams, duration: float,
            times: np.ndarray, worker: _FrameWorker, check=None) -> AnalysisTimeline:
    rate = float(params.rate_hz)
    n = max(1, int(math.ceil(duration * rate - 1e-6)))
    grid = np.arange(n) / rate
    pairs = worker.motion.pairs.arrays()  # cells: sliced a window at a time by detect_impacts
    cut_idx = detect_cuts(times, worker.hist_distances.array(), params)
    cuts_s = tuple(float(times[i + 1]) for i in cut_idx)
    valid = np.ones(len(pairs["t0"]), bool)
    valid[cut_idx[cut_idx < len(valid)]] = False  # pair i spans frames i and i+1
    valid &= (pairs["t1"] - pairs["t0"]) <= MAX_GAP_S
    long = np.flatnonzero(np.diff(times) > MAX_GAP_S)
    gaps = [(float(times[i]), float(times[i + 1])) for i in long]
    blank = np.zeros(n, bool)
    for a, b in gaps:
        blank[np.searchsorted(grid, a, "right"):np.searchsorted(grid, b, "left")] = True

    energy = resample_pairs(pairs["energy"], pairs["t0"], pairs["t1"], grid, valid)
    directogram = resample_pairs(pairs["directions"], pairs["t0"], pairs["t1"], grid, valid, np.float32)
    if directogram.ndim == 1:
        directogram = directogram.reshape(n, N_DIRECTIONS)
    flux = directogram_flux(pairs["directions"], valid)
    env = onset_envelope(flux, pairs["t0"], grid, rate, params.onset_smooth_s, ~blank)
    for signal in (energy, directogram, env):
        signal[blank] = 0.0
    impacts = detect_impacts(pairs["t0"], pairs["t1"], pairs["cells"], valid, params,
                             aspect=worker.motion.w / worker.motion.h)
    with_c = with_contacts(env, impacts, grid, rate, params.onset_smooth_s, ~blank)
    with_c[blank] = 0.0
    fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else None  # frames analysed
    # a handful of contacts is no pulse by itself: four bounces of a dropped ball once "agreed"
    # with a 62 BPM period through one coincidence; their envelope counts from MIN_TRAIN on
    train = with_c if len(impacts) >= MIN_TRAIN else None
    estimate = _beats.estimate_tempo(env, rate, params, octave_env=train, frame_rate=fps)
    env = with_c  # beats track the contacts too
    # beats are tracked between these: the gap, from its first blank grid point, is a shot of its own
    bounds = cuts_s + tuple(t for a, b in gaps for t in ((np.floor(a * rate) + 1) / rate, b))
    if check is not None:
        check()
    beat_times = _beats.shot_beats(env, rate, params, estimate, np.array([i.time_s for i in impacts]), bounds,
                                   fps, check)
    # one tempo everywhere: the grid's own (median beat interval), the default without a pulse
    tempo = 60.0 / float(np.median(np.diff(beat_times))) if len(beat_times) >= 2 else estimate.bpm
    down = _beats.downbeats(beat_times, env, energy, rate, params.beats_per_bar)

    m = max(1, int(math.ceil(duration - 1e-6)))
    colours = per_second(times, worker.colours.array(), m)
    motion_mean, motion_var = per_second_stats(grid, energy, m)
    cut_rate = np.bincount(np.clip(np.floor(np.asarray(cuts_s)).astype(int), 0, m - 1), minlength=m)[:m]
    return AnalysisTimeline(
        source=source, content_hash=content_hash, params=params, duration_s=duration, rate_hz=rate,
        times_s=grid, motion_energy=energy.astype(np.float32),
        directogram=directogram.astype(np.float32, copy=False), onset_envelope=env.astype(np.float32),
        tempo_bpm=float(tempo), tempo_confidence=float(estimate.confidence), beat_times_s=np.asarray(beat_times, dtype=np.float64),
        downbeat_times_s=np.asarray(down, dtype=np.float64), impacts=impacts, cuts_s=cuts_s,
        seconds_s=np.arange(m, dtype=np.float64), brightness=colours[:, 3].astype(np.float32),
        saturation=colours[:, 4].astype(np.float32), colour_rgb=colours[:, :3].astype(np.float32),
        motion_mean=motion_mean.astype(np.float32), motion_var=motion_var.astype(np.float32),
        cut_rate=cut_rate.astype(np.float32))
