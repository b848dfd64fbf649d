r"""Disease-specific path hypergraphs for drug-repurposing hypotheses (Jain, Charpignon, Chen, Philippakis & Alaa,
arXiv 2311.09596, 2023). No official code was found; this module implements the method as the abstract states it.

A knowledge graph G (drugs, genes, diseases) and a set of diseases 𝒟 define a hypergraph whose hyperedges are the
simple paths of G that start at a drug and end at a disease of 𝒟 (at most ``max_len`` edges; no other disease node
inside the path):

    ℰ(𝒟) = { p = (drug, v₁, …, v_k, δ) simple path in G : δ ∈ 𝒟, k + 1 ≤ max_len }          (1)

Nodes are embedded by the spectral embedding of the normalised hypergraph Laplacian (Zhou, Huang & Schölkopf 2006),
with H ∈ {0,1}^{n×m} the incidence matrix, W = I, D_v, D_e the node and hyperedge degrees:

    Θ = D_v^{-1/2} H W D_e^{-1} Hᵀ D_v^{-1/2},     Θ u_j = λ_j u_j,  λ₀ = 1 ≥ λ₁ ≥ …             (2)
    x_v = (u_1, …, u_d)[v]           (the trivial u₀ ∝ D_v^{1/2}·1 is dropped)

A path's embedding is its hyperedge embedding, the mean of its nodes' embeddings, e_p = D_e^{-1} Hᵀ X (3).
Drug r is scored for the disease of interest δ by the median cosine between its paths to δ and the paths to δ
of the drugs prescribed against δ (the abstract's ranking):

    s(r) = median { cos(e_p, e_q) : p ∈ ℰ_r(δ), q ∈ ∪_{c ∈ prescribed(δ)} ℰ_c(δ) }                (4)

Combining diseases (δ plus a risk factor) adds the risk factor's paths to the hypergraph: the paths to δ, the
reference set and the candidates stay the same, only the context that embeds the nodes changes.

Costs: path enumeration is a depth-first search, O(number of walks of length ≤ max_len) per drug; the embedding a
dense ``eigh`` of an (n, n) matrix, O(n³) (LAPACK; why not a Krylov solver: :func:`theta_eigenpairs`); the scores one (P_r, Q) cosine block per drug,
O(P·Q·d) in total, with the median by ``numpy.median`` (the mean of the two middle values for an even count).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

NODE_KINDS = ("drug", "gene", "disease")


@dataclass
class DrugKG:
    """A drug–gene–disease knowledge graph: nodes 0…n−1 with ``kind[v]`` ∈ NODE_KINDS and undirected ``edges``.

    ``names[v]`` labels each node; ``prescribed[δ]`` lists the drug nodes prescribed against disease ``δ`` (a node
    id); ``truth`` holds a synthetic generator's ground truth (modules, planted drugs)."""

    kind: np.ndarray
    edges: np.ndarray
    names: list[str]
    prescribed: dict[int, np.ndarray]
    truth: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.kind)

    def nodes(self, kind: str) -> np.ndarray:
        return np.flatnonzero(self.kind == NODE_KINDS.index(kind))

    def node(self, name: str) -> int:
        return self.names.index(name)

    def adjacency(self) -> sp.csr_matrix:
        """(n, n) symmetric 0/1 adjacency matrix."""
        i, j = self.edges[:, 0], self.edges[:, 1]
        A = sp.coo_matrix((np.ones(2 * len(i)), (np.r_[i, j], np.r_[j, i])), shape=(self.n, self.n)).tocsr()
        A.data[:] = 1.0
        return A


