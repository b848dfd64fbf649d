"""Exact top-k search: ``topk_search`` (CPU paths) vs faiss ``IndexFlatIP`` / ``IndexFlatL2``, same process.

Axes: case (synthetic Gaussian 200k × 128 with 2k queries, dot and l2; Fashion-MNIST 60k × 784 train images as
the database with 2k test images as queries, l2 — ann-benchmarks' fashion-mnist-784-euclidean data), k = 10;
contender: ``ours`` = ``topk_search`` as a user calls it (on a CPU with native bfloat16 that is the certified
bf16 screen with exact rescoring, :mod:`simrepro.kernels.screening`; elsewhere the float32 scan), ``scan`` = the
float32 blocked GEMM + k-select (``screen=False``), ``faiss``. Our timings include preparing the database
(norms, bf16 copy) on every call; faiss's ``index.add`` is outside its timing.
``--size smoke`` shrinks every case (20k × 128 / 10k × 784, 500 queries). Per case: median wall time over
interleaved repeats, queries/s, GFLOP/s (2·nq·nb·d / t: the float32 work an exhaustive search does), its fraction
of this process's measured float32 GEMM peak (``peak_frac``) and bf16 GEMM peak, ratio = t_faiss / t_ours
(> 1: ours is faster), the pairs the screen rescored per query (first query block), and the fraction of queries
whose neighbour lists agree with faiss up to ties. Run: ``python -m benchmarks topk [--size full|smoke]``.
"""

from __future__ import annotations

import argparse
import os

import faiss
import numpy as np
import torch

from benchmarks.common import copy_bandwidth_gbs, format_table, gemm_peak_gflops, interleaved_medians, write_json
from simrepro.kernels.kselect import CHUNK
from simrepro.kernels.screening import ScreenedDatabase, native_bf16_available
from simrepro.kernels.topk import (_DATABASE_BLOCK, _SCREEN_QUERY_BLOCK, _validated, chunked_topk, limit_cpu_threads,
                                   running_topk_update, topk_search)
from simrepro.metrics import knn_matches

SIZES = {"smoke": {"synthetic": (20_000, 128, 500), "fashion": (10_000, 500)},
         "full": {"synthetic": (200_000, 128, 2_000), "fashion": (60_000, 2_000)}}
COLUMNS = ["case", "metric", "nb", "d", "nq", "ours_qps", "scan_qps", "faiss_qps", "ratio", "scan_ratio",
           "ours_gflops", "ours_peak_frac", "kept_per_query", "agree", "scan_agree"]


