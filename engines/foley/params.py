"""Physical parameters of one impact sound and their fixed-size vector layout.

A hit is a sum of damped modes plus a band-noise residual (Physics-Diff's parametrisation):

    x(t) = sum_i g_c(f_i) 10^((p_i - lambda_i t)/20) sin(2 pi f_i t)
         + sum_b g_c(c_b) 10^((w_b - d_b t)/20) n_b(t)                     (t >= 0)

f_i Hz, p_i dB re full scale, lambda_i dB/s; n_b(t) is unit-RMS Gaussian noise whose power
spectrum is the band shape ``band_psd`` (octave bands centred on ``BAND_CENTRES_HZ``), w_b its
RMS level in dBFS at the onset and d_b its decay in dB/s; g_c is the low-pass gain of the
contact force pulse of duration ``contact_s`` (``contact_gain_db``).

Vector layout (``pack``/``unpack``, float32, ``VECTOR_DIM`` = 3*K + 2*B + 1 = 67):

    [0, 3K)          K = 16 modes, ascending frequency, interleaved per mode as
                     (x_f, x_p, x_lambda):
                       x_f      = log2(f / 1000 Hz) / 5        (31 Hz..32 kHz -> -1..1)
                       x_p      = (p + 50) / 50                (-100..0 dBFS -> -1..1)
                       x_lambda = (log10(lambda) - 2.5) / 1.5  (10..10^4 dB/s -> -1..1)
                     Unused slots (fewer than K audible modes) come last: frequency repeats
                     the highest real mode, p = LEVEL_FLOOR_DB, lambda = PAD_DECAY_DBPS;
                     ``unpack`` drops every mode with p < SILENT_DB.
    [3K, 3K+2B)      B = 9 residual bands, interleaved (x_w, x_d) with the same level and
                     decay normalisations as the modes (a band at LEVEL_FLOOR_DB is off).
    [3K+2B]          x_c = (log10(contact_s) + 3.5) / 1.5   (10 us..10 ms -> -1..1)

If a parameter set has more than K modes, ``pack`` keeps the K loudest (after the contact gain)
and sorts them by frequency. Values are clipped to the documented ranges before scaling.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.errors import EngineError

K_MODES = 16
BAND_CENTRES_HZ = 62.5 * 2.0 ** np.arange(9)  # 62.5 Hz .. 16 kHz, octave spaced
N_BANDS = len(BAND_CENTRES_HZ)
BAND_TOP_HZ = 20_000.0  # the residual is defined up to the top of the audible range
VECTOR_DIM = 3 * K_MODES + 2 * N_BANDS + 1

LEVEL_FLOOR_DB = -120.0  # "off"
SILENT_DB = -100.0  # below this a mode or band is treated as absent
PAD_DECAY_DBPS = 1000.0
DECAY_RANGE_DBPS = (1.0, 1e5)
FREQ_RANGE_HZ = (10.0, 40_000.0)
CONTACT_RANGE_S = (1e-5, 1e-2)

MODE_SLICE = slice(0, 3 * K_MODES)
BAND_SLICE = slice(3 * K_MODES, 3 * K_MODES + 2 * N_BANDS)
CONTACT_INDEX = VECTOR_DIM - 1


def _ro(a, n: int | None, name: str) -> np.ndarray:
    arr = np.array(a, dtype=np.float64).reshape(-1)
    if n is not None and arr.size != n:
        raise EngineError(f"{name} needs {n} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise EngineError(f"{name} contains NaN or infinite values")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class ModalParams:
    """One hit's physics. Arrays are read-only float64; modes may be in any order/number."""

    freqs_hz: np.ndarray
    levels_db: np.ndarray
    decays_dbps: np.ndarray
    band_levels_db: np.ndarray
    band_decays_dbps: np.ndarray
    contact_s: float = 2e-4

    def __post_init__(self):
        f = _ro(self.freqs_hz, None, "freqs_hz")
        object.__setattr__(self, "freqs_hz", f)
        object.__setattr__(self, "levels_db", _ro(self.levels_db, f.size, "levels_db"))
        d = _ro(self.decays_dbps, f.size, "decays_dbps")
        if np.any(f <= 0) or np.any(d <= 0):
            raise EngineError("mode frequencies and decays must be positive")
        object.__setattr__(self, "decays_dbps", d)
        object.__setattr__(self, "band_levels_db", _ro(self.band_levels_db, N_BANDS, "band_levels_db"))
        bd = _ro(self.band_decays_dbps, N_BANDS, "band_decays_dbps")
        if np.any(bd <= 0):
            raise EngineError("band decays must be positive")
        object.__setattr__(self, "band_decays_dbps", bd)
        c = float(self.contact_s)
        if not np.isfinite(c) or c < 0:
            raise EngineError("contact_s must be a non-negative number of seconds")
        object.__setattr__(self, "contact_s", c)

    @property
    def n_modes(self) -> int:
        return int(self.freqs_hz.size)

    def effective_levels_db(self) -> np.ndarray:
        """Mode levels after the contact pulse's low-pass gain (what a recording shows)."""
        return self.levels_db + contact_gain_db(self.freqs_hz, self.contact_s)

    def effective_band_levels_db(self) -> np.ndarray:
        return self.band_levels_db + contact_gain_db(BAND_CENTRES_HZ, self.contact_s)

    def with_contact(self, contact_s: float) -> "ModalParams":
        """Same sound, re-expressed for another contact time (levels compensated)."""
        dm = contact_gain_db(self.freqs_hz, self.contact_s) - contact_gain_db(self.freqs_hz, contact_s)
        db = contact_gain_db(BAND_CENTRES_HZ, self.contact_s) - contact_gain_db(BAND_CENTRES_HZ, contact_s)
        return ModalParams(self.freqs_hz, self.levels_db + dm, self.decays_dbps,
                           self.band_levels_db + db, self.band_decays_dbps, contact_s)


