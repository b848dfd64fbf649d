"""Notebooks are stored without outputs, and JupyterLab saves them that way (the pre-save hook that
scripts/setup.sh registers), so Run All plus autosave leaves the repository clean."""

import copy
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from simrepro.repro import paths
from simrepro.repro.notebooks import KERNELSPEC, stored_form

NOTEBOOKS = sorted((paths.root() / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebooks_are_in_their_stored_form(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"] == KERNELSPEC
    stored = stored_form(copy.deepcopy(nb))
    assert stored == nb, f"{path.name} carries outputs or editor state; store it with stored_form"
    assert path.read_text() == nbformat.writes(nb) + "\n", \
        f"{path.name} is not written as nbformat writes it (git's nbstripout filter would rewrite it)"


def test_stored_form_keeps_cells_and_tags_and_drops_the_rest():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", text="1")])
    cell.metadata.update({"tags": ["parameters"], "scrolled": True, "execution": {"iopub.status.busy": "t"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), cell]
    nb.metadata.update({"language_info": {"name": "python", "version": "3.11"}, "widgets": {"x": 1},
                        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    out = stored_form(nb)
    assert out.cells[1].outputs == [] and out.cells[1].execution_count is None
    assert out.cells[1].metadata == {"tags": ["parameters"]} and out.cells[1].source == "x = 1"
    assert out.metadata == {"kernelspec": KERNELSPEC}
    assert stored_form(copy.deepcopy(out)) == out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_notebook_saved_through_jupyter_server_is_stored_without_outputs(tmp_path):
    """Starts the venv's Jupyter server with only its installed config, saves a notebook with outputs and a
    changed kernelspec through the contents API (what JupyterLab's save and autosave call), reads the file."""
    port, token = _free_port(), "t0ken"
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={port}",
                               "--ip=127.0.0.1", f"--IdentityProvider.token={token}", "--allow-root",
                               f"--ServerApp.root_dir={tmp_path}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("print(1)", execution_count=1,
                                              outputs=[nbformat.v4.new_output("stream", text="1\n")])]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        body = json.dumps({"type": "notebook", "format": "json", "content": nb}).encode()
        url = f"http://127.0.0.1:{port}/api/contents/saved.ipynb?token={token}"
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=body, method="PUT"), timeout=5)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.time() < deadline, "the Jupyter server did not start within 60 s"
                time.sleep(0.5)
        saved = nbformat.read(tmp_path / "saved.ipynb", as_version=4)
        assert saved.cells[0].outputs == [] and saved.cells[0].execution_count is None, \
            "the pre-save hook is not installed: run scripts/setup.sh"
        assert saved.metadata == {"kernelspec": KERNELSPEC}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_setup_registers_the_hook_and_git_filter():
    config = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.json"
    assert json.loads(config.read_text())["ContentsManager"]["pre_save_hook"] == \
        "simrepro.repro.notebooks.pre_save_hook", "run scripts/setup.sh"
    assert "*.ipynb filter=nbstripout" in (paths.root() / ".gitattributes").read_text()


def test_the_git_filter_leaves_committed_notebooks_byte_for_byte():
    """DVC hashes the working tree and git stores what the clean filter makes of it: they must be the same
    bytes, or a fresh clone sees changed notebooks and reruns their stages."""
    got = subprocess.run(["git", "-C", str(paths.root()), "config", "--get", "filter.nbstripout.clean"],
                         capture_output=True, text=True)
    if got.returncode:
        pytest.skip("git's nbstripout filter is not configured here (scripts/setup.sh configures it)")
    for path in NOTEBOOKS:
        cleaned = subprocess.run(["bash", "-c", got.stdout.strip()], input=path.read_bytes(), capture_output=True,
                                 check=True).stdout
        assert cleaned == path.read_bytes(), f"git's clean filter rewrites {path.name}"
