"""Teacher simulator: binaural room impulse responses of a shoebox room (training data, checks).

Image sources from pyroomacoustics (its C++ image-source model, wall materials from its
absorption tables, air absorption), then every image source is rendered through the HRIR of
its direction in the listener's head frame (nearest of the 710 measured KEMAR directions, or
the spherical head when that set is absent), with its own per-octave-band wall damping and
air absorption, at its own delay (nearest sample at 48 kHz, 1/(4 pi r) spreading):

    brir_ear(t) = sum_b F_b * sum_i beta_{i,b} e^{-a_b r_i / 2} / (4 pi r_i) h_ear,d(i)(t - r_i / c)

where F_b is pyroomacoustics' octave filter bank (125 Hz .. 16 kHz, bands sum to one). The
direct path (order 0) is kept apart so the neural field can learn the rest.

Training-only: needs pyroomacoustics and h5py (the ``[train]`` extra); the run-time renderer
never imports this module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engines.spatial.hrtf import SPEED_OF_SOUND, HRIRSet, default_hrtf
from engines.spatial.rooms import SURFACES, Room

FS = 48000


@dataclass(frozen=True)
class TeacherIR:
    direct: np.ndarray  # (2, n) float32: the order-0 path alone
    ir: np.ndarray  # (2, n) float32: everything (direct included)
    sample_rate: int
    n_images: int


def _pra_room(r: Room, fs: int, max_order: int | None = None):
    import pyroomacoustics as pra

    mats = {s: pra.Material(r.materials.get(s, "hard_surface")) for s in SURFACES}
    return pra.ShoeBox(list(r.dims), fs=fs, materials=mats,
                       max_order=r.max_order if max_order is None else max_order,
                       air_absorption=True, use_rand_ism=False)


@lru_cache(maxsize=8)
def _filters(fs: int):
    import pyroomacoustics as pra

    ob = pra.acoustics.OctaveBandsFactory(base_frequency=125, fs=fs, n_fft=512, keep_dc=True)
    filt = ob.filters.T.astype(np.float64)  # (bands, 512), linear phase
    delay = int(np.argmax(np.abs(filt.sum(axis=0))))
    return filt, delay, np.asarray(ob.centers)


def head_frame(v: np.ndarray, yaw: float) -> np.ndarray:
    """Room-frame vectors (N, 3) in the head frame of a listener facing ``yaw`` (rad from +x)."""
    c, s = math.cos(yaw), math.sin(yaw)
    x = v[:, 0] * c + v[:, 1] * s
    y = -v[:, 0] * s + v[:, 1] * c
    return np.stack([x, y, v[:, 2]], axis=-1)


def brir(r: Room, src, lis, yaw: float, *, fs: int = FS, hrtf: HRIRSet | None = None,
         length_s: float | None = None, max_order: int | None = None, dc_blocked: bool = True) -> TeacherIR:
    """The teacher's binaural room impulse response for one source/listener/head yaw
    (``dc_blocked=False``: without :func:`dc_block`, as before issue 17)."""
    from scipy.signal import fftconvolve

    hrtf = hrtf or default_hrtf(fs)
    src, lis = r.clip(src), r.clip(lis)
    room = _pra_room(r, fs, max_order)
    room.add_source(list(src))
    room.add_microphone(list(lis))
    room.image_source_model()
    s = room.sources[0]
    images = np.asarray(s.images, dtype=np.float64).T  # (I, 3)
    damping = np.asarray(s.damping, dtype=np.float64)  # (bands, I)
    orders = np.asarray(s.orders)
    air = np.asarray(room.air_absorption, dtype=np.float64)  # (bands,)
    vec = images - lis
    dist = np.maximum(np.linalg.norm(vec, axis=1), 0.05)
    n = int(round((length_s or r.ir_s) * fs))
    keep = dist / SPEED_OF_SOUND * fs < n - hrtf.ir.shape[-1]
    vec, dist, damping, orders = vec[keep], dist[keep], damping[:, keep], orders[keep]
    d_idx = hrtf.nearest(head_frame(vec, yaw))
    amp = damping * np.exp(-0.5 * air[:, None] * dist[None, :]) / (4 * math.pi * dist[None, :])  # (B, I)
    delay = np.round(dist / SPEED_OF_SOUND * fs).astype(np.int64)
    filt, fdelay, _ = _filters(fs)
    B, taps = amp.shape[0], hrtf.ir.shape[-1]
    h = hrtf.ir[d_idx].astype(np.float64)  # (I, 2, taps)
    t_idx = delay[:, None] + np.arange(taps)[None, :]  # (I, taps)
    out = np.zeros((2, n))
    direct = np.zeros((2, n))
    for ear in range(2):
        acc = np.zeros((B, n + taps))
        for b in range(B):
            w = amp[b][:, None] * h[:, ear]
            acc[b] = np.bincount(t_idx.ravel(), weights=w.ravel(), minlength=n + taps)
        y = sum(fftconvolve(acc[b], filt[b])[fdelay:fdelay + n] for b in range(B))
        out[ear] = y
        d0 = np.flatnonzero(orders == 0)
        for i in d0:  # the direct path, broadband (band gains summed through the same filters)
            imp = np.zeros((B, n + taps))
            imp[:, delay[i]:delay[i] + taps] = amp[:, i][:, None] * h[i, ear][None, :]
            direct[ear] += sum(fftconvolve(imp[b], filt[b])[fdelay:fdelay + n] for b in range(B))
    # the reverberant part without its sub-audio build-up (see dc_block)
    if dc_blocked:
        out = direct + dc_block(out - direct, fs)
    return TeacherIR(direct.astype(np.float32), out.astype(np.float32), fs, int(keep.sum()))


def dc_block(x: np.ndarray, fs: int = FS) -> np.ndarray:
    """Causal high-pass at ``dsp.DC_HZ`` (2nd-order Butterworth) along the last axis. Every image
    source arrives with the same sign, so their sum piles up a DC / sub-20 Hz component (in the
    studio ~40 dB above the direct sound below 20 Hz) that no audio source excites; left in, it
    dominates the lowest tail band's fitted level and every broadband energy measure once the
    HRIRs' low end is equalised."""
    from scipy.signal import butter, sosfilt

    from engines.spatial.dsp import DC_HZ

    return sosfilt(butter(2, DC_HZ, "highpass", fs=fs, output="sos"), x, axis=-1)


