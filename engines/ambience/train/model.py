"""The ambience token model (torch): a bidirectional transformer over codec frames.

Each frame's 8 codec tokens (MASK = 1024 per level) are embedded (one shared 8 x 1025 table,
``emb`` dims, summed over levels, projected to ``d``), plus a learned position, the frame's
visual features (linear) and the style words (multi-hot, linear) -- each replaced by a learned
null vector where its keep flag is 0 (condition dropout: classifier-free guidance). Pre-norm
transformer blocks; the head projects each frame to ``emb`` dims per level and scores it
against that level's token embeddings (tied weights), giving (B, T, 8, 1024) logits.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from engines.ambience.features import N_VISUAL, WORDS


class Block(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, ffn), nn.GELU(), nn.Linear(ffn, d))

    def forward(self, x):
        B, T, D = x.shape
        h = self.n1(x)
        q, k, v = self.qkv(h).reshape(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // self.heads), dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, D))
        return x + self.ff(self.n2(x))


class AmbienceNet(nn.Module):
    def __init__(self, levels: int = 8, vocab: int = 1024, d: int = 256, emb: int = 128, layers: int = 4,
                 heads: int = 4, ffn: int = 768, max_frames: int = 500):
        super().__init__()
        self.levels, self.vocab, self.emb_dim = levels, vocab, emb
        self.config = dict(levels=levels, vocab=vocab, d=d, emb=emb, layers=layers, heads=heads, ffn=ffn,
                           max_frames=max_frames)
        self.table = nn.Embedding(levels * (vocab + 1), emb)
        nn.init.normal_(self.table.weight, std=0.05)
        self.inp = nn.Linear(emb, d)
        self.pos = nn.Parameter(torch.randn(max_frames, d) * 0.02)
        self.vis = nn.Sequential(nn.Linear(N_VISUAL, d), nn.GELU(), nn.Linear(d, d))
        self.words = nn.Linear(len(WORDS), d)
        self.null_v, self.null_w = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))
        self.blocks = nn.ModuleList(Block(d, heads, ffn) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, levels * emb)
        self.bias = nn.Parameter(torch.zeros(levels, vocab))
        self.register_buffer("offsets", torch.arange(levels) * (vocab + 1), persistent=False)

    def forward(self, tokens, visual, words, keep_v, keep_w):
        """tokens (B, T, L) int64 (vocab = MASK), visual (B, T, 5), words (B, W), keeps (B,)."""
        B, T, L = tokens.shape
        x = self.inp(self.table(tokens + self.offsets).sum(2)) + self.pos[:T]
        kv, kw = keep_v.reshape(B, 1, 1), keep_w.reshape(B, 1, 1)
        x = x + kv * self.vis(visual) + (1 - kv) * self.null_v
        x = x + kw * self.words(words)[:, None] + (1 - kw) * self.null_w
        for blk in self.blocks:
            x = blk(x)
        h = self.head(self.norm(x)).reshape(B, T, L, self.emb_dim)
        w = self.table.weight.reshape(L, self.vocab + 1, self.emb_dim)[:, :self.vocab]
        return torch.einsum("btle,lve->btlv", h, w) + self.bias

    def pooled(self, tokens, visual, words, keep_v, keep_w):
        """The mean of the last hidden states (retrieval embedding)."""
        B, T, L = tokens.shape
        x = self.inp(self.table(tokens + self.offsets).sum(2)) + self.pos[:T]
        kv, kw = keep_v.reshape(B, 1, 1), keep_w.reshape(B, 1, 1)
        x = x + kv * self.vis(visual) + (1 - kv) * self.null_v
        x = x + kw * self.words(words)[:, None] + (1 - kw) * self.null_w
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x).mean(1)


class Graph(nn.Module):
    """The exported graph: one keep flag for both conditions (0: the unconditioned model)."""

    def __init__(self, net: AmbienceNet):
        super().__init__()
        self.net = net

    def forward(self, tokens, visual, words, keep):
        return self.net(tokens, visual, words, keep, keep)


def masked_loss(net: AmbienceNet, tokens, visual, words, keep_v, keep_w, gen: torch.Generator):
    """MaskGIT training: per window a masking rate cos(pi/2 u), u ~ U(0, 1), tokens masked
    independently; cross-entropy on the masked tokens. Returns (loss, accuracy)."""
    B, T, L = tokens.shape
    rate = torch.cos(math.pi / 2 * torch.rand(B, 1, 1, generator=gen))
    mask = torch.rand(B, T, L, generator=gen) < rate
    inp = torch.where(mask, torch.full_like(tokens, net.vocab), tokens)
    logits = net(inp, visual, words, keep_v, keep_w)
    lg, tg = logits[mask], tokens[mask]
    loss = F.cross_entropy(lg, tg)
    return loss, (lg.argmax(-1) == tg).float().mean()
