import json

import pytest

from simrepro import repro
from simrepro.repro import paths
from simrepro.repro.record import RUN_ENV, write_json_atomic


def test_interactive_run_records_outside_the_committed_results(suite, monkeypatch):
    monkeypatch.delenv(RUN_ENV, raising=False)
    run = repro.start("toy_paper", profile="smoke", seed=1)
    table = run.record({"square": 9.0, "x": 3.0})
    assert "reproduced" in table._repr_html_() and "square" in repr(table)
    assert not paths.results_file("toy_paper").exists()
    saved = json.loads(paths.interactive_results_file("toy_paper").read_text())
    assert saved["provenance"]["runner"] == "interactive" and saved["provenance"]["seed"] == 1


def test_start_rejects_bad_arguments(suite, monkeypatch):
    with pytest.raises(repro.RunError, match="profile must be"):
        repro.start("toy_paper", profile="huge")
    with pytest.raises(repro.RunError, match="seed must be an int"):
        repro.start("toy_paper", seed=1.5)
    with pytest.raises(repro.RunError, match="device must be"):
        repro.start("toy_paper", device="tpu")
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(repro.RunError, match="no CUDA GPU"):
            repro.start("toy_paper", device="cuda")
    monkeypatch.setenv(RUN_ENV, json.dumps({"slug": "toy_paper", "profile": "full"}))
    with pytest.raises(repro.RunError, match="fix the notebook's start"):
        repro.start("toy_paper", profile="smoke")


def test_metrics_must_be_numbers(suite, monkeypatch):
    monkeypatch.delenv(RUN_ENV, raising=False)
    run = repro.start("toy_paper")
    with pytest.raises(repro.MetricError, match="did not report"):
        run.record({"x": 3.0})
    with pytest.raises(repro.MetricError):
        run.record({"square": object(), "x": 3.0})


def test_atomic_write_leaves_old_file_on_error(tmp_path):
    target = tmp_path / "r.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(ValueError):
        write_json_atomic(target, {"a": float("nan")})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
