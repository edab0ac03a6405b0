"""Import layering: the rules of docs/ARCHITECTURE.md ("Layers"), checked by an AST walk over every
module of the four packages (no import happens, so it is fast and sees every line).

Layers, top to bottom: ``ui`` -> ``studio`` -> ``export`` (format writers) -> ``engines``. Every
``import`` statement counts, at module level or deferred inside a function (and
``importlib.import_module("a.b")`` with a literal name), except under ``if TYPE_CHECKING:``. The
rules:

1. ``engines`` imports nothing from ``studio``, ``export`` or ``ui``.
2. ``studio`` never imports ``ui``; ``export`` never imports ``ui``.
3. ``export`` imports from ``studio`` only its plain modules (:data:`EXPORT_MAY_USE`: errors, jobs,
   music, names, project, transaction, fsutil). A documented exception would go in
   :data:`EXPORT_EXCEPTIONS` (none now: ``studio.exporting`` renders, ``export`` only writes).
4. No import cycles between modules. Importing ``a.b.c`` also runs ``a/__init__.py`` and
   ``a/b/__init__.py``, so it counts as importing those too.
5. No private name crosses a module: ``from m import _x`` and ``m._x`` only inside ``m`` itself, a
   private module ``pkg._m`` only from inside ``pkg``.

The last test feeds the checker a small tree with one deliberate break of each rule and
requires each to be reported, so a checker that silently sees nothing fails too.

Beside the imports, the same walk holds function length (docs/ARCHITECTURE.md, "Conventions"): no
function or method in ``studio``, ``export`` or ``ui`` is longer than :data:`MAX_FUNCTION_LINES`
(from its ``def`` line to its last, decorators not counted) unless a line of its docstring starts
with :data:`LONG_MARKER` and says why splitting it would make it worse.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ui", "studio", "export", "engines")
# layer -> the packages it must never import
FORBIDDEN = {"engines": {"studio", "export", "ui"}, "export": {"ui"}, "studio": {"ui"}, "ui": set()}
# the studio modules export/ may use: plain data types and helpers that import no export/ or ui/
EXPORT_MAY_USE = {"studio", "studio.errors", "studio.jobs", "studio.music", "studio.names", "studio.project",
                  "studio.transaction", "studio.fsutil", "studio.diskaudio"}
# (importing module, imported module): allowed inside a function only, with the reason
EXPORT_EXCEPTIONS: dict[tuple[str, str], str] = {}
# function length: the packages held to it, the limit, and the docstring line that excuses a function
LENGTH_PACKAGES = ("studio", "export", "ui")
MAX_FUNCTION_LINES = 80
LONG_MARKER = "Long because"


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (a module of the tree)
    line: int
    deferred: bool  # inside a function
    names: tuple[str, ...] = ()  # names taken from target by ``from target import ...``


def find_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    out = {}
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            parts = list(f.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.Module):
    """(node, deferred) for every import statement, skipping ``if TYPE_CHECKING:`` blocks."""
    stack = [(n, False) for n in reversed(tree.body)]
    while stack:
        node, deferred = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, deferred
            continue
        if isinstance(node, ast.If) and _is_type_checking(node):
            children = node.orelse
        else:
            children = list(ast.iter_child_nodes(node))
        inner = deferred or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        stack.extend((c, inner) for c in reversed(children))


def _base(name: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = name.split(".")
    if path.name != "__init__.py":
        parts = parts[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _owner(dotted: str, modules) -> str | None:
    """The longest prefix of ``dotted`` that is a module of the tree."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in modules:
            return cand
    return None


def find_edges(root: Path, packages=PACKAGES) -> tuple[dict[str, Path], list[Edge], list[tuple[str, int, str]]]:
    """Modules, import edges between them, and attribute reads ``alias._x`` on imported modules
    (module, line, "target._x")."""
    modules = find_modules(root, packages)
    edges, attrs = [], []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        aliases = {}  # local name -> module of the tree it is bound to
        for node, deferred in _import_nodes(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    target = _owner(a.name, modules)
                    if target:
                        edges.append(Edge(name, target, node.lineno, deferred))
                        bound = a.name if a.asname else a.name.split(".")[0]
                        if bound in modules:
                            aliases[a.asname or bound] = bound
                continue
            base = _base(name, path, node)
            if base == "__future__":
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in modules:  # ``from pkg import module``
                    edges.append(Edge(name, sub, node.lineno, deferred))
                    aliases[a.asname or a.name] = sub
                else:
                    target = _owner(base, modules)
                    if target:
                        edges.append(Edge(name, target, node.lineno, deferred, (a.name,)))
        for node in ast.walk(tree):
            if _dynamic_import(node):  # importlib.import_module("pkg.mod"): an import all the same
                target = _owner(node.args[0].value, modules)
                if target:
                    edges.append(Edge(name, target, node.lineno, True))
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and _private(node.attr)):
                attrs.append((name, node.lineno, f"{aliases[node.value.id]}.{node.attr}"))
    return modules, edges, attrs


