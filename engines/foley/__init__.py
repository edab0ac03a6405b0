"""Foley engine: modal impact synthesis, material presets, parameter analysis (Physics-Diff)."""
from engines.foley.analysis import estimate
from engines.foley.dsp import Hit, natural_duration_s, render_events, synthesize, to_stereo
from engines.foley.materials import MATERIALS, preset
from engines.foley.params import K_MODES, N_BANDS, VECTOR_DIM, ModalParams, pack, unpack

__all__ = ["Hit", "K_MODES", "MATERIALS", "ModalParams", "N_BANDS", "VECTOR_DIM", "estimate",
           "natural_duration_s", "pack", "preset", "render_events", "synthesize", "to_stereo",
           "unpack"]
