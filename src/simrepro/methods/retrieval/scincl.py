"""SciNCL-style neighbourhood contrastive learning (Ostendorff et al., EMNLP 2022) against SPECTER-style
citation triplets, on a citation-like graph with text nodes.

Pieces (n nodes, d text dimensions, m undirected edges):

- :func:`ancestor_closure_tree` — a connected subtree of a forest given by ``parent`` (the union of the root
  paths of ``n_sample`` drawn nodes) and its edges (child, parent) in local indices. O(n).
- :func:`split_edges` — a seeded split of the undirected edges into train / validation / test. O(m).
- :func:`deepwalk` — the citation-graph embedding (the stand-in for the paper's PyTorch-BigGraph vectors):
  uniform random walks on the *training* graph, embedded by gensim's skip-gram Word2Vec; rows unit norm.
- :func:`knn_ranks` — each node's nearest neighbours in the graph embedding by inner product (faiss
  ``IndexFlatIP``, exact), self excluded; :func:`knn_ranks_reference` is the plain numpy reference.
- :func:`specter_triplets` — SPECTER's sampling: positive = a training neighbour ("cited"), hard negative =
  a 2-hop node that is not a neighbour ("cited by a cited paper"), easy negative = a random non-neighbour.
- :func:`scincl_triplets` — SciNCL's: positive = a node of rank ``k`` in [k_pos_min, k_pos_max] of the anchor's
  kNN list, hard negative = rank in [k_neg_min, k_neg_max], easy negative = random outside the anchor's top
  ``k_pos_max`` ("random_without_knn").
- :func:`train_adapter` — a linear adapter ``z = normalize(W x)`` (W: d × d, identity at step 0) over frozen
  text embeddings, trained with the triplet margin loss both papers use,
  ``L = max(0, ‖z_a − z_p‖₂ − ‖z_a − z_n‖₂ + margin)``, for a fixed number of Adam steps.
- :func:`retrieval_eval` — held-out retrieval: each query ranks all other nodes by cosine, its training
  neighbours dropped (the filtered setting of link prediction), scored by :mod:`simrepro.metrics.ir`
  (pytrec_eval): relevant = held-out link partners (:func:`link_pairs`, the SciDocs "cite" analogue) or the
  held-out parent's other children (:func:`cocitation_pairs`, the "co-cite" analogue).
  :func:`average_precision_reference` is a numpy AP for the tests.

A triplet set is an ``(t, 3)`` int64 array of (anchor, positive, negative) node indices.
"""

from __future__ import annotations

import numpy as np

HARD_FRACTION = 0.4   # official run_specter: 2 hard + 3 easy negatives per query (README lines 303-305)


