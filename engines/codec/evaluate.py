"""Evaluate the shipped codec on held-out recorded files against codec-free baselines at the same
bit rate, and write the figures into the manifest, a report and spectrogram PNGs.

    python -m engines.codec.evaluate              # engines/models; PNGs into engines/codec/figures
    python -m engines.codec.evaluate --models DIR --no-write

Clips: the middle ``CLIP_S`` seconds of every held-out file (``engines.codec.data``: whole files
are held out, so no training excerpt comes from them) at least 0.5 s long. Each clip goes
through the codec (ONNX, ``engines.codec.infer.Codec``), mu-law 8-bit at bitrate/8 Hz and
Griffin-Lim from a quantised mel spectrogram (``engines.codec.baselines``; every (bands, levels)
configuration that fits the bit rate is run and the best by mean MR-STFT distance reported).
Metrics (``dsp.metrics``): multi-resolution STFT distance, log-mel distance (lower is better),
SI-SDR (higher), log-spectral distance in dB (lower): the mean over clips, overall and per
group (music / other). Speed: encode and decode compute seconds per audio second (``rtf``, < 1
is faster than real time) over all the clips, on this machine as it is loaded.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engines.codec import baselines as B
from engines.codec import data as D
from engines.codec import dsp

CLIP_S = 15.0
FIG_DIR = Path(__file__).resolve().parent / "figures"
KEYS = ("mr_stft", "mel", "si_sdr_db", "lsd_db")


def held_out_clips(packages=None, limit: int | None = None):
    """[(SoundFile, clip at 24 kHz)] for the held-out files that are installed."""
    found, _ = D.files(packages)
    out = []
    for f in found:
        if f.held_out and not (limit and len(out) >= limit):
            x = D.middle(D.decode(f.path), CLIP_S)
            if len(x) >= dsp.SR // 2 and np.abs(x).max() > 1e-4:
                out.append((f, x))
    return out


def _mean(rows: list[dict]) -> dict:
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in KEYS} if rows else {}


def _summary(per_clip: list[dict], method: str) -> dict:
    rows = [r[method] for r in per_clip]
    music = [r[method] for r in per_clip if r["category"] == "music"]
    other = [r[method] for r in per_clip if r["category"] != "music"]
    return {"all": _mean(rows), "music": _mean(music), "other": _mean(other)}


def evaluate(codec, clips, gl_configs=None) -> dict:
    bitrate = codec.bitrate
    per_clip, enc_s, dec_s, audio_s = [], 0.0, 0.0, 0.0
    gl_runs = {cfg: [] for cfg in (gl_configs or B.gl_configs(bitrate))}
    for f, x in clips:
        t0 = time.perf_counter()
        codes = codec.encode(x, dsp.SR)
        t1 = time.perf_counter()
        y = codec.decode(codes)[:len(x)]
        t2 = time.perf_counter()
        enc_s, dec_s, audio_s = enc_s + t1 - t0, dec_s + t2 - t1, audio_s + len(x) / dsp.SR
        mu, mu_rate = B.mulaw(x, bitrate)
        row = {"file": f.path, "package": f.package, "category": f.category, "seconds": round(len(x) / dsp.SR, 2),
               "codec": dsp.metrics(x, y), "mulaw": dsp.metrics(x, mu)}
        for cfg in gl_runs:
            gl_runs[cfg].append(dsp.metrics(x, B.griffin_lim(x, *cfg)))
        per_clip.append(row)
    best = min(gl_runs, key=lambda c: np.mean([m["mr_stft"] for m in gl_runs[c]]))
    for row, m in zip(per_clip, gl_runs[best]):
        row["griffin_lim"] = m
    res = {
        "bitrate_bps": bitrate, "codebooks": codec.codebooks, "entries": codec.entries,
        "tokens_per_s": codec.token_rate, "clips": len(per_clip), "audio_s": round(audio_s, 1),
        "codec": _summary(per_clip, "codec"),
        "mulaw": {**_summary(per_clip, "mulaw"), "sample_rate": mu_rate, "bits": 8},
        "griffin_lim": {**_summary(per_clip, "griffin_lim"), "n_mels": best[0], "levels": best[1],
                        "bitrate_bps": B.gl_bitrate(*best), "iterations": B.GL_ITER,
                        "tried": {f"{n}x{lv}": round(float(np.mean([m["mr_stft"] for m in r])), 4)
                                  for (n, lv), r in gl_runs.items()}},
        "rtf_encode": round(enc_s / audio_s, 4), "rtf_decode": round(dec_s / audio_s, 4),
        "per_clip": per_clip,
    }
    return res


def figure(codec, f, x, path: Path, gl_config: tuple[int, int]) -> None:
    """Log-mel spectrograms of one clip: original, codec, Griffin-Lim, mu-law (same scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = codec.decode(codec.encode(x, dsp.SR))[:len(x)]
    mu, rate = B.mulaw(x, codec.bitrate)
    n_mels, levels = gl_config
    gl = B.griffin_lim(x, n_mels, levels)
    panels = [("original", x), (f"codec ({codec.bitrate / 1000:.1f} kbit/s)", y),
              (f"Griffin-Lim, {n_mels} mel x {levels} levels ({B.gl_bitrate(n_mels, levels) / 1000:.1f} kbit/s)", gl),
              (f"mu-law 8 bit at {rate} Hz", mu)]
    specs = [dsp.log_mel(s) for _, s in panels]
    top = max(float(s.max()) for s in specs)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.2), sharey=True)
    for ax, (title, _), s in zip(axes, panels, specs):
        ax.imshow(s, origin="lower", aspect="auto", vmin=top - 12, vmax=top, cmap="magma",
                  extent=(0, len(x) / dsp.SR, 0, s.shape[0]))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("s")
    axes[0].set_ylabel("mel band")
    fig.suptitle(f"{Path(f.path).name} ({f.package}, {f.category}; held out)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def table(res: dict) -> str:
    """The model card's reconstruction table (markdown) from an evaluation result."""
    names = {"codec": f"codec ({res['codebooks']} x {res['entries']} codes, {res['tokens_per_s']:g} tokens/s)",
             "griffin_lim": (f"Griffin-Lim ({res['griffin_lim']['n_mels']} mel bands x {res['griffin_lim']['levels']} "
                             f"levels, {res['griffin_lim']['bitrate_bps']:.0f} bit/s)"),
             "mulaw": f"mu-law 8 bit at {res['mulaw']['sample_rate']} Hz"}
    lines = ["| method | clips | MR-STFT | mel | SI-SDR dB | LSD dB |", "|---|---|---|---|---|---|"]
    for group in ("all", "music", "other"):
        for m, label in names.items():
            f = res[m][group]
            if f:
                lines.append(f"| {label} | {group} | {f['mr_stft']:.3f} | {f['mel']:.3f} | {f['si_sdr_db']:.2f} | {f['lsd_db']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from engines import manifest
    from engines.codec.infer import DECODER, ENCODER, Codec
    from engines.runtime import MODELS_DIR

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=str(MODELS_DIR))
    p.add_argument("--limit", type=int, default=0, help="at most this many clips (0: all)")
    p.add_argument("--figures", default=str(FIG_DIR))
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    models = Path(a.models)
    codec = Codec(models)
    clips = held_out_clips(limit=a.limit or None)
    res = evaluate(codec, clips)
    res["data"] = "middle %.0f s of each held-out file (engines.codec.data split)" % CLIP_S
    summary = {k: v for k, v in res.items() if k != "per_clip"}
    print(json.dumps(summary, indent=1))
    print(table(res))
    if a.no_write:
        return 0
    # three contrasting held-out clips: a music track, an effect, a spoken voice
    wanted = ("music", "explosion", "voice")
    for word in wanted:
        pick = next(((f, x) for f, x in clips if word in f.category), None)
        if pick is not None:
            figure(codec, *pick, Path(a.figures) / f"codec_{word}.png",
                   (res["griffin_lim"]["n_mels"], res["griffin_lim"]["levels"]))
    manifest.update(models / "manifest.json", {ENCODER: {}, DECODER: {}},
                    prepare=lambda n, new, old: {**old, "metrics": summary})
    manifest.report_path(models, "codec", "codec_eval.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
