"""Train Rhythm2Drum (encoder-decoder transformer: bar of rhythm activation + style -> drum-hit
tokens) and export ``rhythm2drum_encoder.onnx`` / ``rhythm2drum_decoder.onnx``.

    python -m engines.rhythm.train.train_rhythm2drum            # rebuilds the shipped models
    python -m engines.rhythm.train.train_rhythm2drum --smoke --out /tmp/r2d
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from engines.manifest import report_path
from engines.rhythm import vocab as V
from engines.rhythm.train import common, data_drums as dd
from engines.rhythm.train.genre_library import library_bars

CFG = dict(src_dim=5, n_cond=len(V.STYLES), n_cond_tokens=1, vocab=V.D_VOCAB, max_len=V.D_MAXLEN,
           d=64, heads=4, enc_layers=2, dec_layers=2, src_len=V.STEPS)
DATA = ("Debian hydrogen-data demo songs (GPL-2+), Debian lmms-common demo projects (GPL-2+ / "
        "BSD-2-clause / CC-BY-SA-3.0/4.0 per file), the project's genre-pattern library (CC0); "
        "held-out songs: " + ", ".join(dd.HELD_OUT))


def src_features(act: np.ndarray) -> np.ndarray:
    """(..., 16) activation -> (..., 16, 5): activation + position-in-beat one-hot."""
    act = np.asarray(act, np.float32)
    pos = np.zeros(act.shape + (4,), np.float32)
    pos[..., np.arange(V.STEPS), np.arange(V.STEPS) % 4] = 1.0
    return np.concatenate([act[..., None], pos], axis=-1)


def split(smoke: bool = False):
    real = dd.load_bars(hydrogen=True, lmms=not smoke)
    train = [b for b in real if not dd.is_held_out(b["source"])]
    test = [b for b in real if dd.is_held_out(b["source"])]
    return train + library_bars(), test


def batch(bars, rng, n, aug=True):
    src, sty, toks = [], [], []
    for i in rng.integers(0, len(bars), n):
        b = dd.augment(bars[i], rng) if aug else bars[i]
        a = dd.activation_of(b["hits"], b["vel"])
        src.append(src_features(dd.noisy_activation(a, rng) if aug else a))
        sty.append([V.STYLES.index(b["style"])])
        t = V.grid_to_tokens(b["hits"])
        toks.append(t + [V.D_PAD] * (V.D_MAXLEN - len(t)))
    return np.stack(src), np.array(sty, np.int64), np.array(toks, np.int64)


def main(argv=None) -> int:
    args = common.parser(__doc__.splitlines()[0], steps=1200).parse_args(argv)
    common.setup(args)
    import torch
    import torch.nn.functional as F

    from engines.rhythm.train.models import Seq2Seq, export_seq2seq, n_params

    timer = common.Timer()
    train, test = split(args.smoke)
    rng = np.random.default_rng(args.seed)
    model = Seq2Seq(**CFG)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    sched = common.schedule(opt, args.steps)
    tsrc, tsty, ttok = batch(test or train, np.random.default_rng(1), 256, aug=False)
    log = []
    for step in range(args.steps):
        model.train()
        src, sty, tok = (torch.from_numpy(x) for x in batch(train, rng, 32))
        logits = model(src, sty, tok[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V.D_VOCAB), tok[:, 1:].reshape(-1), ignore_index=V.D_PAD)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps - 1:
            model.eval()
            with torch.no_grad():
                tl = model(*(torch.from_numpy(x) for x in (tsrc, tsty)), torch.from_numpy(ttok[:, :-1]))
                vl = F.cross_entropy(tl.reshape(-1, V.D_VOCAB), torch.from_numpy(ttok[:, 1:]).reshape(-1),
                                     ignore_index=V.D_PAD).item()
            log.append({"step": step, "train_loss": round(loss.item(), 4), "heldout_loss": round(vl, 4),
                        "wall_s": timer.s()})
            print(json.dumps(log[-1]), file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    meta = {"engine": "rhythm", "model": "rhythm2drum", "config": json.dumps(CFG), "steps": args.steps}
    src, sty, _ = (torch.from_numpy(x) for x in batch(train, rng, 2))
    export_seq2seq(model, src, sty, out, "rhythm2drum", "style", meta)
    info = {"params": n_params(model), "train_bars_real": len(train) - len(library_bars()),
            "train_bars_library": len(library_bars()), "heldout_bars": len(test), "log": log,
            "wall_s": timer.s()}
    report_path(out, "rhythm", "rhythm2drum_train.json").write_text(json.dumps(info, indent=1))
    if common.is_shipped(out):
        training = {"data": DATA, "steps": args.steps, "seed": args.seed, "params": info["params"],
                    "command": "python -m engines.rhythm.train.train_rhythm2drum"}
        common.update_manifest(common.seq2seq_entries("rhythm2drum", "style", training))
    print(json.dumps({k: v for k, v in info.items() if k != "log"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
