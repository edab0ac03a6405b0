"""Torch models of the rhythm engine (training only; run time uses the exported ONNX graphs).

* ``Seq2Seq``: a small encoder-decoder transformer (pre-norm, learned positions, GELU MLP).
  Rhythm2Drum: source = 16 steps x [activation, beat-position one-hot(4), downbeat] + a style
  token; target = drum-hit tokens. Drum2Music: source = 16 steps x [9 drum voices, previous
  bar's bass and keys pitch classes (12 + 12)] + mode token + the previous chords; target =
  REMI-like tokens of the bar.
* ``GrooveUNet``: a 1-D U-Net over the 16 steps: hits (9) + activation + style -> velocity (9)
  and micro-timing offset (9) per step (RhythmicNet's velocity/offset stage).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.o = nn.Linear(d, d)

    def forward(self, x, mem, mask=None):
        b, t, d = x.shape
        s = mem.shape[1]
        q = self.q(x).view(b, t, self.h, self.dh).transpose(1, 2)
        kv = self.kv(mem).view(b, s, 2, self.h, self.dh).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh))
        if mask is not None:
            att = att + mask
        y = att.softmax(-1) @ v
        return self.o(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, cross: bool, drop: float = 0.2):
        super().__init__()
        self.n1, self.sa = nn.LayerNorm(d), Attention(d, heads)
        self.cross = cross
        if cross:
            self.n2, self.ca = nn.LayerNorm(d), Attention(d, heads)
        self.n3 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.drop = nn.Dropout(drop)

    def forward(self, x, mem=None, mask=None):
        h = self.n1(x)
        x = x + self.drop(self.sa(h, h, mask))
        if self.cross:
            x = x + self.drop(self.ca(self.n2(x), mem))
        return x + self.drop(self.mlp(self.n3(x)))


class Seq2Seq(nn.Module):
    def __init__(self, src_dim: int, n_cond: int, n_cond_tokens: int, vocab: int, max_len: int,
                 d: int = 64, heads: int = 4, enc_layers: int = 2, dec_layers: int = 2, src_len: int = 16):
        super().__init__()
        self.src_in = nn.Linear(src_dim, d)
        self.cond = nn.Embedding(n_cond, d)  # style / mode / chord-history tokens
        self.src_pos = nn.Parameter(torch.randn(1, src_len + n_cond_tokens, d) * 0.02)
        self.enc = nn.ModuleList(Block(d, heads, False) for _ in range(enc_layers))
        self.enc_norm = nn.LayerNorm(d)
        self.tok = nn.Embedding(vocab, d)
        self.tgt_pos = nn.Parameter(torch.randn(1, max_len, d) * 0.02)
        self.dec = nn.ModuleList(Block(d, heads, True) for _ in range(dec_layers))
        self.dec_norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.max_len = max_len

    def encode(self, src, cond):
        """src (B, 16, src_dim) float, cond (B, n_cond_tokens) int64 -> memory (B, S, d)."""
        x = torch.cat([self.src_in(src), self.cond(cond)], dim=1) + self.src_pos
        for b in self.enc:
            x = b(x)
        return self.enc_norm(x)

    def decode(self, tokens, memory):
        """tokens (B, T) int64, memory -> logits (B, T, vocab) (causal)."""
        t = tokens.shape[1]
        x = self.tok(tokens) + self.tgt_pos[:, :t]
        i = torch.arange(t, device=tokens.device)
        mask = torch.where(i[None, :] > i[:, None], -1e9, 0.0).to(x.dtype)[None, None]
        for b in self.dec:
            x = b(x, memory, mask)
        return self.head(self.dec_norm(x))

    def forward(self, src, cond, tokens):
        return self.decode(tokens, self.encode(src, cond))

    def step(self, token, pos, memory, past_k, past_v):
        """One decoder step with a key/value cache (what the exported step graph computes).

        token (B, 1) int64, pos (1,) int64 (its position), memory (B, S, d), past_k/past_v
        (layers, B, heads, P, d/heads) -> logits (B, vocab), present_k/present_v (P + 1).
        Same weights and result as ``decode`` at that position.
        """
        x = self.tok(token) + self.tgt_pos[0].index_select(0, pos)[None]
        x, present_k, present_v = cached_step(self.dec, x, memory, past_k, past_v)
        return self.head(self.dec_norm(x))[:, 0], present_k, present_v


def cached_step(blocks, x, memory, past_k, past_v):
    """One new position ``x`` (B, 1, d) through decoder ``blocks`` with a key/value cache
    (past_k/past_v: layers, B, heads, P, d/heads) -> (x, present_k, present_v with P + 1);
    the performer engine's exported decoder step is built on it (the rhythm engine's step graph,
    ``step_graph``, computes the same with onnxruntime's fused attention)."""
    ks, vs = [], []
    for i, blk in enumerate(blocks):
        a = blk.sa
        b, _, d = x.shape
        h = blk.n1(x)
        q = a.q(h).view(b, 1, a.h, a.dh).transpose(1, 2)
        kv = a.kv(h).view(b, 1, 2, a.h, a.dh).permute(2, 0, 3, 1, 4)
        k = torch.cat([past_k[i], kv[0]], dim=2)
        v = torch.cat([past_v[i], kv[1]], dim=2)
        att = ((q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(a.dh))).softmax(-1)
        x = x + a.o((att @ v).transpose(1, 2).reshape(b, 1, d))
        x = x + blk.ca(blk.n2(x), memory)
        x = x + blk.mlp(blk.n3(x))
        ks.append(k)
        vs.append(v)
    return x, torch.stack(ks), torch.stack(vs)


