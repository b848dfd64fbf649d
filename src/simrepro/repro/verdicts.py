"""Verdicts: each claim of the catalog compared with the metrics a run measured. Computed, never written.

A claim is of one of two kinds (``kind`` in its claims file):

- ``paper``: what the paper asserts about the world. Verdicts:
  - reproduced:                   the check holds and the setup is the paper's (``scale: paper``)
  - reproduced at reduced scale:  the check holds in our smaller/different setup (``scale: reduced``)
  - inconclusive:                 the 95 % interval over seeds straddles the claim's threshold
  - not reproduced:               it ran and the check failed (beyond noise, for seeded claims)
  - not testable here:            needs something we cannot have offline (``op: not_testable``)
- ``check``: a property of our implementation (identity, invariance, parity with a peer): passed / failed.

``pending`` (no notebook yet) is assigned by the scoreboard, never by a run.

Judging rules:

- A comparison of two measured quantities (``ref``, ``order``) is strict: an exact tie never wins.
  Against a fixed ``value``, ``ge``/``le`` keep their non-strict meaning.
- ``stochastic: true``: each metric holds one value per seed (≥ 5 at full, ≥ 2 at smoke). The judged
  quantity is the metric itself or, against ``ref``, the per-seed difference metric − ref (paired).
  With m its mean, s its sample standard deviation and n seeds, the 95 % interval is
  m ± t₀.₉₇₅,ₙ₋₁ · s / √n. Entirely on the claim's side → holds; entirely against → fails; otherwise
  inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from simrepro.repro.catalog import Claim

REPRODUCED = "reproduced"
REDUCED = "reproduced at reduced scale"
INCONCLUSIVE = "inconclusive"
NOT_REPRODUCED = "not reproduced"
NOT_TESTABLE = "not testable here"
PENDING = "pending"
PASSED = "passed"
FAILED = "failed"
PAPER_ORDER = (REPRODUCED, REDUCED, INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE)
CHECK_ORDER = (PASSED, FAILED)
ORDER = PAPER_ORDER + CHECK_ORDER + (PENDING,)
MIN_SEEDS = {"smoke": 2, "full": 5}

HOLDS, FAILS, UNDECIDED = "holds", "fails", "undecided"


class MetricError(ValueError):
    """The notebook's metrics do not fit its claims (missing key, non-number, too few seeds)."""


@dataclass(frozen=True)
class Verdict:
    claim: str
    kind: str
    statement: str
    source: str
    verdict: str
    measured: float | bool | list | None
    paper_value: float | None
    expected: str        # the check in words, e.g. "|x − 2.9999| ≤ 5e-05"
    basis: str | None
    basis_note: str | None
    scale: str | None
    seeds: int | None = None
    values: list | None = None     # per seed, of the judged quantity (metric, or metric − ref)
    ci: list | None = None         # [lo, hi] of its mean; one per consecutive pair for ``order``
    amended: list | None = None
    added: dict | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items()
                if v is not None or k in ("measured", "paper_value", "basis", "scale")}


def t_quantile(df: int) -> float:
    """t₀.₉₇₅ with ``df`` degrees of freedom (two-sided 95 %)."""
    from scipy.stats import t
    return float(t.ppf(0.975, df))


def mean_interval(values) -> tuple[float, float, float]:
    """(mean, lo, hi): the 95 % t-interval of the mean of ≥ 2 finite values; NaN bounds if any is not finite."""
    n = len(values)
    m = sum(values) / n
    if not all(math.isfinite(v) for v in values):
        return m, math.nan, math.nan
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1) * s / math.sqrt(n)
    return m, m - half, m + half


