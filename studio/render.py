"""Offline render: every audible track into a stereo stem, and the stems into a mixdown.

Signal flow per track (float32, stereo, ``project.sample_rate`` unless told otherwise)::

    source -> [spatializer, when track.room is set] -> [role gain] -> gain (dB) -> pan
           -> [stem safety limiter] -> [duck under music, when Mixer.duck_db is set] -> stem
    stems (+ reverb bus return) summed -> mix -> [loudness normalisation] -> [true-peak limiter]
           -> master fader (Project.master_fader_db) -> mix

The bracketed stages are the mastering stage (:mod:`studio.mastering`), on by default
(``loudness_lufs=-14``): generated tracks are brought to their role's loudness before the fader
(gain staging), every stem and the mix are held under -1 dBTP, a post-fader send per track feeds
one room-matched reverb, and the mix is normalised to the target loudness. ``loudness_lufs=None``
is the plain path of earlier versions (stems summed; ``limiter=True`` then adds the true-peak
limiter alone). Loudness and limiting are computed on the whole timeline before a
``time_range`` is cut out, so a range plays exactly as it sounds in the whole mix.

Sources
    MIDI tracks: their notes through :mod:`studio.synth` (GM program, channel 10 = drums).
    AUDIO tracks: ``track.audio_path`` decoded (soundfile for WAV/FLAC/OGG/AIFF, PyAV through
    :mod:`studio.media` for anything else), resampled with soxr, placed at ``track.offset_s``
    (a negative offset trims the start). Mono is played on both sides; of more than two
    channels the first two are used.
    FOLEY tracks: ``audio_path`` when set; otherwise the renderer registered for the track's
    ``engine`` (or for ``"foley"``) with :func:`register_track_renderer`.
    SOUNDTRACK tracks: ``audio_path`` and/or notes; with neither, a registered renderer.

Length
    Every stem and the mix are exactly ``round(project.duration_s * sample_rate)`` frames (the
    video's duration); tails beyond the end are cut, short sources are padded with silence.
    A project without video lasts until its last sound ends. ``time_range=(start_s, end_s)``
    returns frames ``round(start_s*sr) .. round(end_s*sr)`` of that timeline.

Pan law
    Constant power, normalised to unity at the centre: with ``theta = (pan + 1) * pi / 4``,
    ``gain_left = sqrt(2) * cos(theta)`` and ``gain_right = sqrt(2) * sin(theta)``. The summed
    power ``gain_left**2 + gain_right**2 = 2`` is the same at every position; a centred track is
    untouched (bit-identical), a hard-panned one is +3 dB on its side and silent on the other.
    For stereo sources this acts as a balance control (each side scaled by its own gain).

Ducking
    A track with ``Mixer.duck_db`` set ("duck under music", e.g. the video's original audio) is
    lowered by that many dB where the audible generated music tracks (post-fader, summed) are
    loud (``studio.mastering.duck_gain``: 50 ms attack, 300 ms release), over the whole timeline.

Render cache
    ``render_project(cache=True)`` (export's ``render_for_export``, app playback) keeps the most
    recent render of this process: one entry, so what is held is one render's stems and mix (on
    disk, see Memory); :func:`clear_render_cache` frees it. Its key is
    a SHA-256 over everything the render reads: the project's content as ``to_dict()`` has it, hashed
    piece by piece (a track's fields, then its notes, hits and keyframes in slices; tracks, notes, hits,
    mixer, rooms, banks, tempo, sample rate, video duration), the options (sample rate, range,
    mastering, soundfont), the path, size, mtime and inode of every audio file an audible track
    plays and of the soundfont file (explicit or ``$STUDIO_SOUNDFONT``), and the renderers and
    spatializer registered. Any edit therefore renders anew; an unchanged project with the same
    options returns the same arrays (made read-only, so no caller can change the cached copy)
    and ``RenderResult.cached`` is True. Without ``cache`` nothing is looked up or kept.

Memory
    A track's source is rendered whole (the synth, the spatializer and the engines' renderers
    return arrays), then it goes to disk: from the fader on, every stem, the reverb bus, the mix
    and the mastering's working arrays are ``studio.diskaudio`` arrays (float32 ``np.memmap`` over
    unlinked temporary files in ``$STUDIO_RENDER_DIR`` or the system's temporary folder), and
    the stem limiter, ducking, reverb, the sum and the mastering run block by block
    (``studio.mastering_blocks``: the same samples as the whole-array functions of
    ``studio.mastering``; the reverb within float32 rounding). The sources are made on a thread
    of their own, one track ahead of the stem being finished (:func:`_pipelined`), so the memory
    a render holds is about two tracks' sources whatever the length. ``RenderResult``'s arrays
    are those memmaps, indexed like any array; a ``time_range`` is cut into memory.

Master fader
    ``Project.master_fader_db`` is the mix's last gain, after the mastering stage (as an output
    fader: the mix moves by exactly that many dB, loudness and true peak with it, and a boost
    can push the mix over full scale, which ``RenderResult.clipped`` then says). The stems do not
    follow it (a DAW's stem export is per track, pre-master); the mixdown and the muxed video do.
    It is applied after the render cache, so moving it never renders the tracks again.

Stems are post-fader (gain, pan, spatialisation applied). With mastering off they sum to the
mix; with it on, stems plus the reverb return sum to the mix before its normalisation gain and
limiter (``RenderResult.reverb`` holds the return).
"""
from __future__ import annotations

