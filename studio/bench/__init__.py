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


# the options a benchmark may take beside ``job`` (``studio bench --minutes 1,10 --quick``), each
# passed only to the benchmarks whose ``run`` names it
OPTIONS = ("minutes", "quick")


def options_for(run: Callable[..., dict], given: dict) -> dict:
    """The options of ``given`` (e.g. ``vars(args)``) that ``run`` takes and that were set."""
    import inspect

    try:
        params = inspect.signature(run).parameters
    except (TypeError, ValueError):
        return {}
    return {k: given[k] for k in OPTIONS if k in params and given.get(k) not in (None, False)}


# the report API (the module is private only so that it is not taken for a benchmark)
from studio.bench._report import make_report, read_report, write_report  # noqa: E402,F401
from studio.bench._report import plot_report as _plot_headlines  # noqa: E402


def plot_report(report: dict, path) -> None:
    """The run's PNG: a benchmark with its own figure (a module-level ``plot(result, path)``, e.g.
    ``pipeline``: time and memory against the video's length) draws it when it is the run's only
    result; otherwise every headline figure against its target (``_report.plot_report``)."""
    results = report.get("results") or []
    if len(results) == 1 and results[0].get("name") in _all():
        module = _all()[results[0]["name"]].partition(":")[0]
        try:
            own = getattr(importlib.import_module(module), "plot", None)
        except ModuleNotFoundError:
            own = None
        if callable(own):
            own(results[0], path)
            return
    _plot_headlines(report, path)


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
