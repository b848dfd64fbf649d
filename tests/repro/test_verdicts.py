import math

import pytest

from simrepro.repro.catalog import CatalogError, _claim, printed_half_unit
from simrepro.repro.verdicts import (FAILED, INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, PASSED, REDUCED, REPRODUCED,
                                     MetricError, evaluate, mean_interval, merge_summaries, summarize, summary_text)


def claim(**kw):
    base = {"id": "c", "kind": "paper", "statement": "s", "source": "Table 1", "metric": "m", "basis": "plan",
            "basis_note": "fixed before the run"}
    base.update(kw)
    return _claim("toy_paper", base)


@pytest.mark.parametrize("op,value,measured,expected", [
    ("ge", 1.0, 1.0, REPRODUCED), ("ge", 1.0, 0.99, NOT_REPRODUCED),
    ("gt", 1.0, 1.0, NOT_REPRODUCED), ("gt", 1.0, 1.01, REPRODUCED),
    ("le", 1e-8, 5e-9, REPRODUCED), ("le", 1e-8, 2e-8, NOT_REPRODUCED),
    ("lt", 0.0, 0.0, NOT_REPRODUCED), ("lt", 0.0, -1.0, REPRODUCED),
])
def test_comparisons_against_a_value(op, value, measured, expected):
    assert evaluate(claim(check={"op": op, "value": value}), {"m": measured}).verdict == expected


def test_approx_absolute_and_relative_against_paper_value():
    c = claim(paper_value=2.9999, check={"op": "approx", "tol": 5e-5}, basis="paper")
    assert evaluate(c, {"m": 2.99994}).verdict == REPRODUCED
    assert evaluate(c, {"m": 2.99984}).verdict == NOT_REPRODUCED
    r = claim(paper_value=100.0, check={"op": "approx", "rel_tol": 0.02})
    assert evaluate(r, {"m": 101.9}).verdict == REPRODUCED
    assert evaluate(r, {"m": 102.1}).verdict == NOT_REPRODUCED


def test_comparison_of_two_measurements_never_wins_on_a_tie():
    c = claim(scale="reduced", check={"op": "ge", "ref": "base"})
    assert evaluate(c, {"m": 0.5, "base": 0.5}).verdict == NOT_REPRODUCED
    assert evaluate(c, {"m": 0.51, "base": 0.5}).verdict == REDUCED
    le = claim(check={"op": "le", "ref": "base"})
    assert evaluate(le, {"m": 0.5, "base": 0.5}).verdict == NOT_REPRODUCED
    assert evaluate(le, {"m": 0.4, "base": 0.5}).verdict == REPRODUCED


def test_ref_with_margin():
    c = claim(scale="reduced", check={"op": "ge", "ref": "base", "margin": 0.4})
    assert evaluate(c, {"m": 0.95, "base": 0.5}).verdict == REDUCED
    v = evaluate(c, {"m": 0.85, "base": 0.5})
    assert v.verdict == NOT_REPRODUCED and v.measured == 0.85 and "base + 0.4" in v.expected


def test_order_is_strict():
    c = claim(metric=["a", "b", "c"], check={"op": "order"}, scale="reduced")
    assert evaluate(c, {"a": 3, "b": 2, "c": 1}).verdict == REDUCED
    assert evaluate(c, {"a": 3, "b": 3, "c": 1}).verdict == NOT_REPRODUCED
    assert evaluate(c, {"a": 1, "b": 3, "c": 1}).verdict == NOT_REPRODUCED


def test_is_true_and_not_testable():
    assert evaluate(claim(check={"op": "is_true"}), {"m": True}).verdict == REPRODUCED
    assert evaluate(claim(check={"op": "is_true"}), {"m": False}).verdict == NOT_REPRODUCED
    nt = claim(metric=None, check={"op": "not_testable"}, reason="needs a GPU", basis=None, basis_note=None)
    v = evaluate(nt, {})
    assert v.verdict == NOT_TESTABLE and "needs a GPU" in v.expected


def test_checks_pass_or_fail_and_never_reproduce():
    c = claim(kind="check", check={"op": "le", "value": 1e-8})
    assert evaluate(c, {"m": 1e-9}).verdict == PASSED
    assert evaluate(c, {"m": 1e-7}).verdict == FAILED
    s = claim(kind="check", stochastic=True, check={"op": "gt", "value": 0.0})
    assert evaluate(s, {"m": [-1.0, 1.0, 2.0, -0.5, 0.3]}).verdict == FAILED      # not shown to hold → failed


