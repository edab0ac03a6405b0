"""Run-time query of a room's neural acoustic field (numpy + onnxruntime only).

``Field(room).query(src, lis, yaw)`` -> (N, 2, n) float32 binaural room impulse responses at
48 kHz (``dsp.IR_RATE``), n = the room's IR length. Per query: one ONNX run of the room's
field (``spatial_<room>``: early part + tail parameters) and one of ``spatial_hrir`` (the
KEMAR HRIR of the direct path's direction), then numpy assembly (see :mod:`dsp`).
Missing or corrupt model files raise :class:`engines.errors.ModelError`.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from engines import runtime
from engines.errors import ModelError
from engines.spatial import dsp
from engines.spatial.rooms import Room, room as get_room

HRIR_MODEL = "spatial_hrir"


def model_name(room_name: str) -> str:
    return f"spatial_{room_name}"


def head_vectors(src: np.ndarray, lis: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Source positions relative to the listener, in the head frame (x front, y left, z up)."""
    v = np.asarray(src, np.float64) - np.asarray(lis, np.float64)
    yaw = np.asarray(yaw, np.float64).reshape(-1)
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([v[:, 0] * c + v[:, 1] * s, -v[:, 0] * s + v[:, 1] * c, v[:, 2]], axis=-1)


def assemble(early: np.ndarray, tail: np.ndarray, hrir: np.ndarray, dist: float, n: int) -> np.ndarray:
    """One BRIR (2, n) at IR_RATE from the field's early part, tail params and direct HRIR."""
    return dsp.place_direct(hrir, dist, n) + dsp.early_to_ir_rate(early, n) + dsp.tail(tail, n)


class Field:
    """A room's trained field, ready to query (sessions are cached per process)."""

    def __init__(self, room: str | Room, models_dir: Path = runtime.MODELS_DIR) -> None:
        self.room = room if isinstance(room, Room) else get_room(room)
        self.name = model_name(self.room.name)
        self.session = runtime.session(self.name, models_dir, cpu_only=True)
        self.hrir_session = runtime.session(HRIR_MODEL, models_dir, cpu_only=True)
        self.n = int(round(self.room.ir_s * dsp.IR_RATE))
        self.sample_rate = dsp.IR_RATE

    def _run(self, sess, feeds: dict) -> list:
        try:
            return sess.run(None, feeds)
        except Exception as exc:  # onnxruntime's own error types
            raise ModelError(f"model {self.name} failed to run ({exc}); reinstall the studio") from None

    def raw(self, src, lis, yaw):
        """(early (N, 2, T) at FIELD_RATE, tail params (N, 2, bands, 2), hrir (N, 2, taps))."""
        src = np.atleast_2d(np.asarray(src, np.float32))
        lis = np.atleast_2d(np.asarray(lis, np.float32))
        yaw = np.asarray(yaw, np.float32).reshape(-1, 1)
        early, tail = self._run(self.session, {"src": src, "lis": lis, "yaw": yaw})
        return early, tail, self.hrirs(src, lis, yaw)

    def hrirs(self, src, lis, yaw) -> np.ndarray:
        """The direct path's HRIRs (N, 2, taps) alone (``spatial_hrir``, no field run): what
        the offline renderer needs at every block of a moving source."""
        src = np.atleast_2d(np.asarray(src, np.float32))
        lis = np.atleast_2d(np.asarray(lis, np.float32))
        yaw = np.asarray(yaw, np.float32).reshape(-1, 1)
        hv = head_vectors(src, lis, yaw).astype(np.float32)
        (hrir,) = self._run(self.hrir_session, {"dir": hv})
        return hrir

    def query(self, src, lis, yaw) -> np.ndarray:
        """BRIRs (N, 2, n) float32 at 48 kHz for N source / listener / yaw triples."""
        src = np.atleast_2d(np.asarray(src, np.float64))
        lis = np.atleast_2d(np.asarray(lis, np.float64))
        src = np.stack([self.room.clip(p) for p in src])
        lis = np.stack([self.room.clip(p) for p in lis])
        early, tail, hrir = self.raw(src, lis, yaw)
        dist = np.linalg.norm(src - lis, axis=-1)
        return np.stack([assemble(early[i], tail[i], hrir[i], dist[i], self.n) for i in range(len(src))])


_fields: dict[tuple[str, str], Field] = {}
_lock = threading.Lock()


def field(room: str, models_dir: Path = runtime.MODELS_DIR) -> Field:
    """The cached Field of a preset room."""
    r = get_room(room)
    key = (r.name, str(models_dir))
    with _lock:
        if key not in _fields:
            _fields[key] = Field(r, models_dir)
        return _fields[key]


def available_rooms(models_dir: Path = runtime.MODELS_DIR) -> list[str]:
    """Preset rooms whose trained field is in the manifest."""
    from engines.spatial.rooms import PRESETS

    manifest = runtime.load_manifest(models_dir)
    return [n for n in PRESETS if model_name(n) in manifest and HRIR_MODEL in manifest]
