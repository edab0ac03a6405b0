"""``studio batch IN_DIR --out OUT_DIR``: generate sound for a folder of videos, resumably.

Every video ``IN_DIR/<name>.<ext>`` becomes the project folder ``OUT_DIR/<name>/`` (what
``studio generate`` writes); hidden files (``.name``) are not videos of the batch. A video is
generated into a private staging folder beside its project (``studio.transaction``) that is
renamed into place only when everything in it is written (a finished project it replaces is
moved aside first and put back if that fails), so an interrupted or failed video never leaves a
half project where a finished one is expected and never touches finished ones: running the
same batch again skips every video whose project exists and was made from the same file
(content hash) with the same settings, redoes the others, and throws away stale staging folders.
``OUT_DIR`` is locked for the whole batch: a second batch or ``generate`` into it is refused at
once as busy.

``OUT_DIR/.studio-batch/batch.json`` (written atomically after each video) records per video:
``done`` (with its wall time), ``failed`` (with the one-line error) or ``skipped``. It lives in
a hidden folder, where no project folder can be (project folders are named after videos, and
hidden files are not videos of the batch). One bad file fails alone.

With ``jobs`` > 1 the videos run in that many local worker processes (spawned; each keeps its
engines loaded for its next video); 1 runs them one after another in this process.
With ``ray_address`` the same work runs as one Ray task per video (``"local"`` starts a Ray
instance on this machine, ``"auto"`` joins the running cluster, or ``host:port``). Workers are
long-lived processes, so each loads the engines' ONNX sessions once (engines.runtime caches them
per process) and reuses them for every video it gets. The workers write to ``OUT_DIR`` directly:
on a real cluster it must be a shared filesystem path that every node sees.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError
from studio.fsutil import write_text_atomic
from studio.jobs import Job
from studio.names import safe_stem
from studio.transaction import Transaction

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".mxf"}
STATE_DIR = ".studio-batch"  # hidden: no project folder can take this name (see find_videos)
STATE_FILE = f"{STATE_DIR}/batch.json"
STAMP_FILE = "batch-source.json"  # inside each finished project folder


@dataclass(frozen=True)
class BatchItem:
    video: str
    project_dir: str
    status: str  # done | skipped | failed
    wall_s: float = 0.0
    error: str | None = None


def find_videos(in_dir: Path) -> list[Path]:
    if not in_dir.is_dir():
        raise StudioError(f"{in_dir} is not a folder of videos")
    videos = sorted(p for p in in_dir.iterdir()
                    if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))
    if not videos:
        raise StudioError(f"no videos in {in_dir} (looked for {', '.join(sorted(VIDEO_SUFFIXES))})")
    names = [v.stem for v in videos]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise StudioError(f"several videos share the name {dupes[0]!r} in {in_dir}; rename them so each "
                          "gets its own project folder")
    return videos


def _settings_key(settings) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(settings), default=str))


def _stamp(video: Path, settings) -> dict:
    from studio.media import file_hash

    return {"video": video.name, "content_hash": file_hash(video), "settings": _settings_key(settings)}


def _is_done(project_dir: Path, stamp: dict) -> bool:
    try:
        old = json.loads((project_dir / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return old == stamp and (project_dir / "project.json").exists()


def generate_one(video: str, out_dir: str, settings) -> BatchItem:
    """Generate one video into ``out_dir/<stem>`` (atomically); never raises for a bad video.
    The video goes the one way every generation goes: ``studio.generate.generate`` (plan, run,
    apply, save and export), as ``studio generate`` does."""
    from engines.errors import EngineError
    from studio.generate import generate

    video_p, out = Path(video), Path(out_dir)
    final = out / safe_stem(video_p.stem)  # a video's name cannot lead its project elsewhere
    t0 = time.perf_counter()
    try:
        stamp = _stamp(video_p, settings)
        if _is_done(final, stamp):
            return BatchItem(str(video_p), str(final), "skipped")
        shutil.rmtree(out / f".{video_p.stem}.partial", ignore_errors=True)  # left by an older version
        # the batch holds OUT_DIR's lock (run_batch): this process or a Ray worker stages unlocked
        with Transaction(locked=False) as txn:
            staged = txn.stage_dir(final)  # made from another file or other settings: replaced whole
            generate(video_p, staged, settings, overwrite=True)
            write_text_atomic(staged / STAMP_FILE, json.dumps(stamp, indent=1))
            txn.commit()
        return BatchItem(str(video_p), str(final), "done", round(time.perf_counter() - t0, 3))
    except Exception as exc:  # one bad video must not stop the batch; its error is recorded
        return BatchItem(str(video_p), str(final), "failed", round(time.perf_counter() - t0, 3),
                         str(exc) if isinstance(exc, (StudioError, EngineError)) else f"{type(exc).__name__}: {exc}")


def _write_state(out: Path, items: dict[str, BatchItem], total: int) -> None:
    state = {"total": total, "videos": {k: dataclasses.asdict(v) for k, v in sorted(items.items())}}
    (out / STATE_DIR).mkdir(exist_ok=True)
    write_text_atomic(out / STATE_FILE, json.dumps(state, indent=1))


def default_jobs() -> int:
    """Local worker processes by default: half the cores (the decoder and onnxruntime already use
    a second thread each), at most 4 (each worker holds its own engines' sessions in memory)."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def run_batch(in_dir: str | Path, out_dir: str | Path, settings=None, *, ray_address: str | None = None,
              jobs: int = 1, job: Job | None = None) -> list[BatchItem]:
    from studio.generate import GenerateSettings, checked

    job = Job.quiet(job)
    settings = settings or GenerateSettings()
    checked(settings.engines, settings)  # a bad option or a missing engine: one clear error before any work
    videos = find_videos(Path(in_dir))
    out = Path(out_dir)
    with Transaction([out], create=True) as lock:  # one writer: a second batch is busy at once
        items = _run(videos, out, settings, ray_address, jobs, job)
        lock.commit()  # stages nothing itself: keeps the folders it made, releases the lock
    return items


