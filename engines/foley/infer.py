"""Run-time inference of the Foley engine (numpy + onnxruntime, no torch).

* :class:`ParamSampler`: DDIM sampling of packed physics-parameter vectors from the diffusion
  denoiser ``foley_diffusion.onnx``, batched over many hits, seedable per hit (hit i's start
  noise comes from ``default_rng([seed_i])``), so repeated hits of one condition differ
  ("round robin") while every hit is reproducible.
* :class:`MaterialClassifier`: material probabilities from the colour/texture descriptor of an
  impact region (``foley_material.onnx``).

Both load through :func:`engines.runtime.session` (checksum-verified; a missing or corrupt file
raises :class:`engines.errors.ModelError`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from engines import runtime
from engines.errors import EngineError, ModelError
from engines.foley.materials import MATERIALS, material as _material
from engines.foley.params import VECTOR_DIM
from engines.foley.schedule import alpha_bar, ddim_timesteps
from engines.foley.visual import DESCRIPTOR_DIM, descriptors

MATERIAL_NAMES = tuple(MATERIALS)
X_CLIP = 1.5  # packed vectors live in about [-1.4, 1]; default clip of x0 estimates


def _config(sess, name: str) -> dict:
    try:
        meta = sess.get_modelmeta().custom_metadata_map
        return json.loads(meta["config"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"model {name} has no readable config in its metadata ({exc}); "
                         "rebuild it with the engine's training script") from None


def material_index(name: str) -> int:
    return MATERIAL_NAMES.index(_material(name).name)


class ParamSampler:
    name = "foley_diffusion"

    def __init__(self, models_dir: Path = runtime.MODELS_DIR):
        self.session = runtime.session(self.name, models_dir, cpu_only=True)
        cfg = _config(self.session, self.name)
        if cfg.get("vector_dim") != VECTOR_DIM or list(cfg.get("materials", [])) != list(MATERIAL_NAMES):
            raise ModelError(f"model {self.name} was trained for another parameter layout or "
                             "material list; rebuild it with the training script")
        self.config = cfg
        self.x_mean = np.asarray(cfg["x_mean"], np.float32)
        self.x_std = np.asarray(cfg["x_std"], np.float32)
        self.alpha_bar = alpha_bar(int(cfg["t_steps"]))
        self.default_steps = int(cfg.get("sample_steps", 8))
        self.t_max = int(cfg.get("sample_t_max", 980))
        self.x_lo = np.asarray(cfg.get("x_min", [-X_CLIP] * VECTOR_DIM), np.float32)
        self.x_hi = np.asarray(cfg.get("x_max", [X_CLIP] * VECTOR_DIM), np.float32)

    def sample(self, materials: Sequence[str | int], sizes, strengths, seeds, visual=None, *,
               steps: int | None = None, eta: float = 0.0) -> np.ndarray:
        """(B, 67) float32 packed vectors, one per hit. ``visual``: (B, 14) descriptors or None
        (rows of NaN also mean "no picture"). ``eta`` 0 = deterministic DDIM given the seed."""
        b = len(seeds)
        mats = np.array([m if isinstance(m, (int, np.integer)) else material_index(m) for m in materials], np.int64)
        sizes = np.clip(np.asarray(sizes, np.float32).reshape(-1), 0, 1)
        strengths = np.clip(np.asarray(strengths, np.float32).reshape(-1), 0, 1)
        if not (len(mats) == sizes.size == strengths.size == b):
            raise EngineError("materials, sizes, strengths and seeds must have one value per hit")
        if b == 0:
            return np.zeros((0, VECTOR_DIM), np.float32)
        cond = np.zeros((b, 3 + DESCRIPTOR_DIM), np.float32)
        cond[:, 0], cond[:, 1] = sizes, strengths
        if visual is not None:
            v = np.asarray(visual, np.float32).reshape(b, DESCRIPTOR_DIM)
            ok = np.all(np.isfinite(v), axis=1)
            cond[ok, 2] = 1.0
            cond[ok, 3:] = v[ok]
        rngs = [np.random.default_rng(int(s) & 0xFFFFFFFFFFFF)
                for s in seeds]
        x = np.stack([r.standard_normal(VECTOR_DIM) for r in rngs]).astype(np.float32)
        ts = ddim_timesteps(int(steps or self.default_steps), self.t_max)
        lo = (self.x_lo - self.x_mean) / self.x_std  # x0 estimates stay in the training range
        hi = (self.x_hi - self.x_mean) / self.x_std
        x0 = x
        for i, t in enumerate(ts):
            a = self.alpha_bar[t]
            eps = self.session.run(["eps"], {"x_t": x, "t": np.full(b, float(t), np.float32),
                                             "material": mats, "cond": cond})[0]
            x0 = np.clip((x - np.sqrt(1 - a) * eps) / np.sqrt(a), lo, hi).astype(np.float32)
            if i + 1 == len(ts):
                break
            a_prev = self.alpha_bar[ts[i + 1]]
            eps = (x - np.sqrt(a) * x0) / np.sqrt(1 - a)  # consistent with the clipped x0
            sigma = eta * np.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
            x = np.sqrt(a_prev) * x0 + np.sqrt(max(0.0, 1 - a_prev - sigma ** 2)) * eps
            if sigma > 0:
                x = x + sigma * np.stack([r.standard_normal(VECTOR_DIM) for r in rngs])
            x = x.astype(np.float32)
        return (x0 * self.x_std + self.x_mean).astype(np.float32)


class MaterialClassifier:
    name = "foley_material"

    def __init__(self, models_dir: Path = runtime.MODELS_DIR):
        self.session = runtime.session(self.name, models_dir, cpu_only=True)
        cfg = _config(self.session, self.name)
        if list(cfg.get("materials", [])) != list(MATERIAL_NAMES):
            raise ModelError(f"model {self.name} was trained for another material list; rebuild it")
        self.config = cfg

    def probabilities(self, features) -> np.ndarray:
        f = np.asarray(features, np.float32).reshape(-1, DESCRIPTOR_DIM)
        if f.shape[0] == 0:
            return np.zeros((0, len(MATERIAL_NAMES)), np.float32)
        logits = self.session.run(["logits"], {"features": f})[0]
        e = np.exp(logits - logits.max(1, keepdims=True))
        return (e / e.sum(1, keepdims=True)).astype(np.float32)

    def classify_patches(self, patches) -> list[str]:
        """Image patches ((H, W, 3) uint8 RGB each) -> proposed material names."""
        p = self.probabilities(descriptors(patches))
        return [MATERIAL_NAMES[i] for i in np.argmax(p, 1)]


_cache: dict[tuple[str, str], object] = {}


def sampler(models_dir: Path = runtime.MODELS_DIR) -> ParamSampler:
    key = ("s", str(models_dir))
    if key not in _cache:
        _cache[key] = ParamSampler(models_dir)
    return _cache[key]  # type: ignore[return-value]


def classifier(models_dir: Path = runtime.MODELS_DIR) -> MaterialClassifier:
    key = ("c", str(models_dir))
    if key not in _cache:
        _cache[key] = MaterialClassifier(models_dir)
    return _cache[key]  # type: ignore[return-value]