def synthetic_drug_kg(*, n_drugs: int = 300, module_size: int = 30, n_background_modules: int = 8,
                      deg_in: float = 4.0, deg_out: float = 0.5, n_prescribed: int = 8, targets_per_drug: int = 2,
                      assoc_core: float = 0.5, assoc_shared: float = 0.15, assoc_bridge: float = 0.15,
                      seed: int = 0) -> DrugKG:
    """Seeded drug–gene–disease KG with a planted repurposing signal (replication plan, 116 'Data').

    Gene modules (``module_size`` genes each): ``M_AD`` (AD core), ``M_AD_T2D`` and ``M_AD_HTN`` (shared with a
    risk factor), ``M_T2D``, ``M_HTN`` (risk-factor specific) and ``n_background_modules`` unrelated modules.
    Gene–gene edges: planted partition with expected within-module degree ``deg_in`` and between-module degree
    ``deg_out``. Disease–gene associations, each gene independently with probability:

    - AD: ``assoc_core`` of M_AD; ``assoc_shared`` of M_AD_T2D and of M_AD_HTN;
    - T2D: ``assoc_core`` of M_AD_T2D and M_T2D; ``assoc_bridge`` of M_AD (the shared biology the risk factor
      reveals); HTN likewise with M_AD_HTN, M_HTN.

    Drugs (``targets_per_drug`` targets each): ``n_prescribed`` AD drugs on M_AD; ``n_prescribed`` T2D drugs on
    M_AD_T2D ∪ M_T2D; ``n_prescribed`` HTN drugs on M_AD_HTN ∪ M_HTN; the planted ``X_T2D`` (an antidiabetic, the
    dapagliflozin analogue) and ``X_HTN`` (the debrisoquine analogue) on their shared module only; the other drugs
    ('random') on genes drawn uniformly from all modules. ``truth`` returns the modules, the planted ids and the
    random drugs."""
    if n_drugs < 3 * n_prescribed + 2 + 10:
        raise ValueError(f"n_drugs={n_drugs} leaves fewer than 10 random drugs; use n_drugs ≥ {3 * n_prescribed + 12}")
    if module_size < 2 or targets_per_drug < 1:
        raise ValueError("module_size must be ≥ 2 and targets_per_drug ≥ 1")
    rng = np.random.default_rng(seed)
    module_names = ["M_AD", "M_AD_T2D", "M_AD_HTN", "M_T2D", "M_HTN"] + [f"M_bg{i}" for i in range(n_background_modules)]
    n_genes = module_size * len(module_names)
    gene_module = np.repeat(np.arange(len(module_names)), module_size)
    diseases = ["AD", "T2D", "HTN"]
    g0, d0 = n_drugs, n_drugs + n_genes
    kind = np.r_[np.zeros(n_drugs, int), np.ones(n_genes, int), np.full(3, 2)]
    names = [f"drug{i}" for i in range(n_drugs)] + [f"gene{i}" for i in range(n_genes)] + diseases
    edges = []
    # gene–gene planted partition
    same = gene_module[:, None] == gene_module[None, :]
    p = np.where(same, deg_in / (module_size - 1), deg_out / max(n_genes - module_size, 1))
    iu = np.triu_indices(n_genes, 1)
    hit = rng.random(len(iu[0])) < p[iu]
    edges += list(zip(g0 + iu[0][hit], g0 + iu[1][hit]))
    mod = {name: np.flatnonzero(gene_module == i) for i, name in enumerate(module_names)}
    assoc = {"AD": [("M_AD", assoc_core), ("M_AD_T2D", assoc_shared), ("M_AD_HTN", assoc_shared)],
             "T2D": [("M_AD_T2D", assoc_core), ("M_T2D", assoc_core), ("M_AD", assoc_bridge)],
             "HTN": [("M_AD_HTN", assoc_core), ("M_HTN", assoc_core), ("M_AD", assoc_bridge)]}
    for di, dname in enumerate(diseases):
        for m, q in assoc[dname]:
            genes = mod[m][rng.random(module_size) < q]
            edges += [(g0 + g, d0 + di) for g in genes]
    pools = {"AD": mod["M_AD"], "T2D": np.r_[mod["M_AD_T2D"], mod["M_T2D"]],
             "HTN": np.r_[mod["M_AD_HTN"], mod["M_HTN"]], "X_T2D": mod["M_AD_T2D"], "X_HTN": mod["M_AD_HTN"],
             "random": np.arange(n_genes)}
    drug_class = (["AD"] * n_prescribed + ["T2D"] * n_prescribed + ["HTN"] * n_prescribed + ["X_T2D", "X_HTN"]
                  + ["random"] * (n_drugs - 3 * n_prescribed - 2))
    drug_class = list(rng.permutation(drug_class))
    for r, c in enumerate(drug_class):
        for g in rng.choice(pools[c], size=targets_per_drug, replace=False):
            edges.append((r, g0 + g))
    E = np.unique(np.sort(np.asarray(edges, dtype=np.int64), axis=1), axis=0)
    cls = np.asarray(drug_class)
    prescribed = {d0 + di: np.flatnonzero(cls == dname) for di, dname in enumerate(diseases)}
    for r in (int(np.flatnonzero(cls == "X_T2D")[0]), int(np.flatnonzero(cls == "X_HTN")[0])):
        names[r] = f"drug{r}({drug_class[r]})"
    truth = {"gene_module": gene_module, "module_names": module_names, "drug_class": cls,
             "disease": {d: d0 + i for i, d in enumerate(diseases)},
             "X_T2D": int(np.flatnonzero(cls == "X_T2D")[0]), "X_HTN": int(np.flatnonzero(cls == "X_HTN")[0]),
             "random_drugs": np.flatnonzero(cls == "random")}
    return DrugKG(kind=kind, edges=E, names=names, prescribed=prescribed, truth=truth)


