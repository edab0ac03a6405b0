"""How far apart the Foley materials sound: a between/within distance matrix.

    python -m engines.foley.material_distance [--hits 24] [--path preset|model|both] [--png FILE]
        [--json FILE] [--before EARLIER.json]

Hits are made the way the studio makes them (``studio/adapters/foley.py``): size 0.5 (the
adapter's default; nothing in the analysis measures size) with +-0.15 of user adjustment,
strength uniform in 0.15..1 (an impact's strength), a fresh seed per hit; physics from the
material preset (``preset`` path, the adapter's fallback) or sampled by the diffusion model
(``model`` path, what the studio uses), rendered at 48 kHz at natural length.

Feature of one hit (all in dB, so one distance unit is "1 dB RMS over the feature"):

* spectrum: power in the 24 critical bands (Bark, Zwicker's edges) averaged over the first
  200 ms, in dB re the hit's loudest band, floored at -60 dB (timbre, independent of loudness:
  strength changes level and a listener compares materials at any level);
* decay: the level at 50, 100, 200, 400, 800 and 1600 ms (mean over a 23 ms frame) in three
  regions (< 510 Hz, 510-2000 Hz, > 2 kHz), in dB re the hit's loudest onset frame, floored at
  -60 dB (ring time per register; 18 values).

42 values; the distance between two features is their RMS difference in dB. For each material
``within`` = the mean pairwise distance between its hits (how much one material's hits differ
from each other); for a pair ``between`` = the distance between the two materials' mean
features. A pair is *separated* when between > max(within of either): the two materials'
typical sounds differ by more than two hits of the same material typically do.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from engines.foley.dsp import natural_duration_s, synthesize
from engines.foley.materials import MATERIALS, preset

SR = 48_000
N_FFT, HOP = 1024, 256
BARK_EDGES_HZ = np.array([20, 100, 200, 300, 400, 510, 630, 770, 920, 1080, 1270, 1480, 1720, 2000,
                          2320, 2700, 3150, 3700, 4400, 5300, 6400, 7700, 9500, 12000, 15500], float)
SPEC_WINDOW_S = 0.2
DECAY_TIMES_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
REGIONS_HZ = ((20, 510), (510, 2000), (2000, 15500))
FLOOR_DB = -60.0
SIZE_RANGE = (0.35, 0.65)
STRENGTH_RANGE = (0.15, 1.0)


def _tables():
    fk = np.fft.rfftfreq(N_FFT, 1 / SR)
    band = np.searchsorted(BARK_EDGES_HZ, fk, side="right") - 1
    band[(fk < BARK_EDGES_HZ[0]) | (fk >= BARK_EDGES_HZ[-1])] = -1
    region = np.full(fk.size, -1)
    for r, (lo, hi) in enumerate(REGIONS_HZ):
        region[(fk >= lo) & (fk < hi)] = r
    return fk, band, region, np.hanning(N_FFT)


_FK, _BAND, _REGION, _WIN = _tables()


def features(y: np.ndarray) -> np.ndarray:
    """(42,) dB feature of one hit rendered at 48 kHz, onset at sample 0 (see module doc)."""
    need = int((max(DECAY_TIMES_S) + 0.05) * SR) + N_FFT
    x = np.zeros(need, np.float64)
    x[:min(need, y.size)] = y[:need]
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP] * _WIN
    pw = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-20
    t = np.arange(pw.shape[0]) * HOP / SR  # frame start times
    head = pw[t < SPEC_WINDOW_S].mean(0)
    bands = np.bincount(_BAND[_BAND >= 0], head[_BAND >= 0], minlength=24)[:24]
    spec = 10 * np.log10(bands + 1e-20)
    spec = np.maximum(spec - spec.max(), FLOOR_DB)
    reg = np.stack([pw[:, _REGION == r].sum(1) for r in range(len(REGIONS_HZ))], 1)  # (frames, 3)
    ref = 10 * np.log10(reg[:3].sum(1).max() + 1e-20)
    dec = []
    for r in range(len(REGIONS_HZ)):
        for ts in DECAY_TIMES_S:
            i = int(round(ts * SR / HOP))
            dec.append(10 * np.log10(reg[i:i + 4, r].mean() + 1e-20) - ref)
    dec = np.maximum(np.array(dec), FLOOR_DB)
    return np.concatenate([spec, dec]).astype(np.float32)


def conditions(n: int, seed: int):
    """n (size, strength, seed) triples as the studio would make them (see module doc)."""
    rng = np.random.default_rng(seed)
    sizes = rng.uniform(*SIZE_RANGE, n)
    strengths = rng.uniform(*STRENGTH_RANGE, n)
    return [(float(s), float(g), int(seed * 1000 + k)) for k, (s, g) in enumerate(zip(sizes, strengths))]


def hit_params(material: str, n: int, path: str, seed: int = 7):
    conds = conditions(n, seed)
    if path == "preset":
        return [preset(material, s, g, rng=k) for s, g, k in conds]
    from engines.foley.infer import sampler
    from engines.foley.params import unpack

    vecs = sampler().sample([material] * n, [c[0] for c in conds], [c[1] for c in conds],
                            [c[2] for c in conds])
    return [unpack(v) for v in vecs]


def material_features(materials, n: int, path: str, seed: int = 7) -> dict[str, np.ndarray]:
    out = {}
    for m in materials:
        ps = hit_params(m, n, path, seed)
        out[m] = np.stack([features(synthesize(p, SR, min(natural_duration_s(p, SR), 1.7), seed=k))
                           for k, p in enumerate(ps)])
    return out


def _rms(a, b) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def matrix(feats: dict[str, np.ndarray]) -> dict:
    """within (per material), between (per pair), and the separation verdicts."""
    names = list(feats)
    within = {}
    for m, f in feats.items():
        d = [_rms(f[i], f[j]) for i in range(len(f)) for j in range(i + 1, len(f))]
        within[m] = float(np.mean(d))
    cent = {m: f.mean(0) for m, f in feats.items()}
    k = len(names)
    M = np.zeros((k, k))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            M[i, j] = within[a] if i == j else _rms(cent[a], cent[b])
    pairs = []
    for i in range(k):
        for j in range(i + 1, k):
            pairs.append({"a": names[i], "b": names[j], "between": round(float(M[i, j]), 2),
                          "within_max": round(max(within[names[i]], within[names[j]]), 2),
                          "separated": bool(M[i, j] > max(within[names[i]], within[names[j]]))})
    worst = min(pairs, key=lambda p: p["between"] / p["within_max"])
    return {"materials": names, "matrix": M.round(2).tolist(),
            "within": {m: round(v, 2) for m, v in within.items()}, "pairs": pairs,
            "n_separated": sum(p["separated"] for p in pairs), "n_pairs": len(pairs),
            "worst": worst}


def plot(results: dict[str, dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(2, len(results))
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 5.6 * rows), squeeze=False)
    for ax, (title, r) in zip(axes.ravel(), results.items()):
        names = r["materials"]
        M = np.array(r["matrix"])
        # colour: between / max(within) of the pair (> 1 = separated); diagonal: 1
        w = np.array([r["within"][m] for m in names])
        ratio = M / np.maximum(w[:, None], w[None, :])
        im = ax.imshow(ratio, cmap="RdYlGn", vmin=0.4, vmax=1.6)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{M[i, j]:.1f}", ha="center", va="center", fontsize=7,
                        fontweight="bold" if i == j else "normal")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_title(f"{title}\n{r['n_separated']}/{r['n_pairs']} pairs separated", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, label="between / max within (>1 separated)")
    fig.suptitle("Foley material distance, dB RMS (diagonal: within-material spread; "
                 "off-diagonal: between-material distance)", fontsize=10)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=24)
    ap.add_argument("--path", choices=["preset", "model", "both"], default="both")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--png", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--before", type=Path, help="a --json file of an earlier run, drawn first in the PNG")
    a = ap.parse_args(argv)
    paths = ["preset", "model"] if a.path == "both" else [a.path]
    results = {}
    for p in paths:
        r = matrix(material_features(list(MATERIALS), a.hits, p, a.seed))
        results[f"{p} path ({a.hits} hits per material)"] = r
        print(f"== {p}: {r['n_separated']}/{r['n_pairs']} pairs separated; within: "
              + ", ".join(f"{m} {v:.1f}" for m, v in r["within"].items()))
        for q in sorted(r["pairs"], key=lambda q: q["between"] / q["within_max"])[:8]:
            print(f"   {q['a']:>8} vs {q['b']:<8} between {q['between']:5.1f}  max within "
                  f"{q['within_max']:5.1f}  {'ok' if q['separated'] else 'NOT separated'}")
    if a.png:
        drawn = {}
        if a.before:
            drawn.update({f"before: {k}": v for k, v in json.loads(a.before.read_text()).items()})
        drawn.update({(f"after: {k}" if a.before else k): v for k, v in results.items()})
        plot(drawn, a.png)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