# --------------------------------------------------------------------------------------------- graph
def largest_component(parent: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Sorted global ids of the largest connected component of the forest induced on ``nodes`` by the
    (child, parent) links whose both ends lie in ``nodes`` (ties: the component of the smallest node)."""
    import scipy.sparse as sp
    import scipy.sparse.csgraph as cg
    parent = _check_parent(parent)
    nodes = np.unique(np.asarray(nodes, np.int64))
    if nodes.size == 0:
        raise ValueError("nodes is empty")
    if nodes.min() < 0 or nodes.max() >= parent.size:
        raise ValueError(f"nodes must lie in 0..{parent.size - 1}")
    local = np.full(parent.size, -1, np.int64)
    local[nodes] = np.arange(nodes.size)
    par = parent[nodes]
    has = (par >= 0) & (local[np.maximum(par, 0)] >= 0)
    rows, cols = np.flatnonzero(has), local[par[has]]
    a = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(nodes.size, nodes.size))
    _, lab = cg.connected_components(a, directed=False)
    return nodes[lab == np.argmax(np.bincount(lab))]


def _check_parent(parent: np.ndarray) -> np.ndarray:
    parent = np.asarray(parent)
    if parent.ndim != 1 or parent.dtype.kind not in "iu":
        raise ValueError(f"parent must be a 1-d integer array (−1 for roots), got {parent.dtype} {parent.shape}")
    return parent.astype(np.int64)


def ancestor_closure_tree(parent: np.ndarray, n_sample: int, *, among: np.ndarray | None = None,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(node ids (n,) sorted global indices, edges (e, 2) local (child, parent)): the union of the root paths
    of ``n_sample`` nodes drawn uniformly without replacement (``default_rng(seed)``) from ``among`` (default:
    all nodes), a path stopping where its parent is a root or lies outside ``among``. With ``among`` a
    connected subtree (e.g. :func:`largest_component`) the result is connected: e = n − 1."""
    parent = _check_parent(parent)
    pool = np.arange(parent.size) if among is None else np.unique(np.asarray(among, np.int64))
    if pool.size and (pool.min() < 0 or pool.max() >= parent.size):
        raise ValueError(f"among must lie in 0..{parent.size - 1}")
    if not 1 <= n_sample <= pool.size:
        raise ValueError(f"n_sample must be in 1..{pool.size} (the nodes to draw from), got {n_sample}")
    inside = np.zeros(parent.size, bool)
    inside[pool] = True
    drawn = np.random.default_rng(seed).choice(pool, n_sample, replace=False)
    keep: set[int] = set()
    for i in drawn:
        i = int(i)
        path: set[int] = set()
        while i >= 0 and inside[i] and i not in keep:
            if i in path:
                raise ValueError("parent contains a cycle; it must describe a forest")
            path.add(i)
            i = int(parent[i])
        keep |= path
    ids = np.array(sorted(keep), dtype=np.int64)
    local = {int(v): k for k, v in enumerate(ids)}
    edges = np.array([(local[int(v)], local[int(parent[v])]) for v in ids if int(parent[v]) in local],
                     dtype=np.int64)
    return ids, edges.reshape(-1, 2)


def _check_edges(edges: np.ndarray, n: int) -> np.ndarray:
    edges = np.asarray(edges)
    if edges.ndim != 2 or edges.shape[1] != 2 or (edges.size and edges.dtype.kind not in "iu"):
        raise ValueError(f"edges must be an (m, 2) integer array, got {edges.dtype} {edges.shape}")
    edges = edges.astype(np.int64).reshape(-1, 2)
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        raise ValueError(f"edge endpoints must lie in 0..{n - 1}")
    if edges.size and (edges[:, 0] == edges[:, 1]).any():
        raise ValueError("self-loops are not allowed; drop the rows with edges[:, 0] == edges[:, 1]")
    return edges


def split_edges(edges: np.ndarray, n: int, *, test_frac: float = 0.10, val_frac: float = 0.05,
                seed: int = 0) -> dict[str, np.ndarray]:
    """{'train', 'val', 'test'}: a seeded permutation of the edges cut into round(test_frac·m) test,
    round(val_frac·m) validation and the rest training edges."""
    edges = _check_edges(edges, n)
    if not (0 <= test_frac and 0 <= val_frac and test_frac + val_frac < 1):
        raise ValueError(f"need test_frac, val_frac ≥ 0 and test_frac + val_frac < 1, got {test_frac}, {val_frac}")
    m = len(edges)
    perm = np.random.default_rng(seed).permutation(m)
    n_test, n_val = int(round(test_frac * m)), int(round(val_frac * m))
    return {"test": edges[perm[:n_test]], "val": edges[perm[n_test:n_test + n_val]],
            "train": edges[perm[n_test + n_val:]]}


def adjacency(edges: np.ndarray, n: int):
    """Symmetric CSR adjacency (n, n) of 0/1 entries of the undirected edges (duplicates merged)."""
    import scipy.sparse as sp
    edges = _check_edges(edges, n)
    a = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    a = ((a + a.T) > 0).astype(np.float64).tocsr()
    a.sort_indices()
    return a


def neighbour_sets(adj) -> list[np.ndarray]:
    """Row i's neighbour indices (sorted) of a CSR adjacency."""
    return [adj.indices[adj.indptr[i]:adj.indptr[i + 1]] for i in range(adj.shape[0])]


# ------------------------------------------------------------------------------------ graph embedding
def random_walks(adj, n_walks: int, length: int, *, seed: int = 0) -> np.ndarray:
    """(n_walks · n_active, length) uniform random walks starting ``n_walks`` times from every node with at
    least one neighbour (isolated nodes get no walk)."""
    if n_walks < 1 or length < 1:
        raise ValueError(f"n_walks and length must be ≥ 1, got {n_walks}, {length}")
    rng = np.random.default_rng(seed)
    ind, ptr = adj.indices, adj.indptr
    deg = np.diff(ptr)
    start = np.flatnonzero(deg > 0)
    cur = np.repeat(start, n_walks)
    walks = [cur]
    for _ in range(length - 1):
        cur = ind[ptr[cur] + (rng.random(cur.size) * deg[cur]).astype(np.int64)]
        walks.append(cur)
    return np.stack(walks, 1)


def deepwalk(adj, *, dim: int = 64, n_walks: int = 10, length: int = 20, window: int = 5, epochs: int = 3,
             seed: int = 0) -> np.ndarray:
    """(n, dim) float32 DeepWalk embedding (Perozzi et al. 2014): gensim skip-gram with negative sampling over
    :func:`random_walks`; one worker so the result is a function of ``seed``. Rows unit norm; an isolated node
    (no training edge) gets a zero row — the graph holds nothing about it."""
    from gensim.models import Word2Vec
    n = adj.shape[0]
    walks = random_walks(adj, n_walks, length, seed=seed)
    model = Word2Vec([[str(v) for v in w] for w in walks], vector_size=dim, window=window, min_count=0, sg=1,
                     negative=5, workers=1, epochs=epochs, seed=seed)
    emb = np.zeros((n, dim), np.float32)
    for v in np.unique(walks):
        emb[v] = model.wv[str(v)]
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    return np.divide(emb, norm, out=np.zeros_like(emb), where=norm > 0)


def knn_ranks(emb: np.ndarray, k: int) -> np.ndarray:
    """(n, k) int64: row i = the k nodes of largest inner product with node i, best first, i itself excluded
    (exact faiss ``IndexFlatIP``; ties in faiss's order). Column j holds rank j + 1."""
    import faiss
    emb = _check_matrix(emb, "emb")
    n = len(emb)
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must be in 1..n−1 = {n - 1}, got {k}")
    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(emb)
    _, ids = index.search(emb, k + 1)
    out = np.empty((n, k), np.int64)
    for i in range(n):
        row = ids[i][ids[i] != i]
        out[i] = row[:k]
    return out


def knn_ranks_reference(emb: np.ndarray, k: int) -> np.ndarray:
    """Plain numpy reference of :func:`knn_ranks` (stable sort: ties by smaller index first)."""
    emb = _check_matrix(emb, "emb").astype(np.float64)
    s = emb @ emb.T
    np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k].astype(np.int64)


