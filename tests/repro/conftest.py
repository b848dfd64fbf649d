"""A throw-away suite root (catalog, claims, params, one toy notebook) for testing the machinery end to end."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from simrepro.repro.notebooks import stored_form

REPO = Path(__file__).resolve().parents[2]

TOY_CLAIMS = {
    "slug": "toy_paper",
    "summary": "A toy paper whose notebook squares a number.",
    "claims": [
        {"id": "square", "kind": "paper", "statement": "3² is 9", "source": "Eq. 1", "metric": "square",
         "paper_value": 9.0, "check": {"op": "approx", "tol": 1e-9}, "basis": "paper",
         "basis_note": "the paper states 9 exactly"},
        {"id": "bigger", "kind": "paper", "statement": "the square exceeds the input", "source": "Sec. 2",
         "metric": "square", "check": {"op": "gt", "ref": "x"}, "scale": "reduced", "basis": "paper"},
        {"id": "is-finite", "kind": "check", "statement": "the square is below 100", "source": "ours",
         "metric": "square", "check": {"op": "lt", "value": 100.0}, "basis": "plan", "basis_note": "a sanity bound"},
        {"id": "gpu", "kind": "paper", "statement": "fast on GPUs", "source": "Sec. 3",
         "check": {"op": "not_testable"}, "reason": "no GPU here"},
    ],
}


def toy_notebook(body: str = "") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "smoke"\nseed = 0\ndevice = "auto"\nx = 3.0\nfail = False')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Toy paper"),
        params,
        nbformat.v4.new_code_cell('from simrepro import repro\n'
                                  'run = repro.start("toy_paper", profile=profile, seed=seed, device=device)'),
        nbformat.v4.new_code_cell('if fail:\n    raise RuntimeError("boom: the toy notebook failed on purpose")'
                                  + body),
        nbformat.v4.new_code_cell('run.record({"square": x * x, "x": x})'),
    ]
    return nb


@pytest.fixture
def toy_claims():
    """A fresh copy of the toy paper's claims file, to edit."""
    return copy.deepcopy(TOY_CLAIMS)


@pytest.fixture
def make_toy_notebook():
    return toy_notebook


@pytest.fixture
def suite(tmp_path, monkeypatch):
    """A suite root with the real 119-paper catalog plus the toy paper, as $SIMREPRO_ROOT."""
    root = tmp_path / "suite"
    (root / "catalog" / "claims").mkdir(parents=True)
    (root / "notebooks").mkdir()
    rows = yaml.safe_load((REPO / "catalog" / "papers.yaml").read_text())
    rows.append({"id": 999, "slug": "toy_paper", "title": "A Toy Paper", "tier": "A", "theme": "test",
                 "area": "diversity"})
    (root / "catalog" / "papers.yaml").write_text(yaml.safe_dump(rows, sort_keys=False))
    (root / "catalog" / "claims" / "toy_paper.yaml").write_text(yaml.safe_dump(TOY_CLAIMS, sort_keys=False))
    (root / "notebooks" / "toy_paper.ipynb").write_text(nbformat.writes(stored_form(toy_notebook())) + "\n")
    (root / "params.yaml").write_text(yaml.safe_dump({
        "profile": "smoke", "seed": 0, "device": "auto",
        "papers": {"toy_paper": {"smoke": {"x": 3.0}, "full": {"x": 3.0}}}}))
    shutil.copytree(REPO / "src" / "simrepro", root / "src" / "simrepro",
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("SIMREPRO_ROOT", str(root))
    return root