def _side(lo: float, hi: float, op: str, threshold: float, *, strict: bool) -> str:
    """Where the interval [lo, hi] lies relative to ``x op threshold`` (a point when lo == hi)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return FAILS
    if op in ("ge", "gt"):
        ok = (lambda x: x > threshold) if (strict or op == "gt") else (lambda x: x >= threshold)
        return HOLDS if ok(lo) else (FAILS if not ok(hi) else UNDECIDED)
    ok = (lambda x: x < threshold) if (strict or op == "lt") else (lambda x: x <= threshold)
    return HOLDS if ok(hi) else (FAILS if not ok(lo) else UNDECIDED)


def _approx_side(lo: float, hi: float, target: float, tol: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return FAILS
    if target - tol <= lo and hi <= target + tol:
        return HOLDS
    return FAILS if hi < target - tol or lo > target + tol else UNDECIDED


def _value(metrics: dict, key: str, claim: Claim, profile: str):
    """The metric as a bool, a float, or (stochastic claims) a list of them with ≥ MIN_SEEDS[profile] entries."""
    if key not in metrics:
        raise MetricError(f"claim {claim.id!r} reads metric {key!r}, which the notebook did not report; "
                          f"reported: {', '.join(sorted(metrics)) or 'none'}")
    value = metrics[key]
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:
        value = list(value.tolist() if hasattr(value, "tolist") else value)
        if not claim.stochastic:
            raise MetricError(f"metric {key!r} is a list but claim {claim.id!r} is not declared "
                              f"'stochastic: true' in its claims file")
        need = MIN_SEEDS.get(profile, MIN_SEEDS["full"])
        if len(value) < need:
            raise MetricError(f"claim {claim.id!r} is stochastic: metric {key!r} needs one value per seed, at least "
                              f"{need} at profile {profile!r}; got {len(value)}")
        return [_scalar(v, key) for v in value]
    if claim.stochastic:
        raise MetricError(f"claim {claim.id!r} is stochastic: metric {key!r} must be a list with one value per seed, "
                          f"got {type(value).__name__}")
    return _scalar(value, key)


def _scalar(value, key: str):
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MetricError(f"metric {key!r} must be a number or a bool, got {type(value).__name__}") from None


def _paired(a: list, b: list, claim: Claim) -> list[float]:
    if len(a) != len(b):
        raise MetricError(f"claim {claim.id!r} compares per-seed lists of different lengths ({len(a)} vs {len(b)}): "
                          "report the same seeds for both")
    return [x - y for x, y in zip(a, b)]


@dataclass
class _Judgement:
    outcome: str
    measured: object
    expected: str
    values: list | None = None
    ci: list | None = None
    seeds: int | None = None


def _interval(xs) -> tuple[float, float, float]:
    return mean_interval(xs) if isinstance(xs, list) else (xs, xs, xs)


def _judge_order(claim: Claim, metrics: dict, profile: str) -> _Judgement:
    series = [_value(metrics, k, claim, profile) for k in claim.metric]
    expected = " > ".join(claim.metric)
    if not claim.stochastic:
        outcomes = [_side(a - b, a - b, "gt", 0.0, strict=True) for a, b in zip(series, series[1:])]
        return _Judgement(_combine(outcomes), series, expected)
    diffs = [_paired(a, b, claim) for a, b in zip(series, series[1:])]
    cis = [mean_interval(d) for d in diffs]
    outcomes = [_side(lo, hi, "gt", 0.0, strict=True) for _, lo, hi in cis]
    means = [sum(s) / len(s) for s in series]
    return _Judgement(_combine(outcomes), means, expected + " — ours: the means over seeds; each step judged on its "
                      "per-seed paired differences (95 % interval)", values=diffs,
                      ci=[[lo, hi] for _, lo, hi in cis], seeds=len(series[0]))


def _combine(outcomes: list[str]) -> str:
    if all(o == HOLDS for o in outcomes):
        return HOLDS
    return FAILS if any(o == FAILS for o in outcomes) else UNDECIDED


def _judge_is_true(claim: Claim, metrics: dict, profile: str) -> _Judgement:
    value = _value(metrics, claim.metric, claim, profile)
    expected = f"{claim.metric} is true"
    if isinstance(value, list):
        flags = [v is True or v == 1.0 for v in value]
        outcome = HOLDS if all(flags) else (FAILS if not any(flags) else UNDECIDED)
        return _Judgement(outcome, sum(flags) / len(flags), expected + " in every seed", values=value,
                          seeds=len(value))
    return _Judgement(HOLDS if (value is True or value == 1.0) else FAILS, value, expected)


def _judge_compare(claim: Claim, metrics: dict, profile: str) -> _Judgement:
    op, c = claim.check["op"], claim.check
    value = _value(metrics, claim.metric, claim, profile)
    if isinstance(value, bool) or isinstance(value, list) and any(isinstance(v, bool) for v in value):
        raise MetricError(f"metric {claim.metric!r} is a bool but claim {claim.id!r} compares numbers")
    margin = float(c.get("margin", 0.0))
    if "ref" in c:        # a comparison of two measured quantities: judged on metric − ref, strictly
        ref = _value(metrics, c["ref"], claim, profile)
        judged = _paired(value, ref, claim) if isinstance(value, list) else value - ref
        threshold, strict = margin, True
        words = c["ref"] + (f" {'+' if margin >= 0 else '−'} {abs(margin):g}" if margin else "")
        target_words = f"{claim.metric} − {c['ref']}"
    else:
        judged = value
        threshold = float(c["value"]) if "value" in c else float(claim.paper_value)
        strict, words, target_words = False, f"{threshold:g}", claim.metric
    m, lo, hi = _interval(judged)
    paired = "ref" in c and isinstance(judged, list)
    if op == "approx":
        tol = float(c["tol"]) if "tol" in c else float(c["rel_tol"]) * abs(threshold)
        outcome = _approx_side(lo, hi, threshold, tol)
        expected = (f"|{target_words} − {threshold:g}| ≤ {tol:.3g}" if "ref" in c
                    else f"|{claim.metric} − {words}| ≤ {tol:.3g}")
    else:
        outcome = _side(lo, hi, op, threshold, strict=strict)
        sym = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}[op]
        if "ref" in c:
            sym = {"ge": ">", "gt": ">", "le": "<", "lt": "<"}[op]
        expected = (f"{target_words} {sym} {threshold:g}" if paired else f"{claim.metric} {sym} {words}")
    if isinstance(judged, list):
        expected += (" — ours: the mean of the per-seed paired differences, with its 95 % interval" if paired
                     else " — ours: the mean over seeds, with its 95 % interval")
        return _Judgement(outcome, m, expected, values=judged, ci=[lo, hi], seeds=len(judged))
    return _Judgement(outcome, value, expected)


def evaluate(claim: Claim, metrics: dict, profile: str = "full") -> Verdict:
    """The verdict of one claim given the run's metrics (``profile`` sets the minimum number of seeds)."""
    op = claim.check["op"]
    common = dict(claim=claim.id, kind=claim.kind, statement=claim.statement, source=claim.source,
                  paper_value=claim.paper_value, basis=claim.basis, basis_note=claim.basis_note,
                  scale=claim.scale, amended=list(claim.amended) or None, added=claim.added)
    if op == "not_testable":
        measured = metrics.get(claim.metric) if isinstance(claim.metric, str) else None
        return Verdict(verdict=NOT_TESTABLE, measured=measured, expected=f"not testable: {claim.reason}", **common)
    if op == "order":
        j = _judge_order(claim, metrics, profile)
    elif op == "is_true":
        j = _judge_is_true(claim, metrics, profile)
    else:
        j = _judge_compare(claim, metrics, profile)
    if claim.kind == "check":
        verdict = PASSED if j.outcome == HOLDS else FAILED
    else:
        verdict = {HOLDS: REPRODUCED if claim.scale == "paper" else REDUCED,
                   FAILS: NOT_REPRODUCED, UNDECIDED: INCONCLUSIVE}[j.outcome]
    return Verdict(verdict=verdict, measured=j.measured, expected=j.expected, seeds=j.seeds, values=j.values,
                   ci=j.ci, **common)


