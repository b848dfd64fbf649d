r"""GriTS: grid table similarity (Smock, Pesala & Abraham, ICDAR 2023, arXiv 2203.12555).

A table is compared as a matrix. For an (R_A × C_A) true grid A and an (R_B × C_B) predicted grid B and a cell
similarity f ∈ [0, 1], the *2D most similar substructures* (2D-MSS) problem picks order-preserving row subsequences
and column subsequences of equal lengths, A' = A[r_A, c_A] and B' = B[r_B, c_B], maximising

    S(A, B) = Σᵢⱼ f(A'ᵢⱼ, B'ᵢⱼ)               and    GriTS_f(A, B) = 2 S / (|A| + |B|)

(an F-score: precision S/|B|, recall S/|A|). The problem is NP-hard; the *factored* heuristic aligns rows and
columns separately:
- row-pair reward Wᵣ[i, k] = best 1-D alignment of row i of A with row k of B under f; aligning rows under Wᵣ gives
  the row score Sᵣ and row subsequences; likewise for columns (S_c). Each relaxes the 2-D problem (every row pair
  may choose its own column alignment), so S ≤ min(Sᵣ, S_c): the **upper bound**.
- the cells at (aligned rows) × (aligned columns) form a feasible solution: its score is the **lower bound**,
  which is the reported GriTS.
Variants: GriTS_Top uses IoU of the cells' relative spans, GriTS_Loc IoU of cell boxes, GriTS_Con the LCS string
similarity 2·|LCS(s, t)| / (|s| + |t|).

1-D alignment is the weighted-LCS dynamic programme D[i, j] = max(D[i−1, j], D[i, j−1], D[i−1, j−1] + W[i−1, j−1]);
one row of D is a running maximum, so rows are vectorised and many alignments run as one batch. Ties in the
traceback prefer the diagonal, then skipping an element of the first sequence, as the official code does.
:func:`exact_2dmss` solves 2D-MSS exactly for small grids: for every pair of equal-length row subsequences the best
column choice is a 1-D alignment, so the optimum is the best of C(R_A + R_B, R_A) batched alignments.

The synthetic tables at the end (:class:`Table`, :func:`random_table`, :func:`corrupt_table`) are seeded test data
for the metric: cell grids with spanning cells, text and boxes, and the corruptions a recogniser makes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np
from math import comb

KINDS = ("top", "con", "loc")


# ---------------------------------------------------------------- cell similarities → reward tensors (Ra, Ca, Rb, Cb)

def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def iou_tensor(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of grid a (Ra, Ca, 4) with every box of grid b (Rb, Cb, 4), boxes (x0, y0, x1, y1);
    0 where the union has no area."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    for name, g in (("a", a), ("b", b)):
        if g.ndim != 3 or g.shape[-1] != 4:
            raise ValueError(f"{name}: expected a (rows, cols, 4) grid of boxes, got shape {g.shape}")
        if not np.isfinite(g).all():
            raise ValueError(f"{name}: boxes contain NaN or inf")
    a4, b4 = a[:, :, None, None, :], b[None, None, :, :, :]
    w = np.clip(np.minimum(a4[..., 2], b4[..., 2]) - np.maximum(a4[..., 0], b4[..., 0]), 0, None)
    h = np.clip(np.minimum(a4[..., 3], b4[..., 3]) - np.maximum(a4[..., 1], b4[..., 1]), 0, None)
    inter = w * h
    union = _area(a4) + _area(b4) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _char_masks(t: str) -> dict[str, int]:
    """Bit j of mask[c] is set where t[j] == c."""
    masks: dict[str, int] = {}
    for j, ch in enumerate(t):
        masks[ch] = masks.get(ch, 0) | (1 << j)
    return masks


def lcs_length(s: str, t: str) -> int:
    """Length of the longest common subsequence, bit-parallel (Allison & Dix 1986; Hyyrö 2004): a bit vector V
    over t's positions, all ones at the start; for each character c of s, U = V & M[c], V = (V + U) | (V − U)
    (mod 2^|t|); the LCS length is the number of zero bits of V. O(|s|·⌈|t|/w⌉) word operations."""
    if not s or not t:
        return 0
    masks, full = _char_masks(t), (1 << len(t)) - 1
    v = full
    for ch in s:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
    return len(t) - v.bit_count()


def lcs_length_reference(s: str, t: str) -> int:
    """The textbook O(|s|·|t|) dynamic programme, one cell at a time."""
    d = [[0] * (len(t) + 1) for _ in range(len(s) + 1)]
    for i, a in enumerate(s, 1):
        for j, b in enumerate(t, 1):
            d[i][j] = d[i - 1][j - 1] + 1 if a == b else max(d[i - 1][j], d[i][j - 1])
    return d[-1][-1]


def lcs_similarity(s: str, t: str) -> float:
    """2·|LCS(s, t)| / (|s| + |t|); 1 for equal strings (two empty strings included)."""
    if s == t:
        return 1.0
    return 2.0 * lcs_length(s, t) / (len(s) + len(t))


def _lcs_lengths(texts_a: list[str], texts_b: list[str]) -> np.ndarray:
    """LCS length of every pair (len(texts_a), len(texts_b)): the bit-parallel recurrence of :func:`lcs_length`
    run on all pairs at once in uint64 lanes (strings of ``texts_b`` ≤ 64 characters), one step per character
    position of ``texts_a``; O(max|a| · pairs) vector operations."""
    alphabet = {ch: i for i, ch in enumerate(sorted({ch for t in texts_b for ch in t}))}
    masks = np.zeros((len(texts_b), len(alphabet) + 1), dtype=np.uint64)     # last column: absent from texts_b
    for k, t in enumerate(texts_b):
        for ch, m in _char_masks(t).items():
            masks[k, alphabet[ch]] = m
    steps = max(map(len, texts_a))
    chars = np.full((len(texts_a), steps), len(alphabet), dtype=np.intp)   # padding steps: mask 0, V unchanged
    for i, s in enumerate(texts_a):
        chars[i, :len(s)] = [alphabet.get(ch, len(alphabet)) for ch in s]
    lengths_b = np.array([len(t) for t in texts_b], dtype=np.uint64)
    full = np.where(lengths_b == 64, np.uint64(2 ** 64 - 1),
                    (np.uint64(1) << np.minimum(lengths_b, np.uint64(63))) - np.uint64(1))
    v = np.broadcast_to(full, (len(texts_a), len(texts_b))).copy()
    for i in range(steps):
        u = v & masks[:, chars[:, i]].T
        v = ((v + u) | (v - u)) & full                                        # uint64 wraps: mod 2^64
    return lengths_b.astype(np.int64) - np.bitwise_count(v).astype(np.int64)


def lcs_tensor(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """LCS similarity of every cell text of grid a (Ra, Ca) with every one of grid b (Rb, Cb), computed once per
    pair of distinct texts (all pairs at once where b's texts fit 64 bits, one pair at a time otherwise)."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    for name, g in (("a", a), ("b", b)):
        if g.ndim != 2:
            raise ValueError(f"{name}: expected a (rows, cols) grid of strings, got shape {g.shape}")
    index_a: dict[str, int] = {}
    index_b: dict[str, int] = {}
    cells_a = np.array([index_a.setdefault(str(s), len(index_a)) for s in a.ravel()], dtype=np.intp)
    cells_b = np.array([index_b.setdefault(str(t), len(index_b)) for t in b.ravel()], dtype=np.intp)
    texts_a, texts_b = list(index_a), list(index_b)
    if not texts_a or not texts_b:
        return np.empty(a.shape + b.shape)
    if max(map(len, texts_b)) <= 64:
        lengths = _lcs_lengths(texts_a, texts_b)
    else:
        lengths = np.array([[lcs_length(s, t) for t in texts_b] for s in texts_a], dtype=np.int64).reshape(
            len(texts_a), len(texts_b))
    total = np.add.outer([len(s) for s in texts_a], [len(t) for t in texts_b])
    sim = np.where(total > 0, 2.0 * lengths / np.maximum(total, 1), 1.0)
    sim[np.equal.outer(np.array(texts_a, dtype=object), np.array(texts_b, dtype=object))] = 1.0
    return sim[cells_a[:, None], cells_b[None, :]].reshape(a.shape + b.shape)


def reward_tensor(true_grid, pred_grid, kind: str) -> np.ndarray:
    """f(A[i, j], B[k, l]) for every pair of grid cells: (Ra, Ca, Rb, Cb); kind = top | loc (IoU) or con (LCS)."""
    if kind not in KINDS:
        raise ValueError(f"unknown GriTS kind {kind!r}; expected one of {', '.join(KINDS)}")
    return lcs_tensor(true_grid, pred_grid) if kind == "con" else iou_tensor(true_grid, pred_grid)


# ---------------------------------------------------------------- 1-D alignment and the factored 2D-MSS

def alignment_scores(w: np.ndarray) -> np.ndarray:
    """Best monotone alignment score of each (n, m) weight matrix in a batch w (..., n, m) → (...)."""
    w = np.asarray(w, dtype=np.float64)
    d = np.zeros(w.shape[:-2] + (w.shape[-1] + 1,))
    for i in range(w.shape[-2]):
        cand = np.maximum(d[..., 1:], d[..., :-1] + w[..., i, :])
        d[..., 1:] = np.maximum.accumulate(cand, axis=-1)
    return d[..., -1]


def align_1d(w: np.ndarray) -> tuple[float, list[int], list[int]]:
    """Best monotone alignment of two sequences under pair rewards w (n, m): (score, indices in a, indices in b)."""
    w = np.asarray(w, dtype=np.float64)
    n, m = w.shape
    d = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        cand = np.maximum(d[i - 1, 1:], d[i - 1, :-1] + w[i - 1])
        d[i, 1:] = np.maximum.accumulate(cand)
    ia, ib, i, j = [], [], n, m
    while i > 0 and j > 0:
        if d[i, j] == d[i - 1, j - 1] + w[i - 1, j - 1]:
            i, j = i - 1, j - 1
            ia.append(i)
            ib.append(j)
        elif d[i, j] == d[i - 1, j]:
            i -= 1
        else:
            j -= 1
    return float(d[n, m]), ia[::-1], ib[::-1]


@dataclass(frozen=True)
class Mss:
    """Result of the factored 2D-MSS: lower bound (feasible score), upper bound, and the chosen substructures."""
    lower: float
    upper: float
    rows_true: list[int]
    rows_pred: list[int]
    cols_true: list[int]
    cols_pred: list[int]


def factored_2dmss(reward: np.ndarray) -> Mss:
    """Factored 2D-MSS heuristic on a reward tensor (Ra, Ca, Rb, Cb); lower ≤ optimum ≤ upper (module docstring)."""
    reward = np.asarray(reward, dtype=np.float64)
    if reward.ndim != 4:
        raise ValueError(f"reward: expected a (Ra, Ca, Rb, Cb) tensor, got shape {reward.shape}")
    row_pairs = alignment_scores(reward.transpose(0, 2, 1, 3))     # (Ra, Rb): align row i with row k over columns
    col_pairs = alignment_scores(reward.transpose(1, 3, 0, 2))     # (Ca, Cb): align column j with column l over rows
    row_score, rows_a, rows_b = align_1d(row_pairs)
    col_score, cols_a, cols_b = align_1d(col_pairs)
    ta, tb = np.array(rows_a, dtype=int)[:, None], np.array(rows_b, dtype=int)[:, None]
    lower = float(reward[ta, np.array(cols_a, dtype=int)[None, :], tb, np.array(cols_b, dtype=int)[None, :]].sum())
    return Mss(lower, min(row_score, col_score), rows_a, rows_b, cols_a, cols_b)


def exact_2dmss(reward: np.ndarray, max_pairs: int = 200_000) -> float:
    """Exact 2D-MSS score by enumerating equal-length row subsequence pairs (C(Ra + Rb, Ra) of them) and solving
    the column choice of each exactly by batched 1-D alignment. Refuses more than ``max_pairs`` pairs."""
    reward = np.asarray(reward, dtype=np.float64)
    ra, ca, rb, cb = reward.shape
    if comb(ra + rb, ra) > max_pairs:
        raise ValueError(f"exact 2D-MSS of {ra}- and {rb}-row grids needs {comb(ra + rb, ra)} alignments "
                         f"(> max_pairs={max_pairs}); use smaller grids or factored_2dmss")
    best = 0.0
    for k in range(1, min(ra, rb) + 1):
        subs_a = list(itertools.combinations(range(ra), k))
        subs_b = np.array(list(itertools.combinations(range(rb), k)))
        for sa in subs_a:
            # W[p, j, l] = Σₜ reward[sa[t], j, subs_b[p, t], l]: column rewards for this row choice
            w = reward[list(sa)][:, :, subs_b, :]                       # (k, Ca, P, k, Cb)
            w = w[np.arange(k), :, :, np.arange(k), :].sum(0)            # (Ca, P, Cb)
            best = max(best, float(alignment_scores(w.transpose(1, 0, 2)).max()))
    return best


@dataclass(frozen=True)
class Grits:
    """GriTS F-score (from the lower bound), its precision and recall, and the F-score of the upper bound."""
    fscore: float
    precision: float
    recall: float
    upper_fscore: float


def fscore(score: float, n_true: int, n_pred: int) -> tuple[float, float, float]:
    """(F, precision, recall) with precision = score/n_pred (1 if no prediction), recall = score/n_true (1 if none)."""
    precision = score / n_pred if n_pred > 0 else 1.0
    recall = score / n_true if n_true > 0 else 1.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return f, precision, recall


def grits(true_grid, pred_grid, kind: str) -> Grits:
    """GriTS_Top / _Loc (grids of boxes (R, C, 4)) or GriTS_Con (grids of strings (R, C)) of a predicted table."""
    reward = reward_tensor(true_grid, pred_grid, kind)
    mss = factored_2dmss(reward)
    n_true, n_pred = reward.shape[0] * reward.shape[1], reward.shape[2] * reward.shape[3]
    f, p, r = fscore(mss.lower, n_true, n_pred)
    return Grits(f, p, r, fscore(mss.upper, n_true, n_pred)[0])


# ---------------------------------------------------------------- seeded synthetic tables

@dataclass(frozen=True)
class Table:
    """A table on an R × C grid: ``owner[i, j]`` is the id of the cell covering slot (i, j) (cells are rectangles),
    ``text[id]`` its content, ``row_edges`` (R+1,) and ``col_edges`` (C+1,) the grid lines, ``jitter[id]`` a box
    offset (x0, y0, x1, y1) of a predicted cell."""
    owner: np.ndarray
    text: dict
    row_edges: np.ndarray
    col_edges: np.ndarray
    jitter: dict = field(default_factory=dict)

    def _extent(self, cid: int) -> tuple[int, int, int, int]:
        rows, cols = np.nonzero(self.owner == cid)
        return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1

    def grids(self) -> dict[str, np.ndarray]:
        """``top`` (R, C, 4) relative spans, ``loc`` (R, C, 4) cell boxes, ``con`` (R, C) cell texts."""
        r, c = self.owner.shape
        top, loc = np.zeros((r, c, 4)), np.zeros((r, c, 4))
        con = np.empty((r, c), dtype=object)
        extents = {cid: self._extent(cid) for cid in np.unique(self.owner)}
        for (i, j), cid in np.ndenumerate(self.owner):
            r0, c0, r1, c1 = extents[cid]
            top[i, j] = (c0 - j, r0 - i, c1 - j, r1 - i)
            loc[i, j] = np.array([self.col_edges[c0], self.row_edges[r0], self.col_edges[c1], self.row_edges[r1]]) \
                + self.jitter.get(cid, 0.0)
            con[i, j] = self.text[cid]
        return {"top": top, "loc": loc, "con": con}


_WORDS = ("total", "mean", "sd", "n", "age", "group", "control", "dose", "male", "female", "p", "ci", "ratio",
          "score", "baseline", "week", "value", "model", "error", "rate")


def _word(rng: np.random.Generator) -> str:
    return str(rng.integers(0, 1000)) if rng.random() < 0.5 else str(rng.choice(_WORDS))


def random_table(rng: np.random.Generator, n_rows: int, n_cols: int, *, span_prob: float = 0.3,
                 blank_prob: float = 0.1) -> Table:
    """A seeded random table: a header row whose cells may span 2 columns, a first column whose cells may span 2
    rows, random words/numbers (blank with ``blank_prob``), random row heights and column widths."""
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"a table needs at least one row and one column, got {n_rows} × {n_cols}")
    owner = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    for j in range(0, n_cols - 1, 2):                        # header spans
        if rng.random() < span_prob:
            owner[0, j + 1] = owner[0, j]
    for i in range(1, n_rows - 1, 2):                        # row-header spans
        if rng.random() < span_prob:
            owner[i + 1, 0] = owner[i, 0]
    text = {int(cid): ("" if rng.random() < blank_prob else _word(rng)) for cid in np.unique(owner)}
    row_edges = np.concatenate(([0.0], np.cumsum(rng.uniform(10, 20, n_rows))))
    col_edges = np.concatenate(([0.0], np.cumsum(rng.uniform(30, 80, n_cols))))
    return Table(owner, text, row_edges, col_edges)


