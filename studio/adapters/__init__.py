"""Engine adapters: the only place where an engine's plain data becomes project tracks.

Each engine that is part of the build has a module ``studio.adapters.<engine>`` (engine names
in :data:`ENGINE_NAMES`, also :data:`studio.generate.ENGINE_NAMES`) that defines

* ``generate(project, timeline, settings, job) -> list[Track]``: run the engine on an analysed
  video (``settings`` is a :class:`studio.generate.GenerateSettings`);
* optionally ``check(project, settings)``: raise StudioError for settings it cannot use (called
  before the analysis, so a bad option fails at once);
* optionally ``register()``: install its track renderers / spatializer in :mod:`studio.render`,
  so projects that hold its tracks render (and export) without generating again.

Adapters are found by module name, so an engine lands by adding its files: nothing central to
edit. An engine whose module is absent is simply not offered (CLI, UI, bench).
"""
from __future__ import annotations

import importlib
import importlib.util
import threading

# every engine an adapter may exist for, in the order they run; spatial last: it places the
# tracks the others made
ENGINE_NAMES = ("rhythm", "foley", "soundtrack", "piano", "performer", "spatial")

_lock = threading.Lock()
_registered: set[str] = set()


def module_name(engine: str) -> str:
    return f"{__name__}.{engine}"


def present(engine: str) -> bool:
    """True when the adapter module for ``engine`` exists in this build (nothing is imported)."""
    return importlib.util.find_spec(module_name(engine)) is not None


def load(engine: str):
    return importlib.import_module(module_name(engine))


def register_all(engines: tuple[str, ...] | None = None) -> None:
    """Import every present adapter once and let it register its renderers (idempotent)."""
    for name in engines or ENGINE_NAMES:
        with _lock:
            if name in _registered or not present(name):
                continue
            _registered.add(name)
        register = getattr(load(name), "register", None)
        if register is not None:
            register()
