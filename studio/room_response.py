"""The room response of a spatial track: what the app's Room response window plots
(``ui/widgets/room_response.py``), computed here so it is testable without Qt.

The impulse response is the renderer's own filter: ``engines.spatial.render.brir`` of the pose
the renderer's path (``studio.adapters.spatial.track_path``) gives at a time, at the field's
48 kHz and with the renderer's gain (a source 1 m away has a unity direct path). The measures:

* energy decay curve (Schroeder backward integral) per ear and of both ears' energy, dB;
* T30: a least-squares line through the -5 .. -35 dB part of both ears' curve, extrapolated to
  60 dB; T20 (-5 .. -25 dB) when the T30 line does not fall another 10 dB below its range by the
  IR's end (the IR stops before the room has decayed: the backward integral bends down there and
  the fit would be too short); neither: not measured;
* DRR: the energy up to 2.5 ms after the first arrival over the energy after it (both ears);
* magnitude per ear: power spectrum averaged over 1/6 octave around each point of a log grid
  (an unsmoothed spectrum of a reverberant IR is too dense to read).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from studio.errors import StudioError

DIRECT_WINDOW_S = 0.0025  # the direct sound: up to this after the first arrival (the HRIR is 2.7 ms)
ONSET_FRACTION = 0.1  # the first arrival: the first sample at this fraction of the peak
T30_RANGE_DB = (-5.0, -35.0)
T20_RANGE_DB = (-5.0, -25.0)
MARGIN_DB = 10.0  # a fitted line must reach this far below its range by the IR's end (truncation)
SMOOTH_OCTAVES = 1 / 6
FREQ_RANGE_HZ = (20.0, 20000.0)
FREQ_POINTS = 400
FLOOR_DB = -300.0


@dataclass(frozen=True)
class Decay:
    """A reverberation time fitted to an energy decay curve: ``method`` "T30", "T20", or "" when
    it could not be measured (``t60_s`` NaN). The fitted line is ``intercept_db + slope_db_per_s * t``
    between ``start_s`` and ``end_s``."""

    t60_s: float
    method: str
    slope_db_per_s: float = math.nan
    intercept_db: float = math.nan
    start_s: float = math.nan
    end_s: float = math.nan

    def line(self, t: np.ndarray) -> np.ndarray:
        return self.intercept_db + self.slope_db_per_s * np.asarray(t, np.float64)


@dataclass(frozen=True, eq=False)
class RoomResponse:
    room: str
    sample_rate: int
    ir: np.ndarray  # (2, n) left, right ear, as the renderer convolves
    times_ms: np.ndarray  # (n,)
    edc_db: np.ndarray  # (2, n) per ear
    edc_both_db: np.ndarray  # (n,) both ears' energy
    decay: Decay
    drr_db: float
    freqs_hz: np.ndarray  # (F,) log-spaced
    magnitude_db: np.ndarray  # (2, F)
    direct_start: int = 0  # samples: the first arrival ...
    direct_end: int = 0  # ... and where the DRR's direct sound ends
    source: tuple[float, float, float] | None = None  # room coordinates, m
    listener: tuple[float, float, float] | None = None
    azimuth_deg: float = math.nan  # of the source, seen from the listener: > 0 right
    time_s: float = 0.0  # the track time the pose is taken at

    @property
    def distance_m(self) -> float:
        if self.source is None or self.listener is None:
            return math.nan
        return float(np.linalg.norm(np.subtract(self.source, self.listener)))


# ----------------------------------------------------------------------------- measures


def energy_decay_db(energy: np.ndarray) -> np.ndarray:
    """Schroeder's backward integral of ``energy`` (..., n) (squared samples), in dB re the total
    (0 dB at the start, falling to the end; never below ``FLOOR_DB``)."""
    e = np.cumsum(np.asarray(energy, np.float64)[..., ::-1], axis=-1)[..., ::-1]
    total = np.maximum(e[..., :1], 1e-300)
    return np.maximum(10 * np.log10(np.maximum(e / total, 1e-300)), FLOOR_DB)


def _fit(edc_db: np.ndarray, fs: int, top: float, bottom: float, method: str) -> Decay | None:
    """The line through edc_db from its first crossing of ``top`` to that of ``bottom``; None
    when the curve never gets there, or the line says the room had not decayed ``MARGIN_DB``
    further by the IR's end (where the integral is cut off: a 0.5 dB error at ``bottom``)."""
    below = edc_db <= bottom
    if not below.any():
        return None
    i0, i1 = int(np.argmax(edc_db <= top)), int(np.argmax(below))
    if i1 <= i0 + 2:
        return None
    t = np.arange(i0, i1) / fs
    slope, intercept = np.polyfit(t, edc_db[i0:i1], 1)
    if not slope < 0 or intercept + slope * len(edc_db) / fs > bottom - MARGIN_DB:
        return None
    return Decay(float(-60.0 / slope), method, float(slope), float(intercept), i0 / fs, i1 / fs)


def decay_time(edc_db: np.ndarray, fs: int) -> Decay:
    """T30 of an energy decay curve (dB, 0 at the start), else T20, else NaN with method ""."""
    edc_db = np.asarray(edc_db, np.float64)
    return (_fit(edc_db, fs, *T30_RANGE_DB, "T30") or _fit(edc_db, fs, *T20_RANGE_DB, "T20")
            or Decay(math.nan, ""))


