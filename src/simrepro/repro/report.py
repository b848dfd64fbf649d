"""Render an executed notebook as an HTML report that reads offline.

nbconvert embeds figures as base64 PNG but links require.js and MathJax from a CDN; those tags are removed
(LaTeX then shows as its source, which stays readable) so that opening a report makes no network request.
The template's stylesheet (~250 KB, identical for every paper) is not repeated in each report: reports link
``notebook.css`` beside them, which the site stage writes once (:func:`stylesheet`)."""

from __future__ import annotations

import re
from pathlib import Path

from simrepro.repro import html as H
from simrepro.repro import verdicts as V

_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.I)
_REMOTE_LINK = re.compile(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.I)
_MATHJAX_CONFIG = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_STYLE = re.compile(r"<style[^>]*>.*?</style>", re.S)
STYLESHEET = "notebook.css"


def _exporter():
    from nbconvert import HTMLExporter
    return HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True)


def split_head_styles(page: str) -> tuple[str, str]:
    """(page with the template's <style> blocks of <head> replaced by a link to notebook.css, their CSS).
    Styles inside <body> (e.g. a table's own) stay where they are."""
    cut = page.index("<body")
    head, body = page[:cut], page[cut:]
    css = "\n".join(re.sub(r"^<style[^>]*>|</style>$", "", m) for m in _STYLE.findall(head))
    head = _STYLE.sub("", head).replace("</head>", f'<link rel="stylesheet" href="{STYLESHEET}">\n</head>', 1)
    return head + body, css


def stylesheet() -> str:
    """The template's CSS shared by every report (what :func:`render` strips from each page)."""
    import nbformat
    page, _ = _exporter().from_notebook_node(nbformat.v4.new_notebook())
    return split_head_styles(page)[1]


def strip_remote(page: str) -> str:
    """Drop every <script src=http…> / <link href=http…> and the MathJax loader block."""
    page = _MATHJAX_CONFIG.sub("", page)
    page = _REMOTE_SCRIPT.sub("", page)
    return _REMOTE_LINK.sub("", page)


def banner(result: dict) -> str:
    prov = result["provenance"]
    git = prov.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else "")
    return (f"<style>{H.CSS}</style><div style='font:14px system-ui,sans-serif;border:1px solid #d0d7de;border-radius:6px;"
            f"padding:10px 14px;margin:10px auto;max-width:1100px;background:#fff'>"
            f"<a href='index.html'>← scoreboard</a> · <b>{H.esc(result['id'])}. {H.esc(result['title'])}</b><br>"
            f"profile <b>{H.esc(result['profile'])}</b> · {H.summary_badges(V.summarize(result['claims']))} · "
            f"commit {H.esc(commit)} · params {H.esc((prov.get('params_hash') or '')[:10])} · "
            f"device {H.esc(prov['device'].get('device'))} ({H.esc(prov['device'].get('cpu'))}) · "
            f"wall time {prov['wall_time_s']:.1f} s · started {H.esc(prov['started_at'])}</div>")


def label_parameter_cells(nb, profile: str):
    """Put a one-line note before the notebook's own ``parameters`` cell (its smoke defaults) and before the
    cell papermill injected (the values this run used), so a reader does not take the first for the run's."""
    import nbformat
    notes = {"parameters": f"*The notebook's defaults (the smoke profile), replaced by the injected cell below "
                           f"for this run at profile **{profile}**.*",
             "injected-parameters": f"*The parameters this run used (profile **{profile}**), injected by the "
                                    "runner from params.yaml.*"}
    cells = []
    for cell in nb.cells:
        tag = next((t for t in ("injected-parameters", "parameters") if t in cell.metadata.get("tags", [])), None)
        if tag:
            cells.append(nbformat.v4.new_markdown_cell(notes[tag]))
        cells.append(cell)
    nb.cells = cells
    return nb


def render(executed: Path, result: dict) -> str:
    """HTML of the executed notebook, without prompts, titled with the paper, its parameter cells labelled, a
    verdict banner on top; styled by notebook.css."""
    import nbformat
    nb = label_parameter_cells(nbformat.read(executed, as_version=4), result["profile"])
    page, _ = _exporter().from_notebook_node(nb)
    page, _ = split_head_styles(strip_remote(page))
    title = H.esc(f"{result['id']}. {result['title']} — simrepro")
    page = re.sub(r"<title>.*?</title>", lambda m: f"<title>{title}</title>", page, count=1, flags=re.S)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner(result), page, count=1)