def decay_time(h: np.ndarray, fs: int, decay_db: float = 30.0) -> float:
    """RT60 from the Schroeder integral: the -5 dB .. -(5 + decay_db) dB slope, extrapolated."""
    e = np.cumsum((np.asarray(h, dtype=np.float64) ** 2)[::-1])[::-1]
    if e[0] <= 0:
        return float("nan")
    edc = 10 * np.log10(np.maximum(e / e[0], 1e-30))
    i0 = int(np.argmax(edc <= -5.0))
    i1 = int(np.argmax(edc <= -5.0 - decay_db))
    if i1 <= i0:
        return float("nan")
    t = np.arange(i0, i1) / fs
    slope = np.polyfit(t, edc[i0:i1], 1)[0]
    return float(-60.0 / slope)


def theory_rt60(r: Room, fs: int = FS) -> dict:
    """Sabine and Eyring RT60 per octave band (125 Hz .. 16 kHz), air absorption included."""
    import pyroomacoustics as pra

    room = _pra_room(r, fs, 0)
    W, D, H = r.dims
    V = W * D * H
    areas = {"west": D * H, "east": D * H, "south": W * H, "north": W * H, "floor": W * D, "ceiling": W * D}
    S = sum(areas.values())
    m = np.asarray(room.air_absorption, dtype=np.float64)
    alpha = np.zeros_like(m)
    for s in SURFACES:
        a = np.asarray(pra.Material(r.materials.get(s, "hard_surface")).absorption_coeffs, dtype=np.float64)
        a = np.concatenate([a, np.full(max(0, len(m) - len(a)), a[-1])])[:len(m)]
        alpha += areas[s] * a
    mean_a = alpha / S
    k = 24 * math.log(10) / SPEED_OF_SOUND
    sabine = k * V / (alpha + 4 * m * V)
    eyring = k * V / (-S * np.log(1 - mean_a) + 4 * m * V)
    return {"centers_hz": list(_filters(fs)[2]), "sabine_s": sabine.tolist(), "eyring_s": eyring.tolist()}


def rt60_check(r: Room, fs: int = FS, bands=(500, 1000, 2000)) -> dict:
    """Measured RT60 (T30 of the omni image-source IR, per octave band) vs Sabine / Eyring."""
    from scipy.signal import fftconvolve

    room = _pra_room(r, fs)
    room.add_source(list(r.default_source()))
    room.add_microphone(list(r.listener))
    room.compute_rir()
    h = np.asarray(room.rir[0][0], dtype=np.float64)
    th = theory_rt60(r, fs)
    filt, fdelay, centers = _filters(fs)
    out = {"room": r.name, "max_order": r.max_order, "bands_hz": list(bands),
           "measured_s": [], "sabine_s": [], "eyring_s": []}
    for c in bands:
        b = int(np.argmin(np.abs(centers - c)))
        hb = fftconvolve(h, filt[b])[fdelay:]
        out["measured_s"].append(decay_time(hb, fs))
        out["sabine_s"].append(th["sabine_s"][b])
        out["eyring_s"].append(th["eyring_s"][b])
    out["broadband_measured_s"] = decay_time(h, fs)
    return out
