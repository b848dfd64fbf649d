"""What a paper's result depends on: the ``simrepro`` modules its notebook imports (transitively, with the
package ``__init__`` files that importing them runs), the datasets those modules provide, and the machinery.

Read statically with ``ast`` (no import runs), so the DVC pipeline and ``simrepro status`` rerun a paper only
when code it can reach changed: editing ``methods/lexrank.py`` does not rerun the Vendi notebook."""

from __future__ import annotations

import ast
from pathlib import Path

from simrepro.repro import paths

# the repository's own top-level packages and the folder each lives in (relative to the root)
PACKAGES = {"simrepro": "src", "benchmarks": "."}


def module_file(name: str) -> Path | None:
    """``simrepro.a.b`` → ``src/simrepro/a/b.py`` or ``src/simrepro/a/b/__init__.py`` (``benchmarks.x`` →
    ``benchmarks/x.py``); None if neither exists or the module is not the repository's own."""
    top = name.split(".")[0]
    if top not in PACKAGES:
        return None
    base = (paths.root() / PACKAGES[top]).joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def lazy_exports(name: str) -> dict[str, str]:
    """A package's ``_EXPORTS = {public name: defining module}`` (names it imports on first use), if any."""
    path = module_file(name)
    if path is None or path.name != "__init__.py":
        return {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def _imports(tree: ast.AST, current: str | None = None) -> set[str]:
    """The repository's modules named by the import statements of ``tree``: ``from m import x`` counts m.x when
    it is a module, the module that m's ``_EXPORTS`` names for x, and m; relative imports resolve against
    ``current``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] in PACKAGES)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level and current:
                is_package = module_file(current).name == "__init__.py"
                package = current.split(".") if is_package else current.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([mod] if mod else []))
            if mod.split(".")[0] not in PACKAGES:
                continue
            found.add(mod)
            lazy = lazy_exports(mod)
            for a in node.names:
                if module_file(f"{mod}.{a.name}"):
                    found.add(f"{mod}.{a.name}")
                elif a.name in lazy:
                    found.add(lazy[a.name])
    return {m for m in found if module_file(m)}


def _with_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def closure(modules: set[str]) -> set[str]:
    """Every module that importing ``modules`` executes: their parents' ``__init__`` and what each imports."""
    todo, seen = set().union(*(_with_parents(m) for m in modules)) if modules else set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue
        for dep in _imports(ast.parse(path.read_text()), name):
            todo |= _with_parents(dep) - seen
    return seen


def notebook_modules(slug: str) -> set[str]:
    """``simrepro`` modules imported by the code cells of the paper's notebook (IPython magics skipped)."""
    import nbformat
    nb = nbformat.read(paths.notebook_file(slug), as_version=4)
    found = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            found |= _imports(ast.parse(source))
        except SyntaxError:
            continue
    return found


def data_assets(modules: set[str]) -> list[str]:
    """Datasets registered by the ``simrepro.data`` modules among ``modules``."""
    from simrepro.data import _store
    return sorted(a.name for a in _store.discover().values() if a.build.__module__ in modules)


def paper_dependencies(slug: str) -> dict[str, list[str]]:
    """Repo-relative paths a paper's result depends on: ``code`` files (plus the machinery folder) and
    ``data`` folders (``data/<asset>``)."""
    mods = closure(notebook_modules(slug) | {"simrepro.repro"})
    root = paths.root()
    code = {str(module_file(m).relative_to(root)) for m in mods
            if module_file(m) and not m.startswith("simrepro.repro")}
    code.add("src/simrepro/repro")
    return {"code": sorted(code), "data": [f"data/{a}" for a in data_assets(mods)]}
