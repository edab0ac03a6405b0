"""Optical-flow motion features per pair of consecutive analysed frames.

Farneback flow on small gray frames; velocities are expressed in frame heights per second
(flow / (frame height * dt)), so results do not depend on the analysis size or the frame rate.
Camera motion is taken out first: an affine model of the flow (pan, tilt, zoom, roll), fitted
robustly (RANSAC) on a coarse grid (the moving objects are outliers), is subtracted, so a pan or a zoom
is not read as rhythm or as impacts.

Optical flow loses small objects that move more than their own size between frames (a ball near
the floor: 1-2 diameters a frame at 30 fps), exactly at the contacts. So each pair also keeps the
*frame difference* per cell (after undoing the camera motion): its centroid follows such an
object at any speed (midway between where it was and where it is), which is what
``impacts`` tracks.
Per pair we keep: motion energy (mean speed), the directogram (10 angle bins weighted by speed;
angle measured from +x towards +y, y pointing down) and per-grid-cell frame-difference sums
used to find impacts (the flow itself is summed over the whole frame only: energy and
directogram).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from studio.analysis.flow import FarnebackFlow
from studio.analysis.timeline import N_DIRECTIONS, AnalysisParams

# channels of the per-cell sums: cell means of d, d*x, d*y (d = frame difference after camera
# compensation, above noise; x, y the pixel's place in frame widths / heights)
CELL_D, CELL_DX, CELL_DY = range(3)
N_CELL = 3
DIFF_THRESHOLD = 12.0  # gray levels: smaller frame differences are noise or compression
CAMERA_STRIDE = 4  # fit the camera model on every 4th pixel each way (336 points at 96 x 54)
CAMERA_INLIER_PX = 0.3  # px per frame: a pixel further than this from the camera model is an object
CAMERA_MIN_MOTION_PX = 0.03  # mean camera flow below this (px per frame) is a still camera
# with the camera's motion taken out, the median pixel (the background: objects cover less than
# half the picture) still moves by the fit's error (a zoom is not exactly affine on a resampled
# texture); a pixel counts as moving only above this many times that median. On the sync suite's
# moving-camera clips (pan / zoom) this lifts a zooming drummer's pulse out of the background:
# tempo 10/10 within 4 % on the suite and on the held-out copy (9/10 each at 1.5x and 3x)
RESIDUAL_FACTOR = 2.0
# frames closer than this (s) are compared first: a frame no pixel of which differs from the one
# before by more than DIFF_THRESHOLD repeats it (a 30 fps source doubled to 60 fps, a stalled
# capture) and is left out, else every other pair would show no motion and the next one all of it:
# the deceleration flux of every repeat (a doubled 96 BPM dancer's beats: F 0.36 within 25 ms
# instead of 1.00). Never two in a row, so the pairs stay as fine as at 30 frames a second
REPEAT_WITHIN_S = 1.0 / 40


def flow_size(frame_size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(w, h) for optical flow: the long side ``max_side`` (never enlarged), at least 16 px."""
    w, h = frame_size
    scale = min(1.0, max_side / max(w, h))
    return max(16, int(round(w * scale))), max(16, int(round(h * scale)))


def _cell_matrices(w: int, h: int, grid: tuple[int, int]):
    """Cell means as matrix products: rows (gh, h) @ plane (h, w) @ cols (w, gw), divided by the
    cell area; pixel-centre positions folded into the row/column matrices (rows_y, cols_x)."""
    gw, gh = grid
    ye = np.round(np.linspace(0, h, gh + 1)).astype(int)
    xe = np.round(np.linspace(0, w, gw + 1)).astype(int)
    rows = np.zeros((gh, h), np.float32)
    cols = np.zeros((w, gw), np.float32)
    for i in range(gh):
        rows[i, ye[i]:ye[i + 1]] = 1.0 / max(1, ye[i + 1] - ye[i])
    for i in range(gw):
        cols[xe[i]:xe[i + 1], i] = 1.0 / max(1, xe[i + 1] - xe[i])
    rows_y = rows * ((np.arange(h, dtype=np.float32) + 0.5) / h)
    cols_x = cols * ((np.arange(w, dtype=np.float32) + 0.5) / w)[:, None]
    return rows, cols, rows_y, cols_x