def _check_matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be an (n ≥ 2, d ≥ 1) matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; clean the embeddings first")
    return np.ascontiguousarray(x)


# ------------------------------------------------------------------------------------------- samplers
def _anchors(candidates: np.ndarray, n_triplets: int, rng) -> np.ndarray:
    if candidates.size == 0:
        raise ValueError("no node can serve as an anchor (no training edge); hold out fewer edges")
    return rng.choice(candidates, n_triplets, replace=True)


def specter_triplets(adj, n_triplets: int, *, hard_fraction: float = HARD_FRACTION, seed: int = 0) -> np.ndarray:
    """(n_triplets, 3) SPECTER-style triplets from the training graph: anchor = a node with a neighbour;
    positive = one of its neighbours; negative = with probability ``hard_fraction`` a 2-hop node that is not
    a neighbour nor the anchor (an easy one when there is none), else a uniformly random non-neighbour."""
    rng = np.random.default_rng(seed)
    nbr = neighbour_sets(adj)
    n = adj.shape[0]
    anchors = _anchors(np.flatnonzero(np.diff(adj.indptr) > 0), n_triplets, rng)
    out = np.empty((n_triplets, 3), np.int64)
    two_hop: dict[int, np.ndarray] = {}
    for t, a in enumerate(anchors):
        a = int(a)
        out[t, 0], out[t, 1] = a, rng.choice(nbr[a])
        neg = -1
        if rng.random() < hard_fraction:
            if a not in two_hop:
                cand = np.unique(np.concatenate([nbr[int(b)] for b in nbr[a]]))
                two_hop[a] = np.setdiff1d(cand, np.r_[nbr[a], a])
            if two_hop[a].size:
                neg = int(rng.choice(two_hop[a]))
        while neg < 0:
            c = int(rng.integers(n))
            if c != a and not _member(nbr[a], c):
                neg = c
        out[t, 2] = neg
    return out


