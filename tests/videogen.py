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
    pix_fmt: str = "yuv420p",
    bframes: int = 0,
    keyint: int | None = None,
    faststart: bool = False,
) -> Path:
    """Encode ``draw`` into ``path`` (mp4/mkv by extension).

    Either ``duration_s`` at a constant ``fps`` or explicit ``frame_times_s`` (variable frame
    rate; stored with a 1/90000 time base). ``audio`` is (channels, samples) float32, muxed as AAC.
    ``rotation`` writes a display matrix (container side data, what phones write): the clockwise
    degrees a player turns the stored picture for display, the meaning of the old ``rotate`` tag
    (which FFmpeg 7+ ignores when muxing). ``bframes``/``keyint`` set the x264 GOP (keyint larger
    than the frame count gives a file with one keyframe); ``faststart`` puts the MP4 index first,
    so a file cut short still plays up to the cut.
    """
    path = Path(path)
    width, height = size
    if frame_times_s is None:
        assert duration_s is not None
        n = int(round(duration_s * fps))
        frame_times_s = [i / fps for i in range(n)]
    options = {"movflags": "+faststart"} if faststart else {}
    container = av.open(str(path), "w", options=options)
    rate = Fraction(fps).limit_denominator(1001)
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = pix_fmt
    if codec in ("libx264", "libx264rgb"):
        stream.options = {"preset": "ultrafast", "crf": str(crf), "bf": str(bframes)}
        if keyint is not None:
            stream.options["x264-params"] = f"keyint={keyint}:min-keyint={min(keyint, 25)}:scenecut=0"
    elif codec == "libvpx-vp9":  # VP9 codes odd sizes with 4:2:0 (x264 cannot)
        stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": str(crf + 10), "b": "0"}
    time_base = Fraction(1, 90000)
    stream.codec_context.time_base = time_base
    stream.time_base = time_base
    if rotation:
        set_rotation(stream, rotation)
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


def set_rotation(stream, degrees_cw: int) -> None:
    """Attach display-matrix rotation to an output video stream (before the first packet)."""
    if hasattr(stream, "set_display_rotation"):  # PyAV >= 16: coded side data, read by FFmpeg 7+
        stream.set_display_rotation(-int(degrees_cw))  # PyAV takes counter-clockwise degrees
    else:  # older PyAV/FFmpeg still honour the legacy tag
        stream.metadata["rotate"] = str(int(degrees_cw) % 360)


# Frame-index code: a row of black/white cells along the top of the picture, one bit each, big
# enough to survive compression and downscaling to ~1/8 size. Tests read which frame they got.
INDEX_BITS = 8


def draw_index(img: np.ndarray, index: int, bits: int = INDEX_BITS) -> np.ndarray:
    """Paint ``index`` as ``bits`` binary cells over the top quarter of ``img`` (in place)."""
    h, w = img.shape[:2]
    cell = w / bits
    for b in range(bits):
        x0, x1 = int(round(b * cell)), int(round((b + 1) * cell))
        img[: h // 4, x0:x1] = 235 if (index >> b) & 1 else 20
    return img


def read_index(img: np.ndarray, bits: int = INDEX_BITS) -> int:
    """Inverse of :func:`draw_index` for a decoded picture (RGB or gray, any size)."""
    g = img if img.ndim == 2 else img.mean(axis=2)
    h, w = g.shape[:2]
    cell = w / bits
    value = 0
    for b in range(bits):
        x0, x1 = int(b * cell + cell / 4), int((b + 1) * cell - cell / 4)
        y1 = max(1, h // 4 - max(1, h // 16))
        if g[max(0, h // 16 - 1) : y1, x0 : max(x0 + 1, x1)].mean() > 128:
            value |= 1 << b
    return value


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
