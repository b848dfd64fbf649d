r"""Exact k-nearest-neighbour search: ``(nq, d) × (nb, d) → D, I`` of shape (nq, k), faiss conventions.

Metrics (the same definitions as :func:`~simrepro.kernels.pairwise.pairwise_similarity`)
- ``dot``:    D = x·y, best = largest;  filler D = −inf.
- ``cosine``: D = cos(x, y), best = largest (zero rows have cosine 0 with everything); filler −inf.
- ``l2``:     D = ‖x − y‖² (squared distance), best = smallest; filler +inf.

``D[i]`` is sorted best-first; ``I`` is int64 and holds −1 where fewer than ``k`` database rows exist. Order
among exactly tied scores is unspecified (compare results with :func:`simrepro.metrics.knn_matches`).

The scan and Triton paths score with one rule, ``s_ij = a·(x_i·y_j) + b_j`` (larger is better):
dot/cosine: a = 1, b = 0; l2: a = 2, b_j = −‖y_j‖², so that ‖x_i − y_j‖² = ‖x_i‖² − s_ij. ‖y‖² is computed once
and the per-query ‖x‖² is added only to the k selected scores (faiss does the same). Numerics: l2 in float32
suffers the expansion's cancellation (absolute error ≈ ε·(‖x‖² + ‖y‖²)); norms are summed in float64, results are
clamped at 0, and the reference path computes in float64.

Paths
- :func:`topk_search_reference`: float64 full score matrix + a stable full sort. O(nq·nb) memory; for tests.
- CPU (and CUDA float64): blocked GEMM into a reused buffer, then a threshold-pruned k-select of each block
  merged into the running best (:func:`running_topk_update`). For l2 the bias b_j rides in the GEMM as one
  more dimension ([2x, 1]·[y, −‖y‖²]), so no pass over the block adds it. Peak extra memory
  O(query_block · database_block + database_block · d).
- CPU, screened (``screen=True``; the default for float32 where the CPU multiplies bfloat16 natively and the
  search is large): one bfloat16 GEMM scores every pair, a rigorous error bound keeps every pair that could be
  in the top k, and those are rescored in float64 (:mod:`simrepro.kernels.screening`, which scores x·y or
  −‖x − y‖² directly). The exact neighbours, with float64-accurate D, faster than the float32 scan on such CPUs;
  a query block the bound cannot separate (e.g. many near-duplicates) falls back to the scan.
- CUDA float32: the Triton kernel in :mod:`simrepro.kernels.triton.topk` (GEMM tile + in-register k-select).

k-selection (:mod:`simrepro.kernels.kselect`). With τ = the k-th best score seen so far for the query (or, on
the first block, the k-th largest chunk maximum, a lower bound of the block's k-th best), only the block's
entries ≥ τ are candidates (found through chunk maxima), merged with the running best k by one top-k
over the dense candidates (:func:`~simrepro.kernels.kselect.merge_topk`). Exact: no score ≥ the final k-th best
is ever dropped. Once τ is good (after a block or two) few chunks pass, so the select costs about one read of
the block, against O(n log k) per row for ``torch.topk`` (:func:`chunked_topk` is this select on one block).
k = 1 (k-means assignments) is a plain row max. The chunk maxima (one pass over the block) use the GEMM's
threads; the select's many small ops run single-threaded (:func:`limit_cpu_threads`).
"""

from __future__ import annotations

import numpy as np
import torch

from simrepro.kernels._validate import as_matrix, check_same_dim, common_dtype
from simrepro.kernels.kselect import CHUNK, chunk_maxima, entries_at_least, limit_cpu_threads, merge_topk
from simrepro.kernels.pairwise import normalize_rows, pairwise_similarity

TOPK_METRICS = ("dot", "cosine", "l2")
DEVICES = ("auto", "cpu", "cuda")
_SCAN_BLOCKS = (4096, 1024)      # default (query, database) rows per block of the scan: a 16 MiB float32 score
                                 # block; measured 0.84× faiss against 0.64× for (1024, 16384) on 2 idle cores
_DATABASE_BLOCK = 16384          # default database rows per block of the screened path
_SCREEN_QUERY_BLOCK = 1024       # default query rows per block of the screened path (bf16 buffer: 32 MiB)
_SCREEN_MIN_FLOP = 2 ** 30       # screen by default from about this many multiply-adds (nq·nb·d)
_SELECT_THREADS = 1              # CPU threads of the select (the GEMM keeps torch's setting): limit_cpu_threads


