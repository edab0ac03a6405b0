"""The masked multi-level token transformer (torch; training and ONNX export only).

Sequence = [16 visual tokens (one per beat) | 1 style token | 64 grid steps]. Multiway, as in
VAB: each modality first goes through its own layers (visual: projection + ``n_modal`` blocks;
music: sum of the level embeddings + position + ``n_modal`` blocks), then the concatenation
goes through ``n_shared`` shared blocks. One linear head per level reads the step positions.

Condition dropout (for classifier-free guidance): ``vis_keep`` (B,) 1 = visual condition, 0 =
the learned null visual tokens; style id ``n_styles`` = no style.

Retrieval: the shared blocks also run on one modality alone (visual tokens only / grid steps
only); the mean-pooled states, projected and L2-normalised, are the video and music
embeddings, trained with a symmetric InfoNCE loss on the pairs of a batch.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    """Pre-norm transformer block with explicit attention (exports to plain ONNX ops)."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.h = heads
        self.n1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.n2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.n1(x)).reshape(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.h), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.ff(self.n2(x)))


class SoundtrackNet(nn.Module):
    def __init__(self, vocab_sizes: tuple[int, ...], n_features: int, n_styles: int, steps: int = 64,
                 beats: int = 16, d: int = 128, heads: int = 4, ff: int = 384, n_modal: int = 1,
                 n_shared: int = 3, emb_dim: int = 64, dropout: float = 0.1):
        super().__init__()
        self.vocab_sizes = tuple(vocab_sizes)
        self.steps, self.beats, self.n_styles = steps, beats, n_styles
        self.tok_emb = nn.ModuleList([nn.Embedding(v + 1, d) for v in vocab_sizes])  # +1: MASK
        self.tok_pos = nn.Parameter(torch.randn(steps, d) * 0.02)
        self.vis_in = nn.Sequential(nn.Linear(n_features, d), nn.GELU(), nn.Linear(d, d))
        self.vis_pos = nn.Parameter(torch.randn(beats, d) * 0.02)
        self.vis_null = nn.Parameter(torch.randn(beats, d) * 0.02)
        self.style_emb = nn.Embedding(n_styles + 1, d)
        self.mod_tok = nn.ModuleList([Block(d, heads, ff, dropout) for _ in range(n_modal)])
        self.mod_vis = nn.ModuleList([Block(d, heads, ff, dropout) for _ in range(n_modal)])
        self.shared = nn.ModuleList([Block(d, heads, ff, dropout) for _ in range(n_shared)])
        self.norm = nn.LayerNorm(d)
        self.heads = nn.ModuleList([nn.Linear(d, v) for v in vocab_sizes])
        self.emb_video = nn.Linear(d, emb_dim)
        self.emb_music = nn.Linear(d, emb_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    # -- modality-specific stems
    def music_stem(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok_pos[None]
        for i, emb in enumerate(self.tok_emb):
            x = x + emb(tokens[..., i])
        for blk in self.mod_tok:
            x = blk(x)
        return x

    def visual_stem(self, visual: torch.Tensor, vis_keep: torch.Tensor) -> torch.Tensor:
        v = self.vis_in(visual) + self.vis_pos[None]
        for blk in self.mod_vis:
            v = blk(v)
        k = vis_keep.reshape(-1, 1, 1).to(v.dtype)
        return k * v + (1.0 - k) * self.vis_null[None]

    def run_shared(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.shared:
            x = blk(x)
        return self.norm(x)

    def forward(self, tokens, visual, style, vis_keep):
        """tokens (B, T, L) with MASK = vocab size; returns one logits tensor per level."""
        m = self.music_stem(tokens)
        v = self.visual_stem(visual, vis_keep)
        s = self.style_emb(style)[:, None]
        h = self.run_shared(torch.cat([v, s, m], dim=1))[:, self.beats + 1:]
        return tuple(head(h) for head in self.heads)

    # -- retrieval embeddings
    def embed_video(self, visual: torch.Tensor) -> torch.Tensor:
        v = self.visual_stem(visual, torch.ones(visual.shape[0], device=visual.device))
        return F.normalize(self.emb_video(self.run_shared(v).mean(1)), dim=-1)

    def embed_music(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.emb_music(self.run_shared(self.music_stem(tokens)).mean(1)), dim=-1)


class GeneratorExport(nn.Module):
    def __init__(self, net: SoundtrackNet):
        super().__init__()
        self.net = net

    def forward(self, tokens, visual, style, vis_keep):
        return self.net(tokens, visual, style, vis_keep)


class EmbedExport(nn.Module):
    def __init__(self, net: SoundtrackNet):
        super().__init__()
        self.net = net

    def forward(self, tokens, visual):
        return self.net.embed_video(visual), self.net.embed_music(tokens)
