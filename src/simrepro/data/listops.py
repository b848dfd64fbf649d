"""ListOps (Nangia & Bowman, 2018), the Long-Range-Arena task, generated offline with a seed at any length.

A sequence is a bracketed expression over the digits 0–9 and four operators, e.g. ``[MAX 2 9 [MIN 4 7 ] 0 ]``;
its label is the value (0–9). Operators as in LRA's generator (``lra_benchmarks/data/listops.py`` of the LRA
code, copied into github.com/thuml/Flowformer, ``Flowformer_LRA/lra_benchmarks/data/listops.py`` lines 54–145):
``[MIN``, ``[MAX``, ``[MED`` (``int(np.median(args))``), ``[SM`` (sum modulo 10); ``]`` closes an operator, whose
token includes its opening bracket. The tree is drawn top-down as there: each operand below ``max_depth`` is a
sub-expression with probability ``p_branch`` (LRA: 0.25), else a digit; an operator takes 2 … ``max_args``
operands; trees outside [min_length, max_length] tokens are redrawn. One difference: our root is always an
operator (LRA's may be a lone digit, which its length filter then drops). LRA's setting is max_depth 10,
max_args 10, lengths 500–2000; ours is the same task shortened (the knobs say by how much).

Tokens: 0 = padding, 1–10 = digits 0–9, 11–14 = MIN, MAX, MED, SM, 15 = ``]`` (``VOCAB`` lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VOCAB = ["<pad>"] + [str(i) for i in range(10)] + ["[MIN", "[MAX", "[MED", "[SM", "]"]
_OPS = ("[MIN", "[MAX", "[MED", "[SM")
_ID = {t: i for i, t in enumerate(VOCAB)}


@dataclass(frozen=True)
class ListOps:
    """tokens (n, max_length) int64, 0-padded; lengths (n,) int64; labels (n,) int64 in 0–9; depth (n,) int64
    (nesting depth of each expression, 1 = one operator over digits)."""
    tokens: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    depth: np.ndarray

    def text(self, i: int) -> str:
        """The i-th expression as text."""
        return " ".join(VOCAB[t] for t in self.tokens[i, : self.lengths[i]])


def _apply(op: str, args: list[int]) -> int:
    if op == "[MIN":
        return min(args)
    if op == "[MAX":
        return max(args)
    if op == "[MED":
        return int(np.median(args))
    return sum(args) % 10


def _draw(rng: np.random.Generator, depth: int, max_depth: int, max_args: int, p_branch: float):
    """(tokens, value, depth of the subtree)."""
    op = _OPS[rng.integers(len(_OPS))]
    n_args = int(rng.integers(2, max_args + 1))
    toks, vals, sub_depth = [op], [], 0
    for _ in range(n_args):
        if depth < max_depth and rng.random() < p_branch:
            t, val, dd = _draw(rng, depth + 1, max_depth, max_args, p_branch)
            toks += t
            sub_depth = max(sub_depth, dd)
        else:
            val = int(rng.integers(10))
            toks.append(str(val))
        vals.append(val)
    toks.append("]")
    return toks, _apply(op, vals), sub_depth + 1


def listops(n: int, *, max_depth: int = 3, max_args: int = 5, max_length: int = 64, min_length: int = 1,
            p_branch: float = 0.25, seed: int = 0) -> ListOps:
    """``n`` ListOps expressions with min_length ≤ tokens ≤ max_length, deterministic under ``seed``."""
    for name, val in (("n", n), ("max_depth", max_depth), ("max_args", max_args), ("max_length", max_length)):
        if not (isinstance(val, (int, np.integer)) and val >= 1):
            raise ValueError(f"{name} must be a positive integer, got {val!r}")
    if max_args < 2 or max_length < 4 or not 1 <= min_length <= max_length:
        raise ValueError(f"need max_args ≥ 2, max_length ≥ 4 (one operator, two digits, ']'), "
                         f"1 ≤ min_length ≤ max_length; got {max_args}, {max_length}, {min_length}")
    if not 0.0 <= p_branch < 1.0:
        raise ValueError(f"p_branch must lie in [0, 1), got {p_branch}")
    rng = np.random.default_rng(seed)
    tokens = np.zeros((n, max_length), dtype=np.int64)
    lengths, labels, depths = (np.zeros(n, dtype=np.int64) for _ in range(3))
    i, tries = 0, 0
    while i < n:
        tries += 1
        if tries > 1000 * n + 1000:
            raise RuntimeError(f"could not draw {n} expressions of length {min_length}–{max_length}; "
                               f"raise max_length or lower max_args / p_branch")
        toks, val, dd = _draw(rng, 1, max_depth, max_args, p_branch)
        if not min_length <= len(toks) <= max_length:
            continue
        tokens[i, : len(toks)] = [_ID[t] for t in toks]
        lengths[i], labels[i], depths[i] = len(toks), val, dd
        i += 1
    return ListOps(tokens, lengths, labels, depths)
