r"""Similar-case recommendation from a knowledge graph (the demo of "Similar Cases Recommendation using Legal Knowledge
Graphs"): node similarity between *case* nodes of a heterogeneous KG, with the choice of node types as the knob.

A KG is reduced to a bipartite *case graph*: case nodes (here: legal cases, or MovieLens movies) and the attribute
entities they link to (statutes, judges, …; actors, directors, genres, …), each edge labelled with a relation
*family*. With the case × attribute incidence matrix ``M`` (n_cases, n_attr), binary:

    common(i, j)   = (M Mᵀ)_ij                               shared attributes
    Jaccard(i, j)  = common / (|N(i)| + |N(j)| − common)      (networkx ``jaccard_coefficient`` on the graph)
    AdamicAdar(i,j)= Σ_{a ∈ N(i) ∩ N(j)} 1 / log deg(a)       = (M W Mᵀ)_ij, W = diag(1/log deg)  (networkx
                                                                 ``adamic_adar_index``; deg(a) ≥ 2 for any shared a)

computed as sparse products, O(Σ_a deg(a)²); a dense loop over pairs (:func:`jaccard_reference`,
:func:`adamic_adar_reference`) is the reference. DeepWalk embeddings come from
:func:`simrepro.methods.graph.fastrp.deepwalk_embeddings` (gensim Word2Vec on uniform random walks).

Evaluation: for each query case, the fraction of its top-k most similar candidates (itself excluded) that lie in its
ground-truth neighbour set (P@k).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp

# Freebase relations of RecBole's ml-100k.kg, grouped into families (both directions of a relation together)
FAMILIES = {
    "actors": ("film.film.actor", "film.actor.film"),
    "genre": ("film.film.genre", "film.film_genre.films_in_this_genre"),
    "crew": ("film.film.directed_by", "film.director.film", "film.film.written_by", "film.writer.film",
             "film.film.produced_by", "film.producer.film", "film.film.cinematography", "film.cinematographer.film"),
    "company": ("film.film.production_companies", "film.production_company.films"),
    "awards": ("film.film.award_nomination", "film.film.award_won"),
    "country_language": ("film.film.country", "film.film.language"),
    "rating": ("film.film.rating", "film.content_rating.film"),
    "subjects": ("film.film.subjects", "film.film_subject.films"),
    "sequels": ("film.film.sequel", "film.film.prequel"),
}


def relation_family(relation: str) -> str:
    for fam, rels in FAMILIES.items():
        if relation in rels:
            return fam
    return "other"


# --------------------------------------------------------------------------------------------------- case graphs
class CaseGraph:
    """Case × attribute incidence: ``M`` (n_cases, n_attr) csr binary, ``attr_family`` (n_attr,) str,
    ``cases`` (n_cases,) the case ids, ``attrs`` (n_attr,) the attribute ids."""

    def __init__(self, M, attr_family, cases, attrs):
        self.M = sp.csr_matrix(M, dtype=np.float64)
        self.M.data[:] = 1.0
        self.attr_family = np.asarray(attr_family)
        self.cases, self.attrs = np.asarray(cases), np.asarray(attrs)
        if self.M.shape != (len(self.cases), len(self.attrs)) or len(self.attr_family) != len(self.attrs):
            raise ValueError("M must be (len(cases), len(attrs)) and attr_family one entry per attribute")

    def keep_families(self, families) -> "CaseGraph":
        """The case graph restricted to attributes of the given families."""
        keep = np.isin(self.attr_family, list(families))
        return CaseGraph(self.M[:, keep], self.attr_family[keep], self.cases, self.attrs[keep])

    def drop_unshared(self) -> "CaseGraph":
        """Drop attributes linked to fewer than two cases (they add no similarity between cases)."""
        keep = np.asarray(self.M.sum(axis=0)).ravel() >= 2
        return CaseGraph(self.M[:, keep], self.attr_family[keep], self.cases, self.attrs[keep])

    def adjacency(self) -> sp.csr_matrix:
        """Symmetric adjacency of the bipartite graph, cases first then attributes: (n_cases + n_attr)²."""
        return sp.bmat([[None, self.M], [self.M.T, None]], format="csr")

    def to_networkx(self):
        import networkx as nx
        G = nx.Graph()
        G.add_nodes_from(("c", i) for i in range(self.M.shape[0]))
        G.add_nodes_from(("a", a) for a in range(self.M.shape[1]))
        coo = self.M.tocoo()
        G.add_edges_from((("c", int(i)), ("a", int(a))) for i, a in zip(coo.row, coo.col))
        return G


def movielens_case_graph(kg: pd.DataFrame, link: pd.DataFrame, items=None) -> CaseGraph:
    """The item × entity case graph of RecBole's ml-100k KG: triples whose head (tail) is a linked item entity
    give (item, tail) ((item, head)) edges with the relation's family; triples between two items (114, sequels) and
    duplicate (item, entity) pairs are dropped. ``items`` (optional) restricts and orders the cases (ids absent from
    the KG get empty rows)."""
    for col in ("head_id", "relation_id", "tail_id"):
        if col not in kg.columns:
            raise ValueError(f"kg needs columns head_id, relation_id, tail_id; missing {col!r}")
    ent2item = dict(zip(link.entity_id, link.item_id))
    h_item, t_item = kg.head_id.map(ent2item), kg.tail_id.map(ent2item)
    a = kg[h_item.notna() & t_item.isna()]
    b = kg[t_item.notna() & h_item.isna()]
    edges = pd.concat([pd.DataFrame({"item": h_item[a.index].astype(int), "attr": a.tail_id, "rel": a.relation_id}),
                       pd.DataFrame({"item": t_item[b.index].astype(int), "attr": b.head_id, "rel": b.relation_id})])
    edges = edges.drop_duplicates(["item", "attr"])
    cases = np.sort(edges.item.unique()) if items is None else np.asarray(items)
    case_pos = {c: i for i, c in enumerate(cases)}
    edges = edges[edges.item.isin(case_pos)]
    attrs, attr_idx = np.unique(edges.attr.to_numpy(), return_inverse=True)
    fam_of = edges.groupby("attr").rel.first().map(relation_family)
    M = sp.csr_matrix((np.ones(len(edges)), (edges.item.map(case_pos).to_numpy(), attr_idx)),
                      shape=(len(cases), len(attrs)))
    return CaseGraph(M, fam_of.loc[attrs].to_numpy(), cases, attrs)


# --------------------------------------------------------------------------------------------------- similarity
def common_neighbours(G: CaseGraph) -> np.ndarray:
    return (G.M @ G.M.T).toarray()


def jaccard(G: CaseGraph) -> np.ndarray:
    """(n, n) Jaccard of the attribute sets; 0 where both sets are empty."""
    C = common_neighbours(G)
    d = np.asarray(G.M.sum(axis=1)).ravel()
    union = d[:, None] + d[None, :] - C
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, C / np.where(union > 0, union, 1), 0.0)


def adamic_adar(G: CaseGraph) -> np.ndarray:
    """(n, n) Adamic-Adar over shared attributes (attribute degree = number of cases it links)."""
    deg = np.asarray(G.M.sum(axis=0)).ravel()
    w = np.where(deg >= 2, 1.0 / np.log(np.maximum(deg, 2)), 0.0)
    return (G.M @ sp.diags(w) @ G.M.T).toarray()


def jaccard_reference(G: CaseGraph, pairs) -> np.ndarray:
    """Jaccard of the listed (i, j) case pairs by set operations (the definition)."""
    sets = [set(G.M.indices[G.M.indptr[i]:G.M.indptr[i + 1]]) for i in range(G.M.shape[0])]
    return np.array([len(sets[i] & sets[j]) / len(sets[i] | sets[j]) if sets[i] | sets[j] else 0.0
                     for i, j in pairs])


def adamic_adar_reference(G: CaseGraph, pairs) -> np.ndarray:
    deg = np.asarray(G.M.sum(axis=0)).ravel()
    sets = [set(G.M.indices[G.M.indptr[i]:G.M.indptr[i + 1]]) for i in range(G.M.shape[0])]
    return np.array([sum(1.0 / math.log(deg[a]) for a in sets[i] & sets[j]) for i, j in pairs])


def networkx_scores(G: CaseGraph, pairs) -> tuple[np.ndarray, np.ndarray]:
    """networkx ``jaccard_coefficient`` and ``adamic_adar_index`` of the case pairs on the bipartite graph (peer)."""
    import networkx as nx
    g = G.to_networkx()
    ebunch = [(("c", int(i)), ("c", int(j))) for i, j in pairs]
    jac = np.array([p for _, _, p in nx.jaccard_coefficient(g, ebunch)])
    aa = np.array([p for _, _, p in nx.adamic_adar_index(g, ebunch)])
    return jac, aa


def deepwalk_similarity(G: CaseGraph, *, dim: int = 64, num_walks: int = 10, walk_length: int = 20,
                        window: int = 5, epochs: int = 1, seed: int = 0) -> np.ndarray:
    """Cosine of DeepWalk embeddings (gensim skip-gram, hierarchical softmax) of the case nodes, walks on the
    bipartite graph: (n_cases, n_cases)."""
    from simrepro.methods.graph.fastrp import deepwalk_embeddings
    E = deepwalk_embeddings(G.adjacency(), dim, num_walks=num_walks, walk_length=walk_length, window=window,
                            epochs=epochs, seed=seed)[: G.M.shape[0]]
    E = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    return E @ E.T


def tfidf_similarity(texts) -> np.ndarray:
    """Cosine of scikit-learn TF-IDF vectors of the texts (the text-only baseline)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    X = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b").fit_transform(list(texts))
    return (X @ X.T).toarray()


