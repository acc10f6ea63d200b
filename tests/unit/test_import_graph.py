"""No import circle in functions/: the Lambda code's modules form a directed acyclic graph.

A circle works only by accident of import order, and the usual dodge (an import moved into a
function) hides it from a reader; the engine's query <-> result circle was one. This test
reads the source with the standard library's ``ast`` only (nothing is imported): every
``import`` and ``from ... import`` anywhere in a file (at top level, inside functions,
under ``if TYPE_CHECKING``, in ``try``), absolute or relative, that names a module of a
package under functions/ is an edge; a strongly connected component of more than one
module, or a module importing itself, fails the test with the circle spelled out.

Edges point at the module a name comes from: ``from pkg import sub`` (``sub`` a module) is
an edge to ``pkg.sub``; ``from pkg import name`` an edge to ``pkg`` (its ``__init__``);
``import a.b.c`` an edge to ``a.b.c``. The parent packages Python initialises on the way
are not edges: every module would otherwise form a circle with its own package's
``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module importable with ``root`` on the path:
    a .py file at the top, or inside packages (directories with an ``__init__.py``) all the
    way up to ``root``."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        pkg_dirs = [root.joinpath(*rel.parts[:i]) for i in range(1, len(rel.parts))]
        if not all((d / "__init__.py").is_file() for d in pkg_dirs):
            continue  # in a plain directory: not importable as a module of ours
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _package_of(module: str, path: Path) -> str:
    """The package relative imports in ``module`` resolve against."""
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve_from(module: str, path: Path, node: ast.ImportFrom) -> str | None:
    """Absolute name of the module a ``from ... import`` reads from (None: above the top)."""
    if node.level == 0:
        return node.module
    base = _package_of(module, path).split(".")
    up = node.level - 1
    if not base[0] or up >= len(base):
        return None
    return ".".join(base[: len(base) - up] + ([node.module] if node.module else []))


def _known(name: str, modules: set[str]) -> str | None:
    """``name`` if it is one of ``modules``, else its longest prefix that is (``import
    a.b.c`` where ``a.b.c`` is not a module file of ours), else None (not ours)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``module`` (source at ``path``) imports, anywhere in
    the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name, modules)
                if target:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_from(module, path, node)
            if source is None:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                target = sub if sub in modules else _known(source, modules)
                if target:
                    found.add(target)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    files = module_files(root)
    names = set(files)
    return {m: imports_of(m, p, names) for m, p in files.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    comps.append(sorted(comp))
    return sorted(comps)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per offending component, as a path ``[a, b, ..., a]``: a component of
    more than one module, or a module that imports itself."""
    out = []
    for comp in strongly_connected(graph):
        first = comp[0]
        if len(comp) == 1:
            if first in graph.get(first, ()):
                out.append([first, first])
            continue
        members = set(comp)
        # shortest way round from the component's first module back to itself
        paths = {first: [first]}
        frontier = [first]
        found = None
        while frontier and found is None:
            nxt = []
            for node in frontier:
                for child in sorted(graph.get(node, ())):
                    if child == first:
                        found = paths[node] + [first]
                        break
                    if child in members and child not in paths:
                        paths[child] = paths[node] + [child]
                        nxt.append(child)
                if found:
                    break
            frontier = nxt
        out.append(found)
    return out


def _describe(found: list[list[str]]) -> str:
    return "import circle(s) in functions/: " + "; ".join(" -> ".join(c) for c in found)


# ----------------------------------------------------------------------------- the check


def test_functions_has_no_import_circle():
    graph = import_graph(FUNCTIONS)
    # the walk found the code it is meant to judge (a wrong root would pass vacuously)
    assert {"takedown_core.engine.index", "takedown_handlers.ingest", "takedown_adapters.matcher"} <= set(graph)
    assert "takedown_core.engine.verdict" in graph["takedown_core.engine.index"]
    found = cycles(graph)
    assert not found, _describe(found)


# ----------------------------------------------------------------------- the checker itself


def test_the_cycle_finder_names_circles_and_self_imports():
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},  # a -> b -> c -> a
        "d": set(),
        "e": {"e"},  # a self-import
        "f": {"d"},
    }
    assert strongly_connected(graph) == [["a", "b", "c"], ["d"], ["e"], ["f"]]
    assert cycles(graph) == [["a", "b", "c", "a"], ["e", "e"]]
    assert cycles({"x": {"y"}, "y": set()}) == []
    assert _describe(cycles(graph)) == "import circle(s) in functions/: a -> b -> c -> a; e -> e"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_circle_through_a_function_local_import_is_found(tmp_path):
    # the engine's old shape: query imports result at top level, result imports query
    # inside merge_results to dodge the circle
    _write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/engine/__init__.py": "from .result import merge_results\n",
            "core/engine/query.py": "import numpy as np\nfrom .result import Match, score_of\n",
            "core/engine/result.py": (
                "from .params import X\n\n\n"
                "def merge_results(results):\n"
                "    from .query import decide, pool  # local import: query imports this module\n"
                "    return decide(pool(results))\n"
            ),
            "core/engine/params.py": "X = 1\n",
            "scripts/not_a_package.py": "import core.engine.query\n",
            "top.py": "import core.engine\n",
        },
    )
    graph = import_graph(tmp_path)
    assert set(graph) == {"core", "core.engine", "core.engine.query", "core.engine.result", "core.engine.params", "top"}
    assert graph["core.engine.result"] == {"core.engine.params", "core.engine.query"}
    assert graph["core.engine"] == {"core.engine.result"}
    assert cycles(graph) == [["core.engine.query", "core.engine.result", "core.engine.query"]]


def test_every_import_form_resolves_to_the_module_it_names(tmp_path):
    _write(
        tmp_path,
        {
            "p/__init__.py": "from . import a\nfrom .sub import thing\n",
            "p/a.py": "import p.sub.deep\nimport p.sub.deep.not_a_module\nimport os, json\n",
            "p/b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from .a import A\n"
                "try:\n    from p import sub as s\nexcept ImportError:\n    pass\n"
                "from ..outside import nothing  # above the top package: ignored\n"
            ),
            "p/sub/__init__.py": "from .. import b\nfrom ..a import f\n",
            "p/sub/deep.py": "from . import missing\nfrom .. import sub\n",
            "q/__init__.py": "",
            "q/c.py": "from p.sub.deep import x\nfrom p import a, b\n",
        },
    )
    assert import_graph(tmp_path) == {
        "p": {"p.a", "p.sub"},
        "p.a": {"p.sub.deep"},
        "p.b": {"p.a", "p.sub"},
        "p.sub": {"p.b", "p.a"},
        "p.sub.deep": {"p.sub"},
        "q": set(),
        "q.c": {"p.sub.deep", "p.a", "p.b"},
    }
