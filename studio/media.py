"""Media I/O with PyAV: probe files, decode frames at analysis size, read the original audio.

Times are seconds. Video frame times come from presentation timestamps, measured from the
start of the video stream (the first frame is at ~0.0), so variable frame rates and odd rates
such as 23.976 fps keep their real timing; nothing assumes a frame rate.

Small frames are made fast: for 8-bit planar YUV (what H.264/HEVC/VP9 decode to) the Y, U and V
planes are taken as numpy views of the decoder's buffers, each shrunk with ``cv2.resize``
(an area average: halvings, then INTER_AREA) and only the small picture is converted to RGB
(BT.601/709/2020, limited or full range as the frame says). Other pixel formats go through swscale (``VideoFrame.reformat``).
For such small outputs the decoder also skips deblocking of non-reference frames (no drift,
invisible after a 4x shrink). Together: 160x90 frames from 720p/1080p H.264 cost about
1.0-1.1x a plain threaded decode, where ``VideoFrame.reformat`` costs 1.5-1.7x.

Frames at given times (``frame_at``, ``thumbnails``; ``iter_thumbnails`` one at a time, for the
Foley engine's impact patches, so memory holds one frame, not thousands; thumbnails, like the
analysis frames, skip the deblocking of non-reference frames when they are 4x smaller) are found
in one forward decode over the sorted times, seeking only across keyframes to distant targets;
H.264/HEVC frames that are neither displayed at a target nor referenced by another frame
(non-reference B-frames, about half of a usual file) are not decoded at all (``skip_frame`` per
packet), and the result is bit-identical to decoding every frame. On the pipeline bench's 10-min
720p30 video with its 3,110 impacts: 10,930 of 18,000 frames decoded, 27 % less time.

Every failure a user can cause raises :class:`studio.errors.MediaError` with a one-line message.
"""
from __future__ import annotations

import bisect
import contextlib
import hashlib
import math
import os
import stat
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Sequence

import av
import av.error
import cv2
import numpy as np

from studio.errors import MediaError
from studio.jobs import Job

__all__ = [
    "VideoStreamInfo", "AudioStreamInfo", "MediaInfo", "Frame", "probe", "analysis_size",
    "iter_frames", "frame_at", "thumbnails", "read_audio", "iter_audio", "file_hash",
]

MAX_SIDE_PX = 16384
MAX_DURATION_S = 24 * 3600.0
_SEEK_GAP_S = 3.0  # thumbnails: decode forward across gaps shorter than this instead of seeking
# decoders that read skip_frame per packet (also frame-threaded), so unwanted frames can be skipped
_SKIP_CODECS = frozenset({"h264", "hevc"})
_AV_ERRORS = (av.error.FFmpegError, OSError, EOFError)


@dataclass(frozen=True)
class VideoStreamInfo:
    index: int
    codec: str
    width: int  # display size, after applying rotation (and a non-square sample aspect ratio)
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # degrees clockwise (0, 90, 180, 270) the stored picture is turned for display
    fps: float  # average frame rate from timestamps; 0.0 if unknown
    duration_s: float
    frame_count: int | None  # from the container if known
    pix_fmt: str
    variable_frame_rate: bool  # best-effort guess
    start_s: float = 0.0  # stream start in container time (Frame.time_s counts from here)


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration_s: float
    start_s: float = 0.0  # stream start in container time


@dataclass(frozen=True)
class MediaInfo:
    path: str
    container: str
    duration_s: float
    size_bytes: int
    video: VideoStreamInfo | None
    audio: tuple[AudioStreamInfo, ...]

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)


@dataclass(frozen=True)
class Frame:
    time_s: float  # presentation time, seconds from the start of the video stream
    image: np.ndarray  # (H, W, 3) uint8 RGB, or (H, W) uint8 for pixel_format="gray"
    thumbnail: "PartialThumbnail | None" = None  # iter_frames(thumbnail_height=...): see there


# ----------------------------------------------------------------------------- opening files


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or taskset sets it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise MediaError(f"{p} does not exist; check the path") from None
    except OSError as exc:
        raise MediaError(f"cannot read {p}: {exc.strerror or exc}; check its permissions") from None
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(f"{p} is not a regular file; choose a video or audio file")
    if st.st_size == 0:
        raise MediaError(f"{p} is empty (0 bytes); re-export or re-copy the file")
    return p


def _open(p: Path):
    try:
        return av.open(str(p), "r", metadata_errors="ignore")
    except _AV_ERRORS as exc:
        raise MediaError(f"{p} cannot be opened as media ({_why(exc)}): it is not a video/audio "
                         "file, or it is truncated or damaged; re-export or re-copy it") from None


def _why(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(msg).split())[:160]


def _video_stream(container):
    for s in container.streams.video:
        if not s.disposition & av.stream.Disposition.attached_pic:  # skip cover art
            return s
    return None


def _secs(value, time_base) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _stream_duration(stream, container) -> float:
    d = _secs(stream.duration, stream.time_base)
    if d is None or d <= 0:
        d = container.duration / 1e6 if container.duration else 0.0
    return max(0.0, float(d))


def _rotation_cw(frame) -> int:
    """Clockwise display rotation of a decoded frame (PyAV reports counter-clockwise)."""
    try:
        ccw = float(frame.rotation)
    except (AttributeError, TypeError, ValueError):
        return 0
    return int(round(-ccw / 90.0)) % 4 * 90


# ----------------------------------------------------------------------------- probe


