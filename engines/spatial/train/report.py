"""Rooms that sound like rooms: figures and numbers for the spatial model card (issue 17).

    python -m engines.spatial.train.report [--positions 12] [--out docs/screenshots]

* direct-path magnitude response per room, averaged over directions: power average over both
  ears of the HRIRs the direct path uses at random source / listener / head-yaw positions of
  the room (``data.positions``, its own seed), 1/3-octave smoothed, raw KEMAR table (before)
  against the engine's ``spatial_hrir`` (after); deviation = max |dB - mean dB| over 200 Hz -
  8 kHz; ILD at 2-4 kHz for a source 90 degrees to the left;
* energy decay curves (Schroeder backward integration, both ears, in dB re the direct path's
  energy) of the engine (``Field.query``) against the teacher (``teacher.brir``) at the same
  positions, and Barron's revised diffuse-field theory (reverberant energy after t relative
  to direct at distance r: 16 pi r^2 / A e^{-13.82 t / T}, A = 0.161 V / T, T the room's Sabine
  time at 500 Hz-2 kHz);
* tail level (energy after 100 ms) and early level (0-100 ms, direct path excluded) of the
  engine against the teacher, mean over positions, after, and with ``--before DIR`` before too
  (the fields from before issue 17, raw HRIR table, teacher without EQ and DC blocker).

Needs the ``[train]`` extra (the teacher) and matplotlib. Writes
``spatial_direct_response.png``, ``spatial_edc.png`` and ``spatial_rooms.json`` to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from engines.spatial import dsp, hrtf
from engines.spatial.rooms import PRESETS, Room

FS = dsp.IR_RATE
N_FFT = 1024
BAND = (200.0, 8000.0)
SEED = 4242  # positions no field was trained or evaluated on (training seeds 0, 11-23)


def direct_response(table: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f, smoothed power response in dB) of the HRIRs ``table[idx]``, both ears."""
    P = np.abs(np.fft.rfft(table[idx].astype(np.float64), N_FFT, axis=-1)) ** 2
    f = np.fft.rfftfreq(N_FFT, 1.0 / FS)
    return f, 10 * np.log10(hrtf.third_octave_smooth(f, P.mean(axis=(0, 1))))


def deviation_db(f: np.ndarray, db: np.ndarray, band=BAND) -> float:
    sel = (f >= band[0]) & (f <= band[1])
    return float(np.max(np.abs(db[sel] - db[sel].mean())))


def ild_db(h: np.ndarray, lo: float = 2000.0, hi: float = 4000.0) -> float:
    """Left-over-right level difference (dB) of one HRIR pair (2, taps) in lo..hi."""
    H = np.abs(np.fft.rfft(h.astype(np.float64), N_FFT, axis=-1)) ** 2
    f = np.fft.rfftfreq(N_FFT, 1.0 / FS)
    sel = (f >= lo) & (f <= hi)
    return float(10 * np.log10(H[0, sel].sum() / H[1, sel].sum()))


def head_dirs(r: Room, pos: np.ndarray) -> np.ndarray:
    from engines.spatial.infer import head_vectors

    return head_vectors(pos[:, 0:3], pos[:, 3:6], pos[:, 6])


def _session(path: Path):
    from engines.runtime import open_session

    return open_session(path, intra_threads=1)