# --------------------------------------------------------------------------------------------------- evaluation
def cosine_neighbours(R, k: int) -> list[np.ndarray]:
    """Ground-truth neighbours from behaviour: R (n_items, n_users) sparse interactions → the k items of highest
    co-rating cosine for each item (itself excluded, ties by lower index)."""
    R = sp.csr_matrix(R, dtype=np.float64)
    norms = np.sqrt(np.asarray(R.multiply(R).sum(axis=1)).ravel())
    inv = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-300), 0.0)
    S = (sp.diags(inv) @ R @ R.T @ sp.diags(inv)).toarray()
    np.fill_diagonal(S, -np.inf)
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return [row for row in order]


def precision_at_k(S: np.ndarray, truth: list[np.ndarray], queries, k: int, *, seed: int = 0) -> float:
    """Mean over query rows of |top-k of S[q] (q excluded) ∩ truth[q]| / k. Ties in S are broken at random
    (``seed``), so an all-zero row scores like a random list."""
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square (n, n) similarity matrix, got shape {S.shape}")
    if not np.all(np.isfinite(S)):
        raise ValueError("S contains NaN or inf")
    n = S.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in 1..n-1, got {k}")
    rng = np.random.default_rng(seed)
    hits = []
    for q in np.asarray(queries):
        jitter = rng.random(n)
        row = S[q].copy()
        row[q] = -np.inf
        top = np.lexsort((jitter, -row))[:k]
        hits.append(len(set(top.tolist()) & set(np.asarray(truth[q]).tolist())) / k)
    return float(np.mean(hits)) if hits else math.nan


