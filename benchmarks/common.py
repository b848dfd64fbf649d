"""Shared benchmark helpers: timing with warm-up and repeats (median), provenance, JSON output."""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def time_median(fn: Callable[[], object], *, warmup: int = 1, repeats: int = 3) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def provenance() -> dict:
    """Commit, versions and machine, recorded next to every result."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                    text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty, "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cpu_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_json(name: str, payload: dict) -> Path:
    """Write ``payload`` plus provenance to ``benchmarks/results/<name>.json``."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"provenance": provenance(), **payload}, indent=2) + "\n")
    return path


def interleaved_medians(fns: dict[str, Callable[[], object]], *, warmup: int = 1, repeats: int = 5) -> dict[str, float]:
    """Median wall-clock seconds per contender, timed in alternation (round r runs every contender once, the
    order rotating each round) so that a busy shared machine slows all contenders alike."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def gemm_peak_gflops(n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Measured GEMM throughput of this process (torch.mm, n × n × n, into a reused output), GFLOP/s: the
    machine's peak for ``dtype`` (float32: sgemm; bfloat16: the native bf16 dot products where the CPU has them)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    return 2 * n ** 3 / time_median(lambda: torch.mm(a, b, out=out), warmup=1, repeats=repeats) / 1e9


def format_table(rows: list[dict], columns: list[str]) -> str:
    """Plain-text table of ``rows`` (dicts) with the given columns; floats with 4 significant digits."""
    cells = [[f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.rjust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(row) for row in cells])


def copy_bandwidth_gbs(n_bytes: int = 256 << 20, repeats: int = 5) -> float:
    """Measured memory bandwidth of this process, GB/s: (read + write) bytes of a large tensor copy / time."""
    src = torch.empty(n_bytes // 4)
    dst = torch.empty_like(src)
    return 2 * n_bytes / time_median(lambda: dst.copy_(src), warmup=1, repeats=repeats) / 1e9


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rss_bytes(fn: Callable[[], object]) -> float:
    """Peak resident memory ``fn()`` adds above the level before the call, bytes (Linux): the allocator's free
    memory is handed back first (``malloc_trim``) and the high-water mark reset (``clear_refs``), so memory
    freed by earlier calls cannot hide a peak. NaN where /proc does not allow it."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _rss_kib("VmRSS")
    except OSError:
        return float("nan")
    result = fn()
    peak = _rss_kib("VmHWM")
    del result
    return max(0, peak - before) * 1024.0
