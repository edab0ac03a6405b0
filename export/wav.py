"""WAV / FLAC files for stems and the mixdown (soundfile / libsndfile).

Formats: WAV with 16- or 24-bit PCM or 32-bit float; FLAC with 16- or 24-bit (FLAC has no float).
Sample rates are whatever the render used (the export renders at the requested rate directly:
MIDI through the synth at that rate, audio files resampled with soxr), so 44.1/48/96 kHz all
come out without a second resampling step.

Quantisation is done here, not by libsndfile, so that it is defined:
- 24-bit: ``round(x * 2**23)``, clipped to the integer range (values beyond full scale clip).
- 16-bit: TPDF dither of +-1 LSB (the difference of two independent uniform values in
  [0, 1) LSB, i.e. triangular over (-1, +1) LSB) is added before rounding to ``x * 2**15``.
  This decorrelates the quantisation error from the signal (no harmonic distortion on quiet
  tails, at the cost of a flat noise floor near -96 dBFS). The noise generator is seeded, so
  exports are reproducible. Pure digital silence stays silent (no dither where the input is 0).
- float: written as is (32-bit IEEE); peaks beyond 0 dBFS survive and are reported by the mix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from studio.errors import ExportError
from studio.names import unique_stems

BIT_DEPTHS = ("16", "24", "float32")
FORMATS = ("wav", "flac")
SAMPLE_RATES = (44100, 48000, 96000)
_SUBTYPE = {"16": "PCM_16", "24": "PCM_24", "float32": "FLOAT"}
_BYTES = {"16": 2, "24": 3, "float32": 4}


def check_format(bit_depth: str, file_format: str) -> None:
    bit_depth, file_format = str(bit_depth), str(file_format).lower()
    if bit_depth not in BIT_DEPTHS:
        raise ExportError(f"bit depth {bit_depth!r} is not supported; choose 16, 24 or float32")
    if file_format not in FORMATS:
        raise ExportError(f"audio format {file_format!r} is not supported; choose wav or flac")
    if file_format == "flac" and bit_depth == "float32":
        raise ExportError("FLAC cannot store 32-bit float; choose 16 or 24 bit, or WAV for float")


def estimated_bytes(frames: int, channels: int, bit_depth: str) -> int:
    """Upper bound of the file size (uncompressed PCM + header)."""
    return frames * channels * _BYTES[str(bit_depth)] + 4096


def quantise(audio: np.ndarray, bit_depth: str, *, seed: int = 0, start: int = 0,
             total: int | None = None) -> np.ndarray:
    """(channels, n) float -> (n, channels) array soundfile writes without converting again.
    ``start``/``total``: ``audio`` is frames ``start ..`` of a ``total``-frame signal quantised in
    blocks; the 16-bit dither is then the very noise the whole signal would get (``_tpdf``)."""
    x = np.asarray(audio, dtype=np.float32).T
    if bit_depth == "float32":
        return np.ascontiguousarray(x)
    if bit_depth == "24":
        # float32 is exact here: scaling by 2**23 only moves the exponent, and every value of
        # magnitude <= 2**23 is representable, so rounding happens once, in np.rint
        scaled = np.multiply(x, np.float32(2**23))
        np.clip(scaled, -(2**23), 2**23 - 1, out=scaled)
        np.rint(scaled, out=scaled)
        q = scaled.astype(np.int32)
        q <<= 8  # libsndfile takes the top 24 bits of int32 for PCM_24
        return q
    scaled = x.astype(np.float64) * 2**15
    tpdf = _tpdf(scaled.shape, seed, start, scaled.shape[0] if total is None else int(total))
    tpdf[x == 0] = 0.0
    return np.clip(np.rint(scaled + tpdf), -(2**15), 2**15 - 1).astype(np.int16)


def _tpdf(shape: tuple[int, int], seed: int, start: int, total: int) -> np.ndarray:
    """Rows ``start .. start + shape[0]`` of the TPDF noise ``rng.random((total, ch)) -
    rng.random((total, ch))`` of ``default_rng(seed)``: each draw takes one step of PCG64, so
    both streams are entered at their offsets (``advance``) instead of drawing everything."""
    rows, ch = shape
    first, second = np.random.PCG64(seed), np.random.PCG64(seed)
    first.advance(start * ch)
    second.advance(total * ch + start * ch)
    return np.random.Generator(first).random(shape) - np.random.Generator(second).random(shape)


def blocks(audio: np.ndarray, size: int = 1 << 18):
    """(start, (channels, m) float32 copy) of consecutive blocks of ``audio``, an array or a
    ``studio.diskaudio`` one (whose pages are handed back after each block)."""
    from studio import diskaudio

    for a, b in diskaudio.chunks(audio.shape[-1], size):
        yield a, diskaudio.read(audio, a, b)


def dequantise(data: np.ndarray, bit_depth: str) -> np.ndarray:
    """What a player reads back from ``quantise``'s output: (channels, n) float32 in [-1, 1)."""
    bit_depth = str(bit_depth)
    if bit_depth == "float32":
        return np.ascontiguousarray(np.asarray(data, dtype=np.float32).T)
    if bit_depth == "24":
        return np.ascontiguousarray(((np.asarray(data) >> 8).astype(np.float32) / np.float32(2**23)).T)
    return np.ascontiguousarray((np.asarray(data).astype(np.float32) / np.float32(2**15)).T)


