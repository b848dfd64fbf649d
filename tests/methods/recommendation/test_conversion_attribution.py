import numpy as np
import pytest
import scipy.sparse as sp

from simrepro.methods.recommendation import conversion_attribution as ca


@pytest.fixture(scope="module")
def world():
    tax = ca.make_taxonomy(n_top=3, mids_per_top=2, leaves_per_mid=3, n_complements=2, seed=1)
    mk = ca.make_market(tax, n_items=57, n_users=101, seed=2)
    return tax, mk


def test_taxonomy_structure():
    tax = ca.make_taxonomy(seed=0)
    assert tax.n_leaves == 200 and len(tax.top_of_mid) == 25
    top = tax.top_of_leaf()
    assert np.all(top[tax.complements] != top[:, None])           # complements in other top categories
    R = tax.related()
    assert np.array_equal(R, R.T) and R.diagonal().all()
    with pytest.raises(ValueError, match="n_top"):
        ca.make_taxonomy(n_top=1)


def test_market_and_clicks(world):
    tax, mk = world
    assert set(np.unique(mk.leaf_of_item)) == set(range(tax.n_leaves))
    assert set(np.unique(mk.segment)) == {0, 1, 2, 3}
    log = ca.simulate_clicks(mk, 4001, seed=3)
    assert len(log) == 4001 and log.item.min() >= 0 and log.item.max() < mk.n_items
    assert np.all((log.bought >= 0) == (log.kind > 0))
    assert np.all(log.bought[log.kind == 1] == log.item[log.kind == 1])
    rel = tax.related()
    k2 = log.kind == 2
    assert rel[mk.leaf_of_item[log.item[k2]], mk.leaf_of_item[log.bought[k2]]].all()
    np.testing.assert_array_equal(log.y_genuine, np.isin(log.kind, [1, 2]))
    again = ca.simulate_clicks(mk, 4001, seed=3)
    np.testing.assert_array_equal(log.bought, again.bought)
    with pytest.raises(ValueError, match="n_sessions"):
        ca.simulate_clicks(mk, 0)
    with pytest.raises(ValueError, match="leaf needs an item"):
        ca.make_market(tax, n_items=5)


def test_click_distribution_matches_softmax():
    # the inverse-CDF draw follows p(A | u) ∝ exp(h_A s_u): chi-square-free check by frequencies of one user
    tax = ca.make_taxonomy(n_top=2, mids_per_top=1, leaves_per_mid=2, n_complements=1, seed=0)
    mk = ca.make_market(tax, n_items=7, n_users=1, appeal_sd=1.0, seed=4)
    log = ca.simulate_clicks(mk, 200_000, seed=5)
    p = np.exp(mk.s[0] * mk.h)
    p /= p.sum()
    freq = np.bincount(log.item, minlength=7) / len(log)
    print(np.abs(freq - p).max())
    assert np.abs(freq - p).max() < 0.005                       # 5 standard errors at n = 2e5


def test_ppmi_similarity_equals_reference(world):
    tax, _ = world
    S = ca.simulate_coengagement(tax, 150, seed=6)
    fast = ca.category_similarity_ppmi(S)
    ref = ca.category_similarity_ppmi_reference(S)
    print(np.abs(fast - ref).max())
    np.testing.assert_allclose(fast, ref, atol=1e-10)
    assert np.allclose(np.diag(fast), 1.0) and np.allclose(fast, fast.T)


def test_similarity_separates_related_leaves():
    tax = ca.make_taxonomy(seed=0)
    S = ca.simulate_coengagement(tax, 20000, seed=0)
    R = tax.related() & ~np.eye(200, dtype=bool)
    for sim in (ca.category_similarity_ppmi(S), ca.category_similarity_als(S, factors=16, seed=0)):
        assert sim[R].mean() > sim[~tax.related()].mean() + 0.05


def test_pair_weights(world):
    tax, mk = world
    log = ca.simulate_clicks(mk, 3000, seed=7)
    sim = np.full((tax.n_leaves, tax.n_leaves), -0.5)
    np.fill_diagonal(sim, 2.0)
    w = ca.pair_weights(log, mk.leaf_of_item, sim)
    assert np.all(w[~log.is_cabb] == 0) and w.min() >= 0 and w.max() <= 1
    same = mk.leaf_of_item[log.item] == np.where(log.bought >= 0, mk.leaf_of_item[np.maximum(log.bought, 0)], -1)
    np.testing.assert_array_equal(w[log.is_cabb], same[log.is_cabb].astype(float))
    sim[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ca.pair_weights(log, mk.leaf_of_item, sim)


def test_soft_logistic_equals_sklearn_duplicated_rows():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = sp.random(601, 23, density=0.2, random_state=1, format="csr")
    t = np.clip(rng.random(601) * (rng.random(601) < 0.4), 0, 1)
    ours = ca.fit_logistic(X, t, l2=0.7, tol=1e-10)
    Xd = sp.vstack([X, X]).tocsr()
    yd = np.r_[np.ones(601), np.zeros(601)]
    wd = np.r_[t, 1 - t]
    sk = LogisticRegression(C=1 / 0.7, tol=1e-12, max_iter=10000).fit(Xd, yd, sample_weight=wd)
    diff = max(np.abs(ours.coef - sk.coef_.ravel()).max(), abs(ours.intercept - sk.intercept_[0]))
    print("max |Δ|", diff)
    assert diff < 1e-5


def test_logistic_errors():
    X = sp.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match="same"):
        ca.fit_logistic(X, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ca.fit_logistic(X, np.array([0.0, 1.0, 1.5]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ca.fit_logistic(X, np.array([0.0, np.nan, 1.0]))


def test_platt_recovers_miscalibration():
    rng = np.random.default_rng(1)
    z = rng.normal(size=20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-(0.5 * z - 1)))).astype(float)
    s = 1 / (1 + np.exp(-z))                                      # logit(s) = z
    a, b = ca.fit_platt(s, y)
    print(a, b)
    assert abs(a - 0.5) < 0.06 and abs(b + 1) < 0.06


def test_normalized_entropy():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(2)
    y = (rng.random(997) < 0.2).astype(float)
    p = rng.random(997)
    q = y.mean()
    h = -(q * np.log(q) + (1 - q) * np.log(1 - q))
    assert ca.normalized_entropy(y, p) == pytest.approx(log_loss(y, p) / h, abs=1e-12)
    assert ca.normalized_entropy(y, np.full(997, q)) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="same"):
        ca.normalized_entropy(np.zeros(3), np.full(3, 0.5))
    with pytest.raises(ValueError, match="NaN"):
        ca.normalized_entropy(np.array([0.0, 1.0]), np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match="shape"):
        ca.normalized_entropy(np.array([0.0, 1.0]), np.array([0.5]))
