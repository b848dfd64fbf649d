r"""Group-InfoNCE vs multi- and single-positive InfoNCE for text-to-code retrieval, and near-duplicate detection
(CPRet, Deng et al., NeurIPS 2025 D&B, arXiv:2505.12925).

Losses. A batch holds ``b`` queries ``q`` (b, d) and, per query, ``P`` positive codes ``D`` (b, P, d); every row
is L2-normalised first (as the official losses do). ``τ`` is the temperature (official default 0.07,
``stage1/train.py`` L34). With ``u_ij = q_i·q_j / τ`` (query–query negatives, ``j ≠ i``):

- single-positive InfoNCE (official ``InfoNCELoss_gradcache``, ``stage1/loss.py`` L26–37), one code ``d_i`` per
  query, ``s_ij = q_i·d_j / τ``::

      L = mean_i [ −s_ii + log( Σ_j e^{s_ij} + Σ_{j≠i} e^{u_ij} ) ]

  (``qq_negatives=False`` drops the second sum: then it is :func:`simrepro.kernels.contrastive.info_nce_reference`.)
- multi-positive InfoNCE (the second ``InfoNCELoss_gradcache_multipos``, L74–100, which overrides the first
  definition at L47 in the module), ``a_ip = q_i·D_ip / τ``; each positive is scored alone against the other
  groups' codes and the other queries, never against its own group's other positives::

      L = mean_{i,p} [ −a_ip + log( e^{a_ip} + Σ_{j≠i, n} e^{q_i·D_jn/τ} + Σ_{j≠i} e^{u_ij} ) ]

- Group-InfoNCE (``GroupInfoNCELoss_gradcache_multipos``, L104–141), ``m_ij = mean_n q_i·D_jn`` (the mean
  query–group cosine) and the within-group variance penalty ``V_i = Var_n(q_i·D_in)`` (unbiased, ``torch.var``'s
  default)::

      L = mean_i [ −m_ii/τ + log( Σ_j e^{m_ij/τ} + Σ_{j≠i} e^{u_ij} ) ] + λ · mean_i V_i,   λ = 1/τ² (official)

All three are vectorised (O(b² P d)) beside a plain per-row loop reference (``*_reference``) used by the tests.

Training (:func:`train_adapter`): a linear adapter ``x ↦ x W`` (W ∈ R^{d×d}, initialised to the identity, shared
by queries and codes) over frozen sentence embeddings, AdamW, ``steps`` steps of ``batch`` groups. Positives are
drawn like the official ``stage1/dataset.py`` L66–75: ``P`` codes without replacement, or the group's codes
repeated to length ``P`` when it has fewer; single-positive InfoNCE gets one random code per group (the
official ``multi_pos = 1`` path).

Near duplicates: dense cosine ranking vs MinHash (``datasketch``) Jaccard estimates over word sets, each text
querying all others; ties broken by a seeded random order (never in the target's favour by construction).
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
import torch.nn.functional as F

LOSSES = ("single", "multipos", "group")


# ----------------------------------------------------------------------------------------------- validation
def _prep(q, D, *, grouped: bool):
    q = torch.as_tensor(q)
    D = torch.as_tensor(D)
    if not q.is_floating_point() or not D.is_floating_point():
        raise TypeError("embeddings must be floating point tensors")
    want = 3 if grouped else 2
    if q.ndim != 2 or D.ndim != want:
        raise ValueError(f"q must be (b, d) and the codes {'(b, P, d)' if grouped else '(b, d)'}, got "
                         f"{tuple(q.shape)} and {tuple(D.shape)}")
    if q.shape[0] == 0:
        raise ValueError("empty batch: need at least one query")
    if D.shape[0] != q.shape[0] or D.shape[-1] != q.shape[1]:
        raise ValueError(f"codes {tuple(D.shape)} do not match queries {tuple(q.shape)} (same b and d)")
    if grouped and D.shape[1] == 0:
        raise ValueError("each group needs at least one positive (P >= 1)")
    if not (torch.isfinite(q).all() and torch.isfinite(D).all()):
        raise ValueError("embeddings contain NaN or inf; clean them before computing the loss")
    if (q.norm(dim=-1) == 0).any() or (D.norm(dim=-1) == 0).any():
        raise ValueError("a zero embedding has no direction; drop it before computing the loss")
    dt = torch.promote_types(q.dtype, D.dtype)
    return F.normalize(q.to(dt), dim=-1), F.normalize(D.to(dt), dim=-1)


def _check_t(temperature: float) -> float:
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}; CPRet uses 0.07")
    return t


def _qq_offdiag(q: torch.Tensor, t: float) -> torch.Tensor:
    """(b, b) logits u_ij = q_i·q_j/τ with the diagonal at −inf (a query is not its own negative)."""
    u = q @ q.T / t
    return u.masked_fill(torch.eye(q.shape[0], dtype=torch.bool, device=q.device), -math.inf)


# ----------------------------------------------------------------------------------------------- losses
def single_infonce(q, d, temperature: float = 0.07, *, qq_negatives: bool = True) -> torch.Tensor:
    """Single-positive InfoNCE: ``(b, d) × (b, d) → ()`` (module doc, official loss.py L26–37)."""
    q, d = _prep(q, d, grouped=False)
    t = _check_t(temperature)
    s = q @ d.T / t                                                    # (b, b) query–code logits
    logits = torch.cat([s, _qq_offdiag(q, t)], dim=1) if qq_negatives else s
    return (torch.logsumexp(logits, dim=1) - s.diagonal()).mean()


def multipos_infonce(q, D, temperature: float = 0.07) -> torch.Tensor:
    """Multi-positive InfoNCE: ``(b, d) × (b, P, d) → ()`` (module doc, official loss.py L74–100)."""
    q, D = _prep(q, D, grouped=True)
    t = _check_t(temperature)
    b, P, _ = D.shape
    w = torch.einsum("ik,jnk->ijn", q, D) / t                          # (b, b, P)
    own = torch.eye(b, dtype=torch.bool, device=q.device)
    a = w[own]                                                         # (b, P): a_ip
    neg = torch.cat([w.masked_fill(own[:, :, None], -math.inf).reshape(b, b * P), _qq_offdiag(q, t)], dim=1)
    neg_lse = torch.logsumexp(neg, dim=1, keepdim=True)                # (b, 1)
    return (torch.logaddexp(a, neg_lse) - a).mean()


def group_infonce(q, D, temperature: float = 0.07, *, variance_weight: float | None = None,
                  return_parts: bool = False):
    """Group-InfoNCE: ``(b, d) × (b, P, d) → ()`` (module doc, official loss.py L104–141); ``variance_weight``
    λ defaults to the official 1/τ². With ``return_parts`` returns ``(loss, contrastive part, mean variance)``."""
    q, D = _prep(q, D, grouped=True)
    t = _check_t(temperature)
    lam = 1.0 / t ** 2 if variance_weight is None else float(variance_weight)
    sim = torch.einsum("ik,jnk->ijn", q, D)                           # (b, b, P) cosines
    m = sim.mean(dim=2) / t                                            # (b, b): m_ij / τ
    own = sim.diagonal(dim1=0, dim2=1).T                               # (b, P): q_i·D_in
    var = own.var(dim=1) if own.shape[1] > 1 else own.new_zeros(own.shape[0])
    logits = torch.cat([m, _qq_offdiag(q, t)], dim=1)
    contrast = (torch.logsumexp(logits, dim=1) - m.diagonal()).mean()
    loss = contrast + lam * var.mean()
    return (loss, contrast, var.mean()) if return_parts else loss


def single_infonce_reference(q, d, temperature: float = 0.07, *, qq_negatives: bool = True) -> torch.Tensor:
    """Plain loop over rows of the single-positive loss (the definition the vectorised path is tested against)."""
    q, d = _prep(q, d, grouped=False)
    t = _check_t(temperature)
    total = 0.0
    for i in range(q.shape[0]):
        den = sum(torch.exp(q[i] @ d[j] / t) for j in range(q.shape[0]))
        if qq_negatives:
            den = den + sum(torch.exp(q[i] @ q[j] / t) for j in range(q.shape[0]) if j != i)
        total = total - torch.log(torch.exp(q[i] @ d[i] / t) / den)
    return total / q.shape[0]


def multipos_infonce_reference(q, D, temperature: float = 0.07) -> torch.Tensor:
    q, D = _prep(q, D, grouped=True)
    t = _check_t(temperature)
    b, P, _ = D.shape
    total = 0.0
    for i in range(b):
        neg = sum(torch.exp(q[i] @ D[j, n] / t) for j in range(b) if j != i for n in range(P))
        neg = neg + sum(torch.exp(q[i] @ q[j] / t) for j in range(b) if j != i)
        for p in range(P):
            pos = torch.exp(q[i] @ D[i, p] / t)
            total = total - torch.log(pos / (pos + neg))
    return total / (b * P)


def group_infonce_reference(q, D, temperature: float = 0.07, *, variance_weight: float | None = None):
    q, D = _prep(q, D, grouped=True)
    t = _check_t(temperature)
    lam = 1.0 / t ** 2 if variance_weight is None else float(variance_weight)
    b, P, _ = D.shape
    total, var_sum = 0.0, 0.0
    for i in range(b):
        cos = [q[i] @ D[i, n] for n in range(P)]
        mean = sum(cos) / P
        if P > 1:
            var_sum = var_sum + sum((c - mean) ** 2 for c in cos) / (P - 1)
        den = sum(torch.exp(sum(q[i] @ D[j, n] for n in range(P)) / P / t) for j in range(b))
        den = den + sum(torch.exp(q[i] @ q[j] / t) for j in range(b) if j != i)
        total = total - torch.log(torch.exp(mean / t) / den)
    return total / b + lam * var_sum / b


# ----------------------------------------------------------------------------------------------- training
def sample_positives(n_codes: int, P: int, rng: np.random.Generator) -> np.ndarray:
    """``P`` indices into a group of ``n_codes``: without replacement, or the group repeated to length ``P`` when
    it is smaller (official stage1/dataset.py L66–75)."""
    if n_codes < 1 or P < 1:
        raise ValueError(f"need n_codes >= 1 and P >= 1, got {n_codes}, {P}")
    if n_codes < P:
        return np.concatenate([np.tile(np.arange(n_codes), P // n_codes), np.arange(P % n_codes)])
    return rng.choice(n_codes, P, replace=False)


def train_adapter(Q: np.ndarray, C: np.ndarray, groups: list[np.ndarray], loss: str, *, steps: int = 200,
                  batch: int = 32, n_pos: int = 4, lr: float = 1e-3, temperature: float = 0.07,
                  seed: int = 0, variance_weight: float | None = None) -> tuple[np.ndarray, list[float]]:
    """Train ``W`` (d, d) over frozen query rows ``Q`` (g, d) and code rows ``C`` (n, d); ``groups[i]`` indexes
    the codes of query ``i``. Returns ``(W, per-step losses)``. O(steps · batch² · n_pos · d).
    ``variance_weight`` (group loss only) overrides the official λ = 1/τ² (0 = the group mean alone)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if variance_weight is not None and loss != "group":
        raise ValueError("variance_weight applies to the group loss only")
    if len(groups) != len(Q) or len(Q) < 2:
        raise ValueError(f"need one index array per query and >= 2 queries, got {len(groups)} for {len(Q)}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    W = torch.nn.Parameter(torch.eye(Q.shape[1]))
    opt = torch.optim.AdamW([W], lr=lr, weight_decay=0.0)
    Qt, Ct = torch.as_tensor(Q, dtype=torch.float32), torch.as_tensor(C, dtype=torch.float32)
    b = min(batch, len(Q))
    hist = []
    for _ in range(steps):
        rows = rng.choice(len(Q), b, replace=False)
        if loss == "single":
            idx = np.array([groups[i][rng.integers(len(groups[i]))] for i in rows])
            val = single_infonce(Qt[rows] @ W, Ct[idx] @ W, temperature)
        else:
            idx = np.stack([groups[i][sample_positives(len(groups[i]), n_pos, rng)] for i in rows])
            qb, Db = Qt[rows] @ W, Ct[torch.as_tensor(idx)] @ W
            val = (multipos_infonce(qb, Db, temperature) if loss == "multipos"
                   else group_infonce(qb, Db, temperature, variance_weight=variance_weight))
        opt.zero_grad()
        val.backward()
        opt.step()
        hist.append(float(val.detach()))
    return W.detach().numpy().copy(), hist


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n == 0, 1.0, n)