def evaluate_all(claims, metrics: dict, profile: str = "full") -> list[Verdict]:
    """Verdicts of every claim; :class:`MetricError` if a metric a claim needs is missing or malformed."""
    return [evaluate(c, metrics, profile) for c in claims]


def _field(v, name):
    return getattr(v, name) if isinstance(v, Verdict) else v.get(name)


def summarize(verdicts) -> dict[str, dict[str, int]]:
    """``{"paper": {verdict: n}, "checks": {"passed": n, "failed": m}}`` in canonical order, zeros omitted."""
    paper = {v: 0 for v in PAPER_ORDER}
    checks = {v: 0 for v in CHECK_ORDER}
    for v in verdicts:
        (checks if _field(v, "kind") == "check" else paper)[_field(v, "verdict")] += 1
    return {"paper": {k: n for k, n in paper.items() if n}, "checks": {k: n for k, n in checks.items() if n}}


def merge_summaries(summaries) -> dict[str, dict[str, int]]:
    """The sum of several :func:`summarize` results, in canonical order."""
    out = {"paper": {v: 0 for v in PAPER_ORDER}, "checks": {v: 0 for v in CHECK_ORDER}}
    for s in summaries:
        for part in out:
            for k, n in s.get(part, {}).items():
                out[part][k] += n
    return {part: {k: n for k, n in counts.items() if n} for part, counts in out.items()}


def summary_text(summary: dict) -> str:
    """'2 reproduced, 1 inconclusive; 5/6 checks passed' for a :func:`summarize` result."""
    paper = ", ".join(f"{n} {v}" for v, n in summary.get("paper", {}).items()) or "no paper claims"
    checks = summary.get("checks", {})
    total = sum(checks.values())
    return paper + (f"; {checks.get(PASSED, 0)}/{total} checks passed" if total else "")
