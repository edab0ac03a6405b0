"""Ambience adapter: words + the analysis timeline's per-second features -> an "Ambience" track
(a bed of sound made by the ambience engine: codec tokens by MaskGIT, decoded to audio).

generate
    Per-second visual rows from the timeline (``engines.ambience.features.from_video``: motion,
    impact density, brightness, saturation, cuts), the words of ``--ambience WORDS`` (none from
    the app's check box: the picture alone), the seed from the settings. Tokens are made for the
    whole video (10 s windows with continuation) and kept in a small in-process cache; the track
    stores what makes them again (words, seed, the per-second rows, steps, guidance), so it
    renders the same in a later session (deterministic per seed) and stays small on disk.

render
    The tokens (cached, else made again) decoded 30 s at a time, resampled from 24 kHz to the
    project's rate with soxr's stream (continuous across blocks) and written to both channels
    of a ``diskaudio`` buffer, so memory does not grow with the video's length.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict

import numpy as np

from studio.jobs import Job
from studio.project import Project, Track, TrackKind

# engine metadata (studio.adapters: read from this source without importing it)
ORDER = 35  # after the soundtrack: a bed under the music
ON_REQUEST = True  # seconds of compute per 10 s of video: only when asked
LABEL = "Ambience"
HELP = "an ambience bed from WORDS (e.g. \"rain, city\") and the picture's motion, impacts, light and cuts"
TOOLTIP = "a bed of recorded-sound textures made from codec tokens, following the picture"
METAVAR = "WORDS"
VALUE = "ambience"  # --ambience WORDS -> settings.options["ambience"]

NAME = "Ambience"
_CACHE_MAX = 4
_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()
_engine_lock = threading.Lock()
_engine = None


def engine():
    """The engine (ONNX sessions), made once per process."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from engines.ambience.infer import Ambience

            _engine = Ambience()
        return _engine


def timeline_rows(timeline, duration_s: float) -> np.ndarray:
    """(seconds, 5) visual rows of an analysed video (engines.ambience.features.from_video)."""
    from engines.ambience.features import from_video

    return from_video(duration_s, timeline.motion_mean, timeline.brightness, timeline.saturation,
                      timeline.cut_rate, [float(i.time_s) for i in timeline.impacts])


def check(project: Project, settings) -> None:
    from engines.ambience.features import parse_words
    from engines.errors import EngineError
    from studio.errors import StudioError

    try:
        parse_words((settings.options or {}).get("ambience"))
    except EngineError as exc:
        raise StudioError(str(exc)) from None


def _signature(s: dict) -> str:
    keys = ("words", "seed", "visual", "steps", "cfg", "duration_s")
    return hashlib.sha256(json.dumps([s.get(k) for k in keys]).encode()).hexdigest()


def _tokens(s: dict) -> np.ndarray:
    """The track's codes, from the cache or made again from its settings."""
    key = _signature(s)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    codes = engine().generate_tokens(s["duration_s"], np.asarray(s["visual"], np.float32), s["words"],
                                     int(s["seed"]), steps=int(s["steps"]), cfg=float(s["cfg"]))
    codes = codes.astype(np.int16)
    with _lock:
        _cache[key] = codes
        while len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    return codes


def generate(project: Project, timeline, settings, job: Job | None = None) -> list[Track]:
    from engines.ambience.features import parse_words
    from engines.ambience.infer import DEFAULT_CFG, DEFAULT_STEPS

    job = Job.quiet(job)
    words = list(parse_words((settings.options or {}).get("ambience")))
    duration = float(project.duration_s if project.video is not None and project.duration_s > 0
                     else timeline.duration_s)
    rows = timeline_rows(timeline, duration)
    s = {"words": words, "seed": int(settings.seed), "visual": np.round(rows, 4).tolist(),
         "steps": DEFAULT_STEPS, "cfg": DEFAULT_CFG, "duration_s": round(duration, 6), "part": "pad"}
    job.report(0.05, f"ambience tokens for {duration:.1f} s" + (f" ({', '.join(words)})" if words else ""))
    _tokens(s)  # made now (and cached), so rendering right after generating does not wait again
    job.report(1.0, "done")
    return [Track(NAME, TrackKind.SOUNDTRACK, engine="ambience", settings=s)]


def render_track(track: Track, project: Project, sample_rate: int, job: Job | None = None) -> np.ndarray:
    import soxr

    from studio import diskaudio
    from studio.render import project_frames

    job = Job.quiet(job)
    s = dict(track.settings)
    n = project_frames(project, sample_rate) or int(round(float(s["duration_s"]) * sample_rate))
    codes = _tokens(s)
    out = diskaudio.buffer(2, n)
    stream = soxr.ResampleStream(24000, sample_rate, 1, dtype="float32", quality="HQ")
    pos, total = 0, codes.shape[1]
    blocks = list(range(0, total, 1500))
    for k, (start, y) in enumerate(engine().iter_audio(codes)):
        last = k == len(blocks) - 1
        z = stream.resample_chunk(np.ascontiguousarray(y, np.float32), last=last)
        m = min(len(z), n - pos)
        if m > 0:
            diskaudio.write(out, pos, np.stack([z[:m], z[:m]]))
            pos += m
        job.report((k + 1) / len(blocks))
    return out


def register() -> None:
    from studio.render import register_track_renderer

    register_track_renderer("ambience", render_track)
