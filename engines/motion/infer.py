"""Motion sections (Predict & Cluster style): body keypoints -> sliding-window features from the
GRU encoder -> change points -> sections (start, end, cluster label, nearest synthetic action).

    from engines.performer.keypoints import load_keypoints
    from engines.motion.infer import MotionSections

    kp = load_keypoints("clip.keypoints.json")
    for s in MotionSections().sections(kp):
        print(s.start_s, s.end_s, s.label, s.action)

Run time: numpy + onnxruntime only (the model through ``engines.runtime.session``).

Windows: ``WINDOW_S`` (2 s) of keypoints resampled to ``FPS`` (15), one every ``HOP_S`` (0.2 s).
The change curve at time t is the cosine distance between the feature of the window that ends
at t and the one that starts at t (both centred: the encoder's features are standardised inside
the graph), smoothed over three hops; change points are its local maxima above a threshold
(calibrated on synthetic training sequences, stored in the model's metadata), at least
``MIN_SECTION_S`` apart. Sections get a letter (sections whose mean features are within the
threshold share it, greedy in time order) and the nearest of the synthetic training actions'
mean features (``action``, with its cosine ``action_distance``: on real footage a hint at best).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.errors import ModelError
from engines.performer.keypoints import N_JOINTS, Keypoints, resample

FPS = 15.0
WINDOW = 30  # frames: 2 s
WINDOW_S = WINDOW / FPS
HOP = 3  # frames: 0.2 s
HOP_S = HOP / FPS
N_IN = N_JOINTS * 2
MIN_SECTION_S = 1.0
MODEL = "motion_encoder"


@dataclass
class Section:
    start_s: float
    end_s: float
    label: str  # "A", "B", ...: sections alike share a letter
    action: str  # nearest synthetic training action (a hint)
    action_distance: float

    def as_dict(self) -> dict:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "label": self.label,
                "action": self.action, "action_distance": round(self.action_distance, 3)}


def frames(kp: Keypoints) -> np.ndarray:
    """Keypoints -> (T, N_IN) float32 at FPS (x, y of each joint)."""
    kp = resample(kp, FPS)
    return kp.xy.reshape(kp.n_frames, -1).astype(np.float32)


def windows(f: np.ndarray, hop: int = HOP) -> tuple[np.ndarray, np.ndarray]:
    """(T, D) -> windows (N, WINDOW, D) starting every ``hop`` frames, and their start frames.
    A track shorter than a window is padded by repeating its last frame (one window)."""
    if len(f) < WINDOW:
        f = np.concatenate([f, np.repeat(f[-1:], WINDOW - len(f), 0)])
    starts = np.arange(0, len(f) - WINDOW + 1, hop)
    idx = starts[:, None] + np.arange(WINDOW)[None]
    return f[idx], starts


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    return 1.0 - (a * b).sum(-1) / np.maximum(na * nb, 1e-9)


def change_curve(feats: np.ndarray, hop: int = HOP) -> tuple[np.ndarray, np.ndarray]:
    """Window features (N, D) at starts k*hop -> (times_s, distance) at each candidate boundary:
    the window ending there against the window starting there, smoothed over three hops."""
    lag = WINDOW // hop
    if len(feats) <= lag:
        return np.zeros(0), np.zeros(0)
    d = cosine_distance(feats[:-lag], feats[lag:])
    if len(d) >= 3:
        d = np.convolve(np.pad(d, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    times = (np.arange(len(d)) + lag) * hop / FPS
    return times, d


def change_points(times: np.ndarray, curve: np.ndarray, threshold: float,
                  min_gap_s: float = MIN_SECTION_S) -> list[float]:
    """Local maxima of ``curve`` above ``threshold``, strongest first, at least ``min_gap_s`` apart."""
    if len(curve) == 0:
        return []
    pad = np.pad(curve, 1, constant_values=-np.inf)
    peak = (curve >= pad[:-2]) & (curve > pad[2:]) & (curve > threshold)
    kept: list[float] = []
    for i in np.argsort(-curve):
        if peak[i] and all(abs(times[i] - k) >= min_gap_s for k in kept):
            kept.append(float(times[i]))
    return sorted(kept)


def boundary_f(est, ref, tol: float = 0.5) -> tuple[float, float, float]:
    """Precision, recall, F of boundaries within ``tol`` seconds (one-to-one, closest pairs first)."""
    est, ref = list(est), list(ref)
    if not est and not ref:
        return 1.0, 1.0, 1.0
    pairs = sorted((abs(e - r), i, j) for i, e in enumerate(est) for j, r in enumerate(ref) if abs(e - r) <= tol)
    ue, ur, hit = set(), set(), 0
    for _, i, j in pairs:
        if i not in ue and j not in ur:
            ue.add(i)
            ur.add(j)
            hit += 1
    p = hit / len(est) if est else 0.0
    r = hit / len(ref) if ref else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def calibrate_threshold(curves, truths, tol: float = 0.5, min_gap_s: float = MIN_SECTION_S) -> float:
    """The threshold with the best mean boundary F over (times, curve) / true-boundary pairs."""
    allv = np.concatenate([c for _, c in curves if len(c)]) if curves else np.zeros(1)
    grid = np.unique(np.quantile(allv, np.linspace(0.3, 0.995, 80)))
    best, best_f = float(grid[0]), -1.0
    for th in grid:
        f = np.mean([boundary_f(change_points(t, c, th, min_gap_s), ref, tol)[2] for (t, c), ref in zip(curves, truths)])
        if f > best_f:
            best, best_f = float(th), f
    return best


def raw_window_features(w: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """The raw-keypoint baseline: each window flattened (optionally centred by a mean window)."""
    x = w.reshape(len(w), -1).astype(np.float64)
    return x - mean if mean is not None else x


def label_sections(bounds: list[float], end_s: float, times: np.ndarray, feats: np.ndarray,
                   threshold: float, prototypes: dict[str, np.ndarray] | None = None) -> list[Section]:
    """Sections between the change points; ``times``: each window's centre, ``feats`` its feature."""
    edges = [0.0] + list(bounds) + [end_s]
    means, out = [], []
    names = list(prototypes or {})
    protos = np.stack([prototypes[n] for n in names]) if names else None
    for a, b in zip(edges[:-1], edges[1:]):
        m = (times >= a) & (times <= b)
        if not m.any():
            m = np.zeros(len(times), bool)
            m[int(np.argmin(np.abs(times - 0.5 * (a + b))))] = True
        mean = feats[m].mean(0)
        label = None
        for lab, other in means:
            if cosine_distance(mean, other) < threshold:
                label = lab
                break
        if label is None:
            label = chr(ord("A") + len({l for l, _ in means})) if len({l for l, _ in means}) < 26 else "Z"
        means.append((label, mean))
        action, dist = "", float("nan")
        if protos is not None:
            d = cosine_distance(mean[None], protos)
            action, dist = names[int(np.argmin(d))], float(d.min())
        out.append(Section(float(a), float(b), label, action, dist))
    return out