import dataclasses
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from studio import diskaudio as da
from studio.errors import MediaError, StudioError
from studio.jobs import Job
from studio.project import Project, Track, TrackKind, event_value

__all__ = [
    "RenderResult", "TrackRenderer", "Spatializer", "register_track_renderer",
    "unregister_track_renderer", "register_spatializer", "render_project", "render_track_source",
    "load_audio", "pan_gains", "apply_mixer", "limit", "peak_dbfs", "project_frames", "clear_render_cache",
]

TrackRenderer = Callable[[Track, Project, int, Job], np.ndarray]
# (audio (2, n), track, project, sample_rate) -> audio (2, n') ; e.g. binaural room rendering
Spatializer = Callable[[np.ndarray, Track, Project, int], np.ndarray]

_renderers: dict[str, TrackRenderer] = {}
_spatializer: Spatializer | None = None
_registry_lock = threading.Lock()
SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".w64", ".caf", ".mp3"}


def register_track_renderer(kind_or_engine: str | TrackKind, fn: TrackRenderer) -> None:
    """Make ``fn(track, project, sample_rate, job) -> (2, n) float32`` the source of tracks whose
    ``engine`` equals ``kind_or_engine`` or, as a fallback, whose kind is that TrackKind.
    The returned audio starts at time 0 of the project; its length is fitted afterwards."""
    key = kind_or_engine.value if isinstance(kind_or_engine, TrackKind) else str(kind_or_engine)
    with _registry_lock:
        _renderers[key] = fn


def unregister_track_renderer(kind_or_engine: str | TrackKind) -> None:
    key = kind_or_engine.value if isinstance(kind_or_engine, TrackKind) else str(kind_or_engine)
    with _registry_lock:
        _renderers.pop(key, None)


def register_spatializer(fn: Spatializer | None) -> None:
    """Install the function that places a track in its room (``track.room`` set): it receives
    the track's dry stereo source and returns the spatialised stereo (binaural) audio, before
    gain and pan, as a new array that the render may overwrite (a disk array is faded in place;
    one that shares the source's memory is not). ``None`` removes it. Tracks with a room and no
    spatializer are an error."""
    global _spatializer
    with _registry_lock:
        _spatializer = fn


@dataclass(frozen=True)
class RenderResult:
    stems: dict[str, np.ndarray]  # track id -> (2, n) float32, post-fader, not limited
    names: dict[str, str]  # track id -> track name
    mix: np.ndarray  # (2, n) float32
    sample_rate: int
    peak_dbfs: float  # of ``mix`` as returned (after the limiter when it ran)
    clipped: bool  # True when ``mix`` has samples beyond full scale (|x| > 1)
    peak_before_limiter_dbfs: float = float("-inf")
    limiter_max_reduction_db: float = 0.0
    start_s: float = 0.0  # where the rendered range starts on the project timeline
    timings_s: dict[str, float] = field(default_factory=dict)
    # mastering (studio.mastering); loudness and true peak are of ``mix`` as returned
    loudness_lufs: float = float("-inf")
    true_peak_dbtp: float = float("-inf")
    loudness_before_lufs: float = float("-inf")  # the summed mix, before normalisation
    master_gain_db: float = 0.0
    stage_gains_db: dict[str, float] = field(default_factory=dict)  # track id -> role gain applied
    reverb: np.ndarray | None = None  # (2, n) the reverb bus return in the mix (before the master gain)
    mastering: object = None  # the studio.mastering.Mastering used
    cached: bool = False  # taken from the render cache (render_project(cache=True)), not rendered now
    master_fader_db: float = 0.0  # Project.master_fader_db, applied to ``mix`` (figures include it)
    # track id -> per-block flags (studio.meters.BLOCK_S): the post-fader stem reached full scale
    # before its safety limiter (the stem itself never does); what a track's clip light shows
    stem_overs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.mix.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.sample_rate


# ----------------------------------------------------------------------------- helpers


