"""Every layer of simrepro.methods.diversity.vendi against the definition VS_q = exp(H_q(eig(K/n))), for every order q.

The reference below is written from the definition with numpy only (eigvalsh of K/n, numerical rank by
numpy.linalg.matrix_rank for q = 0). Tolerance: 1e-9 relative — the layers differ only by float64 rounding
of O(n·d) sums and of the eigensolver."""

import math

import numpy as np
import pytest
import torch

from simrepro.methods.diversity import vendi

ORDERS = [0, 0.1, 0.5, 1, 2, 5, math.inf]


def vs_definition(K, q):
    """exp of the Rényi entropy of order q of the eigenvalues λ of K/n (numpy only)."""
    n = K.shape[0]
    lam = np.linalg.eigvalsh(K / n)
    if q == 0:
        return float(np.linalg.matrix_rank(K, hermitian=True))
    lam = lam[lam > n * np.finfo(float).eps * lam.max()]
    if q == 1:
        return math.exp(-np.sum(lam * np.log(lam)))
    if q == math.inf:
        return 1 / lam.max()
    return np.sum(lam ** q) ** (1 / (1 - q))


def cosine_numpy(X):
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    return Xn @ Xn.T


def features(n, d, seed):
    """Clustered features with an uneven spectrum, so different orders q give different scores."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, d)) * 3
    return centres[rng.integers(0, 4, size=n)] + rng.normal(size=(n, d))


# ---- the README examples (official repository README, "Usage") ----

def test_readme_scalar_example():
    v = vendi.score([0, 0, 10, 10, 20, 20], lambda a, b: np.exp(-np.abs(a - b)))
    print(f"{v!r}")
    assert abs(v - 3) < 1e-4 and v < 3


def test_readme_matrix_example():
    v = vendi.score_K(np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    print(f"{v!r}")
    assert abs(v - 2.1573) < 5e-5


def test_readme_ngram_example():
    sents = ["Look, Jane.", "See Spot.", "See Spot run.", "Run, Spot, run.", "Jane sees Spot run."]
    v = vendi.ngram_vendi_score(sents, ns=[1, 2])
    print(f"{v!r}")
    assert abs(v - 3.91) < 0.005


# ---- every layer against the definition, for every order ----

@pytest.mark.parametrize("q", ORDERS)
@pytest.mark.parametrize("n, d", [(37, 11), (13, 29), (1, 5)])
def test_every_layer_matches_the_definition(n, d, q):
    X = features(n, d, seed=n + d)
    want = vs_definition(cosine_numpy(X), q)
    got = {
        "score(callable)": vendi.score(list(X), lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b), q),
        "score('cosine')": vendi.score(X, "cosine", q),
        "score_K": vendi.score_K(cosine_numpy(X), q),
        "score_X": vendi.score_X(X, q),
        "score_dual": vendi.score_dual(X, q),
    }
    print(f"n={n} d={d} q={q}: want {want!r}", {k: f"{v:.12g}" for k, v in got.items()})
    for layer, v in got.items():
        assert v == pytest.approx(want, rel=1e-9), layer


@pytest.mark.parametrize("layer", ["score", "score_K", "score_X", "score_dual"])
def test_every_layer_honours_q(layer):
    """The official score_X passes q=1 whatever q it is given; here each order must change the result."""
    X = features(40, 6, seed=0)
    call = {"score": lambda q: vendi.score(X, "cosine", q), "score_K": lambda q: vendi.score_K(cosine_numpy(X), q),
            "score_X": lambda q: vendi.score_X(X, q), "score_dual": lambda q: vendi.score_dual(X, q)}[layer]
    values = [call(q) for q in ORDERS]
    print(layer, np.round(values, 6))
    assert all(a > b * (1 + 1e-6) for a, b in zip(values, values[1:]))
    assert values[0] == 6                                   # q = 0: rank of a 6-dimensional linear kernel


def test_gaussian_metric_matches_callable_kernel():
    X = features(23, 3, seed=5)
    k = lambda a, b: np.exp(-0.2 * np.sum((a - b) ** 2))      # noqa: E731
    for q in (0.5, 1, math.inf):
        assert vendi.score(X, "gaussian", q, gamma=0.2) == pytest.approx(vendi.score(list(X), k, q), rel=1e-9)


def test_agrees_with_official_package():
    official = pytest.importorskip("vendi_score.vendi")
    X = features(60, 4, seed=2)
    K = np.exp(-0.3 * ((X[:, None] - X[None]) ** 2).sum(-1))  # gaussian kernel: full rank, no rounding-zero eigenvalues
    for q in (0.5, 1, 2, "inf"):
        assert vendi.score_K(K, q) == pytest.approx(official.score_K(K, q=q), rel=1e-9), q
    assert vendi.score_dual(X) == pytest.approx(official.score_dual(X), rel=1e-9)


# ---- properties from the paper ----

@pytest.mark.parametrize("q", ORDERS)
def test_identity_gives_n_and_all_ones_gives_one(q):
    assert vendi.score_K(np.eye(17), q) == pytest.approx(17, rel=1e-12)
    assert vendi.score_K(np.ones((17, 17)), q) == pytest.approx(1, rel=1e-12)


@pytest.mark.parametrize("q", ORDERS)
def test_orthogonal_classes_give_the_hill_number_of_the_proportions(q):
    counts = np.array([50, 30, 15, 5])
    labels = np.repeat(np.arange(4), counts)
    onehot = np.eye(4)[labels]
    p = counts / counts.sum()
    if q == 0:
        want = 4.0
    elif q == 1:
        want = math.exp(-(p * np.log(p)).sum())
    elif q == math.inf:
        want = 1 / p.max()
    else:
        want = (p ** q).sum() ** (1 / (1 - q))
    assert vendi.score_X(onehot, q) == pytest.approx(want, rel=1e-10)
    assert vendi.score_dual(onehot, q) == pytest.approx(want, rel=1e-10)


def test_well_separated_gaussian_modes_give_the_number_of_modes():
    """k copies of one tight cluster, 20 apart (cross-similarity e^-200): VS = k × VS(one cluster) ≈ k."""
    cluster = np.random.default_rng(0).normal(scale=0.01, size=(30, 2))
    one = vendi.score(cluster, "gaussian", gamma=0.5)
    for k in (1, 3, 8):
        X = np.concatenate([cluster + 20 * m for m in range(k)])
        v = vendi.score(X, "gaussian", gamma=0.5)
        print(k, v, one)
        assert v == pytest.approx(k * one, rel=1e-9)
        assert abs(v - k) / k < 0.01


def test_invariant_to_order_and_to_duplicating_every_item():
    X = features(21, 5, seed=7)
    perm = np.random.default_rng(0).permutation(21)
    for q in (0.5, 1, 3):
        v = vendi.score_X(X, q)
        assert vendi.score_X(X[perm], q) == pytest.approx(v, rel=1e-10)
        assert vendi.score_X(np.repeat(X, 2, axis=0), q) == pytest.approx(v, rel=1e-10)


def test_normalize_rescales_to_unit_diagonal():
    X = features(15, 4, seed=1) * np.arange(1, 16)[:, None]
    K = X @ X.T
    assert vendi.score_K(K, normalize=True) == pytest.approx(vendi.score_X(X), rel=1e-10)
    with pytest.raises(ValueError, match="k\\(x, x\\) = 1"):
        vendi.score_K(K)


def test_float32_torch_input():
    X = features(50, 8, seed=4)
    v32 = vendi.score_X(torch.tensor(X, dtype=torch.float32))
    assert v32 == pytest.approx(vendi.score_X(X), rel=1e-5)


# ---- the README image recipe ----

def test_pixel_vectors_and_pixel_score():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(9, 28, 28), dtype=np.uint8)
    P = vendi.pixel_vectors(imgs)
    assert P.shape == (9, 1024) and P.dtype == np.float64
    assert vendi.pixel_vectors(imgs, size=None).shape == (9, 784)
    assert vendi.pixel_vendi_score(imgs, 2) == pytest.approx(vendi.score_X(P, 2), rel=1e-10)
    with pytest.raises(ValueError, match="uint8"):
        vendi.pixel_vectors(imgs.astype(float))


# ---- bad input ----

@pytest.mark.parametrize("call, exc, match", [
    (lambda: vendi.score_K(np.zeros((0, 0))), ValueError, "empty"),
    (lambda: vendi.score_K(np.ones((2, 3))), ValueError, "square"),
    (lambda: vendi.score_K(np.array([[1.0, np.nan], [np.nan, 1.0]])), ValueError, "NaN"),
    (lambda: vendi.score_K(np.array([[1.0, 2.0], [2.0, 1.0]])), ValueError, "positive semi-definite"),
    (lambda: vendi.score_K(np.eye(3), q=-1), ValueError, "≥ 0"),
    (lambda: vendi.score_K(np.zeros((2, 2)), normalize=True), ValueError, "positive diagonal"),
    (lambda: vendi.score_X(np.array([[1.0, 0.0], [0.0, 0.0]])), ValueError, "row 1 is all zeros"),
    (lambda: vendi.score_X(np.array([[2.0, 0.0]]), normalize=False), ValueError, "unit-norm"),
    (lambda: vendi.score_dual(np.zeros((0, 3))), ValueError, "empty"),
    (lambda: vendi.score(np.eye(3), "l2"), ValueError, "distance"),
    (lambda: vendi.score([1, 2], 3), TypeError, "callable"),
    (lambda: vendi.ngram_vendi_score([]), ValueError, "empty"),
    (lambda: vendi.pixel_vectors(np.zeros((0, 28, 28), np.uint8)), ValueError, "non-empty"),
    (lambda: vendi.score([], "cosine"), ValueError, "2-D"),
    (lambda: vendi.score(np.zeros((0, 3)), "cosine"), ValueError, "empty"),
])
def test_bad_input_raises_a_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_orders_from_one_spectrum_equal_per_order_calls():
    import math
    rng = np.random.default_rng(7)
    X = np.abs(rng.normal(size=(60, 8)))
    X[30:] = X[:30]                                          # duplicates: a rank-deficient kernel, noise matters
    qs = [0, 0.1, 0.5, 1, 2, math.inf]
    assert vendi.score_X_orders(X, qs) == [vendi.score_X(X, q) for q in qs]
    from simrepro.kernels import pairwise_similarity
    K = pairwise_similarity(X, metric="cosine")
    assert vendi.score_K_orders(K, qs) == [vendi.score_K(K, q) for q in qs]
    got = vendi.score_X_orders(X, [2, 1])
    assert got[0] < got[1]                                   # order kept: VS_2 < VS_1 here
    with pytest.raises(ValueError):
        vendi.score_K_orders(np.ones((3, 4)), qs)