def _dynamic_import(node) -> bool:
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return False
    f = node.func
    return (isinstance(f, ast.Attribute) and f.attr == "import_module") or (
        isinstance(f, ast.Name) and f.id in ("import_module", "__import__"))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _layer(module: str) -> str:
    return module.split(".")[0]


def layer_violations(edges: list[Edge]) -> list[str]:
    out = []
    for e in edges:
        src, dst = _layer(e.source), _layer(e.target)
        where = f"{e.source}:{e.line}"
        if dst in FORBIDDEN.get(src, set()):
            out.append(f"{where} imports {e.target}: {src} must not import {dst}")
        elif src == "export" and dst == "studio" and e.target not in EXPORT_MAY_USE:
            if not (e.deferred and (e.source, e.target) in EXPORT_EXCEPTIONS):
                out.append(f"{where} imports {e.target}: export may use only {sorted(EXPORT_MAY_USE)}")
    return out


def import_graph(modules, edges: list[Edge]) -> dict[str, set[str]]:
    graph = {m: set() for m in modules}
    for e in edges:
        parts = e.target.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            parent = ".".join(parts[:i])
            if parent in modules and parent != e.source and not e.source.startswith(parent + "."):
                graph[e.source].add(parent)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _describe_cycle(comp: list[str], edges: list[Edge]) -> str:
    inside = set(comp)
    lines = [f"{e.source}:{e.line} -> {e.target}" for e in edges
             if e.source in inside and any(e.target == m or m.startswith(e.target + ".") or e.target.startswith(m + ".")
                                           for m in inside - {e.source})]
    return " | ".join(sorted(set(lines)))


def private_violations(edges: list[Edge], attrs) -> list[str]:
    out = []
    for e in edges:
        for n in e.names:
            if _private(n) and e.source != e.target:
                out.append(f"{e.source}:{e.line} imports {e.target}.{n}: a private name of another module")
        parts = e.target.split(".")
        for i, part in enumerate(parts):
            package = ".".join(parts[:i])
            if _private(part) and not (e.source == package or e.source.startswith(package + ".")):
                out.append(f"{e.source}:{e.line} imports {e.target}: a private module of {package}")
    for source, line, dotted in attrs:
        if dotted.rsplit(".", 1)[0] != source:
            out.append(f"{source}:{line} reads {dotted}: a private name of another module")
    return sorted(set(out))