def scincl_triplets(knn: np.ndarray, n_triplets: int, *, pos_band: tuple[int, int], neg_band: tuple[int, int],
                    hard_fraction: float = HARD_FRACTION, anchors: np.ndarray | None = None,
                    seed: int = 0) -> np.ndarray:
    """(n_triplets, 3) SciNCL triplets from a kNN list ``knn`` (n, K) (column j = rank j + 1): positive = a
    node of rank in ``pos_band`` = [k_min, k_max] (inclusive, 1-based), negative = with probability
    ``hard_fraction`` a node of rank in ``neg_band``, else a random node outside the anchor's top k_max of
    the positive band (and ≠ anchor). ``anchors``: the allowed anchor nodes (default all)."""
    knn = np.asarray(knn)
    n, K = knn.shape
    for name, (lo, hi) in (("pos_band", pos_band), ("neg_band", neg_band)):
        if not 1 <= lo <= hi <= K:
            raise ValueError(f"{name} = {(lo, hi)} must satisfy 1 ≤ k_min ≤ k_max ≤ {K} (the kNN list's length)")
    rng = np.random.default_rng(seed)
    pool = np.arange(n) if anchors is None else np.asarray(anchors, np.int64)
    a = _anchors(pool, n_triplets, rng)
    pos = knn[a, rng.integers(pos_band[0] - 1, pos_band[1], n_triplets)]
    hard = knn[a, rng.integers(neg_band[0] - 1, neg_band[1], n_triplets)]
    is_hard = rng.random(n_triplets) < hard_fraction
    neg = hard.copy()
    for t in np.flatnonzero(~is_hard):
        excl = knn[a[t], :pos_band[1]]
        while True:
            c = int(rng.integers(n))
            if c != a[t] and not (excl == c).any():
                neg[t] = c
                break
    return np.stack([a, pos, neg], 1).astype(np.int64)


def _member(sorted_arr: np.ndarray, x: int) -> bool:
    i = np.searchsorted(sorted_arr, x)
    return bool(i < sorted_arr.size and sorted_arr[i] == x)


# ------------------------------------------------------------------------------------------- training
def train_adapter(x: np.ndarray, triplets: np.ndarray, *, steps: int = 300, batch: int = 128, lr: float = 1e-3,
                  margin: float = 0.5, seed: int = 0) -> np.ndarray:
    """(d, d) float32 W of the linear adapter z = normalize(W x), identity at step 0, trained with the triplet
    margin loss L = mean max(0, ‖z_a − z_p‖ − ‖z_a − z_n‖ + margin) by Adam for ``steps`` minibatches of
    ``batch`` triplets drawn with replacement (``seed``). ``steps = 0`` returns the identity."""
    import torch
    x = _check_matrix(x, "x")
    triplets = np.asarray(triplets)
    if triplets.ndim != 2 or triplets.shape[1] != 3 or triplets.size == 0:
        raise ValueError(f"triplets must be a non-empty (t, 3) integer array, got shape {triplets.shape}")
    if triplets.min() < 0 or triplets.max() >= len(x):
        raise ValueError(f"triplet indices must lie in 0..{len(x) - 1}")
    d = x.shape[1]
    g = torch.Generator().manual_seed(int(seed))
    X = torch.from_numpy(x)
    T = torch.from_numpy(triplets.astype(np.int64))
    W = torch.nn.Parameter(torch.eye(d))
    opt = torch.optim.Adam([W], lr=lr)
    for _ in range(steps):
        b = T[torch.randint(len(T), (batch,), generator=g)]
        z = torch.nn.functional.normalize(X[b.reshape(-1)] @ W.T, dim=1).reshape(batch, 3, d)
        loss = torch.relu((z[:, 0] - z[:, 1]).norm(dim=1) - (z[:, 0] - z[:, 2]).norm(dim=1) + margin).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return W.detach().numpy().astype(np.float32)