def _run(videos: list[Path], out: Path, settings, ray_address: str | None, jobs: int, job: Job) -> list[BatchItem]:
    items: dict[str, BatchItem] = {}
    job.report(0.0, f"{len(videos)} videos")

    def record(item: BatchItem) -> None:
        items[Path(item.video).name] = item
        _write_state(out, items, len(videos))
        job.report(len(items) / len(videos), f"{Path(item.video).name}: {item.status}")

    if ray_address is None and (jobs <= 1 or len(videos) == 1):
        for v in videos:
            job.check_cancelled()
            record(generate_one(str(v), str(out), settings))
    elif ray_address is None:
        for item in _run_on_pool(videos, out, settings, jobs, job):
            record(item)
    else:
        for item in _run_on_ray(videos, out, settings, ray_address, job):
            record(item)
    return [items[v.name] for v in videos]


def _pool_worker_setup(adapters: dict[str, str]) -> None:
    """In each local worker: the driver's engine table (a plug-in registered at run time, as the
    tests' small engines are, is known there too)."""
    from studio import generate

    generate.ADAPTERS.clear()
    generate.ADAPTERS.update(adapters)


def _run_on_pool(videos: list[Path], out: Path, settings, jobs: int, job: Job):
    """``jobs`` local worker processes, one video each at a time; results as they finish."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from studio import generate

    # spawn, not fork: the driver may hold threads (Qt, onnxruntime, the decoder) a fork would copy
    # mid-lock; each worker imports the engines once and keeps their sessions for its next videos
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(videos)), mp_context=ctx,
                             initializer=_pool_worker_setup, initargs=(dict(generate.ADAPTERS),)) as pool:
        pending = {pool.submit(generate_one, str(v), str(out), settings) for v in videos}
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
                job.check_cancelled()
        finally:
            for f in pending:  # cancelled or failed: the videos not started are not started
                f.cancel()


def _run_on_ray(videos: list[Path], out: Path, settings, address: str, job: Job):
    try:
        import ray
    except ImportError:
        raise StudioError("--ray needs Ray: pip install 'video-sound-studio[cluster]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address == "local":
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ... for a bad address
            raise StudioError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    try:
        remote = ray.remote(max_retries=1)(generate_one)
        pending = [remote.remote(str(v.resolve()), str(out.resolve()), settings) for v in videos]
        while pending:
            if job.cancelled:
                for ref in pending:
                    ray.cancel(ref)
                job.check_cancelled()
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in done:
                yield ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()
