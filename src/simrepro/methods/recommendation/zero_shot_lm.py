r"""Zero-shot recommendation from text (Sileo, Vossen & Raymaekers, ECIR 2022, "Zero-Shot Recommendation as
Language Modeling", arXiv 2112.04184), under the official notebook's evaluation protocol, with a collaborative
matrix-factorisation peer trained on a chosen number of users.

Protocol (official ``lm_rec_ECIR.ipynb`` of github.com/sileod/language-model-recommendation; line numbers are
lines of that JSON file):

- ratings 3 and 4 are dropped (``~rating.between(2.4, 4.1)``, l. 199); *liked* = rating > 4 (i.e. 5),
  *disliked* = rating < 2.5 (1 or 2) (l. 264-265); a user qualifies with ≥ 21 liked and ≥ 5 disliked movies
  (l. 266-267) — :func:`protocol_users`;
- per user, ``nb_pos + 1`` liked movies are drawn, the last one held out as the positive candidate, the others
  form the prompt (in a random order), and ``nb_neg`` disliked movies are drawn as negatives (l. 209-211, 193);
  candidates = [held-out liked, disliked…], the positive at column 0 (l. 320) — :func:`draw_episodes`;
- titles lose the year and any parenthesised alternative title, and a trailing ", The" / ", A" moves to the
  front (l. 173-179) — :func:`movielens_name`; the prompt is ``template.replace("[M]", sep.join(titles)) +
  end_sep`` with ``sep = end_sep = ","`` and templates ``"[M]"`` / ``"Movies like: [M]"`` (l. 185-195, 271,
  276-277) — :func:`make_prompt`;
- every candidate gets a score s_uc; metrics are precision / recall / nDCG at k = 1…5 with one relevant
  candidate (l. 111-137): with r the rank of the positive, P@k = [r ≤ k]/k, R@k = [r ≤ k],
  nDCG@k = [r ≤ k]/log₂(r + 1). Chance P@1 = 1/(1 + nb_neg) = 0.2. :func:`rank_metrics` takes the expectation
  over a uniformly random order of tied scores (equal to scikit-learn's tie-averaged ``ndcg_score``; the
  official precision instead breaks ties by candidate order, which would favour the positive at column 0);
- the popularity of the top pick: pop(m) = Σ_u r_um / mean_m' Σ_u r_um' over the filtered ratings (l. 215,
  139-143) — :func:`official_popularity`.

Scorers. The paper scores a candidate by GPT-2's conditional log-likelihood of its title after the prompt
(BIG-bench ``cond_log_prob``, l. 313). No causal LM ships offline here, so the zero-shot scorers are text-only
stand-ins that use no interaction data and no training: :func:`prompt_cosine_scores`
s_uc = cos(e(prompt_u), e(title_c)) for a sentence encoder e, and :func:`mean_item_cosine_scores`
s_uc = (1/|S_u|) Σ_{m∈S_u} cos(e(title_m), e(title_c)).

Collaborative peer. :func:`als_episode_scores`: implicit's ALS (:func:`~simrepro.methods.recommendation.
baselines.als_factors`) on the binary *liked* matrix of N training users (their whole liked histories) stacked
with the test users' prompt movies only (the information the text scorers get); s_uc = p_u · q_c.

Complexity: metrics O(U·C); cosines O(U·C·d); ALS as implicit (O(iterations·(nnz·f² + (U+I)·f³))).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

LIKE_THRESHOLD = 4.0          # official l. 264: liked = rating > 4
DISLIKE_THRESHOLD = 2.5       # official l. 265: disliked = rating < 2.5
DROP_RANGE = (2.4, 4.1)       # official l. 199: ratings in this closed range are dropped
PROMPTS = ("[M]", "Movies like [M]", "Movies similar to [M]", "Movies like: [M]", "Movies similar to: [M]",
           "If you liked [M] you will also like")   # official l. 185-190 (ids 0-5)


def movielens_name(title: str) -> str:
    """The official title normalisation (l. 173-179) for a MovieLens title *without* its " (year)" suffix
    (RecBole stores the year apart): keep the text before the first " (", and move a trailing ", The" / ", A"
    to the front. ``"Usual Suspects, The"`` → ``"The Usual Suspects"``."""
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    s = title.split(" (")[0]
    for pattern in (", The", ", A"):
        if s.endswith(pattern):
            s = pattern.split(", ")[1] + " " + s.replace(pattern, "")
    return s


@dataclass(frozen=True)
class ProtocolUsers:
    users: np.ndarray             # (U,) user ids that qualify, in ascending order
    liked: list[np.ndarray]       # per user: item ids rated > like_threshold (ascending)
    disliked: list[np.ndarray]    # per user: item ids rated < dislike_threshold (ascending)
    filtered: pd.DataFrame        # the ratings left after dropping DROP_RANGE (all users)


def protocol_users(ratings: pd.DataFrame, *, min_pos: int = 21, min_neg: int = 5,
                   like_threshold: float = LIKE_THRESHOLD, dislike_threshold: float = DISLIKE_THRESHOLD,
                   user: str = "user_id", item: str = "item_id", rating: str = "rating") -> ProtocolUsers:
    """Users with ≥ ``min_pos`` liked and ≥ ``min_neg`` disliked movies after the official rating filter."""
    missing = {user, item, rating} - set(ratings.columns)
    if missing:
        raise ValueError(f"ratings lacks columns {sorted(missing)}; pass user=/item=/rating= to name them")
    r = ratings[rating].to_numpy(dtype=np.float64)
    if not np.isfinite(r).all():
        raise ValueError("ratings contain NaN or inf; drop or impute them first")
    df = ratings[~ratings[rating].between(*DROP_RANGE)]
    liked, disliked, users = [], [], []
    for u, g in df.groupby(user, sort=True):
        pos = np.sort(g.loc[g[rating] > like_threshold, item].to_numpy())
        neg = np.sort(g.loc[g[rating] < dislike_threshold, item].to_numpy())
        if len(pos) >= min_pos and len(neg) >= min_neg:
            users.append(u)
            liked.append(pos)
            disliked.append(neg)
    return ProtocolUsers(np.asarray(users), liked, disliked, df)


def official_user_order(pu: ProtocolUsers, *, users_seed: int = 0, user: str = "user_id",
                        item: str = "item_id") -> np.ndarray:
    """Indices into ``pu.users`` in the official test order (l. 202, 206-207): the filtered ratings grouped by
    user (ascending ids), shuffled by pandas ``sample(frac=1.0, random_state=users_seed)``, then restricted to
    the qualifying users. The official notebook tests positions 0-199 (``offset`` 0, 50, 100, 150 × 50 users,
    l. 274, 278)."""
    shuffled = (pu.filtered.groupby(user)[item].agg(list).reset_index()
                .sample(frac=1.0, random_state=users_seed)[user].to_numpy())
    pos = {u: j for j, u in enumerate(pu.users.tolist())}
    return np.asarray([pos[u] for u in shuffled.tolist() if u in pos], dtype=np.int64)


@dataclass(frozen=True)
class Episodes:
    users: np.ndarray        # (U,) user ids
    support: np.ndarray      # (U, nb_pos) liked item ids forming the prompt, in prompt order
    candidates: np.ndarray   # (U, 1 + nb_neg) item ids; column 0 = the held-out liked movie


def draw_episodes(pu: ProtocolUsers, nb_pos: int = 5, nb_neg: int = 4, *, seed: int = 0,
                  users: np.ndarray | None = None) -> Episodes:
    """One draw per user (official l. 209-211, 193): ``nb_pos + 1`` distinct liked movies (the last held out),
    ``nb_neg`` distinct disliked movies, the prompt order random. ``users`` (indices into ``pu.users``)
    restricts the draw; numpy ``default_rng(seed)`` (the official code uses Python's unseeded ``random``)."""
    if nb_pos < 1 or nb_neg < 1:
        raise ValueError(f"nb_pos and nb_neg must be >= 1, got {nb_pos}, {nb_neg}")
    idx = np.arange(len(pu.users)) if users is None else np.asarray(users, dtype=np.int64)
    rng = np.random.default_rng(seed)
    support = np.empty((len(idx), nb_pos), dtype=np.int64)
    cands = np.empty((len(idx), 1 + nb_neg), dtype=np.int64)
    for row, j in enumerate(idx):
        pos, neg = pu.liked[j], pu.disliked[j]
        if len(pos) < nb_pos + 1 or len(neg) < nb_neg:
            raise ValueError(f"user {pu.users[j]} has {len(pos)} liked / {len(neg)} disliked movies, fewer than "
                             f"nb_pos + 1 = {nb_pos + 1} / nb_neg = {nb_neg}; raise min_pos / min_neg")
        p = rng.choice(pos, size=nb_pos + 1, replace=False)
        support[row] = p[:-1]
        cands[row, 0] = p[-1]
        cands[row, 1:] = rng.choice(neg, size=nb_neg, replace=False)
    return Episodes(pu.users[idx], support, cands)


def make_prompt(titles: list[str], template: str = "Movies like: [M]", sep: str = ",", end_sep: str = ",") -> str:
    """``template`` with ``[M]`` replaced by the titles joined by ``sep``, then ``end_sep`` (official l. 192-195)."""
    if "[M]" not in template:
        raise ValueError(f"template must contain the placeholder [M], got {template!r}")
    if not titles:
        raise ValueError("titles is empty: a prompt needs at least one liked movie")
    return template.replace("[M]", sep.join(titles)) + end_sep


def _check_scores(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"scores must be (users, candidates) with >= 1 candidate, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf; check the scorer (zero vectors give cosine 0, not NaN)")
    return s


def rank_metrics(scores, ks=(1, 2, 3, 4, 5), positive: int = 0) -> dict[str, np.ndarray]:
    """Per-user P@k, R@k, nDCG@k (arrays (U,)) with one relevant candidate (column ``positive``), as the
    expectation over a uniformly random order of tied scores: with a = #{c: s_c > s_pos} and t = #{c: s_c = s_pos}
    (itself included) the rank r is uniform on {a+1, …, a+t}, so R@k = #{r ≤ k}/t, P@k = R@k/k and
    nDCG@k = (1/t) Σ_{r ≤ k} 1/log₂(r+1) (ideal DCG = 1). Also ``rank`` = a + (t+1)/2 and ``top1_strict`` =
    [a = 0, t = 1] (a win without ties, for the binomial test)."""
    s = _check_scores(scores)
    sp_ = s[:, positive][:, None]
    a = (s > sp_).sum(axis=1)
    t = (s == sp_).sum(axis=1)
    out: dict[str, np.ndarray] = {"rank": a + (t + 1) / 2.0, "top1_strict": ((a == 0) & (t == 1)).astype(float)}
    pos_max = a.max(initial=0) + t.max(initial=0) + 1
    disc = 1.0 / np.log2(np.arange(1, pos_max + 1) + 1.0)       # disc[r-1] = 1/log2(r+1)
    for k in ks:
        r_idx = np.arange(1, pos_max + 1)
        inside = (r_idx[None, :] > a[:, None]) & (r_idx[None, :] <= (a + t)[:, None]) & (r_idx[None, :] <= k)
        out[f"recall_{k}"] = inside.sum(axis=1) / t
        out[f"precision_{k}"] = out[f"recall_{k}"] / k
        out[f"ndcg_{k}"] = (inside * disc[None, :]).sum(axis=1) / t
    return out


def rank_metrics_reference(scores, ks=(1, 2, 3, 4, 5), positive: int = 0) -> dict[str, np.ndarray]:
    """Plain reference of :func:`rank_metrics`: averages the metrics over every permutation that orders the
    tied scores (exhaustive; use only for a few candidates)."""
    from itertools import permutations
    s = _check_scores(scores)
    n_c = s.shape[1]
    out = {f"{m}_{k}": np.zeros(len(s)) for m in ("recall", "precision", "ndcg") for k in ks}
    for u, row in enumerate(s):
        perms = 0
        acc = {key: 0.0 for key in out}
        for perm in permutations(range(n_c)):
            ordered = [row[c] for c in perm]
            if any(ordered[i] < ordered[i + 1] for i in range(n_c - 1)):
                continue                                   # not a valid descending order
            perms += 1
            r = perm.index(positive) + 1
            for k in ks:
                hit = 1.0 if r <= k else 0.0
                acc[f"recall_{k}"] += hit
                acc[f"precision_{k}"] += hit / k
                acc[f"ndcg_{k}"] += hit / np.log2(r + 1)
        for key in out:
            out[key][u] = acc[key] / perms
    return out


def official_popularity(filtered: pd.DataFrame, item: str = "item_id", rating: str = "rating") -> pd.Series:
    """pop(m) = Σ_u r_um / mean over movies of Σ_u r_um' on the filtered ratings (official l. 215)."""
    sums = filtered.groupby(item)[rating].sum().astype(np.float64)
    return sums / sums.mean()


def top_pick_popularity(scores, candidates: np.ndarray, pop: pd.Series) -> np.ndarray:
    """Per user: pop of the highest-scoring candidate (official ``make_pop``, l. 139-143: argmax, first on ties)."""
    s = _check_scores(scores)
    top = np.asarray(candidates)[np.arange(len(s)), s.argmax(axis=1)]
    return pop.reindex(top).fillna(0.0).to_numpy()


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def prompt_cosine_scores(prompt_emb, cand_emb) -> np.ndarray:
    """s_uc = cos(prompt_u, cand_uc): prompt_emb (U, d), cand_emb (U, C, d) → (U, C); zero vectors give 0."""
    p, c = np.asarray(prompt_emb), np.asarray(cand_emb)
    if p.ndim != 2 or c.ndim != 3 or c.shape[0] != p.shape[0] or c.shape[2] != p.shape[1]:
        raise ValueError(f"need prompt_emb (U, d) and cand_emb (U, C, d), got {p.shape} and {c.shape}")
    return np.einsum("ud,ucd->uc", _unit_rows(p), _unit_rows(c))


def mean_item_cosine_scores(support_emb, cand_emb) -> np.ndarray:
    """s_uc = mean_m cos(support_um, cand_uc): support_emb (U, S, d), cand_emb (U, C, d) → (U, C)."""
    s, c = np.asarray(support_emb), np.asarray(cand_emb)
    if s.ndim != 3 or c.ndim != 3 or s.shape[0] != c.shape[0] or s.shape[2] != c.shape[2] or s.shape[1] < 1:
        raise ValueError(f"need support_emb (U, S>=1, d) and cand_emb (U, C, d), got {s.shape} and {c.shape}")
    return np.einsum("usd,ucd->uc", _unit_rows(s), _unit_rows(c)) / s.shape[1]


def liked_matrix(item_lists: list[np.ndarray], item_index: dict, n_items: int) -> sp.csr_matrix:
    """Binary CSR (len(item_lists), n_items): row u has 1 at item_index[i] for each i in item_lists[u]."""
    rows, cols = [], []
    for u, items in enumerate(item_lists):
        for i in items:
            rows.append(u)
            cols.append(item_index[i])
    X = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(item_lists), n_items))
    X.sum_duplicates()
    X.data[:] = 1.0
    return X


