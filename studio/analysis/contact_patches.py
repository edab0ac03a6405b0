"""The Foley engine's contact patches, cut while the analysis decodes, so the video is decoded once.

Which candidates become contacts is known only after the pass (the cuts and the suppression
over the whole length decide), but every contact is one of the candidates that the windowed
search finds with every pair taken as valid, with the same time and place
(``impacts.candidate_impacts``). So while the pairs come in, that search runs ``STEP`` pairs at a
time, and a patch is cut for each candidate from the frame displayed at its time.
- The frames wait in a ring of the last ones, half made (``media.PartialThumbnail``).
- The patches wait in a temporary file, about 4 KB each; the 60 s bench clip has 1,744
  candidates for 310 contacts.

``patches`` gives the patches of the contacts the analysis kept. It returns None for a
contact it cannot serve exactly, and the engine decodes those frames as before:
- the frame had already left the ring;
- the 60 fps two-pairs-as-one mode was guessed otherwise than the whole length decided;
- the pass gave no thumbnails (``media.iter_frames``' conditions).

The patches are bit-identical to those cut from ``media.iter_thumbnails`` frames (tests/test_contact_patches.py).
"""
from __future__ import annotations

import bisect
from typing import Iterator

import numpy as np

from studio.analysis.impacts import REACH, Differences, candidate_impacts, two_pairs_as_one
from studio.analysis.motion import Rows
from studio.analysis.timeline import AnalysisParams, Impact

FRAME_HEIGHT = 144  # px: the frames the Foley engine cuts its impact regions from
PATCH_FRACTION = 0.25  # impact region side, as a fraction of the frame height
STEP = 64  # pairs per candidate search (consecutive searches overlap by 2 * REACH)
RING_BYTES = 96 * 2 ** 20  # half-made frames kept at most (a 720p one: 173 KB; ~STEP + 20 are needed)


def cut_patch(img: np.ndarray, imp: Impact) -> np.ndarray:
    """The impact region of ``imp`` in frame ``img``: a square of ``PATCH_FRACTION`` of the frame
    height around its place, clipped at the frame's edges (a copy: the frame is not kept alive)."""
    x0, y0, x1, y1 = patch_box(img.shape[1], img.shape[0], imp)
    return np.ascontiguousarray(img[y0:y1, x0:x1])


def patch_box(w: int, h: int, imp: Impact) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of ``cut_patch``'s square in a frame of w x h."""
    half = max(2, int(round(PATCH_FRACTION * h / 2)))
    cx = int(round(min(max(imp.x, 0.0), 1.0) * (w - 1)))
    cy = int(round(min(max(imp.y, 0.0), 1.0) * (h - 1)))
    return max(0, cx - half), max(0, cy - half), min(w, cx + half), min(h, cy + half)


