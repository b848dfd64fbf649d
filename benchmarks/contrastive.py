"""Tiled vs naive InfoNCE: peak memory and time of one forward + backward, d = 512, float32, CPU.

Axes: batch b (default 4k, 8k, 16k, 32k, 40k for both, 64k tiled only), method (naive ``info_nce_reference``
vs ``tiled_info_nce``, default tile: one (tile, b) block ≈ 8 MiB). The naive loss holds three (b, b) float32
matrices (logits, their log-softmax, its gradient): ≈ 12 GiB at 32k, ≈ 18.75 GiB at 40k, ≈ 48 GiB at 64k; a
naive configuration whose predicted 12·b² bytes exceed ``--memory-fraction`` (default 90 %) of the memory
available when it starts is skipped and reported as not fitting, so "the largest batch the naive loss fits" is
measured on the machine at hand (each configuration runs in its own process: running out of memory there ends
that process, not the benchmark).

Memory, two ways, each configuration in a fresh subprocess:
- ``alloc``: peak bytes held by torch's CPU allocator during the step above what was held before it, from the
  profiler's allocation events (``simrepro.kernels.contrastive.peak_allocated_bytes``); exact for tensors.
- ``rss``: ``ru_maxrss`` after the first step minus the RSS before it (psutil); includes allocator slack and
  can underestimate small peaks (the high-water mark may already be set by imports).
Both include the two (b, d) gradients the backward returns, 2·b·d·4 bytes that both methods pay; the summary
also gives the alloc ratio net of them (the loss's working memory) and the largest ratio any method that
returns those gradients could reach, naive / (2·b·d·4) ≈ 1.5·b/d (96× at b = 32k, 120× at 40k, d = 512). Time: median of ``--repeats`` steps after the two
measuring steps (warm-up). The machine is 2 cores shared with other jobs: times are noisy.

Threads: on a machine shared with other jobs, multi-threaded runs of the tiled loss's many mid-size operations
stall in OpenMP barriers far more than the naive loss's few large ones; ``--threads 1`` measures the methods
rather than the contention.

Usage (from the repository root): ``python -m benchmarks contrastive [--batches 4096 8192 16384 32768 40960] [--tiled-only 65536] [--threads 1]
[--memory-fraction 0.9]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import psutil
import torch

from benchmarks.common import time_median, write_json

from simrepro.kernels.contrastive import info_nce_reference, peak_allocated_bytes, tiled_info_nce

ROOT = Path(__file__).resolve().parents[1]
TEMPERATURE = 0.07
METHODS = {"naive": info_nce_reference, "tiled": tiled_info_nce}


def measure(method: str, b: int, d: int, repeats: int, tile: int | None, *, rss: bool = True) -> dict:
    """One configuration, in this process: rss and alloc peaks of a forward+backward step, then its time.

    ``rss=False`` skips the rss step (one step fewer: at b = 40k a naive step takes about a minute on 2 cores);
    ``repeats=0`` skips the timing (``seconds`` is then None). The alloc step always runs."""
    if repeats < 0:
        raise ValueError(f"repeats must be >= 0, got {repeats}")
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(b, d, generator=g), dim=1).requires_grad_()
    k = torch.nn.functional.normalize(torch.randn(b, d, generator=g), dim=1).requires_grad_()
    kwargs = {"tile_size": tile} if method == "tiled" else {}

    def step():
        METHODS[method](q, k, TEMPERATURE, **kwargs).backward()
        q.grad = k.grad = None

    rss_peak = None
    if rss:
        rss_before = psutil.Process().memory_info().rss
        step()
        rss_peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before, 0)
    alloc_peak = peak_allocated_bytes(step)
    seconds = time_median(step, warmup=0, repeats=repeats) if repeats else None
    return {"method": method, "b": b, "d": d, "tile": tile, "alloc_bytes": alloc_peak, "rss_bytes": rss_peak,
            "seconds": seconds}


def naive_fits(b: int, fraction: float = 0.9) -> bool:
    """Whether the naive loss's ≈ 12·b² bytes fit in ``fraction`` of the memory available now."""
    return 12 * b * b <= fraction * psutil.virtual_memory().available