def peak_dbfs(audio: np.ndarray) -> float:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else float("-inf")


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan gains (left, right), unity at the centre (see module doc)."""
    pan = min(1.0, max(-1.0, float(pan)))
    if pan == 0.0:
        return 1.0, 1.0
    theta = (pan + 1.0) * math.pi / 4.0
    return math.sqrt(2.0) * math.cos(theta), math.sqrt(2.0) * math.sin(theta)


def apply_mixer(audio: np.ndarray, gain_db: float, pan: float) -> np.ndarray:
    gl, gr = pan_gains(pan)
    g = 10.0 ** (float(gain_db) / 20.0)
    if g == 1.0 and gl == 1.0 and gr == 1.0:
        return audio
    out = np.empty_like(audio)
    np.multiply(audio[0], np.float32(g * gl), out=out[0])
    np.multiply(audio[1], np.float32(g * gr), out=out[1])
    return out


def _stereo(audio: np.ndarray) -> np.ndarray:
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.shape[0] == 1:
        return np.repeat(audio, 2, axis=0)
    return audio[:2]


def _fit(audio: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """Place ``audio`` at frame ``offset`` of a silent (2, n) buffer (cut what falls outside);
    a long one is on disk (``diskaudio.buffer``) and copied a block at a time."""
    audio = _stereo(np.asanyarray(audio, dtype=np.float32))  # a memmap stays one (its pages are released)
    if offset == 0 and audio.shape[1] == n:
        return audio if audio.flags.c_contiguous else np.ascontiguousarray(audio)
    out = da.buffer(2, n)
    src0 = max(0, -offset)
    dst0 = max(0, offset)
    count = min(audio.shape[1] - src0, n - dst0)
    for a, b in da.chunks(max(0, count)):
        da.write(out, dst0 + a, da.read(audio, src0 + a, src0 + b))
    return out


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode an audio file to float32 stereo at ``sample_rate`` (soxr resampling). What
    libsndfile reads (WAV, FLAC, ...: the original-audio track is a WAV) is read and resampled a
    block at a time into a ``diskaudio.buffer``, so a film's soundtrack is on disk, not in
    memory (soxr's stream gives the same samples as one call); other formats decode whole."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"audio file {path} does not exist; re-import it or fix the track")
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        import soundfile as sf

        try:
            return _read_soundfile(path, int(sample_rate))
        except (RuntimeError, sf.LibsndfileError):
            pass  # e.g. an unusual WAV codec: let FFmpeg try
    from studio import media

    audio, rate = media.read_audio(path)
    audio = _stereo(audio)
    if int(rate) != int(sample_rate):
        import soxr

        audio = soxr.resample(np.ascontiguousarray(audio.T), int(rate), int(sample_rate), quality="HQ").T
    return np.ascontiguousarray(audio, dtype=np.float32)


def _read_soundfile(path: Path, sample_rate: int) -> np.ndarray:
    """(2, n) float32 of a libsndfile-readable file, block by block (``load_audio``)."""
    import soundfile as sf
    import soxr

    with sf.SoundFile(str(path)) as f:
        rate = int(f.samplerate)
        stream = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 2, dtype="float32",
                                                                      quality="HQ")
        out = da.buffer(2, int(math.ceil(max(0, f.frames) * sample_rate / rate)) + 64)
        pos = 0
        while True:
            data = f.read(da.BLOCK_FRAMES, dtype="float32", always_2d=True)
            last = len(data) < da.BLOCK_FRAMES
            block = _stereo(data.T)
            if stream is not None:
                block = stream.resample_chunk(np.ascontiguousarray(block.T), last=last).T
            if pos + block.shape[1] > out.shape[1]:  # the header under-counted its frames
                out = _grown(out, pos, pos + block.shape[1] + da.BLOCK_FRAMES)
            da.write(out, pos, np.ascontiguousarray(block, dtype=np.float32))
            pos += block.shape[1]
            if last:
                return out[:, :pos]


def _grown(audio: np.ndarray, used: int, n: int) -> np.ndarray:
    """A (2, n) buffer holding the first ``used`` frames of ``audio``."""
    out = da.buffer(2, n)
    for a, b in da.chunks(used):
        da.write(out, a, da.read(audio, a, b))
    return out


def project_frames(project: Project, sample_rate: int) -> int | None:
    """Frames of the project timeline (the video's duration), or None without a video."""
    if project.video is None or project.duration_s <= 0:
        return None
    return int(round(project.duration_s * sample_rate))


# ----------------------------------------------------------------------------- sources


def _renderer_for(track: Track) -> TrackRenderer | None:
    with _registry_lock:
        if track.engine and track.engine in _renderers:
            return _renderers[track.engine]
        return _renderers.get(track.kind.value)


def render_track_source(track: Track, project: Project, sample_rate: int, n: int | None,
                        *, soundfont=None, job: Job | None = None) -> np.ndarray:
    """The dry stereo source of one track (before room, gain and pan), ``n`` frames long
    (or as long as its content when ``n`` is None)."""
    job = Job.quiet(job)
    parts: list[np.ndarray] = []
    if track.audio_path:
        audio = load_audio(project.resolve(track.audio_path), sample_rate)
        offset = int(round(track.offset_s * sample_rate))
        parts.append(_fit(audio, n if n is not None else max(0, audio.shape[1] + offset), offset))
    elif track.kind is TrackKind.AUDIO:
        raise StudioError(f"audio track '{track.name}' has no audio file; import one or delete the track")
    if _plays_notes(track):
        from studio import synth

        parts.append(synth.render_notes(track.notes, sample_rate, program=track.program,
                                        drums=track.is_drums, n_samples=n, soundfont=soundfont,
                                        bank=track.bank, job=job))
    if not parts and track.kind in (TrackKind.FOLEY, TrackKind.SOUNDTRACK):
        fn = _renderer_for(track)
        if fn is None:
            engine = track.engine or track.kind.value
            raise StudioError(
                f"track '{track.name}' needs the '{engine}' engine to render, and no renderer is "
                "registered for it; install/enable that engine or render the track to audio first"
            )
        audio = np.asanyarray(fn(track, project, sample_rate, job), dtype=np.float32)
        parts.append(_fit(audio, n if n is not None else audio.shape[-1]))
    if not parts:
        return np.zeros((2, n or 0), np.float32)
    length = n if n is not None else max(p.shape[1] for p in parts)
    parts = [_fit(p, length) for p in parts]
    if len(parts) == 1:
        return parts[0]
    out = da.buffer(2, length)  # the parts summed a block at a time, in order
    for a, b in da.chunks(length):
        block = da.read(parts[0], a, b)
        for p in parts[1:]:
            block = block + da.read(p, a, b)
        da.write(out, a, block)
    return out


# ----------------------------------------------------------------------------- limiter


def limit(mix: np.ndarray, sample_rate: int, *, ceiling_dbfs: float = -1.0, lookahead_ms: float = 5.0,
          release_db_per_s: float = 40.0) -> tuple[np.ndarray, float]:
    """Look-ahead sample-peak limiter (see :func:`studio.mastering.peak_limit`). Returns (limited
    mix, largest gain reduction dB). The mastering stage uses its true-peak variant."""
    from studio.mastering import peak_limit

    return peak_limit(mix, sample_rate, ceiling_dbfs=ceiling_dbfs, lookahead_ms=lookahead_ms,
                      release_db_per_s=release_db_per_s)


# ----------------------------------------------------------------------------- project


def render_project(
    project: Project,
    *,
    sample_rate: int | None = None,
    time_range: tuple[float, float] | None = None,
    loudness_lufs: float | str | None = -14.0,
    limiter: bool | None = None,
    limiter_ceiling_dbfs: float = -1.0,
    mastering=None,
    soundfont=None,
    threads: int = 1,
    cache: bool = False,
    job: Job | None = None,
    then_writes: tuple[str | Path, int] | None = None,
    on_stems: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> RenderResult:
    """Render the audible tracks (mute/solo honoured) into stems and a mix; see the module doc.

    ``loudness_lufs``: the mix's integrated loudness target with the whole mastering stage (gain
    staging, stem safety limiters, reverb bus, true-peak limiter at ``limiter_ceiling_dbfs`` dBTP),
    or None / ``"off"`` for the plain mix of earlier versions. ``limiter`` matters only then
    (True: the true-peak limiter alone); with a target the limiter always runs. ``mastering``
    (a :class:`studio.mastering.Mastering`) overrides both for finer control.
    ``cache=True``: an unchanged project rendered with the same options earlier in this process
    is not rendered again (see "Render cache" in the module doc); its arrays are then read-only.
    ``then_writes=(folder, bytes)``: what the caller writes after the render (an export's files);
    a render whose disk arrays and those files do not fit the free space is refused before it
    starts (``_check_render_space``).
    ``on_stems(stems)``: called with the stems (track id -> array, cut to the range; the arrays
    ``RenderResult.stems`` will hold) as soon as they are final, before the mix is mastered, so
    a caller can start reading them (an export writes the stem files meanwhile); on a cache hit
    at once.
    """
    options = dict(sample_rate=sample_rate, time_range=time_range, loudness_lufs=loudness_lufs, limiter=limiter,
                   limiter_ceiling_dbfs=limiter_ceiling_dbfs, mastering=mastering, soundfont=soundfont, threads=threads)
    result = (_cached_render(project, job, then_writes, on_stems, **options) if cache
              else _render_project(project, job=job, then_writes=then_writes, on_stems=on_stems, **options))
    return _with_master_fader(result, project.master_fader_db)


def _with_master_fader(result: RenderResult, fader_db: float) -> RenderResult:
    """``result`` with the master fader applied to its mix (module doc: Master fader); a linear
    gain, so loudness and true peak move by exactly ``fader_db`` and need no new measurement."""

    fader_db = float(fader_db)
    if fader_db == 0.0:
        return result
    from studio import mastering_blocks as mb

    mix = mb.scaled_copy(result.mix, 10.0 ** (fader_db / 20.0), _like(result.mix))
    peak = _peak_db(mix)
    return dataclasses.replace(
        result, mix=mix, peak_dbfs=peak, clipped=bool(peak > 0.0), master_fader_db=fader_db,
        peak_before_limiter_dbfs=result.peak_before_limiter_dbfs + fader_db,
        loudness_lufs=result.loudness_lufs + fader_db, true_peak_dbtp=result.true_peak_dbtp + fader_db)


def _render_project(project: Project, *, sample_rate: int | None, time_range: tuple[float, float] | None,
                    loudness_lufs: float | str | None, limiter: bool | None, limiter_ceiling_dbfs: float, mastering,
                    soundfont, threads: int, job: Job | None,
                    then_writes: tuple[str | Path, int] | None = None, on_stems=None) -> RenderResult:
    """``render_project`` itself, without the cache."""
    import time

    from studio import mastering_blocks as mb

    job = Job.quiet(job)
    sr = int(sample_rate or project.sample_rate)
    if sr not in (22050, 32000, 44100, 48000, 88200, 96000, 192000):
        raise StudioError(f"sample rate {sr} Hz is not supported; use 44100, 48000 or 96000")
    m = mastering if mastering is not None else _mastering_for(loudness_lufs, limiter, limiter_ceiling_dbfs)
    t0 = time.perf_counter()
    from studio import adapters

    adapters.register_all()  # renderers/spatializer of the engines in this build
    tracks = project.audible_tracks()
    _check_renderable(tracks)  # fail before any work for tracks that cannot render
    n = project_frames(project, sr)
    _check_render_space(n, len(tracks), then_writes)
    job.report(0.0, "rendering tracks")
    rendered, stage_gains, overs = _render_stems(tracks, project, sr, n, m, soundfont, threads, job)
    if n is None:
        n = max((a.shape[1] for a in rendered), default=0)
        rendered = [_fit_disk(a, n) for a in rendered]
    t_tracks = time.perf_counter() - t0
    a, b = _range_frames(time_range, n, sr)
    # the mix, mastered over the whole timeline, then cut to the range
    t1 = time.perf_counter()
    mix, ret = _mix(tracks, rendered, project, sr, n, m, job)
    cut = (a, b) != (0, n)
    if cut:
        rendered = [_cut(x, a, b) for x in rendered]
    if on_stems is not None:  # final now: the mix pass lowered the ducked ones
        on_stems({t.id: x for t, x in zip(tracks, rendered)})
    pre = _peak_db(mix[:, a:b])
    rep = None
    if m.loudness_lufs is not None or m.ceiling_dbtp is not None:
        job.report(0.93, "mastering the mix")
        mix, rep = mb.master_mix(mix, sr, m)
    gain_db, reduction = (rep.gain_db, rep.limiter_max_reduction_db) if rep is not None else (0.0, 0.0)
    t_master = time.perf_counter() - t1
    if cut:
        mix, ret = _cut(mix, a, b), _cut(ret, a, b)
    peak = _peak_db(mix)
    loudness, true_peak, before_lufs = _loudness(mix, sr, rep, whole=(a, b) == (0, n))
    job.report(1.0, "render done")
    return RenderResult(
        stems={t.id: x for t, x in zip(tracks, rendered)},
        names={t.id: t.name for t in tracks},
        mix=mix,
        sample_rate=sr,
        peak_dbfs=peak,
        clipped=bool(peak > 0.0),
        peak_before_limiter_dbfs=pre + gain_db,
        limiter_max_reduction_db=reduction,
        start_s=a / sr,
        timings_s={"tracks": t_tracks, "mastering": t_master, "total": time.perf_counter() - t0},
        loudness_lufs=loudness,
        true_peak_dbtp=true_peak,
        loudness_before_lufs=before_lufs,
        master_gain_db=gain_db,
        stage_gains_db=stage_gains,
        stem_overs={k: _cut_blocks(v, a, b, sr) for k, v in overs.items()},
        reverb=ret,
        mastering=m,
    )


_render_cache: dict[str, RenderResult] = {}  # fingerprint -> result; at most _RENDER_CACHE_SIZE
_RENDER_CACHE_SIZE = 1
_render_cache_lock = threading.Lock()


def clear_render_cache() -> None:
    """Forget the cached render (``render_project(cache=True)``) and free its memory."""
    with _render_cache_lock:
        _render_cache.clear()


def _cached_render(project: Project, job: Job | None, then_writes=None, on_stems=None, **options) -> RenderResult:
    """``render_project(project, **options)`` through the one-entry render cache."""
    import time

    t0 = time.perf_counter()
    from studio import adapters

    adapters.register_all()  # the registry is part of the key
    key = _fingerprint(project, options)
    with _render_cache_lock:
        hit = _render_cache.get(key) if key is not None else None
    if hit is not None:
        Job.quiet(job).report(1.0, "render done (unchanged since the last render)")
        if on_stems is not None:
            on_stems(dict(hit.stems))
        return dataclasses.replace(hit, cached=True, timings_s={"total": time.perf_counter() - t0})
    result = _render_project(project, job=job, then_writes=then_writes, on_stems=on_stems, **options)
    for a in (*result.stems.values(), result.mix, result.reverb):
        if a is not None:
            a.flags.writeable = False
    if key is not None:
        with _render_cache_lock:
            _render_cache[key] = result
            while len(_render_cache) > _RENDER_CACHE_SIZE:
                _render_cache.pop(next(iter(_render_cache)))
    return result


def _file_id(path) -> list:
    p = Path(path).resolve()
    st = p.stat()
    return [str(p), st.st_size, st.st_mtime_ns, st.st_ino]


def _fingerprint(project: Project, options: dict) -> str | None:
    """The render cache's key for ``project`` rendered with ``options`` (module doc: Render
    cache), or None when it cannot be made (a file missing: the render reports it)."""
    import hashlib
    import json
    import os

    from studio import banks, synth

    try:
        files = [_file_id(project.resolve(t.audio_path)) for t in project.audible_tracks() if t.audio_path]
        fonts = [_file_id(f) for f in (options.get("soundfont"), os.environ.get(synth.SOUNDFONT_ENV)) if f]
        fonts += [str(b.path) for b in banks.discover()]  # what the automatic bank choice picks from
        fonts += [c for c in synth.SOUNDFONT_CANDIDATES if Path(c).is_file()]
        mastering = options.get("mastering") or _mastering_for(
            options.get("loudness_lufs"), options.get("limiter"), options.get("limiter_ceiling_dbfs", -1.0))
    except (OSError, StudioError):
        return None
    with _registry_lock:
        engines = sorted((k, id(fn)) for k, fn in _renderers.items())
        spatial = id(_spatializer) if _spatializer is not None else None
    opts = {k: v for k, v in options.items() if k not in ("loudness_lufs", "limiter", "limiter_ceiling_dbfs")}
    opts["sample_rate"] = int(options.get("sample_rate") or project.sample_rate)
    digest = hashlib.sha256()

    def feed(value) -> None:
        digest.update(json.dumps(value, sort_keys=True, default=str).encode())
        digest.update(b"\x1e")

    # the project piece by piece: a film's whole to_dict() (its Foley hits with 67 values each as
    # Python objects, then one JSON string of it all) took +200 MB at two hours
    head = dataclasses.replace(project, tracks=[]).to_dict()
    head.pop("master_fader_db", None)  # applied after the cache (_with_master_fader)
    feed([head, opts, repr(mastering), files, fonts, engines, spatial])
    for t in project.tracks:
        feed([dataclasses.replace(t, notes=[], events=[], spatial=[]).to_dict(),
              len(t.notes), len(t.events), len(t.spatial)])
        for a in range(0, len(t.notes), _FINGERPRINT_ROWS):
            feed([[n.start_s, n.dur_s, n.pitch, n.velocity, n.channel] for n in t.notes[a:a + _FINGERPRINT_ROWS]])
        for items, value in ((t.events, event_value), (t.spatial, dataclasses.asdict)):
            for a in range(0, len(items), _FINGERPRINT_ROWS):
                feed([value(x) for x in items[a:a + _FINGERPRINT_ROWS]])
    return digest.hexdigest()


_FINGERPRINT_ROWS = 1024  # notes, hits or keyframes hashed at a time


def _loudness(mix: np.ndarray, sr: int, rep, *, whole: bool) -> tuple[float, float, float]:
    """(integrated LUFS, true peak dBTP, LUFS before mastering) of the mix as returned: the
    mastering report's own figures when it measured this very mix (``whole``: no range cut)."""
    from studio import mastering_blocks as mb

    if rep is not None and whole:
        return rep.loudness_lufs, rep.true_peak_dbtp, rep.loudness_before_lufs
    loudness, true_peak = mb.integrated_lufs(mix, sr), mb.true_peak_dbtp(mix)
    return loudness, true_peak, (rep.loudness_before_lufs if rep is not None else loudness)


def _mastering_for(loudness_lufs, limiter, limiter_ceiling_dbfs: float):
    """The :class:`studio.mastering.Mastering` that ``render_project``'s plain arguments ask for."""

    from studio import mastering as mst

    try:
        mastering = mst.settings_for(mst.parse_loudness(loudness_lufs), limiter)
    except ValueError as exc:
        raise StudioError(str(exc)) from None
    if mastering.ceiling_dbtp is not None:
        mastering = dataclasses.replace(mastering, ceiling_dbtp=float(limiter_ceiling_dbfs))
    return mastering


def _check_render_space(n: int | None, tracks: int, then_writes: tuple[str | Path, int] | None) -> None:
    """Refuse, before any work, a render whose disk arrays (at the least every stem and the mix,
    float32 stereo, all held while the files are written) and the caller's files after it
    (``then_writes``, counted where they go to the same disk) do not fit that disk's free space:
    a two-hour film's render takes minutes and ~25 GB there, and a disk found full at its end
    lost all of that. A render short enough to stay in memory, or of unknown length, is not checked."""
    import os
    import shutil

    if n is None or n <= da.IN_MEMORY_FRAMES:
        return
    folder = da.render_dir()
    arrays = (tracks + 1) * 2 * n * 4
    files = 0
    if then_writes is not None and then_writes[1] > 0:
        where = Path(then_writes[0])
        while not where.exists() and where != where.parent:
            where = where.parent  # the output folder may not exist yet
        try:
            files = int(then_writes[1]) if os.stat(where).st_dev == os.stat(folder).st_dev else 0
        except OSError:
            files = 0
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # no such folder: disk_array names the problem
    if free < arrays + files:
        def size(b: float) -> str:
            return f"{b / 1e9:.1f} GB" if b >= 1e9 else f"{b / 1e6:.1f} MB"

        after = f" and the export's files {size(files)} after it" if files else ""
        raise StudioError(
            f"not enough free space in {folder}: this render keeps about {size(arrays)} of audio on disk "
            f"({tracks} stems and the mix){after}, and {size(free)} are free; free some space or point "
            f"${da.RENDER_DIR_ENV} at another disk")


def _check_renderable(tracks: list[Track]) -> None:
    """Raise before any work for a track that no registered engine can render or place."""
    for t in tracks:
        if t.room and _spatializer is None:
            raise StudioError(f"track '{t.name}' is placed in room '{t.room}' but no spatial engine is "
                              "registered; enable the spatial engine or clear the track's room")
        if (t.kind in (TrackKind.FOLEY, TrackKind.SOUNDTRACK) and not t.audio_path and not t.notes
                and _renderer_for(t) is None):
            engine = t.engine or t.kind.value
            raise StudioError(f"track '{t.name}' needs the '{engine}' engine to render, and no renderer "
                              "is registered for it; install/enable that engine or render it to audio first")


def _finish_stem(audio: np.ndarray, track: Track, project: Project, sr: int, n: int | None,
                 m) -> tuple[np.ndarray, float, np.ndarray]:
    """One post-fader stem from the track's dry source: room, role gain (dB, returned), gain and
    pan, stem limiter; and the blocks where it reached full scale before the limiter
    (``RenderResult.stem_overs``)."""
    from studio import mastering as mst
    from studio import mastering_blocks as mb

    own = False  # whether ``audio`` is this render's alone to overwrite
    if track.room:
        source = audio
        audio = np.asanyarray(_spatializer(audio, track, project, sr), dtype=np.float32)
        # the spatializer's result is a new array (the engine's: ``render_path`` into a fresh
        # disk array); one that may share the source's memory (a pass-through) is not overwritten
        own = _on_disk(audio) and not np.may_share_memory(audio, source)
        del source
        length = n if n is not None else audio.shape[1]
        # the tail past the end is left out by a view; only a short result is padded (a copy)
        audio = audio[:, :length] if audio.shape[1] >= length else _fit(audio, length)
    stage = 0.0
    if m.gain_staging and mst.is_staged(track):  # measured on the whole track, before any range cut
        stage = mb.stage_gain_db(audio, sr, mst.track_role(track), ceiling_dbtp=m.stem_ceiling_dbtp)
    # in place where the array is ours: a film's stereo stem is ~2.8 GB written to disk and read
    # back per array, and this saves one per track
    stem, overs = _post_fader(audio, track.mixer.gain_db + stage, track.mixer.pan, sr,
                              out=audio if own else None)
    del audio  # the track's whole source was in memory; from here on it is on disk
    if m.stem_ceiling_dbtp is not None:
        stem, _ = mb.true_peak_limit(stem, _like(stem), sr, ceiling_dbtp=m.stem_ceiling_dbtp)
    return stem, stage, overs


def _on_disk(audio: np.ndarray) -> bool:
    return getattr(audio, "_mmap", None) is not None


def _post_fader(audio: np.ndarray, gain_db: float, pan: float, sr: int,
                out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``apply_mixer`` block by block into ``out`` (``audio`` itself, or a new disk array), and
    ``meters.block_overs`` of the result (blocks of whole meter blocks, so both are what the
    whole-array functions give)."""
    from studio.meters import block_frames, block_overs

    out = da.disk_array(*audio.shape) if out is None else out
    unit = block_frames(sr)
    overs = [np.zeros(0, bool)]
    for a, b in da.chunks(audio.shape[1], unit * max(1, da.BLOCK_FRAMES // unit)):
        block = apply_mixer(da.read(audio, a, b), gain_db, pan)
        overs.append(block_overs(block, sr))
        da.write(out, a, block)
    return out, np.concatenate(overs)


def _render_stems(tracks: list[Track], project: Project, sr: int, n: int | None, m, soundfont, threads: int,
                  job: Job) -> tuple[list[np.ndarray], dict[str, float], dict[str, np.ndarray]]:
    """Every track's stem, in track order, the role gain each got and its overs (by track id)."""
    done = [0]
    lock = threading.Lock()
    stage_gains: dict[str, float] = {}
    overs: dict[str, np.ndarray] = {}

    def finish(track: Track, audio: np.ndarray) -> np.ndarray:
        stem, stage, over = _finish_stem(audio, track, project, sr, n, m)
        with lock:
            stage_gains[track.id], overs[track.id] = stage, over
            done[0] += 1
            job.report(0.9 * done[0] / max(1, len(tracks)), f"rendered {track.name}")
        return stem

    def source(track: Track) -> np.ndarray:
        job.check_cancelled()
        return render_track_source(track, project, sr, n, soundfont=soundfont)

    # Whole stems in parallel threads (``threads > 1``): with several FluidSynth synths rendering
    # at once, drum renders at 96 kHz were seen to differ between runs (FluidSynth shares state
    # between synths), and it was no faster (2026-12-03, `studio bench render`: 1.14-1.18 s one
    # after another, 1.18-1.29 s with threads=2); so export and generate keep the default below.
    if threads > 1 and len(tracks) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(tracks)), thread_name_prefix="render") as ex:
            rendered = list(ex.map(lambda t: finish(t, source(t)), tracks))
        return rendered, stage_gains, overs
    # the tracks the synth does not play first (Foley's hits, audio files): their sources are
    # quick to make and their stems often the slowest to finish (Foley's hits move about the
    # room), so those run beside the synth's parts; the synth's own order, and so its samples,
    # stay as they were
    order = sorted(range(len(tracks)), key=lambda i: (_plays_notes(tracks[i]), i))
    stems = dict(zip(order, _pipelined([tracks[i] for i in order], source, finish)))
    return [stems[i] for i in range(len(tracks))], stage_gains, overs


def _plays_notes(track: Track) -> bool:
    """Whether the synth renders (part of) the track's source (``render_track_source``)."""
    return track.kind in (TrackKind.MIDI, TrackKind.SOUNDTRACK) and bool(track.notes)


SOURCES_AHEAD = 1  # sources made ahead of the stems being finished (each one track's source)
FINISHERS = 2  # stems finished at once (room, gain staging, fader, limiter: numpy / scipy work)


def _pipelined(tracks: list[Track], source, finish, finishers: int = FINISHERS):
    """``finish(t, source(t))`` for each track, yielded in track order. The sources are made one
    after another on a thread of their own (FluidSynth's synths must not play in two threads at
    once, see above), and each is finished on one of ``finishers`` threads as soon as it is
    made: the synth and the engines' renderers run beside the room convolutions, gain staging
    and limiters, all of which release the GIL. The same samples as one thread (no stage's work
    changes); at most ``SOURCES_AHEAD + finishers`` sources are held at once."""
    if len(tracks) < 2:
        for t in tracks:
            yield finish(t, source(t))
        return
    import queue

    ready: queue.Queue = queue.Queue()  # futures of the finished stems, in track order
    slots = threading.Semaphore(SOURCES_AHEAD + max(1, finishers))
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, finishers), thread_name_prefix="render-stems")

    def done(fut) -> None:
        if fut.cancelled() or fut.exception() is not None:
            stop.set()  # no more sources for stems that will never be
        slots.release()  # that stem's source is no longer needed

    def produce() -> None:
        for t in tracks:
            while not slots.acquire(timeout=0.1):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            try:
                fut = pool.submit(finish, t, source(t))
            except BaseException as exc:  # handed to the calling thread
                ready.put(exc)
                return
            fut.add_done_callback(done)
            ready.put(fut)

    worker = threading.Thread(target=produce, name="render-sources", daemon=True)
    worker.start()
    try:
        for _ in tracks:
            item = ready.get()
            if isinstance(item, BaseException):
                raise item
            yield item.result()
    finally:
        stop.set()
        worker.join()
        pool.shutdown(wait=True, cancel_futures=True)


