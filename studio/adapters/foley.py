"""Foley adapter: impacts of the analysis timeline -> a Foley track of editable hits, and the
renderer that voices Foley tracks sample-accurately.

generate
    One ``FoleyEvent`` per impact candidate, at the impact's (sub-frame) time. Strength is the
    impact's strength, which grows with the velocity change at the reversal (v_in + v_out =
    (1 + e) v_in for restitution e, so it follows the speed before the impact). The material is
    ``settings.options["material"]`` when given, else proposed per hit by the visual classifier
    from the impact region: a square of 25 % of the frame height around the moving object's
    centre at the impact frame (the object and what it touches). Physics parameters are sampled
    for all hits in one batched DDIM call, conditioned on material, size, strength and the
    region's descriptor; each hit gets its own seed (round-robin variation) and keeps its
    vector (``FoleyEvent.params``). Memory does not grow with the film beyond the small
    per-hit results: each impact frame is dropped once its patch is cut
    (``media.iter_thumbnails``), descriptors, classifier and sampler run in fixed-size batches.

render
    Every event is synthesised on its own (its params, its edits, noise seed ``event.seed``) and
    added at sample ``round(time_s * sr)``, panned by its x position; so editing one event
    changes that event's audio only. Events whose material/size/strength/seed changed since
    their params were made (``params_for``) are sampled afresh without the picture. A long
    track is rendered into a ``diskaudio`` array, its finished frames handed back as it goes.
"""
from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from concurrent.futures import CancelledError, Future
from typing import Iterator

import numpy as np

from engines.errors import ModelError
from studio.analysis.contact_patches import FRAME_HEIGHT, cut_patch
from studio.analysis.timeline import AnalysisParams
from studio.jobs import Job
from studio.project import FoleyEvent, Project, Track, TrackKind, foley_signature

# engine metadata (studio.adapters: read from this source without importing it)
ORDER = 20
LABEL = "Foley"
HELP = "impact sounds for collisions"
TOOLTIP = "impact sounds on the collisions seen on screen"

# the analysis pass cuts the impact regions when it decodes (``studio.generate.run`` asks for them)
USES_CONTACT_PATCHES = True
NO_IMPACTS = "no impacts found; add hits by double-clicking the Foley lane"
PAN_WIDTH = 0.6  # event x = 0 / 1 pans to -0.6 / +0.6
DEFAULT_SIZE = 0.5
ANALYSIS_MAX_SIDE = AnalysisParams().max_side  # the default analysis's frames (px, long side)
DESCRIPTOR_BATCH = 256  # impact patches per descriptor call (impact_descriptors)
SAMPLE_BATCH = 256  # hits per classifier / sampler call (_sample_vectors): 3,000 hits +18 MB peak at 1024, +4 at 256, same CPU
_CACHE_MAX = 1024
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()


def _engine():
    from engines.foley import infer

    return infer


def iter_impact_patches(video_path, impacts, frame_height: int = FRAME_HEIGHT,
                        max_side: int = ANALYSIS_MAX_SIDE) -> Iterator[tuple[int, np.ndarray]]:
    """(index into ``impacts``, its impact region: an RGB uint8 square cut from the frame at its
    time, ``contact_patches.cut_patch``), in time order. Each frame is dropped once its patch is
    cut, so memory holds patches (about 4 KB each), not frames (110 KB each at 144 px: 2 GB for
    the impacts of a 2-hour film). Decoded as the analysis decodes its frames of long side
    ``max_side`` (``iter_thumbnails(decode_like=...)``): the patches its pass cuts, bit for bit."""
    from studio import media

    like = media.analysis_size(media.probe(video_path).video, max_side)
    for i, fr in media.iter_thumbnails(video_path, [imp.time_s for imp in impacts], height=frame_height,
                                       decode_like=like):
        yield i, cut_patch(fr.image, impacts[i])


