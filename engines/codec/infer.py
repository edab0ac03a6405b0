"""The neural audio codec at run time (numpy + onnxruntime): audio -> tokens -> audio.

    from engines.codec.infer import Codec

    codec = Codec()
    codes = codec.encode(audio, sample_rate)   # (n_q, T) int64, 50 tokens/s per codebook
    audio24k = codec.decode(codes)             # (T * 480,) float32 at 24 kHz mono

``encode`` mixes to mono, resamples to 24 kHz (scipy's polyphase resampler), pads to a whole
token (480 samples), computes the STFT features in numpy (``dsp.features``) and runs the encoder
+ quantiser graph; ``decode`` runs the decoder graph (codes -> STFT frames) and inverts the STFT
in numpy. Both ONNX files come through ``engines.runtime.session`` (manifest, sha256 check, a
ModelError naming the file when it is missing or corrupt). Long audio goes through in windows of
``WINDOW_TOKENS`` tokens with ``CONTEXT_TOKENS`` of context each side, so memory stays flat and
the result matches one pass up to the network's receptive field.
"""
from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

from engines.codec import dsp
from engines.errors import EngineError
from engines.runtime import MODELS_DIR, model_info, session

ENCODER, DECODER = "codec_encoder", "codec_decoder"
WINDOW_TOKENS = 1500  # 30 s
CONTEXT_TOKENS = 25   # 0.5 s: beyond the receptive field of either graph


def _mono(audio, sample_rate) -> np.ndarray:
    x = np.asarray(audio)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise EngineError(f"audio must be a numeric array, not {x.dtype}")
    if x.ndim == 2:  # (n, channels), as soundfile reads it; a (channels, n) array is taken too
        x = x.mean(axis=1 if x.shape[0] >= x.shape[1] else 0)
    elif x.ndim != 1:
        raise EngineError(f"audio must be 1-D (n,) or 2-D (n, channels); got shape {x.shape}")
    if x.size == 0:
        raise EngineError("audio is empty")
    if not np.isfinite(x).all():
        raise EngineError("audio contains NaN or infinite samples")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise EngineError(f"sample rate must be a positive integer, not {sample_rate!r}")
    x = x.astype(np.float32)
    if sample_rate != dsp.SR:
        from scipy.signal import resample_poly

        g = gcd(int(sample_rate), dsp.SR)
        x = resample_poly(x, dsp.SR // g, int(sample_rate) // g).astype(np.float32)
    return x


def _windows(n_tokens: int):
    """(start, stop, keep_from, keep_to) in tokens: windows with context, the kept middle parts."""
    for s in range(0, n_tokens, WINDOW_TOKENS):
        e = min(n_tokens, s + WINDOW_TOKENS)
        a, b = max(0, s - CONTEXT_TOKENS), min(n_tokens, e + CONTEXT_TOKENS)
        yield a, b, s - a, e - a


class Codec:
    def __init__(self, models_dir: Path = MODELS_DIR):
        self.models_dir = Path(models_dir)
        self._enc = session(ENCODER, self.models_dir, cpu_only=True)
        self._dec = session(DECODER, self.models_dir, cpu_only=True)
        t = model_info(ENCODER, self.models_dir).entry.get("training", {})
        self.codebooks = int(t.get("codebooks", 8))
        self.entries = int(t.get("entries", 1024))
        self.sample_rate = dsp.SR
        self.token_rate = dsp.SR / dsp.TOKEN_HOP

    @property
    def bitrate(self) -> float:
        """Bits per second: codebooks x log2(entries) x tokens per second."""
        return self.codebooks * float(np.log2(self.entries)) * self.token_rate

    def encode(self, audio, sample_rate: int) -> np.ndarray:
        """Audio (n,) or (n, channels) at any rate -> codes (n_q, T) int64, T = ceil(n24k / 480)."""
        x = _mono(audio, sample_rate)
        n_tok = -(-len(x) // dsp.TOKEN_HOP)
        x = np.pad(x, (0, n_tok * dsp.TOKEN_HOP - len(x)))
        out = []
        for a, b, k0, k1 in _windows(n_tok):
            f = dsp.features(x[a * dsp.TOKEN_HOP:b * dsp.TOKEN_HOP])[None]
            out.append(self._enc.run(None, {"features": f})[0][0][:, k0:k1])
        return np.concatenate(out, axis=1).astype(np.int64)

    def decode(self, codes) -> np.ndarray:
        """Codes (n_q, T) -> (T * 480,) float32 audio at 24 kHz."""
        c = np.asarray(codes)
        if c.ndim != 2 or c.shape[0] != self.codebooks or c.shape[1] == 0:
            raise EngineError(f"codes must have shape ({self.codebooks}, T>0); got {c.shape}")
        if not np.issubdtype(c.dtype, np.integer) or c.min() < 0 or c.max() >= self.entries:
            raise EngineError(f"codes must be integers in [0, {self.entries}); got {c.dtype} "
                              f"in [{c.min()}, {c.max()}]")
        c = c.astype(np.int64)
        out = []
        for a, b, k0, k1 in _windows(c.shape[1]):
            re, im = self._dec.run(None, {"codes": c[None, :, a:b]})
            spec = re[0] + 1j * im[0]
            spec = np.concatenate([spec, spec[:, -1:]], axis=1)  # as in training: the last frame repeated
            y = dsp.istft(spec, (b - a) * dsp.TOKEN_HOP)
            out.append(y[k0 * dsp.TOKEN_HOP:k1 * dsp.TOKEN_HOP])
        return np.concatenate(out).astype(np.float32)

    def roundtrip(self, audio, sample_rate: int) -> np.ndarray:
        """Audio -> codes -> audio at 24 kHz, trimmed to the input's length at 24 kHz."""
        x = _mono(audio, sample_rate)
        return self.decode(self.encode(x, dsp.SR))[:len(x)]
