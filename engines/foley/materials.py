"""Material presets: physically plausible random modal parameter sets.

Each preset is a rough, honest prior, not a measurement. Where the numbers come from:

* Frequencies. Geometrically similar objects have f ~ 1/L (bending f ~ h/L^2 with h ~ L), so
  ``size`` in [0, 1] maps log-linearly from a small to a large typical object of the material,
  f1 = f_small * (f_large / f_small)^size, +-15 % jitter. Ratio patterns f_n/f_1 per geometry:
  free-free bar (Euler-Bernoulli, (beta_n L)^2: 1, 2.76, 5.40, 8.93, ...), thin rectangular plate
  (m^2 + (r n)^2 with a random aspect ratio r), ring/shell bending modes of cups, bells and
  bottles (n(n^2-1)/sqrt(n^2+1), n = 2, 3, ...: 1, 2.83, 5.42, 8.77, ...), a compact solid
  (Weyl density N(f) ~ f^3, so f_n ~ n^(1/3)) and a membrane (Bessel zeros: 1, 1.59, 2.14, ...),
  each mode jittered by +-2 % (imperfect objects).
* Damping. Rayleigh damping C = alpha M + beta K gives a modal damping ratio
  zeta(w) = alpha/(2w) + beta w/2, i.e. an amplitude decay rate sigma = alpha/2 + beta w^2/2
  (1/s), lambda = 8.686 sigma dB/s: it grows with frequency. alpha, beta are fitted so that
  zeta = eta/2 at the fundamental and at the geometric mean of the mode range, with eta the
  material loss factor, from the order-of-magnitude tables of structural acoustics texts
  (Cremer & Heckl, "Structure-Borne Sound"; Beranek & Ver, "Noise and Vibration Control
  Engineering"): metals 1e-4..1e-3 (assembled objects more), glass ~1e-3, porcelain a few 1e-3,
  stone/concrete ~1e-2, wood 1e-2..4e-2, plastics and gypsum board a few 1e-2, paper and
  cardboard ~0.1, cloth and carpet far above (practically over-damped). Each mode gets +-15 %
  more (radiation and support losses are not modelled separately).
* Levels. The impact velocity v = 0.2 * 25^strength m/s (0.2..5 m/s); a linear structure
  radiates ~ v, so the level moves 28 dB over the strength range. Per-mode levels follow the
  mode shape at a random strike point (|phi| ~ U(0.05, 1)) and a gentle spectral tilt.
* Contact. Hertzian contact lasts t_c ~ v^(-1/5) (harder, faster impacts are shorter), from
  ~0.1 ms for hard solids to several ms for carpet; the pulse's spectrum low-passes the modes
  (``params.contact_gain_db``), so strength also raises brightness.
* Residual. Contact noise, rattle and the unresolved dense high modes, as octave-band noise:
  loud for cloth and paper (the sound is mostly noise), weak for metal and glass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.errors import EngineError
from engines.foley.params import BAND_CENTRES_HZ, N_BANDS, ModalParams, contact_gain_db

DB_PER_NEPER = 20.0 / np.log(10.0)
MAX_MODE_HZ = 20_000.0

_BAR = np.array([4.7300, 7.8532, 10.9956, 14.1372, 17.2788, 20.4204, 23.5619, 26.7035,
                 29.8451, 32.9867, 36.1283, 39.2699, 42.4115, 45.5531, 48.6947, 51.8363]) ** 2
_MEMBRANE = np.array([2.405, 3.832, 5.136, 5.520, 6.380, 7.016, 7.588, 8.417, 8.654, 8.772,
                      9.761, 10.173, 11.065, 11.086, 11.620, 11.792])


def _ratios(pattern: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if pattern == "bar":
        r = _BAR[:n] / _BAR[0]
    elif pattern == "membrane":
        r = _MEMBRANE[:n] / _MEMBRANE[0]
    elif pattern == "shell":
        k = np.arange(2, n + 2, dtype=float)
        r = k * (k * k - 1) / np.sqrt(k * k + 1)
        r = r / r[0]
    elif pattern == "plate":
        aspect = rng.uniform(0.55, 0.95)
        m, q = np.meshgrid(np.arange(1, 9), np.arange(1, 9))
        v = np.unique(np.round(m ** 2 + (aspect * q) ** 2, 6).ravel())
        v = v[np.concatenate([[True], np.diff(v) / v[1:] > 0.04])]  # skip near-degenerate pairs
        r = v[:n] / v[0]
    elif pattern == "solid":
        r = np.arange(1, n + 1, dtype=float) ** (1.0 / 3.0) * rng.uniform(0.97, 1.03, n)
        r = np.sort(r / r[0]) * np.linspace(1.0, 1.8, n)  # surface-wave spread of a small body
    else:  # pragma: no cover - guarded by the preset table
        raise ValueError(pattern)
    r = r * np.concatenate([[1.0], rng.uniform(0.98, 1.02, r.size - 1)])
    return np.sort(r)


@dataclass(frozen=True)
class Material:
    """Ranges that define a material preset (see the module docstring for the reasoning)."""

    name: str
    f1_small_hz: float  # fundamental of the smallest typical object (size = 0)
    f1_large_hz: float  # ... of the largest (size = 1)
    patterns: tuple[str, ...]
    n_modes: tuple[int, int]
    loss_factor: tuple[float, float]
    contact_ms_at_1mps: tuple[float, float]
    tilt_db_per_oct: tuple[float, float]
    loudness_db: float  # level of the strongest hit of this material re the loudest material
    residual_db: tuple[float, float]  # residual RMS re the modes' summed amplitude
    residual_peak_hz: float  # band where the residual is strongest
    residual_slope_db_per_oct: float
    residual_decay_dbps: tuple[float, float]
    strike_floor: float = 0.05  # per-mode excitation |phi| ~ U(strike_floor, 1) (strike point)


MATERIALS: dict[str, Material] = {m.name: m for m in [
    # Tuned with engines/foley/material_distance.py (issue 17) so that every pair is farther
    # apart than two hits of one material: each material owns a register (f1 range placed
    # inside one of the measure's decay regions), a ring time and a residual colour.
    Material("metal", 1000, 80, ("plate", "bar"), (14, 16), (2e-4, 4e-4), (0.06, 0.1),
             (-1, 1), 0, (-26, -20), 6000, 4, (200, 400), 0.5),
    Material("glass", 3000, 600, ("shell",), (7, 10), (8e-4, 1.6e-3), (0.06, 0.1),
             (-3, -1), -2, (-22, -16), 6000, 3, (200, 500), 0.5),
    Material("ceramic", 1800, 350, ("shell",), (6, 9), (6e-3, 1.2e-2), (0.06, 0.1),
             (-2, 0), -2, (-20, -14), 3000, 4, (500, 1200), 0.3),
    Material("stone", 6000, 1000, ("solid",), (8, 12), (2.5e-2, 5e-2), (0.06, 0.1),
             (-3, -1), -4, (-8, -2), 5000, 4, (800, 2000), 0.3),
    Material("wood", 700, 110, ("bar",), (5, 8), (1.5e-2, 2.5e-2), (0.35, 0.6),
             (-6, -4), -4, (-18, -12), 1500, 6, (400, 900), 0.5),
    Material("plastic", 3000, 500, ("plate", "shell"), (6, 10), (5e-2, 1e-1), (0.15, 0.3),
             (-3, -1), -6, (-16, -10), 2500, 4, (600, 1500), 0.3),
    Material("drywall", 200, 60, ("plate",), (6, 10), (4e-2, 8e-2), (0.8, 1.4),
             (-8, -5), -6, (-14, -8), 250, 6, (200, 500), 0.3),
    Material("paper", 2000, 400, ("membrane",), (3, 6), (0.1, 0.2), (0.15, 0.3),
             (-3, 0), -14, (2, 8), 4000, 4, (150, 400), 0.3),
    Material("cloth", 200, 60, ("membrane",), (2, 4), (0.2, 0.6), (3.0, 6.0),
             (-8, -4), -16, (0, 8), 300, 8, (300, 900)),
]}
ALIASES = {"carpet": "cloth", "fabric": "cloth", "steel": "metal", "iron": "metal",
           "aluminium": "metal", "aluminum": "metal", "porcelain": "ceramic", "rock": "stone",
           "concrete": "stone", "plaster": "drywall", "cardboard": "paper",
           # no rubber preset: a heavily damped, long-contact thud is closest (UI offers "rubber")
           "rubber": "cloth", "foam": "cloth"}


def rayleigh_decay_dbps(freqs_hz, alpha: float, beta: float) -> np.ndarray:
    """lambda(f) = 8.686 * (alpha/2 + beta*(2 pi f)^2/2) dB/s for Rayleigh constants alpha
    (1/s) and beta (s). Written as lambda = a + b f^2 with a = 4.343 alpha, b = 171.5 beta."""
    w = 2 * np.pi * np.asarray(freqs_hz, np.float64)
    return DB_PER_NEPER * (alpha / 2 + beta * w * w / 2)


def rayleigh_fit(eta: float, f_lo: float, f_hi: float) -> tuple[float, float]:
    """alpha, beta giving damping ratio eta/2 at f_lo and f_hi."""
    w1, w2 = 2 * np.pi * f_lo, 2 * np.pi * f_hi
    return eta * w1 * w2 / (w1 + w2), eta / (w1 + w2)


def material(name: str) -> Material:
    key = ALIASES.get(name.lower().strip(), name.lower().strip())
    if key not in MATERIALS:
        raise EngineError(f"unknown material {name!r}; choose one of {', '.join(MATERIALS)}")
    return MATERIALS[key]


def preset(material_name: str, size: float = 0.5, strength: float = 0.5,
           rng: np.random.Generator | int | None = None) -> ModalParams:
    """Sample a plausible ModalParams for a material. size, strength in [0, 1]
    (0 = smallest / gentlest typical hit, 1 = largest / hardest)."""
    m = material(material_name)
    for nm, v in (("size", size), ("strength", strength)):
        if not (0.0 <= float(v) <= 1.0):
            raise EngineError(f"{nm} must be between 0 and 1, got {v}")
    rng = np.random.default_rng(rng)
    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731

    f1 = m.f1_small_hz * (m.f1_large_hz / m.f1_small_hz) ** float(size) * rng.uniform(0.85, 1.15)
    n = int(rng.integers(m.n_modes[0], m.n_modes[1] + 1))
    f = f1 * _ratios(m.patterns[int(rng.integers(len(m.patterns)))], n, rng)
    f = f[(f < MAX_MODE_HZ) & (f < 40.0 * f1)]  # higher modes are dense: left to the residual

    eta = float(np.exp(rng.uniform(*np.log(m.loss_factor))))
    alpha, beta = rayleigh_fit(eta, f[0], float(np.sqrt(f[0] * f[-1])) if f.size > 1 else 2 * f[0])
    decay = rayleigh_decay_dbps(f, alpha, beta) * rng.uniform(1.0, 1.15, f.size)
    decay = np.maximum(decay, 3.0)  # air / radiation floor

    v = 0.2 * 25.0 ** float(strength)
    contact = u(m.contact_ms_at_1mps) * 1e-3 * v ** -0.2
    shape = 20 * np.log10(rng.uniform(m.strike_floor, 1.0, f.size))
    shape[np.argmin(shape[: min(3, f.size)])] = 0.0  # one of the lowest modes is well excited
    lv = shape + u(m.tilt_db_per_oct) * np.log2(f / f[0])
    # Normalise: the summed amplitude of the (contact-filtered) modes of the hardest hit of the
    # loudest material is 0.7 full scale; softer hits scale with velocity.
    eff = lv + contact_gain_db(f, contact)
    total_db = 20 * np.log10(0.7) + m.loudness_db + 20 * np.log10(v / 5.0)
    lv = lv + total_db - 20 * np.log10(np.sum(10 ** (eff / 20)))

    band_oct = np.log2(BAND_CENTRES_HZ / m.residual_peak_hz)
    band_db = (total_db + u(m.residual_db) - 10 * np.log10(N_BANDS / 3)
               - m.residual_slope_db_per_oct * np.abs(band_oct) + rng.uniform(-3, 3, N_BANDS))
    band_decay = u(m.residual_decay_dbps) * (BAND_CENTRES_HZ / 1000.0) ** 0.25
    band_decay = band_decay * rng.uniform(0.85, 1.15, N_BANDS)
    return ModalParams(f, lv, decay, band_db, band_decay, contact)