# ----------------------------------------------------------------------------------------------- paths (1)

def _neighbours(kg: DrugKG) -> list[np.ndarray]:
    A = kg.adjacency()
    return [A.indices[A.indptr[v]:A.indptr[v + 1]] for v in range(kg.n)]


def drug_disease_paths(kg: DrugKG, disease: int, max_len: int = 4, drugs=None) -> list[tuple[int, ...]]:
    """All simple paths (drug, v₁, …, disease) with ≤ ``max_len`` edges whose inner nodes are genes (eq. 1).

    Depth-first enumeration, paths in lexicographic order of (drug, v₁, …). ``drugs`` restricts the start nodes
    (default: every drug). Inner nodes are restricted to genes so that a path is a drug's mechanism, not a detour
    through another drug or disease."""
    if kg.kind[disease] != NODE_KINDS.index("disease"):
        raise ValueError(f"node {disease} ({kg.names[disease]}) is not a disease node")
    if max_len < 1:
        raise ValueError(f"max_len must be ≥ 1, got {max_len}")
    nb = _neighbours(kg)
    gene = NODE_KINDS.index("gene")
    starts = kg.nodes("drug") if drugs is None else np.asarray(drugs, dtype=np.int64)
    out: list[tuple[int, ...]] = []
    for r in starts:
        stack = [(int(r),)]
        while stack:
            path = stack.pop()
            last = path[-1]
            for v in nb[last].tolist():
                if v == disease:
                    if kg.kind[last] == gene:          # k nodes + the disease = k edges ≤ max_len
                        out.append(path + (v,))
                elif kg.kind[v] == gene and v not in path and len(path) < max_len:
                    stack.append(path + (v,))
    return sorted(out)


def drug_disease_paths_networkx(kg: DrugKG, disease: int, max_len: int = 4) -> list[tuple[int, ...]]:
    """The same set from ``networkx.all_simple_paths`` on the subgraph of genes + one drug + the disease (peer)."""
    import networkx as nx

    G = nx.Graph()
    G.add_nodes_from(range(kg.n))
    G.add_edges_from(map(tuple, kg.edges.tolist()))
    genes = kg.nodes("gene").tolist()
    out = []
    for r in kg.nodes("drug"):
        sub = G.subgraph(genes + [int(r), int(disease)])
        out += [tuple(p) for p in nx.all_simple_paths(sub, int(r), int(disease), cutoff=max_len) if len(p) >= 3]
    return sorted(out)


def incidence_matrix(paths, n_nodes: int) -> sp.csr_matrix:
    """(n_nodes, m) 0/1 incidence matrix H of the hyperedges ``paths`` (each a node sequence)."""
    if len(paths) == 0:
        return sp.csr_matrix((n_nodes, 0))
    rows = np.concatenate([np.asarray(p) for p in paths])
    cols = np.repeat(np.arange(len(paths)), [len(p) for p in paths])
    H = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_nodes, len(paths))).tocsr()
    H.data[:] = 1.0
    return H


# ------------------------------------------------------------------------------------------ embedding (2)