def _all_patches(video_path, impacts, contact, max_side: int) -> Iterator[tuple[int, np.ndarray]]:
    """(index, patch) of every impact: those the analysis pass cut (``contact``, a
    ``ContactPatches`` or None), then the others from a decode of their frames."""
    missing = list(range(len(impacts)))
    if contact is not None:
        missing = []
        for i, patch in contact.patches(impacts):
            if patch is None:
                missing.append(i)
            else:
                yield i, patch
    if missing:
        for j, patch in iter_impact_patches(video_path, [impacts[i] for i in missing], max_side=max_side):
            yield missing[j], patch


def impact_patches(video_path, impacts, frame_height: int = FRAME_HEIGHT,
                   max_side: int = ANALYSIS_MAX_SIDE) -> list[np.ndarray]:
    """The impact region of each impact (in the order given; see ``iter_impact_patches``)."""
    out: list = [None] * len(impacts)
    for i, patch in iter_impact_patches(video_path, impacts, frame_height, max_side):
        out[i] = patch
    return out


def impact_descriptors(video_path, impacts, stop: threading.Event | None = None, contact=None,
                       max_side: int = ANALYSIS_MAX_SIDE) -> np.ndarray:
    """(N, DESCRIPTOR_DIM) float32 visual descriptors of the impact regions, in the order given.
    Computed DESCRIPTOR_BATCH patches at a time as they come: ``descriptors`` works row by row
    (a batch's rows equal the rows of single calls, bit for bit) but its temporaries take about
    75 KB per patch, so one call on every impact of a long film would be gigabytes. ``contact``:
    the patches the analysis pass cut (``timeline.extra["contact_patches"]``); the others are
    decoded (see ``iter_impact_patches``: ``max_side``, the analysis's). ``stop``: once set, the
    work ends and CancelledError is raised."""
    from engines.foley.visual import DESCRIPTOR_DIM, descriptors

    out = np.zeros((len(impacts), DESCRIPTOR_DIM), np.float32)
    rows: list[int] = []
    batch: list[np.ndarray] = []
    for i, patch in _all_patches(video_path, impacts, contact, max_side):
        if stop is not None and stop.is_set():
            raise CancelledError("the impact regions are no longer needed")
        rows.append(i)
        batch.append(patch)
        if len(batch) == DESCRIPTOR_BATCH:
            out[rows] = descriptors(batch)
            rows, batch = [], []
    if batch:
        out[rows] = descriptors(batch)
    return out


class _Prefetch:
    """``impact_descriptors`` running on a daemon thread (see :func:`prefetch`)."""

    def __init__(self, key: tuple, path, impacts, contact, max_side: int) -> None:
        self.key, self.stop, self.result = key, threading.Event(), Future()
        threading.Thread(target=self._run, args=(path, impacts, contact, max_side), name="foley-patches",
                         daemon=True).start()

    def _run(self, path, impacts, contact, max_side: int) -> None:
        try:
            self.result.set_result(_described(path, impacts, contact, max_side, self.stop))
        except BaseException as exc:  # handed to generate, which raises it as its own
            self.result.set_exception(exc)

    def cancel(self) -> None:
        """Not needed after all (an engine before Foley failed, the run was cancelled)."""
        self.stop.set()
        with _prefetch_lock:
            if _prefetched.get(self.key) is self:
                del _prefetched[self.key]


_prefetched: dict[tuple, _Prefetch] = {}
_prefetch_lock = threading.Lock()


def _patch_key(path, impacts) -> tuple:
    """What the impact regions depend on: the file and each impact's time and place."""
    import hashlib

    where = np.array([(i.time_s, i.x, i.y) for i in impacts], np.float64)
    return str(path), len(impacts), hashlib.sha1(where.tobytes()).hexdigest()


