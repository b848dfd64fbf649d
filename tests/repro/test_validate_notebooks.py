import nbformat

from simrepro.cli import notebooks_not_in_stored_form
from simrepro.repro.notebooks import KERNELSPEC


def _write(path, *, language_info=False, output=False):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    if output:
        cell.outputs = [nbformat.v4.new_output("stream", text="1")]
        cell.execution_count = 1
    nb.cells = [cell]
    nb.metadata = {"kernelspec": dict(KERNELSPEC)}
    if language_info:
        nb.metadata["language_info"] = {"name": "python"}
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def test_finds_editor_metadata_and_outputs_and_stores_them(tmp_path):
    _write(tmp_path / "clean.ipynb")
    _write(tmp_path / "meta.ipynb", language_info=True)
    _write(tmp_path / "out.ipynb", output=True)
    assert [p.name for p in notebooks_not_in_stored_form(tmp_path)] == ["meta.ipynb", "out.ipynb"]
    before = (tmp_path / "meta.ipynb").read_text()
    assert [p.name for p in notebooks_not_in_stored_form(tmp_path, store=True)] == ["meta.ipynb", "out.ipynb"]
    assert notebooks_not_in_stored_form(tmp_path) == []
    after = nbformat.read(tmp_path / "meta.ipynb", as_version=4)
    assert "language_info" not in after.metadata and before != (tmp_path / "meta.ipynb").read_text()
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs == []

