"""The catalog: all 119 papers (``catalog/papers.yaml``) and the claims of those with a notebook
(``catalog/claims/<slug>.yaml``, one file per paper so each paper's commit series stays self-contained).

Every claim is validated when loaded, so a typo in a claims file fails with the paper, the claim and the field
named, before any notebook runs."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache

import yaml

from simrepro.repro import paths


class CatalogError(ValueError):
    """A catalog or claims file is malformed, or a slug is unknown."""


CHECK_OPS = ("approx", "ge", "gt", "le", "lt", "order", "is_true", "not_testable")
SCALES = ("paper", "reduced")


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source: str
    metric: str | tuple[str, ...] | None
    check: dict
    scale: str = "paper"
    paper_value: float | None = None
    reason: str | None = None

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric key the check reads (including a ``ref`` metric)."""
        keys = () if self.metric is None else ((self.metric,) if isinstance(self.metric, str) else self.metric)
        ref = self.check.get("ref")
        return keys + ((ref,) if ref else ())


@dataclass(frozen=True)
class Paper:
    id: int
    slug: str
    title: str
    tier: str
    theme: str
    venue: str | None = None
    year: int | None = None
    link: str | None = None
    summary: str | None = None
    claims: tuple[Claim, ...] = field(default_factory=tuple)

    @property
    def has_notebook(self) -> bool:
        return paths.notebook_file(self.slug).exists()


def _claim(slug: str, raw: dict) -> Claim:
    where = f"{paths.claims_file(slug).name}, claim {raw.get('id', '?')!r}"
    for key in ("id", "statement", "source", "check"):
        if key not in raw:
            raise CatalogError(f"{where}: missing field {key!r}")
    check = dict(raw["check"])
    op = check.get("op")
    if op not in CHECK_OPS:
        raise CatalogError(f"{where}: check.op is {op!r}; expected one of {', '.join(CHECK_OPS)}")
    metric = raw.get("metric")
    if op == "not_testable":
        if not raw.get("reason"):
            raise CatalogError(f"{where}: a not_testable claim needs a 'reason'")
    elif metric is None:
        raise CatalogError(f"{where}: needs a 'metric' (the key the notebook reports)")
    if op == "order" and not (isinstance(metric, list) and len(metric) >= 2):
        raise CatalogError(f"{where}: an 'order' check needs 'metric' to be a list of at least two metric keys")
    if op != "order" and isinstance(metric, list):
        raise CatalogError(f"{where}: 'metric' may be a list only for an 'order' check")
    if op == "approx" and ("tol" in check) == ("rel_tol" in check):
        raise CatalogError(f"{where}: an 'approx' check needs exactly one of 'tol' or 'rel_tol'")
    if op in ("approx", "ge", "gt", "le", "lt") and not any(k in check for k in ("value", "ref")) \
            and raw.get("paper_value") is None:
        raise CatalogError(f"{where}: a {op!r} check compares with 'value', 'ref' or the claim's 'paper_value'; give one")
    scale = raw.get("scale", "paper")
    if scale not in SCALES:
        raise CatalogError(f"{where}: scale is {scale!r}; expected one of {', '.join(SCALES)}")
    unknown = set(raw) - {"id", "statement", "source", "metric", "check", "scale", "paper_value", "reason"}
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return Claim(id=str(raw["id"]), statement=raw["statement"], source=raw["source"],
                 metric=tuple(metric) if isinstance(metric, list) else metric, check=check, scale=scale,
                 paper_value=raw.get("paper_value"), reason=raw.get("reason"))


def load_claims(slug: str) -> tuple[str | None, tuple[Claim, ...]]:
    """The paper's summary and claims; ``(None, ())`` when it has no claims file yet."""
    path = paths.claims_file(slug)
    if not path.exists():
        return None, ()
    raw = yaml.safe_load(path.read_text()) or {}
    if raw.get("slug") != slug:
        raise CatalogError(f"{path.name}: 'slug' is {raw.get('slug')!r}, expected {slug!r}")
    claims = tuple(_claim(slug, c) for c in raw.get("claims") or [])
    ids = [c.id for c in claims]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise CatalogError(f"{path.name}: duplicate claim id(s) {', '.join(sorted(dupes))}")
    return raw.get("summary"), claims


@lru_cache(maxsize=4)
def _read_index(path: str, mtime: float) -> dict[str, dict]:
    rows = yaml.safe_load(open(path).read())
    return {r["slug"]: r for r in rows}


def _index() -> dict[str, dict]:
    path = paths.catalog_file()
    if not path.exists():
        raise CatalogError(f"the catalog {path} is missing")
    return _read_index(str(path), path.stat().st_mtime)


def slugs() -> list[str]:
    """All slugs in catalog order."""
    return [s for s, _ in sorted(_index().items(), key=lambda kv: kv[1]["id"])]


def unknown_slug_message(slug: str) -> str:
    close = difflib.get_close_matches(slug, slugs(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `simrepro list` shows all slugs"
    return f"unknown paper {slug!r}{hint}"


def paper(slug: str) -> Paper:
    """One paper with its claims; :class:`CatalogError` naming close matches for an unknown slug."""
    index = _index()
    if slug not in index:
        raise CatalogError(unknown_slug_message(slug))
    row = index[slug]
    summary, claims = load_claims(slug)
    return Paper(id=row["id"], slug=slug, title=row["title"], tier=row["tier"], theme=row["theme"],
                 venue=row.get("venue"), year=row.get("year"), link=row.get("link"), summary=summary,
                 claims=claims)


def papers() -> list[Paper]:
    return [paper(s) for s in slugs()]