class ContactPatches:
    """Fed by the analysis pass (:meth:`frame` for every decoded frame, :meth:`pairs_added` as
    its pairs grow, :meth:`finish` at the end); read with :meth:`patches`."""

    def __init__(self, params: AnalysisParams, aspect: float) -> None:
        self.params, self.aspect = params, aspect
        self._times: list[float] = []  # the ring: frame times and their half-made thumbnails
        self._frames: list = []
        self._ring_bytes = 0
        self._last_time = -float("inf")  # of the last frame (the ring may be empty)
        self.usable = True  # False once a frame came without a thumbnail, or out of order
        self._modes: list[tuple[int, int]] | None = None  # (first pair, step) of each search
        self._next: list[int] = []  # per mode: the first pair of its next search (in its own pairs)
        self._keys = Rows((3,), np.float64)  # time, x, y of each patch's candidate
        self._shapes = Rows((2,), np.int32)
        self._side = 2 * max(2, int(round(PATCH_FRACTION * FRAME_HEIGHT / 2)))
        self._pixels = Rows((self._side, self._side, 3), np.uint8, block=1024, spill=True)
        self.missed = 0  # candidates whose frame was not in the ring

    def frame(self, time_s: float, thumbnail) -> None:
        if thumbnail is None or time_s <= self._last_time:
            self.usable = False
        self._last_time = max(self._last_time, time_s)
        if not self.usable:
            self._drop(len(self._times))
            return
        self._times.append(time_s)
        self._frames.append(thumbnail)
        self._ring_bytes += thumbnail.nbytes
        while self._ring_bytes > RING_BYTES and len(self._times) > 1:
            self._drop(1)

    def _drop(self, n: int) -> None:
        for f in self._frames[:n]:
            self._ring_bytes -= f.nbytes
        del self._times[:n], self._frames[:n]

    def pairs_added(self, pairs, final: bool = False) -> None:
        """Search the pairs of ``pairs`` (a ``motion.PairStore``) that are complete windows now;
        ``final``: the rest too (the pass is over)."""
        n = len(pairs)
        if not self.usable or (n < STEP + 2 * REACH + 2 and not final):
            return
        if self._modes is None:
            self._modes = self._choose_modes(pairs, n)
            self._next = [0] * len(self._modes)
        for m, (start, step) in enumerate(self._modes):
            count = max(0, (n - start) // step)
            lo = self._next[m]
            while count - lo >= (2 * REACH + 1 if final else STEP):
                hi = min(count, lo + STEP)
                self._search(pairs, start, step, lo, hi)
                if final and hi == count:
                    lo = count  # the last pairs are judged
                    break
                lo = hi - 2 * REACH
            self._next[m] = lo
        self._forget_before(pairs)

    def _choose_modes(self, pairs, n: int) -> list[tuple[int, int]]:
        """As ``impacts.detect_impacts`` decides over the whole length (``two_pairs_as_one``):
        pair by pair, or two pairs as one, from the first pair and from the
        second. Decided here from the pairs so far; where the whole length decides otherwise,
        its contacts find no patch and are decoded."""
        s = pairs.scalars[0:n]
        return [(0, 2), (1, 2)] if two_pairs_as_one(s[:, 0], s[:, 1]) else [(0, 1)]

    def _search(self, pairs, start: int, step: int, lo: int, hi: int) -> None:
        s = pairs.scalars[start + step * lo:start + step * hi]
        t0, t1 = s[0::step, 0], s[step - 1::step, 1]
        mid = 0.5 * (t0 + t1)
        for imp in candidate_impacts(Differences(pairs.cells, start, step), lo, hi, mid, self.params, self.aspect):
            # the frame iter_thumbnails shows at that time; the ring holds every frame since its first
            i = bisect.bisect_right(self._times, imp.time_s + self._frames[-1].time_eps) - 1 if self._frames else -1
            if i < 0:
                self.missed += 1
                continue
            frame = self._frames[i]
            patch = frame.region(*patch_box(*frame.size, imp))  # only the square's pixels are made
            row = np.zeros((self._side, self._side, 3), np.uint8)
            row[:patch.shape[0], :patch.shape[1]] = patch
            self._keys.append((imp.time_s, imp.x, imp.y))
            self._shapes.append(patch.shape[:2])
            self._pixels.append(row)

    def _forget_before(self, pairs) -> None:
        """Drop the frames before the earliest pair a later search can read (its candidates'
        times lie after that pair's first frame), keeping the one displayed at that time."""
        if not self._modes:
            return
        first = min(start + step * lo for (start, step), lo in zip(self._modes, self._next))
        if first >= len(pairs):
            return
        t = float(pairs.scalars[first:first + 1][0, 0])
        self._drop(max(0, bisect.bisect_right(self._times, t) - 1))

    def finish(self, pairs) -> None:
        self.pairs_added(pairs, final=True)
        self._drop(len(self._times))

    def patches(self, impacts) -> Iterator[tuple[int, np.ndarray | None]]:
        """(index, its patch or None where none was cut for it) for each impact, in the order
        given, one at a time (a film's 30,000 patches at once would be 120 MB)."""
        n = len(self._keys) if self.usable else 0
        keys = self._keys.array() if n else np.zeros((0, 3))
        order = np.argsort(keys[:, 0], kind="stable")
        times = keys[order, 0]
        for k, imp in enumerate(impacts):
            found = None
            lo, hi = np.searchsorted(times, imp.time_s, "left"), np.searchsorted(times, imp.time_s, "right")
            for row in order[lo:hi]:
                if keys[row, 1] == imp.x and keys[row, 2] == imp.y:
                    h, w = self._shapes[row:row + 1][0]
                    found = np.ascontiguousarray(self._pixels[row:row + 1][0, :h, :w])
                    break
            yield k, found

    def close(self) -> None:
        """Let go of the frames and the patches' file."""
        self._drop(len(self._times))
        self._keys = self._shapes = self._pixels = Rows((0,))