def prefetch(project: Project, timeline, settings) -> _Prefetch | None:
    """Start describing the impact regions on a thread as soon as the analysis is done, so it
    overlaps the engines that run before Foley; :func:`generate` takes its result.
    ``studio.generate.run`` calls this and cancels the handle when the run ends (a no-op once
    generate took it). The regions the analysis pass cut are read from its contact patches
    (``timeline.extra["contact_patches"]``, taken over here); the others, and all of them after
    an analysis from the cache, are decoded again (about 1.4 s a minute of 720p here)."""
    impacts = list(timeline.impacts)
    contact = getattr(timeline, "extra", {}).pop("contact_patches", None)
    if not impacts or project.video is None:
        return None
    path = project.resolve(project.video.path)
    key = _patch_key(path, impacts)
    with _prefetch_lock:
        handle = _prefetched.get(key)
        if handle is None:
            handle = _prefetched[key] = _Prefetch(key, path, impacts, contact, _max_side(timeline))
            contact = None
    if contact is not None:
        contact.close()
    return handle


def _max_side(timeline) -> int:
    """The long side of the frames the analysis decoded (its decoder setting follows it)."""
    params = getattr(timeline, "params", None)
    return int(getattr(params, "max_side", ANALYSIS_MAX_SIDE))


def _described(path, impacts, contact, max_side: int, stop: threading.Event | None = None) -> np.ndarray:
    try:
        return impact_descriptors(path, impacts, stop=stop, contact=contact, max_side=max_side)
    finally:
        if contact is not None:
            contact.close()


def _descriptors(path, impacts, timeline) -> np.ndarray:
    """The prefetched descriptors of these impacts when a prefetch is running, else computed now."""
    key = _patch_key(path, impacts)
    with _prefetch_lock:
        handle = _prefetched.pop(key, None)
    if handle is None:
        return _described(path, impacts, getattr(timeline, "extra", {}).pop("contact_patches", None),
                          _max_side(timeline))
    return handle.result.result()


def runs_beside(settings) -> bool:
    """It reads the analysis (its impacts, the prefetched patches) and its settings, never
    another engine's tracks: ``studio.generate`` may run it beside the others."""
    return True


def generate(project: Project, timeline, settings, job: Job | None = None) -> list[Track]:
    from engines.foley.materials import material as material_spec

    job = Job.quiet(job)
    infer = _engine()
    forced = settings.options.get("material") if settings.options else None
    if forced:
        forced = material_spec(str(forced)).name  # unknown names: EngineError with the choices
    impacts = list(timeline.impacts)
    job.report(0.05, f"{len(impacts)} impacts")
    visual = None
    if impacts and project.video is not None:
        visual = _descriptors(project.resolve(project.video.path), impacts, timeline)
    job.report(0.4, "materials")
    warnings: list[str] = []
    materials = [forced or "wood"] * len(impacts)
    if not forced and visual is not None:
        try:
            classifier = infer.classifier()  # in batches, as the sampler (_sample_vectors)
            materials = [infer.MATERIAL_NAMES[i] for a in range(0, len(visual), SAMPLE_BATCH)
                         for i in np.argmax(classifier.probabilities(visual[a:a + SAMPLE_BATCH]), 1)]
        except ModelError as exc:  # the DSP path needs no model: every hit is wood until changed
            warnings.append(f"{exc}; materials not proposed (all wood)")
    base = int(settings.seed) * 100_003
    events = [FoleyEvent(time_s=float(i.time_s), x=float(i.x), y=float(i.y),
                         strength=float(np.clip(i.strength, 0.0, 1.0)), material=m, size=DEFAULT_SIZE,
                         seed=base + k) for k, (i, m) in enumerate(zip(impacts, materials))]
    if not events:  # an empty, editable track; export writes no stem for it (studio.generate)
        warnings.append(NO_IMPACTS)
    job.report(0.6, "sampling physics")
    events = sample_events(events, visual, warnings)
    job.report(1.0, "done")
    return [Track("Foley", TrackKind.FOLEY, events=events, engine="foley",
                  settings={"seed": int(settings.seed), "material": forced or "proposed",
                            **({"warnings": warnings} if warnings else {})})]