def engine_irs(room: str, pos: np.ndarray, before: Path | None = None) -> np.ndarray:
    """The engine's BRIRs (P, 2, n) at ``pos``. ``before``: a models folder holding the fields as
    they were before issue 17 (``git show ed1b3e6:engines/models/spatial_ROOM.onnx``), assembled
    as then (raw HRIR table, no DC blocker)."""
    from engines import runtime

    r = PRESETS[room]
    sess = _session((before or runtime.MODELS_DIR) / f"spatial_{room}.onnx")
    src, lis, yaw = pos[:, 0:3].astype(np.float32), pos[:, 3:6].astype(np.float32), pos[:, 6:7].astype(np.float32)
    early, tail = sess.run(None, {"src": src, "lis": lis, "yaw": yaw})
    table = hrtf.default_hrtf(FS, 128, equalise=before is None)
    hr = table.ir[table.nearest(head_dirs(r, pos))]
    n = int(round(r.ir_s * FS))
    dist = np.linalg.norm(pos[:, 0:3] - pos[:, 3:6], axis=-1)
    return np.stack([dsp.place_direct(hr[i], dist[i], n) + dsp.early_to_ir_rate(early[i], n, dc_blocked=before is None)
                     + dsp.tail(tail[i], n) for i in range(len(pos))])


def teacher_irs(room: str, pos: np.ndarray, before: bool = False):
    """The teacher's IRs; ``before``: raw HRIRs, no DC blocker (the teacher before issue 17)."""
    from engines.spatial import teacher

    r = PRESETS[room]
    h = hrtf.default_hrtf(FS, 128, equalise=not before)
    return [teacher.brir(r, p[0:3], p[3:6], float(p[6]), hrtf=h, dc_blocked=not before) for p in pos]


def levels(irs: np.ndarray, direct: np.ndarray) -> dict:
    """Energies (dB, both ears) of the early part (0-100 ms without the direct path) and the tail
    (after 100 ms) of each IR, the direct path's energy given apart."""
    i = int(round(dsp.EARLY_S * FS))
    rest = irs.astype(np.float64) - direct
    return {"early": 10 * np.log10(np.sum(rest[:, :, :i] ** 2, axis=(1, 2))),
            "tail": 10 * np.log10(np.sum(rest[:, :, i:] ** 2, axis=(1, 2)) + 1e-30),
            "direct": 10 * np.log10(np.sum(direct.astype(np.float64) ** 2, axis=(1, 2)))}


def direct_of(room: str, pos: np.ndarray, before: bool) -> np.ndarray:
    r = PRESETS[room]
    table = hrtf.default_hrtf(FS, 128, equalise=not before)
    hr = table.ir[table.nearest(head_dirs(r, pos))]
    n = int(round(r.ir_s * FS))
    dist = np.linalg.norm(pos[:, 0:3] - pos[:, 3:6], axis=-1)
    return np.stack([dsp.place_direct(hr[i], dist[i], n) for i in range(len(pos))]).astype(np.float64)


def barron(r: Room, dist: float, t: np.ndarray) -> np.ndarray:
    """Reverberant energy arriving after t (s from emission) over the direct energy, diffuse field."""
    from engines.spatial import teacher

    th = teacher.theory_rt60(r)
    T = float(np.mean(th["sabine_s"][2:5]))
    V = float(np.prod(r.dims))
    A = 0.161 * V / T
    return 16 * math.pi * dist ** 2 / A * np.exp(-13.82 * np.maximum(t, dist / 343.0) / T)


def edc_db(h: np.ndarray, ref: float) -> np.ndarray:
    e = np.cumsum(np.sum(h.astype(np.float64) ** 2, axis=0)[::-1])[::-1]
    return 10 * np.log10(np.maximum(e / ref, 1e-12))


MID_BANDS = (2, 3, 4)  # 500 Hz, 1 kHz, 2 kHz octave bands


def band_tail_re_direct(irs: np.ndarray, direct: np.ndarray) -> np.ndarray:
    """(P, 3): tail energy (after 100 ms) over the direct path's energy, per mid octave band, dB."""
    i = int(round(dsp.EARLY_S * FS))
    rest = dsp.band_split(irs.astype(np.float64) - direct)[:, :, MID_BANDS]
    dirb = dsp.band_split(direct)[:, :, MID_BANDS]
    return 10 * np.log10(np.sum(rest[..., i:] ** 2, axis=(1, 3)) / np.sum(dirb ** 2, axis=(1, 3)))