class MotionSections:
    """The shipped encoder (``motion_encoder``) and what its metadata carry (threshold, prototypes)."""

    def __init__(self, models_dir: Path | None = None):
        from engines import runtime

        self.models_dir = Path(models_dir) if models_dir else runtime.MODELS_DIR
        self.sess = runtime.session(MODEL, self.models_dir)
        meta = self.sess.get_modelmeta().custom_metadata_map
        try:
            self.threshold = float(meta["threshold"])
            self.prototypes = {k: np.asarray(v, np.float32) for k, v in json.loads(meta["prototypes"]).items()}
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"model {MODEL} lacks its threshold / prototypes metadata ({exc}); rebuild it") from None
        shape = self.sess.get_inputs()[0].shape
        if shape[1] != WINDOW or shape[2] != N_IN:
            raise ModelError(f"model {MODEL} takes windows of {shape[1:]}, this engine makes ({WINDOW}, {N_IN})")

    def features(self, w: np.ndarray, batch: int = 256) -> np.ndarray:
        """Windows (N, WINDOW, N_IN) -> features (N, D)."""
        name = self.sess.get_inputs()[0].name
        outs = [self.sess.run(None, {name: np.ascontiguousarray(w[i:i + batch], np.float32)})[0]
                for i in range(0, len(w), batch)]
        return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)

    def track_features(self, kp: Keypoints) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints -> (window centre times_s, features) every HOP_S."""
        w, starts = windows(frames(kp))
        return (starts + WINDOW / 2) / FPS, self.features(w)

    def sections(self, kp: Keypoints, threshold: float | None = None,
                 min_section_s: float = MIN_SECTION_S) -> list[Section]:
        th = self.threshold if threshold is None else float(threshold)
        centres, f = self.track_features(kp)
        times, curve = change_curve(f)
        bounds = change_points(times, curve, th, min_section_s)
        return label_sections(bounds, kp.duration_s, centres, f, th, self.prototypes)


def sections(kp: Keypoints, models_dir: Path | None = None) -> list[Section]:
    return MotionSections(models_dir).sections(kp)