def sample_events(events: list[FoleyEvent], visual=None, warnings: list[str] | None = None) -> list[FoleyEvent]:
    """Events with freshly sampled ``params`` (batched), valid for their current signature.

    When the diffusion model is missing or damaged, each hit's physics come from the material's
    DSP preset (seeded by the event), so Foley still works; the reason goes to ``warnings``."""
    if not events:
        return []
    try:
        vecs = _sample_vectors(events, visual)
    except ModelError as exc:
        from engines.foley.materials import preset
        from engines.foley.params import pack

        if warnings is not None:
            warnings.append(f"{exc}; hits use the DSP material presets instead")
        vecs = [pack(preset(e.material, e.size, e.strength, rng=e.seed)) for e in events]
    return [dataclasses.replace(e, params=tuple(round(float(v), 5) for v in vec), params_for=foley_signature(e))
            for e, vec in zip(events, vecs)]


def _sample_vectors(events: list[FoleyEvent], visual) -> np.ndarray:
    """The sampler's vectors, SAMPLE_BATCH hits per call: the network's working memory grows with
    the batch (about 80 MB for the 3,000 hits of a 10-minute video, so gigabytes for a long
    film); each hit's vector depends on its own row only (its seed, its condition), so the
    result is the same as one call's."""
    sampler = _engine().sampler()
    parts = []
    for a in range(0, len(events), SAMPLE_BATCH):
        chunk = events[a:a + SAMPLE_BATCH]
        parts.append(sampler.sample([e.material for e in chunk], [e.size for e in chunk],
                                    [e.strength for e in chunk], [e.seed for e in chunk],
                                    None if visual is None else visual[a:a + SAMPLE_BATCH]))
    return np.concatenate(parts)


def with_material(track: Track, material: str, *, time_range: tuple[float, float] | None = None,
                  box: tuple[float, float, float, float] | None = None) -> Track:
    """The track with ``material`` on every event inside ``time_range`` (s) and ``box``
    (x0, y0, x1, y1 in 0..1 of the frame); those events are re-sampled for it."""
    from engines.foley.materials import material as material_spec

    name = material_spec(material).name
    chosen = [i for i, e in enumerate(track.events)
              if (time_range is None or time_range[0] <= e.time_s < time_range[1])
              and (box is None or (box[0] <= e.x <= box[2] and box[1] <= e.y <= box[3]))]
    changed = sample_events([dataclasses.replace(track.events[i], material=name) for i in chosen])
    events = list(track.events)
    for i, e in zip(chosen, changed):
        events[i] = e
    return dataclasses.replace(track, events=events)


def event_params(events: list[FoleyEvent]):
    """ModalParams (before edits) of each event: its stored vector when still valid, else sampled."""
    from engines.foley.params import unpack

    return [unpack(v) for v in event_vectors(events)]


def event_vectors(events: list[FoleyEvent]) -> list[np.ndarray]:
    """The packed parameter vector (float32) of each event: its stored one when still valid,
    else sampled (the stale ones in one batch)."""
    out = [None] * len(events)
    stale = []
    for i, e in enumerate(events):
        if _valid_params(e):
            out[i] = np.asarray(e.params, np.float32)
        else:
            stale.append(i)
    if stale:
        for i, e in zip(stale, sample_events([events[i] for i in stale])):
            out[i] = np.asarray(e.params, np.float32)
    return out


def _valid_params(e: FoleyEvent) -> bool:
    """Whether the event's stored vector is still its own (made for its material, size...)."""
    return e.params is not None and e.params_for == foley_signature(e)


def edited_params(e: FoleyEvent, p):
    """The physics parameters ``p`` with the hit's own edits (pitch, ring, low cut, brightness...)."""
    from engines.foley.edits import edit

    return edit(p, pitch_st=e.pitch_st, ring=e.ring, low_cut_hz=e.low_cut_hz,
                brightness_db_per_oct=e.brightness, residual_db=e.residual_db)


def _event_key(e: FoleyEvent, sr: int):
    return (foley_signature(e), e.params if _valid_params(e) else None,
            e.pitch_st, e.ring, e.low_cut_hz, e.brightness, e.residual_db, sr)


