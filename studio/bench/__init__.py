"""Benchmarks: each measures real work against a baseline measured in the same run.

A benchmark is a module ``studio.bench.<name>`` with ``run(job=None) -> dict``; the dict is
JSON-able, uses snake_case keys with units (``wall_s``, ``realtime_factor``...) and names its
baseline and the ratio to it. ``python -m studio bench [NAME ...]`` prints one JSON object per
line. Speed targets live here, never in unit tests.
"""
from __future__ import annotations

import importlib
import pkgutil
import os
import platform
from typing import Callable

# name -> module: every ``studio/bench/<name>.py`` in this build (an engine lands its benchmark
# by adding that file)
BENCHMARKS = {m.name: f"{__name__}.{m.name}" for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
              if not m.name.startswith("_")}


def available() -> list[str]:
    return list(BENCHMARKS)


def load(name: str) -> Callable[..., dict]:
    from studio.errors import StudioError

    if name not in BENCHMARKS:
        raise StudioError(f"unknown benchmark {name!r}; choose from: {', '.join(BENCHMARKS)}")
    try:
        module = importlib.import_module(BENCHMARKS[name])
    except ModuleNotFoundError as exc:
        raise StudioError(f"benchmark {name!r} is not available in this build ({exc.name} missing)") from None
    return module.run


def machine_info() -> dict:
    import numpy as np
    import onnxruntime

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