def within_group_variance(Q: np.ndarray, C: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """(g,) unbiased variance over each group's codes of cos(q_i, c) (groups of one code give 0)."""
    Qn, Cn = _unit(np.asarray(Q, np.float64)), _unit(np.asarray(C, np.float64))
    return np.array([np.var(Cn[g] @ Qn[i], ddof=1) if len(g) > 1 else 0.0 for i, g in enumerate(groups)])


def _ranked(S: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of each row of ``S`` by decreasing score, ties in a seeded random order; −inf entries skipped."""
    if np.isnan(S).any():
        raise ValueError("similarity matrix contains NaN")
    k = min(k, S.shape[1])
    order = np.lexsort((rng.random(S.shape), -S), axis=-1)[:, :k]
    D = np.take_along_axis(S, order, axis=1)
    return D, np.where(np.isfinite(D), order, -1)


def evaluate_t2c(Q: np.ndarray, C: np.ndarray, groups: list[np.ndarray], W: np.ndarray | None = None, *,
                 k: int = 100, seed: int = 0) -> dict[str, float]:
    """Text-to-code retrieval of ``C`` rows for each ``Q`` row (relevant: its group) after the adapter ``W``:
    nDCG@10, recall@10, MRR@10 (pytrec_eval via :mod:`simrepro.metrics.ir`) and the mean within-group
    variance of cosines."""
    from simrepro.metrics import ir

    Qa, Ca = (Q, C) if W is None else (Q @ W, C @ W)
    Qa, Ca = _unit(np.asarray(Qa, np.float64)), _unit(np.asarray(Ca, np.float64))
    D, I = _ranked(Qa @ Ca.T, k, np.random.default_rng(seed))
    qids = [f"q{i}" for i in range(len(Q))]
    qrels = ir.qrels_from_pairs((f"q{i}", f"c{j}", 1) for i, g in enumerate(groups) for j in g)
    run = ir.run_from_topk(D, I, qids, [f"c{j}" for j in range(len(C))], keep_order=True)
    out = ir.evaluate(qrels, run, ("ndcg@10", "recall@10", "mrr@10"))
    out["within_var"] = float(within_group_variance(Qa, Ca, groups).mean())
    return out


# ----------------------------------------------------------------------------------------------- duplicates
_WORD = re.compile(r"[a-z0-9_]+")


def word_set(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def minhash_signatures(texts: list[str], *, num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """(n, num_perm) uint64 MinHash signatures (``datasketch.MinHash``) of each text's lower-cased word set."""
    from datasketch import MinHash

    out = np.empty((len(texts), num_perm), np.uint64)
    for i, t in enumerate(texts):
        m = MinHash(num_perm=num_perm, seed=seed)
        m.update_batch([w.encode() for w in sorted(word_set(t))])
        out[i] = m.hashvalues
    return out


def minhash_similarity(sig: np.ndarray) -> np.ndarray:
    """(n, n) Jaccard estimates: the fraction of equal signature slots (what ``MinHash.jaccard`` computes)."""
    sig = np.asarray(sig)
    if sig.ndim != 2:
        raise ValueError(f"signatures must be (n, num_perm), got {sig.shape}")
    eq = np.zeros((sig.shape[0], sig.shape[0]), np.int32)
    for j in range(sig.shape[1]):
        eq += sig[:, j, None] == sig[None, :, j]
    return eq / max(1, sig.shape[1])


def duplicate_retrieval(S: np.ndarray, pairs: np.ndarray, *, k: int = 10, seed: int = 0) -> dict[str, float]:
    """Each text of each planted pair ``(a, b)`` (rows of the (n, n) similarity ``S``) queries all other texts;
    its partner is the one relevant item. Returns recall@1, recall@10, MRR@10 (pytrec_eval) and the average
    precision of the planted pairs among all unordered pairs ranked by ``S`` (a threshold-free detection score)."""
    from sklearn.metrics import average_precision_score

    from simrepro.metrics import ir

    S = np.asarray(S, np.float64)
    pairs = np.asarray(pairs, int).reshape(-1, 2)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be square (n, n), got {S.shape}")
    if len(pairs) == 0:
        raise ValueError("no planted pairs to find")
    qs = np.concatenate([pairs[:, 0], pairs[:, 1]])
    targets = np.concatenate([pairs[:, 1], pairs[:, 0]])
    Sq = S[qs].copy()
    Sq[np.arange(len(qs)), qs] = -np.inf                               # a text is not its own duplicate
    D, I = _ranked(Sq, max(k, 10), np.random.default_rng(seed))
    qids = [f"q{i}" for i in range(len(qs))]
    qrels = ir.qrels_from_pairs((f"q{i}", f"d{t}", 1) for i, t in enumerate(targets))
    run = ir.run_from_topk(np.where(np.isfinite(D), D, 0.0), I, qids, [f"d{j}" for j in range(len(S))],
                           keep_order=True)
    out = ir.evaluate(qrels, run, ("recall@1", "recall@10", "mrr@10"))
    iu = np.triu_indices(len(S), 1)
    label = np.zeros((len(S), len(S)), bool)
    label[pairs[:, 0], pairs[:, 1]] = label[pairs[:, 1], pairs[:, 0]] = True
    out["pair_ap"] = float(average_precision_score(label[iu], S[iu]))
    return out
