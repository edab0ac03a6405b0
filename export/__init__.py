"""Format writers: plain data in, files out.

- :mod:`export.wav`: WAV/FLAC stems and mixdown (quantisation, dither, clipping counts).
- :mod:`export.smf`: the Standard MIDI File with the project's tempo map.
- :mod:`export.video`: the video re-muxed with the new sound (AAC), packets copied.
- :mod:`export.reaper`: the REAPER project referencing the stems and the MIDI file.
- :mod:`export.dawproject`: the DAWproject (Bitwig Studio, Studio One): the stems and the MIDI
  parts as tracks, the tempo map, in one ZIP.

They take arrays, paths and the plain types of ``studio.project`` / ``studio.music`` and import
from studio only its plain modules (docs/ARCHITECTURE.md, "Layers"). Deciding what to write,
rendering and mastering the project, the checks and the all-or-nothing staging belong to
``studio.exporting.export_project``, which calls these writers.
"""
from __future__ import annotations

from export import dawproject, reaper, smf, video, wav

__all__ = ["dawproject", "reaper", "smf", "video", "wav"]
