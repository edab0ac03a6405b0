"""Per-hit edits a user makes to a hit's physics (numpy only): pitch, ring time, low-mode
removal, brightness and residual amount. Each returns a new ModalParams; the identity settings
return the input unchanged, so an unedited hit sounds exactly as sampled."""
from __future__ import annotations

import numpy as np

from engines.errors import EngineError
from engines.foley.params import BAND_CENTRES_HZ, ModalParams


def edit(params: ModalParams, *, pitch_st: float = 0.0, ring: float = 1.0, low_cut_hz: float = 0.0,
         brightness_db_per_oct: float = 0.0, residual_db: float = 0.0) -> ModalParams:
    """* ``pitch_st``: semitones; every mode frequency times 2^(st/12) (the residual stays);
    * ``ring``: ring-time factor; mode decays (dB/s) divided by it (2 = rings twice as long);
    * ``low_cut_hz``: modes below this frequency are removed;
    * ``brightness_db_per_oct``: tilt of mode and band levels around 1 kHz;
    * ``residual_db``: gain of the noise residual."""
    vals = (pitch_st, ring, low_cut_hz, brightness_db_per_oct, residual_db)
    if not all(np.isfinite(v) for v in vals):
        raise EngineError("Foley edit values must be finite numbers")
    if ring <= 0:
        raise EngineError(f"ring time factor must be positive, got {ring}")
    if vals == (0.0, 1.0, 0.0, 0.0, 0.0):
        return params
    f = params.freqs_hz * 2.0 ** (float(pitch_st) / 12.0)
    keep = f >= float(low_cut_hz)
    lv = params.levels_db + brightness_db_per_oct * np.log2(f / 1000.0)
    bl = params.band_levels_db + brightness_db_per_oct * np.log2(BAND_CENTRES_HZ / 1000.0) + residual_db
    return ModalParams(f[keep], lv[keep], params.decays_dbps[keep] / float(ring), bl,
                       params.band_decays_dbps, params.contact_s)
