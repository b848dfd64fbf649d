"""Run one paper's notebook outside or inside DVC: validate, execute with papermill, judge, render, publish.

Publishing is last and atomic: ``results/<slug>.json`` and ``reports/<slug>.html`` change only when the whole
notebook ran, ``record`` was called and the report rendered. A failure keeps the executed notebook (with its
traceback) under ``build/executed/`` and leaves the last good result untouched."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from simrepro.repro import catalog, paths, provenance, report
from simrepro.repro import params as P
from simrepro.repro.record import RUN_ENV, write_json_atomic, write_text_atomic


class RunFailed(RuntimeError):
    """The notebook raised, or finished without recording a result."""


def prepare(slug: str, profile: str | None = None) -> dict:
    """Everything checked before work starts: slug, claims, params (names and types). Returns the context."""
    paper = catalog.paper(slug)
    if not paper.has_notebook:
        raise RunFailed(f"paper {slug!r} has no notebook yet (notebooks/{slug}.ipynb); it is pending")
    if not paper.claims:
        raise RunFailed(f"paper {slug!r} has a notebook but no claims in catalog/claims/{slug}.yaml")
    injected = P.paper_params(slug, profile)
    staging = paths.root() / "build" / "staging" / f"{slug}.json"
    out = paths.output_root(injected["profile"], P.load()["profile"])
    return {"slug": slug, "profile": injected["profile"], "params": injected,
            "params_hash": provenance.stable_hash(injected), "staging": str(staging), "out": str(out)}


def run_paper(slug: str, profile: str | None = None, *, progress: bool = True) -> dict:
    """Execute ``notebooks/<slug>.ipynb`` at ``profile`` (default: params.yaml's) and publish its result:
    to ``results/`` and ``reports/`` at params.yaml's profile, else under ``build/<profile>/``. The kernel
    runs in the repository root found from the working directory, with that checkout's ``src`` first on
    its path, so a DVC experiment workspace runs and records its own copy."""
    import papermill as pm
    context = prepare(slug, profile)
    staging = Path(context["staging"])
    staging.unlink(missing_ok=True)
    executed = paths.executed_notebook(slug)
    executed.parent.mkdir(parents=True, exist_ok=True)
    root = paths.root()
    env_before = {k: os.environ.get(k) for k in (RUN_ENV, paths.ROOT_ENV, "PYTHONPATH")}
    os.environ[RUN_ENV] = json.dumps(context)
    os.environ[paths.ROOT_ENV] = str(root)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env_before["PYTHONPATH"]]))
    t0 = time.time()
    try:
        pm.execute_notebook(str(paths.notebook_file(slug)), str(executed), parameters=context["params"],
                            kernel_name="python3", progress_bar=progress, cwd=str(root))
    except pm.PapermillExecutionError as e:
        raise RunFailed(f"{slug}: the notebook raised {e.ename}: {e.evalue} (cell {e.exec_count}); "
                        f"the executed notebook with the traceback is at {executed}; "
                        f"results/{slug}.json was left as it was") from None
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if not staging.exists():
        raise RunFailed(f"{slug}: the notebook finished without calling run.record(...); nothing was published")
    result = json.loads(staging.read_text())
    result["provenance"]["runner_wall_time_s"] = round(time.time() - t0, 3)
    out = Path(context["out"])
    write_text_atomic(paths.report_file(slug, out), report.render(executed, result))
    write_json_atomic(paths.results_file(slug, out), result)
    staging.unlink()
    return result
