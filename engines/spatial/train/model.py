"""INRAS-style neural acoustic field for one room (torch; training only).

Following INRAS (Su, Chen & Shlizerman 2022), the room's geometry enters through K fixed
*bounce points* on its surfaces:

* scatter module: MLP over the sinusoidally encoded emitter -> bounce-point distances;
* gather module: MLP over the encoded bounce-point -> listener distances;
* bounce module: a learned embedding per bounce point, fused with both (MLP per point), then
  pooled over the points with weights the gather features choose (softmax over K);
* listener module: MLP over the pooled scene feature, a head-yaw embedding
  (sin/cos of m * yaw, m = 1..4), the encoded listener position and the head-frame source
  direction / distance, producing coefficients of a learned *time basis* (n_basis x T) per ear,
  times a smooth log-gain envelope (coefficients of n_env piecewise-linear hat functions, so
  level and fine structure are learned apart), giving a 2 x T binaural early IR at FIELD_RATE,
  plus the late-tail parameters
  (2 ears x 8 octave bands x (level, slope)).

Inputs are metres / radians in room coordinates; all normalisation lives inside the graph, so
the exported ONNX takes (src (N,3), lis (N,3), yaw (N,1)) and returns (early (N,2,T),
tail (N,2,8,2)) in physical units.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def _mlp(n_in: int, n_hidden: int, n_out: int, layers: int = 2) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = n_in
    for _ in range(layers - 1):
        mods += [nn.Linear(d, n_hidden), nn.SiLU()]
        d = n_hidden
    mods.append(nn.Linear(d, n_out))
    return nn.Sequential(*mods)


class INRAS(nn.Module):
    def __init__(self, dims, bounce_points: np.ndarray, T: int, n_bands: int = 8, *,
                 n_freq: int = 10, feat: int = 64, hidden: int = 256, n_basis: int = 128,
                 n_env: int = 32, early_scale: float = 1.0, tail_mean=None, tail_std=None) -> None:
        super().__init__()
        dims = torch.as_tensor(np.asarray(dims, dtype=np.float32))
        diag = float(torch.linalg.norm(dims))
        self.register_buffer("dims", dims)
        self.register_buffer("points", torch.as_tensor(np.asarray(bounce_points, dtype=np.float32)))
        lam = np.geomspace(2 * diag, 0.25, n_freq)  # wavelengths of the distance encoding (m)
        self.register_buffer("freqs", torch.as_tensor(2 * np.pi / lam, dtype=torch.float32))
        self.register_buffer("yaw_m", torch.arange(1, 5, dtype=torch.float32))
        self.register_buffer("pos_f", torch.as_tensor(np.pi * 2.0 ** np.arange(4), dtype=torch.float32))
        self.diag = diag
        K = self.points.shape[0]
        enc = 2 * n_freq + 1
        self.scatter = _mlp(enc, feat, feat)
        self.gather = _mlp(enc, feat, feat)
        self.bounce_embed = nn.Parameter(torch.randn(K, feat) * 0.1)
        self.bounce = _mlp(3 * feat, feat, feat)
        self.attend = nn.Linear(feat, 1)
        n_ctx = 2 * feat + enc + 3 + 8 + 3 * 8
        self.n_basis, self.T, self.n_bands = n_basis, T, n_bands
        self.n_env = n_env
        self.listener = _mlp(n_ctx, hidden, 2 * n_basis + 2 * n_env + 2 * n_bands * 2, layers=3)
        self.basis = nn.Parameter(torch.randn(n_basis, T) / math.sqrt(n_basis))
        # the envelope's time basis: piecewise-linear hat functions on n_env knots (fixed)
        knots = np.linspace(0, T - 1, n_env)
        hat = np.maximum(0.0, 1.0 - np.abs(np.arange(T)[None, :] - knots[:, None]) / (knots[1] - knots[0]))
        self.register_buffer("env_basis", torch.as_tensor(hat, dtype=torch.float32))
        self.register_buffer("early_scale", torch.tensor(float(early_scale)))
        tm = torch.zeros(2, n_bands, 2) if tail_mean is None else torch.as_tensor(np.asarray(tail_mean, np.float32))
        ts = torch.ones(2, n_bands, 2) if tail_std is None else torch.as_tensor(np.asarray(tail_std, np.float32))
        self.register_buffer("tail_mean", tm)
        self.register_buffer("tail_std", ts)

    def encode(self, d: torch.Tensor) -> torch.Tensor:
        a = d.unsqueeze(-1) * self.freqs
        return torch.cat([torch.sin(a), torch.cos(a), d.unsqueeze(-1) / self.diag], dim=-1)

    def normalised(self, src: torch.Tensor, lis: torch.Tensor, yaw: torch.Tensor):
        """(early / early_scale, (tail - mean) / std): what the losses compare."""
        N = src.shape[0]
        d_src = torch.linalg.norm(src.unsqueeze(1) - self.points, dim=-1)  # (N, K)
        d_lis = torch.linalg.norm(lis.unsqueeze(1) - self.points, dim=-1)
        s = self.scatter(self.encode(d_src))  # (N, K, F)
        g = self.gather(self.encode(d_lis))
        b = self.bounce_embed.unsqueeze(0).expand(N, -1, -1)
        h = self.bounce(torch.cat([s, g, b], dim=-1))
        w = torch.softmax(self.attend(g), dim=1)  # (N, K, 1)
        pooled = torch.cat([(w * h).sum(1), h.mean(1)], dim=-1)
        v = src - lis
        c, sn = torch.cos(yaw), torch.sin(yaw)  # (N, 1)
        hx = v[:, 0:1] * c + v[:, 1:2] * sn
        hy = -v[:, 0:1] * sn + v[:, 1:2] * c
        dist = torch.linalg.norm(v, dim=-1, keepdim=True).clamp_min(1e-3)
        hdir = torch.cat([hx, hy, v[:, 2:3]], dim=-1) / dist
        ya = yaw * self.yaw_m
        yaw_emb = torch.cat([torch.sin(ya), torch.cos(ya)], dim=-1)
        lp = (lis / self.dims).unsqueeze(-1) * self.pos_f  # (N, 3, 4)
        lis_emb = torch.cat([torch.sin(lp), torch.cos(lp)], dim=-1).reshape(N, 24)
        ctx = torch.cat([pooled, self.encode(dist[:, 0]), hdir, yaw_emb, lis_emb], dim=-1)
        out = self.listener(ctx)
        nb, ne = 2 * self.n_basis, 2 * self.n_env
        coef = out[:, :nb].reshape(N, 2, self.n_basis)
        env = out[:, nb:nb + ne].reshape(N, 2, self.n_env)
        # fine structure from the learned basis, times a smooth log-gain envelope (both learned)
        early = torch.matmul(coef, self.basis) * torch.exp(torch.matmul(env, self.env_basis))  # (N, 2, T)
        tail = out[:, nb + ne:].reshape(N, 2, self.n_bands, 2)
        return early, tail

    def forward(self, src: torch.Tensor, lis: torch.Tensor, yaw: torch.Tensor):
        early, tail = self.normalised(src, lis, yaw)
        return early * self.early_scale, tail * self.tail_std + self.tail_mean


def mrstft_loss(pred: torch.Tensor, target: torch.Tensor, sizes=(64, 128, 256, 512)) -> torch.Tensor:
    """Multi-resolution STFT loss: spectral convergence + L1 of log magnitudes, averaged."""
    x = pred.reshape(-1, pred.shape[-1])
    y = target.reshape(-1, target.shape[-1])
    total = x.new_zeros(())
    for n in sizes:
        win = torch.hann_window(n, device=x.device)
        X = torch.stft(x, n, n // 4, window=win, return_complex=True).abs()
        Y = torch.stft(y, n, n // 4, window=win, return_complex=True).abs()
        sc = torch.linalg.norm(Y - X) / torch.linalg.norm(Y).clamp_min(1e-7)
        mag = torch.mean(torch.abs(torch.log(X + 1e-4) - torch.log(Y + 1e-4)))
        total = total + sc + mag
    return total / len(sizes)


def envelope_loss(pred: torch.Tensor, target: torch.Tensor, frame: int = 60) -> torch.Tensor:
    """L1 between log10 frame energies (2.5 ms frames at 24 kHz): unbiased in energy, unlike
    log-magnitude losses (which aim at the median of a noise-like magnitude), so the early
    energy that C50 and EDT measure is not underestimated."""
    T = pred.shape[-1] // frame * frame
    ep = (pred[..., :T] ** 2).reshape(*pred.shape[:-1], -1, frame).sum(-1)
    et = (target[..., :T] ** 2).reshape(*target.shape[:-1], -1, frame).sum(-1)
    return torch.mean(torch.abs(torch.log10(ep + 1e-5) - torch.log10(et + 1e-5)))
