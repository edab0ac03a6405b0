"""Varispeed resampling for the audio feeder: a source read forward in run frames, played at a rate
that may change from block to block (studio.transport.clock.RateMap).

Each output frame ``u`` plays run frame ``v(u)`` (a real number); :class:`VarispeedReader` reads
the source in order, each source frame exactly once (engines with state, e.g. the spatial
convolution, see the same contiguous calls as at rate 1), keeps the last few frames and
interpolates band-limited at ``v(u)``: a Kaiser-windowed sinc of ``2 * HALF_WIDTH`` taps at rate
<= 1; faster, its cutoff drops to 1/rate of the source's Nyquist (and it widens to keep as many
zero crossings), so what the speed-up would fold back is filtered out first. As ``v(u)`` is
continuous whatever the rate does, a rate change bends the pitch, it never clicks. Like tape
varispeed (or a turntable's pitch fader), pitch follows speed: 5 % faster is 5 % higher
(0.84 semitone). (soxr's streaming resampler takes one fixed ratio per stream, so it cannot
follow a rate that changes while playing; its quality is matched here for what a chase needs.)
At rate exactly 1 on whole frames the kernel is the identity.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

HALF_WIDTH = 8  # taps each side at rate <= 1
BETA = 8.0  # Kaiser window: about 80 dB stop band
MAX_RATE = 2.0
_GRID = np.linspace(-1.0, 1.0, 8193)
_WINDOW = np.i0(BETA * np.sqrt(np.clip(1.0 - _GRID ** 2, 0.0, None))) / float(np.i0(BETA))  # looked up


def kernel(frac: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(tap offsets, weights (n, taps)) to interpolate at ``base + frac`` from frames base + offsets."""
    c = min(1.0, 1.0 / max(rate, 1e-6))  # cutoff, as a fraction of the source's Nyquist
    h = int(math.ceil(HALF_WIDTH / c))
    offs = np.arange(-h + 1, h + 1)
    x = frac[:, None] - offs[None, :]  # distance of each tap from the wanted position
    w = np.sinc(c * x) * np.interp(x / h, _GRID, _WINDOW)
    w /= w.sum(axis=1, keepdims=True)  # DC gain exactly 1
    return offs, w


def max_half_width(max_rate: float = MAX_RATE) -> int:
    return int(math.ceil(HALF_WIDTH * max(1.0, max_rate)))


class VarispeedReader:
    """Band-limited interpolation of a source read forward: ``read(out, v0)`` adds run frames
    [v0, v0 + out.shape[1]) of the source into the zeroed ``out`` (channels, m); run frames before
    ``start`` are silence (the transport fades in there anyway)."""

    def __init__(self, channels: int, read: Callable[[np.ndarray, int], None], start: int = 0) -> None:
        self.channels = int(channels)
        self.read = read
        self.keep = max_half_width() + 2  # frames kept behind the oldest tap of the last block
        self._buf = np.zeros((self.channels, self.keep), np.float32)
        self._v0 = int(start) - self.keep  # run frame of _buf[:, 0]
        self.read_frames = 0  # source frames read so far (tests)

    @property
    def end(self) -> int:
        """The first run frame not read yet."""
        return self._v0 + self._buf.shape[1]

    def process(self, out: np.ndarray, positions: np.ndarray, rate: float) -> None:
        """Write into ``out`` (channels, n) the source at run frames ``positions`` (n, rising)."""
        base = np.floor(positions).astype(np.int64)
        offs, w = kernel(positions - base, rate)
        lo, hi = int(base[0]) + int(offs[0]), int(base[-1]) + int(offs[-1]) + 1
        if hi > self.end:
            more = np.zeros((self.channels, hi - self.end), np.float32)
            self.read(more, self.end)
            self.read_frames += more.shape[1]
            self._buf = np.concatenate([self._buf, more], axis=1)
        if lo < self._v0:  # the kernel widened past what was kept (a jump to a faster rate)
            pad = np.zeros((self.channels, self._v0 - lo), np.float32)
            self._buf, self._v0 = np.concatenate([pad, self._buf], axis=1), lo
        idx = (base - self._v0)[:, None] + offs[None, :]
        taps = self._buf[:, idx]  # (channels, n, taps)
        out[:] = np.einsum("cnk,nk->cn", taps, w.astype(np.float32), optimize=False)
        drop = lo - self.keep - self._v0  # keep what the next block may look back to
        if drop > 0:
            self._buf = self._buf[:, drop:]
            self._v0 += drop
