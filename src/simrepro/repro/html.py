"""Small HTML pieces shared by the notebooks' tables and the scoreboard: self-contained, no scripts needed."""

from __future__ import annotations

import html
import math

from simrepro.repro import verdicts as V

CSS = """
.sr-table{border-collapse:collapse;font:13px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:.5em 0}
.sr-table th,.sr-table td{border:1px solid #d0d7de;padding:4px 8px;text-align:left!important;vertical-align:top}
.sr-table th{background:#f6f8fa}.sr-note{color:#656d76;font-size:12px}
.sr-badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;white-space:nowrap;color:#fff}
.sr-reproduced{background:#1a7f37}.sr-reproduced-at-reduced-scale{background:#4c9a5f}
.sr-inconclusive{background:#9a6700}.sr-not-reproduced{background:#cf222e}.sr-not-testable-here{background:#8c959f}
.sr-pending{background:#d4a72c}.sr-passed{background:#fff;color:#1a7f37;border:1px solid #1a7f37}
.sr-failed{background:#fff;color:#cf222e;border:1px solid #cf222e}
.sr-kind{font-size:11px;color:#656d76;text-transform:uppercase;letter-spacing:.04em}
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


def _ours(r: dict) -> str:
    """The measured value; for seeded claims the mean, the 95 % interval and the per-seed values."""
    if not r.get("seeds"):
        return fmt(r.get("measured"))
    ci = r.get("ci")
    ci_words = ("; ".join(f"[{fmt(lo)}, {fmt(hi)}]" for lo, hi in ci) if ci and isinstance(ci[0], list)
                else f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "—")
    return (f"{fmt(r.get('measured'))}<br><span class='sr-note'>{r['seeds']} seeds, 95 % CI {ci_words}"
            f"<br>per seed: {fmt(r.get('values'))}</span>")


def _check(r: dict) -> str:
    basis = r.get("basis")
    note = f": {esc(r.get('basis_note'))}" if r.get("basis_note") else ""
    return esc(r["expected"]) + (f"<br><span class='sr-note'>basis {esc(basis)}{note}</span>" if basis else "")


def verdict_table(rows: list[dict]) -> str:
    """Rows of verdict dicts (see :class:`simrepro.repro.verdicts.Verdict`) as an HTML table."""
    head = ("<tr><th>claim</th><th>source</th><th>paper</th><th>ours</th><th>check and its basis</th>"
            "<th>verdict</th></tr>")
    body = "".join(
        f"<tr><td><span class='sr-kind'>{esc(r.get('kind', 'paper'))}</span> <b>{esc(r['claim'])}</b>"
        f"{' <span class=sr-note>(amended)</span>' if r.get('amended') else ''}"
        f"{' <span class=sr-note>(added after the first results)</span>' if r.get('added') else ''}"
        f"<br>{esc(r['statement'])}</td><td>{esc(r['source'])}</td>"
        f"<td>{fmt(r['paper_value'])}</td><td>{_ours(r)}</td><td>{_check(r)}</td>"
        f"<td>{badge(r['verdict'])}</td></tr>" for r in rows)
    return f"<style>{CSS}</style><table class='sr-table'>{head}{body}</table>"


def amendments(rows: list[dict], withdrawn=(), not_preregistered: str | None = None) -> str:
    """The trail under a verdict table: each amendment (date, what it was, why), each added and withdrawn claim."""
    items = []
    for r in rows:
        for a in r.get("amended") or []:
            was = "; ".join(f"{k} was {v!r}" for k, v in (a.get("previous") or {}).items())
            items.append(f"<li><b>{esc(r['claim'])}</b> amended {esc(a['date'])}: {esc(was)} — {esc(a['why'])}</li>")
        if r.get("added"):
            items.append(f"<li><b>{esc(r['claim'])}</b> added {esc(r['added']['date'])}: {esc(r['added']['why'])}</li>")
    for w in withdrawn or ():
        items.append(f"<li><b>{esc(w['id'])}</b> withdrawn {esc(w['date'])}: {esc(w['why'])}</li>")
    if not_preregistered:
        items.append(f"<li>claims not committed before the first results: {esc(not_preregistered)}</li>")
    if not items:
        return ""
    return f"<div class='sr-note'><b>Amendments since the first committed results</b><ul>{''.join(items)}</ul></div>"


def summary_badges(summary: dict) -> str:
    """Paper-claim verdict badges and 'N/M checks passed' for a :func:`~simrepro.repro.verdicts.summarize` result."""
    paper, checks = summary.get("paper", {}), summary.get("checks", {})
    if not paper and not checks:
        return badge(V.PENDING)
    parts = [f"{badge(v)}&nbsp;×{n}" for v, n in paper.items()]
    total = sum(checks.values())
    if total:
        parts.append(f"<span class='sr-note'>{checks.get(V.PASSED, 0)}/{total} checks passed</span>")
    return " ".join(parts)
