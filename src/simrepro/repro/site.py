"""The scoreboard ``reports/index.html``: every paper of the catalog, its verdict per claim, paper value vs
ours, a link to its report, and filters by tier, theme and verdict. One self-contained file: inline CSS and a
few lines of inline JavaScript for the filters; with scripts off every row still shows."""

from __future__ import annotations

import json

from simrepro.repro import catalog, paths, report
from simrepro.repro import html as H
from simrepro.repro import verdicts as V
from simrepro.repro.record import write_text_atomic


def load_results() -> dict[str, dict]:
    out = {}
    for path in sorted((paths.root() / "results").glob("*.json")):
        out[path.stem] = json.loads(path.read_text())
    return out


_PAGE_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1280px;padding:0 16px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}.muted{color:#656d76}
.filters{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0;align-items:center}
.filters select,.filters input{font:inherit;padding:3px 6px}
table.board{border-collapse:collapse;width:100%}
table.board>thead>tr>th,table.board>tbody>tr>td{border-bottom:1px solid #d0d7de;padding:6px 8px;text-align:left;vertical-align:top}
table.board>thead th{background:#f6f8fa;position:sticky;top:0}
details summary{cursor:pointer}.tier{font-weight:600}.warn{color:#9a6700;font-weight:600}
table.chart{border-collapse:collapse;margin:8px 0}table.chart td,table.chart th{padding:2px 10px 2px 0;text-align:left;font-size:13px}
"""

_FILTER_JS = """
function applyFilters(){
  const t=document.getElementById('f-tier').value, th=document.getElementById('f-theme').value,
        v=document.getElementById('f-verdict').value, q=document.getElementById('f-text').value.toLowerCase();
  let shown=0;
  document.querySelectorAll('tr.paper').forEach(r=>{
    const ok=(!t||r.dataset.tier===t)&&(!th||r.dataset.theme===th)&&(!v||r.dataset.verdicts.split('|').includes(v))
      &&(!q||r.textContent.toLowerCase().includes(q));
    r.style.display=ok?'':'none'; if(ok) shown++;});
  document.getElementById('shown').textContent=shown;
}
document.querySelectorAll('.filters select,.filters input').forEach(e=>{
  e.addEventListener('input',applyFilters); e.addEventListener('change',applyFilters);});
"""


def _options(eid: str, label: str, values) -> str:
    opts = "".join(f"<option value='{H.esc(v)}'>{H.esc(v)}</option>" for v in values)
    return f"<label>{label} <select id='{eid}'><option value=''>all</option>{opts}</select></label>"


def _row(p: catalog.Paper, result: dict | None, pipeline_profile: str) -> str:
    link = ""
    if result is not None and (paths.report_file(p.slug)).exists():
        link = f" · <a href='{p.slug}.html'>report</a>"
    venue = " ".join(str(x) for x in (p.venue, p.year) if x)
    paper_link = f" · <a href='{H.esc(p.link)}'>paper</a>" if p.link else ""
    title = (f"<b>{H.esc(p.title)}</b><br><span class='muted'><code>{p.slug}</code>"
             f"{' · ' + H.esc(venue) if venue else ''}{paper_link}{link}</span>")
    if result is None:
        verdicts, detail, profile = [V.PENDING], H.badge(V.PENDING), "—"
    else:
        verdicts = [c["verdict"] for c in result["claims"]]
        detail = (f"<details><summary>{H.summary_badges(V.summarize(result['claims']))}</summary>"
                  f"{H.verdict_table(result['claims'])}"
                  f"{H.amendments(result['claims'], result.get('withdrawn'), result.get('not_preregistered'))}"
                  f"</details>")
        wall = result["provenance"].get("wall_time_s")
        profile = H.esc(result["profile"]) + (f"<br><span class='muted'>{wall:.0f} s</span>" if wall else "")
        if result["profile"] != pipeline_profile:
            profile += (f" <span class='warn' title='params.yaml runs {H.esc(pipeline_profile)}'>⚠ not the "
                        f"pipeline's {H.esc(pipeline_profile)}</span>")
    return (f"<tr class='paper' data-tier='{H.esc(p.tier)}' data-theme='{H.esc(p.area)}' "
            f"data-verdicts='{H.esc('|'.join(sorted(set(verdicts))))}'><td>{p.id}</td><td>{title}</td>"
            f"<td class='tier'>{H.esc(p.tier)}</td><td>{H.esc(p.area)}<br><span class='muted'>{H.esc(p.theme)}</span></td><td>{profile}</td><td>{detail}</td></tr>")


_COLOURS = {V.REPRODUCED: "#1a7f37", V.REDUCED: "#4c9a5f", V.INCONCLUSIVE: "#9a6700", V.NOT_REPRODUCED: "#cf222e",
            V.NOT_TESTABLE: "#8c959f"}


def theme_chart(papers, results: dict) -> str:
    """Per area (the catalog's themes grouped): a bar of its paper claims stacked by verdict (width ∝ count),
    checks passed, papers with results."""
    themes = [a for a in catalog.AREAS if any(p.area == a for p in papers)]
    counts = {t: V.summarize([c for p in papers if p.area == t for c in results.get(p.slug, {}).get("claims", [])])
              for t in themes}
    widest = max((sum(c["paper"].values()) for c in counts.values()), default=0) or 1
    rows = []
    for t in themes:
        paper, checks = counts[t]["paper"], counts[t]["checks"]
        bar = "".join(f"<span title='{H.esc(v)}: {n}' style='display:inline-block;height:12px;"
                      f"width:{240 * n / widest:.1f}px;background:{_COLOURS[v]}'></span>" for v, n in paper.items())
        done = sum(p.slug in results for p in papers if p.area == t)
        total = sum(p.area == t for p in papers)
        n_checks = sum(checks.values())
        rows.append(f"<tr><td>{H.esc(t)}</td><td style='white-space:nowrap'>{bar or '—'}</td>"
                    f"<td class='muted'>{V.summary_text({'paper': paper}) if paper else '—'}</td>"
                    f"<td class='muted'>{checks.get(V.PASSED, 0)}/{n_checks}</td><td class='muted'>{done}/{total}</td></tr>")
    legend = " ".join(f"<span style='display:inline-block;width:10px;height:10px;background:{c}'></span> {H.esc(v)}"
                      for v, c in _COLOURS.items())
    return (f"<table class='chart'><thead><tr><th>area</th><th>paper claims by verdict</th><th></th>"
            f"<th>checks passed</th><th>papers with results</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<p class='muted'>{legend}</p>")


def build_site() -> str:
    """Write ``reports/index.html`` from the catalog and ``results/*.json``, and the reports' shared
    ``notebook.css``; returns the index's path."""
    papers = catalog.papers()
    results = load_results()
    unknown = set(results) - {p.slug for p in papers}
    if unknown:
        raise catalog.CatalogError(f"results for unknown paper(s): {', '.join(sorted(unknown))}")
    counts = V.summarize([c for r in results.values() for c in r["claims"]])
    n_paper, n_checks = sum(counts["paper"].values()), sum(counts["checks"].values())
    from simrepro.repro import params
    pipeline_profile = params.load()["profile"]
    rows = "".join(_row(p, results.get(p.slug), pipeline_profile) for p in papers)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>simrepro scoreboard</title>
<style>{H.CSS}{_PAGE_CSS}</style></head><body>
<h1>simrepro — scoreboard of claims</h1>
<p class="muted">{len(papers)} papers · {len(results)} with results</p>
<p><b>{n_paper} paper claims:</b> {H.summary_badges({"paper": counts["paper"]})}
&nbsp;·&nbsp; <b>{counts["checks"].get(V.PASSED, 0)}/{n_checks} implementation checks passed</b></p>
<p class="muted">A <b>paper claim</b> is what the paper asserts (its numbers, comparisons, headline); a <b>check</b> is
a property of our implementation (an identity, parity with the official code or a peer) and never counts as
reproduced. Paper claims: <b>reproduced</b> = the paper's number in the paper's setup, within its printed precision
or a tolerance from measured noise; <b>reproduced at reduced scale</b> = the direction or ordering holds, beyond
noise, in our smaller or different setup; <b>inconclusive</b> = the 95 % interval over ≥ 5 seeds straddles the
claim's threshold; <b>not reproduced</b> = it ran and failed beyond noise; <b>not testable here</b> = needs a model,
data or hardware that cannot be had offline; <b>pending</b> = no notebook yet. Every threshold names its basis
(paper, noise or plan) and every change after a paper's first results is listed under its claims. Click a
verdict summary for the claims.</p>
{theme_chart(papers, results)}
<div class="filters">{_options('f-tier', 'tier', sorted({p.tier for p in papers}))}
{_options('f-theme', 'theme', [a for a in catalog.AREAS if any(p.area == a for p in papers)])}
{_options('f-verdict', 'verdict', V.ORDER)}
<label>search <input id="f-text" type="search" placeholder="title, slug…"></label>
<span class="muted"><span id="shown">{len(papers)}</span> shown</span></div>
<table class="board"><thead><tr><th>#</th><th>paper</th><th>tier</th><th>theme</th><th>profile, wall time</th>
<th>verdicts</th></tr></thead><tbody>{rows}</tbody></table>
<script>{_FILTER_JS}</script></body></html>
"""
    out = paths.root() / "reports" / "index.html"
    write_text_atomic(out, page)
    write_text_atomic(out.parent / report.STYLESHEET, report.stylesheet())
    return str(out)
