"""Which papers a change touches: read from the same dependency lists as ``dvc.yaml``
(:func:`simrepro.repro.pipeline.stage`), so ``simrepro impact FILE`` names exactly the stages DVC would rerun."""

from __future__ import annotations

from pathlib import Path

from simrepro.repro import catalog, paths, pipeline


def stage_deps() -> dict[str, list[str]]:
    """{slug: the repo-relative deps of its dvc stage} for every paper with a notebook, in catalog order."""
    return {s: pipeline.stage(s)["deps"] for s in catalog.slugs() if paths.notebook_file(s).exists()}


def relative(path: str) -> str:
    """``path`` (absolute, or relative to the working directory or the root) as a repo-relative POSIX path."""
    root = paths.root()
    p = Path(path)
    for c in ([p] if p.is_absolute() else [Path.cwd() / p, root / p]):
        if c.exists():
            try:
                return c.resolve().relative_to(root).as_posix()
            except ValueError:
                raise catalog.CatalogError(f"{path} is not inside the repository {root}") from None
    raise catalog.CatalogError(f"{path} does not exist (paths are relative to the working directory or {root})")


def _covers(dep: str, target: str) -> bool:
    return dep == target or target.startswith(dep + "/") or dep.startswith(target + "/")


def impact(targets: list[str]) -> dict[str, list[str]]:
    """{slug: [the deps through which a target reaches it]} for the papers any of ``targets`` reaches.
    ``params.yaml`` reaches every stage (each reads its own section and the shared profile/seed/device)."""
    rel = [relative(t) for t in targets]
    out: dict[str, list[str]] = {}
    for slug, deps in stage_deps().items():
        why = [d for d in deps for t in rel if _covers(d, t)]
        if "params.yaml" in rel:
            why.append(f"params.yaml (profile, seed, device, papers.{slug})")
        if why:
            out[slug] = sorted(set(why))
    return out


def kernel_table() -> dict[str, list[str]]:
    """{kernel module: the papers whose stage depends on it} for every module of ``simrepro.kernels``."""
    kernels = sorted(p.relative_to(paths.root()).as_posix()
                     for p in (paths.root() / "src" / "simrepro" / "kernels").rglob("*.py"))
    deps = stage_deps()
    return {k: [s for s, d in deps.items() if k in d] for k in kernels}