def barron_band(r: Room, dist: float) -> np.ndarray:
    """(3,): Barron's reverberant energy after 100 ms over direct, dB, per mid octave band (Sabine T)."""
    from engines.spatial import teacher

    T = np.asarray(teacher.theory_rt60(r)["sabine_s"])[list(MID_BANDS)]
    A = 0.161 * float(np.prod(r.dims)) / T
    return 10 * np.log10(16 * math.pi * dist ** 2 / A * np.exp(-13.82 * dsp.EARLY_S / T))


def compare(room: str, n_pos: int, seed: int = SEED, before_models: Path | None = None) -> dict:
    """Engine vs teacher levels at ``n_pos`` positions, before and after equalisation."""
    from engines.spatial.train.data import positions

    r = PRESETS[room]
    pos = positions(r, n_pos, seed)
    dist = np.linalg.norm(pos[:, 0:3] - pos[:, 3:6], axis=-1)
    theory = np.stack([barron_band(r, d) for d in dist])
    out = {}
    runs = (("before", True), ("after", False)) if before_models else (("after", False),)
    for label, before in runs:
        d = direct_of(room, pos, before)
        t = teacher_irs(room, pos, before)
        t_ir, t_dir = np.stack([x.ir for x in t]), np.stack([x.direct for x in t]).astype(np.float64)
        e_ir = engine_irs(room, pos, before_models if before else None)
        lt, le = levels(t_ir, t_dir), levels(e_ir, d)
        bt, be = band_tail_re_direct(t_ir, t_dir), band_tail_re_direct(e_ir, d)
        out[label] = {
            "tail_engine_vs_teacher_db": float(np.mean(le["tail"] - lt["tail"])),
            "tail_engine_vs_teacher_worst_db": float(np.max(np.abs(le["tail"] - lt["tail"]))),
            "early_engine_vs_teacher_db": float(np.mean(le["early"] - lt["early"])),
            "tail_re_direct_broadband_teacher_db": float(np.mean(lt["tail"] - lt["direct"])),
            "tail_re_direct_broadband_engine_db": float(np.mean(le["tail"] - le["direct"])),
            "tail_re_direct_500_1k_2k_teacher_db": np.round(bt.mean(0), 2).tolist(),
            "tail_re_direct_500_1k_2k_engine_db": np.round(be.mean(0), 2).tolist(),
            "tail_re_direct_500_1k_2k_barron_db": np.round(theory.mean(0), 2).tolist(),
        }
    out["mean_distance_m"] = float(dist.mean())
    return out


