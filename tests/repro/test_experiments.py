"""DVC fan-out: a queued experiment runs and records in its own workspace, never in the main one."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from simrepro.repro import pipeline

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def sh(root, *cmd, timeout=300):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env.pop("SIMREPRO_ROOT", None)             # the root comes from the working directory, as under DVC
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=True)


def test_a_queued_smoke_experiment_leaves_the_main_workspace_as_committed(suite):
    raw = yaml.safe_load((suite / "params.yaml").read_text())
    raw["profile"] = "full"
    raw["papers"]["toy_paper"]["full"] = {"x": 4.0}
    (suite / "params.yaml").write_text(yaml.safe_dump(raw))
    (suite / ".gitignore").write_text("build/\n__pycache__/\n")
    pipeline.write()
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@t")
    sh(suite, "git", "init", "-q")
    # the same git filters as the repository's (scripts/setup.sh): DVC's executors must be able to read them
    filters = subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[2]), "config", "--get-regexp",
                              r"^(filter|diff)\."], capture_output=True, text=True).stdout
    for line in filters.splitlines():
        key, value = line.split(" ", 1)
        sh(suite, "git", "config", key, value)
    sh(suite, "dvc", "init", "-q")
    sh(suite, "dvc", "repro", "-q", timeout=600)
    sh(suite, "git", "add", "-A")
    sh(suite, *git, "commit", "-qm", "full results")
    committed = {p: (suite / p).read_bytes() for p in ("results/toy_paper.json", "reports/toy_paper.html")}
    assert json.loads(committed["results/toy_paper.json"])["profile"] == "full"

    sh(suite, "dvc", "exp", "run", "--queue", "-S", "profile=smoke", "-n", "smoke-exp")
    sh(suite, "dvc", "queue", "start", "-j", "1")
    deadline = time.time() + 400
    while "smoke-exp" not in (done := sh(suite, "dvc", "exp", "show", "--json").stdout) or \
            "Running" in sh(suite, "dvc", "queue", "status").stdout or \
            "Queued" in sh(suite, "dvc", "queue", "status").stdout:
        assert time.time() < deadline, sh(suite, "dvc", "queue", "status").stdout
        time.sleep(3)
    assert "Success" in sh(suite, "dvc", "queue", "status").stdout
    for path, content in committed.items():
        assert (suite / path).read_bytes() == content, f"the experiment wrote into the main workspace's {path}"
    assert sh(suite, "git", "status", "--porcelain").stdout == ""
    exps = [x for r in json.loads(done) for e in (r.get("experiments") or []) for x in e["revs"]]
    (smoke,) = [x for x in exps if x["name"] == "smoke-exp"]
    recorded = smoke["data"]["metrics"]["results/toy_paper.json"]["data"]
    assert recorded["profile"] == "smoke" and recorded["metrics"] == {"square": 9.0, "x": 3.0}
