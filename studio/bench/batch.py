"""Benchmark: `studio batch` on one machine, three ways, on the same folder of videos.

Four 8 s clips of the sync suite (studio.syncsuite: bouncing balls, 640x360) are generated with
the rhythm engine and exported (what ``studio batch FOLDER --rhythm`` does), each way in a fresh
process of its own so the figures are that run's alone:

* ``one``: one process, one video after another (``--jobs 1``), the baseline;
* ``pool``: the local process pool (``--jobs 2``: spawned workers, engines loaded once per worker);
* ``ray``: a Ray instance started on this machine (``--ray local``), when Ray is installed.

Per way: wall seconds, the ratio to ``one``, and the peak resident memory of the whole process
tree (the driver and every worker, Ray's own services included), sampled every 0.1 s from
/proc (Linux; psutil is not a dependency and this is all it would do here).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studio.jobs import Job

CLIPS = 4
SECONDS = 8.0


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (MB), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)  # field 4: the parent
        rss[pid] = int(fields[21]) * page  # field 24: resident pages
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 2**20


def _make_clips(folder: Path) -> None:
    import dataclasses

    from studio import syncsuite

    bounce = [s for s in syncsuite.default_suite(quick=True) if s.kind == "bounce"][:1]
    base = bounce[0] if bounce else syncsuite.default_suite(quick=True)[0]
    for k in range(CLIPS):
        spec = dataclasses.replace(base, seed=base.seed + k, duration_s=SECONDS, name=f"clip{k}")
        syncsuite.render_clip(spec, folder / f"clip{k}.mp4")


def _run_way(way: str, videos: Path, out: Path) -> dict:
    """``studio batch`` one way in a child process; its wall time and its tree's peak memory."""
    args = [sys.executable, "-m", "studio", "-q", "batch", str(videos), "--rhythm", "--out", str(out)]
    args += {"one": ["--jobs", "1"], "pool": ["--jobs", "2"], "ray": ["--ray", "local"]}[way]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_mb(proc.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    out_text, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"studio batch ({way}) failed: {err.strip()[-500:]}")
    done = sum(line.startswith("done") for line in out_text.splitlines())
    return {"wall_s": round(wall, 2), "peak_tree_rss_mb": round(peak, 1), "videos_done": done}


def run(job: Job | None = None) -> dict:
    job = Job.quiet(job)
    import importlib.util

    ways = ["one", "pool"] + (["ray"] if importlib.util.find_spec("ray") else [])
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        videos = Path(tmp) / "videos"
        videos.mkdir()
        job.report(0.0, "making the clips")
        _make_clips(videos)
        results = {}
        for i, way in enumerate(ways):
            job.report((i + 1) / (len(ways) + 1), f"batch: {way}")
            results[way] = _run_way(way, videos, Path(tmp) / f"out-{way}")
    base = results["one"]
    for way, r in results.items():
        r["wall_ratio_to_one"] = round(r["wall_s"] / base["wall_s"], 3)
        r["memory_ratio_to_one"] = round(r["peak_tree_rss_mb"] / base["peak_tree_rss_mb"], 3)
    return {"name": "batch", "clips": CLIPS, "clip_s": SECONDS, "engines": ["rhythm"], "cpu_count": os.cpu_count(),
            "baseline": "one process, one video after another (--jobs 1)", **results}


if __name__ == "__main__":
    print(json.dumps(run()))
