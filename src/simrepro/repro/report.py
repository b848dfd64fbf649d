"""Render an executed notebook as a self-contained HTML report that reads offline.

nbconvert embeds figures as base64 PNG but links require.js and MathJax from a CDN; those tags are removed
(LaTeX then shows as its source, which stays readable) so that opening a report makes no network request."""

from __future__ import annotations

import re
from pathlib import Path

from simrepro.repro import html as H

_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.I)
_REMOTE_LINK = re.compile(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.I)
_MATHJAX_CONFIG = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)


def strip_remote(page: str) -> str:
    """Drop every <script src=http…> / <link href=http…> and the MathJax loader block."""
    page = _MATHJAX_CONFIG.sub("", page)
    page = _REMOTE_SCRIPT.sub("", page)
    return _REMOTE_LINK.sub("", page)


def banner(result: dict) -> str:
    prov = result["provenance"]
    git = prov.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else "")
    return (f"<div style='font:14px system-ui,sans-serif;border:1px solid #d0d7de;border-radius:6px;"
            f"padding:10px 14px;margin:10px auto;max-width:1100px;background:#fff'>"
            f"<a href='index.html'>← scoreboard</a> · <b>{H.esc(result['id'])}. {H.esc(result['title'])}</b><br>"
            f"profile <b>{H.esc(result['profile'])}</b> · {H.summary_badges(result['summary'])} · "
            f"commit {H.esc(commit)} · params {H.esc((prov.get('params_hash') or '')[:10])} · "
            f"device {H.esc(prov['device'].get('device'))} ({H.esc(prov['device'].get('cpu'))}) · "
            f"wall time {prov['wall_time_s']:.1f} s · started {H.esc(prov['started_at'])}</div>")


def render(executed: Path, result: dict) -> str:
    """HTML of the executed notebook, without prompts, with a verdict banner on top."""
    import nbformat
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True)
    page, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    page = strip_remote(page)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner(result), page, count=1)
