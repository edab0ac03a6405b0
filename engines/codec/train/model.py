"""The codec's network (torch, training only): STFT-frame encoder -> residual vector quantiser
with EMA codebooks -> Vocos-style decoder that predicts each STFT frame's magnitude and phase.

* Encoder: the 1443 features of ``engines.codec.dsp.features`` at 100 frames/s -> 1x1 conv to
  ``width`` -> ConvNeXt blocks -> strided conv (x2 down, 50/s) -> ConvNeXt blocks -> ``dim``.
* RVQ: ``n_q`` codebooks of ``entries`` vectors of ``dim``; each codes the residual the previous
  ones left. Codebooks follow the data by exponential moving averages (no gradient), are
  initialised from the first batch's residuals, and a code unused for long (EMA count under
  ``DEAD``) is restarted on a random residual of the batch; the encoder gets the straight-through
  gradient and a commitment loss.
* Decoder: summed code vectors -> conv -> ConvNeXt blocks -> transposed conv (x2 up, 100/s) ->
  ConvNeXt blocks -> per frame log magnitude and phase (Vocos: exp / cos, sin), so the output
  is an STFT and the waveform is its inverse (torch.istft here, numpy at run time).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engines.codec import dsp

DEAD = 0.03  # EMA count under which a code counts as dead (about 300 idle steps at decay 0.99)


class ConvNeXt(nn.Module):
    def __init__(self, dim: int, mult: int = 3):
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1, self.pw2 = nn.Linear(dim, dim * mult), nn.Linear(dim * mult, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.1))  # layer scale: blocks start near identity

    def forward(self, x):  # (B, C, T)
        h = self.pw2(F.gelu(self.pw1(self.norm(self.dw(x).transpose(1, 2)))))
        return x + (self.gamma * h).transpose(1, 2)


class Encoder(nn.Module):
    def __init__(self, width: int, dim: int, blocks: int):
        super().__init__()
        self.inp = nn.Conv1d(dsp.FEATURES, width, 1)
        self.hi = nn.Sequential(*[ConvNeXt(width) for _ in range(blocks)])
        self.down = nn.Conv1d(width, width, 4, stride=2, padding=1)
        self.lo = nn.Sequential(*[ConvNeXt(width) for _ in range(blocks)])
        self.norm = nn.LayerNorm(width)
        self.out = nn.Conv1d(width, dim, 1)

    def forward(self, feats):  # (B, FEATURES, 2T) -> (B, dim, T)
        h = self.lo(self.down(self.hi(self.inp(feats))))
        return self.out(self.norm(h.transpose(1, 2)).transpose(1, 2))


class Decoder(nn.Module):
    def __init__(self, width: int, dim: int, blocks: int):
        super().__init__()
        self.inp = nn.Conv1d(dim, width, 3, padding=1)
        self.lo = nn.Sequential(*[ConvNeXt(width) for _ in range(blocks)])
        self.up = nn.ConvTranspose1d(width, width, 4, stride=2, padding=1)
        self.hi = nn.Sequential(*[ConvNeXt(width) for _ in range(blocks + 1)])
        self.norm = nn.LayerNorm(width)
        self.out = nn.Conv1d(width, 2 * dsp.N_BINS, 1)

    def forward(self, z):  # (B, dim, T) -> real, imag (B, N_BINS, 2T)
        h = self.hi(self.up(self.lo(self.inp(z))))
        m, p = self.out(self.norm(h.transpose(1, 2)).transpose(1, 2)).chunk(2, 1)
        mag = torch.exp(m.clamp(max=7.0))
        return mag * torch.cos(p), mag * torch.sin(p)


class RVQ(nn.Module):
    def __init__(self, n_q: int, entries: int, dim: int, decay: float = 0.99):
        super().__init__()
        self.n_q, self.entries, self.decay = n_q, entries, decay
        self.register_buffer("embed", torch.zeros(n_q, entries, dim))
        self.register_buffer("count", torch.ones(n_q, entries))
        self.register_buffer("embed_sum", torch.zeros(n_q, entries, dim))
        self.register_buffer("initted", torch.zeros((), dtype=torch.bool))

    @staticmethod
    def nearest(r, e):  # r (N, D), e (K, D) -> (N,)
        d = (r * r).sum(1, keepdim=True) - 2 * r @ e.t() + (e * e).sum(1)[None]
        return d.argmin(1)

    def codes(self, z):  # (B, D, T) -> (B, n_q, T) int64 (export: no training updates)
        B, D, T = z.shape
        r = z.transpose(1, 2).reshape(-1, D)
        out = []
        for i in range(self.n_q):
            idx = self.nearest(r, self.embed[i])
            r = r - self.embed[i][idx]
            out.append(idx.reshape(B, T))
        return torch.stack(out, 1)

    def lookup(self, codes):  # (B, n_q, T) -> (B, D, T)
        return sum(self.embed[i][codes[:, i]] for i in range(self.n_q)).transpose(1, 2)

    def forward(self, z):
        """Training: (quantised z with straight-through gradient, commitment loss, dead restarts)."""
        B, D, T = z.shape
        x = z.transpose(1, 2).reshape(-1, D)
        r, q_sum, commit, restarts = x, torch.zeros_like(x), 0.0, 0
        gen = torch.Generator().manual_seed(int(self.count.sum().item() * 1000) % (2 ** 31))
        for i in range(self.n_q):
            rd = r.detach()
            if not bool(self.initted):
                pick = torch.randint(0, rd.shape[0], (self.entries,), generator=gen)
                self.embed[i] = rd[pick]
                self.embed_sum[i] = rd[pick]
            idx = self.nearest(rd, self.embed[i])
            q = self.embed[i][idx]
            commit = commit + F.mse_loss(r, q)
            with torch.no_grad():
                restarts += self._ema(i, rd, idx, gen)
            q_sum = q_sum + q
            r = r - q
        self.initted.fill_(True)
        zq = x + (q_sum - x).detach()
        return zq.reshape(B, T, D).transpose(1, 2), commit / self.n_q, restarts

    def _ema(self, i, r, idx, gen) -> int:
        n = torch.bincount(idx, minlength=self.entries).float()
        s = torch.zeros_like(self.embed_sum[i]).index_add_(0, idx, r)
        self.count[i].mul_(self.decay).add_(n, alpha=1 - self.decay)
        self.embed_sum[i].mul_(self.decay).add_(s, alpha=1 - self.decay)
        c = self.count[i]
        smoothed = (c + 1e-5) / (c.sum() + self.entries * 1e-5) * c.sum()  # Laplace: no division by 0
        self.embed[i] = self.embed_sum[i] / smoothed[:, None]
        dead = (c < DEAD).nonzero().flatten()
        if len(dead):
            pick = torch.randint(0, r.shape[0], (len(dead),), generator=gen)
            self.embed[i, dead] = r[pick]
            self.embed_sum[i, dead] = r[pick]
            self.count[i, dead] = 1.0
        return int(len(dead))


class Codec(nn.Module):
    def __init__(self, width=256, dim=128, blocks=3, n_q=8, entries=1024):
        super().__init__()
        self.enc, self.dec = Encoder(width, dim, blocks), Decoder(width, dim, blocks)
        self.rvq = RVQ(n_q, entries, dim)


class EncodeGraph(nn.Module):
    """Export: features -> codes."""

    def __init__(self, codec: Codec):
        super().__init__()
        self.c = codec

    def forward(self, feats):
        return self.c.rvq.codes(self.c.enc(feats))


class DecodeGraph(nn.Module):
    """Export: codes -> STFT (real, imag) at 100 frames/s."""

    def __init__(self, codec: Codec):
        super().__init__()
        self.c = codec

    def forward(self, codes):
        return self.c.dec(self.c.rvq.lookup(codes))


# ---- torch twins of the numpy signal side, for the losses

def torch_features(x):  # (B, n) -> (B, FEATURES, n // HOP), as dsp.features
    s = torch.stft(x, dsp.N_FFT, dsp.HOP, window=torch.hann_window(dsp.N_FFT), center=True,
                   return_complex=True)[..., :-1]
    mag = s.abs()
    comp = s * (mag + dsp.EPS) ** -0.7
    return torch.cat([torch.log(mag + dsp.EPS), comp.real, comp.imag], 1)


def torch_istft(real, imag, length):  # the last frame repeated: frames = length // HOP + 1
    s = torch.complex(real, imag)
    s = torch.cat([s, s[..., -1:]], -1)
    return torch.istft(s, dsp.N_FFT, dsp.HOP, window=torch.hann_window(dsp.N_FFT), center=True, length=length)


class Losses:
    """Multi-resolution STFT (spectral convergence + log magnitude) and log-mel L1."""

    def __init__(self):
        self.mel = torch.from_numpy(dsp.mel_filters(1024, 80))
        self.win = {n: torch.hann_window(n) for n, _ in dsp.MR_RESOLUTIONS}

    def _mag(self, x, n, hop):
        return torch.stft(x, n, hop, window=self.win[n], return_complex=True).abs().clamp_min(1e-7)

    def __call__(self, ref, est):
        mr = 0.0
        for n, hop in dsp.MR_RESOLUTIONS:
            a, b = self._mag(ref, n, hop), self._mag(est, n, hop)
            sc = torch.linalg.norm(a - b, dim=(1, 2)) / torch.linalg.norm(a, dim=(1, 2)).clamp_min(1e-5)
            mr = mr + sc.mean() + (torch.log(a + dsp.EPS) - torch.log(b + dsp.EPS)).abs().mean()
            if n == 1024:
                mel = (torch.log(self.mel @ a + dsp.EPS) - torch.log(self.mel @ b + dsp.EPS)).abs().mean()
        return mr / len(dsp.MR_RESOLUTIONS), mel
