"""Benchmark: the whole pipeline on long videos, against plain PyAV decoding of the same files.

For each length (``minutes``, default 1 and 10; ``quick``: one 10 s video) a 720p30 H.264 video
is made once and kept in the bench cache folder: the analysis bench's clip (a scrolling noise
texture with moving, bouncing and pulsing shapes; ``studio.bench.analysis.make_clip``), longer
ones by repeating its 60 s packet for packet (no re-encoding, so a 2-hour video costs seconds
to make). Then, each in a fresh subprocess (so imports, model sessions, the soundfont and the
allocator start cold, as for a user, and the peak memory is that run's alone):

* baseline: PyAV decode of every frame of the file, no conversion, the faster of FFmpeg's
  default threads and one thread per core (``studio.bench.analysis.fastest_decode_s``);
* the pipeline as ``studio generate`` runs it: ``studio.generate.generate(video, out, settings)``
  with every default engine, the soundtrack and spatial in the hall (analysis with a cold
  analysis cache, engines, stems + mix + MIDI exported, project saved), then a video export
  (``studio.exporting.export_project(video_path=...)``: the project rendered again and the mix
  muxed with the video packets), as ``studio export --video`` would after it; then the saved
  project is loaded again, as a new session opens it (``project_reload_s``, not in the total;
  the pipeline's peak memory is taken before it, ``reload_peak_rss_mb`` after it).

Reported per length: seconds per stage (``analysis``, ``engine_<name>``, ``export``: the
export's own timings inside it, ``generate_other``: the rest of generate's time, probe, hashes,
saves and commit; ``video_export``; the engines that run beside one another overlap, so the
stages may add up to more than the total), the total, the peak resident memory of the pipeline
process and of the decode process (``ru_maxrss``), the file pages the pipeline dirtied (``disk_dirtied_mb``: the
files it writes and the render's temporary disk arrays, ``/proc/self/io``) and how many of those
never reached the disk (``disk_discarded_mb``), the ratio of the total to the decode time, and the 25 functions
with the largest cumulative and the 10 with the largest own time (cProfile, one profiler per
thread, merged, so a function run by several threads adds their times). The profile comes from
a second run of the shortest length in a process of its own, and every figure above from runs
without a profiler: it adds to every Python call, 20-25 % of the 60 s pipeline (the synth's
slot refill alone makes 170,000 note-on calls); ``profile=False`` skips that run. Across
lengths: the scaling exponents of time and memory (1 = linear in the video's length).
``plot(result, path)`` draws both against the length, log-log (``studio bench pipeline --plot``).
"""
from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studio.errors import StudioError
from studio.jobs import Job

DEFAULT_MINUTES = (1.0, 10.0)
QUICK_SECONDS = 10
MAX_MINUTES = 240
ENGINES_EXTRA = ("soundtrack", "spatial")  # beside the default engines
ROOM = "hall"
PROFILE_TOP = 10
# the cumulative list starts with the call chain generate -> export -> render (each the sum of what it
# calls): 25 rows reach the functions below it that take the time
PROFILE_TOP_CUMULATIVE = 25
_PROGRESS = "@progress "
_RESULT = "@result "


# ----------------------------------------------------------------------------- the videos

def parse_minutes(minutes) -> list[float]:
    """``"1,10"``, a number or a sequence of them -> lengths in minutes (a StudioError when one is
    not positive, too long, or over a minute but not whole minutes: longer videos repeat the
    60 s clip)."""
    if minutes is None:
        return list(DEFAULT_MINUTES)
    items = minutes.split(",") if isinstance(minutes, str) else (
        [minutes] if isinstance(minutes, (int, float)) else list(minutes))
    out = []
    for item in items:
        try:
            m = float(item)
        except (TypeError, ValueError):
            raise StudioError(f"--minutes: {item!r} is not a number of minutes") from None
        if not (0 < m <= MAX_MINUTES) or not math.isfinite(m):
            raise StudioError(f"--minutes: {item!r} is out of range (0 to {MAX_MINUTES} minutes)")
        s = m * 60
        if s < 1 or (m > 1 and abs(s - 60 * round(m)) > 1e-6) or abs(s - round(s)) > 1e-6:
            raise StudioError(f"--minutes: {item!r}: up to 1 minute a whole number of seconds, "
                              "beyond it whole minutes")
        out.append(m)
    if not out:
        raise StudioError("--minutes: no length given")
    return sorted(set(out))