def clipped_count(data: np.ndarray, bit_depth: str) -> int:
    """Samples of ``quantise``'s output at the format's extremes (clipped), or beyond full scale
    for float."""
    bit_depth = str(bit_depth)
    if bit_depth == "float32":
        return int(np.count_nonzero(np.abs(data) >= 1.0))
    if bit_depth == "24":
        v = np.asarray(data) >> 8
        return int(np.count_nonzero((v >= 2**23 - 1) | (v <= -(2**23))))
    v = np.asarray(data)
    return int(np.count_nonzero((v >= 2**15 - 1) | (v <= -(2**15))))


def clipped_estimate(audio: np.ndarray, bit_depth: str) -> int:
    """Samples of float ``audio`` that quantise to the format's extremes: beyond full scale less
    one LSB (plus one LSB of dither at 16 bit), without quantising it a second time."""
    lsb = {"16": 2.0 / 2**15, "24": 1.0 / 2**23, "float32": 0.0}[str(bit_depth)]
    return sum(int(np.count_nonzero(np.abs(x) >= 1.0 - lsb)) for _, x in blocks(audio))


def format_of(path: str | Path, default: str) -> str:
    """The format a file name asks for (``.flac`` -> ``"flac"``), else ``default``."""
    ext = Path(path).suffix.lower().lstrip(".")
    return ext if ext in FORMATS else default


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int, *, bit_depth: str = "24",
                file_format: str = "wav", seed: int = 0, shown=None) -> None:
    """Write (channels, n) float audio to ``path`` (a temporary path from studio.fsutil); an
    error names ``shown``, the file the user asked for, not the temporary one."""
    import soundfile as sf

    bit_depth, file_format = str(bit_depth), str(file_format).lower()
    check_format(bit_depth, file_format)
    n = audio.shape[-1]
    try:  # block by block: memory stays one block whatever the length (audio may be on disk)
        with sf.SoundFile(str(path), "w", samplerate=int(sample_rate), channels=audio.shape[0],
                          subtype=_SUBTYPE[bit_depth], format=file_format.upper()) as fh:
            for a, x in blocks(audio):
                fh.write(quantise(x, bit_depth, seed=seed, start=a, total=n))
    except (RuntimeError, sf.LibsndfileError) as exc:  # libsndfile reports ENOSPC etc. this way
        raise ExportError(f"cannot write audio file {shown or path}: {exc}") from None


def unique_names(names: Iterable[str], *, taken: Iterable[str] = ()) -> list[str]:
    """Safe, case-insensitively unique stems (``Drums``, ``Drums (2)``...; ``studio.names``)."""
    return unique_stems(names, taken=taken, default="track")
