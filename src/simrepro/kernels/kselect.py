r"""Row-wise k-selection primitives shared by the exact search paths (:mod:`~simrepro.kernels.topk`,
:mod:`~simrepro.kernels.screening`).

- :func:`merge_topk`: per row, the k largest of a running best and of a flat list of (row, value, id) entries.
- :func:`entries_at_least`: the (row, column, value) entries of a block with ``value ≥ threshold[row]``, found
  through chunk maxima: a block row of n scores is cut into c chunks of stride W = n/c (chunk r holds columns
  r, r + W, r + 2W, …), so the chunk maxima are one vectorised element-wise max over c contiguous rows of W
  values; only chunks whose maximum reaches the threshold are read again. With a good threshold few chunks
  pass and the select costs about one read of the block, against O(n log k) per row for ``torch.topk``.
- :func:`limit_cpu_threads`: run loops of small, memory-bound ops on one thread.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

CHUNK = 32   # chunk count c of entries_at_least


def nonzero_2d(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols) of the True entries. On CPU through numpy: torch's parallel nonzero synchronises its
    threads, which measured 50–100 ms for a (1000, 512) mask on a busy 2-core machine against 0.1 ms here."""
    if mask.device.type == "cpu":
        return tuple(torch.from_numpy(a) for a in np.nonzero(mask.numpy()))
    return torch.nonzero(mask, as_tuple=True)


def merge_topk(best_values: torch.Tensor, best_ids: torch.Tensor, rows: torch.Tensor, values: torch.Tensor,
               ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row r, the k largest of ``best_values[r]`` (n, kb) and of the entries ``values[rows == r]``, with ids.

    ``rows`` (p,) must be sorted ascending; every row needs ≥ k values in all. The entries are laid out densely,
    (n, max entries per row) padded with −inf, beside the best, and one ``torch.topk`` selects:
    O(n·(kb + max count)), no sort of the entries. Returns (values, ids), each (n, k), values descending.
    """
    n = best_values.shape[0]
    counts = torch.bincount(rows, minlength=n)
    width = int(counts.max()) if rows.numel() else 0
    position = torch.arange(rows.shape[0], device=rows.device) - (counts.cumsum(0) - counts)[rows]
    dense_values = best_values.new_full((n, width), float("-inf"))
    dense_ids = best_ids.new_full((n, width), -1)
    dense_values[rows, position] = values
    dense_ids[rows, position] = ids
    top_values, where = torch.cat([best_values, dense_values], 1).topk(k, dim=1)
    return top_values, torch.cat([best_ids, dense_ids], 1).gather(1, where)


def chunk_maxima(scores: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """(n, m) with m a multiple of ``chunk`` → (n, m / chunk): entry r of a row is max over columns r + W·t."""
    n, m = scores.shape
    return scores.view(n, chunk, m // chunk).amax(1)


def entries_at_least(scores: torch.Tensor, threshold: torch.Tensor, chunk: int = CHUNK,
                     maxima: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entries of ``scores`` (n, m), m a multiple of ``chunk``, with ``scores[i, j] ≥ threshold[i]``.

    Returns (rows, cols, values), each (n_found,). ``maxima``: :func:`chunk_maxima` of ``scores`` if the
    caller already has them. Exact: a chunk whose maximum is below the threshold holds no such entry.
    """
    n, m = scores.shape
    width = m // chunk
    if maxima is None:
        maxima = chunk_maxima(scores, chunk)
    rows, r = nonzero_2d(maxima >= threshold[:, None])                         # candidate chunks
    cols = (r[:, None] + width * torch.arange(chunk, device=scores.device)).reshape(-1)   # (n_cand·c,)
    rows = rows.repeat_interleave(chunk)
    values = torch.take(scores, rows * m + cols)
    keep = nonzero_2d((values >= threshold[rows])[None, :])[1]
    return rows[keep], cols[keep], values[keep]


@contextmanager
def limit_cpu_threads(n_threads: int = 1):
    """Run the enclosed torch CPU ops on at most ``n_threads`` threads (restored on exit).

    For loops of small, memory-bound ops (the k-select, per-cell IVF scans): measured on the shared 2-core
    machine this was written on, each small parallel op paid a thread synchronisation that made them 5–20×
    slower in CPU time than single-threaded (the steady-state select of a 512 × 16384 block: 7 ms on 1 thread,
    143 ms on 2). GEMMs outside the block keep torch's setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(threads, n_threads)))
    try:
        yield
    finally:
        torch.set_num_threads(threads)
