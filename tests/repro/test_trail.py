"""The amendment trail: `simrepro validate` fails on an undeclared change to a claim after its first results."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from simrepro.repro import trail


def git(root, *args):
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def write_claims(root, claims):
    (root / "catalog" / "claims" / "toy_paper.yaml").write_text(yaml.safe_dump(claims, sort_keys=False))


@pytest.fixture
def history(suite):
    """The toy suite as a git repo: claims committed first, then the first results."""
    git(suite, "init", "-q")
    git(suite, "add", "catalog")
    git(suite, "commit", "-q", "-m", "claims")
    (suite / "results").mkdir()
    (suite / "results" / "toy_paper.json").write_text(json.dumps({"slug": "toy_paper"}))
    git(suite, "add", "results")
    git(suite, "commit", "-q", "-m", "first results")
    return suite


def test_unchanged_claims_have_a_clean_trail(history):
    assert trail.check_all() == []


def test_an_undeclared_threshold_change_is_an_error_and_an_amendment_clears_it(history, toy_claims):
    claims = toy_claims
    claims["claims"][0]["check"] = {"op": "approx", "tol": 1e-3}
    write_claims(history, claims)
    (problem,) = trail.check_all()
    assert "'square'" in problem and "check changed" in problem and "no 'amended' entry" in problem
    claims["claims"][0]["amended"] = [{"date": "2026-12-06", "previous": {"check": {"op": "approx", "tol": 0.5}},
                                       "why": "wrong previous value"}]
    write_claims(history, claims)
    (problem,) = trail.check_all()
    assert "'previous' must hold" in problem and "1e-09" in problem
    claims["claims"][0]["amended"][0]["previous"] = {"check": {"op": "approx", "tol": 1e-9}}
    write_claims(history, claims)
    assert trail.check_all() == []


def test_kind_and_basis_labels_and_rewording_are_not_amendments(history, toy_claims):
    claims = toy_claims
    claims["claims"][0]["statement"] = "3 squared is nine"
    claims["claims"][0]["basis_note"] = "reworded"
    write_claims(history, claims)
    assert trail.check_all() == []


def test_a_new_claim_needs_added_and_a_removed_one_withdrawn(history, toy_claims):
    claims = toy_claims
    gone = claims["claims"].pop(1)
    claims["claims"].append({**gone, "id": "bigger-v2"})
    write_claims(history, claims)
    problems = trail.check_all()
    assert any("'bigger-v2'" in p and "added" in p for p in problems)
    assert any("'bigger'" in p and "withdrawn" in p for p in problems)
    claims["claims"][-1]["added"] = {"date": "2026-12-06", "why": "replaces bigger"}
    claims["withdrawn"] = [{"id": "bigger", "date": "2026-12-06", "why": "replaced by bigger-v2"}]
    write_claims(history, claims)
    assert trail.check_all() == []


def test_claims_committed_with_the_first_results_are_not_preregistered(suite, toy_claims):
    git(suite, "init", "-q")
    (suite / "results").mkdir()
    (suite / "results" / "toy_paper.json").write_text("{}")
    git(suite, "add", "catalog", "results")
    git(suite, "commit", "-q", "-m", "claims and results together")
    (problem,) = trail.check_all()
    assert "not_preregistered" in problem
    write_claims(suite, {**toy_claims, "not_preregistered": "written in the same session as the first run"})
    assert trail.check_all() == []


def test_validate_cli_fails_on_an_undeclared_change(history, toy_claims):
    def validate():
        return subprocess.run([sys.executable, "-m", "simrepro", "validate"], capture_output=True, text=True,
                              env=dict(os.environ), timeout=300)
    original = yaml.safe_dump(toy_claims, sort_keys=False)
    toy_claims["claims"][1]["scale"] = "paper"
    write_claims(history, toy_claims)
    out = validate()
    assert out.returncode == 1 and "'bigger': scale changed" in out.stderr
    (history / "catalog" / "claims" / "toy_paper.yaml").write_text(original)
    out = validate()
    assert out.returncode == 0 and "every change since each paper's first results is declared" in out.stdout


def test_without_history_the_trail_is_reported_not_judged(suite):
    with pytest.raises(trail.NoHistory, match="not a git checkout"):
        trail.check_all()
