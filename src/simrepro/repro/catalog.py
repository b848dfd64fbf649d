"""The catalog: all 119 papers (``catalog/papers.yaml``) and the claims of those with a notebook
(``catalog/claims/<slug>.yaml``, one file per paper so each paper's commit series stays self-contained).

Every claim is validated when loaded, so a typo in a claims file fails with the paper, the claim and the field
named, before any notebook runs."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from functools import lru_cache

import yaml

from simrepro.repro import paths


class CatalogError(ValueError):
    """A catalog or claims file is malformed, or a slug is unknown."""


CHECK_OPS = ("approx", "ge", "gt", "le", "lt", "order", "is_true", "not_testable")
KINDS = ("paper", "check")
AREAS = ("vector search", "retrieval and reranking", "representation and embeddings", "attention and architectures",
         "graphs and recommendation", "diversity", "text and documents", "vision, audio and signals",
         "similarity measures and theory")   # the scoreboard's coarse grouping of the catalog's themes
SCALES = ("paper", "reduced")
BASES = ("paper", "noise", "plan")
CLAIM_FIELDS = {"id", "kind", "statement", "source", "metric", "check", "basis", "basis_note", "scale",
                "stochastic", "paper_value", "reason", "added", "amended"}
JUDGED_FIELDS = ("metric", "check", "paper_value", "scale", "kind", "stochastic")   # a change needs `amended`


@dataclass(frozen=True)
class Claim:
    """One claim. ``kind``: ``paper`` (what the paper asserts) or ``check`` (a property of our code).
    ``basis``: where the threshold comes from (``paper`` / ``noise`` / ``plan``, the last two explained in
    ``basis_note``). ``stochastic``: the metric holds one value per seed. ``scale`` only for paper claims."""
    id: str
    statement: str
    source: str
    metric: str | tuple[str, ...] | None
    check: dict
    kind: str = "paper"
    scale: str | None = "paper"
    basis: str | None = None
    basis_note: str | None = None
    stochastic: bool = False
    paper_value: float | None = None
    reason: str | None = None
    added: dict | None = None
    amended: tuple[dict, ...] = ()

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
    area: str
    venue: str | None = None
    year: int | None = None
    link: str | None = None
    summary: str | None = None
    claims: tuple[Claim, ...] = field(default_factory=tuple)
    withdrawn: tuple[dict, ...] = ()          # claims removed after the first results: {id, date, why}
    not_preregistered: str | None = None      # why the claims were not committed before the first results

    @property
    def has_notebook(self) -> bool:
        return paths.notebook_file(self.slug).exists()


def printed_half_unit(value: float) -> float:
    """Half a unit of the last digit of ``value`` as YAML prints it (2.9999 → 5e-05, 3.91 → 0.005, 12 → 0.5)."""
    text = repr(float(value)).lower()
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.partition(".")[2].rstrip("0")) - int(exponent or 0)
    return 0.5 * 10.0 ** (-decimals)


def _dated(where: str, entry, what: str, required: tuple[str, ...]) -> dict:
    if not isinstance(entry, dict) or any(not entry.get(k) for k in required):
        raise CatalogError(f"{where}: each {what} entry needs {', '.join(required)}; got {entry!r}")
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in entry.items()}   # YAML dates → text


def _claim(slug: str, raw: dict) -> Claim:
    where = f"{paths.claims_file(slug).name}, claim {raw.get('id', '?')!r}"
    for key in ("id", "kind", "statement", "source", "check"):
        if key not in raw:
            hint = " (paper: what the paper asserts; check: a property of our implementation)" if key == "kind" else ""
            raise CatalogError(f"{where}: missing field {key!r}{hint}")
    unknown = set(raw) - CLAIM_FIELDS
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    kind = raw["kind"]
    if kind not in KINDS:
        raise CatalogError(f"{where}: kind is {kind!r}; expected one of {', '.join(KINDS)}")
    check = dict(raw["check"])
    op = check.get("op")
    if op not in CHECK_OPS:
        raise CatalogError(f"{where}: check.op is {op!r}; expected one of {', '.join(CHECK_OPS)}")
    metric = raw.get("metric")
    if op == "not_testable":
        if not raw.get("reason"):
            raise CatalogError(f"{where}: a not_testable claim needs a 'reason' naming what cannot be had offline")
        if kind == "check":
            raise CatalogError(f"{where}: a check cannot be not_testable (drop it, or make the paper claim it "
                               "supports not_testable)")
    elif metric is None:
        raise CatalogError(f"{where}: needs a 'metric' (the key the notebook reports)")
    if op == "order" and not (isinstance(metric, list) and len(metric) >= 2):
        raise CatalogError(f"{where}: an 'order' check needs 'metric' to be a list of at least two metric keys")
    if op == "order" and "strict" in check:
        raise CatalogError(f"{where}: 'strict' is gone: an order is always strict (ties never win); remove it")
    if op != "order" and isinstance(metric, list):
        raise CatalogError(f"{where}: 'metric' may be a list only for an 'order' check")
    if op == "approx" and ("tol" in check) == ("rel_tol" in check):
        raise CatalogError(f"{where}: an 'approx' check needs exactly one of 'tol' or 'rel_tol'")
    if op in ("approx", "ge", "gt", "le", "lt") and not any(k in check for k in ("value", "ref")) \
            and raw.get("paper_value") is None:
        raise CatalogError(f"{where}: a {op!r} check compares with 'value', 'ref' or the claim's 'paper_value'; give one")
    basis, note = raw.get("basis"), raw.get("basis_note")
    if op != "not_testable":
        if basis not in BASES:
            raise CatalogError(f"{where}: 'basis' is {basis!r}; every threshold needs one of {', '.join(BASES)} "
                               "(paper: the paper's number; noise: from the measured spread, rule in basis_note; "
                               "plan: fixed before the first run, reason in basis_note)")
        if basis in ("noise", "plan") and not note:
            raise CatalogError(f"{where}: basis {basis!r} needs a 'basis_note' giving the rule or the reason")
        if basis == "paper" and op == "approx" and "tol" in check and not note and "value" not in check \
                and "ref" not in check and raw.get("paper_value") is not None:
            half = printed_half_unit(raw["paper_value"])
            if not math.isclose(float(check["tol"]), half, rel_tol=1e-9):
                raise CatalogError(f"{where}: basis 'paper' with tol {check['tol']} but half a unit of the printed "
                                   f"{raw['paper_value']} is {half:g}; use it, or say in basis_note where the "
                                   "paper states its tolerance")
    scale = raw.get("scale", "paper" if kind == "paper" else None)
    if kind == "check" and "scale" in raw:
        raise CatalogError(f"{where}: 'scale' is for paper claims; a check passes or fails")
    if kind == "paper" and scale not in SCALES:
        raise CatalogError(f"{where}: scale is {scale!r}; expected one of {', '.join(SCALES)}")
    stochastic = raw.get("stochastic", False)
    if not isinstance(stochastic, bool):
        raise CatalogError(f"{where}: 'stochastic' must be true or false")
    added = _dated(where, raw["added"], "added", ("date", "why")) if "added" in raw else None
    amended = raw.get("amended") or []
    if not isinstance(amended, list):
        raise CatalogError(f"{where}: 'amended' must be a list of {{date, previous, why}}")
    amended = tuple(_dated(where, a, "amended", ("date", "previous", "why")) for a in amended)
    return Claim(id=str(raw["id"]), kind=kind, statement=raw["statement"], source=raw["source"],
                 metric=tuple(metric) if isinstance(metric, list) else metric, check=check, scale=scale,
                 basis=basis, basis_note=note, stochastic=stochastic, paper_value=raw.get("paper_value"),
                 reason=raw.get("reason"), added=added, amended=amended)


FILE_FIELDS = {"slug", "summary", "claims", "withdrawn", "not_preregistered"}


@dataclass(frozen=True)
class ClaimsFile:
    summary: str | None
    claims: tuple[Claim, ...]
    withdrawn: tuple[dict, ...] = ()
    not_preregistered: str | None = None


def parse_claims(slug: str, raw: dict) -> ClaimsFile:
    """Validate a claims file's parsed YAML (see ``docs/adding_a_paper.md`` for the schema)."""
    name = paths.claims_file(slug).name
    raw = raw or {}
    if raw.get("slug") != slug:
        raise CatalogError(f"{name}: 'slug' is {raw.get('slug')!r}, expected {slug!r}")
    unknown = set(raw) - FILE_FIELDS
    if unknown:
        raise CatalogError(f"{name}: unknown top-level field(s) {', '.join(sorted(unknown))}")
    claims = tuple(_claim(slug, c) for c in raw.get("claims") or [])
    ids = [c.id for c in claims]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise CatalogError(f"{name}: duplicate claim id(s) {', '.join(sorted(dupes))}")
    withdrawn = tuple(_dated(name, w, "withdrawn", ("id", "date", "why")) for w in raw.get("withdrawn") or [])
    back = {w["id"] for w in withdrawn} & set(ids)
    if back:
        raise CatalogError(f"{name}: claim(s) {', '.join(sorted(back))} are both withdrawn and present")
    return ClaimsFile(raw.get("summary"), claims, withdrawn, raw.get("not_preregistered"))


def load_claims(slug: str) -> ClaimsFile:
    """The paper's claims file; an empty one when it has none yet."""
    path = paths.claims_file(slug)
    if not path.exists():
        return ClaimsFile(None, ())
    return parse_claims(slug, yaml.safe_load(path.read_text()))


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
    f = load_claims(slug)
    if row.get("area") not in AREAS:
        raise CatalogError(f"papers.yaml: paper {slug!r} has area {row.get('area')!r}; expected one of "
                           f"{', '.join(AREAS)}")
    return Paper(id=row["id"], slug=slug, title=row["title"], tier=row["tier"], theme=row["theme"], area=row["area"],
                 venue=row.get("venue"), year=row.get("year"), link=row.get("link"), summary=f.summary,
                 claims=f.claims, withdrawn=f.withdrawn, not_preregistered=f.not_preregistered)


def papers() -> list[Paper]:
    return [paper(s) for s in slugs()]