def probe(path: str | os.PathLike) -> MediaInfo:
    """Streams, sizes, rates and durations; reads headers and a few packets, decodes one frame."""
    p = _check_path(path)
    container = _open(p)
    try:
        vs = _video_stream(container)
        video = _probe_video(container, vs) if vs is not None else None
        audio = tuple(_probe_audio(container, a) for a in container.streams.audio)
        if video is None and not audio:
            raise MediaError(f"{p} has no video or audio stream; choose a video file")
        duration = container.duration / 1e6 if container.duration else 0.0
        if duration <= 0:
            duration = max([video.duration_s if video else 0.0] + [a.duration_s for a in audio])
        return MediaInfo(str(p), container.format.name, float(duration), p.stat().st_size, video, audio)
    except _AV_ERRORS as exc:
        raise MediaError(f"cannot read {p} ({_why(exc)}); the file may be damaged") from None
    finally:
        container.close()


def _probe_video(container, vs) -> VideoStreamInfo:
    cc = vs.codec_context
    cw, ch = int(cc.width or 0), int(cc.height or 0)
    duration = _stream_duration(vs, container)
    frames = int(vs.frames) if vs.frames and vs.frames > 0 else None
    # Timestamps: the container index (mp4 lists every sample) or the first packets (mkv/webm).
    stamps = []
    try:
        entries = vs.index_entries
        if frames and len(entries) >= 0.9 * frames:
            stamps = [e.timestamp for e in entries[:5000]]
    except (AttributeError, TypeError):
        pass
    rotation, pix_fmt, first = 0, (cc.format.name if cc.format else ""), None
    need_stamps, n = not stamps, 0
    for packet in container.demux(vs):  # a few packets: first frame (rotation), timestamps
        n += 1
        if need_stamps and packet.pts is not None and n <= 240:
            stamps.append(packet.pts)
        if first is None:
            try:
                first = next(iter(packet.decode()), None)
            except av.error.FFmpegError:
                pass
        if (first is not None and (not need_stamps or n >= 240)) or n > 600:
            break
    if first is not None:
        rotation = _rotation_cw(first)
        pix_fmt = first.format.name
        cw, ch = cw or first.width, ch or first.height
    fps = 0.0
    for rate in (vs.average_rate, vs.guessed_rate):
        if rate and float(rate) > 0:
            fps = float(rate)
            break
    if fps == 0.0 and frames and duration > 0:
        fps = frames / duration
    vfr = _guess_vfr(stamps, vs)
    sar = vs.sample_aspect_ratio
    dw = int(round(cw * float(sar))) if sar and float(sar) > 0 and sar != 1 else cw
    w, h = (ch, dw) if rotation in (90, 270) else (dw, ch)
    start = _secs(vs.start_time, vs.time_base) or 0.0
    return VideoStreamInfo(vs.index, cc.name, w, h, cw, ch, rotation, fps, duration, frames,
                           pix_fmt, vfr, start)


def _guess_vfr(stamps: list[int], vs) -> bool:
    if len(stamps) >= 8:
        d = np.diff(np.sort(np.asarray(stamps, dtype=np.float64)))
        d = d[d > 0]
        if len(d) >= 4:
            med = float(np.median(d))
            return bool(np.mean(np.abs(d - med) > 0.1 * med) > 0.02)
    avg, base = vs.average_rate, vs.base_rate
    if avg and base and float(avg) > 0 and float(base) > 0:
        return abs(float(avg) / float(base) - 1.0) > 0.02
    return False


def _probe_audio(container, a) -> AudioStreamInfo:
    cc = a.codec_context
    layout = cc.layout
    channels = int(getattr(layout, "nb_channels", 0) or getattr(cc, "channels", 0) or 0)
    return AudioStreamInfo(a.index, cc.name, int(cc.sample_rate or 0), channels,
                           getattr(layout, "name", "") or "", _stream_duration(a, container),
                           _secs(a.start_time, a.time_base) or 0.0)


def analysis_size(info: VideoStreamInfo, max_side: int = 160) -> tuple[int, int]:
    """(w, h) with the display aspect, the long side about ``max_side`` (never upscaled), even."""
    w, h = max(1, info.width), max(1, info.height)
    scale = min(1.0, max_side / max(w, h))
    even = lambda v: max(2, int(round(v * scale / 2.0)) * 2)  # noqa: E731
    return even(w), even(h)


# ----------------------------------------------------------------------------- conversion

_PLANAR_YUV8 = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p",
                "yuvj440p", "yuv411p", "yuv410p"}