def test_nan_never_reproduces():
    assert evaluate(claim(check={"op": "le", "value": 1.0}), {"m": math.nan}).verdict == NOT_REPRODUCED
    assert evaluate(claim(paper_value=1.0, check={"op": "approx", "tol": 1.0}), {"m": math.nan}).verdict \
        == NOT_REPRODUCED
    s = claim(stochastic=True, check={"op": "ge", "value": 0.0})
    assert evaluate(s, {"m": [1.0, math.nan, 2.0, 1.0, 1.0]}).verdict == NOT_REPRODUCED


def test_mean_interval_is_the_t_interval():
    m, lo, hi = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)        # t(0.975, 4) · s / √n
    assert m == 3.0 and lo == pytest.approx(3.0 - half, abs=1e-12) and hi == pytest.approx(3.0 + half, abs=1e-12)
    assert mean_interval([2.0, 2.0]) == (2.0, 2.0, 2.0)


def test_seeded_paired_comparison_decides_from_the_interval():
    c = claim(stochastic=True, scale="reduced", check={"op": "gt", "ref": "base"})
    base = [0.50, 0.52, 0.49, 0.51, 0.50]
    v = evaluate(c, {"m": [b + 0.02 for b in base], "base": base})       # same +0.02 every seed
    assert v.verdict == REDUCED and v.seeds == 5 and v.ci[0] > 0 and v.values == pytest.approx([0.02] * 5)
    mixed = [b + d for b, d in zip(base, [0.03, -0.02, 0.01, -0.01, 0.02])]
    assert evaluate(c, {"m": mixed, "base": base}).verdict == INCONCLUSIVE
    assert evaluate(c, {"m": [b - 0.02 for b in base], "base": base}).verdict == NOT_REPRODUCED
    assert evaluate(c, {"m": base, "base": base}).verdict == NOT_REPRODUCED     # a tie in every seed never wins


def test_seeded_against_a_value_and_approx():
    ge = claim(stochastic=True, check={"op": "ge", "value": 0.9})
    assert evaluate(ge, {"m": [0.95, 0.96, 0.94, 0.95, 0.95]}).verdict == REPRODUCED
    assert evaluate(ge, {"m": [0.85, 0.96, 0.94, 0.88, 0.95]}).verdict == INCONCLUSIVE
    assert evaluate(ge, {"m": [0.80, 0.81, 0.79, 0.80, 0.80]}).verdict == NOT_REPRODUCED
    ap = claim(stochastic=True, paper_value=0.5, check={"op": "approx", "tol": 0.05})
    assert evaluate(ap, {"m": [0.50, 0.51, 0.49, 0.50, 0.50]}).verdict == REPRODUCED
    assert evaluate(ap, {"m": [0.40, 0.60, 0.45, 0.58, 0.50]}).verdict == INCONCLUSIVE
    assert evaluate(ap, {"m": [0.70, 0.71, 0.69, 0.70, 0.70]}).verdict == NOT_REPRODUCED
    paired = claim(stochastic=True, check={"op": "approx", "ref": "base", "tol": 0.01})
    v = evaluate(paired, {"m": [0.501, 0.602, 0.499, 0.7, 0.8], "base": [0.5, 0.6, 0.5, 0.7, 0.8]})
    assert v.verdict == REPRODUCED and "base" in v.expected


def test_seeded_order_and_is_true():
    o = claim(stochastic=True, metric=["a", "b"], check={"op": "order"})
    v = evaluate(o, {"a": [3, 3.1, 2.9, 3, 3], "b": [1, 1, 1, 1.1, 0.9]})
    assert v.verdict == REPRODUCED and len(v.ci) == 1 and v.measured == pytest.approx([3.0, 1.0])
    assert evaluate(o, {"a": [3, 1, 3, 1, 2], "b": [2, 2, 2, 2, 2]}).verdict == INCONCLUSIVE
    t = claim(stochastic=True, check={"op": "is_true"})
    assert evaluate(t, {"m": [True] * 5}).verdict == REPRODUCED
    assert evaluate(t, {"m": [True, False, True, True, True]}).verdict == INCONCLUSIVE
    assert evaluate(t, {"m": [False] * 5}).verdict == NOT_REPRODUCED


def test_seed_rule_is_enforced_per_profile():
    c = claim(stochastic=True, check={"op": "ge", "value": 0.0})
    with pytest.raises(MetricError, match="at least 5 at profile 'full'"):
        evaluate(c, {"m": [1.0, 2.0, 3.0]}, "full")
    assert evaluate(c, {"m": [1.0, 1.1]}, "smoke").verdict == REPRODUCED
    with pytest.raises(MetricError, match="at least 2"):
        evaluate(c, {"m": [1.0]}, "smoke")
    with pytest.raises(MetricError, match="must be a list"):
        evaluate(c, {"m": 1.0})
    with pytest.raises(MetricError, match="not declared 'stochastic: true'"):
        evaluate(claim(check={"op": "ge", "value": 0.0}), {"m": [1.0, 2.0]})
    paired = claim(stochastic=True, check={"op": "gt", "ref": "b"})
    with pytest.raises(MetricError, match="different lengths"):
        evaluate(paired, {"m": [1.0] * 5, "b": [0.0] * 6})


