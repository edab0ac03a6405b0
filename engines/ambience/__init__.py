"""Ambience engine: a masked token model over the neural codec's tokens (MaskGIT with guidance),
conditioned on style words and per-second visual features (model card: README.md)."""
