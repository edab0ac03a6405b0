"""The video with the new soundtrack: video packets copied (no re-encoding), the mix as AAC.

Streams of the output, in order:
1. the original video stream, packet for packet (``add_stream_from_template`` + ``mux``), so
   the picture is bit-identical and the export costs no video encoding;
2. the mixdown, AAC-LC stereo at the mix's sample rate (256 kb/s, FFmpeg's fast coder), default
   audio track, titled "Studio mix";
3. optionally the original audio stream(s), copied packet for packet, titled "Original audio"
   (not default).

The container follows the output's extension (.mp4, .m4v, .mov, .mkv). Packets keep their
timestamps; the mix starts at the video's start time. A codec the container cannot hold
(e.g. PCM audio in MP4) is reported as an ExportError that names the container to use instead.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from studio.errors import ExportError

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
AAC_BITRATE = 256_000


def container_format(path: str | Path) -> str:
    ext = Path(path).suffix.lower()
    if ext not in CONTAINERS:
        raise ExportError(f"video export to '{ext or path}' is not supported; use .mp4, .mov or .mkv")
    return CONTAINERS[ext]


def mux(source: str | Path, target: str | Path, mix: np.ndarray, sample_rate: int, *,
        keep_original_audio: bool = True, container: str | None = None, job=None, shown=None) -> None:
    """Write ``target`` (a temporary path) from ``source``'s video and the (2, n) float mix; an
    error names ``shown``, the file the user asked for, not the temporary one."""
    import av
    import av.error

    shown = shown or target

    fmt = container or container_format(target)
    try:
        src = av.open(str(source))
    except (av.error.FFmpegError, OSError) as exc:
        raise ExportError(f"cannot open the project video {source}: {exc}") from None
    try:
        if not src.streams.video:
            raise ExportError(f"{source} has no video stream to copy")
        vin = src.streams.video[0]
        ain = list(src.streams.audio) if keep_original_audio else []
        try:
            out = av.open(str(target), "w", format=fmt)
        except (av.error.FFmpegError, OSError) as exc:
            raise ExportError(f"cannot create {shown}: {exc}") from None
        try:
            vout = out.add_stream_from_template(vin)
            aout = out.add_stream("aac", rate=int(sample_rate))
            aout.layout = "stereo"
            aout.bit_rate = AAC_BITRATE
            # FFmpeg's "fast" AAC coder: about twice the speed of the default two-loop search, and
            # at 256 kb/s stereo no audible loss for a picture-sync copy (stems stay lossless WAV)
            aout.options = {"aac_coder": "fast"}
            aout.metadata["title"] = "Studio mix"
            copies = {vin.index: vout}
            for a in ain:
                o = out.add_stream_from_template(a)
                o.metadata["title"] = "Original audio"
                copies[a.index] = o
            try:
                aout.disposition = av.stream.Disposition.default
                for a in ain:
                    copies[a.index].disposition = av.stream.Disposition(0)
            except (AttributeError, TypeError, ValueError):  # older PyAV: no disposition API
                pass
            start_s = float(vin.start_time * vin.time_base) if vin.start_time is not None else 0.0
            audio = _MixEncoder(out, aout, mix, int(sample_rate), start_s)
            for packet in src.demux([vin, *ain]):
                if packet.dts is None:  # demuxer flush packets carry no data
                    continue
                if packet.time_base is not None:  # the mix encoded as far as the picture (+ a margin)
                    audio.until(float(packet.dts * packet.time_base) + _AUDIO_LEAD_S)
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
            audio.finish()
            if job is not None:
                job.report(1.0, "video written")
        finally:
            out.close()
    except av.error.FFmpegError as exc:
        raise ExportError(
            f"cannot write {shown} as {fmt}: {exc}; the source's codecs may not fit this container, "
            "try .mkv"
        ) from None
    except OSError:
        raise  # studio.fsutil turns disk errors into readable ExportErrors
    finally:
        src.close()


# how far the mix is encoded ahead of the copied packets. Encoded all before them, the muxer held
# every audio packet until the video's caught up: a two-hour film's whole AAC (+250 MB)
_AUDIO_LEAD_S = 1.0


class _MixEncoder:
    """The (2, n) mix as AAC packets, encoded block by block as far as asked (``until``), so the
    muxer interleaves as it goes and holds a second of audio, not the film's."""

    FRAME = 1024

    def __init__(self, out, aout, mix: np.ndarray, sample_rate: int, start_s: float) -> None:
        from export.wav import blocks

        self.out, self.aout, self.sr = out, aout, sample_rate
        self.tb = Fraction(1, sample_rate)
        self.first = int(round(start_s * sample_rate))
        self.start_s = start_s
        self.n = mix.shape[1]
        self.blocks = blocks(mix, 1 << 20)  # read in blocks: the mix may be on disk (studio.diskaudio)
        self.part, self.part_start, self.i = None, 0, 0
        self.done = 0  # frames of the mix encoded

    def until(self, t_s: float) -> None:
        import av

        while self.done < self.n and self.start_s + self.done / self.sr < t_s:
            if self.part is None or self.i >= self.part.shape[1]:
                self.part_start, part = next(self.blocks)
                self.part, self.i = np.clip(part, -1.0, 1.0).astype(np.float32), 0
            chunk = np.ascontiguousarray(self.part[:, self.i:self.i + self.FRAME])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = self.sr
            frame.time_base = self.tb
            frame.pts = self.first + self.part_start + self.i
            for packet in self.aout.encode(frame):
                self.out.mux(packet)
            self.i += chunk.shape[1]
            self.done += chunk.shape[1]

    def finish(self) -> None:
        self.until(float("inf"))
        for packet in self.aout.encode(None):
            self.out.mux(packet)
