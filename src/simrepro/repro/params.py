"""``params.yaml``: the suite's profile, seed and device, and one section per paper with ``smoke`` and ``full``
values. Every key is checked against the notebook's ``parameters`` cell (name and type) before any work starts."""

from __future__ import annotations

import ast
import difflib
from functools import lru_cache

import yaml

from simrepro.repro import catalog, paths
from simrepro.repro.record import PROFILES

TOP_LEVEL = {"profile": str, "seed": int, "device": str, "papers": dict}
DEVICES = ("auto", "cpu", "cuda")
RESERVED = ("profile", "seed", "device")   # injected by the runner, not set per paper


class ParamsError(ValueError):
    """params.yaml or a notebook's parameters cell is wrong; the message names the paper and the key."""


def load() -> dict:
    path = paths.params_file()
    if not path.exists():
        raise ParamsError(f"{path} is missing; it holds the profile and one section per paper")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ParamsError(f"params.yaml is not valid YAML: {e}") from None
    for key, typ in TOP_LEVEL.items():
        if key not in raw:
            raise ParamsError(f"params.yaml: missing top-level key {key!r}")
        if not isinstance(raw[key], typ) or isinstance(raw[key], bool):
            raise ParamsError(f"params.yaml: {key!r} must be {typ.__name__}, got {raw[key]!r}")
    extra = set(raw) - set(TOP_LEVEL)
    if extra:
        raise ParamsError(f"params.yaml: unknown top-level key(s) {', '.join(sorted(extra))}; "
                          f"expected {', '.join(TOP_LEVEL)}")
    if raw["profile"] not in PROFILES:
        raise ParamsError(f"params.yaml: profile must be one of {', '.join(PROFILES)}, got {raw['profile']!r}")
    if raw["device"] not in DEVICES:
        raise ParamsError(f"params.yaml: device must be one of {', '.join(DEVICES)}, got {raw['device']!r}")
    return raw


@lru_cache(maxsize=None)
def _notebook_parameters_cached(path: str, mtime: float) -> dict[str, tuple[str, object]]:
    import nbformat
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ParamsError(f"{path}: expected exactly one code cell tagged 'parameters', found {len(cells)}")
    out = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise ParamsError(f"{path}: parameter {node.targets[0].id!r} must have a literal default") from None
            out[node.targets[0].id] = (type(value).__name__, value)
    return out


def notebook_parameters(slug: str) -> dict[str, tuple[str, object]]:
    """``{name: (type name, default)}`` of the notebook's ``parameters`` cell."""
    path = paths.notebook_file(slug)
    if not path.exists():
        raise ParamsError(f"paper {slug!r} has no notebook at {path}")
    return _notebook_parameters_cached(str(path), path.stat().st_mtime)


def _type_ok(expected: str, value) -> bool:
    if expected == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "NoneType":
        return True
    return type(value).__name__ == expected


def paper_params(slug: str, profile: str | None = None, raw: dict | None = None) -> dict:
    """The parameters the runner injects into ``slug``'s notebook: profile, seed, device, then the paper's
    section for the profile. :class:`ParamsError` names the paper, key and expected type on any mismatch."""
    raw = raw if raw is not None else load()
    catalog.paper(slug)  # unknown slug → CatalogError with close matches
    profile = profile or raw["profile"]
    if profile not in PROFILES:
        raise ParamsError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    sections = raw["papers"]
    if slug not in sections:
        raise ParamsError(f"params.yaml has no section papers.{slug}; add one with 'smoke' and 'full' values")
    section = sections[slug] or {}
    declared = notebook_parameters(slug)
    for reserved in RESERVED:
        if reserved not in declared:
            raise ParamsError(f"notebooks/{slug}.ipynb: its parameters cell must define {reserved!r}")
    if set(section) - set(PROFILES):
        raise ParamsError(f"params.yaml papers.{slug}: unknown key(s) {', '.join(sorted(set(section) - set(PROFILES)))}; "
                          f"a section holds only 'smoke' and 'full'")
    for prof in PROFILES:
        values = section.get(prof) or {}
        if not isinstance(values, dict):
            raise ParamsError(f"params.yaml papers.{slug}.{prof}: expected a mapping of parameter: value")
        for key, value in values.items():
            where = f"params.yaml papers.{slug}.{prof}.{key}"
            if key in RESERVED:
                raise ParamsError(f"{where}: {key!r} is set suite-wide at the top of params.yaml, not per paper")
            if key not in declared:
                close = difflib.get_close_matches(key, list(declared), n=2)
                hint = f"; did you mean {' or '.join(close)}?" if close else ""
                raise ParamsError(f"{where}: unknown parameter for paper {slug!r}{hint} "
                                  f"(the notebook's parameters: {', '.join(k for k in declared if k not in RESERVED)})")
            expected, default = declared[key]
            if not _type_ok(expected, value):
                raise ParamsError(f"{where}: expected {expected} (notebook default {default!r}), "
                                  f"got {type(value).__name__} {value!r}")
    return {"profile": profile, "seed": raw["seed"], "device": raw["device"], **(section.get(profile) or {})}


def validate_all(raw: dict | None = None) -> list[str]:
    """Check every section (and that every notebook has one); returns the slugs with notebooks."""
    raw = raw if raw is not None else load()
    for slug in raw["papers"]:
        paper_params(slug, "smoke", raw)
    with_notebooks = [s for s in catalog.slugs() if paths.notebook_file(s).exists()]
    missing = [s for s in with_notebooks if s not in raw["papers"]]
    if missing:
        raise ParamsError(f"notebook(s) without a params.yaml section: {', '.join(missing)}")
    return with_notebooks
