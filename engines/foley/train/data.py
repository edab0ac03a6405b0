"""Training data of the parameter diffusion model, made here from the DSP presets.

One example = (material index, size, strength, visual descriptor, packed parameter vector):
``materials.preset(material, size, strength, rng)`` with size and strength uniform in 0..1 and a
fresh preset seed each, packed with ``params.pack``; the visual descriptor is that of a random
procedural patch of the same material (``textures``). Seeds are split so the evaluation's
held-out presets never appear here (training uses preset seeds from ``TRAIN_SEED`` on).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.foley.materials import preset
from engines.foley.params import pack
from engines.foley.train.textures import MATERIAL_NAMES, patches
from engines.foley.visual import descriptors

TRAIN_SEED = 1_000_000
EVAL_SEED = 9_000_000  # evaluation presets (evaluate.py) use seeds from here


@dataclass
class Dataset:
    material: np.ndarray  # (N,) int64
    size: np.ndarray  # (N,) float32
    strength: np.ndarray  # (N,) float32
    visual: np.ndarray  # (N, 14) float32
    x0: np.ndarray  # (N, 67) float32

    def __len__(self) -> int:
        return int(self.x0.shape[0])


def visual_pool(per_material: int, seed: int) -> list[np.ndarray]:
    return [descriptors(list(patches(m, per_material, seed))) for m in MATERIAL_NAMES]


def make(per_material: int, seed: int = TRAIN_SEED, patches_per_material: int = 200) -> Dataset:
    rng = np.random.default_rng(seed)
    pool = visual_pool(patches_per_material, seed)
    mats, sizes, strengths, vis, xs = [], [], [], [], []
    k = 0
    for mi, m in enumerate(MATERIAL_NAMES):
        for _ in range(per_material):
            s, g = float(rng.uniform()), float(rng.uniform())
            xs.append(pack(preset(m, s, g, rng=seed + k)))
            k += 1
            mats.append(mi)
            sizes.append(s)
            strengths.append(g)
            vis.append(pool[mi][rng.integers(len(pool[mi]))])
    return Dataset(np.array(mats, np.int64), np.array(sizes, np.float32), np.array(strengths, np.float32),
                   np.stack(vis).astype(np.float32), np.stack(xs).astype(np.float32))