class _Enc(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, src, cond):
        return self.m.encode(src, cond)


def export_seq2seq(model: "Seq2Seq", src, cond, out_dir, prefix: str, cond_name: str, meta: dict) -> None:
    """``<prefix>_encoder.onnx`` (src, cond -> memory and each decoder layer's cross-attention
    keys and values) and ``<prefix>_decoder.onnx`` (one step with a key/value cache per layer),
    checked against the model's encoder and its full teacher-forced decoder."""
    from pathlib import Path

    import numpy as np
    import onnx

    from engines.rhythm.train.step_graph import decode_steps, decoder_step, encode, weights_of_model, with_cross_kv
    from engines.runtime import open_session

    out_dir = Path(out_dir)
    model.eval()
    enc_path, dec_path = out_dir / f"{prefix}_encoder.onnx", out_dir / f"{prefix}_decoder.onnx"
    export_onnx(_Enc(model), (src, cond), enc_path, ["src", cond_name], ["memory"],
                {"src": {0: "batch"}, cond_name: {0: "batch"}, "memory": {0: "batch"}}, meta)
    with torch.no_grad():
        mem = model.encode(src, cond)
    heads, w = model.dec[0].sa.h, weights_of_model(model)
    # the encoder also gives the decoder layers' cross-attention keys and values (computed once
    # per sequence, not at every step); the step graph written with onnxruntime's fused
    # attention (``step_graph``: a third of the nodes of the TorchScript export of
    # ``Seq2Seq.step``, which is what the live engine waits on)
    onnx.save(with_cross_kv(onnx.load(str(enc_path)), w, heads), str(enc_path))
    onnx.save(decoder_step(w, heads, meta), str(dec_path))
    # the cached steps must reproduce the full decoder (also from an empty cache)
    seq = torch.randint(3, model.head.out_features, (src.shape[0], 6))
    with torch.no_grad():
        full = model.decode(seq, mem).numpy()
    encoded = encode(open_session(enc_path), {"src": src.numpy(), cond_name: cond.numpy()})
    err = float(np.abs(encoded["memory"] - mem.numpy()).max())
    if err > 1e-4:
        raise RuntimeError(f"{prefix} encoder graph differs from the model by {err}")
    logits = decode_steps(open_session(dec_path), encoded, seq.numpy())
    for i in range(seq.shape[1]):
        err = float(np.abs(logits[:, i] - full[:, i]).max())
        if err > 1e-3:
            raise RuntimeError(f"{prefix} decoder step {i} differs from the full decoder by {err}")


def conv_block(cin, cout):
    return nn.Sequential(nn.Conv1d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.GELU(),
                         nn.Conv1d(cout, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.GELU())


class GrooveUNet(nn.Module):
    """(B, C_in, 16) -> velocity (B, 9, 16) in 0..1 and offset (B, 9, 16) in -0.5..0.5."""

    def __init__(self, c_in: int, c: int = 48, voices: int = 9):
        super().__init__()
        self.d1 = conv_block(c_in, c)
        self.d2 = conv_block(c, 2 * c)
        self.mid = conv_block(2 * c, 2 * c)
        self.u2 = conv_block(4 * c, c)
        self.u1 = conv_block(2 * c, c)
        self.out = nn.Conv1d(c, 2 * voices, 1)
        self.voices = voices

    def forward(self, x):
        a = self.d1(x)  # 16
        b = self.d2(F.avg_pool1d(a, 2))  # 8
        m = self.mid(F.avg_pool1d(b, 2))  # 4
        u = F.interpolate(m, scale_factor=2.0, mode="nearest")
        u = self.u2(torch.cat([u, b], 1))
        u = F.interpolate(u, scale_factor=2.0, mode="nearest")
        u = self.u1(torch.cat([u, a], 1))
        y = self.out(u)
        vel = torch.sigmoid(y[:, :self.voices])
        off = 0.5 * torch.tanh(y[:, self.voices:])
        return vel, off


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def export_onnx(module: nn.Module, args: tuple, path, input_names, output_names, dynamic_axes,
                metadata: dict | None = None) -> None:
    """Export with the TorchScript exporter (opset 17), then stamp metadata_props."""
    import onnx

    module.eval()
    torch.onnx.export(module, args, str(path), input_names=list(input_names),
                      output_names=list(output_names), dynamic_axes=dynamic_axes, opset_version=17,
                      dynamo=False, do_constant_folding=True)
    model = onnx.load(str(path))
    for k, v in (metadata or {}).items():
        p = model.metadata_props.add()
        p.key, p.value = str(k), str(v)
    onnx.save(model, str(path))
