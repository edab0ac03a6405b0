"""Torch model of the performer engine (training only; run time uses the exported ONNX graphs).

Encoder (Foley Music's GCN encoder, small): per-frame joint features (``vocab.frame_features``: x, y,
vx, vy, seen, ax, ay and three motion-onset channels) ->
two spatio-temporal graph-conv blocks (graph conv over the skeleton adjacency ``A`` of
``keypoints.BONES``, then a temporal conv per joint) -> joints flattened -> linear -> dilated
temporal conv stack, + instrument embedding + a sinusoidal embedding of each frame's time.
Decoder: a pre-norm transformer over MIDI event tokens (``vocab``), with causal self-attention,
cross-attention to the encoder memory and the same sinusoidal embedding of the decoder's clock
(the time reached so far), so that "now" in the token stream lines up with "now" in the video.
Blocks (attention, MLP) are the rhythm engine's.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engines.rhythm.train.models import Block, cached_step, export_onnx, n_params

__all__ = ["PerformerNet", "STGCN", "export", "gather_local", "load_onnx_weights", "n_params", "time_embedding",
           "widen_inputs"]


def time_embedding(t, d: int):
    """t (..., n) float in 10 ms units -> (..., n, d) sinusoids (periods 20 ms .. ~80 s)."""
    half = d // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(4000.0) / max(1, half - 1))) * math.pi
    a = t[..., None] * freq
    return torch.cat([torch.sin(a), torch.cos(a)], -1)


LOCAL_FRAMES = (0, 2, 5)  # frames after the clock whose memory the decoder reads directly


def gather_local(memory, clock, fps: float = 30.0):
    """memory (B, S, d), clock (B, L) in 10 ms units -> (B, L, len(LOCAL_FRAMES) * d)."""
    s = memory.shape[1]
    base = torch.floor(clock * (fps / 100.0) + 0.5).long()
    outs = []
    for off in LOCAL_FRAMES:
        idx = torch.clamp(base + off, 0, s - 1)
        outs.append(torch.gather(memory, 1, idx[..., None].expand(-1, -1, memory.shape[2])))
    return torch.cat(outs, -1)


class STGCN(nn.Module):
    def __init__(self, cin, cout, A, k=5):
        super().__init__()
        self.register_buffer("A", torch.as_tensor(A, dtype=torch.float32))
        self.w = nn.Linear(cin, cout)
        self.tconv = nn.Conv2d(cout, cout, (k, 1), padding=(k // 2, 0))
        self.norm = nn.GroupNorm(4, cout)
        self.res = nn.Linear(cin, cout) if cin != cout else nn.Identity()

    def forward(self, x):  # (B, T, J, C)
        h = torch.einsum("ij,btjc->btic", self.A, self.w(x))
        h = self.tconv(F.gelu(h).permute(0, 3, 1, 2))  # (B, C, T, J)
        h = F.gelu(self.norm(h)).permute(0, 2, 3, 1)
        return h + self.res(x)


class PerformerNet(nn.Module):
    def __init__(self, A, n_joints: int, vocab: int, n_instruments: int, max_len: int, d: int = 128,
                 gc: int = 32, heads: int = 4, dec_layers: int = 3, cin: int = 5):
        super().__init__()
        self.g1 = STGCN(cin, gc, A)
        self.g2 = STGCN(gc, gc, A)
        self.proj = nn.Linear(n_joints * gc, d)
        self.tconvs = nn.ModuleList(nn.Conv1d(d, d, 3, padding=r, dilation=r) for r in (1, 2, 4, 1))
        self.tnorms = nn.ModuleList(nn.GroupNorm(8, d) for _ in range(4))
        self.inst = nn.Embedding(n_instruments, d)
        self.enc_norm = nn.LayerNorm(d)
        self.time_in = nn.Linear(d, d)
        self.tok = nn.Embedding(vocab, d)
        self.tgt_pos = nn.Parameter(torch.randn(1, max_len, d) * 0.02)
        self.dec = nn.ModuleList(Block(d, heads, True, drop=0.1) for _ in range(dec_layers))
        self.dec_norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        # local conditioning: the memory frames at the clock (and just ahead) go straight into the
        # decoder input (zero-initialised: added on top of a trained model for fine-tuning)
        self.local = nn.Linear(len(LOCAL_FRAMES) * d, d)
        nn.init.zeros_(self.local.weight)
        nn.init.zeros_(self.local.bias)
        self.d, self.max_len, self.fps = d, max_len, 30.0

    def encode(self, src, instrument, fps: float = 30.0):
        """src (B, T, J, cin), instrument (B, 1) int64 -> memory (B, T, d)."""
        b, t = src.shape[0], src.shape[1]
        h = self.g2(self.g1(src))
        h = self.proj(h.reshape(b, t, -1)).transpose(1, 2)  # (B, d, T)
        for conv, norm in zip(self.tconvs, self.tnorms):
            h = h + F.gelu(norm(conv(h)))
        h = h.transpose(1, 2) + self.inst(instrument)
        ft = torch.arange(t, dtype=torch.float32) * (100.0 / fps)
        h = h + self.time_in(time_embedding(ft, self.d))[None]
        return self.enc_norm(h)

    def _embed(self, tokens, clock, pos, memory):
        return (self.tok(tokens) + pos + self.time_in(time_embedding(clock, self.d))
                + self.local(gather_local(memory, clock, self.fps)))

    def decode(self, tokens, clock, memory):
        """tokens (B, L) int64, clock (B, L) float (10 ms units after each token) -> logits (B, L, V)."""
        t = tokens.shape[1]
        x = self._embed(tokens, clock, self.tgt_pos[:, :t], memory)
        i = torch.arange(t, device=tokens.device)
        mask = torch.where(i[None, :] > i[:, None], -1e9, 0.0).to(x.dtype)[None, None]
        for blk in self.dec:
            x = blk(x, memory, mask)
        return self.head(self.dec_norm(x))

    def step(self, token, pos, clock, memory, past_k, past_v):
        """One decoder step with a key/value cache: token (B, 1), pos (1,), clock (B, 1) float,
        memory (B, S, d), past_k/past_v (layers, B, heads, P, dh) -> logits (B, V), present_k/v."""
        x = self._embed(token, clock, self.tgt_pos[0].index_select(0, pos)[None], memory)
        x, present_k, present_v = cached_step(self.dec, x, memory, past_k, past_v)
        return self.head(self.dec_norm(x))[:, 0], present_k, present_v


class _Enc(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, src, instrument):
        return self.m.encode(src, instrument)


class _Step(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, token, pos, clock, memory, past_k, past_v):
        return self.m.step(token, pos, clock, memory, past_k, past_v)


ENC_INPUTS, ENC_OUTPUTS = ["src", "instrument"], ["memory"]
DEC_INPUTS, DEC_OUTPUTS = ["token", "pos", "clock", "memory", "past_k", "past_v"], ["logits", "present_k", "present_v"]


def export(model: PerformerNet, src, instrument, out_dir, meta: dict) -> None:
    """performer_encoder.onnx + performer_decoder.onnx (one step, key/value cache), the cached
    steps checked against the full teacher-forced decoder."""
    from pathlib import Path

    from engines.runtime import open_session

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    export_onnx(_Enc(model), (src, instrument), out_dir / "performer_encoder.onnx", ENC_INPUTS, ENC_OUTPUTS,
                {"src": {0: "batch"}, "instrument": {0: "batch"}, "memory": {0: "batch"}}, meta)
    with torch.no_grad():
        mem = model.encode(src, instrument)
    layers, heads, dh = len(model.dec), model.dec[0].sa.h, model.dec[0].sa.dh
    b = src.shape[0]
    past = torch.zeros(layers, b, heads, 1, dh)
    export_onnx(_Step(model), (torch.ones(b, 1, dtype=torch.long), torch.tensor([1]), torch.zeros(b, 1), mem, past, past),
                out_dir / "performer_decoder.onnx", DEC_INPUTS, DEC_OUTPUTS,
                {"token": {0: "batch"}, "clock": {0: "batch"}, "memory": {0: "batch"},
                 "past_k": {1: "batch", 3: "past"}, "past_v": {1: "batch", 3: "past"}, "logits": {0: "batch"},
                 "present_k": {1: "batch", 3: "length"}, "present_v": {1: "batch", 3: "length"}}, meta)
    enc = open_session(out_dir / "performer_encoder.onnx")
    m2 = enc.run(None, {"src": src.numpy(), "instrument": instrument.numpy()})[0]
    if float(np.abs(m2 - mem.numpy()).max()) > 1e-3:
        raise RuntimeError("performer encoder export differs from torch")
    sess = open_session(out_dir / "performer_decoder.onnx")
    seq = torch.randint(3, model.head.out_features, (b, 6))
    clk = torch.cumsum(torch.rand(b, 6) * 5, 1)
    with torch.no_grad():
        full = model.decode(seq, clk, mem).numpy()
    pk = pv = np.zeros((layers, b, heads, 0, dh), np.float32)
    for i in range(seq.shape[1]):
        lg, pk, pv = sess.run(None, {"token": seq[:, i:i + 1].numpy(), "pos": np.array([i], np.int64),
                                     "clock": clk[:, i:i + 1].numpy(), "memory": mem.numpy(),
                                     "past_k": pk, "past_v": pv})
        err = float(np.abs(lg - full[:, i]).max())
        if err > 1e-3:
            raise RuntimeError(f"performer decoder step {i} differs from the full decoder by {err}")


def load_onnx_weights(model: PerformerNet, enc_path, dec_path) -> None:
    """Put the weights of an exported encoder/decoder pair back into ``model`` (for fine-tuning
    a shipped model; the graphs of this file, exported with constant folding: named parameters
    keep their names, folded MatMul / GroupNorm constants come in the order of use)."""
    import onnx
    from onnx import numpy_helper

    sd = {k: v.clone() for k, v in model.state_dict().items()}

    def inits(path):
        return [(i.name, numpy_helper.to_array(i)) for i in onnx.load(str(path)).graph.initializer]

    for path, order in ((enc_path, None), (dec_path, None)):
        anon = []
        for name, arr in inits(path):
            if name.startswith("m.") and name[2:] in sd:
                sd[name[2:]] = torch.from_numpy(arr.copy())
            elif not name.startswith("m."):
                anon.append(arr)
        if path == enc_path:
            targets = ["g1.w.weight", ("g1.norm.weight", "g1.norm.bias"), "g1.res.weight", "g2.w.weight",
                       ("g2.norm.weight", "g2.norm.bias"), "proj.weight"] + \
                      [(f"tnorms.{i}.weight", f"tnorms.{i}.bias") for i in range(len(model.tnorms))]
        else:
            targets = ["tgt_pos", "time_in.weight"]
            for i in range(len(model.dec)):
                targets += [f"dec.{i}.{n}.weight" for n in ("sa.q", "sa.kv", "sa.o", "ca.q", "ca.kv", "ca.o", "mlp.0", "mlp.2")]
            targets += ["head.weight"]
            if len(anon) == len(targets) + 1:  # a graph with the local-conditioning layer
                targets.insert(2, "local.weight")
        it = iter(anon)
        for tg in targets:
            if isinstance(tg, tuple):
                sd[tg[0]] = torch.from_numpy(next(it).reshape(-1).copy())
                sd[tg[1]] = torch.from_numpy(next(it).reshape(-1).copy())
            elif tg == "tgt_pos":
                sd[tg] = torch.from_numpy(next(it).copy())[None]
            else:
                sd[tg] = torch.from_numpy(next(it).T.copy())
    model.load_state_dict(sd)


def widen_inputs(old: PerformerNet, new: PerformerNet) -> None:
    """Copy ``old``'s weights into ``new``, which reads more input channels per joint: the first
    layer's weights for the extra channels start at zero (the old model's outputs are unchanged)."""
    sd = new.state_dict()
    for k, v in old.state_dict().items():
        if sd[k].shape == v.shape:
            sd[k] = v.clone()
        elif k in ("g1.w.weight", "g1.res.weight") and sd[k].shape[0] == v.shape[0]:
            w = torch.zeros_like(sd[k])
            w[:, :v.shape[1]] = v
            sd[k] = w
        else:
            raise ValueError(f"cannot widen {k}: {tuple(v.shape)} -> {tuple(sd[k].shape)}")
    new.load_state_dict(sd)