@dataclass
class PairFeatures:
    t0: float
    t1: float
    energy: float
    directions: np.ndarray  # (10,)
    cells: np.ndarray  # (gh, gw, N_CELL)


BLOCK_ROWS = 4096  # rows of a Rows block (the pairs' cells: 2.4 MB)


class Rows:
    """Rows of one shape and dtype, appended one at a time and kept in fixed-size blocks: no
    Python object per row, and growing never copies (a doubling array would hold up to three
    times its rows while it copies), so memory follows the rows. With ``spill`` each full block
    goes to an unlinked temporary file (plain writes and reads: the page cache holds it, not
    this process), so only the block being filled stays in memory; where no file can be
    written the blocks stay in memory."""

    def __init__(self, shape: tuple[int, ...] = (), dtype=np.float64, block: int | None = None,
                 spill: bool = False) -> None:
        self.row_shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.block = BLOCK_ROWS if block is None else int(block)
        self._row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._blocks: list[np.ndarray | None] = []  # None: block i is in the file at i * block rows
        self._n = 0
        self._file = None
        self._spill = spill

    def append(self, row) -> None:
        at = self._n % self.block
        if at == 0:
            if self._spill and self._blocks:
                self._spill_last()
            self._blocks.append(np.empty((self.block,) + self.row_shape, self.dtype))
        self._blocks[-1][at] = row
        self._n += 1

    def _spill_last(self) -> None:
        import tempfile

        block = self._blocks[-1]
        try:
            if self._file is None:  # beside the render's files (not in memory where /tmp is a tmpfs)
                from studio.diskaudio import render_dir

                self._file = tempfile.TemporaryFile(dir=render_dir(), prefix=".studio-analysis-")
            data = memoryview(block).cast("B")
            offset = (len(self._blocks) - 1) * self.block * self._row_bytes
            while len(data):
                data = data[os.pwrite(self._file.fileno(), data, offset + block.nbytes - len(data)):]
        except OSError:
            self._spill = False  # a full or read-only disk: keep the blocks in memory
            return
        self._blocks[-1] = None

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """The bytes held in memory (not those in the file)."""
        return sum(b.nbytes for b in self._blocks if b is not None)

    def __getitem__(self, rows: slice) -> np.ndarray:
        """A contiguous copy of ``rows`` (a slice with step 1)."""
        lo, hi, step = rows.indices(self._n)
        if step != 1:
            raise ValueError("Rows are sliced with step 1")
        parts, b = [], self.block
        for i in range(lo // b, (hi - 1) // b + 1 if hi > lo else lo // b):
            parts.append(self._block_rows(i, max(lo - i * b, 0), min(hi - i * b, b)))
        if len(parts) == 1:
            return parts[0].copy()
        return np.concatenate(parts) if parts else np.empty((0,) + self.row_shape, self.dtype)

    def _block_rows(self, i: int, a: int, b: int) -> np.ndarray:
        block = self._blocks[i]
        if block is not None:
            return block[a:b]
        size, offset = (b - a) * self._row_bytes, (i * self.block + a) * self._row_bytes
        data = os.pread(self._file.fileno(), size, offset)
        if len(data) != size:
            raise OSError(f"short read from the analysis's temporary file ({len(data)} of {size} bytes)")
        return np.frombuffer(data, self.dtype).reshape((b - a,) + self.row_shape)

    def array(self) -> np.ndarray:
        return self[0:self._n]


class PairStore:
    """The per-pair features of a whole video, compact (what ``MotionAnalyzer`` appends its
    pairs to in the analysis pass): t0, t1, energy as float64, directions (10) and cells as
    float32 rows, 640 bytes a pair (a :class:`PairFeatures` object costs about 1.3 kB). The
    cells, 576 of them, are read only by the contact search, a window at a time: with
    ``spill`` they wait in a temporary file (see :class:`Rows`), so memory keeps 64 a pair."""

    def __init__(self, grid: tuple[int, int], spill: bool = False) -> None:
        gw, gh = grid
        self.scalars = Rows((3,), np.float64)  # t0, t1, energy
        self.directions = Rows((N_DIRECTIONS,), np.float32)
        self.cells = Rows((gh, gw, N_CELL), np.float32, spill=spill)

    def append(self, pair: PairFeatures) -> None:
        self.scalars.append((pair.t0, pair.t1, pair.energy))
        self.directions.append(pair.directions)
        self.cells.append(pair.cells)

    def __len__(self) -> int:
        return len(self.scalars)

    @property
    def nbytes(self) -> int:
        return self.scalars.nbytes + self.directions.nbytes + self.cells.nbytes

    def arrays(self) -> dict:
        """As :func:`stack_pairs`, but ``cells`` is the :class:`Rows` itself (sliced a window
        at a time by ``impacts.detect_impacts``), not one array of all of them."""
        s = self.scalars.array()
        return {"t0": s[:, 0].copy(), "t1": s[:, 1].copy(), "energy": s[:, 2].copy(),
                "directions": self.directions.array(), "cells": self.cells}


class MotionAnalyzer:
    """Feed gray frames in time order; collects one :class:`PairFeatures` per consecutive pair
    in ``pairs`` (a list, or a :class:`PairStore` for a whole video)."""

    def __init__(self, params: AnalysisParams, size: tuple[int, int], pairs=None) -> None:
        self.p = params
        self.w, self.h = size  # frame difference, contacts
        self.fw, self.fh = flow_size(size, params.farneback_side)  # optical flow: cheaper, smaller
        self._sx, self._sy = self.w / self.fw, self.h / self.fh
        self._mats = _cell_matrices(self.w, self.h, params.impact_grid)
        ys, xs = np.mgrid[0:self.fh, 0:self.fw].astype(np.float32)
        self._coords = np.stack([xs, ys], -1)  # (fh, fw, 2): where each flow pixel is
        self._grid_sub = self._coords[::CAMERA_STRIDE, ::CAMERA_STRIDE].reshape(-1, 2).copy()  # the camera fit's
        self._design = np.hstack([self._grid_sub, np.ones((len(self._grid_sub), 1), np.float32)])
        # each frame's polynomial expansion made once (OpenCV's call makes both of every pair's)
        self._fast_flow = FarnebackFlow((self.fw, self.fh), params.flow_winsize, params.flow_poly_n,
                                        params.flow_poly_sigma) \
            if FarnebackFlow.supported((self.fw, self.fh), params.flow_levels, params.flow_iterations) else None
        # the last frame added: time, gray at the motion size, and its flow input (the small
        # frame, or its expansion where the flow is computed here)
        self._prev: tuple[float, np.ndarray, np.ndarray] | None = None
        self.pairs = [] if pairs is None else pairs

    def repeats(self, time_s: float, gray: np.ndarray) -> bool:
        """Whether ``gray`` (at ``time_s``) only repeats the last frame added, less than
        ``REPEAT_WITHIN_S`` before it (see there): such a frame is not to be added."""
        if self._prev is None or not 0 < time_s - self._prev[0] < REPEAT_WITHIN_S:
            return False
        if gray.shape != (self.h, self.w):
            gray = cv2.resize(gray, (self.w, self.h), interpolation=cv2.INTER_AREA)
        return cv2.norm(gray, self._prev[1], cv2.NORM_INF) <= DIFF_THRESHOLD

    def add(self, time_s: float, gray: np.ndarray) -> None:
        if gray.shape != (self.h, self.w):
            gray = cv2.resize(gray, (self.w, self.h), interpolation=cv2.INTER_AREA)
        small = gray if (self.fw, self.fh) == (self.w, self.h) else \
            cv2.resize(gray, (self.fw, self.fh), interpolation=cv2.INTER_AREA)
        if self._fast_flow is not None:
            small = self._fast_flow.expand(small)
        if self._prev is not None and time_s > self._prev[0]:
            self.pairs.append(self._pair(self._prev[0], self._prev[1], self._prev[2], time_s, gray, small))
        self._prev = (time_s, gray, small)

    def _flow(self, a_small: np.ndarray, b_small: np.ndarray) -> np.ndarray:
        if self._fast_flow is not None:  # the two frames' expansions
            return self._fast_flow.flow(a_small, b_small)
        p = self.p
        return cv2.calcOpticalFlowFarneback(a_small, b_small, None, 0.5, p.flow_levels, p.flow_winsize,
                                            p.flow_iterations, p.flow_poly_n, p.flow_poly_sigma, 0)

    def _pair(self, t0: float, a: np.ndarray, a_small: np.ndarray, t1: float, b: np.ndarray,
              b_small: np.ndarray) -> PairFeatures:
        p = self.p
        flow = self._flow(a_small, b_small)
        camera = self._camera_motion(flow)
        if camera is not None:
            flow -= self._camera_flow(camera)
        diff = self._difference(a, b, camera)
        scale = 1.0 / (self.fh * (t1 - t0))
        flow *= scale  # frame heights per second
        fx, fy = flow[..., 0], flow[..., 1]
        mag, ang = cv2.cartToPolar(fx, fy)
        energy = cv2.mean(mag)[0]
        thr = p.motion_threshold
        if camera is not None:  # what the camera fit leaves in most of the picture is its error
            thr = max(thr, RESIDUAL_FACTOR * _median(mag[::CAMERA_STRIDE, ::CAMERA_STRIDE]))
        _, w = cv2.threshold(mag, thr, 0.0, cv2.THRESH_TOZERO)
        bins = (ang * (N_DIRECTIONS / (2 * np.pi))).astype(np.int32)
        np.minimum(bins, N_DIRECTIONS - 1, out=bins)
        directions = np.bincount(bins.ravel(), weights=w.ravel(), minlength=N_DIRECTIONS) / w.size
        rows, cols, rows_y, cols_x = self._mats  # the difference, at the full motion size
        cells = np.empty((rows.shape[0], cols.shape[1], N_CELL), np.float32)
        d_rows = rows @ diff
        cells[..., CELL_D] = d_rows @ cols
        cells[..., CELL_DX] = d_rows @ cols_x
        cells[..., CELL_DY] = (rows_y @ diff) @ cols
        return PairFeatures(t0, t1, energy, directions.astype(np.float32), cells)

    def _difference(self, a: np.ndarray, b: np.ndarray, camera: np.ndarray | None) -> np.ndarray:
        """|b - a| where it exceeds the noise, with ``b`` resampled along the camera motion so
        that only what moved in the scene differs (float32, gray levels)."""
        if camera is not None:  # the flow-size map, in motion-size pixels: S M S^-1
            m = camera * np.array([[1.0, self._sx / self._sy, self._sx], [self._sy / self._sx, 1.0, self._sy]])
            b = cv2.warpAffine(b, m, (self.w, self.h),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        _, d = cv2.threshold(cv2.absdiff(a, b), DIFF_THRESHOLD, 0.0, cv2.THRESH_TOZERO)  # exact on uint8
        return d.astype(np.float32)

    def _camera_motion(self, flow: np.ndarray) -> np.ndarray | None:
        """The affine camera motion as a 2x3 pixel map (x -> where that pixel went), fitted to
        the flow of every ``CAMERA_STRIDE``-th pixel by OpenCV's RANSAC, then least squares on the
        inliers (pixels that move unlike the majority, the objects, are
        outliers). None when the camera stands still. OpenCV rather than numpy: one call that
        releases the GIL, so the decoding thread is not held up."""
        uv = flow[::CAMERA_STRIDE, ::CAMERA_STRIDE].reshape(-1, 2)
        if cv2.norm(uv, cv2.NORM_L1) < CAMERA_MIN_MOTION_PX * uv.size:  # nothing moves much: no camera motion
            return None
        dst = self._grid_sub + uv
        m, inliers = cv2.estimateAffine2D(self._grid_sub, dst, method=cv2.RANSAC, refineIters=0,
                                          ransacReprojThreshold=CAMERA_INLIER_PX, maxIters=200)
        if m is None:
            return None
        keep = inliers.ravel().astype(bool)
        if keep.sum() >= 12:  # least squares on the inliers (OpenCV's own refinement costs 10x)
            a = self._design[keep]
            ok, sol = cv2.solve(a.T @ a, a.T @ dst[keep], flags=cv2.DECOMP_CHOLESKY)
            if ok:
                m = sol.T.astype(np.float64)
        moved = cv2.transform(self._grid_sub[:, None, :], self._displacement(m))
        if cv2.norm(moved, cv2.NORM_L1) < CAMERA_MIN_MOTION_PX * moved.size:
            return None
        return m

    @staticmethod
    def _displacement(m: np.ndarray) -> np.ndarray:
        """The affine map x -> m(x) - x (the flow a camera map ``m`` gives each pixel)."""
        d = np.array(m, np.float64)
        d[0, 0] -= 1.0
        d[1, 1] -= 1.0
        return d

    def _camera_flow(self, m: np.ndarray) -> np.ndarray:
        """The (fh, fw, 2) flow of camera map ``m`` (an affine field over the pixel grid)."""
        return cv2.transform(self._coords, self._displacement(m))


def _median(x: np.ndarray) -> float:
    """np.median of a small array, without its generic overhead (a third of the time here)."""
    flat = x.ravel()
    k = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, k)[k])
    part = np.partition(flat, (k - 1, k))
    return 0.5 * (float(part[k - 1]) + float(part[k]))


