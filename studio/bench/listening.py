"""The listening table: loudness, true peak, crest factor and clipping of generated projects,
before (mastering off: the plain sum, the studio's path before issue 17) and after (the default
mastering of :mod:`studio.mastering`).

    python -m studio bench listening                        (one JSON object, as every benchmark)
    python -m studio.bench.listening --json docs/listening.json --markdown docs/listening.md \\
        --spectrograms docs/screenshots

Projects: the bundled demo video (14 s; analysed once) with every rhythm style x 4 seeds and every
soundtrack style x 2 seeds, each with the Foley engine (42 projects by default); the engines run
as ``studio generate`` runs them (the same adapters, the project's one tempo map). Each project is
rendered twice, mastering off and on. Per project: the mix and every stem, its integrated LUFS
(BS.1770), true peak (dBTP, 4x oversampled), crest factor (sample peak over RMS, dB), and clipped
samples as written to a 16-bit and a 24-bit file (the samples at the format's extremes; FLAC
quantises the same way) and as 32-bit float (beyond full scale). Also the Foley-vs-music balance:
the Foley stem's integrated loudness minus that of the music stems summed.

The summary groups by engine and style (the mix) and by engine stem (rhythm drums/bass/keys,
soundtrack parts, Foley). ``--quick`` runs 2 styles x 1 seed per engine.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo.mp4"
RHYTHM_SEEDS = (0, 1, 2, 3)
SOUNDTRACK_SEEDS = (0, 1)


def _finite(v: float) -> float | None:
    return round(float(v), 2) if math.isfinite(v) else None


def measure(audio: np.ndarray, sr: int) -> dict:
    """LUFS, true peak, crest factor and clipped samples (16/24-bit, float) of (2, n) audio."""
    from export import wav
    from studio import mastering as mst

    x = np.asarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    crest = 20 * math.log10(peak / rms) if peak > 0 and rms > 0 else float("nan")
    return {
        "lufs": _finite(mst.integrated_lufs(x, sr)),
        "true_peak_dbtp": _finite(mst.true_peak_dbtp(x)),
        "peak_dbfs": _finite(20 * math.log10(peak) if peak > 0 else float("-inf")),
        "crest_db": _finite(crest),
        "clipped_16": wav.clipped_count(wav.quantise(x, "16"), "16"),
        "clipped_24": wav.clipped_count(wav.quantise(x, "24"), "24"),
        "clipped_float": wav.clipped_count(wav.quantise(x, "float32"), "float32"),
    }


def _stem_key(engine: str, track) -> str:
    part = (track.settings or {}).get("part")
    if track.kind.value == "foley":
        return "foley"
    return f"{engine}:{part or track.name.lower()}"


def _projects(quick: bool) -> list[tuple[str, str, int]]:
    from engines.rhythm.vocab import STYLES as RHYTHM_STYLES
    from engines.soundtrack.styles import STYLES as SOUNDTRACK_STYLES

    rs = RHYTHM_STYLES[:2] if quick else RHYTHM_STYLES
    ss = SOUNDTRACK_STYLES[:2] if quick else SOUNDTRACK_STYLES
    out = [("rhythm", s, seed) for s in rs for seed in (RHYTHM_SEEDS[:1] if quick else RHYTHM_SEEDS)]
    out += [("soundtrack", s, seed) for s in ss for seed in (SOUNDTRACK_SEEDS[:1] if quick else SOUNDTRACK_SEEDS)]
    return out


def _generate(video: Path, folder: Path, timeline, engine: str, style: str, seed: int):
    from studio import grid
    from studio.generate import GenerateSettings, engine_adapter
    from studio.project import new_project_for_video

    project = new_project_for_video(video, folder / "project.json")
    project.tempo = grid.tempo_map(timeline, grid.GridCorrection())
    settings = GenerateSettings(engines=(engine, "foley"), seed=seed, style=style)
    for name in (engine, "foley"):
        for track in engine_adapter(name)(project, timeline, settings, None):
            project.add_track(track)
    return project


def run(job=None, *, quick: bool = False, video: Path = DEMO, spectrograms: Path | None = None) -> dict:
    import tempfile

    from studio.analysis import analyze
    from studio.jobs import Job
    from studio.render import render_project

    job = Job.quiet(job)
    t_start = time.perf_counter()
    job.report(0.0, "analysing the demo")
    timeline = analyze(video)
    plan = _projects(quick)
    records = []
    with tempfile.TemporaryDirectory(prefix="studio-listening-") as tmp:
        for i, (engine, style, seed) in enumerate(plan):
            job.check_cancelled()
            job.report(0.05 + 0.9 * i / len(plan), f"{engine} {style} seed {seed}")
            folder = Path(tmp) / f"{engine}-{style}-{seed}"
            folder.mkdir()
            project = _generate(video, folder, timeline, engine, style, seed)
            rec = {"engine": engine, "style": style, "seed": seed, "tracks": len(project.tracks)}
            for label, loudness in (("before", None), ("after", -14.0)):
                t = time.perf_counter()
                r = render_project(project, loudness_lufs=loudness)
                rec[f"render_{label}_s"] = round(time.perf_counter() - t, 3)
                rec[label] = {"mix": measure(r.mix, r.sample_rate), "stems": {}}
                music = [r.stems[t.id] for t in project.tracks if t.kind.value != "foley"]
                foley = [r.stems[t.id] for t in project.tracks if t.kind.value == "foley"]
                for t in project.tracks:
                    rec[label]["stems"][_stem_key(engine, t)] = measure(r.stems[t.id], r.sample_rate)
                if music and foley and np.any(foley[0]):
                    from studio.mastering import integrated_lufs

                    m = integrated_lufs(sum(music), r.sample_rate)
                    f = integrated_lufs(foley[0], r.sample_rate)
                    rec[label]["music_lufs"], rec[label]["foley_lufs"] = _finite(m), _finite(f)
                    rec[label]["foley_minus_music_lu"] = _finite(f - m)
                if spectrograms is not None and i == 0:
                    _spectrogram(r.mix, r.sample_rate, Path(spectrograms) / f"mix_{label}.png",
                                 f"demo, {engine} {style} seed {seed} + Foley: mastering "
                                 f"{'off' if loudness is None else 'on (-14 LUFS, -1 dBTP)'}", rec[label]["mix"])
            records.append(rec)
    summary = summarise(records)
    return {
        "name": "listening",
        "video": video.name,
        "projects": len(records),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "baseline": "mastering off (the plain sum of the tracks, the studio before issue 17)",
        "summary": summary,
        "records": records,
    }


def _stats(values: list[float | None]) -> dict:
    v = [x for x in values if x is not None]
    if not v:
        return {}
    return {"min": round(min(v), 2), "max": round(max(v), 2), "mean": round(float(np.mean(v)), 2)}


def _group(items: list[dict]) -> dict:
    return {
        "n": len(items),
        "lufs": _stats([m["lufs"] for m in items]),
        "true_peak_dbtp": _stats([m["true_peak_dbtp"] for m in items]),
        "crest_db": _stats([m["crest_db"] for m in items]),
        "clipped_16": int(sum(m["clipped_16"] for m in items)),
        "clipped_24": int(sum(m["clipped_24"] for m in items)),
        "clipped_float": int(sum(m["clipped_float"] for m in items)),
        "files_clipped_24": int(sum(m["clipped_24"] > 0 for m in items)),
    }


def summarise(records: list[dict]) -> dict:
    out: dict = {}
    for label in ("before", "after"):
        s: dict = {"all_mixes": _group([r[label]["mix"] for r in records]), "by_style": {}, "by_stem": {},
                   "foley_minus_music_lu": _stats([r[label].get("foley_minus_music_lu") for r in records]),
                   "foley_lufs": _stats([r[label].get("foley_lufs") for r in records]),
                   "music_lufs": _stats([r[label].get("music_lufs") for r in records])}
        for key in sorted({(r["engine"], r["style"]) for r in records}):
            s["by_style"][f"{key[0]}:{key[1]}"] = _group([r[label]["mix"] for r in records
                                                          if (r["engine"], r["style"]) == key])
        stems = sorted({k for r in records for k in r[label]["stems"]})
        for k in stems:
            s["by_stem"][k] = _group([r[label]["stems"][k] for r in records if k in r[label]["stems"]])
        out[label] = s
    return out


def _cell(g: dict) -> tuple[str, str, str, str]:
    lufs = g["lufs"]
    tp = g["true_peak_dbtp"]
    lu = f"{lufs['min']:.1f} .. {lufs['max']:.1f}" if lufs else "-"
    return (lu, f"{tp['max']:+.1f}" if tp else "-", f"{g['crest_db']['mean']:.1f}" if g["crest_db"] else "-",
            f"{g['clipped_24']} ({g['files_clipped_24']}/{g['n']})")


def markdown(report: dict) -> str:
    s = report["summary"]
    lines = [f"Listening table: {report['projects']} generated projects on the demo video "
             f"(`python -m studio.bench.listening`; figures in docs/listening.json). LUFS: range of "
             "integrated loudness; TP: highest true peak (dBTP); crest: mean peak-to-RMS (dB); clipped: "
             "samples at full scale in a 24-bit file (files with any / files).", ""]
    lines += ["| group | LUFS before | LUFS after | TP before | TP after | crest before | crest after | "
              "clipped before | clipped after |", "|---|---|---|---|---|---|---|---|---|"]

    def row(name: str, b: dict, a: dict) -> None:
        cb, ca = _cell(b), _cell(a)
        lines.append(f"| {name} | {cb[0]} | {ca[0]} | {cb[1]} | {ca[1]} | {cb[2]} | {ca[2]} | {cb[3]} | {ca[3]} |")

    row("**all mixes**", s["before"]["all_mixes"], s["after"]["all_mixes"])
    for k in s["before"]["by_style"]:
        row(f"mix, {k}", s["before"]["by_style"][k], s["after"]["by_style"][k])
    for k in s["before"]["by_stem"]:
        row(f"stem {k}", s["before"]["by_stem"][k], s["after"]["by_stem"][k])
    fb, fa = s["before"]["foley_minus_music_lu"], s["after"]["foley_minus_music_lu"]
    a16 = s["after"]["all_mixes"]["clipped_16"] + sum(g["clipped_16"] for g in s["after"]["by_stem"].values())
    af = s["after"]["all_mixes"]["clipped_float"] + sum(g["clipped_float"] for g in s["after"]["by_stem"].values())
    lines += ["", f"Foley minus music (integrated LU): before {fb.get('mean', float('nan')):+.1f} "
              f"({fb.get('min', float('nan')):+.1f} .. {fb.get('max', float('nan')):+.1f}), after "
              f"{fa.get('mean', float('nan')):+.1f} ({fa.get('min', float('nan')):+.1f} .. "
              f"{fa.get('max', float('nan')):+.1f}). After mastering, clipped samples over every mix and stem: "
              f"{a16} at 16 bit, {af} in 32-bit float."]
    return "\n".join(lines) + "\n"


def _spectrogram(audio: np.ndarray, sr: int, path: Path, title: str, m: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    mono = np.asarray(audio, dtype=np.float64).mean(axis=0)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    with np.errstate(divide="ignore"):  # digital silence: -inf dB, drawn as the floor
        ax.specgram(mono, NFFT=2048, Fs=sr, noverlap=1536, cmap="magma", vmin=-130, vmax=-20, scale="dB")
    ax.set_ylim(0, 16000)
    ax.set_ylabel("Hz")
    ax.set_title(f"{title}\n{m['lufs']} LUFS, true peak {m['true_peak_dbtp']} dBTP, "
                 f"{m['clipped_24']} clipped samples (24 bit)", fontsize=9)
    t = np.arange(mono.size) / sr
    ax2.plot(t, audio[0], lw=0.3, color="#4a8")
    ax2.axhline(1.0, color="r", lw=0.6)
    ax2.axhline(-1.0, color="r", lw=0.6)
    ax2.set_ylim(-1.5, 1.5)
    ax2.set_xlabel("s")
    ax2.set_ylabel("left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the whole report here")
    ap.add_argument("--markdown", type=Path, help="write the README table here")
    ap.add_argument("--spectrograms", type=Path, help="folder for mix_before.png / mix_after.png")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    from studio.progress import ProgressBar

    with ProgressBar("listening", True) as job:
        report = run(job, quick=args.quick, spectrograms=args.spectrograms)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    text = markdown(report)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
