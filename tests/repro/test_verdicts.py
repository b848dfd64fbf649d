import math

import pytest

from simrepro.repro.catalog import CatalogError, _claim
from simrepro.repro.verdicts import (NOT_REPRODUCED, NOT_TESTABLE, REDUCED, REPRODUCED, MetricError, evaluate,
                                     summarize)


def claim(**kw):
    base = {"id": "c", "statement": "s", "source": "Table 1", "metric": "m"}
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
    c = claim(paper_value=2.9999, check={"op": "approx", "tol": 1e-4})
    assert evaluate(c, {"m": 2.99999}).verdict == REPRODUCED
    assert evaluate(c, {"m": 2.9997}).verdict == NOT_REPRODUCED
    r = claim(paper_value=100.0, check={"op": "approx", "rel_tol": 0.02})
    assert evaluate(r, {"m": 101.9}).verdict == REPRODUCED
    assert evaluate(r, {"m": 102.1}).verdict == NOT_REPRODUCED


def test_reduced_scale_and_ref_with_margin():
    c = claim(scale="reduced", check={"op": "ge", "ref": "base", "margin": 0.4})
    assert evaluate(c, {"m": 0.95, "base": 0.5}).verdict == REDUCED
    v = evaluate(c, {"m": 0.85, "base": 0.5})
    assert v.verdict == NOT_REPRODUCED and v.measured == 0.85 and "base + 0.4" in v.expected


def test_order_and_strict_order():
    c = claim(metric=["a", "b", "c"], check={"op": "order"}, scale="reduced")
    assert evaluate(c, {"a": 3, "b": 3, "c": 1}).verdict == REDUCED
    assert evaluate(c, {"a": 1, "b": 3, "c": 1}).verdict == NOT_REPRODUCED
    s = claim(metric=["a", "b"], check={"op": "order", "strict": True})
    assert evaluate(s, {"a": 3, "b": 3}).verdict == NOT_REPRODUCED


def test_is_true_and_not_testable():
    assert evaluate(claim(check={"op": "is_true"}), {"m": True}).verdict == REPRODUCED
    assert evaluate(claim(check={"op": "is_true"}), {"m": False}).verdict == NOT_REPRODUCED
    nt = claim(metric=None, check={"op": "not_testable"}, reason="needs a GPU")
    v = evaluate(nt, {})
    assert v.verdict == NOT_TESTABLE and "needs a GPU" in v.expected


def test_nan_never_reproduces():
    assert evaluate(claim(check={"op": "le", "value": 1.0}), {"m": math.nan}).verdict == NOT_REPRODUCED
    assert evaluate(claim(paper_value=1.0, check={"op": "approx", "tol": 1.0}), {"m": math.nan}).verdict \
        == NOT_REPRODUCED


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
    ({"metric": ["a", "b"], "check": {"op": "ge", "value": 1}}, "only for an 'order'"),
    ({"check": {"op": "not_testable"}}, "needs a 'reason'"),
    ({"check": {"op": "ge", "value": 1}, "scale": "tiny"}, "scale"),
    ({"check": {"op": "ge", "value": 1}, "tolerance": 3}, "unknown field"),
])
def test_malformed_claims_are_rejected_with_the_field_named(bad, match):
    with pytest.raises(CatalogError, match=match):
        claim(**bad)


def test_summary_counts_in_canonical_order():
    c = claim(check={"op": "ge", "value": 1})
    vs = [evaluate(c, {"m": 2}), evaluate(c, {"m": 0}), evaluate(c, {"m": 3})]
    assert summarize(vs) == {REPRODUCED: 2, NOT_REPRODUCED: 1}