def _concat(src: Path, path: Path, repeats: int) -> Path:
    """``src`` repeated ``repeats`` times, packet for packet (timestamps shifted; each copy starts
    on the clip's first key frame), into ``path``."""
    import av

    from studio.fsutil import atomic_path

    with av.open(str(src)) as probe:
        vs = probe.streams.video[0]
        span = max((p.pts + (p.duration or 0)) for p in probe.demux(vs) if p.pts is not None)
        span -= vs.start_time or 0
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            ost = None
            for k in range(repeats):
                with av.open(str(src)) as inp:
                    vs = inp.streams.video[0]
                    if ost is None:
                        ost = out.add_stream_from_template(vs)
                    for p in inp.demux(vs):
                        if p.dts is None:  # the demuxer's flush packet
                            continue
                        p.pts += k * span
                        p.dts += k * span
                        p.stream = ost
                        out.mux(p)
    return path


def video_for(seconds: int, job: Job | None = None) -> Path:
    """The bench video of ``seconds`` (made once, kept in the bench cache folder)."""
    from studio.bench.analysis import CLIP_NAME, SECONDS, bench_cache_dir, make_clip

    job = Job.quiet(job)
    folder = bench_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if seconds == SECONDS:
        path = folder / CLIP_NAME
    else:
        path = folder / f"bench-pipeline-720p30-{seconds}s-v1.mp4"
    if path.is_file():
        return path
    if seconds <= SECONDS:
        return make_clip(path, job, seconds=seconds)
    one = video_for(SECONDS, job.sub(0.0, 0.5))
    job.report(0.5, f"repeating the 60 s clip to {seconds // 60} minutes")
    return _concat(one, path, seconds // SECONDS)


# ----------------------------------------------------------------------------- the subprocesses

def _peak_rss_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return kb * (1 if sys.platform != "darwin" else 1 / 1024) / 1024


def _written_mb() -> tuple[float, float] | None:
    """(MB of file pages this process has dirtied, MB of those dropped before they reached the
    disk: a freed temporary's) from ``/proc/self/io`` (every thread's); None where it is missing.
    Linux counts a page of a file or a file mapping when it is first dirtied."""
    try:
        fields = dict(line.split(":") for line in Path("/proc/self/io").read_text().splitlines())
        return int(fields["write_bytes"]) / 2**20, int(fields["cancelled_write_bytes"]) / 2**20
    except (OSError, KeyError, ValueError):
        return None


class _ThreadProfiles:
    """cProfile in every thread: the main thread's profiler, and one more for each thread started
    while it runs (``threading.setprofile``: the analysis worker, render pools), merged."""

    def __init__(self) -> None:
        import cProfile
        import threading

        self._cprofile, self._threading = cProfile, threading
        self._lock = threading.Lock()
        self.profiles = [cProfile.Profile()]

    def _hook(self, frame, event, arg):  # the first event of a new thread installs its profiler
        prof = self._cprofile.Profile()
        with self._lock:
            self.profiles.append(prof)
        sys.setprofile(None)
        prof.enable()

    def __enter__(self):
        self._threading.setprofile(self._hook)
        self.profiles[0].enable()
        return self

    def __exit__(self, *exc):
        self.profiles[0].disable()
        self._threading.setprofile(None)

    def top(self, n: int = PROFILE_TOP, n_cumulative: int = PROFILE_TOP_CUMULATIVE) -> tuple[list[dict], list[dict]]:
        import pstats

        stats = pstats.Stats(self.profiles[0])
        for prof in self.profiles[1:]:
            try:
                stats.add(prof)
            except Exception:  # a thread still running its profiler: its figures are left out
                pass
        root = str(Path(__file__).resolve().parents[2]) + os.sep
        rows = []
        for (file, line, func), (_cc, calls, own, cum, _callers) in stats.stats.items():
            if file == __file__ or func in ("<module>",) or file.endswith("threading.py") and func in (
                    "run", "_bootstrap", "_bootstrap_inner"):
                continue  # this bench's own wrappers and the threads' entry frames
            if file.startswith(root):
                file = file[len(root):]
            elif "site-packages" + os.sep in file:
                file = file.split("site-packages" + os.sep, 1)[1]
            name = f"{file}:{line}({func})" if line else func
            rows.append({"function": name, "cumulative_s": round(cum, 3), "own_s": round(own, 3), "calls": calls})
        by_cum = sorted(rows, key=lambda r: -r["cumulative_s"])[:n_cumulative]
        by_own = sorted(rows, key=lambda r: -r["own_s"])[:n]
        return by_cum, by_own


def _child_job() -> Job:
    last = {"f": -1.0, "m": None}

    def listener(p):
        if p.message != last["m"] or p.fraction - last["f"] >= 0.01:
            last["f"], last["m"] = p.fraction, p.message
            print(_PROGRESS + json.dumps([round(p.fraction, 4), p.message]), flush=True)

    return Job("pipeline", listener)


def _child_decode(video: str) -> dict:
    from studio.bench.analysis import fastest_decode_s

    wall, frames = fastest_decode_s(Path(video))
    return {"decode_s": wall, "frames": frames, "decode_peak_rss_mb": _peak_rss_mb()}


def _timed(fn, name: str, stages: dict, extra: dict | None = None, rss: dict | None = None,
           spans: list | None = None):
    @functools.wraps(fn)  # its module too: studio.generate asks an adapter's module whether it runs beside others
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            out = fn(*args, **kwargs)
        finally:
            end = time.perf_counter()
            stages[name] = stages.get(name, 0.0) + end - t
            if spans is not None:
                spans.append((t, end))
            if rss is not None:  # the process's peak so far: which stage raised it
                rss[name] = _peak_rss_mb()
        if extra is not None and hasattr(out, "timings_s"):
            extra[name] = dict(out.timings_s)
        return out

    return wrapper


def _covered_s(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by the union of the (start, end) intervals: stages that ran at once
    (the engines beside one another) count once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def _child_generate(video: str, out: str, profile: bool) -> dict:
    t0 = time.perf_counter()
    import studio.analysis
    import studio.exporting
    from studio import adapters
    from studio.generate import GenerateSettings, available_engines, default_engines, generate

    import_s = time.perf_counter() - t0
    engines = tuple(n for n in available_engines()
                    if n in default_engines(ROOM) or n in ENGINES_EXTRA)
    room = ROOM if "spatial" in engines else None
    stages: dict[str, float] = {}
    export_timings: dict[str, dict] = {}
    # every stage timed where generate looks it up (at call time): the analysis, each adapter,
    # the export
    rss: dict[str, float] = {}
    spans: list[tuple[float, float]] = []  # every timed call's (start, end): the engines may overlap
    studio.analysis.analyze = _timed(studio.analysis.analyze, "analysis", stages, rss=rss, spans=spans)
    for name in engines:
        mod = adapters.load(name)
        mod.generate = _timed(mod.generate, f"engine_{name}", stages, rss=rss, spans=spans)
    export_project = studio.exporting.export_project
    studio.exporting.export_project = _timed(export_project, "export", stages, export_timings, rss=rss,
                                             spans=spans)
    job = _child_job()
    profiles = _ThreadProfiles() if profile else None
    out_dir = Path(out) / "project"
    written = _written_mb()
    t = time.perf_counter()
    with profiles or _nothing():
        project = generate(video, out_dir, GenerateSettings(engines=engines, room=room), job=job.sub(0.0, 0.85))
        generate_s = time.perf_counter() - t
        job.report(0.85, "exporting the video")
        t = time.perf_counter()
        report = export_project(project, video_path=out_dir / "video.mp4", root=out_dir, job=job.sub(0.85, 1.0))
        video_export_s = time.perf_counter() - t
    peak_mb = _peak_rss_mb()  # the pipeline's: analysis, generate, export
    after = _written_mb()
    disk = {} if written is None or after is None else {
        "disk_dirtied_mb": after[0] - written[0], "disk_discarded_mb": after[1] - written[1]}
    tracks = [t.name for t in project.tracks]
    # what a user does next: open the project again (a 30-minute one once did not load), as a
    # new session would, without the project generate made (the pipeline's peak is taken above)
    from studio.project import Project

    del project
    t = time.perf_counter()
    Project.load(out_dir)
    reload_s = time.perf_counter() - t
    stages["generate_other"] = generate_s - _covered_s(spans)
    stages["video_export"] = video_export_s
    result = {
        "import_s": import_s,
        "engines": list(engines),
        "room": room,
        "tracks": tracks,
        "generate_s": generate_s,
        "stages_s": stages,
        "export_stages_s": export_timings.get("export", {}),
        "video_export_stages_s": dict(report.timings_s),
        "project_reload_s": reload_s,
        "files_mb": round(sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file()) / 2**20, 1),
        "peak_rss_mb": peak_mb,
        "peak_rss_after_mb": {**rss, "video_export": peak_mb},
        "reload_peak_rss_mb": _peak_rss_mb(),  # the process's, so at least the pipeline's
        **disk,
    }
    if profiles is not None:
        result["profile_top_cumulative"], result["profile_top_own"] = profiles.top()
    return result


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _main(argv: list[str]) -> int:
    """``python -m studio.bench.pipeline decode VIDEO`` / ``generate VIDEO OUT [--no-profile]``:
    one measurement, in this process; the last stdout line is ``@result {json}``."""
    if argv[:1] == ["decode"] and len(argv) == 2:
        result = _child_decode(argv[1])
    elif argv[:1] == ["generate"] and len(argv) in (3, 4):
        result = _child_generate(argv[1], argv[2], profile="--no-profile" not in argv)
    else:
        print(_main.__doc__, file=sys.stderr)
        return 2
    print(_RESULT + json.dumps(result), flush=True)
    return 0


def _subprocess(args: list[str], job: Job, env: dict) -> dict:
    """Run ``python -m studio.bench.pipeline ARGS``, its progress forwarded to ``job``."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", __name__, *args], stdout=subprocess.PIPE, stderr=err,
                                text=True, env=env, cwd=str(Path(__file__).resolve().parents[2]))
        result = None
        try:
            for line in proc.stdout:
                if line.startswith(_PROGRESS):
                    fraction, message = json.loads(line[len(_PROGRESS):])
                    job.report(fraction, message)
                elif line.startswith(_RESULT):
                    result = json.loads(line[len(_RESULT):])
        finally:
            if proc.poll() is None and result is None:
                proc.kill()
            proc.wait()
        if proc.returncode != 0 or result is None:
            err.seek(0)
            tail = err.read()[-2000:]
            raise StudioError(f"pipeline bench: {' '.join(args[:1])} failed (exit {proc.returncode}): {tail}")
    return result


# ----------------------------------------------------------------------------- the benchmark

def _exponent(xs, ys) -> float | None:
    if len(xs) < 2 or xs[0] == xs[-1] or min(ys[0], ys[-1]) <= 0:
        return None
    return round(math.log(ys[-1] / ys[0]) / math.log(xs[-1] / xs[0]), 3)


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


def run(job: Job | None = None, minutes=None, quick: bool = False, profile: bool = True) -> dict:
    job = Job.quiet(job)
    lengths_s = [QUICK_SECONDS] if quick else [int(round(m * 60)) for m in parse_minutes(minutes)]
    weights = [s + 60 for s in lengths_s]  # progress roughly by work
    runs, done, profiled = [], 0.0, None
    env = dict(os.environ)
    for seconds, w in zip(lengths_s, weights):
        span = w / sum(weights)
        sub = job.sub(done, done + span)
        done += span
        label = f"{seconds} s" if seconds < 60 else f"{seconds / 60:g} min"
        sub.report(0.0, f"{label}: the video")
        video = video_for(seconds, sub.sub(0.0, 0.1))
        sub.report(0.1, f"{label}: decoding")
        decode = _subprocess(["decode", str(video)], sub.sub(0.1, 0.15), env)
        with tempfile.TemporaryDirectory(prefix="studio-bench-pipeline-") as tmp:
            # a cold analysis cache (a new video), everything else as the user has it
            child_env = {**env, "STUDIO_CACHE_DIR": str(Path(tmp) / "cache")}
            to_profile = profile and seconds == min(lengths_s) and not profiled
            gen = _subprocess(["generate", str(video), tmp, "--no-profile"],
                              sub.sub(0.15, 0.55 if to_profile else 1.0), child_env)
        if to_profile:  # the shortest length again, with a profiler
            sub.report(0.55, f"{label}: profiling")
            with tempfile.TemporaryDirectory(prefix="studio-bench-pipeline-") as tmp:
                child_env = {**env, "STUDIO_CACHE_DIR": str(Path(tmp) / "cache")}
                profiled = _subprocess(["generate", str(video), tmp], sub.sub(0.55, 1.0), child_env)
        stages = gen["stages_s"]
        total = gen["generate_s"] + stages["video_export"]
        runs.append({
            "minutes": _r(seconds / 60, 4),
            "video_s": seconds,
            "video_mb": _r(video.stat().st_size / 2**20, 1),
            "frames": decode["frames"],
            "decode_s": _r(decode["decode_s"]),
            "decode_peak_rss_mb": _r(decode["decode_peak_rss_mb"], 1),
            "stages_s": {k: _r(v) for k, v in stages.items()},
            "export_stages_s": {k: _r(v) for k, v in gen["export_stages_s"].items()},
            "video_export_stages_s": {k: _r(v) for k, v in gen["video_export_stages_s"].items()},
            "generate_s": _r(gen["generate_s"]),
            "project_reload_s": _r(gen["project_reload_s"]),
            "reload_peak_rss_mb": _r(gen["reload_peak_rss_mb"], 1),
            "total_s": _r(total),
            "import_s": _r(gen["import_s"]),
            "peak_rss_mb": _r(gen["peak_rss_mb"], 1),
            "peak_rss_after_mb": {k: _r(v, 1) for k, v in gen.get("peak_rss_after_mb", {}).items()},
            "ratio_to_decode": _r(total / decode["decode_s"]),
            "generate_ratio_to_decode": _r(gen["generate_s"] / decode["decode_s"]),
            "realtime_factor": _r(seconds / total, 2),
            "files_mb": gen["files_mb"],
            **{k: _r(gen[k], 1) for k in ("disk_dirtied_mb", "disk_discarded_mb") if k in gen},
            "tracks": gen["tracks"],
            **({"profiled_total_s": _r(profiled["generate_s"] + profiled["stages_s"]["video_export"]),
                "profile_top_cumulative": profiled["profile_top_cumulative"],
                "profile_top_own": profiled["profile_top_own"]} if to_profile else {}),
        })
        engines, room = gen["engines"], gen["room"]
    job.report(1.0, "done")
    xs = [r["video_s"] for r in runs]
    return {
        "name": "pipeline",
        "video": "720p30 H.264 (the analysis bench's clip, repeated past 60 s)",
        "engines": engines,
        "room": room,
        "soundfont": os.environ.get("STUDIO_SOUNDFONT") or "automatic",
        "profiled": bool(profile),
        "profile_note": ("timings from runs without a profiler; the shortest length's profile (cProfile, one "
                         "profiler per thread) from a second run of its own (profiled_total_s)") if profile else "",
        "runs": runs,
        "time_scaling_exponent": _exponent(xs, [r["total_s"] for r in runs]),
        "memory_scaling_exponent": _exponent(xs, [r["peak_rss_mb"] for r in runs]),
        "ratio_to_decode": runs[-1]["ratio_to_decode"],  # of the longest video
        "baseline": "pyav_decode",
        "baseline_detail": "PyAV decode of every frame of the same file in its own process, no conversion, "
                           "the faster of FFmpeg's default threads and one frame thread per core",
        "cpu_count": os.cpu_count(),
    }


# ----------------------------------------------------------------------------- the figure

def plot(result: dict, path: str | Path) -> None:
    """A PNG, log-log: seconds per stage and in total, and peak memory, against the video's length."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker  # noqa: F401  (the log axes' tick labels)
    except ImportError:
        raise StudioError("--plot needs matplotlib: pip install matplotlib") from None
    import io

    from studio.fsutil import write_bytes_atomic

    runs = sorted(result.get("runs") or [], key=lambda r: r["video_s"])
    if not runs:
        raise StudioError("the pipeline result has no runs to plot")
    x = [r["video_s"] / 60 for r in runs]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12.5, 4.8), dpi=110, layout="constrained",
                                   gridspec_kw={"width_ratios": (1.3, 1)})
    series = [("total", [r["total_s"] for r in runs], "k", "-", 2.2),
              ("decode (baseline)", [r["decode_s"] for r in runs], "#888", "--", 1.6)]
    stage_names = []
    for r in runs:
        stage_names += [k for k in r["stages_s"] if k not in stage_names]
    colours = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7]  # tab10's grey is the baseline's
    for i, name in enumerate(stage_names):
        ys = [r["stages_s"].get(name, float("nan")) for r in runs]
        label = f"engine: {name[len('engine_'):]}" if name.startswith("engine_") else name
        if name == "engine_spatial":
            label += " (placing only)"
        if all(y > 0 for y in ys):
            series.append((label, ys, colours[i % len(colours)], "-", 1.2))
    for label, ys, colour, ls, lw in series:
        ax_t.plot(x, ys, marker="o", label=label, color=colour, ls=ls, lw=lw)
    ax_m.plot(x, [r["peak_rss_mb"] for r in runs], marker="o", color="k", lw=2.2, label="pipeline (peak RSS)")
    ax_m.plot(x, [r["decode_peak_rss_mb"] for r in runs], marker="o", color="#888", ls="--", lw=1.6,
              label="decode (peak RSS)")
    for ax, ref in ((ax_t, runs[0]["total_s"]), (ax_m, runs[0]["peak_rss_mb"])):
        if len(x) > 1:  # what linear growth from the shortest video would be
            ax.plot(x, [ref * xi / x[0] for xi in x], color="#c33", ls=":", lw=1, label="linear in length")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(x, [f"{xi:g}" for xi in x])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("video length (minutes, 720p30)")
        ax.grid(True, which="both", alpha=0.3)
    ax_t.set_ylabel("seconds")
    ax_t.set_title("time per stage")
    ax_t.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax_m.set_ylabel("MiB")
    ax_m.set_title("peak resident memory")
    ax_m.legend(fontsize=8, loc="upper left")
    m = result.get("machine", {})
    fig.suptitle(f"studio bench pipeline: {', '.join(result.get('engines', []))}"
                 f"{' (' + result['room'] + ')' if result.get('room') else ''}; "
                 f"{m.get('cpu_count', result.get('cpu_count', '?'))} CPU cores", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
