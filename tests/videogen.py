"""Write small synthetic test videos with PyAV (the fixtures' common writer).

Frames come from a callable ``draw(t_s) -> HxWx3 uint8`` evaluated at each frame's
presentation time, so variable frame rates and any fps give pictures that match real time.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import av
import numpy as np

Draw = Callable[[float], np.ndarray]


def write_video(
    path: str | Path,
    draw: Draw,
    *,
    duration_s: float | None = None,
    fps: float = 30.0,
    size: tuple[int, int] = (320, 240),
    frame_times_s: Sequence[float] | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int = 48000,
    codec: str = "libx264",
    rotation: int | None = None,
    crf: int = 23,
) -> Path:
    """Encode ``draw`` into ``path`` (mp4/mkv by extension).

    Either ``duration_s`` at a constant ``fps`` or explicit ``frame_times_s`` (variable frame
    rate; stored with a 1/90000 time base). ``audio`` is (channels, samples) float32, muxed as AAC.
    ``rotation`` writes display-matrix rotation metadata (degrees).
    """
    path = Path(path)
    width, height = size
    if frame_times_s is None:
        assert duration_s is not None
        n = int(round(duration_s * fps))
        frame_times_s = [i / fps for i in range(n)]
    container = av.open(str(path), "w")
    rate = Fraction(fps).limit_denominator(1001)
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        stream.options = {"preset": "ultrafast", "crf": str(crf), "bf": "0"}
    time_base = Fraction(1, 90000)
    stream.codec_context.time_base = time_base
    stream.time_base = time_base
    if rotation:
        stream.metadata["rotate"] = str(rotation)
    astream = None
    if audio is not None:
        astream = container.add_stream("aac", rate=sample_rate)
        astream.layout = "stereo" if audio.shape[0] == 2 else "mono"
    for t in frame_times_s:
        img = np.ascontiguousarray(draw(float(t)), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = int(round(t / time_base))
        frame.time_base = time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    if astream is not None:
        _write_audio(container, astream, audio, sample_rate)
    container.close()
    return path


def _write_audio(container, astream, audio: np.ndarray, sample_rate: int) -> None:
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    block = 1024
    for start in range(0, audio.shape[1], block):
        chunk = np.ascontiguousarray(audio[:, start : start + block])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=astream.layout.name)
        frame.sample_rate = sample_rate
        frame.pts = start
        for packet in astream.encode(frame):
            container.mux(packet)
    for packet in astream.encode():
        container.mux(packet)


def write_audio_only(path: str | Path, audio: np.ndarray, sample_rate: int = 48000) -> Path:
    """An audio-only file (no video stream), e.g. .m4a."""
    path = Path(path)
    container = av.open(str(path), "w")
    astream = container.add_stream("aac", rate=sample_rate)
    astream.layout = "stereo" if audio.shape[0] == 2 else "mono"
    _write_audio(container, astream, audio, sample_rate)
    container.close()
    return path
