"""Where the suite's files live. The repository root is ``$SIMREPRO_ROOT`` or the nearest folder at or above
the working directory that holds ``catalog/papers.yaml`` and ``params.yaml`` — never the installed package's
location, so a DVC experiment workspace (``dvc exp run``, ``dvc queue start -j N``) reads and writes its own
files, not the main workspace's."""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "SIMREPRO_ROOT"


class RootNotFound(RuntimeError):
    """Neither ``$SIMREPRO_ROOT`` nor the working directory points into a simrepro checkout."""


def is_root(folder: Path) -> bool:
    return (folder / "catalog" / "papers.yaml").is_file() and (folder / "params.yaml").is_file()


def root() -> Path:
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if is_root(folder):
            return folder
    raise RootNotFound(f"{here} is not inside a simrepro checkout (no catalog/papers.yaml and params.yaml above "
                       f"it); cd into the repository or set {ROOT_ENV}=/path/to/the/repository")


def catalog_file() -> Path:
    return root() / "catalog" / "papers.yaml"


def claims_file(slug: str) -> Path:
    return root() / "catalog" / "claims" / f"{slug}.yaml"


def notebook_file(slug: str) -> Path:
    return root() / "notebooks" / f"{slug}.ipynb"


def params_file() -> Path:
    return root() / "params.yaml"


def output_root(profile: str | None = None, pipeline_profile: str | None = None) -> Path:
    """Where a run at ``profile`` publishes: the repository (``results/``, ``reports/``) when it is the
    pipeline's profile (what ``dvc repro`` produces), else ``build/<profile>/`` so a by-hand run at another
    profile never mixes into the committed results."""
    if profile is None or profile == pipeline_profile:
        return root()
    return root() / "build" / profile


def results_file(slug: str, out: Path | None = None) -> Path:
    return (out or root()) / "results" / f"{slug}.json"


def report_file(slug: str, out: Path | None = None) -> Path:
    return (out or root()) / "reports" / f"{slug}.html"


def executed_notebook(slug: str) -> Path:
    return root() / "build" / "executed" / f"{slug}.ipynb"


def interactive_results_file(slug: str) -> Path:
    """Where a notebook run by hand (JupyterLab, nbval) records: never the committed ``results/``."""
    return root() / "build" / "interactive" / f"{slug}.json"
