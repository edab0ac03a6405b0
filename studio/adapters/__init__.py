"""Engine adapters: the only place where an engine's plain data becomes project tracks.

Each engine that is part of the build has a module ``studio.adapters.<engine>`` (the module's
name is the engine's name); the engines are found by listing this package
(``pkgutil.iter_modules``, modules whose name starts with ``_`` left out), so an engine lands by
adding its adapter file: nothing central to edit, and an engine whose module is absent is simply
not offered (CLI, UI, bench). :data:`ENGINE_NAMES` (also :data:`studio.generate.ENGINE_NAMES`)
holds the adapters found, in the order they run.

An adapter module describes itself with module-level constants, plain literals (read from its
source with :mod:`ast`, without importing it, so ``studio --help`` and the app's Generate panel
stay free of numpy/onnxruntime; a constant that is not a plain literal makes :func:`info` import
the module instead):

* ``ORDER`` (int): run order, lower first, ties by name (spatial is last: it places the tracks
  the others made);
* ``ON_REQUEST`` (bool, default False): never run by default, only when asked (piano, performer:
  they need a particular picture);
* ``LABEL`` (str): the Generate panel's check box (default: the name, capitalised);
* ``HELP`` (str): the help of the CLI flag ``--<engine>``; ``TOOLTIP`` (str, default HELP): the
  check box's tooltip;
* ``METAVAR`` and ``VALUE`` (str, optional): the flag takes a value (``--spatial ROOM``,
  ``--performer INSTRUMENT``) and the engine runs when it is given; ``VALUE`` names the setting
  it fills: a :class:`studio.generate.GenerateSettings` field (``room``) or else a key of its
  ``options`` (``instrument``). Without METAVAR the flag is a plain switch (``--rhythm``);
* ``CLI_ARGS`` (optional): further flags of the engine, shown after its own flag, each
  ``(flag, option key, argparse keywords)``, e.g. ``("--keyboard", "keyboard_box", {"metavar":
  "X,Y,W,H", "type": "box", "help": "..."})``; ``type`` is a name (``int``, ``float``, ``str``,
  ``box``) or ``"module:function"``, imported only when the flag is used; a value given fills
  ``settings.options[option key]``;
* ``INPAINTS`` (bool, default False): "Re-generate loop region" on the engine's track asks the
  engine itself (options ``regenerate_track``: the track's id, ``region``: [start, end] s) and
  takes the track it returns with that id whole, instead of splicing the region's notes and
  hits from a fresh track (the ambience engine's audio track has none to splice);

and these functions:

* ``generate(project, timeline, settings, job) -> list[Track]``: run the engine on an analysed
  video (``settings`` is a :class:`studio.generate.GenerateSettings`);
* optionally ``check(project, settings)``: raise StudioError for settings it cannot use (called
  before the analysis, so a bad option fails at once);
* optionally ``prefetch(project, timeline, settings)``: start work that needs only the analysis
  on a thread, before the engines run (Foley decodes its impact regions while rhythm works), and
  return a handle with ``cancel()`` (or None); ``studio.generate.run`` cancels what ``generate``
  did not take;
* optionally ``runs_beside(settings) -> bool``: True when, with these settings, it reads only
  the analysis, the grid and its settings (never the tracks other engines make, nothing another
  engine writes): ``studio.generate.run`` then starts it at once with the others that say so,
  a thread each (rhythm, Foley and the soundtrack), and still takes their tracks in order;
* optionally ``register()``: install its track renderers / spatializer in :mod:`studio.render`,
  so projects that hold its tracks render (and export) without generating again.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pkgutil
import sys
import threading
from dataclasses import dataclass

_lock = threading.Lock()
_registered: set[str] = set()

# the module-level constants an adapter may declare, with their defaults
METADATA = {"ORDER": 100, "ON_REQUEST": False, "LABEL": None, "HELP": "", "TOOLTIP": None,
            "METAVAR": None, "VALUE": None, "CLI_ARGS": (), "INPAINTS": False}


@dataclass(frozen=True)
class EngineInfo:
    """What an adapter module says about its engine (its module-level constants)."""

    name: str
    order: int = 100
    on_request: bool = False
    label: str = ""
    help: str = ""
    tooltip: str = ""
    metavar: str | None = None
    value: str | None = None
    cli_args: tuple = ()
    inpaints: bool = False  # re-makes a region of its own track (options regenerate_track + region)


_info: dict[str, EngineInfo] = {}


def module_name(engine: str) -> str:
    return f"{__name__}.{engine}"


def present(engine: str) -> bool:
    """True when the adapter module for ``engine`` exists in this build (nothing is imported)."""
    return importlib.util.find_spec(module_name(engine)) is not None


def load(engine: str):
    return importlib.import_module(module_name(engine))


def _read_constants(engine: str) -> dict:
    """The adapter's METADATA constants: from the module when it is imported already, else from
    its source (ast, plain literals), else (no source, or a constant that is not a plain literal)
    by importing it."""
    module = sys.modules.get(module_name(engine))
    if module is None:
        spec = importlib.util.find_spec(module_name(engine))
        origin = getattr(spec, "origin", None) if spec is not None else None
        # a frozen build (PyInstaller) names a .py origin it does not ship: import instead
        found = _constants_from_source(origin) if origin and origin.endswith(".py") and os.path.isfile(origin) else None
        if found is not None:
            return found
        module = load(engine)
    return {k: getattr(module, k) for k in METADATA if hasattr(module, k)}


def _constants_from_source(path: str) -> dict | None:
    """The METADATA constants assigned at the top level of the module at ``path``; None when one
    of them is not a plain literal (the caller imports the module instead)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in METADATA:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                return None
    return found


def info(engine: str) -> EngineInfo:
    """The metadata of ``engine``'s adapter (defaults for what it does not declare), cached."""
    cached = _info.get(engine)
    if cached is not None:
        return cached
    c = {**METADATA, **(_read_constants(engine) if present(engine) else {})}
    label = c["LABEL"] or engine.replace("_", " ").title()
    result = EngineInfo(engine, int(c["ORDER"]), bool(c["ON_REQUEST"]), label, c["HELP"] or "",
                        c["TOOLTIP"] or c["HELP"] or "", c["METAVAR"], c["VALUE"],
                        tuple(tuple(a) for a in c["CLI_ARGS"] or ()), bool(c["INPAINTS"]))
    _info[engine] = result
    return result


def discover() -> tuple[str, ...]:
    """The adapter modules of this package (names not starting with ``_``), ordered by their
    ``ORDER``, then name. Reads their metadata; imports none of them."""
    names = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return tuple(sorted(names, key=lambda n: (info(n).order, n)))


def on_request(names: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The engines (of ``names``, default :data:`ENGINE_NAMES`) that run only when asked."""
    return tuple(n for n in (ENGINE_NAMES if names is None else names) if info(n).on_request)


def rescan() -> tuple[str, ...]:
    """List the package again (what a fresh start does): :data:`ENGINE_NAMES` and the metadata
    are read anew; returns the new ENGINE_NAMES. ``studio.generate.rescan`` also refreshes its
    adapter table."""
    global ENGINE_NAMES
    _info.clear()
    importlib.invalidate_caches()
    ENGINE_NAMES = discover()
    return ENGINE_NAMES


# every engine an adapter exists for, in the order they run; spatial last: it places the
# tracks the others made
ENGINE_NAMES: tuple[str, ...] = discover()


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
