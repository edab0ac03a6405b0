"""A small colour/texture descriptor of an image patch (the impact region), numpy only.

Used twice: as the input of the material classifier (``engines.foley.infer.classify_patches``)
and as the visual conditioning of the parameter diffusion model. The patch is resampled to
32 x 32 (box filter) so the numbers do not depend on the video's resolution.

``DESCRIPTOR_DIM = 14`` values, all roughly in 0..1:

| i | what |
|---|---|
| 0-2 | mean R, G, B |
| 3 | mean saturation ((max - min) / max) |
| 4, 5 | cosine, sine of the saturation-weighted mean hue, times the mean saturation |
| 6 | std of luminance |
| 7 | mean gradient magnitude of luminance |
| 8 | orientation coherence of the structure tensor (0 isotropic, 1 one direction: grain) |
| 9 | fine-scale share: variance of L minus its 3x3 blur, over the variance of L |
| 10 | coarse-scale std: std of the 8x8-block means of L |
| 11 | highlight fraction: pixels brighter than mean + 2 std and above 0.75 |
| 12 | periodicity: strongest non-DC spectral peak over the mean AC spectrum (weaves), /50 |
| 13 | mean luminance |
"""
from __future__ import annotations

import numpy as np

from engines.errors import EngineError

DESCRIPTOR_DIM = 14
PATCH_SIDE = 32


def resample(patch: np.ndarray, side: int = PATCH_SIDE) -> np.ndarray:
    """(H, W, 3) uint8 or float -> (side, side, 3) float32 in 0..1 by box filtering."""
    a = np.asarray(patch)
    if a.ndim != 3 or a.shape[2] < 3 or a.shape[0] < 2 or a.shape[1] < 2:
        raise EngineError(f"an image patch must be (H, W, 3) with H, W >= 2, got {a.shape}")
    a = a[..., :3].astype(np.float32)
    if a.max(initial=0.0) > 1.5:
        a = a / 255.0
    h, w = a.shape[:2]
    ys = np.minimum((np.arange(side * 4) * h) // (side * 4), h - 1)
    xs = np.minimum((np.arange(side * 4) * w) // (side * 4), w - 1)
    up = a[ys][:, xs]  # 4x supersampled nearest, then 4x4 box mean
    return up.reshape(side, 4, side, 4, 3).mean(axis=(1, 3))


def _blur3(x: np.ndarray) -> np.ndarray:
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    out = np.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            out += p[:, dy:dy + x.shape[1], dx:dx + x.shape[2]]
    return out / 9.0


def descriptors(patches) -> np.ndarray:
    """A batch of patches (list of (H, W, 3) or an (N, S, S, 3) array) -> (N, 14) float32."""
    if isinstance(patches, np.ndarray) and patches.ndim == 4 and patches.shape[1:3] == (PATCH_SIDE, PATCH_SIDE):
        rgb = patches[..., :3].astype(np.float32)
        if rgb.max(initial=0.0) > 1.5:
            rgb = rgb / 255.0
    else:
        rgb = np.stack([resample(p) for p in patches]) if len(patches) else np.zeros((0, PATCH_SIDE, PATCH_SIDE, 3), np.float32)
    n = rgb.shape[0]
    if n == 0:
        return np.zeros((0, DESCRIPTOR_DIM), np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx, mn = rgb.max(-1), rgb.min(-1)
    sat = np.where(mx > 1e-3, (mx - mn) / np.maximum(mx, 1e-3), 0.0)
    # hue angle (hexcone) per pixel
    hue = np.arctan2(np.sqrt(3.0) * (g - b), 2 * r - g - b)
    wsum = sat.sum((1, 2)) + 1e-6
    hc = (sat * np.cos(hue)).sum((1, 2)) / wsum
    hs = (sat * np.sin(hue)).sum((1, 2)) / wsum
    msat = sat.mean((1, 2))
    lum = 0.299 * r + 0.587 * g + 0.114 * b
    lstd = lum.std((1, 2))
    gy, gx = np.gradient(lum, axis=(1, 2))
    gmag = np.sqrt(gx * gx + gy * gy).mean((1, 2))
    jxx, jyy, jxy = (gx * gx).mean((1, 2)), (gy * gy).mean((1, 2)), (gx * gy).mean((1, 2))
    coh = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / (jxx + jyy + 1e-8)
    var = lum.var((1, 2)) + 1e-8
    fine = ((lum - _blur3(lum)) ** 2).mean((1, 2)) / var
    blocks = lum.reshape(n, PATCH_SIDE // 8, 8, PATCH_SIDE // 8, 8).mean((2, 4))
    coarse = blocks.std((1, 2))
    mu = lum.mean((1, 2))
    thr = np.maximum(mu + 2 * lstd, 0.75)[:, None, None]
    hi = (lum > thr).mean((1, 2))
    spec = np.abs(np.fft.rfft2(lum - mu[:, None, None]))
    spec[:, 0, 0] = 0.0
    spec[:, :2, :2] = 0.0  # near-DC: shading, not texture
    spec[:, -1:, :2] = 0.0
    per = spec.reshape(n, -1).max(1) / (spec.reshape(n, -1).mean(1) + 1e-6) / 50.0
    out = np.stack([r.mean((1, 2)), g.mean((1, 2)), b.mean((1, 2)), msat, hc * msat, hs * msat,
                    lstd, gmag, coh, fine, coarse, hi, per, mu], 1)
    return out.astype(np.float32)
