"""The stored form of a notebook: no outputs, no execution counts, no editor state — only the cells, their
``tags`` and the ``python3`` kernelspec. Committed notebooks are stored in this form (a test checks it), and
JupyterLab writes it on every save through :func:`pre_save_hook`, which ``scripts/setup.sh`` registers in the
venv's Jupyter config: Run All plus autosave leaves ``git status`` and ``dvc status`` clean, while the open
tab keeps its outputs until reloaded (a by-hand run records to ``build/interactive/``)."""

from __future__ import annotations

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
CELL_METADATA_KEPT = ("tags",)


def stored_form(nb: dict) -> dict:
    """``nb`` (an nbformat v4 dict) reduced to its stored form, in place; returns it. Idempotent."""
    nb["metadata"] = {"kernelspec": dict(KERNELSPEC)}
    for cell in nb.get("cells", []):
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in CELL_METADATA_KEPT}
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def pre_save_hook(model: dict, **kwargs) -> None:
    """jupyter_server ``ContentsManager.pre_save_hook``: store notebooks in :func:`stored_form`."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        stored_form(model["content"])
