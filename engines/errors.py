"""Errors engines raise. Engines never import studio, so they have their own base class;
studio's CLI and UI treat ``EngineError`` like their own user-facing errors."""


class EngineError(Exception):
    """A problem with an engine's input or resources that the user can act on."""


class ModelError(EngineError):
    """A shipped model file is missing, corrupt (checksum mismatch) or cannot be loaded."""
