"""Farneback optical flow between consecutive frames, each frame's polynomial expansion made once.

``cv2.calcOpticalFlowFarneback`` expands both frames of every pair into local quadratic
polynomials, so along a video each frame is expanded twice, and its API cannot take an
expansion made before; no library we use offers one that can. For the analysis's frames this
module computes the same flow from expansions kept between pairs:

* the analysis's flow frames (96 x 54) are too small for a pyramid: OpenCV stops at levels
  whose short side would fall under 32 px, so it works on the frame itself, from zero flow;
* with one iteration and the box window, the flow is then closed-form: per pixel the matrices
  of Farneback's paper (G = A^T A, h = A^T db, with A and db from the two expansions) are
  averaged over the window and the 2x2 system solved.

The steps follow OpenCV 4.x/5.x ``optflowgf.cpp`` (3x3 Gaussian presmoothing, the separable
polynomial expansion with replicated borders, the border weights, the last row and column
that see no next frame, the box window with replicated borders, the 1e-3 regulariser), done
with OpenCV filters and numpy on whole frames. Against ``calcOpticalFlowFarneback`` the flow
differs by at most ~1e-5 px (float32 sums where OpenCV sums some in double); on 96 x 54 frames
it costs ~180 us a pair instead of ~350. Other settings (a pyramid, more iterations) are left
to OpenCV (:meth:`FarnebackFlow.supported`); the analysis always asks for the box window.
"""
from __future__ import annotations

import cv2
import numpy as np

MIN_LEVEL_SIDE = 32  # OpenCV builds no pyramid level whose short side is under this
_BORDER = 5  # OpenCV's down-weighted border (px) and its weights from the edge inwards
_BORDER_WEIGHTS = (0.14, 0.14, 0.4472, 0.4472, 0.4472)
# the flow's matrices are sums of two expansions' coefficients here, twice OpenCV's halves:
# G and h scale by 4, the determinant by 16, so the regulariser scales by 16 too
_REGULARISER = np.float32(16 * 1e-3)
# per coefficient (dy, dx, yy, xx, xy): the sign of the next frame's term (differences for the
# linear ones, sums for the quadratic ones), and the factor that makes the last row and column
# (which OpenCV takes from the first frame alone) twice OpenCV's value as well
_NEXT_SIGN = np.array([-1, -1, 1, 1, 1], np.float32)[:, None, None]
_EDGE_FACTOR = np.array([1, 1, 2, 2, 2], np.float32)[:, None]


