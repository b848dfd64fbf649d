"""IVF-PQ (IVFADC): ``simrepro.kernels.quantize.IVFPQIndex`` vs faiss ``IndexIVFPQ``, same data, same settings.

Both indexes are trained on the same sample with the same nlist / M / nbits and faiss's iteration counts
(coarse k-means ``cp.niter``, PQ k-means ``pq.cp.niter``); ours uses k-means seed ``seed``, faiss
``faiss_seed`` (its coarse and PQ k-means, ``cp.seed`` and ``pq.cp.seed``; faiss's default is 1234). Both train
on one thread (the same thread count, so faiss's result does not move with the machine's cores; on the shared
2-core machine faiss's 2-thread training also took ~10× longer under load). Per nprobe: recall@1 and recall@10
against exact ground truth, and queries/s (median of ``repeats`` timed searches; faiss searches with its default
threads, ours scans cells on one thread). ``repeats=0`` searches once per nprobe and reports no speed (qps NaN).
"""

from __future__ import annotations

import faiss
import numpy as np

from benchmarks.common import time_median
from simrepro.kernels.quantize import IVFPQIndex
from simrepro.metrics import knn_recall


def compare_ivfpq(xtrain: np.ndarray, xb: np.ndarray, xq: np.ndarray, I_true: np.ndarray, *, nlist: int, M: int,
                  nbits: int, nprobes: list[int], k: int = 10, seed: int = 0, faiss_seed: int = 1234,
                  repeats: int = 3) -> dict:
    """Rows (one per index × nprobe) with recall@1, recall@k, qps; plus training seconds of each index."""
    d = xb.shape[1]
    theirs = faiss.IndexIVFPQ(faiss.IndexFlatL2(d), d, nlist, M, nbits)
    theirs.cp.seed = theirs.pq.cp.seed = int(faiss_seed)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)                 # training on one thread, like ours (see limit_cpu_threads)
    train_s = {"faiss": time_median(lambda: theirs.train(xtrain), warmup=0, repeats=1)}
    faiss.omp_set_num_threads(threads)
    theirs.add(xb)
    ours = IVFPQIndex(nlist, M, nbits)
    train_s["ours"] = time_median(lambda: ours.train(xtrain, n_iter=theirs.cp.niter, pq_iter=theirs.pq.cp.niter,
                                                     seed=seed), warmup=0, repeats=1)
    ours.add(xb)
    rows = []
    for nprobe in nprobes:
        theirs.nprobe = nprobe
        searches = {"ours": lambda: ours.search(xq, k, nprobe=nprobe), "faiss": lambda: theirs.search(xq, k)}
        for name, search in searches.items():
            _, I = search()
            qps = len(xq) / time_median(search, warmup=0, repeats=repeats) if repeats else float("nan")
            rows.append({"index": name, "nprobe": nprobe, "recall@1": knn_recall(I_true[:, :1], I[:, :1]),
                         f"recall@{k}": knn_recall(I_true[:, :k], I), "qps": qps})
    return {"rows": rows, "train_seconds": train_s}


def recall_gaps(runs: list[dict], recalls: tuple[str, ...] = ("recall@1", "recall@10")) -> dict:
    """Per-seed paired recall differences ours − faiss, one list per cell ``(recall, nprobe)``, from the results
    of :func:`compare_ivfpq` for each seed (same seeds, same order, in every list)."""
    gaps: dict = {}
    for run in runs:
        by = {(r["index"], r["nprobe"]): r for r in run["rows"]}
        for (index, nprobe), row in sorted(by.items()):
            if index != "ours":
                continue
            for r in recalls:
                gaps.setdefault((r, nprobe), []).append(row[r] - by["faiss", nprobe][r])
    return gaps


def farthest_cell(gaps: dict) -> tuple:
    """The cell whose 95 % t-interval of the mean gap (over seeds) reaches farthest from 0: if that interval lies
    inside ±tol, every cell's does. Needs ≥ 2 seeds per cell."""
    from simrepro.repro.verdicts import mean_interval

    def reach(values):
        _, lo, hi = mean_interval(values)
        return max(abs(lo), abs(hi))

    return max(gaps, key=lambda cell: reach(gaps[cell]))
