"""Train Drum2Music (encoder-decoder transformer: drum bar + previous bar + mode + chord history
-> REMI-like bass/keys tokens of the bar) and export ``drum2music_encoder.onnx`` /
``drum2music_decoder.onnx``.

    python -m engines.rhythm.train.train_drum2music            # rebuilds the shipped models
    python -m engines.rhythm.train.train_drum2music --smoke --out /tmp/d2m
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from engines.manifest import report_path
from engines.rhythm import vocab as V
from engines.rhythm.train import common, data_drums as dd, data_music as dm
from engines.rhythm.train.genre_library import library_bars

CFG = dict(src_dim=dm.SRC_DIM, n_cond=dm.N_COND, n_cond_tokens=dm.N_COND_TOKENS, vocab=V.M_VOCAB,
           max_len=V.M_MAXLEN, d=64, heads=4, enc_layers=2, dec_layers=3, src_len=V.STEPS)
DATA = ("music21 corpus Bach chorales (public-domain scores; music21 BSD-3-clause), key-normalised, "
        f"every {dm.HOLD_OUT_EVERY}th chorale held out; drum bars paired from the Rhythm2Drum training data")


def samples(pieces):
    """(piece, bar index) pairs with a previous bar available or not."""
    return [(i, j) for i, p in enumerate(pieces) for j in range(len(p))]


def batch(pieces, index, drum_bars, rng, n):
    src, cond, toks = [], [], []
    for k in rng.integers(0, len(index), n):
        i, j = index[k]
        bars = pieces[i]
        bar = bars[j]
        notes = [tuple(x) for x in bar["notes"]]
        prev = [tuple(x) for x in bars[j - 1]["notes"]] if j > 0 else []
        chords = [V.M_CHORD0 + b["chord"] for b in bars[max(0, j - V.N_HIST):j]]
        src.append(dm.src_of(dm.synth_drums(notes, drum_bars, rng), prev))
        cond.append(dm.cond_of(bar["mode"], j, chords))
        t = V.notes_to_tokens(V.M_CHORD0 + bar["chord"], notes)
        toks.append(t + [V.M_PAD] * (V.M_MAXLEN - len(t)))
    return np.stack(src), np.stack(cond), np.array(toks, np.int64)


def main(argv=None) -> int:
    args = common.parser(__doc__.splitlines()[0], steps=2500).parse_args(argv)
    common.setup(args)
    import torch
    import torch.nn.functional as F

    from engines.rhythm.train.models import Seq2Seq, export_seq2seq, n_params

    timer = common.Timer()
    pieces = dm.build_cache(limit=12 if args.smoke else None)
    train, test = dm.split(pieces)
    drum_bars = [b for b in dd.load_bars(lmms=not args.smoke) if not dd.is_held_out(b["source"])] + library_bars()
    tri, tei = samples(train), samples(test)
    rng = np.random.default_rng(args.seed)
    model = Seq2Seq(**CFG)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    sched = common.schedule(opt, args.steps)
    ts, tc, tt = (torch.from_numpy(x) for x in batch(test, tei, drum_bars, np.random.default_rng(1), 256))
    log = []
    for step in range(args.steps):
        model.train()
        s, c, t = (torch.from_numpy(x) for x in batch(train, tri, drum_bars, rng, 32))
        logits = model(s, c, t[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V.M_VOCAB), t[:, 1:].reshape(-1), ignore_index=V.M_PAD)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps - 1:
            model.eval()
            with torch.no_grad():
                vl = F.cross_entropy(model(ts, tc, tt[:, :-1]).reshape(-1, V.M_VOCAB), tt[:, 1:].reshape(-1),
                                     ignore_index=V.M_PAD).item()
            log.append({"step": step, "train_loss": round(loss.item(), 4), "heldout_loss": round(vl, 4),
                        "wall_s": timer.s()})
            print(json.dumps(log[-1]), file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    meta = {"engine": "rhythm", "model": "drum2music", "config": json.dumps(CFG), "steps": args.steps}
    export_seq2seq(model, ts[:2], tc[:2], out, "drum2music", "cond", meta)
    info = {"params": n_params(model), "train_pieces": len(train), "heldout_pieces": len(test),
            "train_bars": len(tri), "heldout_bars": len(tei), "log": log, "wall_s": timer.s()}
    report_path(out, "rhythm", "drum2music_train.json").write_text(json.dumps(info, indent=1))
    if common.is_shipped(out):
        training = {"data": DATA, "steps": args.steps, "seed": args.seed, "params": info["params"],
                    "command": "python -m engines.rhythm.train.train_drum2music"}
        common.update_manifest(common.seq2seq_entries("drum2music", "cond", training))
    print(json.dumps({k: v for k, v in info.items() if k != "log"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