def _excused(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    doc = ast.get_docstring(node) or ""
    return any(line.strip().startswith(LONG_MARKER) for line in doc.splitlines())


def long_functions(root: Path, packages=LENGTH_PACKAGES, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """'module:line name: N lines' for every function or method over ``limit`` lines whose
    docstring has no line starting with :data:`LONG_MARKER`."""
    out = []
    for name, path in find_modules(root, packages).items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit and not _excused(node):
                    out.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    return out


@pytest.fixture(scope="module")
def tree():
    return find_edges(ROOT)


def test_the_walk_sees_the_code(tree):
    modules, edges, _ = tree
    assert len(modules) > 150
    assert any(e.source == "ui.controller" and e.target == "studio.project" and not e.deferred for e in edges)
    assert any(e.deferred for e in edges) and any(not e.deferred for e in edges)


def test_layers(tree):
    _, edges, _ = tree
    assert layer_violations(edges) == []


def test_export_exceptions_are_still_needed(tree):
    _, edges, _ = tree
    used = {(e.source, e.target) for e in edges}
    assert set(EXPORT_EXCEPTIONS) <= used, "remove the exceptions the code no longer needs"


def test_no_import_cycles(tree):
    modules, edges, _ = tree
    found = cycles(import_graph(modules, edges))
    assert found == [], "\n".join(_describe_cycle(c, edges) for c in found)


def test_no_private_names_across_modules(tree):
    _, edges, attrs = tree
    assert private_violations(edges, attrs) == []


def test_the_checker_fails_on_each_kind_of_back_edge(tmp_path):
    files = {
        "engines/__init__.py": "",
        "engines/core.py": "def f():\n    from studio import project\n",  # rule 1, deferred
        "export/__init__.py": "from studio.render import x\n",  # rule 3
        "studio/__init__.py": "",
        "studio/project.py": "_hidden = 1\n",
        "studio/render.py": "import ui.app\n",  # rule 2
        "studio/e.py": "import importlib\n\ndef h():\n    return importlib.import_module('ui.app')\n",  # rule 2
        "studio/a.py": "from studio import b\n",  # rule 4: a <-> b
        "studio/b.py": "def g():\n    from studio.a import x\n",
        "studio/c.py": "from studio.project import _hidden\nfrom studio import project as p\ny = p._hidden\n",
        "studio/d.py": "from .sub._impl import z\n",  # rule 5: a private module of studio.sub
        "studio/sub/__init__.py": "from studio.sub._impl import z\n",  # fine: its own package
        "studio/sub/_impl.py": "z = 1\n",
        "studio/t.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import ui.app\n",  # fine
        "ui/__init__.py": "",
        "ui/app.py": "from studio import project\n",  # fine: downwards
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(textwrap.dedent(text))
    modules, edges, attrs = find_edges(tmp_path)
    layers = layer_violations(edges)
    assert any(v.startswith("engines.core:2 imports studio.project") for v in layers)
    assert any(v.startswith("studio.render:1 imports ui.app") for v in layers)
    assert any(v.startswith("studio.e:4 imports ui.app") for v in layers)
    assert any(v.startswith("export:1 imports studio.render") for v in layers)
    assert not any(v.startswith(("studio.t:", "ui.app:")) for v in layers)
    assert ["studio.a", "studio.b"] in cycles(import_graph(modules, edges))
    private = private_violations(edges, attrs)
    assert any(v.startswith("studio.c:1 imports studio.project._hidden") for v in private)
    assert any(v.startswith("studio.c:3 reads studio.project._hidden") for v in private)
    assert any(v.startswith("studio.d:1 imports studio.sub._impl") for v in private)
    assert not any(v.startswith("studio.sub:") for v in private)


def test_no_function_is_too_long():
    found = long_functions(ROOT)
    assert found == [], (f"split these into named steps, or start a docstring line with {LONG_MARKER!r} "
                         "and say why splitting would make them worse:\n" + "\n".join(found))


def test_the_length_check_sees_long_functions(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    files = {
        "studio/__init__.py": "",
        "studio/long.py": f"def too_long():\n{body}\n\nclass C:\n    async def method(self):\n{textwrap.indent(body, '    ')}",
        "studio/fine.py": f"def just_fits():\n{''.join(body.splitlines(True)[1:])}",
        "studio/excused.py": f'def form():\n    """Builds a form.\n\n    {LONG_MARKER} it only adds rows."""\n{body}',
        "export/__init__.py": "",
        "ui/__init__.py": "",
        "engines/__init__.py": f"def not_checked():\n{body}",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert long_functions(tmp_path) == [f"studio.long:1 too_long: {MAX_FUNCTION_LINES + 1} lines",
                                        f"studio.long:85 method: {MAX_FUNCTION_LINES + 1} lines"]


def test_ui_benchmark_is_registered_by_ui_not_imported_by_studio(monkeypatch):
    """``studio bench ui`` dispatches through the ``studio.bench`` entry-point group, which
    pyproject.toml fills with ``ui.bench:run``; studio itself never names ui."""
    import tomllib

    from studio import bench

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["studio.bench"]
    assert declared == {"ui": "ui.bench:run"}
    assert not (ROOT / "studio" / "bench" / "ui.py").exists()

    class Point:
        name, value = "ui", "ui.bench:run"

    monkeypatch.setattr(bench, "_entry_points", lambda: [Point()])
    assert "ui" in bench.available()
    import ui.bench

    assert bench.load("ui") is ui.bench.run
    assert "ui" not in bench.BENCHMARKS  # the studio modules alone
