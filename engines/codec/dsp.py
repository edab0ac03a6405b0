"""The codec's signal side in numpy (run time and evaluation): its STFT and inverse STFT (the
same framing as ``torch.stft`` / ``torch.istft`` with ``center=True``, reflect padding and a
periodic Hann window, so the trained network sees at run time what it saw in training), the
encoder's input features, and the reconstruction metrics.

Frames: ``N_FFT`` 960 (40 ms), ``HOP`` 240 (10 ms, 100 frames/s); the quantised latent runs at
half that rate (``TOKEN_HOP`` 480 samples: 50 tokens/s per codebook).
"""
from __future__ import annotations

import numpy as np

SR = 24000
N_FFT = 960
HOP = 240
N_BINS = N_FFT // 2 + 1
TOKEN_HOP = 2 * HOP
FEATURES = 3 * N_BINS  # log magnitude, then the compressed complex spectrum's real and imaginary parts
EPS = 1e-5


def window(n: int = N_FFT) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic Hann


def stft(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """(n,) -> (n_fft//2+1, 1 + n//hop) complex64, as ``torch.stft(center=True)``."""
    pad = n_fft // 2
    xp = np.pad(np.asarray(x, np.float32), pad, mode="reflect" if len(x) > pad else "constant")
    n_frames = 1 + (len(xp) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    return np.fft.rfft(xp[idx] * window(n_fft), axis=1).T.astype(np.complex64)


def istft(spec: np.ndarray, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """(bins, frames) complex -> (length,) float32, as ``torch.istft(center=True, length=...)``."""
    w = window(n_fft)
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1).astype(np.float32) * w
    n = n_fft + hop * (frames.shape[0] - 1)
    out = np.zeros(n, np.float32)
    norm = np.zeros(n, np.float32)
    for i, f in enumerate(frames):  # frames are few (100/s); a loop is clearer than a strided add
        out[i * hop:i * hop + n_fft] += f
        norm[i * hop:i * hop + n_fft] += w * w
    out = out / np.where(norm > 1e-11, norm, 1.0)
    out = out[n_fft // 2:n_fft // 2 + length]
    return np.pad(out, (0, length - len(out))) if len(out) < length else out


def features(x: np.ndarray) -> np.ndarray:
    """The encoder's input for a clip whose length is a multiple of ``TOKEN_HOP``: (FEATURES,
    n // HOP) float32: log magnitude and the magnitude-compressed (|X|^0.3) complex spectrum,
    which carries the phase; the last centred frame is dropped so frames = 2 x tokens."""
    s = stft(x)[:, :-1]
    mag = np.abs(s)
    comp = s * (mag + EPS) ** -0.7
    return np.concatenate([np.log(mag + EPS), comp.real, comp.imag]).astype(np.float32)


# ---- metrics (reference first, estimate second; equal lengths)

MR_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))


def mr_stft_distance(ref: np.ndarray, est: np.ndarray) -> float:
    """Multi-resolution STFT distance: mean over ``MR_RESOLUTIONS`` of spectral convergence
    (||S - S^||_F / ||S||_F) plus mean |log S - log S^| (natural log, magnitudes)."""
    tot = 0.0
    for n_fft, hop in MR_RESOLUTIONS:
        a, b = np.abs(stft(ref, n_fft, hop)), np.abs(stft(est, n_fft, hop))
        sc = np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-9)
        tot += sc + float(np.mean(np.abs(np.log(a + EPS) - np.log(b + EPS))))
    return float(tot / len(MR_RESOLUTIONS))


_MEL = {}


def mel_filters(n_fft: int = 1024, n_mels: int = 80) -> np.ndarray:
    if (n_fft, n_mels) not in _MEL:
        import librosa

        _MEL[n_fft, n_mels] = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels).astype(np.float32)
    return _MEL[n_fft, n_mels]


def log_mel(x: np.ndarray, n_fft: int = 1024, hop: int = 256, n_mels: int = 80) -> np.ndarray:
    return np.log(mel_filters(n_fft, n_mels) @ np.abs(stft(x, n_fft, hop)) + EPS)


def mel_distance(ref: np.ndarray, est: np.ndarray) -> float:
    """Mean |log mel - log mel^| (80 bands, 1024-point frames, natural log of magnitudes)."""
    return float(np.mean(np.abs(log_mel(ref) - log_mel(est))))


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (zero-mean signals)."""
    r, e = ref - ref.mean(), est - est.mean()
    a = float(np.dot(e, r) / max(float(np.dot(r, r)), 1e-12))
    t = a * r
    return float(10 * np.log10(max(float(np.dot(t, t)), 1e-12) / max(float(np.dot(e - t, e - t)), 1e-12)))


def log_spectral_distance(ref: np.ndarray, est: np.ndarray) -> float:
    """LSD in dB: per frame the RMS over frequency of the power spectra's dB difference, averaged
    over frames (2048-point frames, hop 512)."""
    a = np.abs(stft(ref, 2048, 512)) ** 2
    b = np.abs(stft(est, 2048, 512)) ** 2
    d = 10 * np.log10(a + 1e-10) - 10 * np.log10(b + 1e-10)
    return float(np.mean(np.sqrt(np.mean(d ** 2, axis=0))))


def metrics(ref: np.ndarray, est: np.ndarray) -> dict[str, float]:
    n = min(len(ref), len(est))
    ref, est = ref[:n].astype(np.float32), est[:n].astype(np.float32)
    return {"mr_stft": mr_stft_distance(ref, est), "mel": mel_distance(ref, est),
            "si_sdr_db": si_sdr(ref, est), "lsd_db": log_spectral_distance(ref, est)}
