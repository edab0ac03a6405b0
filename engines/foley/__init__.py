"""Foley engine: modal impact synthesis, material presets, parameter analysis (Physics-Diff)."""
