"""Analysis values: parameters, impacts and the feature timeline (with npz save/load)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.errors import AnalysisError
from studio.fsutil import atomic_path

FORMAT_VERSION = 14  # bump when the meaning of a stored field changes (old caches are recomputed)

N_DIRECTIONS = 10  # directogram angle bins (DESIGN.md: visual rhythm)


@dataclass(frozen=True)
class AnalysisParams:
    """Everything that changes the analysis result (and so its cache key)."""

    rate_hz: float = 30.0  # feature grid rate
    max_side: int = 160  # decoded frame size (colour, cuts)
    beats_per_bar: int = 4
    tempo_min_bpm: float = 60.0
    tempo_max_bpm: float = 200.0
    # motion on gray frames with the long side ``flow_max_side`` (frame difference, contacts:
    # 160 px keeps a drumstick or a small ball a few pixels wide; 96 px found fewer contacts,
    # drums on 90.5 % of the suite's contacts within 25 ms instead of 92.7 %, p95 62 ms instead
    # of 36, at the same cost); optical flow (Farneback) on those frames shrunk to
    # ``farneback_side``: its cost grows with the pixels (80 instead of 96: `studio bench
    # analysis` 1.46-1.57x decoding instead of 1.59-1.67x, but tempo Acc1 0.92 instead of 0.95 on
    # the sync suite and a busier live groove)
    flow_max_side: int = 160
    farneback_side: int = 96
    flow_levels: int = 3
    flow_winsize: int = 9
    flow_iterations: int = 1
    flow_poly_n: int = 5
    flow_poly_sigma: float = 1.1
    motion_threshold: float = 0.02  # frame heights / s: slower pixels count as still
    onset_smooth_s: float = 0.05  # onset envelope smoothing (Gaussian sigma)
    # impacts: per-cell vertical velocity reversals
    impact_grid: tuple[int, int] = (8, 6)  # frame-difference cells (columns, rows) for contacts
    impact_min_dv: float = 0.6  # frame heights / s: smallest velocity change that counts
    impact_min_gap_s: float = 0.1  # one impact per place within this time
    # scene cuts: colour-histogram distance against a running median
    cut_min_distance: float = 0.3
    cut_ratio: float = 4.0
    cut_min_gap_s: float = 0.3

    def __post_init__(self) -> None:
        problems = []
        if not self.rate_hz >= 12.5:
            problems.append(f"rate_hz {self.rate_hz} (at least 12.5 Hz is needed to place beats)")
        if self.beats_per_bar < 1:
            problems.append(f"beats_per_bar {self.beats_per_bar} (at least 1)")
        if not 0 < self.tempo_min_bpm < self.tempo_max_bpm:
            problems.append(f"tempo range {self.tempo_min_bpm}-{self.tempo_max_bpm} BPM")
        if self.max_side < 16 or self.flow_max_side < 16 or self.farneback_side < 16:
            problems.append("max_side / flow_max_side / farneback_side below 16 px")
        gw, gh = self.impact_grid
        if not (1 <= gw <= 16 and 1 <= gh <= 16):
            problems.append(f"impact_grid {self.impact_grid} (1..16 cells each way)")
        if problems:
            raise AnalysisError("invalid analysis settings: " + "; ".join(problems))

    def key(self) -> str:
        """A stable hash of the parameters (and the format version) for cache file names."""
        payload = json.dumps({"v": FORMAT_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AnalysisParams":
        names = {f.name: f for f in dataclasses.fields(cls)}
        kw = {}
        for k, v in d.items():
            if k in names:
                kw[k] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)


@dataclass(frozen=True)
class Impact:
    time_s: float
    # where the hitting object is: the centroid of its moving pixels around the impact (its
    # centre, not the contact point), 0..1 across / down the displayed frame
    x: float
    y: float
    strength: float  # 0..1, grows with the velocity change

    def to_dict(self) -> dict:
        return {"time_s": round(self.time_s, 4), "x": round(self.x, 4), "y": round(self.y, 4),
                "strength": round(self.strength, 4)}


_ARRAYS = ("times_s", "motion_energy", "directogram", "onset_envelope", "beat_times_s",
           "downbeat_times_s", "seconds_s", "brightness", "saturation", "colour_rgb",
           "motion_mean", "motion_var", "cut_rate")


@dataclass(frozen=True, eq=False)
class AnalysisTimeline:
    source: str
    content_hash: str
    params: AnalysisParams
    duration_s: float
    rate_hz: float
    times_s: np.ndarray  # (N,) k / rate_hz
    motion_energy: np.ndarray  # (N,) mean flow speed, frame heights / s
    directogram: np.ndarray  # (N, 10) magnitude-weighted flow direction histogram
    onset_envelope: np.ndarray  # (N,) positive directogram flux, 0..1
    tempo_bpm: float  # the beat grid's tempo (median beat interval); a gentle default without a pulse
    beat_times_s: np.ndarray  # on the contacts where there are some; empty without a clear pulse
    downbeat_times_s: np.ndarray
    impacts: tuple[Impact, ...]
    cuts_s: tuple[float, ...]
    seconds_s: np.ndarray  # (M,) start of each second
    brightness: np.ndarray  # (M,) 0..1
    saturation: np.ndarray  # (M,) 0..1
    colour_rgb: np.ndarray  # (M, 3) 0..1
    motion_mean: np.ndarray  # (M,)
    motion_var: np.ndarray  # (M,)
    cut_rate: np.ndarray  # (M,) cuts in each second
    tempo_confidence: float = 1.0  # 0..1; below 0.2 the picture has no clear pulse
    extra: dict = field(default_factory=dict)  # not saved: e.g. {"cached": True, "wall_s": ...}

    def summary(self) -> dict:
        s = {
            "source": self.source,
            "content_hash": self.content_hash,
            "duration_s": round(float(self.duration_s), 4),
            "rate_hz": float(self.rate_hz),
            "frames": int(len(self.times_s)),
            "tempo_bpm": round(float(self.tempo_bpm), 2),
            "tempo_confidence": round(float(self.tempo_confidence), 3),
            "rhythmic": bool(len(self.beat_times_s) >= 2),
            "beats_per_bar": int(self.params.beats_per_bar),
            "beat_times_s": [round(float(t), 4) for t in self.beat_times_s],
            "downbeat_times_s": [round(float(t), 4) for t in self.downbeat_times_s],
            "impacts": [i.to_dict() for i in self.impacts],
            "cuts_s": [round(float(t), 4) for t in self.cuts_s],
            "counts": {"beats": int(len(self.beat_times_s)), "downbeats": int(len(self.downbeat_times_s)),
                       "impacts": len(self.impacts), "cuts": len(self.cuts_s)},
        }
        if "wall_s" in self.extra:
            s["analysis_wall_s"] = round(float(self.extra["wall_s"]), 3)
        if "cached" in self.extra:
            s["cached"] = bool(self.extra["cached"])
        return s

    def save(self, path: str | os.PathLike) -> None:
        """One .npz: the arrays plus a JSON document (scalars, params, impacts, cuts)."""
        meta = {
            "format": FORMAT_VERSION, "source": self.source, "content_hash": self.content_hash,
            "params": self.params.to_dict(), "duration_s": float(self.duration_s),
            "rate_hz": float(self.rate_hz), "tempo_bpm": float(self.tempo_bpm),
            "tempo_confidence": float(self.tempo_confidence),
            "impacts": [dataclasses.asdict(i) for i in self.impacts],
            "cuts_s": [float(t) for t in self.cuts_s],
        }
        arrays = {name: np.asarray(getattr(self, name)) for name in _ARRAYS}
        buf = io.BytesIO()
        np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
        path = Path(path)
        with atomic_path(path, error=AnalysisError) as tmp:
            tmp.write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AnalysisTimeline":
        """Read a saved timeline; a damaged or foreign file raises AnalysisError."""
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                arrays = {name: np.array(z[name]) for name in _ARRAYS}
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {meta.get('format')} is not {FORMAT_VERSION}")
            return cls(
                source=meta["source"], content_hash=meta["content_hash"],
                params=AnalysisParams.from_dict(meta["params"]), duration_s=float(meta["duration_s"]),
                rate_hz=float(meta["rate_hz"]), tempo_bpm=float(meta["tempo_bpm"]),
                tempo_confidence=float(meta.get("tempo_confidence", 1.0)),
                impacts=tuple(Impact(**i) for i in meta["impacts"]),
                cuts_s=tuple(float(t) for t in meta["cuts_s"]), **arrays)
        except FileNotFoundError:
            raise AnalysisError(f"{path} does not exist") from None
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise AnalysisError(f"{path} is not a readable analysis file ({exc}); analyse the video again") from None
