"""``simrepro`` command line: list | run SLUG | status | site | data | validate.

Every error is one line on stderr and a non-zero exit; nothing prints a traceback for bad input."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simrepro.repro import catalog, paths
from simrepro.repro import verdicts as V


def _cmd_list(args) -> int:
    for p in catalog.papers():
        if args.tier and p.tier != args.tier:
            continue
        result = paths.results_file(p.slug)
        if result.exists():
            summary = V.summary_text(V.summarize(json.loads(result.read_text())["claims"]))
        else:
            summary = "pending" if not p.has_notebook else "no result yet"
        print(f"{p.id:>3}  {p.slug:<28} {p.tier:<10} {p.theme[:34]:<34} {summary}")
    return 0


def _cmd_run(args) -> int:
    from simrepro.repro import params
    from simrepro.repro.runner import run_paper
    result = run_paper(args.slug, args.profile, progress=not args.quiet)
    width = max(len(c["claim"]) for c in result["claims"])
    for c in result["claims"]:
        print(f"{c['claim']:<{width}}  {c['kind']:<5}  {c['verdict']}")
    pipeline_profile = params.load()["profile"]
    out = paths.output_root(result["profile"], pipeline_profile).relative_to(paths.root())
    prefix = "" if out == Path(".") else f"{out}/"
    print(f"wrote {prefix}results/{args.slug}.json and {prefix}reports/{args.slug}.html "
          f"({result['provenance']['wall_time_s']:.1f} s, profile {result['profile']})")
    if prefix:
        print(f"profile {result['profile']} is not params.yaml's ({pipeline_profile}): the committed results/ and "
              "reports/ were left as they are")
    return 0


def _print_timing() -> int:
    from simrepro.repro.status import recorded_timing
    timing = recorded_timing()
    fmt = lambda t: f"{t:8.1f}" if t is not None else "       —"   # noqa: E731
    print(f"{'paper':<28} {'smoke s':>8} {'full s':>8}")
    for slug, row in timing.items():
        print(f"{slug:<28} {fmt(row['smoke'])} {fmt(row['full'])}")
    for profile in ("smoke", "full"):
        known = [r[profile] for r in timing.values() if r[profile] is not None]
        print(f"total at {profile}: {sum(known):.0f} s over {len(known)} of {len(timing)} papers"
              + ("" if len(known) == len(timing) else f" (run `simrepro run SLUG --profile {profile}` for the rest)"))
    return 0


def _cmd_status(args) -> int:
    if args.timing:
        return _print_timing()
    from simrepro.repro.status import status
    states = status()
    stale = 0
    for slug, state in states.items():
        if state == "pending" and not args.all:
            continue
        stale += state != "up to date" and state != "pending"
        print(f"{slug:<28} {state}")
    print(f"{stale} paper(s) need a run" if stale else "all results are up to date")
    return 0


def _cmd_site(args) -> int:
    from simrepro.repro.site import build_site
    print(f"wrote {build_site()}")
    return 0


def _cmd_data(args) -> int:
    from simrepro.data import _store
    registry = _store.discover()
    names = args.names or sorted(registry)
    for name in names:
        if name not in registry:
            raise _store.AssetMissing(f"unknown dataset {name!r}; known: {', '.join(sorted(registry))}")
    if args.list:
        for name in names:
            state = "materialised" if _store.is_built(name) else "missing"
            print(f"{name:<20} {state:<13} {registry[name].description.splitlines()[0]}")
        return 0
    for name in names:
        fresh = not _store.is_built(name) or args.force
        path = _store.build(name, force=args.force)
        print(f"{name:<20} {'built' if fresh else 'present'}  {path}")
    if not args.names:
        for stale in _store.remove_unregistered():
            print(f"{stale:<20} removed  (no longer an asset: data.dvc tracks only registered datasets)")
    return 0


def _cmd_pipeline(args) -> int:
    from simrepro.repro import pipeline
    if args.check:
        if not pipeline.is_current():
            print("simrepro pipeline: dvc.yaml is out of date with the notebooks; run `simrepro pipeline`",
                  file=sys.stderr)
            return 1
        print("dvc.yaml is up to date")
        return 0
    print(f"wrote {pipeline.write()}")
    return 0


def _cmd_impact(args) -> int:
    from simrepro.repro import impact
    if args.kernels:
        table = impact.kernel_table()
        width = max(len(k) for k in table)
        for kernel, slugs in table.items():
            print(f"{kernel:<{width}}  {len(slugs):>3}  {', '.join(slugs) or '—'}")
        return 0
    if not args.paths:
        print("simrepro impact: give one or more files or folders, or --kernels", file=sys.stderr)
        return 2
    reached = impact.impact(args.paths)
    for slug, why in reached.items():
        print(f"{slug}  ← {', '.join(why)}")
    if not reached:
        print(f"no paper's stage depends on {', '.join(args.paths)}")
    return 0


def notebooks_not_in_stored_form(folder: Path, *, store: bool = False) -> list[Path]:
    """The ``*.ipynb`` in ``folder`` whose bytes differ from their stored form (``nbformat.writes`` of
    :func:`simrepro.repro.notebooks.stored_form`, plus a newline). git's nbstripout filter hides such a
    difference, DVC does not: a stage records the notebook's hash as it is on disk, so a fresh clone would see
    the stage as modified. With ``store`` each one is rewritten in its stored form."""
    import copy

    import nbformat

    from simrepro.repro.notebooks import stored_form
    off = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        stored = nbformat.writes(stored_form(copy.deepcopy(nbformat.reads(text, as_version=4)))) + "\n"
        if text != stored:
            off.append(path)
            if store:
                path.write_text(stored, encoding="utf-8")
    return off


def _cmd_validate(args) -> int:
    from simrepro.repro import params, trail
    off = notebooks_not_in_stored_form(paths.root() / "notebooks", store=args.store_notebooks)
    for path in off:
        if args.store_notebooks:
            print(f"stored notebooks/{path.name} in its stored form; if its stage's results are current, record "
                  f"the new hash with `dvc commit {path.stem}`")
        else:
            print(f"simrepro validate: notebooks/{path.name} is not in its stored form (outputs, execution counts "
                  "or editor metadata such as language_info). git hides this through its nbstripout filter but "
                  "DVC hashes the file as it is, so a fresh clone would rerun its stage. Fix: simrepro validate "
                  "--store-notebooks, then `dvc commit <slug>` if only metadata changed (or rerun the stage)",
                  file=sys.stderr)
    failed = bool(off) and not args.store_notebooks
    papers = catalog.papers()
    with_nb = params.validate_all()
    claims = [c for p in papers for c in p.claims]
    n_paper = sum(c.kind == "paper" for c in claims)
    print(f"catalog: {len(papers)} papers, {len(with_nb)} with notebooks, {len(claims)} claims "
          f"({n_paper} paper claims, {len(claims) - n_paper} checks), every threshold with a basis; "
          "params.yaml valid")
    try:
        problems = trail.check_all()
    except trail.NoHistory as e:
        print(f"amendment trail not checked: {e}")
        return int(failed)
    for line in problems:
        print(f"simrepro validate: {line}", file=sys.stderr)
    if problems:
        print(f"simrepro validate: {len(problems)} undeclared change(s) to claims since their papers' first "
              "results (see docs/adding_a_paper.md, 'Amendments')", file=sys.stderr)
        return 1
    print("amendment trail: every change since each paper's first results is declared")
    return int(failed)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="simrepro", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="all papers with their verdict summary")
    p.add_argument("--tier", help="only this tier (A, B, C, D)")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("run", help="run one paper's notebook outside DVC and publish its result")
    p.add_argument("slug")
    p.add_argument("--profile", choices=("smoke", "full"), help="default: params.yaml's profile")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("status", help="which results are stale and why")
    p.add_argument("--all", action="store_true", help="also list pending papers")
    p.add_argument("--timing", action="store_true", help="each paper's recorded wall time at smoke and full")
    p.set_defaults(func=_cmd_status)
    p = sub.add_parser("site", help="rebuild reports/index.html")
    p.set_defaults(func=_cmd_site)
    p = sub.add_parser("data", help="materialise the offline datasets into data/")
    p.add_argument("names", nargs="*", help="datasets (default: all)")
    p.add_argument("--force", action="store_true", help="rebuild even if present")
    p.add_argument("--list", action="store_true", help="list datasets and whether they are materialised")
    p.set_defaults(func=_cmd_data)
    p = sub.add_parser("pipeline", help="regenerate dvc.yaml from the notebooks' imports")
    p.add_argument("--check", action="store_true", help="only check that dvc.yaml is up to date")
    p.set_defaults(func=_cmd_pipeline)
    p = sub.add_parser("impact", help="the papers whose pipeline stages depend on the given files")
    p.add_argument("paths", nargs="*", help="files or folders of the repository")
    p.add_argument("--kernels", action="store_true", help="the whole kernel module → papers table")
    p.set_defaults(func=_cmd_impact)
    p = sub.add_parser("validate", help="check the catalog, every claims file, params.yaml and that notebooks "
                                        "are stored without outputs or editor metadata")
    p.add_argument("--store-notebooks", action="store_true",
                   help="rewrite notebooks that are not in their stored form instead of failing")
    p.set_defaults(func=_cmd_validate)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from simrepro.data._store import AssetMissing
    from simrepro.repro.params import ParamsError
    from simrepro.repro.record import RunError
    from simrepro.repro.runner import RunFailed
    try:
        return args.func(args)
    except (catalog.CatalogError, ParamsError, RunFailed, RunError, V.MetricError, AssetMissing,
            paths.RootNotFound) as e:
        print(f"simrepro {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"simrepro {args.command}: interrupted; published results were left as they were", file=sys.stderr)
        return 130