def contact_gain_db(freqs_hz, contact_s: float) -> np.ndarray:
    """Magnitude (dB re DC) of a raised-cosine force pulse of length ``contact_s``.

    |F(f)|/F(0) = |sinc(x) / (1 - x^2)| with x = f * contact_s, exact up to x = 1.5 (where it
    touches its side-lobe envelope); beyond, the envelope 1/(pi x (x^2 - 1)) is used, because
    the exact nulls of an ideal symmetric pulse are not seen with real contacts. Monotone,
    0 dB at DC, -6 dB at x = 1, -15.5 dB at x = 1.5, then -60 dB/decade.
    """
    x = np.abs(np.asarray(freqs_hz, dtype=np.float64)) * float(contact_s)
    out = np.empty_like(x)
    lo = x <= 1.5
    xl = x[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.abs(np.sinc(xl) / (1.0 - xl * xl))
    g = np.where(np.abs(xl - 1.0) < 1e-9, 0.5, g)
    out[lo] = g
    xh = x[~lo]
    out[~lo] = 1.0 / (np.pi * xh * (xh * xh - 1.0))
    return 20.0 * np.log10(np.maximum(out, 1e-12))


def band_weights(freqs_hz) -> np.ndarray:
    """Power partition over the octave bands, shape (B, len(freqs)); columns sum to 1 in
    [0, BAND_TOP_HZ] and are 0 above. Linear cross-fades in log-frequency between centres."""
    f = np.maximum(np.asarray(freqs_hz, dtype=np.float64), 1e-3)
    pos = np.log2(f / BAND_CENTRES_HZ[0])  # 0 at first centre, 1 per octave
    pos = np.clip(pos, 0.0, N_BANDS - 1.0)
    idx = np.arange(N_BANDS)[:, None]
    w = np.clip(1.0 - np.abs(pos[None, :] - idx), 0.0, 1.0)
    w[:, f > BAND_TOP_HZ] = 0.0
    return w


def _band_bandwidths() -> np.ndarray:
    f = np.linspace(0.0, BAND_TOP_HZ, 200_001)
    w = band_weights(f)
    return w.sum(axis=1) * (f[1] - f[0])


BAND_BANDWIDTHS_HZ = _band_bandwidths()


def band_psd(freqs_hz) -> np.ndarray:
    """One-sided power spectral density (1/Hz) of each band's unit-RMS noise, (B, F)."""
    return band_weights(freqs_hz) / BAND_BANDWIDTHS_HZ[:, None]


# ---------------------------------------------------------------------------- vector layout

def _x_level(db):
    return (np.clip(db, LEVEL_FLOOR_DB, 0.0) + 50.0) / 50.0


def _x_decay(dbps):
    return (np.log10(np.clip(dbps, *DECAY_RANGE_DBPS)) - 2.5) / 1.5


def pack(params: ModalParams) -> np.ndarray:
    """Parameter set -> float32 vector of length VECTOR_DIM (see module docstring)."""
    eff = params.effective_levels_db()
    keep = np.flatnonzero(params.levels_db >= SILENT_DB)
    keep = keep[np.argsort(-eff[keep], kind="stable")[:K_MODES]]
    keep = keep[np.argsort(params.freqs_hz[keep], kind="stable")]
    n = keep.size
    f = np.full(K_MODES, params.freqs_hz[keep[-1]] if n else 1000.0)
    p = np.full(K_MODES, LEVEL_FLOOR_DB)
    d = np.full(K_MODES, PAD_DECAY_DBPS)
    f[:n], p[:n], d[:n] = params.freqs_hz[keep], params.levels_db[keep], params.decays_dbps[keep]
    modes = np.stack([np.log2(np.clip(f, *FREQ_RANGE_HZ) / 1000.0) / 5.0, _x_level(p), _x_decay(d)], 1)
    bands = np.stack([_x_level(params.band_levels_db), _x_decay(params.band_decays_dbps)], 1)
    c = (np.log10(np.clip(params.contact_s, *CONTACT_RANGE_S)) + 3.5) / 1.5
    return np.concatenate([modes.ravel(), bands.ravel(), [c]]).astype(np.float32)


def unpack(vec) -> ModalParams:
    """Inverse of ``pack`` (up to the documented clipping); silent pad modes are dropped."""
    v = np.asarray(vec, dtype=np.float64).reshape(-1)
    if v.size != VECTOR_DIM:
        raise EngineError(f"a Foley parameter vector has {VECTOR_DIM} values, got {v.size}")
    if not np.all(np.isfinite(v)):
        raise EngineError("the Foley parameter vector contains NaN or infinite values")
    m = v[MODE_SLICE].reshape(K_MODES, 3)
    b = v[BAND_SLICE].reshape(N_BANDS, 2)
    f = np.clip(1000.0 * 2.0 ** (5.0 * m[:, 0]), *FREQ_RANGE_HZ)
    p = np.clip(50.0 * m[:, 1] - 50.0, LEVEL_FLOOR_DB, 0.0)
    d = np.clip(10.0 ** (1.5 * m[:, 2] + 2.5), *DECAY_RANGE_DBPS)
    keep = p >= SILENT_DB
    order = np.argsort(f[keep], kind="stable")
    bl = np.clip(50.0 * b[:, 0] - 50.0, LEVEL_FLOOR_DB, 0.0)
    bd = np.clip(10.0 ** (1.5 * b[:, 1] + 2.5), *DECAY_RANGE_DBPS)
    c = float(np.clip(10.0 ** (1.5 * v[CONTACT_INDEX] - 3.5), *CONTACT_RANGE_S))
    return ModalParams(f[keep][order], p[keep][order], d[keep][order], bl, bd, c)
