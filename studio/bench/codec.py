"""Benchmark: the neural audio codec (engines/codec) on held-out recorded clips, against mu-law
and Griffin-Lim at the same bit rate, measured in the same run.

Clips: the middle 8 s of the first held-out files of the test set's sound packages
(``engines.codec.data.TEST_PACKAGES``: a music track, alerts, game effects; two clips, one with
``--quick``). For each: the codec's encode and decode (ONNX) timed, and the reconstruction
figures of the codec, 8-bit mu-law at bitrate/8 Hz and Griffin-Lim from a quantised mel
spectrogram (``engines.codec.evaluate.evaluate``). ``rtf_*`` are compute seconds per audio
second (< 1: faster than real time); ``realtime_factor`` is audio seconds per second of encode +
decode (target >= 20).
"""
from __future__ import annotations

from studio.jobs import Job

TARGET_REALTIME = 20.0


def run(job: Job | None = None, quick: bool = False) -> dict:
    from engines.codec import data as D
    from engines.codec.evaluate import evaluate, held_out_clips
    from engines.codec.infer import Codec
    from studio.errors import StudioError

    job = Job.quiet(job)
    job.report(0.05, "decoding held-out clips")
    clips = held_out_clips(D.TEST_PACKAGES)
    music = [c for c in clips if c[0].category == "music"][:1]
    other = [c for c in clips if c[0].category != "music"][:0 if quick else 1]
    clips = music + other
    if not clips:
        raise StudioError("no held-out sound to measure; install: " + ", ".join(D.TEST_PACKAGES))
    codec = Codec()
    codec.decode(codec.encode(clips[0][1][:24000], 24000))  # warm-up: sessions, allocations
    job.report(0.2, "coding and reconstructing")
    r = evaluate(codec, clips)
    rtf = r["rtf_encode"] + r["rtf_decode"]
    figures = {k: r[k]["all"] for k in ("codec", "mulaw", "griffin_lim")}
    return {
        "audio": f"{r['audio_s']} s: " + ", ".join(f"{f.package}/{f.path.rsplit('/', 1)[-1]}" for f, _ in clips),
        "baseline": (f"8-bit mu-law at {r['mulaw']['sample_rate']} Hz and Griffin-Lim from {r['griffin_lim']['n_mels']} "
                     f"mel bands x {r['griffin_lim']['levels']} levels, same bit rate"),
        "bitrate_bps": r["bitrate_bps"],
        "rtf_encode": r["rtf_encode"],
        "rtf_decode": r["rtf_decode"],
        "realtime_factor": round(1.0 / max(rtf, 1e-9), 1),
        "target_realtime_factor": TARGET_REALTIME,
        **{f"{m}_{k}": v for m, fig in figures.items() for k, v in fig.items()},
        "mr_stft_ratio_to_mulaw": round(figures["codec"]["mr_stft"] / figures["mulaw"]["mr_stft"], 3),
        "mr_stft_ratio_to_griffin_lim": round(figures["codec"]["mr_stft"] / figures["griffin_lim"]["mr_stft"], 3),
    }
