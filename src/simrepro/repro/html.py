"""Small HTML pieces shared by the notebooks' tables and the scoreboard: self-contained, no scripts needed."""

from __future__ import annotations

import html
import math

from simrepro.repro import verdicts as V

CSS = """
.sr-table{border-collapse:collapse;font:13px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:.5em 0}
.sr-table th,.sr-table td{border:1px solid #d0d7de;padding:4px 8px;text-align:left!important;vertical-align:top}
.sr-table th{background:#f6f8fa}
.sr-badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;white-space:nowrap;color:#fff}
.sr-reproduced{background:#1a7f37}.sr-reproduced-at-reduced-scale{background:#4c9a5f}
.sr-not-reproduced{background:#cf222e}.sr-not-testable-here{background:#8c959f}.sr-pending{background:#d4a72c}
"""


def esc(x) -> str:
    return html.escape("" if x is None else str(x))


def badge(verdict: str) -> str:
    return f'<span class="sr-badge sr-{verdict.replace(" ", "-")}">{esc(verdict)}</span>'


def fmt(value) -> str:
    """A measured value for humans: 4 significant digits, lists element-wise, None as '—'."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def verdict_table(rows: list[dict]) -> str:
    """Rows of verdict dicts (see :class:`simrepro.repro.verdicts.Verdict`) as an HTML table."""
    head = "<tr><th>claim</th><th>source</th><th>paper</th><th>ours</th><th>check</th><th>verdict</th></tr>"
    body = "".join(
        f"<tr><td><b>{esc(r['claim'])}</b><br>{esc(r['statement'])}</td><td>{esc(r['source'])}</td>"
        f"<td>{fmt(r['paper_value'])}</td><td>{fmt(r['measured'])}</td><td>{esc(r['expected'])}</td>"
        f"<td>{badge(r['verdict'])}</td></tr>" for r in rows)
    return f"<style>{CSS}</style><table class='sr-table'>{head}{body}</table>"


def summary_badges(counts: dict[str, int]) -> str:
    if not counts:
        return badge(V.PENDING)
    return " ".join(f"{badge(v)}&nbsp;×{n}" for v, n in counts.items())
