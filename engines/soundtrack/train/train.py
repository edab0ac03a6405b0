"""Train the soundtrack transformer and export the shipped ONNX models (one command).

    .venv/bin/python -m engines.soundtrack.train.train            # rebuilds engines/models/soundtrack*.onnx
    .venv/bin/python -m engines.soundtrack.train.train --smoke --out /tmp/x   # CI: 3 steps on 6 pieces

Data: :mod:`engines.soundtrack.train.data` (music21 chorales arranged into the grid, synthetic
per-beat visual features from the same plan; split by piece, 10 % held out). Objective, per
batch: masked-token cross-entropy on the masked positions of every level (masking ratio per
sample from a Gaussian N(0.55, 0.25) truncated to [0.5, 1]; a level with k-step tokens (the
chord level: half bars) is masked k steps at a time; in 20 % of samples the first bar
is given unmasked, the continuation case of the long-video windows), the visual condition
dropped in 15 % of samples and the style in 25 % (classifier-free guidance), plus (every other
step) a symmetric InfoNCE loss between the pooled video-only and music-only embeddings (retrieval).
``--pairs FILE.npz`` replaces the synthetic pairs by real ones (grid windows from
``SymbolicLevels.encode`` of the music, visual windows from ``features.beat_features`` of the
video on the same beat grid: ``studio.adapters.soundtrack.video_features(timeline)`` gives them
for an analysed video). ``--unconditional`` trains the same network with the visual condition always dropped (the
baseline of the model card). Deterministic per ``--seed`` on one CPU thread.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engines.soundtrack.features import N_FEATURES
from engines.soundtrack.styles import NO_STYLE, STYLES
from engines.soundtrack.tokens import SymbolicLevels
from engines.soundtrack.train.data import build_windows, load_chorales, split_pieces
from engines.soundtrack.train.model import EmbedExport, GeneratorExport, SoundtrackNet

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "engines" / "models"
LEVELS = SymbolicLevels()
T_STEPS, V_BEATS = 64, 16
CONFIG = dict(d=96, heads=4, ff=256, n_modal=1, n_shared=2, emb_dim=64, dropout=0.1)
GEN_INPUTS = ["tokens", "visual", "style", "vis_keep"]
GEN_OUTPUTS = [f"logits_{n}" for n in LEVELS.names]
EMB_INPUTS = ["tokens", "visual"]
EMB_OUTPUTS = ["video_emb", "music_emb"]


def mask_ratio(rng: np.random.Generator, n: int, mean: float = 0.55, sd: float = 0.25,
               lo: float = 0.5, hi: float = 1.0) -> np.ndarray:
    """Truncated Gaussian masking ratios (rejection sampling)."""
    out = np.empty(0)
    while out.size < n:
        r = rng.normal(mean, sd, 4 * n)
        out = np.concatenate([out, r[(r >= lo) & (r <= hi)]])
    return out[:n]


def make_batch(data: dict, idx: np.ndarray, rng: np.random.Generator, unconditional: bool = False):
    grid = data["grid"][idx]
    B, T, L = grid.shape
    ratios = mask_ratio(rng, B)
    mask = rng.random((B, T, L)) < ratios[:, None, None]
    for lvl, k in enumerate(LEVELS.token_rates):  # a level made of k-step tokens is masked per token
        if k > 1:
            mask[..., lvl] = np.repeat(rng.random((B, T // k)) < ratios[:, None], k, axis=1)
    cont = rng.random(B) < 0.2
    mask[cont, :16] = False
    mask_ids = np.array(LEVELS.vocab_sizes)
    tokens = np.where(mask, mask_ids[None, None, :], grid)
    keep = (rng.random(B) >= 0.15).astype(np.float32)
    if unconditional:
        keep[:] = 0.0
    style = np.where(rng.random(B) < 0.25, NO_STYLE, data["style"][idx])
    return (torch.from_numpy(tokens), torch.from_numpy(data["visual"][idx]), torch.from_numpy(style),
            torch.from_numpy(keep), torch.from_numpy(grid), torch.from_numpy(mask))


def masked_loss(logits, target, mask):
    total, count = 0.0, 0
    for lvl, lg in enumerate(logits):
        m = mask[..., lvl]
        if m.any():
            total = total + F.cross_entropy(lg[m], target[..., lvl][m], reduction="sum")
            count += int(m.sum())
    return total / max(1, count)


def info_nce(net: SoundtrackNet, visual, grid):
    v = net.embed_video(visual)
    m = net.embed_music(grid)
    logits = net.logit_scale.exp().clamp(max=100) * v @ m.T
    labels = torch.arange(v.shape[0])
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def build_data(n_pieces: int | None, seed: int, log=print):
    t = time.time()
    pieces = load_chorales(limit=n_pieces, progress=lambda i, n: i % 50 == 0 and log(f"parsing corpus {i}/{n}"))
    train_p, test_p = split_pieces(pieces, 0.1, seed)
    train = build_windows(train_p, 6, seed)
    test = build_windows(test_p, 2, seed + 1000)
    log(f"data: {len(pieces)} pieces ({len(train_p)} train / {len(test_p)} held out), "
        f"{len(train['grid'])} / {len(test['grid'])} windows, {time.time() - t:.1f} s")
    return pieces, train, test


def load_pairs(path: Path, seed: int, log=print):
    """Real video-music pairs from an .npz: ``grid`` (N, 64, 4) int tokens, ``visual`` (N, 16, 11)
    float features, optional ``style`` (N,) ids and ``group`` (N,) ids (windows of one video share
    a group; 10 % of the groups are held out)."""
    from engines.soundtrack.styles import NO_STYLE

    try:
        with np.load(path) as z:
            grid = np.asarray(z["grid"], np.int64)
            vis = np.asarray(z["visual"], np.float32)
            n = len(grid)
            style = np.asarray(z["style"], np.int64) if "style" in z else np.full(n, NO_STYLE, np.int64)
            group = np.asarray(z["group"], np.int64) if "group" in z else np.arange(n)
    except (OSError, KeyError, ValueError) as exc:
        raise SystemExit(f"{path}: not a pairs file ({exc})") from None
    vocab = np.array(LEVELS.vocab_sizes)
    if grid.shape[1:] != (T_STEPS, len(vocab)) or vis.shape[1:] != (V_BEATS, N_FEATURES) or len(vis) != n:
        raise SystemExit(f"{path}: need grid (N, {T_STEPS}, {len(vocab)}) and visual (N, {V_BEATS}, {N_FEATURES})")
    if (grid < 0).any() or (grid >= vocab).any():
        raise SystemExit(f"{path}: token ids outside the level vocabularies {tuple(vocab)}")
    groups = np.unique(group)
    held = np.random.default_rng(seed).permutation(groups)[:max(1, len(groups) // 10)]
    test_m = np.isin(group, held)
    pick = lambda m: {"grid": grid[m], "visual": vis[m], "style": style[m]}  # noqa: E731
    log(f"data: {n} pairs from {path} ({int((~test_m).sum())} train / {int(test_m.sum())} held out)")
    return [], pick(~test_m), pick(test_m)


def evaluate_loss(net, data, rng, unconditional=False, n=512, batch=128):
    net.eval()
    losses = []
    with torch.no_grad():
        for a in range(0, min(n, len(data["grid"])), batch):
            idx = np.arange(a, min(a + batch, len(data["grid"]), n))
            tokens, vis, style, keep, grid, mask = make_batch(data, idx, rng, unconditional)
            losses.append(float(masked_loss(net(tokens, vis, style, keep), grid, mask)))
    net.train()
    return float(np.mean(losses))


def export(net: SoundtrackNet, out: Path, prefix: str, meta: dict) -> dict[str, Path]:
    from engines.onnx_export import export_onnx

    net.eval()
    tokens = torch.zeros(2, T_STEPS, len(LEVELS.names), dtype=torch.int64)
    vis = torch.zeros(2, V_BEATS, N_FEATURES)
    style = torch.zeros(2, dtype=torch.int64)
    keep = torch.ones(2)
    gen = out / f"{prefix}.onnx"
    emb = out / f"{prefix}_embed.onnx"
    export_onnx(GeneratorExport(net), (tokens, vis, style, keep), gen, GEN_INPUTS, GEN_OUTPUTS, meta)
    export_onnx(EmbedExport(net), (tokens, vis), emb, EMB_INPUTS, EMB_OUTPUTS, meta)
    return {"generator": gen, "embed": emb}


def check_onnx(net: SoundtrackNet, paths: dict[str, Path], data: dict) -> float:
    from engines.runtime import open_session

    rng = np.random.default_rng(5)
    tokens, vis, style, keep, _, _ = make_batch(data, np.arange(min(4, len(data["grid"]))), rng)
    with torch.no_grad():
        ref = net(tokens, vis, style, keep)
    sess = open_session(paths["generator"])
    got = sess.run(None, {"tokens": tokens.numpy(), "visual": vis.numpy(), "style": style.numpy(),
                          "vis_keep": keep.numpy()})
    return float(max(np.abs(r.numpy() - g).max() for r, g in zip(ref, got)))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MODELS, help="folder for the .onnx files and manifest.json")
    ap.add_argument("--prefix", default="soundtrack")
    ap.add_argument("--steps", type=int, default=1700)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--pieces", type=int, default=None, help="use only the first N corpus pieces")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", type=Path, default=None,
                    help="train on real video-music pairs (.npz, see load_pairs) instead of the synthetic ones")
    ap.add_argument("--unconditional", action="store_true", help="baseline: never see the video")
    ap.add_argument("--max-minutes", type=float, default=None, help="stop early after this wall time")
    ap.add_argument("--smoke", action="store_true",
                    help="3 steps on 6 pieces, batch 8 (tests); needs --out DIR, never the shipped models")
    args = ap.parse_args(argv)
    if args.smoke:
        from engines.manifest import is_shipped

        if is_shipped(args.out):
            raise SystemExit("--smoke needs --out DIR (it never overwrites the shipped models)")
        args.steps, args.batch = min(args.steps, 3), min(args.batch, 8)
        args.pieces = min(args.pieces or 6, 6)

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    if args.pairs:
        pieces, train, test = load_pairs(args.pairs, args.seed)
    else:
        pieces, train, test = build_data(args.pieces, args.seed)
    net = SoundtrackNet(LEVELS.vocab_sizes, N_FEATURES, len(STYLES), T_STEPS, V_BEATS, **CONFIG)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, min(200, args.steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    n = len(train["grid"])
    history = []
    done_steps = 0
    t_train = time.time()
    for step in range(args.steps):
        idx = rng.integers(0, n, args.batch)
        tokens, vis, style, keep, grid, mask = make_batch(train, idx, rng, args.unconditional)
        loss_tok = masked_loss(net(tokens, vis, style, keep), grid, mask)
        loss = loss_tok
        loss_nce = torch.zeros(())
        if not args.unconditional and step % 2 == 0:  # every other step (CPU budget)
            loss_nce = info_nce(net, vis, grid)
            loss = loss + loss_nce
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        done_steps = step + 1
        if step % 100 == 0 or step + 1 == args.steps:
            history.append([step, round(loss_tok.item(), 4), round(loss_nce.item(), 4)])
            print(f"step {step} token loss {loss_tok.item():.3f} nce {loss_nce.item():.3f} "
                  f"({time.time() - t_train:.0f} s)", flush=True)
        if args.max_minutes and time.time() - t0 > 60 * args.max_minutes:
            print(f"stopping at step {done_steps}: time limit", flush=True)
            break
    train_s = time.time() - t_train
    held_out = evaluate_loss(net, test, np.random.default_rng(123), args.unconditional)
    print(f"held-out masked-token loss {held_out:.3f}", flush=True)
    meta = {"engine": "soundtrack", "version": "1", "levels": json.dumps(LEVELS.names),
            "vocab_sizes": json.dumps(LEVELS.vocab_sizes), "steps_per_beat": "4", "grid_steps": str(T_STEPS),
            "visual_beats": str(V_BEATS), "n_features": str(N_FEATURES), "styles": json.dumps(STYLES),
            "config": json.dumps(CONFIG), "unconditional": str(bool(args.unconditional)),
            "train_steps": str(done_steps), "seed": str(args.seed)}
    args.out.mkdir(parents=True, exist_ok=True)
    paths = export(net, args.out, args.prefix, meta)
    diff = check_onnx(net, paths, test)
    print(f"onnx vs torch max |diff| {diff:.2e}", flush=True)
    report = {"train_steps": done_steps, "train_wall_s": round(train_s, 1), "parameters": n_params,
              "held_out_masked_loss": round(held_out, 4), "onnx_max_abs_diff": diff,
              "train_windows": int(len(train["grid"])), "held_out_windows": int(len(test["grid"])),
              "pieces": len(pieces), "pairs_file": str(args.pairs) if args.pairs else None, "history": history, "unconditional": bool(args.unconditional)}
    _write_manifest(args.out, args.prefix, paths, report)
    from engines.manifest import report_path

    report_path(args.out, "soundtrack", f"{args.prefix}_train.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def _write_manifest(out: Path, prefix: str, paths: dict[str, Path], report: dict) -> None:
    from engines import manifest
    from engines.runtime import sha256_of

    data = ("music21 corpus Bach chorales (corpus BSD-3-Clause, music public domain), arranged into the "
            "token grid by engines/soundtrack/train/data.py; video side: SYNTHETIC per-beat visual "
            "features generated from each arrangement's plan (not real video-music pairs)")
    licence = "MIT (trained here from public-domain music)"
    command = "python -m engines.soundtrack.train.train"
    if report.get("pairs_file"):
        data = f"user video-music pairs from {Path(report['pairs_file']).name}"
        licence = "that of the user's pairs"
        command += f" --pairs {report['pairs_file']}"
    common = {"training_data": data, "licence": licence, "train_command": command,
              "metrics": {k: report[k] for k in ("held_out_masked_loss", "train_steps", "parameters")}}
    manifest.update(out / "manifest.json", {
        prefix: {"file": paths["generator"].name, "sha256": sha256_of(paths["generator"]),
                 "inputs": GEN_INPUTS, "outputs": GEN_OUTPUTS, **common},
        f"{prefix}_embed": {"file": paths["embed"].name, "sha256": sha256_of(paths["embed"]),
                            "inputs": EMB_INPUTS, "outputs": EMB_OUTPUTS, **common}})


if __name__ == "__main__":
    main()