def main(argv=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from engines.spatial.train.data import positions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=12)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[3] / "docs" / "screenshots"))
    ap.add_argument("--before", metavar="DIR", help="models folder with the fields from before issue 17 "
                    "(git show ed1b3e6:engines/models/spatial_ROOM.onnx > DIR/spatial_ROOM.onnx): "
                    "adds their levels and decay curves")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = hrtf.default_hrtf(FS, 128, equalise=False)
    eq = hrtf.default_hrtf(FS, 128)
    from engines.spatial import infer

    report: dict = {"hrtf": eq.source, "positions_per_room": a.positions, "seed": SEED, "rooms": {}}
    # --- direct-path response per room
    fig, axes = plt.subplots(1, len(PRESETS), figsize=(15, 4.2), sharey=True)
    for ax, room in zip(axes, PRESETS):
        r = PRESETS[room]
        pos = positions(r, 256, SEED)
        dirs = head_dirs(r, pos)
        f, before = direct_response(raw.ir, raw.nearest(dirs))
        fi = infer.field(room)
        (hr,) = fi.hrir_session.run(None, {"dir": dirs.astype(np.float32)})  # the shipped lookup
        _, after = direct_response(hr, np.arange(len(hr)))
        k1, k25 = int(np.argmin(np.abs(f - 1000))), int(np.argmin(np.abs(f - 2500)))
        lv = np.array([[0.0, 1.0, 0.0]])
        (h_left,) = fi.hrir_session.run(None, {"dir": lv.astype(np.float32)})
        report["rooms"][room] = {
            "direct_dev_200_8k_db": {"before": round(deviation_db(f, before), 2),
                                     "after": round(deviation_db(f, after), 2)},
            "direct_2k5_minus_1k_db": {"before": round(float(before[k25] - before[k1]), 2),
                                       "after": round(float(after[k25] - after[k1]), 2)},
            "ild_left_90deg_2_4k_db": {"before": round(ild_db(raw.ir[raw.nearest(lv)[0]]), 2),
                                       "after": round(ild_db(h_left[0]), 2)},
        }
        ax.semilogx(f[1:], before[1:], label="raw KEMAR (before)", color="tab:red")
        ax.semilogx(f[1:], after[1:], label="diffuse-field equalised (after)", color="tab:blue")
        ax.axvspan(*BAND, color="0.93", zorder=0)
        m = after[(f >= BAND[0]) & (f <= BAND[1])].mean()
        ax.axhline(m + 3, color="tab:blue", ls=":", lw=0.8)
        ax.axhline(m - 3, color="tab:blue", ls=":", lw=0.8)
        ax.set_xlim(50, 22000)
        ax.set_title(f"{room}: direct path, mean of 256 positions x 2 ears")
        ax.set_xlabel("Hz")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("dB (1/3-octave smoothed)")
    axes[0].legend(loc="lower center", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "spatial_direct_response.png", dpi=110)
    plt.close(fig)
    # --- energy decay curves + levels
    fig, axes = plt.subplots(1, len(PRESETS), figsize=(15, 4.2))
    for ax, room in zip(axes, PRESETS):
        r = PRESETS[room]
        lis = np.array(r.listener)
        pts = [r.default_source(), r.clip(lis + [3.0, 2.5, -0.4])]
        for k, src in enumerate(pts):
            p = np.concatenate([src, lis, [r.listener_yaw]])[None]
            t = teacher_irs(room, p)[0]
            e = engine_irs(room, p)[0]
            ref = float(np.sum(t.direct.astype(np.float64) ** 2))
            tt = np.arange(t.ir.shape[-1]) / FS
            dist = float(np.linalg.norm(src - lis))
            ax.plot(tt, edc_db(t.ir, ref), color="tab:orange", lw=1.6 - 0.6 * k, label=f"teacher, r={dist:.1f} m")
            ax.plot(tt, edc_db(e, ref), color="tab:blue", ls="--", lw=1.6 - 0.6 * k, label=f"engine, r={dist:.1f} m")
            ax.plot(tt, 10 * np.log10(barron(r, dist, tt)), color="0.5", ls=":", lw=1.2 - 0.4 * k,
                    label=f"diffuse theory, r={dist:.1f} m")
            if a.before and k == 0:
                tb = teacher_irs(room, p, before=True)[0]
                eb = engine_irs(room, p, Path(a.before))[0]
                refb = float(np.sum(tb.direct.astype(np.float64) ** 2))
                ax.plot(tt, edc_db(eb, refb), color="tab:red", ls="-.", lw=0.9,
                        label=f"engine before (raw KEMAR), r={dist:.1f} m")
        ax.set_title(f"{room}: Schroeder EDC re direct energy")
        ax.set_xlabel("s")
        ax.set_ylim(-60, 12)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("dB")
    fig.tight_layout()
    fig.savefig(out / "spatial_edc.png", dpi=110)
    plt.close(fig)
    for room in PRESETS:
        c = compare(room, a.positions, before_models=Path(a.before) if a.before else None)
        report["rooms"][room]["levels"] = {k: ({kk: (round(vv, 2) if isinstance(vv, float) else vv)
                                                for kk, vv in v.items()} if isinstance(v, dict) else round(v, 2))
                                           for k, v in c.items()}
    (out / "spatial_rooms.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
