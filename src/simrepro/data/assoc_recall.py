r"""Seeded multi-query associative recall (MQAR-style; Arora et al., "Zoology", 2023): a context of key–value pairs,
then queries that repeat some of the keys; the model must emit each queried key's value.

Layout of one sequence (all sequences have the same length N = 2·n_pairs + n_queries):

    k_1 v_1 k_2 v_2 … k_P v_P | q_1 q_2 … q_Q          (P = n_pairs, Q = n_queries)

Keys are distinct tokens drawn from ``[0, n_keys)``; values are tokens drawn (with repetition) from
``[n_keys, n_keys + n_values)``; the queries are Q distinct keys of the context in random order. Targets are −100
(ignored) everywhere except at the query positions, where they hold the queried key's value, so a causal model
with per-position logits (``TinyTransformer(pool="none", causal=True)``) answers each query at its own position.
``answer_pos[i, j]`` is the context position of the value that query j of sequence i needs (for diagnosing which
cached tokens matter). Generation is vectorised: O(n · (n_keys + N)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AssocRecall:
    """tokens (n, N) int64; lengths (n,) int64 (all N); targets (n, N) int64 (−100 off the query positions);
    answer_pos (n, Q) int64 (context position of each query's value); context (= 2·n_pairs) and vocab_size."""
    tokens: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray
    answer_pos: np.ndarray
    context: int
    vocab_size: int

    def __len__(self) -> int:
        return len(self.tokens)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens, lengths, targets), the layout ``models.tiny_transformer.train_model`` takes."""
        return self.tokens, self.lengths, self.targets


def associative_recall(n: int, *, n_pairs: int = 16, n_queries: int = 4, n_keys: int = 32, n_values: int = 32,
                       seed: int = 0) -> AssocRecall:
    """``n`` sequences of multi-query associative recall, reproducible from ``seed`` (numpy PCG64)."""
    for name, v in (("n", n), ("n_pairs", n_pairs), ("n_queries", n_queries), ("n_keys", n_keys),
                    ("n_values", n_values)):
        if not isinstance(v, (int, np.integer)) or v < (0 if name == "n" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'n' else 'positive'} int, got {v!r}")
    if n_pairs > n_keys:
        raise ValueError(f"n_pairs ({n_pairs}) cannot exceed n_keys ({n_keys}): the keys of a context are distinct")
    if n_queries > n_pairs:
        raise ValueError(f"n_queries ({n_queries}) cannot exceed n_pairs ({n_pairs}): queries are distinct keys")
    rng = np.random.default_rng(seed)
    C, N = 2 * n_pairs, 2 * n_pairs + n_queries
    keys = np.argsort(rng.random((n, n_keys)), axis=1)[:, :n_pairs]                 # distinct keys per row
    values = n_keys + rng.integers(0, n_values, size=(n, n_pairs))
    which = np.argsort(rng.random((n, n_pairs)), axis=1)[:, :n_queries]             # which pairs are queried
    tokens = np.empty((n, N), np.int64)
    tokens[:, 0:C:2], tokens[:, 1:C:2] = keys, values
    rows = np.arange(n)[:, None]
    tokens[:, C:] = keys[rows, which]
    targets = np.full((n, N), -100, np.int64)
    targets[:, C:] = values[rows, which]
    return AssocRecall(tokens, np.full(n, N, np.int64), targets, (2 * which + 1).astype(np.int64), C,
                       n_keys + n_values)
