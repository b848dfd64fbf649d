"""Provenance recorded next to every result: commit, parameters, data hashes, package versions, device."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys

from simrepro.repro import paths


def stable_hash(obj) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys): equal inputs, equal hash."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _file_digest(h, path) -> None:
    h.update(str(path.relative_to(paths.root())).encode())
    h.update(path.read_bytes())


def inputs_hash(slug: str) -> str:
    """Hash of what a paper's result depends on besides params and data: its notebook, its claims and the
    package modules it reaches (:func:`simrepro.repro.deps.paper_dependencies`, the same list DVC watches).
    ``simrepro status`` compares it with the one stored in the result."""
    from simrepro.repro.deps import paper_dependencies
    root = paths.root()
    files = [paths.notebook_file(slug), paths.claims_file(slug)]
    for rel in paper_dependencies(slug)["code"]:
        path = root / rel
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    h = hashlib.sha256()
    for path in files:
        if path.exists():
            _file_digest(h, path)
    return h.hexdigest()


def git_state() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=paths.root(), capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "HEAD") or None
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "src", "notebooks", "catalog",
                     "params.yaml"))
    return {"commit": commit, "dirty": dirty}


def package_versions() -> dict[str, str]:
    """Versions of every third-party distribution imported in this process (plus Python and simrepro)."""
    mapping = md.packages_distributions()
    dists = set()
    for name in list(sys.modules):
        top = name.partition(".")[0]
        dists.update(mapping.get(top, ()))
    versions = {"python": platform.python_version()}
    for dist in sorted(dists, key=str.lower):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return versions


def device_info(device: str) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"device": device, "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}
    if device.startswith("cuda"):
        import torch
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
