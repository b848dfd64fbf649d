"""Which results are stale: compared with the current notebook/claims/code, params and data."""

from __future__ import annotations

import json

from simrepro.repro import catalog, paths, provenance
from simrepro.repro import params as P


def paper_status(slug: str, raw_params: dict) -> str:
    """'up to date', 'pending' (no notebook), or 'stale: <why>' / 'no result'."""
    if not paths.notebook_file(slug).exists():
        return "pending"
    path = paths.results_file(slug)
    if not path.exists():
        return "no result"
    result = json.loads(path.read_text())
    prov = result["provenance"]
    why = []
    if result["profile"] != raw_params["profile"]:
        why.append(f"profile {result['profile']} → {raw_params['profile']}")
    try:
        current = P.paper_params(slug, None, raw_params)
        if prov.get("params_hash") != provenance.stable_hash(current):
            why.append("params changed")
    except (P.ParamsError, catalog.CatalogError) as e:
        why.append(f"params invalid: {e}")
    if prov.get("inputs_hash") != provenance.inputs_hash(slug):
        why.append("notebook, claims or package code changed")
    from simrepro.data._store import _sha256, data_root
    for asset_name, files in (prov.get("data") or {}).items():
        for name, sha in files.items():
            f = data_root() / asset_name / name
            if not f.exists() or _sha256(f) != sha:
                why.append(f"data {asset_name}/{name} changed")
    return "stale: " + "; ".join(why) if why else "up to date"


def status() -> dict[str, str]:
    raw = P.load()
    return {s: paper_status(s, raw) for s in catalog.slugs()}


def recorded_timing() -> dict[str, dict[str, float | None]]:
    """{slug: {profile: wall time in s}} of each paper's last recorded run at each profile: the pipeline's
    profile from ``results/``, the other from ``build/<profile>/results/`` (by-hand runs)."""
    from simrepro.repro.record import PROFILES
    pipeline_profile = P.load()["profile"]
    out = {}
    for slug in catalog.slugs():
        if not paths.notebook_file(slug).exists():
            continue
        row = {}
        for profile in PROFILES:
            f = paths.results_file(slug, paths.output_root(profile, pipeline_profile))
            result = json.loads(f.read_text()) if f.exists() else None
            row[profile] = (result["provenance"]["wall_time_s"]
                            if result and result["profile"] == profile else None)
        out[slug] = row
    return out
