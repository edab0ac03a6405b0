"""On-disk cache of analysis timelines, keyed by the video's content hash and the parameters.

Location: ``$STUDIO_CACHE_DIR/analysis`` when the variable is set, else
``~/.cache/video-sound-studio/analysis``. A damaged entry is ignored (and replaced by the next
save); a cache that cannot be written never fails an analysis.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from studio.analysis.timeline import AnalysisParams, AnalysisTimeline
from studio.errors import StudioError

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    from studio.diskaudio import cache_root

    return cache_root() / "analysis"


def entry_path(cache_dir: str | os.PathLike | None, content_hash: str, params: AnalysisParams) -> Path:
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / f"{content_hash[:32]}-{params.key()}.npz"


def load(path: Path, content_hash: str, params: AnalysisParams) -> AnalysisTimeline | None:
    """The cached timeline, or None when absent, unreadable or for other inputs."""
    if not path.is_file():
        return None
    try:
        tl = AnalysisTimeline.load(path)
    except StudioError as exc:
        log.warning("ignoring damaged analysis cache entry %s: %s", path, exc)
        return None
    if tl.content_hash != content_hash or tl.params != params:
        return None
    return tl


def store(path: Path, timeline: AnalysisTimeline) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        timeline.save(path)
        return True
    except (OSError, StudioError) as exc:
        log.warning("cannot write analysis cache %s: %s", path, exc)
        return False
