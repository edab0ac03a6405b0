"""A live binaural source for the audio stream: mono stems convolved in their room as they play.

The feeder thread (never the audio callback) asks for song frames [frame, frame + n); the spatial
engine's MultiRenderer streams all voices of one room in fixed blocks (one batched field query per
block, uniformly partitioned convolution, cross-faded IR changes for moving sources), so this
source keeps a small FIFO of rendered frames and hands out exactly what is asked. A jump in song
position (seek, loop seam) restarts the renderer there, dropping the reverb tails, as a DAW does.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


class SpatialStreamSource:
    def __init__(self, room: str, stems: Sequence[np.ndarray], paths: Sequence[Callable[[float], tuple]],
                 sample_rate: int, block: int = 512, gain: float = 1.0, name: str = "spatial") -> None:
        from engines.spatial.infer import field

        if len(stems) != len(paths) or not stems:
            raise ValueError("one path per stem, at least one stem")
        self.field = field(room)
        self.stems = [np.ascontiguousarray(np.asarray(s, np.float32).reshape(-1)) for s in stems]
        self.paths = list(paths)
        self.sample_rate, self.block, self.gain, self.name = int(sample_rate), int(block), float(gain), name
        self._start(0)

    def _start(self, frame: int) -> None:
        from engines.spatial.render import MultiRenderer

        # the renderer starts at this song time (the paths keep their own motion schedule)
        self._renderer = MultiRenderer(self.field, self.paths, self.sample_rate, self.block,
                                       start_s=frame / self.sample_rate)
        self._next_in = frame  # song frame of the next input block
        self._fifo = np.zeros((2, 0), np.float32)
        self._fifo_frame = frame  # song frame of the FIFO's first sample
        # the first block builds every voice's full IR and convolver: do it now (reset runs
        # before playback starts), not in the feeder's first, already-due call
        self._fill(self.block)

    def reset(self, frame: int) -> None:
        self._start(int(frame))

    def render(self, out: np.ndarray, frame: int) -> None:
        n = out.shape[1]
        if frame != self._fifo_frame:
            self._start(frame)
        self._fill(n)
        chans = min(out.shape[0], 2)
        out[:chans] += self.gain * self._fifo[:chans, :n]
        self._fifo = self._fifo[:, n:]
        self._fifo_frame = frame + n

    def _fill(self, n: int) -> None:
        B = self.block
        while self._fifo.shape[1] < n:
            blocks = np.zeros((len(self.stems), B), np.float32)
            for i, s in enumerate(self.stems):
                seg = s[self._next_in:self._next_in + B]
                blocks[i, :len(seg)] = seg
            y = self._renderer.process(blocks).sum(axis=0)  # (2, B): every voice of the room
            self._fifo = np.concatenate([self._fifo, y], axis=1)
            self._next_in += B