CORRUPTIONS = ("delete_row", "insert_row", "delete_col", "merge_cells", "split_cell", "typo", "jitter")


def corrupt_table(table: Table, rng: np.random.Generator, kind: str) -> Table:
    """One corruption a table recogniser makes (``CORRUPTIONS``); returns a new table (the input is untouched)."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; expected one of {', '.join(CORRUPTIONS)}")
    owner, text = table.owner.copy(), dict(table.text)
    r, c = owner.shape
    new_id = max(text) + 1
    if kind == "delete_row" and r > 1:
        i = int(rng.integers(r))
        heights = np.diff(table.row_edges)
        owner = np.delete(owner, i, 0)
        row_edges = np.concatenate(([0.0], np.cumsum(np.delete(heights, i))))
        return replace(table, owner=owner, text={k: v for k, v in text.items() if k in owner}, row_edges=row_edges)
    if kind == "delete_col" and c > 1:
        j = int(rng.integers(c))
        widths = np.diff(table.col_edges)
        owner = np.delete(owner, j, 1)
        col_edges = np.concatenate(([0.0], np.cumsum(np.delete(widths, j))))
        return replace(table, owner=owner, text={k: v for k, v in text.items() if k in owner}, col_edges=col_edges)
    if kind == "insert_row":
        i = int(rng.integers(r + 1))
        ids = np.arange(new_id, new_id + c)
        text.update({int(k): _word(rng) for k in ids})
        heights = np.insert(np.diff(table.row_edges), i, rng.uniform(10, 20))
        return replace(table, owner=np.insert(owner, i, ids, 0), text=text,
                       row_edges=np.concatenate(([0.0], np.cumsum(heights))))
    if kind == "merge_cells":
        singles = [(i, j) for i in range(r) for j in range(c - 1)
                   if (owner == owner[i, j]).sum() == 1 and (owner == owner[i, j + 1]).sum() == 1]
        if singles:
            i, j = singles[int(rng.integers(len(singles)))]
            text[int(owner[i, j])] = (text[int(owner[i, j])] + " " + text.pop(int(owner[i, j + 1]))).strip()
            owner[i, j + 1] = owner[i, j]
        return replace(table, owner=owner, text=text)
    if kind == "split_cell":
        spanning = [int(k) for k, n in zip(*np.unique(owner, return_counts=True)) if n > 1]
        if spanning:
            cid = spanning[int(rng.integers(len(spanning)))]
            slots = np.argwhere(owner == cid)[1:]
            for t, (i, j) in enumerate(slots):
                owner[i, j] = new_id + t
                text[new_id + t] = ""
        return replace(table, owner=owner, text=text)
    if kind == "typo":
        cid = int(rng.choice(list(text)))
        word = text[cid] or "x"
        pos = int(rng.integers(len(word)))
        text[cid] = word[:pos] + str(rng.choice(list("abcdefgh0123"))) + word[pos + 1:]
        return replace(table, text=text)
    if kind == "jitter":
        return replace(table, jitter={int(k): rng.normal(0, 2.0, 4) for k in text})
    return table        # the corruption does not apply to this table (e.g. no spanning cell to split)