def apply_adapter(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(n, d) unit rows of x Wᵀ (zero rows stay zero)."""
    z = _check_matrix(x, "x") @ np.asarray(W, np.float32).T
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    return np.divide(z, norm, out=np.zeros_like(z), where=norm > 0)


# ----------------------------------------------------------------------------------------- evaluation
def link_pairs(heldout: np.ndarray) -> np.ndarray:
    """(2e, 2) (query, relevant) pairs of held-out link retrieval: each held-out edge in both directions."""
    heldout = np.asarray(heldout, np.int64).reshape(-1, 2)
    return np.concatenate([heldout, heldout[:, ::-1]]).astype(np.int64)


def cocitation_pairs(heldout: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(q, 2) (query, relevant) pairs of held-out *co-citation* retrieval on a tree: for each held-out edge
    (child u, parent p), the relevant nodes are the other children of p in the full ``edges`` (u's siblings,
    "cited by the same paper"). u's link to p is not in the training graph, so no training sample (a SPECTER
    2-hop negative, a kNN band of a graph without that edge) joins u to its siblings through p."""
    heldout = np.asarray(heldout, np.int64).reshape(-1, 2)
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    order = np.argsort(edges[:, 1], kind="stable")
    par_sorted = edges[order, 1]
    out = []
    for u, p in heldout:
        lo, hi = np.searchsorted(par_sorted, p), np.searchsorted(par_sorted, p, side="right")
        for c in edges[order[lo:hi], 0]:
            if c != u:
                out.append((u, c))
    return np.array(out, np.int64).reshape(-1, 2)


def retrieval_eval(z: np.ndarray, pairs: np.ndarray, train_adj, *, k: int = 100,
                   metrics=("map@100", "ndcg@10"), per_query: bool = False) -> dict:
    """Retrieval with unit rows ``z`` (n, d) judged by (query, relevant) ``pairs`` (grade 1): each query ranks
    all nodes but itself and its training neighbours (the filtered setting of link prediction) by cosine
    (exact faiss); its top ``k`` are scored by :func:`simrepro.metrics.ir.evaluate` (pytrec_eval)."""
    import faiss

    from simrepro.metrics import ir
    z = _check_matrix(z, "z")
    n = len(z)
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
        raise ValueError(f"pairs must be a non-empty (p, 2) array of (query, relevant) nodes, got {pairs.shape}")
    if pairs.min() < 0 or pairs.max() >= n:
        raise ValueError(f"pair nodes must lie in 0..{n - 1}")
    nbr = neighbour_sets(train_adj)
    qrels = ir.qrels_from_pairs((int(q), int(r), 1) for q, r in pairs)
    queries = np.unique(pairs[:, 0])
    kk = min(n, k + max(len(nbr[q]) for q in queries) + 1)
    index = faiss.IndexFlatIP(z.shape[1])
    index.add(z)
    scores, ids = index.search(z[queries], kk)
    S = np.zeros((len(queries), k))
    I = np.full((len(queries), k), -1, np.int64)
    for r, q in enumerate(queries):
        keep = (ids[r] != q) & (ids[r] >= 0) & ~np.isin(ids[r], nbr[q])
        s, i = scores[r][keep][:k], ids[r][keep][:k]
        S[r, :len(s)], I[r, :len(i)] = s, i
    run = ir.run_from_topk(S, I, [str(q) for q in queries], keep_order=True)
    return ir.evaluate(qrels, run, metrics, per_query=per_query)


def link_retrieval(z: np.ndarray, heldout: np.ndarray, train_adj, **kwargs) -> dict:
    """:func:`retrieval_eval` of held-out links (:func:`link_pairs`)."""
    return retrieval_eval(z, link_pairs(_check_edges(heldout, len(z))), train_adj, **kwargs)


def map_reference(z: np.ndarray, pairs: np.ndarray, train_adj, *, k: int = 100) -> float:
    """Plain numpy reference of :func:`retrieval_eval`'s MAP@k: dense cosine matrix, the query and its training
    neighbours masked, stable descending sort, :func:`average_precision_reference` per query, mean."""
    z = _check_matrix(z, "z").astype(np.float64)
    pairs = np.asarray(pairs, np.int64)
    nbr = neighbour_sets(train_adj)
    aps = []
    for q in np.unique(pairs[:, 0]):
        s = z @ z[q]
        s[q] = -np.inf
        s[nbr[q]] = -np.inf
        order = np.argsort(-s, kind="stable")
        order = order[np.isfinite(s[order])]
        aps.append(average_precision_reference(order, set(pairs[pairs[:, 0] == q, 1].tolist()), k))
    return float(np.mean(aps))


def average_precision_reference(ranked: np.ndarray, relevant: set[int], k: int | None = None) -> float:
    """AP of one ranking (best first) cut at k: (1/|relevant|) Σ_{r ≤ k, doc_r relevant} precision@r."""
    if not relevant:
        raise ValueError("relevant is empty; AP is undefined")
    ranked = list(ranked)[:k] if k is not None else list(ranked)
    hits, total = 0, 0.0
    for r, d in enumerate(ranked, 1):
        if int(d) in relevant:
            hits += 1
            total += hits / r
    return total / len(relevant)


# ----------------------------------------------------------------------------------------- experiment
def _bands_overlap(pb: tuple[int, int], nb: tuple[int, int]) -> bool:
    return not (nb[0] > pb[1] or nb[1] < pb[0])


def compare_samplers(x: np.ndarray, edges: np.ndarray, *, seed: int, pos_bands, neg_bands, steps: int = 300,
                     batch: int = 128, lr: float = 1e-4, margin: float = 0.5, triplets_per_anchor: int = 5,
                     hard_fraction: float = HARD_FRACTION, graph_dim: int = 64, n_walks: int = 10,
                     walk_length: int = 20, walk_epochs: int = 3, test_frac: float = 0.10, val_frac: float = 0.05, k_eval: int = 100) -> dict:
    """One seed of the comparison on text embeddings ``x`` (n, d) of the nodes of a tree ``edges``:

    1. split the edges (``seed``); the training graph gets a DeepWalk embedding (``seed``) and its kNN lists;
    2. train the adapter (equal ``steps``, ``batch``, ``lr``, ``margin``, the same anchors and triplet count
       ``triplets_per_anchor`` × #anchors) on SPECTER triplets and on SciNCL triplets for every (positive band,
       negative band) of the grid; the frozen encoder is the untrained baseline;
    3. "scincl" = the grid's non-overlapping configuration with the best *validation* link MAP (model
       selection on validation edges, disjoint from the test edges); "overlap" = its positive band used as the
       hard-negative band too (collisions between positives and negatives);
    4. score every model on the test edges: link retrieval and co-citation retrieval, MAP@k_eval, nDCG@10.

    Returns {'models': {name: {'val_link_map', 'link_map', 'link_ndcg', 'cocite_map', 'cocite_ndcg'}},
    'grid': {(pos_band, neg_band): model name}, 'selected': (pos_band, neg_band), 'n_nodes', 'n_anchors',
    'n_test_edges', 'n_cocite_queries', 'pos_is_neighbour': {name: fraction of positives that are training
    neighbours}, 'neg_is_sibling' (fraction of SPECTER hard negatives sharing the anchor's parent)}."""
    x = _check_matrix(x, "x")
    n = len(x)
    edges = _check_edges(edges, n)
    pos_bands = [tuple(map(int, b)) for b in pos_bands]
    neg_bands = [tuple(map(int, b)) for b in neg_bands]
    if not any(not _bands_overlap(p, q) for p in pos_bands for q in neg_bands):
        raise ValueError("the band grid has no non-overlapping (positive, negative) pair to select from")
    split = split_edges(edges, n, test_frac=test_frac, val_frac=val_frac, seed=seed)
    adj = adjacency(split["train"], n)
    k_max = max(b[1] for b in pos_bands + neg_bands)
    if k_max > n - 1:
        raise ValueError(f"the largest band rank {k_max} exceeds n − 1 = {n - 1}; use smaller bands or more nodes")
    knn = knn_ranks(deepwalk(adj, dim=graph_dim, n_walks=n_walks, length=walk_length, epochs=walk_epochs,
                             seed=seed), k_max)
    anchors = np.flatnonzero(np.diff(adj.indptr) > 0)
    n_trip = triplets_per_anchor * anchors.size
    val_pairs, test_pairs = link_pairs(split["val"]), link_pairs(split["test"])
    cocite = cocitation_pairs(split["test"], edges)
    nbr = neighbour_sets(adj)

    def score(z: np.ndarray) -> dict:
        v = retrieval_eval(z, val_pairs, adj, k=k_eval, metrics=(f"map@{k_eval}",))
        t = retrieval_eval(z, test_pairs, adj, k=k_eval, metrics=(f"map@{k_eval}", "ndcg@10"))
        c = retrieval_eval(z, cocite, adj, k=k_eval, metrics=(f"map@{k_eval}", "ndcg@10")) if len(cocite) else {}
        return {"val_link_map": v[f"map@{k_eval}"], "link_map": t[f"map@{k_eval}"], "link_ndcg": t["ndcg@10"],
                "cocite_map": c.get(f"map@{k_eval}", np.nan), "cocite_ndcg": c.get("ndcg@10", np.nan)}

    def fit(triplets: np.ndarray) -> dict:
        return score(apply_adapter(x, train_adapter(x, triplets, steps=steps, batch=batch, lr=lr, margin=margin,
                                                     seed=seed)))

    def pos_nbr(tr: np.ndarray) -> float:
        return float(np.mean([_member(nbr[a], p) for a, p in tr[:, :2]]))

    models, grid, pos_is_nbr = {"frozen": score(x)}, {}, {}
    spec = specter_triplets(adj, n_trip, hard_fraction=hard_fraction, seed=seed)
    models["specter"] = fit(spec)
    pos_is_nbr["specter"] = pos_nbr(spec)
    parent_of = np.full(n, -1, np.int64)
    parent_of[split["train"][:, 0]] = split["train"][:, 1]
    hard = spec[np.array([not _member(nbr[a], q) for a, q in spec[:, [0, 2]]])]
    sib = (parent_of[hard[:, 0]] >= 0) & (parent_of[hard[:, 0]] == parent_of[hard[:, 2]])
    for pb in pos_bands:
        for nb in neg_bands:
            name = f"scincl_p{pb[0]}-{pb[1]}_n{nb[0]}-{nb[1]}"
            tr = scincl_triplets(knn, n_trip, pos_band=pb, neg_band=nb, hard_fraction=hard_fraction,
                                 anchors=anchors, seed=seed)
            models[name], grid[(pb, nb)] = fit(tr), name
            pos_is_nbr[name] = pos_nbr(tr)
    ok = [key for key in grid if not _bands_overlap(*key)]
    selected = max(ok, key=lambda key: (models[grid[key]]["val_link_map"], -ok.index(key)))
    models["scincl"] = models[grid[selected]]
    pb = selected[0]
    if (pb, pb) in grid:
        models["overlap"] = models[grid[(pb, pb)]]
    else:
        models["overlap"] = fit(scincl_triplets(knn, n_trip, pos_band=pb, neg_band=pb, hard_fraction=hard_fraction,
                                                anchors=anchors, seed=seed))
    return {"models": models, "grid": grid, "selected": selected, "n_nodes": n, "n_anchors": int(anchors.size),
            "n_test_edges": int(len(split["test"])), "n_cocite_queries": int(np.unique(cocite[:, 0]).size),
            "pos_is_neighbour": pos_is_nbr,
            "neg_is_sibling": float(sib.mean()) if sib.size else float("nan")}
