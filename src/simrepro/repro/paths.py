"""Where the suite's files live. The repository root is ``$SIMREPRO_ROOT`` or the checkout holding this
package (``src/`` layout, installed editable)."""

from __future__ import annotations

import os
from pathlib import Path


def root() -> Path:
    env = os.environ.get("SIMREPRO_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[3]


def catalog_file() -> Path:
    return root() / "catalog" / "papers.yaml"


def claims_file(slug: str) -> Path:
    return root() / "catalog" / "claims" / f"{slug}.yaml"


def notebook_file(slug: str) -> Path:
    return root() / "notebooks" / f"{slug}.ipynb"


def params_file() -> Path:
    return root() / "params.yaml"


def results_file(slug: str) -> Path:
    return root() / "results" / f"{slug}.json"


def report_file(slug: str) -> Path:
    return root() / "reports" / f"{slug}.html"


def executed_notebook(slug: str) -> Path:
    return root() / "build" / "executed" / f"{slug}.ipynb"


def interactive_results_file(slug: str) -> Path:
    """Where a notebook run by hand (JupyterLab, nbval) records: never the committed ``results/``."""
    return root() / "build" / "interactive" / f"{slug}.json"
