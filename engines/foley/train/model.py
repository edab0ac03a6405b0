"""Torch modules of the Foley engine (training only): the parameter denoiser and the visual
material classifier. Both bake their input normalisation in as buffers, so the ONNX files
take raw values."""
from __future__ import annotations

import math

import torch
from torch import nn

from engines.foley.params import VECTOR_DIM
from engines.foley.visual import DESCRIPTOR_DIM

N_MATERIALS = 9
COND_DIM = 3 + DESCRIPTOR_DIM  # size, strength, has_visual, descriptor


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (float) diffusion steps t (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class Block(nn.Module):
    """Pre-norm residual MLP block with FiLM conditioning."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width * 2)
        self.film = nn.Linear(width, width * 4)
        self.fc2 = nn.Linear(width * 2, width)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(e).chunk(2, dim=1)
        z = self.fc1(self.norm(h)) * (1 + scale) + shift
        return h + self.fc2(nn.functional.silu(z))


class Denoiser(nn.Module):
    """eps_theta(x_t, t, material, cond): predicts the noise added to a packed parameter vector
    (standardised per dimension with the training set's mean / std)."""

    def __init__(self, width: int = 128, depth: int = 3, visual_mean=None, visual_std=None):
        super().__init__()
        self.width = width
        self.inp = nn.Linear(VECTOR_DIM, width)
        self.t_mlp = nn.Sequential(nn.Linear(64, width), nn.SiLU(), nn.Linear(width, width))
        self.mat = nn.Embedding(N_MATERIALS, width)
        self.c_mlp = nn.Sequential(nn.Linear(COND_DIM, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList([Block(width) for _ in range(depth)])
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, VECTOR_DIM)
        self.register_buffer("v_mean", torch.zeros(DESCRIPTOR_DIM) if visual_mean is None
                             else torch.as_tensor(visual_mean, dtype=torch.float32))
        self.register_buffer("v_std", torch.ones(DESCRIPTOR_DIM) if visual_std is None
                             else torch.as_tensor(visual_std, dtype=torch.float32))

    def forward(self, x_t, t, material, cond):
        has_v = cond[:, 2:3]
        vis = (cond[:, 3:] - self.v_mean) / self.v_std * has_v
        c = torch.cat([cond[:, :2] * 2 - 1, has_v, vis], dim=1)
        e = nn.functional.silu(self.t_mlp(timestep_embedding(t, 64)) + self.mat(material) + self.c_mlp(c))
        h = self.inp(x_t)
        for b in self.blocks:
            h = b(h, e)
        return self.out(nn.functional.silu(self.out_norm(h)))


class MaterialNet(nn.Module):
    """Visual descriptor (B, 14) -> material logits (B, 9)."""

    def __init__(self, mean, std, width: int = 64):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.net = nn.Sequential(nn.Linear(DESCRIPTOR_DIM, width), nn.SiLU(), nn.Linear(width, width),
                                 nn.SiLU(), nn.Linear(width, N_MATERIALS))

    def forward(self, features):
        return self.net((features - self.mean) / self.std)