def stack_pairs(pairs: list[PairFeatures], grid: tuple[int, int]) -> dict[str, np.ndarray]:
    """Arrays over pairs: t0, t1 (K,), energy (K,), directions (K, 10), cells (K, gh, gw, N_CELL)."""
    gw, gh = grid
    if not pairs:
        return {"t0": np.zeros(0), "t1": np.zeros(0), "energy": np.zeros(0),
                "directions": np.zeros((0, N_DIRECTIONS), np.float32),
                "cells": np.zeros((0, gh, gw, N_CELL), np.float32)}
    return {
        "t0": np.array([q.t0 for q in pairs]),
        "t1": np.array([q.t1 for q in pairs]),
        "energy": np.array([q.energy for q in pairs]),
        "directions": np.stack([q.directions for q in pairs]),
        "cells": np.stack([q.cells for q in pairs]),
    }


def resample_pairs(values: np.ndarray, t0: np.ndarray, t1: np.ndarray, grid_t: np.ndarray,
                   valid: np.ndarray | None = None, dtype=np.float64) -> np.ndarray:
    """Per-pair rates (located at the pair midpoints) interpolated onto ``grid_t``, as ``dtype``
    (np.interp works in float64 whatever it is given: a float32 result is that one rounded).

    Pairs marked invalid (e.g. spanning a scene cut) are replaced by their neighbours first.
    """
    values = np.asarray(values)
    out_shape = (len(grid_t),) + values.shape[1:]
    if len(values) == 0:
        return np.zeros(out_shape, dtype)
    mid = 0.5 * (t0 + t1)
    keep = np.ones(len(values), bool) if valid is None else np.asarray(valid, bool)
    if not keep.any():
        return np.zeros(out_shape, dtype)
    flat = values.reshape(len(values), -1)[keep]
    res = np.empty((len(grid_t), flat.shape[1]), dtype)
    for j in range(flat.shape[1]):
        res[:, j] = np.interp(grid_t, mid[keep], flat[:, j])
    return res.reshape(out_shape)
