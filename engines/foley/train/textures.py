"""Procedural surface patches per material family: training data for the visual classifier.

No photographs of materials ship with any package available here, so the classifier learns
from textures drawn from simple appearance priors (documented assumptions, not measurements):

| material | colour | texture |
|---|---|---|
| metal | grey, slight cool/warm tint (saturation < 0.12) | brushed streaks along one direction, bright specular bands |
| glass | light, cyan/green tint, low contrast | almost smooth, thin sharp highlights and edges |
| ceramic | white, cream or pastel | very smooth, one soft glossy highlight |
| stone | grey, beige, brown, low saturation | multi-octave isotropic noise plus light and dark speckles |
| wood | orange-brown (hue 15-45 deg), medium saturation | warped parallel grain lines, growth rings |
| plastic | saturated colour of any hue | uniform, soft shading, small highlight |
| drywall | off-white / light grey, matte | faint fine isotropic "orange peel" noise |
| paper | white / cream | very fine fibre noise, sometimes printed lines |
| cloth | any hue, medium saturation | woven pattern (two orthogonal periods of 2-6 px) plus fuzz |

Every patch then gets a random exposure, colour cast, defocus blur and sensor noise, the way
video frames vary. Patches are 48 x 48 and are box-resampled to 32 x 32 by the descriptor.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from engines.foley.materials import MATERIALS

SIDE = 48
MATERIAL_NAMES = tuple(MATERIALS)


def _hsv(h, s, v) -> np.ndarray:
    """Scalar or array HSV (h in degrees) -> RGB in 0..1 (last axis)."""
    h = np.asarray(h, np.float64) % 360 / 60.0
    s, v = np.asarray(s, np.float64), np.asarray(v, np.float64)
    c = v * s
    x = c * (1 - np.abs(h % 2 - 1))
    m = v - c
    z = np.zeros_like(c)
    i = np.floor(h).astype(int) % 6
    r = np.choose(i, [c, x, z, z, x, c])
    g = np.choose(i, [x, c, c, x, z, z])
    b = np.choose(i, [z, z, x, c, c, x])
    return np.stack([r + m, g + m, b + m], -1)


def _fbm(rng, octaves=(2, 4, 8, 16), gains=(1.0, 0.6, 0.4, 0.25)) -> np.ndarray:
    out = np.zeros((SIDE, SIDE))
    for o, g in zip(octaves, gains):
        n = rng.standard_normal((o + 1, o + 1))
        out += g * ndimage.zoom(n, SIDE / (o + 1), order=3)[:SIDE, :SIDE]
    return out / (np.std(out) + 1e-9)


def _coords(rng):
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    a = rng.uniform(0, np.pi)
    u = x * np.cos(a) + y * np.sin(a)
    v = -x * np.sin(a) + y * np.cos(a)
    return x, y, u, v


def _blob(x, y, rng, sigma) -> np.ndarray:
    cx, cy = rng.uniform(0, SIDE, 2)
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2))


def _lum_to_rgb(lum: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    return np.clip(lum[..., None] * rgb[None, None, :] / max(1e-3, float(np.mean(rgb))) * np.mean(rgb), 0, 1)


def patch(material: str, rng: np.random.Generator) -> np.ndarray:
    """One (48, 48, 3) float32 patch in 0..1 of the given material."""
    x, y, u, v = _coords(rng)
    if material == "metal":
        base = _hsv(rng.choice([210, 30, 0]), rng.uniform(0, 0.12), rng.uniform(0.45, 0.8))
        streak = ndimage.gaussian_filter1d(rng.standard_normal((SIDE * 2, SIDE * 2)), rng.uniform(4, 12), axis=1)
        streak = ndimage.rotate(streak, rng.uniform(0, 180), reshape=False, order=1)[SIDE // 2:SIDE // 2 + SIDE, SIDE // 2:SIDE // 2 + SIDE]
        lum = 1 + 0.08 * streak / (streak.std() + 1e-9) + 0.25 * np.sin(u / rng.uniform(8, 30))
        band = np.exp(-((v - rng.uniform(0, SIDE)) ** 2) / (2 * rng.uniform(1.5, 5) ** 2))
        img = base * lum[..., None] + 0.5 * band[..., None]
    elif material == "glass":
        base = _hsv(rng.uniform(140, 200), rng.uniform(0.03, 0.2), rng.uniform(0.6, 0.9))
        lum = 1 + 0.06 * (u / SIDE - 0.5)
        img = base * lum[..., None]
        for _ in range(rng.integers(1, 4)):
            line = np.exp(-((v - rng.uniform(0, SIDE)) ** 2) / (2 * rng.uniform(0.4, 1.2) ** 2))
            img = img + rng.uniform(0.2, 0.5) * line[..., None]
        img = img + 0.6 * _blob(x, y, rng, rng.uniform(1, 2.5))[..., None]
    elif material == "ceramic":
        base = _hsv(rng.uniform(0, 360), rng.uniform(0, 0.25), rng.uniform(0.75, 0.95))
        shade = 1 - 0.12 * ((x - SIDE / 2) ** 2 + (y - SIDE / 2) ** 2) / SIDE ** 2 * rng.uniform(0, 2)
        img = base * shade[..., None] + 0.35 * _blob(x, y, rng, rng.uniform(3, 7))[..., None]
    elif material == "stone":
        base = _hsv(rng.uniform(20, 60), rng.uniform(0.03, 0.25), rng.uniform(0.3, 0.7))
        lum = 1 + rng.uniform(0.1, 0.25) * _fbm(rng)
        spots = rng.random((SIDE, SIDE))
        lum = lum + 0.35 * (spots > 0.97) - 0.35 * (spots < 0.03)
        lum = lum + 0.12 * rng.standard_normal((SIDE, SIDE))
        img = base * lum[..., None]
    elif material == "wood":
        base = _hsv(rng.uniform(15, 45), rng.uniform(0.35, 0.75), rng.uniform(0.3, 0.8))
        warp = 3.0 * ndimage.gaussian_filter(rng.standard_normal((SIDE, SIDE)), 6) * 10
        period = rng.uniform(3, 9)
        grain = np.sin(2 * np.pi * (v + warp + 0.15 * u * rng.uniform(-1, 1)) / period)
        lum = 1 + rng.uniform(0.1, 0.25) * grain + 0.05 * ndimage.gaussian_filter1d(
            rng.standard_normal((SIDE, SIDE)), 3, axis=0)
        img = base * lum[..., None]
    elif material == "plastic":
        base = _hsv(rng.uniform(0, 360), rng.uniform(0.6, 1.0), rng.uniform(0.5, 0.95))
        shade = 1 - 0.15 * (y / SIDE) * rng.uniform(-1, 1)
        img = base * shade[..., None] + 0.3 * _blob(x, y, rng, rng.uniform(1.5, 4))[..., None]
    elif material == "drywall":
        base = _hsv(rng.uniform(20, 60), rng.uniform(0, 0.08), rng.uniform(0.7, 0.92))
        lum = 1 + 0.03 * ndimage.gaussian_filter(rng.standard_normal((SIDE, SIDE)), 0.8) * 3
        img = base * lum[..., None]
    elif material == "paper":
        base = _hsv(rng.uniform(30, 60), rng.uniform(0, 0.12), rng.uniform(0.82, 0.98))
        fib = ndimage.gaussian_filter1d(rng.standard_normal((SIDE, SIDE)), 1.5, axis=int(rng.integers(2)))
        lum = 1 + 0.03 * fib
        if rng.random() < 0.5:  # printed lines of text
            pitch = rng.uniform(4, 8)
            lines = (np.sin(2 * np.pi * y / pitch) > 0.6) & (rng.random((SIDE, SIDE)) < 0.6)
            lum = lum - 0.5 * ndimage.gaussian_filter(lines.astype(float), 0.5)
        img = base * lum[..., None]
    elif material == "cloth":
        base = _hsv(rng.uniform(0, 360), rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.8))
        p1, p2 = rng.uniform(2, 6, 2)
        weave = np.sin(2 * np.pi * u / p1) * np.sin(2 * np.pi * v / p2)
        lum = 1 + rng.uniform(0.12, 0.3) * weave + 0.06 * rng.standard_normal((SIDE, SIDE))
        img = base * lum[..., None]
    else:
        raise ValueError(material)
    return _camera(np.asarray(img, np.float64), rng)


def _camera(img: np.ndarray, rng) -> np.ndarray:
    """Exposure, colour cast, defocus and sensor noise."""
    img = img * rng.uniform(0.6, 1.25) * rng.uniform(0.9, 1.1, 3)
    s = rng.uniform(0, 1.0)
    if s > 0.2:
        img = ndimage.gaussian_filter(img, (s, s, 0))
    img = img + rng.uniform(0, 0.03) * rng.standard_normal(img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def patches(material: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, MATERIAL_NAMES.index(material)])
    return np.stack([patch(material, rng) for _ in range(n)])