_KR_KB = {"bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593), "bt601": (0.299, 0.114)}
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _yuv_matrix(colorspace: int, full: bool) -> np.ndarray:
    """3x4 affine matrix mapping uint8 (Y, U, V) to RGB for cv2.transform."""
    name = {1: "bt709", 9: "bt2020", 10: "bt2020"}.get(int(colorspace or 0), "bt601")
    kr, kb = _KR_KB[name]
    kg = 1.0 - kr - kb
    ys, cs = (1.0, 1.0) if full else (255.0 / 219.0, 255.0 / 224.0)
    y0 = 0.0 if full else 16.0
    m = np.array([[1.0, 0.0, 2 * (1 - kr)],
                  [1.0, -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg],
                  [1.0, 2 * (1 - kb), 0.0]]) * np.array([ys, cs, cs])
    offset = -(m @ np.array([y0, 128.0, 128.0]))
    return np.hstack([m, offset[:, None]]).astype(np.float32)


def _plane(frame, i: int) -> np.ndarray:
    """A zero-copy (height, width) view of one plane, skipping the line padding."""
    pl = frame.planes[i]
    buf = np.frombuffer(pl, np.uint8, count=pl.line_size * pl.height)
    return buf.reshape(pl.height, pl.line_size)[:, : pl.width]


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Area-average shrink (or bilinear enlarge) to (w, h).

    Large shrinks halve first, each halving bilinear: at exactly half the size that is the 2x2
    box average (INTER_AREA's result, to the bit, and as fast as its vectorised path), and at an
    odd size (854x480's 427-wide chroma) within a gray level or two of it, where INTER_AREA
    falls back to a generic path several times slower. The last step, under 2x, is INTER_AREA
    (bilinear there lets a small object's brightness flicker with its sub-pixel place: a
    bouncing ball's false contacts). 720p to 160x90 costs ~40 us a plane instead of ~230 for
    one INTER_AREA step; a 480p frame's three planes 350 us instead of 630.
    """
    return _last_step(_halved(img, w, h), w, h)


def _halved(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """``img`` halved while it is at least twice (w, h) both ways: where ``_resize`` takes its
    last step. A larger target stops at a level a smaller one passes through on its way."""
    while img.shape[1] >= 2 * w and img.shape[0] >= 2 * h:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    return img


def _last_step(img: np.ndarray, w: int, h: int) -> np.ndarray:
    if img.shape[1] == w and img.shape[0] == h:
        return img
    if w > img.shape[1] or h > img.shape[0]:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


class _SerialCv2:
    """Run OpenCV single-threaded while small frames are made, then restore its thread count.

    FFmpeg's decoder threads already keep every core busy; OpenCV's own pool waking up for
    each plane resize contends with them (measured on 2 cores, 720p30: 1.14x the plain decode
    time with OpenCV's pool, 1.02x without). Reference-counted so concurrent readers nest.
    """

    _lock = threading.Lock()
    _depth = 0
    _saved = 1

    def __enter__(self) -> None:
        cls = type(self)
        with cls._lock:
            if cls._depth == 0:
                cls._saved = cv2.getNumThreads()
                if cls._saved != 1:
                    cv2.setNumThreads(1)
            cls._depth += 1

    def __exit__(self, *exc) -> None:
        cls = type(self)
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0 and cls._saved != 1:
                cv2.setNumThreads(cls._saved)


_SERIAL_CV2 = _SerialCv2()


class _Converter:
    """Turns decoded frames into (H, W[, 3]) uint8 arrays at a display size, rotation applied.
    ``thumbnail``: the converter of a larger RGB size whose shrink this one continues (see
    :meth:`tapped`)."""

    def __init__(self, size: tuple[int, int] | None, pixel_format: str, rotation: int,
                 coded: tuple[int, int], thumbnail: _Converter | None = None) -> None:
        self.rotation = rotation
        self.gray = pixel_format == "gray"
        if size is None:
            size = (coded[1], coded[0]) if rotation in (90, 270) else coded
        w, h = size
        self.cw, self.ch = (h, w) if rotation in (90, 270) else (w, h)
        self._matrices: dict[tuple[int, bool], np.ndarray] = {}
        self._luts: dict[bool, np.ndarray] = {}
        self.thumbnail = thumbnail if thumbnail is not None and not self.gray and not thumbnail.gray else None
        self.time_eps = 0.0  # a thumbnail converter's: the stream's ``_Reader.eps``

    def __call__(self, frame) -> np.ndarray:
        fmt = frame.format.name
        full_size = (frame.width, frame.height) == (self.cw, self.ch)
        if fmt in _PLANAR_YUV8 and (self.gray or not full_size):
            with _SERIAL_CV2:
                img = self._fast(frame, fmt)
        else:
            out = frame.reformat(width=self.cw, height=self.ch, format="gray" if self.gray else "rgb24",
                                 interpolation="AREA")
            img = out.to_ndarray()
        return self._rotated(img)

    def _rotated(self, img: np.ndarray) -> np.ndarray:
        return cv2.rotate(img, _ROTATE[self.rotation]) if self.rotation else img

    def tapped(self, frame) -> tuple[np.ndarray, PartialThumbnail | None]:
        """The frame converted, and its thumbnail (``self.thumbnail``'s conversion) half made:
        the planes halved as far as both shrinks go alike (to the level where the first of them
        stops halving), from which each goes on as it would from the start. None where that
        converter would not take the planar path."""
        thumb, fmt = self.thumbnail, frame.format.name
        if thumb is None or fmt not in _PLANAR_YUV8 or (frame.width, frame.height) in (
                (self.cw, self.ch), (thumb.cw, thumb.ch)):
            return self(frame), None
        with _SERIAL_CV2:
            planes = []
            for i in range(3):
                p = _halved(_plane(frame, i), max(self.cw, thumb.cw), max(self.ch, thumb.ch))
                planes.append(p.copy() if p.base is not None else p)  # not the decoder's buffer
            key = _colour_key(frame, fmt)
            img = self._rgb(*(_resize(p, self.cw, self.ch) for p in planes), key)
        return self._rotated(img), PartialThumbnail(planes, thumb, key)

    def _fast(self, frame, fmt: str) -> np.ndarray:
        key = _colour_key(frame, fmt)
        y = _resize(_plane(frame, 0), self.cw, self.ch)
        if self.gray:
            if key[1]:
                return np.array(y) if y.base is not None else y
            lut = self._luts.get(False)
            if lut is None:
                lut = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)
                self._luts[False] = lut
            return cv2.LUT(y, lut)
        u = _resize(_plane(frame, 1), self.cw, self.ch)
        v = _resize(_plane(frame, 2), self.cw, self.ch)
        return self._rgb(y, u, v, key)

    def _rgb(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, key: tuple[int, bool]) -> np.ndarray:
        m = self._matrices.get(key)
        if m is None:
            m = self._matrices[key] = _yuv_matrix(*key)
        return cv2.transform(cv2.merge([y, u, v]), m)


def _colour_key(frame, fmt: str) -> tuple[int, bool]:
    """(colorspace, full range) of a planar YUV frame."""
    return int(frame.colorspace or 0), fmt.startswith("yuvj") or int(frame.color_range or 0) == 2


class PartialThumbnail:
    """A frame on its way to a thumbnail (``iter_frames(thumbnail_height=...)``): its planes as
    far as the thumbnail's shrink and the frame's own go alike. :meth:`finish` gives the
    thumbnail ``iter_thumbnails`` makes of the same decoded picture, bit for bit; what is kept
    until then is about a quarter of a 720p frame (173 KB: its planes at 320x180)."""

    __slots__ = ("_planes", "_converter", "_key", "_finished")

    def __init__(self, planes: list[np.ndarray], converter: _Converter, key: tuple[int, bool]) -> None:
        self._planes, self._converter, self._key = planes, converter, key
        self._finished: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(w, h) of the finished thumbnail."""
        c = self._converter
        return (c.ch, c.cw) if c.rotation in (90, 270) else (c.cw, c.ch)

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self._planes)

    @property
    def time_eps(self) -> float:
        """Frame times this close count as equal in this stream (``iter_thumbnails`` shows the
        latest frame whose time is at most the asked time plus this)."""
        return self._converter.time_eps

    def finish(self) -> np.ndarray:
        c = self._converter
        with _SERIAL_CV2:
            img = c._rgb(*(_resize(p, c.cw, c.ch) for p in self._planes), self._key)
        return c._rotated(img)

    def region(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """``finish()[y0:y1, x0:x1]``, bit for bit, made from only the part of the planes it
        comes from: INTER_AREA's weights repeat with its scale's period, so a part cut at whole
        periods shrinks to exactly the thumbnail's pixels there (a 36x36 patch of a 720p frame:
        a few dozen us instead of 0.37 ms). A turned picture, an enlargement or a long period:
        the whole thumbnail, finished once and kept."""
        c = self._converter
        if not c.rotation:
            with _SERIAL_CV2:
                parts = [_area_region(p, c.cw, c.ch, x0, y0, x1, y1) for p in self._planes]
                if all(part is not None for part in parts):
                    return c._rgb(*parts, self._key)
        if self._finished is None:
            self._finished = self.finish()
        return np.ascontiguousarray(self._finished[y0:y1, x0:x1])


def _area_region(img: np.ndarray, w: int, h: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray | None:
    """``_last_step(img, w, h)[y0:y1, x0:x1]`` from the part of ``img`` those pixels come from;
    None where the step is not an INTER_AREA shrink of period 16 px or less."""
    rows, cols = img.shape[:2]
    if (cols, rows) == (w, h):
        return img[y0:y1, x0:x1]
    if w > cols or h > rows:
        return None
    gx, gy = math.gcd(cols, w), math.gcd(rows, h)
    px, py = w // gx, h // gy  # the output's period, and the input's (qx, qy)
    qx, qy = cols // gx, rows // gy
    if px > 16 or py > 16:
        return None
    ox0, oy0 = x0 // px * px, y0 // py * py
    ox1, oy1 = min(w, -(-x1 // px) * px), min(h, -(-y1 // py) * py)
    part = cv2.resize(img[oy0 // py * qy:oy1 // py * qy, ox0 // px * qx:ox1 // px * qx],
                      (ox1 - ox0, oy1 - oy0), interpolation=cv2.INTER_AREA)
    return part[y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0]


# ----------------------------------------------------------------------------- decoding


class _Reader:
    """One open video stream: seek, then decode forward yielding (time_s, av frame)."""

    def __init__(self, path: str | os.PathLike, *, threads: bool = True) -> None:
        self.path = _check_path(path)
        self.container = _open(self.path)
        try:
            vs = _video_stream(self.container)
            if vs is None:
                raise MediaError(f"{self.path} has no video stream; choose a video file")
            cc = vs.codec_context
            if (cc.width or 0) > MAX_SIDE_PX or (cc.height or 0) > MAX_SIDE_PX:
                raise MediaError(f"{self.path} is {cc.width}x{cc.height} px, larger than the "
                                 f"{MAX_SIDE_PX} px supported; scale it down first")
            self.duration_s = _stream_duration(vs, self.container)
            if self.duration_s > MAX_DURATION_S:
                raise MediaError(f"{self.path} claims {self.duration_s / 3600:.0f} h of video, more "
                                 "than the 24 h supported; trim it or repair its header")
            if threads:
                # one frame thread per core: FFmpeg's own choice (0) is one more, which on 2
                # cores decoded 720p H.264 in 1.3-1.4 s a minute against 1.1 s with two
                vs.thread_type = "AUTO"
                cc.thread_count = usable_cores()
        except BaseException:
            self.container.close()
            raise
        self.stream = vs
        self.tb = vs.time_base or Fraction(1, 90000)
        self.origin = vs.start_time  # pts of t=0; from the first frame when unknown
        # Timestamps are rounded to the time base: a frame meant for time t is stored within half
        # a unit of it, so times this close count as equal (5.6 us at 1/90000, 0.5 ms in mkv).
        self.eps = float(self.tb) / 2 + 1e-7
        self.decoded_any = False
        self.first_ts: float | None = None
        # keep(time_s) -> False: the packet's frame is not wanted, so the decoder may skip it when
        # nothing predicts from it (skip_frame=NONREF, set per packet); None: decode everything.
        # The times of the packets sent that way are kept in ``skippable`` (sorted).
        self.keep: Callable[[float], bool] | None = None
        self.skippable: list[float] = []
        self._skip_mode = "DEFAULT"

    def close(self) -> None:
        self.container.close()

    def seek(self, time_s: float) -> None:
        origin = self.origin or 0
        target = origin + int(math.floor(max(0.0, time_s) / self.tb))
        try:
            self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        except _AV_ERRORS:
            self.container.seek(origin, stream=self.stream, backward=True, any_frame=False)

    def frames(self) -> Iterator[tuple[float, object]]:
        """Decode forward from the current position; ends quietly at EOF or truncation."""
        errors, last_ts, step = 0, None, None
        demux = self.container.demux(self.stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except _AV_ERRORS:  # truncated or corrupt container data: flush what is decoded
                packet = None
            if packet is not None and (self.keep is not None or self._skip_mode != "DEFAULT"):
                self._set_skip(packet)
            try:
                decoded = packet.decode() if packet is not None else self.stream.codec_context.decode(None)
            except av.error.FFmpegError:
                errors += 1
                if errors > 200 and not self.decoded_any:
                    raise MediaError(f"{self.path}: the video data cannot be decoded; "
                                     "the file is corrupt, re-export it") from None
                decoded = []
            for fr in decoded:
                if fr.pts is not None:
                    if self.origin is None:
                        self.origin = fr.pts
                    ts = float((fr.pts - self.origin) * self.tb)
                elif last_ts is not None:
                    ts = last_ts + (step or 1 / 30)
                else:
                    ts = 0.0
                if last_ts is not None and ts > last_ts:
                    step = ts - last_ts
                if not self.decoded_any:
                    self.decoded_any, self.first_ts = True, ts
                last_ts = ts
                yield ts, fr
            if packet is None:
                break

    def _set_skip(self, packet) -> None:
        """Let the decoder skip this packet's frame when ``keep`` does not want it and no other
        frame predicts from it. The codec context's skip_frame is copied into the decoding thread
        with each packet, so it applies to this packet alone; the frames decoded are the same
        pictures, bit for bit, as without skipping (nothing referenced is ever skipped)."""
        mode = "DEFAULT"
        origin = self.origin if self.origin is not None else self.stream.start_time
        if self.keep is not None and packet.pts is not None and origin is not None:
            ts = float((packet.pts - origin) * self.tb)
            if not self.keep(ts):
                mode = "NONREF"
                bisect.insort(self.skippable, ts)
        if mode != self._skip_mode:
            try:
                self.stream.codec_context.skip_frame = mode
            except (AttributeError, TypeError, ValueError):  # cannot skip here: decode everything
                self.keep, mode = None, "DEFAULT"
                self.skippable.clear()
            self._skip_mode = mode

    def skipped_between(self, lo: float, hi: float) -> bool:
        """Whether a packet sent as skippable has its time in (lo, hi], i.e. a frame there may
        be missing from the output."""
        i = bisect.bisect_right(self.skippable, lo)
        return i < len(self.skippable) and self.skippable[i] <= hi

    def forget_skippable(self, upto: float) -> None:
        del self.skippable[: bisect.bisect_right(self.skippable, upto)]

    def skip_invisible_work(self, size: tuple[int, int]) -> None:
        """For outputs at most 1/4 of the coded size, skip deblocking of non-reference frames.

        Nothing predicts from a non-reference frame, so this never drifts; the 8x8-edge smoothing
        it skips is averaged away by a 4x (or larger) area shrink. Measured on 720p/1080p H.264
        at 160x90: mean difference 0.02-0.05 of 255 (max 7), decoding ~7 % faster. (Skipping
        it on all frames would be 23 % faster but drifts until the next keyframe: max error 214.)
        """
        if self.invisible_at(size):
            cc = self.stream.codec_context
            try:
                cc.options = {**cc.options, "skip_loop_filter": "noref"}
            except (AttributeError, TypeError, ValueError):
                pass

    def invisible_at(self, size: tuple[int, int]) -> bool:
        """Whether ``skip_invisible_work`` skips anything for outputs of ``size``."""
        cc = self.stream.codec_context
        coded = sorted((int(cc.width or 0), int(cc.height or 0)))
        return bool(coded[0]) and 4 * min(size) <= coded[0] and 4 * max(size) <= coded[1]

    def display_coded(self, fr) -> tuple[int, int]:
        """Unrotated picture size with a non-square sample aspect ratio applied (for size=None)."""
        sar = self.stream.sample_aspect_ratio
        if sar and float(sar) > 0 and sar != 1:
            return max(1, int(round(fr.width * float(sar)))), fr.height
        return fr.width, fr.height

    def frame_duration(self, fr, fallback: float | None) -> float:
        d = _secs(fr.duration, self.tb) if getattr(fr, "duration", None) else None
        if d and d > 0:
            return d
        if fallback and fallback > 0:
            return fallback
        rate = self.stream.average_rate or self.stream.guessed_rate
        return 1.0 / float(rate) if rate else 1 / 30


def _check_args(size, pixel_format: str, rate_hz=None) -> None:
    if pixel_format not in ("rgb24", "gray"):
        raise ValueError(f"pixel_format must be 'rgb24' or 'gray', not {pixel_format!r}")
    if size is not None:
        w, h = size
        if not (0 < int(w) <= MAX_SIDE_PX and 0 < int(h) <= MAX_SIDE_PX):
            raise ValueError(f"size {size} must be positive and at most {MAX_SIDE_PX} px")
    if rate_hz is not None and not rate_hz > 0:
        raise ValueError(f"rate_hz must be positive, not {rate_hz}")


def _no_frames(p) -> MediaError:
    return MediaError(f"{p} contains no decodable video frames; the file is truncated or corrupt, "
                      "re-export or re-copy it")


def iter_frames(path, *, size: tuple[int, int] | None = None, pixel_format: str = "rgb24",
                start_s: float = 0.0, end_s: float | None = None, rate_hz: float | None = None,
                job: Job | None = None, thumbnail_height: int | None = None) -> Iterator[Frame]:
    """Decoded frames in order, converted to ``size`` (display size if None), rotation applied.

    ``rate_hz=None`` yields every frame in [start_s, end_s) with its own timestamp. With
    ``rate_hz``, yields one frame per tick k/rate_hz in [start_s, end_s) (grid anchored at 0):
    the latest frame whose timestamp <= tick, so the output is uniform whatever the input's
    frame timing; the last tick is before the end of the last frame. Arguments and the file
    are checked on the call (ValueError / MediaError), decoding errors while iterating.

    ``thumbnail_height`` (with ``rate_hz=None``): each Frame also carries its thumbnail of that
    height half made (``Frame.thumbnail``, a :class:`PartialThumbnail`), so a caller that
    learns only later which frames it wants (the Foley engine's contact patches, found by the
    analysis this pass feeds) gets ``iter_thumbnails(..., decode_like=size)``'s pictures, bit
    for bit, without decoding again. None for a pixel format without the planar path.
    """
    _check_args(size, pixel_format, rate_hz)
    start_s = max(0.0, float(start_s))
    if end_s is not None and end_s <= start_s:
        return iter(())
    reader = _Reader(path)
    if size is not None:
        reader.skip_invisible_work(size)
    return _guarded(reader, size, pixel_format, start_s, end_s, rate_hz, Job.quiet(job),
                    thumbnail_height if rate_hz is None and size is not None else None)


def _guarded(reader: _Reader, *args) -> Iterator[Frame]:
    try:
        yield from _iter(reader, *args)
    except _AV_ERRORS as exc:
        raise MediaError(f"cannot decode {reader.path} ({_why(exc)}); the file may be damaged") from None
    finally:
        reader.close()


def _iter(reader: _Reader, size, pixel_format, start_s, end_s, rate_hz, job: Job,
          thumbnail_height: int | None = None) -> Iterator[Frame]:
    eps = reader.eps
    if start_s > 0:
        reader.seek(start_s)
    span = max(1e-6, (end_s if end_s is not None else reader.duration_s) - start_s)
    convert: _Converter | None = None
    next_report, last_ts, step, emitted = start_s, None, None, 0
    k = math.ceil(start_s * rate_hz - 1e-6) if rate_hz else 0
    held = None  # (ts, frame) of the latest frame at or before the next tick
    restarted = False
    source = reader.frames()
    while True:
        try:
            ts, fr = next(source)
        except StopIteration:
            break
        if convert is None:
            if ts > start_s + eps and start_s > 0 and not restarted:  # seek overshot: from the top
                restarted = True
                reader.seek(0.0)
                source = reader.frames()
                continue
            convert = _Converter(size, pixel_format, _rotation_cw(fr), reader.display_coded(fr),
                                 _thumbnail_converter(reader, fr, size, thumbnail_height))
        if last_ts is not None and ts > last_ts:
            step = ts - last_ts
        last_ts = ts
        if ts >= next_report:
            job.report((ts - start_s) / span)
            next_report = ts + 0.5
        if rate_hz is None:
            if end_s is not None and ts >= end_s - eps:
                break
            if ts >= start_s - eps:
                emitted += 1
                yield Frame(ts, *convert.tapped(fr))
            continue
        if held is not None:
            while (tick := k / rate_hz) < ts - eps and (end_s is None or tick < end_s - eps):
                emitted += 1
                yield Frame(tick, convert(held[1]))
                k += 1
        held = (ts, fr)
        if end_s is not None and ts >= end_s - eps:
            break
    if rate_hz is not None and held is not None:
        stop = held[0] + reader.frame_duration(held[1], step)
        if end_s is not None:
            stop = min(stop, end_s)
        while (tick := k / rate_hz) < stop - eps:
            emitted += 1
            yield Frame(tick, convert(held[1]))
            k += 1
    if not reader.decoded_any:
        raise _no_frames(reader.path)
    job.report(1.0)


def _thumbnail_converter(reader: _Reader, fr, size, height: int | None) -> _Converter | None:
    """The converter ``iter_thumbnails`` would use for ``height`` on this stream."""
    if height is None:
        return None
    rot = _rotation_cw(fr)
    w, h = reader.display_coded(fr)
    thumb = _thumbnail_size((h, w) if rot in (90, 270) else (w, h), height)
    converter = _Converter(thumb, "rgb24", rot, reader.display_coded(fr))
    converter.time_eps = reader.eps
    return converter


def _thumbnail_size(display: tuple[int, int], height: int) -> tuple[int, int]:
    """(w, h) of a thumbnail ``height`` px high (even sides) of a picture of ``display`` size."""
    h = max(2, height // 2 * 2)
    return max(2, int(round(display[0] * h / max(1, display[1]) / 2.0)) * 2), h


def _frames_at(reader: _Reader, times: Sequence[float], convert_for) -> Iterator[Frame]:
    """The frame displayed at each time (sorted ascending), in one forward decode: seeking only
    where a keyframe lies between the decode position and a distant target, and letting the
    decoder skip the frames that are neither wanted nor referenced (see ``_Picker``). Yielded one
    at a time: a caller that keeps only a crop of each holds one picture, not all of them."""
    picker = _Picker(reader, times)
    for t in times:
        ts, fr = picker.at(t)
        yield Frame(ts, convert_for(fr)(fr))


class _Picker:
    """Walks one decode forward through sorted target times.

    Wanted are the frames that can be displayed at a target: those starting at most one frame
    step (x 1.25) before it. Every other packet goes to the decoder as skippable (``_Reader.keep``):
    a frame nothing predicts from (a non-reference B-frame: about half the frames of a usual
    H.264 file) is then not decoded at all, the others decode as always, bit-identical. Should a
    skipped frame have been the one displayed at a target (irregular frame times), that stretch
    is decoded again without skipping and the step widened, so the result is always the frame
    a full decode gives."""

    def __init__(self, reader: _Reader, times: Sequence[float]) -> None:
        self.reader, self.times = reader, list(times)
        self.keyframes = _keyframe_times(reader)
        self.source = self.pending = self.current = None  # current: latest (ts, frame) <= target
        rate = reader.stream.average_rate or reader.stream.guessed_rate
        self.window = None
        if rate and float(rate) > 0 and reader.stream.codec_context.name in _SKIP_CODECS:
            self.window = 1.25 / float(rate)
        reader.keep = self._wanted if self.window is not None else None

    def _wanted(self, ts: float) -> bool:
        i = bisect.bisect_left(self.times, ts - self.reader.eps)
        return i < len(self.times) and self.times[i] - ts <= self.window

    def _restart(self, t: float) -> None:
        self.reader.seek(t)
        self.reader.skippable.clear()
        self.source, self.pending, self.current = self.reader.frames(), None, None

    def _advance(self, t: float) -> None:
        """Decode until the next frame lies after ``t``; a seek that landed after it goes back to
        the start."""
        eps = self.reader.eps
        for attempt in (0, 1):
            while True:
                if self.pending is None:
                    self.pending = next(self.source, None)
                    if self.pending is None:
                        break
                if self.pending[0] > t + eps:
                    break
                self.current, self.pending = self.pending, None
            if self.current is not None or attempt == 1 or t <= 0:
                return
            self._restart(0.0)  # the seek landed after the target: decode from the start

    def at(self, t: float) -> tuple[float, object]:
        """(time, av frame) displayed at ``t``."""
        reader, eps = self.reader, self.reader.eps
        pos = self.current[0] if self.current is not None else -math.inf
        if self.source is None or (t - pos > _SEEK_GAP_S and _seek_helps(self.keyframes, t, pos, eps)):
            self._restart(t)
        self._advance(t)
        if reader.keep is not None:
            lo = self.current[0] if self.current is not None else -math.inf
            if reader.skipped_between(lo + eps, t + eps):  # the frame shown at t was skipped
                reader.keep = None
                self._restart(t)
                self._advance(t)
                if self.current is not None:
                    self.window = max(self.window, 1.25 * (t - self.current[0]) + eps)
                reader.keep = self._wanted
            elif self.current is not None:
                reader.forget_skippable(self.current[0] + eps)
        chosen = self.current or self.pending  # before the first frame: the first frame
        if chosen is None:
            if not reader.decoded_any:
                raise _no_frames(reader.path)
            raise MediaError(f"{reader.path}: no frame could be decoded near {t:.3f} s; "
                             "the file is damaged there")
        return chosen


def _seek_helps(keyframes: list[float], t: float, pos: float, eps: float) -> bool:
    """Seeking pays off only if a keyframe lies between the decode position and the target."""
    if not keyframes:
        return True
    i = bisect.bisect_right(keyframes, t + eps) - 1
    return i >= 0 and keyframes[i] > pos + eps


def _keyframe_times(reader: _Reader) -> list[float]:
    try:
        entries = reader.stream.index_entries
        origin = reader.origin or 0
        return sorted(float((e.timestamp - origin) * reader.tb) for e in entries if e.is_keyframe)
    except (AttributeError, TypeError):
        return []


def _converter_cache(reader: _Reader, size, pixel_format):
    state: dict[str, _Converter] = {}

    def convert_for(fr) -> _Converter:
        if "c" not in state:
            state["c"] = _Converter(size, pixel_format, _rotation_cw(fr), reader.display_coded(fr))
        return state["c"]
    return convert_for


def frame_at(path, time_s: float, *, size: tuple[int, int] | None = None,
             pixel_format: str = "rgb24") -> Frame:
    """The frame displayed at ``time_s`` (latest timestamp <= time_s; the first/last frame
    outside the stream). Frame-accurate: seeks to the previous keyframe and decodes forward."""
    _check_args(size, pixel_format)
    reader = _Reader(path)
    try:
        return next(_frames_at(reader, [max(0.0, float(time_s))], _converter_cache(reader, size, pixel_format)))
    except _AV_ERRORS as exc:
        raise MediaError(f"cannot decode {reader.path} ({_why(exc)}); the file may be damaged") from None
    finally:
        reader.close()


def thumbnails(path, times_s: Sequence[float], *, height: int = 72) -> list[Frame]:
    """One RGB thumbnail ``height`` px high per requested time (in the order given)."""
    out: list[Frame | None] = [None] * len(times_s)
    for i, fr in iter_thumbnails(path, times_s, height=height):
        out[i] = fr
    return out  # type: ignore[return-value]


def iter_thumbnails(path, times_s: Sequence[float], *, height: int = 72,
                    decode_like: tuple[int, int] | None = None) -> Iterator[tuple[int, Frame]]:
    """``thumbnails`` one at a time, without keeping them: (index into ``times_s``, thumbnail) in
    time order, from the same single forward decode. For callers that reduce each frame at once
    (the Foley engine cuts a small patch from each of thousands of impact frames: all the
    frames of a two-hour film at once would be gigabytes). The decoder is closed when the
    iterator is exhausted or dropped. ``decode_like``: decode as ``iter_frames(size=...)`` does
    at that size (whether it skips deblocking, ``_Reader.skip_invisible_work``), so these are
    the pictures such a pass half-makes (``Frame.thumbnail``); else as the thumbnail's size says."""
    if height <= 0 or height > MAX_SIDE_PX:  # checked now, not at the first next()
        raise ValueError(f"height must be in 1..{MAX_SIDE_PX}, not {height}")
    times = [max(0.0, float(t)) for t in times_s]
    return _iter_thumbnails(path, times, int(height), decode_like) if times else iter(())


def _iter_thumbnails(path, times: list[float], height: int, decode_like) -> Iterator[tuple[int, Frame]]:
    reader = _Reader(path)
    try:
        info_w, info_h, rot = _display_dims(reader)
        w, h = _thumbnail_size((info_w, info_h), height)
        skip_for = decode_like or (w, h)
        if reader.invisible_at(skip_for):  # the decoder's options are read when it opens: anew
            reader.close()
            reader = _Reader(path)
            reader.skip_invisible_work(skip_for)
        order = sorted(range(len(times)), key=lambda i: times[i])
        got = _frames_at(reader, [times[i] for i in order], _converter_cache(reader, (w, h), "rgb24"))
        yield from zip(order, got)
    except _AV_ERRORS as exc:
        raise MediaError(f"cannot decode {reader.path} ({_why(exc)}); the file may be damaged") from None
    finally:
        reader.close()


def _display_dims(reader: _Reader) -> tuple[int, int, int]:
    """Display (w, h, rotation) from the first decoded frame; rewinds afterwards."""
    for _, fr in reader.frames():
        rot = _rotation_cw(fr)
        w, h = reader.display_coded(fr)
        reader.seek(0.0)
        return (h, w, rot) if rot in (90, 270) else (w, h, rot)
    raise _no_frames(reader.path)


# ----------------------------------------------------------------------------- audio


def read_audio(path, *, sample_rate: int | None = None, mono: bool = False,
               stream: int = 0, stereo: bool = False, seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode audio stream ``stream`` (0 = first audio stream) to float32 (channels, samples)
    in [-1, 1], resampled with soxr when ``sample_rate`` differs from the file's. ``stereo``:
    more than two channels (5.1, ...) are downmixed to two by FFmpeg's resampler (centre and
    surrounds into left and right) instead of kept. ``seconds``: only the stream's start, at
    most that long (decoding stops once it is read, so a long file costs no more than its
    start). The whole stream at once: for a long one, :func:`iter_audio` gives it a piece at a
    time."""
    p = _check_path(path)
    if seconds is not None and not (np.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a positive number, not {seconds!r}")
    chunks: list[np.ndarray] = []
    rate = have = 0
    with contextlib.closing(iter_audio(p, stream=stream, stereo=stereo, clip=False)) as pieces:
        for rate, chunk in pieces:
            chunks.append(chunk)
            have += chunk.shape[1]
            if seconds is not None and have >= (seconds + 0.1) * rate:  # 0.1 s more: the resampler's edge
                break
    audio = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if mono and audio.shape[0] > 1:
        audio = audio.mean(axis=0, keepdims=True, dtype=np.float32)
    if sample_rate is not None and int(sample_rate) != rate:
        import soxr
        audio = np.ascontiguousarray(soxr.resample(audio.T, rate, int(sample_rate), quality="HQ").T)
        rate = int(sample_rate)
    if seconds is not None:
        audio = audio[:, :int(round(seconds * rate))]
    np.clip(audio, -1.0, 1.0, out=audio)
    return np.ascontiguousarray(audio, dtype=np.float32), rate


def iter_audio(path, *, stream: int = 0, stereo: bool = False,
               clip: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """(sample rate, float32 (channels, k) piece) of audio stream ``stream`` in order, as it
    decodes (``stereo`` as in :func:`read_audio`; ``clip``: to [-1, 1]); at least one piece, or
    a MediaError (no audio stream, nothing decodable, a damaged file)."""
    p = _check_path(path)
    container = _open(p)
    try:
        streams = container.streams.audio
        if not streams:
            raise MediaError(f"{p} has no audio stream; the video is silent, there is nothing to read")
        if not 0 <= stream < len(streams):
            raise MediaError(f"{p} has {len(streams)} audio stream(s); stream {stream} does not exist")
        a = streams[stream]
        if _stream_duration(a, container) > MAX_DURATION_S:
            raise MediaError(f"{p} claims more than 24 h of audio; trim it or repair its header")
        a.thread_type = "AUTO"
        downmix = stereo and _probe_audio(container, a).channels > 2
        resampler = av.AudioResampler(format="fltp", layout="stereo" if downmix else None)
        rate, errors, count = int(a.codec_context.sample_rate or 0), 0, 0
        demux = container.demux(a)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except _AV_ERRORS:
                packet = None
            try:
                frames = packet.decode() if packet is not None else a.codec_context.decode(None)
            except av.error.FFmpegError:
                errors += 1
                if errors > 200 and not count:
                    raise MediaError(f"{p}: the audio data cannot be decoded; the file is corrupt") from None
                frames = []
            for fr in frames:
                rate = fr.sample_rate or rate
                for out in resampler.resample(fr):
                    count += 1
                    yield rate, _clipped(out.to_ndarray(), clip)
            if packet is None:
                break
        for out in resampler.resample(None):
            count += 1
            yield rate, _clipped(out.to_ndarray(), clip)
        if not count:
            raise MediaError(f"{p} contains no decodable audio; the file is truncated or corrupt")
    except _AV_ERRORS as exc:
        raise MediaError(f"cannot decode the audio of {p} ({_why(exc)}); the file may be damaged") from None
    finally:
        container.close()


def _clipped(x: np.ndarray, clip: bool) -> np.ndarray:
    x = x.astype(np.float32, copy=False)
    return np.clip(x, -1.0, 1.0, out=x) if clip else x


# ----------------------------------------------------------------------------- hashing

_CHUNK = 1 << 20


def file_hash(path) -> str:
    """A content hash for caches: sha256 over the size and the first, middle and last 1 MiB.

    Sampled rather than whole-file because videos are often gigabytes and hashing them fully
    costs seconds of disk I/O every time a project opens; a re-encode, a trim or a different
    take changes the size or the header/index (at the start or end of MP4/MKV files) or the
    sampled data, so collisions between real media files are practically impossible. Files up
    to 3 MiB are hashed whole.
    """
    p = _check_path(path)
    h = hashlib.sha256()
    try:
        size = p.stat().st_size
        h.update(b"studio-media-v1:%d:" % size)
        with open(p, "rb") as fh:
            if size <= 3 * _CHUNK:
                h.update(fh.read())
            else:
                for offset in (0, size // 2 - _CHUNK // 2, size - _CHUNK):
                    fh.seek(offset)
                    h.update(fh.read(_CHUNK))
    except OSError as exc:
        raise MediaError(f"cannot read {p}: {exc.strerror or exc}") from None
    return h.hexdigest()