def first_arrival(ir: np.ndarray) -> int:
    """The first sample where either ear reaches ``ONSET_FRACTION`` of the IR's peak."""
    a = np.abs(np.atleast_2d(np.asarray(ir, np.float64))).max(axis=0)
    peak = a.max() if a.size else 0.0
    return int(np.argmax(a >= ONSET_FRACTION * peak)) if peak > 0 else 0


def direct_end(ir: np.ndarray, fs: int, window_s: float = DIRECT_WINDOW_S) -> int:
    """The sample where the direct sound ends: ``window_s`` after the first arrival."""
    return first_arrival(ir) + int(round(window_s * fs))


def drr_db(ir: np.ndarray, fs: int, window_s: float = DIRECT_WINDOW_S) -> float:
    """Direct-to-reverberant ratio (dB) of an IR (n,) or (ears, n): the energy up to ``window_s``
    after the first arrival over the energy after it, ears summed; +inf without reverberation."""
    e = np.sum(np.atleast_2d(np.asarray(ir, np.float64)) ** 2, axis=0)
    split = direct_end(ir, fs, window_s)
    direct, reverberant = float(e[:split].sum()), float(e[split:].sum())
    if direct <= 0:
        raise StudioError("the impulse response is silent: no direct sound to measure")
    return math.inf if reverberant <= 0 else 10 * math.log10(direct / reverberant)


def magnitude_db(ir: np.ndarray, fs: int, points: int = FREQ_POINTS, octaves: float = SMOOTH_OCTAVES,
                 freq_range: tuple[float, float] = FREQ_RANGE_HZ) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies (points,) log-spaced, magnitude dB (..., points)): the IR's power spectrum
    averaged over ``octaves`` around each frequency (at least the nearest bin)."""
    ir = np.asarray(ir, np.float64)
    n_fft = 1 << max(1, int(ir.shape[-1] - 1).bit_length())
    power = np.abs(np.fft.rfft(ir, n_fft, axis=-1)) ** 2
    bin_hz = fs / n_fft
    lo, hi = freq_range[0], min(freq_range[1], fs / 2)
    f = np.geomspace(lo, hi, points)
    half = 2.0 ** (octaves / 2)
    a = np.clip(np.floor(f / half / bin_hz + 0.5).astype(int), 0, power.shape[-1] - 1)
    b = np.clip(np.floor(f * half / bin_hz + 0.5).astype(int), a, power.shape[-1] - 1)
    csum = np.concatenate([np.zeros(power.shape[:-1] + (1,)), np.cumsum(power, axis=-1)], axis=-1)
    mean = (csum[..., b + 1] - csum[..., a]) / (b - a + 1)
    return f, np.maximum(10 * np.log10(np.maximum(mean, 1e-300)), FLOOR_DB)


def measure(ir: np.ndarray, fs: int, room: str = "", **where) -> RoomResponse:
    """Every curve and figure of a binaural IR (2, n) at ``fs``; ``where``: the RoomResponse's
    source, listener, azimuth_deg and time_s."""
    ir = np.asarray(ir, np.float64)
    if ir.ndim != 2 or ir.shape[0] != 2 or ir.shape[1] < 8:
        raise StudioError(f"a binaural impulse response is (2, n) samples, not {ir.shape}")
    energy = ir ** 2
    both = energy_decay_db(energy.sum(axis=0))
    freqs, mag = magnitude_db(ir, fs)
    return RoomResponse(room=room, sample_rate=int(fs), ir=ir, times_ms=np.arange(ir.shape[1]) * 1000.0 / fs,
                        edc_db=energy_decay_db(energy), edc_both_db=both, decay=decay_time(both, fs),
                        drr_db=drr_db(ir, fs), freqs_hz=freqs, magnitude_db=mag, direct_start=first_arrival(ir),
                        direct_end=direct_end(ir, fs), **where)


# ----------------------------------------------------------------------------- a track's


def available_rooms() -> list[str]:
    """The preset rooms with a trained field in this build (none without the spatial engine)."""
    from studio import adapters

    if not adapters.present("spatial"):
        return []
    from engines.spatial import infer

    return infer.available_rooms()


def track_response(track, time_s: float = 0.0, room: str | None = None) -> RoomResponse:
    """The room response of ``track``'s source at ``time_s`` in ``room`` (default: the track's
    own room); a StudioError when neither is set, or the room has no trained field here."""
    from studio import adapters

    if not adapters.present("spatial"):
        raise StudioError("the spatial engine is not part of this build")
    if not (room or track.room):
        raise StudioError(f"{track.name} is not placed in a room (generate with Spatial, or choose a room)")
    spatial = adapters.load("spatial")
    name = spatial.check_room(room or track.room)
    from engines.spatial import dsp, infer, render

    field = infer.field(name)
    src, lis, yaw = spatial.track_path(track, field.room)(float(time_s))
    src, lis = field.room.clip(src), field.room.clip(lis)
    ir = render.brir(field, (src, lis, yaw), dsp.IR_RATE)
    ahead, left, _ = infer.head_vectors(src[None], lis[None], np.array([yaw]))[0]
    return measure(ir, dsp.IR_RATE, room=name, source=tuple(map(float, src)), listener=tuple(map(float, lis)),
                   azimuth_deg=math.degrees(math.atan2(-left, ahead)), time_s=float(time_s))
