"""The runner end to end on the toy paper: publish on success; fail loudly and keep the last good result."""

import json
import os
import subprocess
import sys

import nbformat
import pytest
import yaml

from simrepro.repro import paths
from simrepro.repro.runner import RunFailed, run_paper
from simrepro.repro.site import build_site
from simrepro.repro.status import status

pytestmark = pytest.mark.slow


def test_success_publishes_result_report_and_provenance(suite):
    result = run_paper("toy_paper", "smoke", progress=False)
    on_disk = json.loads(paths.results_file("toy_paper").read_text())
    assert on_disk == result
    assert [c["verdict"] for c in result["claims"]] == ["reproduced", "reproduced at reduced scale", "passed",
                                                        "not testable here"]
    assert [c["kind"] for c in result["claims"]] == ["paper", "paper", "check", "paper"]
    assert result["summary"] == {"paper": {"reproduced": 1, "reproduced at reduced scale": 1,
                                           "not testable here": 1}, "checks": {"passed": 1}}
    assert all("basis" in c for c in result["claims"])
    assert result["metrics"] == {"square": 9.0, "x": 3.0}
    prov = result["provenance"]
    assert prov["runner"] == "pipeline" and prov["params"]["x"] == 3.0 and len(prov["params_hash"]) == 64
    assert {"python", "numpy", "torch"} <= set(prov["packages"])
    assert prov["device"]["device"] in ("cpu", "cuda") and prov["wall_time_s"] > 0
    page = paths.report_file("toy_paper").read_text()
    assert "reproduced" in page and "<script src=\"http" not in page
    assert "<title>999. A Toy Paper — simrepro</title>" in page
    assert "The notebook's defaults (the smoke profile), replaced by the injected cell below" in page
    assert page.index("replaced by the injected cell") < page.index("The parameters this run used")
    head = page[:page.index("<body")]
    assert "<style" not in head and 'href="notebook.css"' in head, "the template CSS belongs in notebook.css"
    assert not list((suite / "results").glob(".*")), "a temp file was left behind"
    assert status()["toy_paper"] == "up to date"


def test_failure_keeps_the_last_good_result_and_the_traceback(suite):
    run_paper("toy_paper", "smoke", progress=False)
    good = paths.results_file("toy_paper").read_bytes()
    raw = yaml.safe_load((suite / "params.yaml").read_text())
    raw["papers"]["toy_paper"]["smoke"]["fail"] = True
    (suite / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(RunFailed, match="boom: the toy notebook failed on purpose.*left as it was"):
        run_paper("toy_paper", "smoke", progress=False)
    assert paths.results_file("toy_paper").read_bytes() == good
    executed = nbformat.read(paths.executed_notebook("toy_paper"), as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in executed.cells for o in c.get("outputs", []))
    assert status()["toy_paper"].startswith("stale: params changed")


def test_notebook_that_never_records_publishes_nothing(suite, make_toy_notebook):
    nb = make_toy_notebook()
    nb.cells.pop()   # drop run.record(...)
    nbformat.write(nb, suite / "notebooks" / "toy_paper.ipynb")
    with pytest.raises(RunFailed, match="without calling run.record"):
        run_paper("toy_paper", "smoke", progress=False)
    assert not paths.results_file("toy_paper").exists()


def test_site_lists_every_paper_and_marks_pending(suite):
    run_paper("toy_paper", "smoke", progress=False)
    page = open(build_site()).read()
    assert page.count("<tr class='paper'") == 120
    assert page.count("data-verdicts='pending'") == 119
    assert "toy_paper.html" in page and "<script src=" not in page
    headline = page[page.index("<b>3 paper claims:</b>"):page.index("implementation checks passed")]
    assert "reproduced" in headline and "1/1" in headline and "passed</span>" not in headline.split("·")[0]
    css = (suite / "reports" / "notebook.css").read_text()
    assert ".jp-Cell" in css and "<style" not in css


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "simrepro", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_cli_unknown_slug_is_one_line_with_close_matches():
    out = cli("run", "lexrnk")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["simrepro run: error: unknown paper 'lexrnk'; did you mean lexrank?"]


def test_cli_failed_run_exits_non_zero_without_traceback(suite):
    raw = yaml.safe_load((suite / "params.yaml").read_text())
    raw["papers"]["toy_paper"]["smoke"]["fail"] = True
    (suite / "params.yaml").write_text(yaml.safe_dump(raw))
    out = cli("run", "toy_paper", "--quiet")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "the notebook raised RuntimeError" in out.stderr


def test_cli_bad_parameter_fails_before_any_work(suite):
    raw = yaml.safe_load((suite / "params.yaml").read_text())
    raw["papers"]["toy_paper"]["smoke"]["n_itres"] = 3
    (suite / "params.yaml").write_text(yaml.safe_dump(raw))
    out = cli("run", "toy_paper")
    assert out.returncode == 2 and "n_itres: unknown parameter for paper 'toy_paper'" in out.stderr
    assert not (suite / "build" / "executed").exists()


def test_a_run_at_another_profile_than_the_pipelines_never_touches_results(suite):
    run_paper("toy_paper", "smoke", progress=False)        # the toy params.yaml runs smoke
    committed = paths.results_file("toy_paper").read_bytes()
    result = run_paper("toy_paper", "full", progress=False)
    assert result["profile"] == "full"
    assert paths.results_file("toy_paper").read_bytes() == committed
    assert json.loads((suite / "build" / "full" / "results" / "toy_paper.json").read_text())["profile"] == "full"
    assert (suite / "build" / "full" / "reports" / "toy_paper.html").exists()
    out = cli("run", "toy_paper", "--profile", "full", "--quiet", env={"SIMREPRO_ROOT": str(suite)})
    assert out.returncode == 0 and "wrote build/full/results/toy_paper.json" in out.stdout
    assert "left as they are" in out.stdout
    assert paths.results_file("toy_paper").read_bytes() == committed


def test_the_scoreboard_flags_a_result_at_another_profile(suite):
    run_paper("toy_paper", "smoke", progress=False)
    raw = yaml.safe_load((suite / "params.yaml").read_text())
    raw["profile"] = "full"
    (suite / "params.yaml").write_text(yaml.safe_dump(raw))
    page = open(build_site()).read()
    assert "not the pipeline's full" in page


def test_status_timing_lists_each_profiles_recorded_wall_time(suite):
    run_paper("toy_paper", "smoke", progress=False)
    run_paper("toy_paper", "full", progress=False)       # by hand: recorded under build/full/
    from simrepro.repro.status import recorded_timing
    row = recorded_timing()["toy_paper"]
    assert row["smoke"] > 0 and row["full"] > 0
    out = cli("status", "--timing", env={"SIMREPRO_ROOT": str(suite)})
    assert out.returncode == 0 and "toy_paper" in out.stdout and "total at full" in out.stdout
