"""The amendment trail: claims are pre-registered, and every later change to how a claim is judged is declared.

The baseline of a paper is its claims file at the commit that first added ``results/<slug>.json`` (its first
committed results). Against it, the current claims file must:

- declare every change to a baseline claim's metric, check, paper value, scale, kind or seed rule in that
  claim's ``amended`` list, whose first entry's ``previous`` holds the baseline values of the changed fields;
- mark every claim that is not in the baseline ``added: {date, why}``;
- list every baseline claim that is gone in the file's ``withdrawn: [{id, date, why}]``;
- have been committed before the first results (the claims file exists in that commit's parent), or say
  why not in ``not_preregistered``.

Wording (``statement``, ``source``) and the labels ``basis``/``basis_note`` may change freely. Needs the
repository's git history; a checkout without it (an export, a shallow clone) is reported, not judged.
"""

from __future__ import annotations

import subprocess

import yaml

from simrepro.repro import catalog, paths

_MISSING = object()


class NoHistory(RuntimeError):
    """The suite root is not a full git checkout, so the trail cannot be checked."""


def _git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(paths.root()), *args], capture_output=True, text=True, check=check)


def require_history() -> None:
    try:
        inside = _git("rev-parse", "--is-inside-work-tree", check=False)
    except FileNotFoundError:
        raise NoHistory("git is not installed") from None
    if inside.returncode or inside.stdout.strip() != "true":
        raise NoHistory(f"{paths.root()} is not a git checkout")
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        raise NoHistory("this is a shallow clone (run `git fetch --unshallow` to check the amendment trail)")


def first_results_commit(slug: str) -> str | None:
    """The oldest commit that added ``results/<slug>.json``, or None if none did."""
    out = _git("log", "--diff-filter=A", "--format=%H", "--", f"results/{slug}.json").stdout.split()
    return out[-1] if out else None


def claims_at(commit: str, slug: str) -> dict | None:
    """The raw claims YAML of ``slug`` at ``commit`` (None if the file did not exist there)."""
    shown = _git("show", f"{commit}:catalog/claims/{slug}.yaml", check=False)
    return yaml.safe_load(shown.stdout) if shown.returncode == 0 else None


def _judged(raw: dict, name: str, kind: str):
    """A judged field of a raw claim, with the schema's defaults (scale 'paper' for paper claims)."""
    if name == "scale":
        return raw.get("scale", "paper") if kind == "paper" else _MISSING
    if name == "stochastic":
        return bool(raw.get("stochastic", False))
    if name == "kind":
        return raw.get("kind", _MISSING)
    return raw.get(name)


def changed_fields(before: dict, now: dict) -> dict:
    """{field: baseline value} for each judged field that differs between two raw claims."""
    kind = now.get("kind", "paper")
    out = {}
    for name in catalog.JUDGED_FIELDS:
        if name in ("kind", "stochastic") and name not in before:
            continue      # the baseline predates the label: adding it is not a change of judgement
        old, new = _judged(before, name, kind), _judged(now, name, kind)
        if old is _MISSING or new is _MISSING:
            continue
        if old != new:
            out[name] = old
    return out


def problems(slug: str, current: dict, baseline: dict, preregistered: bool) -> list[str]:
    """What the current raw claims file fails to declare relative to the baseline (empty when all is declared)."""
    out = []
    name = f"{slug}.yaml"
    if not preregistered and not current.get("not_preregistered"):
        out.append(f"{name}: the claims were first committed with (not before) the first results; say why in "
                   "'not_preregistered'")
    before = {c["id"]: c for c in baseline.get("claims") or []}
    withdrawn = {w.get("id") for w in current.get("withdrawn") or []}
    now_ids = set()
    for c in current.get("claims") or []:
        now_ids.add(c["id"])
        where = f"{name}, claim {c['id']!r}"
        if c["id"] not in before:
            if not c.get("added"):
                out.append(f"{where}: not in the claims of the first results; mark it 'added: {{date, why}}'")
            continue
        diff = changed_fields(before[c["id"]], c)
        if not diff:
            continue
        amended = c.get("amended") or []
        if not amended:
            out.append(f"{where}: {', '.join(diff)} changed since the first results (was "
                       f"{_words(diff)}) with no 'amended' entry")
            continue
        previous = amended[0].get("previous") or {}
        wrong = [k for k, v in diff.items() if previous.get(k, _MISSING) != v]
        if wrong:
            out.append(f"{where}: the first 'amended' entry's 'previous' must hold the first results' "
                       f"{_words({k: diff[k] for k in wrong})}")
    for gone in sorted(set(before) - now_ids - withdrawn):
        out.append(f"{name}: claim {gone!r} of the first results is gone; list it under 'withdrawn' with date and why")
    return out


def _words(fields: dict) -> str:
    return "; ".join(f"{k}: {v!r}" for k, v in fields.items())


def check_paper(slug: str) -> list[str]:
    """The trail problems of one paper (none if it has no committed results yet)."""
    commit = first_results_commit(slug)
    if commit is None:
        return []
    baseline = claims_at(commit, slug)
    if baseline is None:
        return [f"{slug}: results were first committed in {commit[:10]} without a claims file"]
    prereg = _git("cat-file", "-e", f"{commit}^:catalog/claims/{slug}.yaml", check=False).returncode == 0
    current = yaml.safe_load(paths.claims_file(slug).read_text()) if paths.claims_file(slug).exists() else {}
    return problems(slug, current or {}, baseline, prereg)


def check_all() -> list[str]:
    """Trail problems of every paper with a claims file; raises :class:`NoHistory` without git history."""
    require_history()
    out = []
    for path in sorted((paths.root() / "catalog" / "claims").glob("*.yaml")):
        out.extend(check_paper(path.stem))
    return out
