"""IVF-PQ (IVFADC): ``simrepro.kernels.quantize.IVFPQIndex`` vs faiss ``IndexIVFPQ``, same data, same settings.

Both indexes are trained on the same sample with the same nlist / M / nbits and faiss's iteration counts
(coarse k-means ``cp.niter``, PQ k-means ``pq.cp.niter``); k-means seeds differ (faiss: 1234, ours: the run's
seed). Both train on one thread (on the shared 2-core machine, faiss's 2-thread training took ~10× longer under
load). Per nprobe: recall@1 and recall@10 against exact ground truth, and queries/s (median of repeats; faiss
searches with its default threads, ours scans cells on one thread).
"""

from __future__ import annotations

import faiss
import numpy as np

from benchmarks.common import time_median
from simrepro.kernels.quantize import IVFPQIndex
from simrepro.metrics import knn_recall


def compare_ivfpq(xtrain: np.ndarray, xb: np.ndarray, xq: np.ndarray, I_true: np.ndarray, *, nlist: int, M: int,
                  nbits: int, nprobes: list[int], k: int = 10, seed: int = 0, repeats: int = 3) -> dict:
    """Rows (one per index × nprobe) with recall@1, recall@k, qps; plus training seconds of each index."""
    d = xb.shape[1]
    theirs = faiss.IndexIVFPQ(faiss.IndexFlatL2(d), d, nlist, M, nbits)
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
            rows.append({"index": name, "nprobe": nprobe, "recall@1": knn_recall(I_true[:, :1], I[:, :1]),
                         f"recall@{k}": knn_recall(I_true[:, :k], I), "qps": len(xq) / time_median(search, warmup=0,
                                                                                               repeats=repeats)})
    return {"rows": rows, "train_seconds": train_s}