def render_hits(events: list[FoleyEvent], sample_rate: int, n: int, job: Job | None = None) -> np.ndarray:
    """(2, n) float32: every event at its sample, each from its own params, edits and seed.

    Up to ``diskaudio.BLOCK_FRAMES`` frames (a preview, a short clip) in memory; longer, a
    ``diskaudio`` array whose pages are handed back behind the write position, so a two-hour
    film does not hold 1.4 GB: a hit's sound starts at its own sample, so every frame before
    the earliest start still to come is final. The hits are added in the events' order, as
    always (float sums in another order would differ in the last bit where hits overlap)."""
    from engines.foley.dsp import natural_duration_s, synthesize
    from engines.foley.params import unpack
    from studio import diskaudio
    from studio.render import pan_gains

    job = Job.quiet(job)
    sr = int(sample_rate)
    out = diskaudio.buffer(2, n)
    todo = []
    for i, e in enumerate(events):
        start = int(round(e.time_s * sr))
        if start < n:
            todo.append((i, e, start))
    final = _final_marks([start for _, _, start in todo], n)
    released = 0  # frames before this are handed back to the page cache (a disk array's only)
    with _cache_lock:
        cached = {i: _cache.get(_event_key(e, sr)) for i, e, _ in todo}
    # the stale hits' vectors are sampled in one batch up front; every hit's physics is unpacked
    # only as it is voiced (a ModalParams is ~1.2 kB: 45 MB for a two-hour film's 37,000 hits)
    stale = [i for i, e, _ in todo if cached[i] is None and not _valid_params(e)]
    sampled = dict(zip(stale, event_vectors([events[i] for i in stale]))) if stale else {}
    for k, (i, e, start) in enumerate(todo):
        if final[k] - released >= diskaudio.BLOCK_FRAMES:
            diskaudio.release(out, released, final[k])
            released = final[k]
        y = cached[i]
        if y is None:
            vec = sampled.pop(i, None)
            p = edited_params(e, unpack(vec if vec is not None else np.asarray(e.params, np.float32)))
            y = synthesize(p, sr, natural_duration_s(p, sr), seed=e.seed)
            with _cache_lock:
                _cache[_event_key(e, sr)] = y
                while len(_cache) > _CACHE_MAX:
                    _cache.popitem(last=False)
        m = min(y.size, n - start)
        lo = max(0, -start)
        if m > lo:
            gl, gr = pan_gains(float(np.clip((e.x - 0.5) * 2 * PAN_WIDTH, -1, 1)))
            seg = y[lo:m]
            out[0, start + lo:start + m] += np.float32(gl) * seg
            out[1, start + lo:start + m] += np.float32(gr) * seg
        if k % 64 == 0:
            job.report(k / max(1, len(todo)))
    diskaudio.release(out, released, n)
    job.report(1.0)
    return out


def _final_marks(starts: list[int], n: int) -> list[int]:
    """For each k, the earliest of ``starts[k:]`` (``n`` past the end): the frames before it are
    final once the events before k are added. The suffix minimum, so unsorted events (edited
    tracks) are safe too."""
    marks = [n] * len(starts)
    low = n
    for k in range(len(starts) - 1, -1, -1):
        low = min(low, starts[k])
        marks[k] = low
    return marks


def render_track(track: Track, project: Project, sample_rate: int, job: Job | None = None) -> np.ndarray:
    from studio.errors import StudioError
    from studio.render import project_frames

    if track.engine not in (None, "", "foley"):
        # registered under "foley", which is also the FOLEY kind's fallback: tracks made by
        # another Foley engine must not be voiced by this one
        raise StudioError(f"track '{track.name}' needs the '{track.engine}' engine to render, and no "
                          "renderer is registered for it; install/enable that engine or render the "
                          "track to audio first")
    n = project_frames(project, sample_rate)
    if n is None:  # no video: until the last hit has rung out (MAX_TAIL_S at most per hit)
        from engines.foley.dsp import MAX_TAIL_S

        n = int(round((max((e.time_s for e in track.events), default=0.0) + MAX_TAIL_S) * sample_rate))
    return render_hits(list(track.events), sample_rate, n, job)


def register() -> None:
    from studio.render import register_track_renderer

    register_track_renderer("foley", render_track)