def random_precision(truth_size: int, n: int, k: int) -> float:
    """Expected P@k of a uniformly random ranking: |truth| / (n − 1)."""
    return truth_size / (n - 1)


# --------------------------------------------------------------------------------------------------- synthetic legal KG
def synthetic_legal_kg(n_cases: int = 600, n_topics: int = 12, *, statutes_per_topic: int = 8,
                       statutes_per_case: int = 3, statute_purity: float = 0.8, n_courts: int = 6,
                       judges_per_court: int = 5, court_topic_bias: float = 0.3, vocab_per_topic: int = 30,
                       n_noise_words: int = 600, words_per_case: int = 40, text_noise: float = 0.5,
                       seed: int = 0) -> dict:
    """A seeded legal KG with a hidden topic per case.

    Each case has a latent topic (the ground truth; not a KG node). It cites ``statutes_per_case`` statutes, each
    from its topic's block with probability ``statute_purity`` (else any statute); it is heard in a court (the
    topic's 'home' court with probability ``court_topic_bias``, else uniform) by a judge of that court. Its text has
    ``words_per_case`` words, each a noise word with probability ``text_noise`` (else a word of its topic's
    vocabulary). Returns {'graph': CaseGraph with families statute / judge / court, 'topic': (n,), 'text': [str]}."""
    if not 0 <= statute_purity <= 1 or not 0 <= text_noise <= 1 or not 0 <= court_topic_bias <= 1:
        raise ValueError("statute_purity, text_noise and court_topic_bias must be in [0, 1]")
    if min(n_cases, n_topics, statutes_per_topic, statutes_per_case, n_courts, judges_per_court) < 1:
        raise ValueError("all counts must be >= 1")
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, n_topics, n_cases)
    n_stat = n_topics * statutes_per_topic
    rows, cols = [], []
    for i, t in enumerate(topic):
        for _ in range(statutes_per_case):
            s = (t * statutes_per_topic + rng.integers(statutes_per_topic) if rng.random() < statute_purity
                 else rng.integers(n_stat))
            rows.append(i), cols.append(s)
    home = rng.integers(0, n_courts, n_topics)
    court = np.where(rng.random(n_cases) < court_topic_bias, home[topic], rng.integers(0, n_courts, n_cases))
    judge = court * judges_per_court + rng.integers(0, judges_per_court, n_cases)
    n_judges = n_courts * judges_per_court
    rows += list(range(n_cases)) * 2
    cols += list(n_stat + judge) + list(n_stat + n_judges + court)
    n_attr = n_stat + n_judges + n_courts
    M = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_cases, n_attr))
    fam = np.array(["statute"] * n_stat + ["judge"] * n_judges + ["court"] * n_courts)
    texts = []
    for t in topic:
        noise = rng.random(words_per_case) < text_noise
        w = np.where(noise, rng.integers(0, n_noise_words, words_per_case),
                     n_noise_words + t * vocab_per_topic + rng.integers(0, vocab_per_topic, words_per_case))
        texts.append(" ".join(f"w{x}" for x in w))
    return {"graph": CaseGraph(M, fam, np.arange(n_cases), np.arange(n_attr)), "topic": topic, "text": texts}


def same_label_truth(labels) -> list[np.ndarray]:
    """Ground truth from a hidden label: every other node of the same label."""
    labels = np.asarray(labels)
    return [np.flatnonzero((labels == labels[i]) & (np.arange(len(labels)) != i)) for i in range(len(labels))]


def interaction_rows(ratings: pd.DataFrame, items, users=None) -> sp.csr_matrix:
    """Binary (len(items), n_users) item × user matrix of ``ratings`` (columns user_id, item_id), rows in the order
    of ``items``, restricted to ``users`` when given (ratings of other items dropped)."""
    items = np.asarray(items)
    pos = pd.Series(np.arange(len(items)), index=items)
    r = ratings[ratings.item_id.isin(pos.index)]
    if users is not None:
        r = r[r.user_id.isin(set(np.asarray(users).tolist()))]
    u, u_idx = np.unique(r.user_id.to_numpy(), return_inverse=True)
    return sp.csr_matrix((np.ones(len(r)), (pos.loc[r.item_id].to_numpy(), u_idx)), shape=(len(items), max(1, len(u))))
