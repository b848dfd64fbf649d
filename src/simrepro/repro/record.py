"""The notebook's side of a run: ``run = start(slug, ...)`` at the top, ``run.record(metrics)`` at the end.

``record`` compares the metrics with the paper's claims, renders the verdict table and writes the result JSON
with its provenance, atomically. Under the runner (``simrepro run``, ``dvc repro``) the result goes to a staging
file that the runner moves into ``results/`` only once the whole notebook succeeded; a notebook run by hand
(JupyterLab, nbval) writes to ``build/interactive/`` and never touches the committed results.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from simrepro.repro import catalog, html, paths, provenance
from simrepro.repro import verdicts as V

RUN_ENV = "SIMREPRO_RUN"      # JSON context set by the runner: slug, profile, params, params_hash, staging
PROFILES = ("smoke", "full")


class RunError(ValueError):
    """A run was started or recorded with bad arguments."""


def resolve_device(device: str) -> str:
    """'auto' → 'cuda' when a GPU is usable, else 'cpu'; 'cuda' without a GPU is an error, not a silent CPU run."""
    import torch
    if device not in ("auto", "cpu", "cuda"):
        raise RunError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RunError("device='cuda' was asked for but no CUDA GPU is available; use device='auto' or 'cpu'")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def seed_everything(seed: int) -> None:
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _plain(value):
    """Metrics as JSON-able Python: numpy scalars → float/bool, NaN/inf → None (the verdict already saw them)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if hasattr(value, "item"):
        return _plain(value.item())
    raise V.MetricError(f"metric values must be numbers, bools or lists of them; got {type(value).__name__}")


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


class VerdictTable(list):
    """The verdicts of a run: a list of dicts that renders as a table in Jupyter (with the amendment trail
    below it) and as text elsewhere."""

    def __init__(self, rows=(), withdrawn=(), not_preregistered: str | None = None):
        super().__init__(rows)
        self.withdrawn, self.not_preregistered = list(withdrawn), not_preregistered

    def _repr_html_(self) -> str:
        return html.verdict_table(list(self)) + html.amendments(list(self), self.withdrawn, self.not_preregistered)

    def __repr__(self) -> str:
        width = max((len(r["claim"]) for r in self), default=5)
        return "\n".join(f"{r['claim']:<{width}}  {r.get('kind', 'paper'):<5}  {r['verdict']:<28} "
                         f"ours={html.fmt(r['measured'])}  ({r['expected']})" for r in self)


class Run:
    """One execution of a paper's notebook. Create it with :func:`start`."""

    def __init__(self, paper: catalog.Paper, profile: str, seed: int, device: str, context: dict | None):
        self.paper, self.profile, self.seed, self.device = paper, profile, seed, device
        self.context = context
        self.started = time.time()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    @property
    def slug(self) -> str:
        return self.paper.slug

    def claims_table(self) -> VerdictTable:
        """The paper's claims before the run (verdict 'pending')."""
        return VerdictTable({"claim": c.id, "kind": c.kind, "statement": c.statement, "source": c.source,
                             "verdict": V.PENDING, "measured": None, "paper_value": c.paper_value,
                             "expected": f"not testable: {c.reason}" if c.check["op"] == "not_testable"
                             else ", ".join(c.metrics) + (" (per seed)" if c.stochastic else ""),
                             "basis": c.basis, "basis_note": c.basis_note, "scale": c.scale}
                            for c in self.paper.claims)

    def record(self, metrics: dict) -> VerdictTable:
        """Judge every claim against ``metrics`` and write the result; returns the verdict table.

        Raises :class:`~simrepro.repro.verdicts.MetricError` if a claim's metric is missing or not a number,
        or a stochastic claim has fewer seeds than its profile needs."""
        if not isinstance(metrics, dict) or not all(isinstance(k, str) for k in metrics):
            raise V.MetricError("record() takes a dict {metric name: value}")
        verdicts = V.evaluate_all(self.paper.claims, metrics, self.profile)
        from simrepro.data._store import USED
        from simrepro.data.derived import DERIVED
        result = {
            "slug": self.slug, "id": self.paper.id, "title": self.paper.title, "profile": self.profile,
            "summary": V.summarize(verdicts),
            "claims": [v.to_dict() for v in verdicts],
            "withdrawn": list(self.paper.withdrawn),
            "not_preregistered": self.paper.not_preregistered,
            "metrics": {k: _plain(v) for k, v in metrics.items()},
            "provenance": {
                "runner": "pipeline" if self.context else "interactive",
                "git": provenance.git_state(),
                "seed": self.seed,
                "params": (self.context or {}).get("params"),
                "params_hash": (self.context or {}).get("params_hash"),
                "inputs_hash": provenance.inputs_hash(self.slug),
                "data": {name: dict(files) for name, files in sorted(USED.items())},
                "data_hash": provenance.stable_hash(USED) if USED else None,
                "derived": {name: dict(d) for name, d in sorted(DERIVED.items())},
                "packages": provenance.package_versions(),
                "device": provenance.device_info(self.device),
                "started_at": self.started_at,
                "wall_time_s": round(time.time() - self.started, 3),
            },
        }
        for v in result["claims"]:
            for key in ("measured", "values", "ci"):
                if v.get(key) is not None:
                    v[key] = _plain(v[key])
        target = Path(self.context["staging"]) if self.context else paths.interactive_results_file(self.slug)
        write_json_atomic(target, result)
        return VerdictTable(result["claims"], self.paper.withdrawn, self.paper.not_preregistered)


def start(slug: str, *, profile: str = "smoke", seed: int = 0, device: str = "auto") -> Run:
    """Begin a paper's run: check the slug and profile, seed numpy/torch/random, resolve the device.

    Under the runner the context (params, staging file) comes from ``$SIMREPRO_RUN``; its slug and profile
    must agree with the notebook's."""
    paper = catalog.paper(slug)
    if profile not in PROFILES:
        raise RunError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise RunError(f"seed must be an int, got {seed!r}")
    context = json.loads(os.environ[RUN_ENV]) if os.environ.get(RUN_ENV) else None
    if context and (context["slug"], context["profile"]) != (slug, profile):
        raise RunError(f"the runner started {context['slug']!r} at profile {context['profile']!r}, but the notebook "
                       f"says {slug!r} at {profile!r}: fix the notebook's start() call")
    seed_everything(seed)
    return Run(paper, profile, seed, resolve_device(device), context)
