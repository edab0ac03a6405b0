"""Ambience adapter: words + the analysis timeline's per-second features -> an "Ambience" track
(a bed of sound made by the ambience engine: codec tokens by MaskGIT, decoded to audio), and
``studio match --audio``: a folder of recorded sound ranked for a video by the same model.

generate
    Per-second visual rows from the timeline (``engines.ambience.features.from_video``: motion,
    impact density, brightness, saturation, cuts), the words of ``--ambience WORDS`` (the app's
    words field; none: the picture alone), the seed from the settings. Tokens are made for the
    whole video (10 s windows with continuation) and stored in the track's settings
    (``codes``: the (8, T) int16 array as .npy bytes, zlib-compressed, base64; about 0.8 kB per
    second of video), with what made them (words, seed, rows, steps, guidance). They live in the
    track, not in a file beside the project: an adapter writes no file (``studio generate``
    stages the project's ``assets/`` as a whole inside its transaction, and the app's undo,
    Save As and track duplication copy a track's settings with it), so every copy of the
    project renders the same tokens without generating again.

re-generate a region (``remake_region``; the app's "Re-generate loop region")
    When the settings' options name one of the project's Ambience tracks (``regenerate_track``)
    and a ``region``, generate returns that track (same id) with the region's tokens inpainted
    between its own (the words of the options, else the track's; the settings' seed), the edit
    appended to ``edits``.

render
    The stored tokens (an older project's track without them: made again from its settings,
    deterministically, and kept in a small in-process cache) decoded 30 s at a time, resampled
    from 24 kHz to the project's rate with soxr's stream (continuous across blocks) and written
    to both channels of a ``diskaudio`` buffer, so memory does not grow with the video's length.

match (``match_audio_library``)
    The audio files under a folder (recursively, ``AUDIO_SUFFIXES``), each decoded from its start
    (``studio.media.read_audio`` with ``seconds``: stopped once enough is read; mixed to mono
    and resampled to the codec's 24 kHz) over the video's first ``windows`` x 10 s (a shorter file padded with
    silence: the file placed at the video's start), scored by ``engines.ambience.match`` against
    the video's visual rows and words; best first. A file that cannot be decoded is skipped
    with its reason.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import threading
import zlib
from collections import OrderedDict
from pathlib import Path

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
INPAINTS = True  # "Re-generate loop region" inpaints the region's tokens (remake_region)

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


def parse_words(words) -> tuple[str, ...]:
    """The engine's words for ``words`` ("rain, city"): its ``parse_words``, an unknown word a
    StudioError with the engine's message (it lists the known words)."""
    from engines.ambience.features import parse_words as engine_words
    from engines.errors import EngineError
    from studio.errors import StudioError

    try:
        return engine_words(words)
    except EngineError as exc:
        raise StudioError(str(exc)) from None


def known_words() -> tuple[str, ...]:
    """The model's words (``engines.ambience.infer.known_words``)."""
    from engines.ambience.infer import known_words as engine_known

    return engine_known()


def word_choices() -> tuple[str, ...]:
    """Every word ``parse_words`` takes: the model's words and the everyday words mapped onto
    them ("rain" -> water), sorted: what the app's words field completes."""
    from engines.ambience.features import SYNONYMS

    return tuple(sorted(set(known_words()) | set(SYNONYMS)))


def check(project: Project, settings) -> None:
    parse_words((settings.options or {}).get("ambience"))


def _signature(s: dict) -> str:
    keys = ("words", "seed", "visual", "steps", "cfg", "duration_s", "edits")
    return hashlib.sha256(json.dumps([s.get(k) for k in keys]).encode()).hexdigest()