def als_episode_scores(train_liked: list[np.ndarray], episodes: Episodes, item_ids: np.ndarray, *,
                       factors: int = 32, regularization: float = 0.05, alpha: float = 2.0, iterations: int = 15,
                       seed: int = 0) -> np.ndarray:
    """(U, C) ALS scores p_u · q_c of the episodes' candidates: implicit ALS fitted on the binary liked matrix
    of the training users (``train_liked``: one array of liked item ids per user) stacked with each test
    user's prompt movies (``episodes.support``). ``item_ids``: the catalogue (every candidate must be in it)."""
    from simrepro.methods.recommendation.baselines import als_factors
    index = {int(i): j for j, i in enumerate(np.asarray(item_ids))}
    missing = set(np.unique(episodes.candidates).tolist()) - set(index)
    if missing:
        raise ValueError(f"{len(missing)} candidate items are not in item_ids (e.g. {sorted(missing)[:3]})")
    X = sp.vstack([liked_matrix(train_liked, index, len(index)),
                   liked_matrix(list(episodes.support), index, len(index))]).tocsr()
    P, Q = als_factors(X, factors=factors, regularization=regularization, alpha=alpha, iterations=iterations,
                       seed=seed)
    Pu = P[len(train_liked):]
    cols = np.vectorize(index.__getitem__)(episodes.candidates)
    return np.einsum("uf,ucf->uc", Pu, Q[cols])


def binomial_above_chance(successes: int, n: int, p0: float) -> float:
    """One-sided exact binomial p-value P(X ≥ successes | n, p0) (scipy ``binomtest``, alternative 'greater')."""
    from scipy.stats import binomtest
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got successes={successes}, n={n}")
    return float(binomtest(int(successes), int(n), p0, alternative="greater").pvalue)