def _duck_curves(tracks: list[Track], rendered: list[np.ndarray], sr: int) -> list[np.ndarray | None]:
    """Per track, the curve (``mastering.duck_curve``) that lowers its stem under the audible
    generated music (``studio.mastering.is_music``, post-fader) when it is set to duck
    (``Mixer.duck_db``), else None: the music's energy read a block at a time (whole 5 ms hops),
    over the whole timeline."""
    from studio import mastering as mst

    per_track: list[np.ndarray | None] = [None] * len(tracks)
    music = [x for t, x in zip(tracks, rendered) if mst.is_music(t)]
    if not music or not any(t.mixer.duck_db for t in tracks):
        return per_track
    n = music[0].shape[1]
    if n == 0:
        return per_track
    hop = mst.duck_hop(sr)
    size = hop * max(1, da.BLOCK_FRAMES // hop)
    energy = np.concatenate([mst.duck_energy(np.sum([da.read(x, a, b) for x in music], axis=0, dtype=np.float32), sr)
                             for a, b in da.chunks(n, size)])
    curves: dict[float, np.ndarray] = {}
    for i, t in enumerate(tracks):
        depth = t.mixer.duck_db
        if depth and depth < 0.0:
            if depth not in curves:
                curves[depth] = mst.duck_curve(energy, sr, depth)
            per_track[i] = curves[depth]
    return per_track


def _range_frames(time_range: tuple[float, float] | None, n: int, sr: int) -> tuple[int, int]:
    """The frames ``a:b`` of an ``n``-frame timeline that ``time_range`` (seconds) asks for."""
    if time_range is None:
        return 0, n
    start_s, end_s = float(time_range[0]), float(time_range[1])
    if not 0 <= start_s < end_s:
        raise StudioError(f"time range {start_s}..{end_s} s is empty or negative")
    a = min(n, int(round(start_s * sr)))
    b = min(n, int(round(end_s * sr)))
    if b <= a:
        raise StudioError(f"time range {start_s}..{end_s} s lies beyond the project's end ({n / sr:.3f} s)")
    return a, b


def _mix(tracks: list[Track], rendered: list[np.ndarray], project: Project, sr: int, n: int, m,
         job: Job) -> tuple[np.ndarray, np.ndarray | None]:
    """The stems summed block by block into a disk array, with the reverb bus's return when
    ``m.reverb`` (returned too, or None when no track sends anything). One pass over the stems
    does it all: the stems of tracks that duck under music are lowered on disk ("duck under
    music", over the whole timeline: ``_duck_curves``), the reverb sends summed into the bus and
    every stem into the mix; the return is added to the mix after. A film's stems are more than
    the page cache holds (eight stems of two hours: 22 GB), so each pass over them would read
    them from the disk again."""
    from studio import mastering as mst

    curves = _duck_curves(tracks, rendered, sr)
    sends = [np.float32(10.0 ** (level / 20.0)) if m.reverb and (level := mst.send_db(t)) is not None else None
             for t in tracks]
    bus = da.disk_array(2, n) if any(g is not None for g in sends) else None
    mix = da.disk_array(2, n)
    fed = False
    for a, b in da.chunks(n):
        block = np.zeros((2, b - a), np.float32)
        send = np.zeros((2, b - a), np.float32) if bus is not None else None
        for x, curve, gain in zip(rendered, curves, sends):
            part = da.read(x, a, b)
            if curve is not None:
                part = part * mst.duck_gain_of(curve, sr, a, b)
                da.write(x, a, part)
            block += part
            if gain is not None:
                fed = fed or bool(np.any(part))
                send += part * gain  # a silent stem adds zeros: as if it were left out
        if bus is not None:
            da.write(bus, a, send)
        da.write(mix, a, block)
    if not fed:
        return mix, None
    job.report(0.91, "reverb bus")
    ret = mst.reverb_return_blocks(bus, mst.project_room(project), sr, da.disk_array(2, n))
    del bus
    for a, b in da.chunks(n):
        da.write(mix, a, da.read(mix, a, b) + da.read(ret, a, b))
    return mix, ret


def _cut_blocks(flags: np.ndarray, a: int, b: int, sr: int) -> np.ndarray:
    """Per-block flags (studio.meters.BLOCK_S) of frames ``a:b`` (whole blocks around them)."""
    from studio.meters import block_frames

    size = block_frames(sr)
    return flags[a // size:-(-b // size)]


def _cut(audio: np.ndarray | None, a: int, b: int) -> np.ndarray | None:
    """Frames ``a:b`` in memory (a range is what app playback asks for; the disk's pages go back)."""
    return None if audio is None else da.read(audio, a, b)


def _like(audio: np.ndarray) -> np.ndarray:
    return da.disk_array(*audio.shape)


def _fit_disk(audio: np.ndarray, n: int) -> np.ndarray:
    """A stem on disk cut or padded with silence to ``n`` frames."""
    if audio.shape[1] == n:
        return audio
    out = da.disk_array(2, n)
    for a, b in da.chunks(min(n, audio.shape[1])):
        da.write(out, a, da.read(audio, a, b))
    return out


def _peak_db(audio: np.ndarray) -> float:
    """``peak_dbfs`` block by block (for audio on disk)."""
    from studio import mastering_blocks as mb

    peak = mb.sample_peak(audio) if audio.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else float("-inf")
