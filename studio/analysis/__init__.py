"""Visual analysis: frames -> feature timeline (motion, directogram, visual onsets, tempo, beats,
downbeats, impacts, scene cuts, 1 Hz colour/motion descriptors), cached by content hash.

    from studio.analysis import analyze, AnalysisParams
    tl = analyze("clip.mp4")            # AnalysisTimeline; tl.summary() is JSON-able
"""
from __future__ import annotations

import dataclasses
import os
import time

from studio.analysis import cache as _cache
from studio.analysis.timeline import AnalysisParams, AnalysisTimeline, Impact
from studio.errors import MediaError
from studio.jobs import Job

__all__ = ["AnalysisParams", "AnalysisTimeline", "Impact", "analyze"]


def analyze(path: str | os.PathLike, params: AnalysisParams = AnalysisParams(), *, job: Job | None = None,
            cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
            contact_patches: bool = False) -> AnalysisTimeline:
    """Analyse the video at ``path``; served from the cache when the same file and parameters
    were analysed before. Raises MediaError for unreadable files or files without video,
    JobCancelled when ``job`` is cancelled. ``contact_patches``: when the video is decoded
    (not served from the cache), also cut the Foley engine's contact patches on the way
    (``timeline.extra["contact_patches"]``, see ``studio.analysis.contact_patches``)."""
    from studio import media
    from studio.analysis.pipeline import compute

    job = Job.quiet(job)
    started = time.perf_counter()
    info = media.probe(path)
    if not info.has_video:
        raise MediaError(f"{path} has no video stream; choose a video file to analyse")
    content_hash = media.file_hash(path)
    entry = _cache.entry_path(cache_dir, content_hash, params)
    if use_cache:
        hit = _cache.load(entry, content_hash, params)
        if hit is not None:
            hit = dataclasses.replace(hit, source=str(path), extra={})
            hit.extra.update(cached=True, wall_s=time.perf_counter() - started)
            job.report(1.0, "analysis loaded from cache")
            return hit
    timeline = compute(path, info, content_hash, params, job, contact_patches)
    if use_cache:
        _cache.store(entry, timeline)
    timeline.extra.update(cached=False, wall_s=time.perf_counter() - started)
    job.report(1.0, "analysis done")
    return timeline