def _theta(H: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    dv = np.asarray(H.sum(1)).ravel()
    de = np.asarray(H.sum(0)).ravel()
    if H.shape[1] == 0:
        raise ValueError("the hypergraph has no hyperedges (no drug reaches the diseases within max_len)")
    inv_sqrt_dv = np.where(dv > 0, 1.0 / np.sqrt(np.maximum(dv, 1e-300)), 0.0)
    Hn = sp.diags(inv_sqrt_dv) @ H
    return (Hn @ sp.diags(1.0 / de) @ Hn.T).tocsr(), dv


def theta_eigenpairs(H, k: int):
    """The ``k`` largest eigenpairs of Θ (eq. 2) restricted to the nodes in some hyperedge: ``(w, U, act)`` with
    w (k,) descending, U (len(act), k) orthonormal, ``act`` the node ids.

    Dense LAPACK ``scipy.linalg.eigh`` with ``subset_by_index`` (O(n³) reduction, only k vectors back-transformed).
    A Krylov solver (ARPACK ``eigsh``) is deliberately not used: Θ of a path hypergraph has eigenvalues of high
    multiplicity (e.g. 0.4 from the many symmetric length-4 paths) and a single-start-vector Lanczos misses members
    of a multiple eigenvalue at the cut (measured |Δλ| = 2e-3 to 4e-3 at k = 65 on a 457-node hypergraph, even
    with 165 Krylov vectors). Dense is affordable here: a few thousand nodes take seconds."""
    from scipy.linalg import eigh

    H = sp.csr_matrix(H, dtype=np.float64)
    if H.data.size and not np.all(np.isfinite(H.data)):
        raise ValueError("H contains NaN or inf; pass a 0/1 incidence matrix")
    T, dv = _theta(H)
    act = np.flatnonzero(dv > 0)                    # nodes in no hyperedge: zero rows, left out of the eigenproblem
    m = len(act)
    if not 1 <= k <= m:
        raise ValueError(f"k={k} eigenpairs need 1 ≤ k ≤ {m}, the number of nodes in hyperedges")
    w, U = eigh(T[act][:, act].toarray(), subset_by_index=[m - k, m - 1])
    return w[::-1], U[:, ::-1], act


def hypergraph_spectral_embedding(H, dim: int = 16, *, diffusion_time: float = 0.0) -> np.ndarray:
    """(n, dim) node embedding: eigenvectors 1…dim of Θ (eq. 2), largest eigenvalues, trivial one dropped, each
    scaled by λ_j^``diffusion_time`` (diffusion-map weighting; 0 = none).

    Nodes in no hyperedge get zero rows. The sign of each eigenvector is fixed so that its largest-|·| entry is
    positive (cosines between paths are invariant to a common sign flip of a column). Where an eigenvalue is
    multiple, its eigenvectors are any orthonormal basis of the eigenspace; cosines are invariant to that rotation
    when the whole eigenspace is kept (with λ-weighting, within it), not when ``dim`` cuts through it."""
    H = sp.csr_matrix(H, dtype=np.float64)
    n = H.shape[0]
    if dim < 1 or dim + 1 > n:
        raise ValueError(f"dim must be in [1, n−1] = [1, {n - 1}], got {dim}")
    w, U, act = theta_eigenpairs(H, dim + 1)
    X = np.zeros((n, dim))
    X[act] = U[:, 1:] * np.clip(w[1:], 0.0, None) ** diffusion_time   # λ_j^t: diffusion-map weighting
    flip = np.sign(X[np.abs(X).argmax(0), np.arange(X.shape[1])])
    return X * np.where(flip == 0, 1.0, flip)


def path_embeddings(paths, X: np.ndarray) -> np.ndarray:
    """(m, d) path (hyperedge) embeddings e_p = mean of the nodes' rows of X (eq. 3)."""
    if len(paths) == 0:
        return np.zeros((0, X.shape[1]))
    H = incidence_matrix(paths, X.shape[0])
    return np.asarray((H.T @ X) / np.asarray(H.sum(0)).ravel()[:, None])


# ------------------------------------------------------------------------------------------- ranking (4)

def _unit(E: np.ndarray) -> np.ndarray:
    nrm = np.linalg.norm(E, axis=1, keepdims=True)
    if np.any(nrm == 0):
        raise ValueError("a path embedding is the zero vector (cosine undefined); raise dim or check the hypergraph")
    return E / nrm


def median_cosine_scores(paths, E: np.ndarray, reference: np.ndarray, candidates, *,
                         exclude_self: bool = False) -> np.ndarray:
    """s(r) of eq. 4 for each drug in ``candidates``: median cosine of its paths' embeddings (rows of E whose
    path starts at r) against the reference paths' rows ``reference`` (indices into E). NaN for a drug with no path.
    ``exclude_self`` leaves a candidate's own paths out of the reference (for a candidate that is itself
    prescribed). Cost O(P_r·Q·d) per candidate, one BLAS mat-mat each."""
    E = np.asarray(E, dtype=np.float64)
    if not np.all(np.isfinite(E)):
        raise ValueError("path embeddings contain NaN or inf")
    reference = np.asarray(reference, dtype=np.int64)
    if reference.size == 0:
        raise ValueError("no reference paths: the prescribed drugs have no path to the disease")
    U = _unit(E)
    start = np.asarray([p[0] for p in paths])
    R, ref_start = U[reference], start[reference]
    out = np.full(len(candidates), np.nan)
    for i, r in enumerate(candidates):
        rows = np.flatnonzero(start == r)
        if rows.size:
            C = U[rows] @ (R[ref_start != r] if exclude_self else R).T
            out[i] = np.median(C) if C.size else np.nan
    return out


def median_cosine_scores_reference(paths, E, reference, candidates, *, exclude_self: bool = False) -> np.ndarray:
    """Loop over every (p, q) pair with the cosine from its definition; the reference for tests."""
    out = []
    for r in candidates:
        vals = [float(np.dot(E[i], E[j]) / (np.linalg.norm(E[i]) * np.linalg.norm(E[j])))
                for i, p in enumerate(paths) if p[0] == r for j in reference
                if not (exclude_self and paths[j][0] == r)]
        out.append(float(np.median(vals)) if vals else np.nan)
    return np.asarray(out)


def top_percentile(scores: np.ndarray) -> np.ndarray:
    """Percentile of each score's rank among the finite scores, 100·(rank − 0.5)/n with rank 1 = best; ties share
    their mean rank; NaN stays NaN. (The paper's 'top x %'.)"""
    s = np.asarray(scores, dtype=np.float64)
    ok = np.isfinite(s)
    from scipy.stats import rankdata

    out = np.full(len(s), np.nan)
    out[ok] = 100.0 * (rankdata(-s[ok], method="average") - 0.5) / ok.sum()
    return out


@dataclass
class RankingResult:
    setting: tuple[str, ...]
    candidates: np.ndarray   # drug node ids ranked (drugs with ≥ 1 path to the disease, prescribed ones excluded)
    scores: np.ndarray       # s(r), eq. 4
    percentile: np.ndarray   # top-x % of each candidate
    n_hyperedges: int
    X: np.ndarray            # (n, dim) node embedding of the setting's hypergraph


def rank_drugs(kg: DrugKG, disease: str, context: tuple[str, ...] = (), *, reference: str = "disease",
               max_len: int = 4, dim: int = 64, diffusion_time: float = 1.0,
               paths_cache: dict | None = None, X: np.ndarray | None = None) -> RankingResult:
    """Rank the drugs for ``disease`` in the hypergraph of paths to 𝒟 = {disease} ∪ ``context`` (eqs. 1–4).

    ``reference="disease"`` (the abstract's wording): a candidate's paths to ``disease`` against the paths to
    ``disease`` of the drugs prescribed against it; the context only changes the node embedding.
    ``reference="union"`` (a second reading of the multi-disease extension): a candidate's paths to any disease of
    𝒟 against the paths to any disease of 𝒟 of the drugs prescribed against any of them (the candidate's own paths
    left out). Candidates are the same in every setting: the drugs with ≥ 1 path to ``disease`` that are not
    prescribed against it. ``paths_cache`` (disease node → paths) avoids re-enumerating paths across settings;
    ``X``, the setting's node embedding from an earlier call (``RankingResult.X``), avoids recomputing it."""
    dis = kg.truth["disease"] if "disease" in kg.truth else {kg.names[v]: v for v in kg.nodes("disease")}
    if reference not in ("disease", "union"):
        raise ValueError(f"reference must be 'disease' or 'union', got {reference!r}")
    diseases = (disease,) + tuple(c for c in context if c != disease)
    for d in diseases:
        if d not in dis:
            raise ValueError(f"unknown disease {d!r}; known: {sorted(dis)}")
    cache = {} if paths_cache is None else paths_cache
    for d in diseases:
        if dis[d] not in cache:
            cache[dis[d]] = drug_disease_paths(kg, dis[d], max_len=max_len)
    all_paths = [p for d in diseases for p in cache[dis[d]]]
    if X is None:
        X = hypergraph_spectral_embedding(incidence_matrix(all_paths, kg.n), dim=dim, diffusion_time=diffusion_time)
    presc_target = set(kg.prescribed[dis[disease]].tolist())
    cand = np.asarray(sorted({p[0] for p in cache[dis[disease]]} - presc_target), dtype=np.int64)
    if reference == "disease":
        scored = cache[dis[disease]]
        presc = presc_target
    else:
        scored = all_paths
        presc = set().union(*(kg.prescribed[dis[d]].tolist() for d in diseases))
    E = path_embeddings(scored, X)
    ref = np.asarray([i for i, p in enumerate(scored) if p[0] in presc])
    s = median_cosine_scores(scored, E, ref, cand, exclude_self=reference == "union")
    return RankingResult(setting=diseases, candidates=cand, scores=s, percentile=top_percentile(s),
                         n_hyperedges=len(all_paths), X=X)


def shift_p_value(shift_planted: float, shift_others: np.ndarray) -> float:
    """One-sided permutation p-value that a drug drawn at random from ``shift_others`` improves at least as much
    as the planted drug: (1 + #{others ≥ planted}) / (1 + n_others). Shifts are percentile improvements
    (before − after, > 0 = moved up)."""
    o = np.asarray(shift_others, dtype=np.float64)
    o = o[np.isfinite(o)]
    if not np.isfinite(shift_planted):
        raise ValueError("the planted drug has no score in one of the settings (no path to the disease)")
    return float((1 + np.sum(o >= shift_planted)) / (1 + len(o)))
