"""Verdicts: each claim of the catalog compared with the metrics a run measured. Computed, never written.

- reproduced:                   the check holds and the claim's setup is the paper's (``scale: paper``)
- reproduced at reduced scale:  the check holds in our smaller/different setup (``scale: reduced``)
- not reproduced:               it ran and the check failed; the numbers are kept
- not testable here:            the claim needs something we cannot have (``op: not_testable``)
- pending:                      no notebook/result yet (assigned by the scoreboard, never by a run)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from simrepro.repro.catalog import Claim

REPRODUCED = "reproduced"
REDUCED = "reproduced at reduced scale"
NOT_REPRODUCED = "not reproduced"
NOT_TESTABLE = "not testable here"
PENDING = "pending"
ORDER = (REPRODUCED, REDUCED, NOT_REPRODUCED, NOT_TESTABLE, PENDING)


class MetricError(ValueError):
    """The notebook's metrics do not fit its claims (missing key, non-number)."""


@dataclass(frozen=True)
class Verdict:
    claim: str
    statement: str
    source: str
    verdict: str
    measured: float | bool | list | None
    paper_value: float | None
    expected: str        # the check in words, e.g. "|x − 2.9999| ≤ 0.0001"
    scale: str

    def to_dict(self) -> dict:
        return asdict(self)


def _number(metrics: dict, key: str, claim: Claim):
    if key not in metrics:
        raise MetricError(f"claim {claim.id!r} reads metric {key!r}, which the notebook did not report; "
                          f"reported: {', '.join(sorted(metrics)) or 'none'}")
    value = metrics[key]
    if isinstance(value, bool):
        return value
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise MetricError(f"metric {key!r} must be a number or a bool, got {type(value).__name__}") from None
    return value


def _reference(claim: Claim, metrics: dict) -> tuple[float, str]:
    c = claim.check
    if "value" in c:
        return float(c["value"]), f"{c['value']}"
    if "ref" in c:
        margin = float(c.get("margin", 0.0))
        ref = _number(metrics, c["ref"], claim)
        words = c["ref"] + (f" {'+' if margin >= 0 else '−'} {abs(margin):g}" if margin else "")
        return ref + margin, words
    return float(claim.paper_value), f"{claim.paper_value}"


_CMP = {"ge": (lambda v, r: v >= r, "≥"), "gt": (lambda v, r: v > r, ">"),
        "le": (lambda v, r: v <= r, "≤"), "lt": (lambda v, r: v < r, "<")}


def evaluate(claim: Claim, metrics: dict) -> Verdict:
    """The verdict of one claim given the run's metrics."""
    op = claim.check["op"]
    measured = None
    if op == "not_testable":
        measured = metrics.get(claim.metric) if isinstance(claim.metric, str) else None
        return Verdict(claim.id, claim.statement, claim.source, NOT_TESTABLE, measured, claim.paper_value,
                       f"not testable: {claim.reason}", claim.scale)
    if op == "order":
        values = [_number(metrics, k, claim) for k in claim.metric]
        strict = bool(claim.check.get("strict", False))
        holds = all((a > b) if strict else (a >= b) for a, b in zip(values, values[1:]))
        expected = (" > " if strict else " ≥ ").join(claim.metric)
        measured = values
    elif op == "is_true":
        measured = _number(metrics, claim.metric, claim)
        holds = measured is True or measured == 1.0
        expected = f"{claim.metric} is true"
    else:
        measured = _number(metrics, claim.metric, claim)
        ref, words = _reference(claim, metrics)
        if isinstance(measured, bool):
            raise MetricError(f"metric {claim.metric!r} is a bool but claim {claim.id!r} compares numbers")
        if op == "approx":
            tol = float(claim.check["tol"]) if "tol" in claim.check else float(claim.check["rel_tol"]) * abs(ref)
            holds = abs(measured - ref) <= tol
            expected = f"|{claim.metric} − {words}| ≤ {tol:.3g}"
        else:
            fn, sym = _CMP[op]
            holds = fn(measured, ref)
            expected = f"{claim.metric} {sym} {words}"
        holds = holds and math.isfinite(measured)
    if holds:
        verdict = REPRODUCED if claim.scale == "paper" else REDUCED
    else:
        verdict = NOT_REPRODUCED
    return Verdict(claim.id, claim.statement, claim.source, verdict, measured, claim.paper_value, expected,
                   claim.scale)


def evaluate_all(claims, metrics: dict) -> list[Verdict]:
    """Verdicts of every claim; :class:`MetricError` if a metric a claim needs is missing."""
    return [evaluate(c, metrics) for c in claims]


def summarize(verdicts) -> dict[str, int]:
    """Counts per verdict, in the canonical order, zeros omitted."""
    counts = {v: 0 for v in ORDER}
    for v in verdicts:
        counts[v.verdict if isinstance(v, Verdict) else v["verdict"]] += 1
    return {k: n for k, n in counts.items() if n}