def synthetic_case(nb: int, d: int, nq: int, seed: int = 1338) -> tuple[np.ndarray, np.ndarray]:
    """Database (nb, d) and queries (nq, d), i.i.d. standard normal float32."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((nb, d), dtype=np.float32), rng.standard_normal((nq, d), dtype=np.float32)


def fashion_case(nb: int, nq: int) -> tuple[np.ndarray, np.ndarray]:
    """First nb Fashion-MNIST training images and first nq test images as raw float32 pixels (n, 784)."""
    from simrepro.data.images import load_fashion_mnist
    train, test = load_fashion_mnist("train")[0], load_fashion_mnist("test")[0]
    return (train[:nb].reshape(nb, -1).astype(np.float32), test[:nq].reshape(nq, -1).astype(np.float32))


def kept_pairs_per_query(xq: np.ndarray, xb: np.ndarray, k: int, metric: str, block: int = _SCREEN_QUERY_BLOCK) -> float:
    """Pairs the bf16 screen rescores per query, on the first ``block`` queries (NaN where it gives up)."""
    q, y = _validated(xq[:block], xb, metric)
    database = ScreenedDatabase(y, metric, _DATABASE_BLOCK, CHUNK)
    return database.kept_per_query if database.search(q, k) is not None else float("nan")


def compare_with_faiss(xb: np.ndarray, xq: np.ndarray, k: int, metric: str, *, repeats: int = 5) -> dict:
    """Time ``topk_search`` (default path and float32 scan) and faiss's flat index on the same data, interleaved,
    and check that both our paths agree with faiss up to ties."""
    (nb, d), nq = xb.shape, xq.shape[0]
    index = faiss.IndexFlatL2(d) if metric == "l2" else faiss.IndexFlatIP(d)
    index.add(xb)
    t = interleaved_medians({"ours": lambda: topk_search(xq, xb, k, metric, device="cpu"),
                             "scan": lambda: topk_search(xq, xb, k, metric, device="cpu", screen=False),
                             "faiss": lambda: index.search(xq, k)}, repeats=repeats)
    Df, If = index.search(xq, k)
    scale = ((xq.astype(np.float64) ** 2).sum(1) + (xb.astype(np.float64) ** 2).sum(1).max()
             if metric == "l2" else None)
    agree = {name: float(knn_matches(Df, If, *topk_search(xq, xb, k, metric, device="cpu", screen=screen),
                                     rtol=1e-5, scale=scale).mean())
             for name, screen in (("agree", None), ("scan_agree", False))}
    flop = 2.0 * nq * nb * d
    return {"metric": metric, "nb": nb, "d": d, "nq": nq, "k": k, "ours_s": t["ours"], "scan_s": t["scan"],
            "faiss_s": t["faiss"], "ours_qps": nq / t["ours"], "scan_qps": nq / t["scan"], "faiss_qps": nq / t["faiss"],
            "ratio": t["faiss"] / t["ours"], "scan_ratio": t["faiss"] / t["scan"],
            "ours_gflops": flop / t["ours"] / 1e9, "scan_gflops": flop / t["scan"] / 1e9,
            "faiss_gflops": flop / t["faiss"] / 1e9, "kept_per_query": kept_pairs_per_query(xq, xb, k, metric),
            **agree}


def run(synthetic: tuple[int, int, int], fashion: tuple[int, int], k: int = 10, repeats: int = 5) -> dict:
    """Cases synthetic (nb, d, nq) dot and l2, Fashion-MNIST (nb, nq) l2; returns {"peak_gflops", "rows", …}."""
    load_before = os.getloadavg()[0]
    xb, xq = synthetic_case(*synthetic)
    rows = [{"case": "synthetic", **compare_with_faiss(xb, xq, k, m, repeats=repeats)} for m in ("dot", "l2")]
    xb, xq = fashion_case(*fashion)
    rows.append({"case": "fashion-mnist", **compare_with_faiss(xb, xq, k, "l2", repeats=repeats)})
    peak, bf16_peak = gemm_peak_gflops(), gemm_peak_gflops(dtype=torch.bfloat16)
    for row in rows:
        for name in ("ours", "scan", "faiss"):
            row[f"{name}_peak_frac"] = row[f"{name}_gflops"] / peak
        row["ours_bf16_peak_frac"] = row["ours_gflops"] / bf16_peak
    return {"peak_gflops": peak, "bf16_peak_gflops": bf16_peak, "native_bf16": native_bf16_available(),
            "threads": {"torch": torch.get_num_threads(), "faiss": faiss.omp_get_max_threads()},
            "faiss": faiss.__version__, "load_avg_1min": [load_before, os.getloadavg()[0]],
            "cpus": os.cpu_count(), "rows": rows}


def single_threaded(fn, *args):
    with limit_cpu_threads(1):
        return fn(*args)


def measure_kselect(xq: np.ndarray, xb: np.ndarray, k: int = 10, repeats: int = 5) -> dict:
    """k-selection on one score block S = xq xbᵀ (n, m): seconds of the GEMM that makes it, a full row sort,
    ``torch.topk`` (torch's threads, and on one thread like our selects), :func:`chunked_topk` (cold: τ from the
    block's chunk maxima) and the steady-state running update (τ = the exact k-th best, as after the first blocks
    of a search), timed in alternation (medians of ``repeats``); GB/s = 4·n·m bytes / time."""
    q, y = torch.from_numpy(xq), torch.from_numpy(xb)
    scores = q @ y.T
    out = torch.empty_like(scores)
    best_v, best_i = scores.topk(k, dim=1)
    t = interleaved_medians({
        "gemm": lambda: torch.mm(q, y.T, out=out),
        "full sort": lambda: scores.sort(dim=1, descending=True),
        "torch.topk": lambda: scores.topk(k, dim=1),
        "torch.topk (1 thread)": lambda: single_threaded(torch.topk, scores, k, 1),
        "chunked_topk (cold)": lambda: single_threaded(chunked_topk, scores, k),
        "running update (steady)": lambda: single_threaded(running_topk_update, scores, best_v, best_i),
    }, repeats=repeats)
    gb = scores.numel() * scores.element_size() / 1e9
    return {"seconds": t, "gbs": {name: gb / s for name, s in t.items() if name != "gemm"},
            "copy_gbs": copy_bandwidth_gbs(), "shape": list(scores.shape), "k": k}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    result = run(**SIZES[args.size], k=args.k, repeats=args.repeats)
    print(f"measured GEMM peak (torch.mm 2048³): float32 {result['peak_gflops']:.1f}, bfloat16 "
          f"{result['bf16_peak_gflops']:.1f} GFLOP/s (native bf16: {result['native_bf16']}); threads {result['threads']}; "
          f"1-min load average before/after {result['load_avg_1min']} on {result['cpus']} CPUs")
    print(format_table(result["rows"], COLUMNS))
    print("wrote", write_json(f"topk_{args.size}", {"size": args.size, **result}))


if __name__ == "__main__":
    main()