def pack_codes(codes: np.ndarray) -> str:
    """(8, T) codes as the text a track's settings store: .npy bytes (int16), zlib, base64."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(codes, np.int16), allow_pickle=False)
    return base64.b64encode(zlib.compress(buf.getvalue(), 6)).decode("ascii")


def unpack_codes(text, frames: int) -> np.ndarray | None:
    """The codes a track stores (``pack_codes``), or None when they are absent or damaged (not
    (8, ``frames``) integers in the codec's range): the track is then made again."""
    if not isinstance(text, str) or not text:
        return None
    try:
        codes = np.load(io.BytesIO(zlib.decompress(base64.b64decode(text, validate=True))), allow_pickle=False)
    except (ValueError, OSError, EOFError, zlib.error):
        return None
    if codes.dtype != np.int16 or codes.shape != (8, frames) or codes.min() < 0 or codes.max() >= 1024:
        return None
    return codes


def _frames(s: dict) -> int:
    return int(np.ceil(float(s["duration_s"]) * 50 - 1e-6))


def _tokens(s: dict) -> np.ndarray:
    """The track's codes: stored in its settings, else from the cache or made again (the whole
    track, then each region made again since, in order: ``edits``)."""
    stored = unpack_codes(s.get("codes"), _frames(s))
    if stored is not None:
        return stored
    key = _signature(s)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    visual = np.asarray(s["visual"], np.float32)
    codes = engine().generate_tokens(s["duration_s"], visual, s["words"], int(s["seed"]),
                                     steps=int(s["steps"]), cfg=float(s["cfg"]))
    for e in s.get("edits") or ():
        codes = engine().inpaint(codes, e["start_s"], e["end_s"], visual, e["words"], int(e["seed"]),
                                 steps=int(s["steps"]), cfg=float(s["cfg"]))
    codes = codes.astype(np.int16)
    with _lock:
        _cache[key] = codes
        while len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    return codes


def region_to_remake(project: Project, options: dict) -> tuple[Track, float, float] | None:
    """The Ambience track and region that ``options`` ask to be made again (``regenerate_track``:
    a track id, ``region``: [start, end] s: the app's "Re-generate loop region"), the region
    clipped to the track; None when they ask for none. A StudioError when the track is not an
    ambience track of ``project`` or the region misses it."""
    from studio.errors import StudioError

    track_id, region = options.get("regenerate_track"), options.get("region")
    if track_id is None or region is None:
        return None
    track = next((t for t in project.tracks if t.id == track_id), None)
    if track is None or track.engine != "ambience":
        raise StudioError(f"track {track_id!r} is not an ambience track of this project")
    duration = float(track.settings["duration_s"])
    a, b = max(0.0, float(region[0])), min(duration, float(region[1]))
    if b - a < 0.02:  # less than one token frame
        raise StudioError(f"the region {float(region[0]):.2f}\u2013{float(region[1]):.2f} s is outside the "
                          f"{duration:.2f} s of {track.name}")
    return track, a, b


def remake_region(track: Track, start_s: float, end_s: float, words, seed: int, job: Job | None = None) -> Track:
    """``track`` with the tokens of [start_s, end_s) made again by inpainting: the engine fills
    them as unknown tokens between the track's own on both sides (VAB's masked formulation), so
    the new sound continues the old across both edges, with no crossfade to make. ``words``:
    the region's words (None: the track's own); the edit is recorded in ``edits`` (a track whose
    stored codes are lost is made again with it)."""
    job = Job.quiet(job)
    s = dict(track.settings)
    words = list(parse_words(words)) if words else list(s.get("words") or [])
    job.report(0.05, f"ambience tokens for {start_s:.1f}\u2013{end_s:.1f} s" + (f" ({', '.join(words)})" if words else ""))
    codes = engine().inpaint(_tokens(s), start_s, end_s, np.asarray(s["visual"], np.float32), words,
                             int(seed), steps=int(s["steps"]), cfg=float(s["cfg"]))
    edit = {"start_s": round(float(start_s), 6), "end_s": round(float(end_s), 6), "words": words, "seed": int(seed)}
    s["edits"] = list(s.get("edits") or []) + [edit]
    s["codes"] = pack_codes(codes)
    job.report(1.0, "done")
    return dataclasses.replace(track, settings=s)


def generate(project: Project, timeline, settings, job: Job | None = None) -> list[Track]:
    from engines.ambience.infer import DEFAULT_CFG, DEFAULT_STEPS

    job = Job.quiet(job)
    options = settings.options or {}
    remake = region_to_remake(project, options)
    if remake is not None:  # "Re-generate loop region": that region of the track, inpainted
        track, a, b = remake
        return [remake_region(track, a, b, options.get("ambience"), int(settings.seed), job)]
    words = list(parse_words(options.get("ambience")))
    duration = float(project.duration_s if project.video is not None and project.duration_s > 0
                     else timeline.duration_s)
    rows = timeline_rows(timeline, duration)
    s = {"words": words, "seed": int(settings.seed), "visual": np.round(rows, 4).tolist(),
         "steps": DEFAULT_STEPS, "cfg": DEFAULT_CFG, "duration_s": round(duration, 6), "part": "pad"}
    job.report(0.05, f"ambience tokens for {duration:.1f} s" + (f" ({', '.join(words)})" if words else ""))
    s["codes"] = pack_codes(_tokens(s))  # kept with the track: rendering never generates again
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


# -- studio match --audio -------------------------------------------------------------------------
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".w64",
                  ".caf", ".wma")
