"""Benchmarks: each measures real work against a baseline measured in the same run.

A benchmark is a module ``studio.bench.<name>`` with ``run(job=None) -> dict``, or a
``run``-like function another package registers under the ``studio.bench`` entry-point group (the
app's ``ui`` benchmark: ``ui = "ui.bench:run"`` in pyproject.toml, so studio never imports ui).
The dict is JSON-able, uses snake_case keys with units (``wall_s``, ``realtime_factor``...) and names its
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


def _entry_points():
    from importlib.metadata import entry_points

    return entry_points(group="studio.bench")


def _all() -> dict[str, str]:
    """name -> "module:function": the studio's benchmarks, then those other packages register."""
    found = {name: f"{module}:run" for name, module in BENCHMARKS.items()}
    for ep in sorted(_entry_points(), key=lambda ep: ep.name):
        found.setdefault(ep.name, ep.value)
    return found


def available() -> list[str]:
    return list(_all())


def load(name: str) -> Callable[..., dict]:
    from studio.errors import StudioError

    found = _all()
    if name not in found:
        raise StudioError(f"unknown benchmark {name!r}; choose from: {', '.join(found)}")
    module, _, func = found[name].partition(":")
    try:
        return getattr(importlib.import_module(module), func or "run")
    except ModuleNotFoundError as exc:
        raise StudioError(f"benchmark {name!r} is not available in this build ({exc.name} missing)") from None


# the report API (the module is private only so that it is not taken for a benchmark)
from studio.bench._report import make_report, plot_report, read_report, write_report  # noqa: E402,F401


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
