"""The project's own exception types.

Every error a user can cause (a bad file, a missing device, a full disk) is raised as one of
these, with a message that says what happened and what to do. The CLI prints ``str(err)`` as a
single line; the UI shows it in a dialog. Anything else escaping is a bug.
"""
from __future__ import annotations

# Engines never import studio, so their errors have their own base; re-exported here so that
# callers catch every user-facing error as ``(StudioError, EngineError)``.
from engines.errors import EngineError, ModelError  # noqa: F401


class StudioError(Exception):
    """Base class: a problem the user can understand and act on."""


class MediaError(StudioError):
    """A media file cannot be opened, is unsupported, broken, or lacks the stream asked for."""


class AnalysisError(StudioError):
    """Visual analysis cannot run on this input (e.g. no frames could be decoded)."""


class ProjectError(StudioError):
    """A project file is missing, corrupt, from a newer version, or cannot be saved."""


class ExportError(StudioError):
    """An export cannot be written (target exists, read-only, disk full)."""


class DeviceError(StudioError):
    """An audio device or MIDI port is missing, busy or vanished."""


class JobCancelled(StudioError):
    """A long job was cancelled by the user; nothing it was writing is left behind."""