RATE = 24000  # the codec's


def audio_files(library) -> list[Path]:
    """The audio files under the folder ``library`` (recursively, by ``AUDIO_SUFFIXES``), sorted;
    a StudioError when it is not a folder or holds none."""
    from studio.errors import StudioError

    folder = Path(library)
    if not folder.is_dir():
        raise StudioError(f"library {library} is not a folder; give a folder of audio files")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise StudioError(f"no audio files ({', '.join(s[1:] for s in AUDIO_SUFFIXES)}) in {library}")
    return files


def read_start(path, seconds: float) -> np.ndarray:
    """The first ``seconds`` of an audio file as 24 kHz mono float32, exactly that long (padded
    with silence; ``studio.media.read_audio``, which stops decoding once that much is read).
    MediaError when it cannot be decoded."""
    from studio import media

    y = media.read_audio(path, sample_rate=RATE, mono=True, seconds=seconds)[0][0]
    n = int(round(seconds * RATE))
    return np.pad(y, (0, max(0, n - len(y))))


def match_windows(windows=None) -> int:
    """How many 10 s windows of each file to score (None: ``engines.ambience.match.DEFAULT_WINDOWS``);
    a StudioError outside 1..``MAX_WINDOWS``."""
    from engines.ambience.match import DEFAULT_WINDOWS, check_windows
    from engines.errors import EngineError
    from studio.errors import StudioError

    try:
        return check_windows(DEFAULT_WINDOWS if windows is None else windows)
    except EngineError as exc:
        raise StudioError(str(exc)) from None


def rank_audio_files(rows: np.ndarray, files, words=None, windows: int | None = None,
                     job: Job | None = None) -> tuple[list[tuple[str, float]], list[tuple[str, str]]]:
    """``files`` scored for the video whose visual rows are ``rows`` (seconds, 5) and ``words``
    (``engines.ambience.match``; the first ``windows`` x 10 s of the video at most):
    ((path, score) best first, (path, why) of the files skipped, in order)."""
    from engines.ambience.features import check_visual
    from engines.ambience.match import match_seconds, score_audio
    from engines.errors import EngineError
    from studio.errors import StudioError

    job = Job.quiet(job)
    words = parse_words(words)
    try:
        rows = check_visual(rows)
    except EngineError as exc:
        raise StudioError(str(exc)) from None
    windows = match_windows(windows)
    seconds = match_seconds(len(rows), windows)
    amb = engine()
    scores, skipped = [], []
    for k, path in enumerate(files):
        job.report(k / max(1, len(files)), f"scoring {Path(path).name}")
        try:
            y = read_start(path, seconds)
            scores.append((str(path), score_audio(amb, y, RATE, rows, words, windows)))
        except (StudioError, EngineError) as exc:  # an unreadable file is reported and skipped
            why = str(exc)
            skipped.append((str(path), why[len(str(path)):].lstrip(" :") if why.startswith(str(path)) else why))
    job.report(1.0, "done")
    return sorted(scores, key=lambda s: -s[1]), skipped


def match_audio_library(video, library, words=None, windows: int | None = None,
                        job: Job | None = None) -> tuple[list[tuple[str, float]], list[tuple[str, str]]]:
    """``studio match --audio``: the audio files under ``library`` ranked for ``video`` (its
    analysis' visual rows, as generate makes them, and ``words``): ((path, score) best first,
    (path, why) skipped). A StudioError when the folder holds no audio file or none can be read."""
    from studio.analysis import analyze
    from studio.errors import StudioError

    job = Job.quiet(job)
    parse_words(words)  # a bad word, window count or folder before the analysis
    match_windows(windows)
    files = audio_files(library)
    timeline = analyze(video, job=job.sub(0.0, 0.3))
    rows = timeline_rows(timeline, float(timeline.duration_s))
    ranked, skipped = rank_audio_files(rows, files, words, windows, job.sub(0.3, 1.0))
    if not ranked:
        raise StudioError(f"none of the {len(files)} audio files in {library} could be read "
                          f"(the first: {skipped[0][1]})")
    return ranked, skipped