def _gaussian_basis(n: int, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """The 2n+1 tap kernels g, x g, x^2 g (float32, g normalised to sum 1) and the four
    entries of the inverse Gram matrix of the quadratic basis that turn the filter responses
    into polynomial coefficients (ig11, ig03, ig33, ig55 in OpenCV's naming)."""
    if sigma < np.finfo(np.float32).eps:
        sigma = n * 0.3
    x = np.arange(-n, n + 1, dtype=np.float64)
    g = np.exp(-x * x / (2 * sigma * sigma))
    g = (g / g.sum()).astype(np.float32)
    xg, xxg = (x * g).astype(np.float32), (x * x * g).astype(np.float32)
    gd = g.astype(np.float64)
    w = gd[:, None] * gd[None, :]
    xx, yy = x[None, :] ** 2, x[:, None] ** 2
    gram = np.zeros((6, 6))
    gram[0, 0] = w.sum()
    gram[1, 1] = gram[2, 2] = gram[0, 3] = gram[0, 4] = gram[3, 0] = gram[4, 0] = (w * xx).sum()
    gram[3, 3] = gram[4, 4] = (w * xx * xx).sum()
    gram[5, 5] = gram[3, 4] = gram[4, 3] = (w * xx * yy).sum()
    inv = np.linalg.inv(gram)
    return g, xg, xxg, (inv[1, 1], inv[0, 3], inv[3, 3], inv[5, 5])


def _border_weights(n: int) -> np.ndarray:
    """OpenCV's weight of each of n pixels along one axis (both ends, multiplied where they meet)."""
    out = np.ones(n, np.float32)
    for i, b in enumerate(_BORDER_WEIGHTS[:n]):
        out[i] *= np.float32(b)
        out[n - 1 - i] *= np.float32(b)
    return out


class FarnebackFlow:
    """Flow for frames of one size: ``expand`` each frame once, then ``flow`` of two expansions
    equals ``cv2.calcOpticalFlowFarneback(a, b, None, 0.5, levels, winsize, 1, poly_n,
    poly_sigma, 0)`` within ~1e-5 px, where :meth:`supported`."""

    def __init__(self, size: tuple[int, int], winsize: int, poly_n: int, poly_sigma: float) -> None:
        w, h = size
        g, xg, xxg, (ig11, ig03, ig33, ig55) = _gaussian_basis(poly_n, poly_sigma)
        self._vertical = [k.reshape(-1, 1).copy() for k in (g, xg, xxg)]
        self._g, self._xg, self._xxg = (k.reshape(1, -1).copy() for k in (g, xg, xxg))
        self._ig = tuple(np.float32(v) for v in (ig11, ig03, ig33, ig55))
        self._window = (int(winsize), int(winsize))
        weights = _border_weights(h)[:, None] * _border_weights(w)[None, :]  # OpenCV weighs the
        # coefficients near the border down; G and h are products of two, so they take it squared
        self._weight2 = weights * weights
        self.size = (w, h)

    @staticmethod
    def supported(size: tuple[int, int], levels: int, iterations: int, pyr_scale: float = 0.5) -> bool:
        """Whether OpenCV would compute this flow from zero on the frame itself, one iteration:
        no pyramid level fits (or none is asked for) and the frames are larger than the border."""
        w, h = size
        no_pyramid = levels <= 0 or min(w, h) * pyr_scale < MIN_LEVEL_SIDE
        return no_pyramid and iterations == 1 and min(w, h) > 2 * _BORDER

    def expand(self, gray: np.ndarray) -> np.ndarray:
        """(5, h, w) float32: per pixel the coefficients of dy, dx, yy, xx, xy of the local
        quadratic fitted to the frame (after OpenCV's 3x3 presmoothing)."""
        rep = cv2.BORDER_REPLICATE
        f = cv2.GaussianBlur(gray.astype(np.float32), (3, 3), 0, 0)
        v0, v1, v2 = (cv2.filter2D(f, cv2.CV_32F, k, borderType=rep) for k in self._vertical)
        ig11, ig03, ig33, ig55 = self._ig
        out = np.empty((5,) + f.shape, np.float32)
        constant = cv2.filter2D(v0, cv2.CV_32F, self._g, borderType=rep) * ig03
        out[0] = cv2.filter2D(v1, cv2.CV_32F, self._g, borderType=rep) * ig11
        out[1] = cv2.filter2D(v0, cv2.CV_32F, self._xg, borderType=rep) * ig11
        out[2] = constant + cv2.filter2D(v2, cv2.CV_32F, self._g, borderType=rep) * ig33
        out[3] = constant + cv2.filter2D(v0, cv2.CV_32F, self._xxg, borderType=rep) * ig33
        out[4] = cv2.filter2D(v1, cv2.CV_32F, self._xg, borderType=rep) * ig55
        return out

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """(h, w, 2) float32 flow (x, y in px) from the frame expanded as ``first`` to the one
        expanded as ``second``."""
        r = first + second * _NEXT_SIGN  # dy, dx differences; yy, xx, xy sums (2x OpenCV's)
        r[:, -1, :] = first[:, -1, :] * _EDGE_FACTOR
        r[:, :, -1] = first[:, :, -1] * _EDGE_FACTOR
        dy, dx, yy, xx, xy = r
        xy *= 0.5  # the cross term's coefficient is twice the matrix entry
        w2, win, rep = self._weight2, self._window, cv2.BORDER_REPLICATE
        g11 = cv2.blur((yy * yy + xy * xy) * w2, win, borderType=rep)
        g12 = cv2.blur((yy + xx) * xy * w2, win, borderType=rep)
        g22 = cv2.blur((xx * xx + xy * xy) * w2, win, borderType=rep)
        h1 = cv2.blur((yy * dy + xy * dx) * w2, win, borderType=rep)
        h2 = cv2.blur((xy * dy + xx * dx) * w2, win, borderType=rep)
        inv_det = 1.0 / (g11 * g22 - g12 * g12 + _REGULARISER)
        return cv2.merge([(g11 * h2 - g12 * h1) * inv_det, (g22 * h1 - g12 * h2) * inv_det])