def test_missing_or_wrong_metric_is_an_error_not_a_pass():
    with pytest.raises(MetricError, match="did not report"):
        evaluate(claim(check={"op": "ge", "value": 0}), {"other": 1.0})
    with pytest.raises(MetricError, match="number or a bool"):
        evaluate(claim(check={"op": "ge", "value": 0}), {"m": "high"})


@pytest.mark.parametrize("bad,match", [
    ({"check": {"op": "roughly"}}, "check.op"),
    ({"metric": None, "check": {"op": "ge", "value": 1}}, "needs a 'metric'"),
    ({"check": {"op": "approx", "value": 1}}, "exactly one of 'tol' or 'rel_tol'"),
    ({"check": {"op": "ge"}}, "compares with"),
    ({"check": {"op": "order"}}, "list of at least two"),
    ({"metric": ["a", "b"], "check": {"op": "order", "strict": True}}, "always strict"),
    ({"metric": ["a", "b"], "check": {"op": "ge", "value": 1}}, "only for an 'order'"),
    ({"check": {"op": "not_testable"}}, "needs a 'reason'"),
    ({"check": {"op": "ge", "value": 1}, "scale": "tiny"}, "scale"),
    ({"check": {"op": "ge", "value": 1}, "tolerance": 3}, "unknown field"),
    ({"check": {"op": "ge", "value": 1}, "kind": "claim"}, "kind is"),
    ({"check": {"op": "ge", "value": 1}, "basis": None}, "every threshold needs one of"),
    ({"check": {"op": "ge", "value": 1}, "basis": "gut"}, "every threshold needs one of"),
    ({"check": {"op": "ge", "value": 1}, "basis": "noise", "basis_note": None}, "needs a 'basis_note'"),
    ({"check": {"op": "approx", "tol": 1e-4}, "paper_value": 2.9999, "basis": "paper", "basis_note": None},
     "half a unit"),
    ({"kind": "check", "check": {"op": "ge", "value": 1}, "scale": "paper"}, "'scale' is for paper claims"),
    ({"kind": "check", "metric": None, "check": {"op": "not_testable"}, "reason": "GPU"}, "cannot be not_testable"),
    ({"check": {"op": "ge", "value": 1}, "stochastic": "yes"}, "true or false"),
    ({"check": {"op": "ge", "value": 1}, "added": {"date": "2026-12-06"}}, "needs date, why"),
    ({"check": {"op": "ge", "value": 1}, "amended": [{"date": "2026-12-06", "why": "x"}]}, "needs date, previous, why"),
])
def test_malformed_claims_are_rejected_with_the_field_named(bad, match):
    with pytest.raises(CatalogError, match=match):
        claim(**bad)


def test_missing_kind_is_rejected():
    raw = {"id": "c", "statement": "s", "source": "x", "metric": "m", "check": {"op": "ge", "value": 1},
           "basis": "plan", "basis_note": "n"}
    with pytest.raises(CatalogError, match="missing field 'kind'"):
        _claim("toy_paper", raw)


@pytest.mark.parametrize("printed,half", [(2.9999, 5e-5), (3.91, 0.005), (12.0, 0.5), (0.5, 0.05), (1e-3, 5e-4),
                                          (2.1573, 5e-5), (1200.0, 0.5)])
def test_half_unit_of_the_last_printed_digit(printed, half):
    assert printed_half_unit(printed) == pytest.approx(half)


def test_summary_counts_paper_claims_and_checks_apart():
    paper = claim(check={"op": "ge", "value": 1})
    check = claim(kind="check", check={"op": "ge", "value": 1})
    vs = [evaluate(paper, {"m": 2}), evaluate(paper, {"m": 0}), evaluate(check, {"m": 3}), evaluate(check, {"m": 0})]
    s = summarize(vs)
    assert s == {"paper": {REPRODUCED: 1, NOT_REPRODUCED: 1}, "checks": {PASSED: 1, FAILED: 1}}
    assert summary_text(s) == "1 reproduced, 1 not reproduced; 1/2 checks passed"
    assert merge_summaries([s, s])["checks"] == {PASSED: 2, FAILED: 2}
    assert summarize([v.to_dict() for v in vs]) == s