def _check_args(metric: str, k, device: str, screen: bool | None = None) -> int:
    if screen not in (None, True, False):
        raise ValueError(f"screen must be None (automatic), True or False, got {screen!r}")
    if metric not in TOPK_METRICS:
        raise ValueError(f"unknown metric {metric!r} for topk_search; expected one of {', '.join(TOPK_METRICS)}")
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _validated(queries, database, metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    q = as_matrix(queries, "queries")
    y = as_matrix(database, "database")
    check_same_dim(q, y, "queries", "database")
    q, y = common_dtype(q, y)
    if metric == "cosine":
        q, y = normalize_rows(q), normalize_rows(y)
    return q, y


def _empty_result(nq: int, k: int, metric: str, dtype, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    fill = float("inf") if metric == "l2" else float("-inf")
    return (torch.full((nq, k), fill, dtype=dtype, device=device),
            torch.full((nq, k), -1, dtype=torch.int64, device=device))


def _scores_to_distances(scores: torch.Tensor, ids: torch.Tensor, q: torch.Tensor, metric: str, k: int):
    """Turn selected scores (nq, kk) into D (nq, k) in the metric's units, padding with filler / −1."""
    D, I = _empty_result(q.shape[0], k, metric, scores.dtype, scores.device)
    kk = scores.shape[1]
    if metric == "l2":
        q_sq = _squared_norms(q)[:, None].to(scores.dtype)                      # (nq, 1)
        D[:, :kk] = (q_sq - scores).clamp_min_(0.0)
    else:
        D[:, :kk] = scores
    I[:, :kk] = ids
    return D, I


def _squared_norms(x: torch.Tensor, rows: int = 2048) -> torch.Tensor:
    """‖x_i‖² (n,) accumulated in float64 (``vector_norm(dtype=float64)`` upcasts element by element, without
    an (n, d) float64 copy), a cache-sized block of rows at a time, returned in x's dtype. 7× faster than
    squaring a float64 copy on this CPU."""
    out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
    for s in range(0, x.shape[0], rows):
        torch.linalg.vector_norm(x[s:s + rows], dim=1, dtype=torch.float64, out=out[s:s + rows])
    return out.square_().to(x.dtype)


def _score_terms(y: torch.Tensor, metric: str) -> tuple[float, torch.Tensor]:
    """(a, b) of s_ij = a·(x_i·y_j) + b_j."""
    if metric == "l2":
        return 2.0, -_squared_norms(y)
    return 1.0, torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)


def _chunk_select_applies(m: int, k: int, chunk: int = CHUNK) -> bool:
    """Whether :func:`running_topk_update` selects a (n, m) block through chunk maxima (else a max or a topk)."""
    return k > 1 and m % chunk == 0 and m >= k * chunk


def running_topk_update(scores: torch.Tensor, best_values: torch.Tensor, best_ids: torch.Tensor, offset: int = 0,
                        chunk: int = CHUNK, maxima: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge a score block (n, m) (columns = ids ``offset + j``) into the running best (n, k), values descending.

    ``best_values`` holds −inf (ids −1) where fewer than k scores were seen. Threshold-pruned select of the
    module docstring; falls back to ``torch.topk`` + merge when m is not a multiple of ``chunk`` or m < k·chunk.
    ``maxima``: :func:`~simrepro.kernels.kselect.chunk_maxima` of ``scores``, if the caller computed them.
    """
    n, m = scores.shape
    k = best_values.shape[1]
    dev = scores.device
    if k == 1:                                                                    # 1-NN (k-means): one max
        v, i = scores.max(dim=1, keepdim=True)
        better = v > best_values
        return torch.where(better, v, best_values), torch.where(better, i + offset, best_ids)
    if not _chunk_select_applies(m, k, chunk):
        v, i = scores.topk(min(k, m), dim=1)
        rows = torch.arange(n, device=dev).repeat_interleave(v.shape[1])
        cand_rows, cand_values, cand_ids = rows, v.reshape(-1), (i + offset).reshape(-1)
    else:
        maxima = chunk_maxima(scores, chunk) if maxima is None else maxima
        tau = best_values[:, -1]                                                  # k-th best so far
        if bool(torch.isneginf(tau).any()):
            tau = torch.maximum(tau, maxima.topk(k, dim=1).values[:, -1])          # ≤ this block's k-th best
        cand_rows, cols, cand_values = entries_at_least(scores, tau, chunk, maxima)
        cand_ids = cols + offset
    return merge_topk(best_values, best_ids, cand_rows, cand_values, cand_ids, k)


def chunked_topk(scores: torch.Tensor, k: int, chunk: int = CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise top-k of ``scores`` (n, m), k ≤ m → (values, column ids), each (n, k), values descending.

    Same values as ``torch.topk(scores, k, dim=1)`` (ids may differ among exact ties), by the threshold-pruned
    select of the module docstring applied to one block.
    """
    best = torch.full((scores.shape[0], k), float("-inf"), dtype=scores.dtype, device=scores.device)
    return running_topk_update(scores, best, torch.full_like(best, -1, dtype=torch.int64), 0, chunk)


def _parse_blocks(block_size) -> tuple[int, int]:
    if block_size is None:
        return _SCAN_BLOCKS
    qb, db = (block_size, _SCAN_BLOCKS[1]) if isinstance(block_size, (int, np.integer)) else block_size
    if int(qb) < 1 or int(db) < 1:
        raise ValueError(f"block_size must be ≥ 1 (query rows, or (query rows, database rows)), got {block_size}")
    return int(qb), int(db)


def _scored_rows(y: torch.Tensor, metric: str, rows: slice) -> torch.Tensor:
    """Database rows laid out so that one GEMM gives the scan's score s_ij = a·(x_i·y_j) + b_j: y itself for
    dot/cosine (a = 1, b = 0), and [y_j, −‖y_j‖²] for l2, to be multiplied by queries [2·x_i, 1] (:func:`_scored_queries`)
    — the bias rides in the GEMM instead of a separate pass over every score block (``addmm`` first copies
    the bias into the whole block)."""
    yb = y[rows]
    if metric != "l2":
        return yb
    return torch.cat([yb, -_squared_norms(yb)[:, None]], dim=1)


def _scored_queries(q: torch.Tensor, metric: str) -> torch.Tensor:
    if metric != "l2":
        return q
    return torch.cat([2.0 * q, torch.ones(q.shape[0], 1, dtype=q.dtype, device=q.device)], dim=1)


def _blocked_topk_scores(q: torch.Tensor, y: torch.Tensor, k: int, metric: str, query_block: int,
                         database_block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best-first scores and ids (nq, min(k, nb)): GEMM per (database block × query block), running select.

    Database blocks are the outer loop, so each is prepared (:func:`_scored_rows`) once; the running best of
    every query (nq, k) persists across them."""
    nq, nb = q.shape[0], y.shape[0]
    kk = min(k, nb)
    database_block = min(database_block, nb)
    qs_all = _scored_queries(q, metric)
    buf = torch.empty((min(query_block, nq), database_block), dtype=q.dtype, device=q.device)
    best_s = torch.full((nq, kk), float("-inf"), dtype=q.dtype, device=q.device)
    best_i = torch.full((nq, kk), -1, dtype=torch.int64, device=q.device)
    for ys in range(0, nb, database_block):
        yb = _scored_rows(y, metric, slice(ys, ys + database_block))               # (bn, d[+1])
        for qs in range(0, nq, query_block):
            qb = qs_all[qs:qs + query_block]                                      # (bq, d[+1])
            s = buf[:qb.shape[0], :yb.shape[0]]                                   # (bq, bn) view of the buffer
            torch.mm(qb, yb.T, out=s)
            rows = slice(qs, qs + qb.shape[0])
            # one pass over the whole block, as parallel as the GEMM; the select's small ops on one thread
            maxima = chunk_maxima(s) if _chunk_select_applies(s.shape[1], kk) else None
            with limit_cpu_threads(_SELECT_THREADS):
                best_s[rows], best_i[rows] = running_topk_update(s, best_s[rows], best_i[rows], ys, maxima=maxima)
    return best_s, best_i


def _resolve_device(device: str, q: torch.Tensor) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA device; use device='cpu' or 'auto'")
    if device == "cuda" or (device == "auto" and (q.is_cuda or torch.cuda.is_available())):
        return torch.device("cuda")
    return torch.device("cpu")


def topk_search(queries, database, k: int, metric: str = "dot", *, block_size=None, device: str = "auto",
                screen: bool | None = None):
    """Exact k-NN: ``D, I`` (nq, k) with ``D[i, r]`` the r-th best score of ``queries[i]`` over ``database``.

    ``queries`` (nq, d), ``database`` (nb, d): numpy or torch, float32/float64 (integers → float64). numpy in →
    numpy out. ``block_size``: query rows per block, or ``(query_rows, database_rows)``; larger blocks make
    the GEMM more efficient and cost O(query_rows·database_rows) memory (default (4096, 1024): 16 MiB in float32, the
    score block stays in cache for the select). ``device``: 'auto'
    uses CUDA (Triton kernel for float32) when available, else the CPU path. ``screen``: on CPU, certified
    bfloat16 screening with exact rescoring (True), the plain float32/float64 scan (False), or None: screen
    float32 searches of ≥ 2³⁰ multiply-adds on CPUs with native bfloat16. Screening needs nb ≥ 32·k (else
    the scan runs). Every choice returns the exact neighbours.
    Raises ``ValueError`` for k < 1, an unknown metric/device, mismatched dimensions or NaN/inf input.
    """
    k = _check_args(metric, k, device, screen)
    q, y = _validated(queries, database, metric)
    D, I = search_validated(q, y, k, metric, block_size=block_size, device=device, screen=screen)
    return _as_output(D, I, queries)


def search_validated(q: torch.Tensor, y: torch.Tensor, k: int, metric: str, *, block_size=None,
                     device: str = "auto", screen: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``topk_search``'s compute core for already validated tensors (same dtype; cosine rows normalised).

    For callers inside ``simrepro.kernels`` that search many times with inputs they checked once (k-means).
    """
    nq, nb = q.shape[0], y.shape[0]
    if nq == 0 or nb == 0:
        return _empty_result(nq, k, metric, q.dtype, q.device)
    dev = _resolve_device(device, q)
    q, y = q.to(dev), y.to(dev)
    if dev.type == "cuda" and q.dtype == torch.float32 and block_size is None and k <= _triton_max_k():
        from simrepro.kernels.triton.topk import triton_topk_scores
        alpha, bias = _score_terms(y, metric)
        s, i = triton_topk_scores(q * alpha, y, bias, min(k, nb))
        return _scores_to_distances(s, i, q, metric, k)
    if dev.type == "cpu" and nb >= k * CHUNK and _wants_screen(screen, q, nb):
        return _screened_search(q, y, k, metric, block_size)
    return _scan_search(q, y, k, metric, block_size)


def _scan_search(q: torch.Tensor, y: torch.Tensor, k: int, metric: str, block_size) -> tuple[torch.Tensor, torch.Tensor]:
    """The blocked GEMM + k-select path, D and I in the metric's units."""
    qb, db = _parse_blocks(block_size)
    return _scores_to_distances(*_blocked_topk_scores(q, y, k, metric, qb, db), q, metric, k)


def _wants_screen(screen: bool | None, q: torch.Tensor, nb: int) -> bool:
    if screen is not None:
        return bool(screen)
    from simrepro.kernels.screening import native_bf16_available
    return q.dtype == torch.float32 and q.shape[0] * nb * q.shape[1] >= _SCREEN_MIN_FLOP and native_bf16_available()


def _screened_search(q: torch.Tensor, y: torch.Tensor, k: int, metric: str, block_size):
    """Screened exact search (module docstring), query block by query block; a block the screen gives up on
    runs the plain scan."""
    from simrepro.kernels.screening import ScreenedDatabase
    if block_size is None:
        qb, db = _SCREEN_QUERY_BLOCK, _DATABASE_BLOCK
    else:
        qb, db = _parse_blocks(block_size)
    database = ScreenedDatabase(y, metric, -(-min(db, y.shape[0]) // CHUNK) * CHUNK, CHUNK)
    D, I = _empty_result(q.shape[0], k, metric, q.dtype, q.device)
    for qs in range(0, q.shape[0], qb):
        x = q[qs:qs + qb]
        found = database.search(x, k)
        if found is None:
            found = _scan_search(x, y, k, metric, None)
        D[qs:qs + x.shape[0]], I[qs:qs + x.shape[0]] = found
    return D, I


def _triton_max_k() -> int:
    from simrepro.kernels.triton.topk import TRITON_MAX_K
    return TRITON_MAX_K


def _as_output(D: torch.Tensor, I: torch.Tensor, original):
    """numpy in → numpy out; a tensor in → tensors on its device."""
    if isinstance(original, np.ndarray):
        return D.cpu().numpy(), I.cpu().numpy()
    return D.to(original.device), I.to(original.device)


def topk_search_reference(queries, database, k: int, metric: str = "dot"):
    """Plain definition: float64 scores of every pair, a stable full sort, the first k (numpy out)."""
    k = _check_args(metric, k, "cpu")
    q = as_matrix(queries, "queries", dtype=torch.float64)
    y = as_matrix(database, "database", dtype=torch.float64)
    check_same_dim(q, y, "queries", "database")
    nq, nb = q.shape[0], y.shape[0]
    D, I = (t.numpy() for t in _empty_result(nq, k, metric, torch.float64))
    if nq == 0 or nb == 0:
        return D, I
    S = np.asarray(pairwise_similarity(q, y, metric=metric).numpy())              # (nq, nb) float64
    order = np.argsort(S if metric == "l2" else -S, axis=1, kind="stable")[:, :k]
    kk = order.shape[1]
    D[:, :kk] = np.take_along_axis(S, order, axis=1)
    I[:, :kk] = order
    return D, I