def run_isolated(method: str, b: int, d: int, repeats: int, tile: int | None, threads: int | None, *,
                 rss: bool = True) -> dict:
    """:func:`measure` in a fresh Python process (so one configuration's memory never shapes the next);
    :class:`subprocess.CalledProcessError` if that process fails, e.g. when it is killed for memory."""
    cmd = [sys.executable, "-m", "benchmarks.contrastive", "--worker", method, "--batches", str(b), "--dim", str(d),
           "--repeats", str(repeats)] + ([] if tile is None else ["--tile", str(tile)])
    cmd += ([] if threads is None else ["--threads", str(threads)]) + ([] if rss else ["--no-rss"])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sweep(batches: list[int], d: int, *, tile: int | None = None, threads: int | None = None,
          memory_fraction: float = 0.9, naive_max_batch: int | None = None, repeats: int = 5,
          timed_fraction: int = 4) -> dict:
    """Naive and tiled loss at each batch of ``batches``, every configuration in a fresh process
    (:func:`run_isolated`, rss step skipped), for a notebook that needs the largest batch the naive loss fits.

    First the naive loss runs at the largest batch where :func:`naive_fits` (``memory_fraction``) and
    ``naive_max_batch`` allow it; if that process fails (killed for memory), the next smaller batch is tried.
    That batch is ``largest``. Then the naive loss runs at every smaller batch and the tiled loss at every batch
    up to ``largest``. Only at ``largest // timed_fraction`` are steps timed (median of ``repeats`` steps after
    the allocation-measuring step, which serves as warm-up); elsewhere ``seconds`` is None.
    Returns ``{"rows": [...], "largest": int | None, "timed_batch": int | None, "skipped": [(b, why), ...]}``."""
    batches = sorted(set(batches))
    cap = max(batches) if naive_max_batch is None else naive_max_batch
    rows, skipped, largest = [], [], None
    for b in reversed(batches):
        if b > cap:
            skipped.append((b, f"above naive_max_batch {cap}"))
        elif not naive_fits(b, memory_fraction):
            skipped.append((b, f"12·b² = {12 * b * b / 2**30:.1f} GiB > {memory_fraction:.0%} of the "
                               f"{psutil.virtual_memory().available / 2**30:.1f} GiB available"))
        else:
            try:
                rows.append(run_isolated("naive", b, d, repeats if timed_fraction == 1 else 0, tile, threads,
                                         rss=False))
            except subprocess.CalledProcessError as error:
                skipped.append((b, f"naive process failed (exit {error.returncode})"))
                continue
            largest = b
            break
    if largest is None:
        return {"rows": rows, "largest": None, "timed_batch": None, "skipped": skipped}
    timed_batch = largest // timed_fraction
    for b in reversed(batches):
        if b > largest:
            continue
        reps = repeats if b == timed_batch else 0
        if b < largest:
            rows.append(run_isolated("naive", b, d, reps, tile, threads, rss=False))
        rows.append(run_isolated("tiled", b, d, reps, tile, threads, rss=False))
    return {"rows": rows, "largest": largest, "timed_batch": timed_batch if timed_batch in batches else None,
            "skipped": skipped}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[4096, 8192, 16384, 32768, 40960])
    ap.add_argument("--tiled-only", type=int, nargs="*", default=[65536])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tile", type=int, default=None, help="rows per tile; default: one (tile, b) block ≈ 8 MiB")
    ap.add_argument("--threads", type=int, default=None, help="torch threads; default: torch's choice")
    ap.add_argument("--memory-fraction", type=float, default=0.9,
                    help="run the naive loss only where its 12·b² bytes fit in this fraction of available memory")
    ap.add_argument("--no-rss", action="store_true", help="worker: skip the rss step (alloc peak and time only)")
    ap.add_argument("--worker", choices=sorted(METHODS))
    args = ap.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(measure(args.worker, args.batches[0], args.dim, args.repeats, args.tile,
                                   rss=not args.no_rss)))
        return
    rows = []
    configs = [(m, b) for b in args.batches for m in ("naive", "tiled")] + [("tiled", b) for b in args.tiled_only]
    print(f"{'method':>6} {'b':>6} {'alloc MiB':>10} {'rss MiB':>9} {'time s':>8}")
    for method, b in configs:
        if method == "naive" and not naive_fits(b, args.memory_fraction):
            print(f"{method:>6} {b:>6} does not fit: needs ≈ {12 * b * b / 2**30:.0f} GiB, "
                  f"{psutil.virtual_memory().available / 2**30:.0f} GiB available", flush=True)
            continue
        try:
            row = run_isolated(method, b, args.dim, args.repeats, args.tile, args.threads)
        except subprocess.CalledProcessError as error:                      # e.g. killed for memory
            print(f"{method:>6} {b:>6} failed (exit {error.returncode}): {error.stderr.strip()[-200:]}", flush=True)
            continue
        rows.append(row)
        print(f"{method:>6} {b:>6} {row['alloc_bytes'] / 2**20:10.1f} {row['rss_bytes'] / 2**20:9.1f} "
              f"{row['seconds']:8.2f}", flush=True)
    by = {(r["method"], r["b"]): r for r in rows}
    ratios = []
    print(f"\n{'b':>6} {'alloc naive/tiled':>18} {'net of grads':>13} {'bound w/ grads':>15} {'rss naive/tiled':>16} "
          f"{'time tiled/naive':>17}")
    for b in args.batches:
        if ("naive", b) not in by or ("tiled", b) not in by:
            continue
        n, t = by["naive", b], by["tiled", b]
        grads = 2 * b * args.dim * 4
        ratio = {"b": b, "alloc_ratio": n["alloc_bytes"] / t["alloc_bytes"],
                 "alloc_ratio_net_of_grads": (n["alloc_bytes"] - grads) / max(t["alloc_bytes"] - grads, 1),
                 "alloc_ratio_bound_with_grads": n["alloc_bytes"] / grads,
                 "rss_ratio": n["rss_bytes"] / max(t["rss_bytes"], 1), "time_ratio": t["seconds"] / n["seconds"]}
        ratios.append(ratio)
        print(f"{b:>6} {ratio['alloc_ratio']:18.1f} {ratio['alloc_ratio_net_of_grads']:13.1f} "
              f"{ratio['alloc_ratio_bound_with_grads']:15.1f} {ratio['rss_ratio']:16.1f} {ratio['time_ratio']:17.2f}")
    largest = max((r["b"] for r in ratios), default=None)
    name = "contrastive" + ("" if args.tile is None else f"_tile{args.tile}") + \
        ("" if args.threads is None else f"_threads{args.threads}")
    path = write_json(name, {"config": {"dim": args.dim, "tile": args.tile, "threads": args.threads,
                                        "temperature": TEMPERATURE,
                                        "dtype": "float32",
                                        "repeats": args.repeats, "device": "cpu", "gpu": None},
                             "rows": rows, "ratios": ratios, "largest_naive_batch": largest})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
