r"""OutRank's cardinality-corrected mutual information for categorical feature ranking (Škrlj & Mramor, RecSys 2023).

Both variables are categorical, given as integer codes. For a feature column ``x`` (N,) and a label column ``y``
(N,), with n_v = #{i : x_i = v}, n_vc = #{i : x_i = v, y_i = c} and natural logarithms:

    H(Y)      = − Σ_c (n_c / N) log(n_c / N)
    H(Y | X)  = Σ_{v : n_v > 1} (n_v / N) · ( − Σ_c (n_vc / n_v) log(n_vc / n_v) )         (singletons add 0)
    plain MI  = H(Y) − H(Y | X)                                                            (nats; = sklearn's
                                                                                            mutual_info_score)

The plain estimate of a feature independent of Y is biased upwards by ≈ (|X| − 1)(|Y| − 1) / (2N) nats, so an
ID-like noise column can outrank weak informative features. OutRank's correction (official
``outrank/algorithms/feature_ranking/ranking_mi_numba.py``, ``compute_entropies``, lines 74–115 at commit
9aedd71) replaces H(Y) by the conditional entropy of a *background* label that has the same value counts but no
relation to X: for row i with value v = x_i, the background label is y at row (i + n_v) mod N (line 89, "right
shift to simulate noise"), so

    H_bg(Y | X) = Σ_{v : n_v > 1} (n_v / N) · ( − Σ_c (m_vc / n_v) log(m_vc / n_v) ),  m_vc = #{i : x_i = v, y_{(i+n_v) mod N} = c}
    corrected   = H_bg(Y | X) − H(Y | X)                                                   (line 114)

Same-cardinality noise thus scores ≈ 0 (both terms carry the same small-sample bias) while an informative
feature keeps ≈ its MI. The shift assumes the rows are exchangeable (shuffle rows that are sorted by anything).
When x equals y the official code turns the correction off (line 167 tests ``sum(X − Y) == 0``; we test
element-wise equality, the intent). Only the full-data estimate (``approximation_factor = 1``) is implemented.

``cardinality_mi`` is the vectorised path (two ``bincount`` calls, O(N + |X|·|Y|) time and memory);
``cardinality_mi_reference`` is a plain loop over values following the definition above, for tests.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "encode",
    "cardinality_mi",
    "cardinality_mi_reference",
    "plain_mi",
    "rank_features",
    "analytic_mi_bias",
    "permutation_null",
]


def encode(column) -> np.ndarray:
    """Integer codes 0..k−1 (int64, shape (N,)) of a 1-D categorical column (any dtype np.unique can sort).

    Raises ValueError on a non-1-D input or on NaN (encode missing values as their own category first)."""
    a = np.asarray(column)
    if a.ndim != 1:
        raise ValueError(f"a column must be 1-D; got shape {a.shape}")
    if a.dtype.kind == "f" and np.isnan(a).any():
        raise ValueError("column contains NaN: map missing values to their own category (e.g. -1) first")
    if a.dtype == object and any(v is None or (isinstance(v, float) and v != v) for v in a):
        raise ValueError("column contains None/NaN: map missing values to their own category first")
    return np.unique(a, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _check_pair(y, x) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    x = np.asarray(x)
    if y.ndim != 1 or x.ndim != 1:
        raise ValueError(f"y and x must be 1-D code arrays; got shapes {y.shape} and {x.shape}")
    if len(y) != len(x):
        raise ValueError(f"y and x must have the same length; got {len(y)} and {len(x)}")
    if len(y) == 0:
        raise ValueError("empty input: mutual information needs at least one row")
    for name, a in (("y", y), ("x", x)):
        if a.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integer codes (dtype {a.dtype}); pass it through encode() first")
        if a.min() < 0:
            raise ValueError(f"{name} has negative codes; pass it through encode() first")
    return y.astype(np.int64), x.astype(np.int64)


def _cond_entropy(joint: np.ndarray, n_v: np.ndarray, n: int) -> float:
    """Σ_{v: n_v>1} (n_v/N)·H(row v of the (|X|, |Y|) count table), natural log."""
    keep = n_v > 1
    j = joint[keep].astype(np.float64)
    nv = n_v[keep].astype(np.float64)[:, None]
    p = j / nv
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(j > 0, p * np.log(p), 0.0).sum(axis=1)
    return float((nv[:, 0] / n * h).sum())


def cardinality_mi(y, x, *, cardinality_correction: bool = True) -> float:
    """OutRank's score of feature codes ``x`` (N,) for label codes ``y`` (N,), in nats (see the module docstring).

    ``cardinality_correction=False`` gives plain MI H(Y) − H(Y|X)."""
    y, x = _check_pair(y, x)
    n = len(y)
    kx, ky = int(x.max()) + 1, int(y.max()) + 1
    n_v = np.bincount(x, minlength=kx)
    joint = np.bincount(x * ky + y, minlength=kx * ky).reshape(kx, ky)
    h_cond = _cond_entropy(joint, n_v, n)                                   # H(Y | X)
    if cardinality_correction and not np.array_equal(x, y):
        y_bg = y[(np.arange(n) + n_v[x]) % n]                               # y at row (i + n_v) mod N (line 89)
        joint_bg = np.bincount(x * ky + y_bg, minlength=kx * ky).reshape(kx, ky)
        return _cond_entropy(joint_bg, n_v, n) - h_cond                     # H_bg(Y|X) − H(Y|X) (line 114)
    p = np.bincount(y) / n
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() - h_cond)                           # H(Y) − H(Y|X)


def cardinality_mi_reference(y, x, *, cardinality_correction: bool = True) -> float:
    """Plain-loop reference of :func:`cardinality_mi` (O(N·|X|)); for tests."""
    y, x = _check_pair(y, x)
    n = len(y)
    classes = sorted(set(y.tolist()))

    def h_rows(labels_of):
        total = 0.0
        for v in sorted(set(x.tolist())):
            rows = [i for i in range(n) if x[i] == v]
            if len(rows) == 1:
                continue
            labels = labels_of(rows)
            h = 0.0
            for c in classes:
                q = sum(1 for lab in labels if lab == c) / len(rows)
                if q > 0:
                    h -= q * np.log(q)
            total += len(rows) / n * h
        return total

    h_cond = h_rows(lambda rows: [y[i] for i in rows])
    if cardinality_correction and not np.array_equal(x, y):
        h_bg = h_rows(lambda rows: [y[(i + len(rows)) % n] for i in rows])
        return h_bg - h_cond
    h_y = 0.0
    for c in classes:
        q = float(np.mean(y == c))
        h_y -= q * np.log(q)
    return h_y - h_cond


def plain_mi(y, x) -> float:
    """Plain plug-in MI H(Y) − H(Y|X) in nats (equals sklearn.metrics.mutual_info_score(x, y))."""
    return cardinality_mi(y, x, cardinality_correction=False)


def rank_features(X, y, *, cardinality_correction: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Scores (d,) of the columns of code matrix ``X`` (N, d) for labels ``y`` (N,), and the column order (d,),
    best first (ties broken by column index)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D (N, d) code matrix; got shape {X.shape}")
    scores = np.array([cardinality_mi(y, X[:, j], cardinality_correction=cardinality_correction)
                       for j in range(X.shape[1])])
    return scores, np.argsort(-scores, kind="stable")


def analytic_mi_bias(n_x: int, n_y: int, n: int) -> float:
    """First-order bias of plain MI under independence, (|X| − 1)(|Y| − 1) / (2N) nats (Miller–Madow)."""
    if n <= 0:
        raise ValueError("n must be positive")
    return (n_x - 1) * (n_y - 1) / (2.0 * n)


def permutation_null(y, x, *, n_perm: int, rng: np.random.Generator,
                     cardinality_correction: bool = True) -> np.ndarray:
    """Scores (n_perm,) of ``x`` against ``n_perm`` random permutations of ``y``."""
    y = np.asarray(y)
    return np.array([cardinality_mi(rng.permutation(y), x, cardinality_correction=cardinality_correction)
                     for _ in range(n_perm)])


# --------------------------------------------------------------------------------------------------------------
# Data for the experiments (a seeded synthetic generator with its ground truth; MovieLens-100k as a CTR-like table)
# --------------------------------------------------------------------------------------------------------------

def synthetic_categorical(n: int, *, informative_cards=(2, 4, 8, 16, 32, 64), effect: float = 0.25,
                          noise_cards=(500, 1000, 2000, 4000), low_noise_cards=(2, 8), n_redundant: int = 1,
                          rng: np.random.Generator):
    """A binary-label categorical table with ground truth.

    Each informative feature j (cardinality ``informative_cards[j]``) draws a value uniformly and adds a per-value
    logit effect ±``effect`` (half the values +, half −, in random order, so every informative feature carries
    information); y ~ Bernoulli(sigmoid(Σ_j effect_j[x_j] − 1)). Noise columns are uniform and
    independent of y (ID-like ``noise_cards`` and low-cardinality ``low_noise_cards``); ``n_redundant`` copies
    of the first informative features are relabelled by a random bijection (informative, redundant).

    Returns (X (n, d) int64 codes, y (n,) int64, names (d,), informative (d,) bool)."""
    if n <= 0:
        raise ValueError("n must be positive")
    cols, names, info = [], [], []
    logit = np.full(n, -1.0)
    for j, k in enumerate(informative_cards):
        x = rng.integers(0, k, n)
        signs = np.where(np.arange(k) < (k + 1) // 2, 1.0, -1.0)
        logit += effect * rng.permutation(signs)[x]
        cols.append(x), names.append(f"inf{j}_card{k}"), info.append(True)
    for j in range(n_redundant):
        k = informative_cards[j]
        cols.append(rng.permutation(k)[cols[j]]), names.append(f"copy_of_inf{j}"), info.append(True)
    for k in tuple(noise_cards) + tuple(low_noise_cards):
        cols.append(rng.integers(0, k, n)), names.append(f"noise_card{k}"), info.append(False)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return np.stack(cols, axis=1).astype(np.int64), y, np.array(names), np.array(info)


def movielens_ctr(inter, users, items, *, min_rating: int = 4):
    """MovieLens-100k as a CTR-like categorical table: one row per rating, y = rating ≥ ``min_rating``.

    ``inter``, ``users``, ``items``: the 'inter', 'user', 'item' tables of ``load_movielens_100k``. Columns:
    user_id, item_id, zip_code, occupation, age (decade bucket), gender, release_year, weekday, hour, and one
    0/1 flag per genre. Returns (codes (N, d) int64, y (N,) int64, names (d,)), rows in the order of ``inter``."""
    import pandas as pd

    df = inter.merge(users, on="user_id", how="left").merge(items, on="item_id", how="left")
    ts = pd.to_datetime(df["timestamp"], unit="s")
    table = {
        "user_id": df["user_id"], "item_id": df["item_id"], "zip_code": df["zip_code"].astype(str),
        "occupation": df["occupation"].astype(str), "age": (df["age"] // 10).astype(int),
        "gender": df["gender"].astype(str), "release_year": df["release_year"].fillna(-1).astype(str),
        "weekday": ts.dt.weekday, "hour": ts.dt.hour,
    }
    genres = df["class"].fillna("").astype(str).str.split(" ")
    for g in sorted({g for gs in genres for g in gs if g}):
        table[f"genre_{g}"] = genres.map(lambda gs, g=g: int(g in gs))
    names = list(table)
    codes = np.stack([encode(np.asarray(table[c])) for c in names], axis=1)
    y = (df["rating"].to_numpy() >= min_rating).astype(np.int64)
    return codes, y, np.array(names)


def logreg_auc(X_train, y_train, X_test, y_test, columns, *, C: float = 1.0) -> tuple[float, float]:
    """ROC AUC on the test rows of an L2 logistic regression on one-hot codes of ``columns``, and its fit time (s,
    encoding included). Values unseen in training map to all-zero (``handle_unknown='ignore'``)."""
    import time

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import OneHotEncoder

    columns = list(columns)
    if not columns:
        raise ValueError("columns is empty: select at least one feature")
    t = time.perf_counter()
    enc = OneHotEncoder(handle_unknown="ignore")
    A = enc.fit_transform(X_train[:, columns])
    model = LogisticRegression(C=C, solver="liblinear", max_iter=200).fit(A, y_train)
    fit_s = time.perf_counter() - t
    p = model.predict_proba(enc.transform(X_test[:, columns]))[:, 1]
    return float(roc_auc_score(y_test, p)), fit_s
