"""vector_retrieval: SimHash collision statistics, JL ratios, the MIPS → NN reduction, IVF sweeps and relative
contrast, each against its definition or reference, on irregular sizes and edge cases."""

import math

import numpy as np
import pytest

from simrepro.kernels.random_projection import very_sparse_random_matrix
from simrepro.kernels.topk import topk_search_reference
from simrepro.methods.search import ann_eval as ae
from simrepro.methods.search import vector_retrieval as vr


# ------------------------------------------------------------------------------------------------ SimHash
def test_pairs_at_angles_have_exact_angles_and_unit_norm():
    th = np.array([0.0, 0.3, 1.0, math.pi / 2, 2.9, math.pi])
    u, v = vr.pairs_at_angles(17, th, seed=3)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(vr.angles(u, v), th, atol=1e-7)


def test_collision_stats_equal_reference_per_pair_with_odd_blocks():
    u, v = vr.pairs_at_angles(13, np.linspace(0.1, 3.0, 7), seed=1)
    planes = vr.gaussian_hyperplanes(13, 333, seed=2)
    ref = vr.simhash_collision_reference(u, v, planes)
    st = vr.simhash_collision_stats(u, v, planes, block=50)
    print("max diff", np.abs(st.measured - ref).max())
    np.testing.assert_array_equal(st.measured, ref)
    np.testing.assert_array_equal(st.count, np.ones(7))


def test_group_means_and_se_match_a_direct_computation():
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((9, 5)), rng.standard_normal((9, 5))
    groups = np.array([0, 1, 0, 2, 1, 0, 2, 2, 1])
    planes = vr.gaussian_hyperplanes(5, 401, seed=4)
    st = vr.simhash_collision_stats(u, v, planes, groups, block=64)
    same = ((u @ planes) > 0) == ((v @ planes) > 0)                       # (9, 401)
    for g in range(3):
        c = same[groups == g].mean(0)                                        # per-hyperplane group rate
        assert st.measured[g] == pytest.approx(c.mean(), abs=1e-12)
        assert st.se[g] == pytest.approx(c.std(ddof=1) / math.sqrt(401), rel=1e-9)
        th = vr.angles(u[groups == g], v[groups == g])
        assert st.theory[g] == pytest.approx(np.mean(1 - th / math.pi), abs=1e-12)


def test_collision_law_holds_and_a_wrong_law_is_detected():
    th = (np.arange(10) + 0.5) * math.pi / 10
    u, v = vr.pairs_at_angles(32, th, seed=5)
    planes = vr.gaussian_hyperplanes(32, 20000, seed=6)
    st = vr.simhash_collision_stats(u, v, planes)
    print("z", st.z.round(2))
    assert np.abs(st.z).max() < 4.5
    # a biased hash (a constant offset on every projection) violates the law, and z must show it
    biased = vr.simhash_collision_stats(u + 0.5 / math.sqrt(32), v + 0.5 / math.sqrt(32), planes)
    assert np.abs((biased.measured - st.theory) / st.se).max() > 10


def test_identical_pairs_collide_always_with_z_zero():
    u = np.random.default_rng(1).standard_normal((3, 8))
    st = vr.simhash_collision_stats(u, u.copy(), vr.gaussian_hyperplanes(8, 100, 0))
    np.testing.assert_array_equal(st.measured, 1.0)
    np.testing.assert_array_equal(st.z, 0.0)


def test_simhash_bad_input_errors():
    u = np.ones((2, 3))
    with pytest.raises(ValueError, match="zero vector"):
        vr.angles(u, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        vr.simhash_collision_stats(np.array([[np.nan, 1, 1], [1, 1, 1]]), u, np.ones((3, 4)))
    with pytest.raises(ValueError, match="same shape"):
        vr.simhash_collision_stats(u, np.ones((3, 3)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"planes must be \(d, T\)"):
        vr.simhash_collision_stats(u, u, np.ones((4, 4)))
    with pytest.raises(ValueError, match="hold no pair"):
        vr.simhash_collision_stats(u, u, np.ones((3, 4)), groups=np.array([0, 2]))
    with pytest.raises(ValueError, match=r"\[0, π\]"):
        vr.simhash_theory([4.0])


# ------------------------------------------------------------------------------------------------ JL
def test_jl_dimension_formula_and_errors():
    assert vr.jl_dimension(500, 0.3) == math.ceil(8 * math.log(500) / 0.09) == 553
    with pytest.raises(ValueError, match="0 < eps < 1"):
        vr.jl_dimension(10, 1.0)
    with pytest.raises(ValueError, match="n ≥ 2"):
        vr.jl_dimension(1, 0.5)


@pytest.mark.parametrize("sparse", [False, True])
def test_jl_ratios_equal_reference_and_drop_duplicates(sparse):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((23, 11))
    x[5] = x[2]                                                              # one duplicate pair
    R = very_sparse_random_matrix(11, 7, s=3, seed=1) if sparse else vr.gaussian_projection(11, 7, seed=1)
    r, ref = vr.jl_ratios(x, R), vr.jl_ratios_reference(x, R)
    assert r.shape == (23 * 22 // 2 - 1,)
    np.testing.assert_allclose(r, ref, rtol=1e-10)


def test_jl_identity_projection_has_no_distortion_and_gaussian_is_unbiased():
    x = np.random.default_rng(2).standard_normal((40, 6))
    assert vr.max_distortion(vr.jl_ratios(x, np.eye(6))) == pytest.approx(0.0, abs=1e-12)
    r = np.concatenate([vr.jl_ratios(x, vr.gaussian_projection(6, 50, seed=s)) for s in range(40)])
    assert abs(r.mean() - 1.0) < 0.02                                         # E ratio = 1 (sd of mean ≈ 0.003)
    assert math.isnan(vr.max_distortion([]))


# ------------------------------------------------------------------------------------------------ MIPS
def test_mips_augmentation_identity():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 9)) * rng.uniform(0.1, 5, (37, 1))
    q = rng.standard_normal((5, 9))
    xa, qa, M = vr.mips_to_nn(x, q)
    assert xa.shape == (37, 10) and qa.shape == (5, 10)
    np.testing.assert_allclose(np.linalg.norm(xa, axis=1), M, rtol=1e-12)   # every x̃ on the sphere of radius M
    d2 = ((qa[:, None, :] - xa[None]) ** 2).sum(-1)
    np.testing.assert_allclose(d2, (q ** 2).sum(1)[:, None] + M ** 2 - 2 * q @ x.T, rtol=1e-10, atol=1e-10)


def test_mips_via_nn_equals_mips_reference_and_differs_from_plain_nn():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((301, 7)) * rng.uniform(0.05, 10, (301, 1))      # very unequal norms
    q = rng.standard_normal((41, 7))
    ids = vr.mips_search_via_nn(x, q, 5)
    _, ref = topk_search_reference(q, x, 5, "dot")
    gt = ae.exact_ground_truth(x, q, 5, "dot")
    assert ae.recall_at_k(gt, x, q, ids) == 1.0
    np.testing.assert_array_equal(ids[:, 0], ref[:, 0])
    _, l2 = topk_search_reference(q, x, 1, "l2")
    assert (l2[:, 0] != ref[:, 0]).any()                                    # the reduction is needed here


def test_mips_errors():
    with pytest.raises(ValueError, match="empty"):
        vr.mips_to_nn(np.zeros((0, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError, match="dimension"):
        vr.mips_to_nn(np.ones((2, 3)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        vr.mips_to_nn(np.array([[1.0, np.nan]]), np.ones((1, 2)))


def test_mips_zero_vectors_and_equal_norms():
    x = np.vstack([np.zeros((2, 4)), np.eye(4)])                             # two zero rows, four equal norms
    xa, qa, M = vr.mips_to_nn(x, np.ones((1, 4)))
    assert M == 1.0 and np.all(xa[:2, -1] == 1.0) and np.all(xa[2:, -1] == 0.0)


# ------------------------------------------------------------------------------------------------ IVF
@pytest.fixture(scope="module")
def ivf_data():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((12, 10)) * 4
    x = (centers[rng.integers(0, 12, 1503)] + rng.standard_normal((1503, 10))).astype(np.float32)
    q = (centers[rng.integers(0, 12, 61)] + rng.standard_normal((61, 10))).astype(np.float32)
    return x, q, ae.exact_ground_truth(x, q, 10, "l2")


def test_ivf_sweep_is_monotone_and_exact_at_full_probe(ivf_data):
    x, q, gt = ivf_data
    index = vr.ivf_flat(x, 16, n_iter=5, max_train=700, seed=0)
    rows = vr.ivf_sweep(index, x, q, gt, [1, 2, 4, 16])
    assert [r["nprobe"] for r in rows] == [1, 2, 4, 16]
    assert rows[-1]["recall"] == 1.0 and rows[-1]["scanned_fraction"] == pytest.approx(1.0)
    assert vr.min_recall_step(rows) >= 0.0
    assert 0 < rows[0]["scanned_fraction"] < rows[1]["scanned_fraction"] < 1
    assert vr.fraction_at_recall(rows, 1.0) <= 1.0 and vr.fraction_at_recall(rows, 2.0) == 1.0


def test_faiss_on_our_centroids_matches_ours(ivf_data):
    pytest.importorskip("faiss")
    x, q, gt = ivf_data
    index = vr.ivf_flat(x, 16, n_iter=5, seed=1)
    peer = vr.faiss_ivf_flat(x, 16, centroids=index.centroids)
    ours = vr.ivf_sweep(index, x, q, gt, [1, 3])
    theirs = vr.ivf_sweep(peer, x, q, gt, [1, 3], method="faiss")
    for a, b in zip(ours, theirs):
        assert abs(a["recall"] - b["recall"]) <= 1e-12
        assert a["scanned_fraction"] == pytest.approx(b["scanned_fraction"])
    own = vr.faiss_ivf_flat(x, 16, n_iter=5, max_train=700, seed=0)
    assert own.ntotal == len(x) and own.is_trained


def test_min_recall_step_detects_a_decrease():
    rows = [{"nprobe": 1, "recall_per_query": np.array([0.5, 0.8])},
            {"nprobe": 2, "recall_per_query": np.array([0.6, 0.7])}]
    assert vr.min_recall_step(rows) == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="two nprobe"):
        vr.min_recall_step(rows[:1])


# ------------------------------------------------------------------------------------------------ MinHash peer
def test_minhash_peer_z_is_small_for_equal_estimators():
    pytest.importorskip("datasketch")
    z = vr.minhash_peer_z(40, [0.3, 0.7], t=32, trials=20, seed=0)
    assert z.shape == (2,) and np.all(np.isfinite(z)) and np.all(z < 5)
    with pytest.raises(ValueError, match="2 trials"):
        vr.minhash_peer_z(40, [0.5], t=8, trials=1)


# ------------------------------------------------------------------------------------------------ concentration
def test_relative_contrast_equals_reference_and_drops_self_matches():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((211, 13))
    q = np.vstack([x[:3], rng.standard_normal((4, 13))])                      # three queries are database rows
    c, ref = vr.relative_contrast(x, q), vr.relative_contrast_reference(x, q)
    np.testing.assert_allclose(c, ref, rtol=1e-6)
    assert np.all(np.isfinite(c)) and np.all(c > 0)


def test_relative_contrast_falls_with_dimension():
    rng = np.random.default_rng(1)
    med = [np.median(vr.relative_contrast(rng.standard_normal((500, d)), rng.standard_normal((20, d))))
           for d in (2, 32, 512)]
    assert med[0] > med[1] > med[2]


def test_relative_contrast_errors():
    with pytest.raises(ValueError, match="≥ 2 database rows"):
        vr.relative_contrast(np.ones((1, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError, match="distance 0 from every"):
        vr.relative_contrast(np.ones((3, 2)), np.ones((1, 2)))


def test_stratified_angle_pairs_cover_bins_and_report_their_bin():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 6))
    x[7] = 0.0                                                               # a zero row is never drawn
    i, j, b = vr.stratified_angle_pairs(x, 100, n_bins=5, n_random=3000, n_anchor=50, n_neighbors=5, seed=1)
    assert len(i) == len(j) == len(b) <= 100 and np.all(i != j)
    assert not np.isin(7, i) and not np.isin(7, j)
    th = vr.angles(x[i], x[j])
    np.testing.assert_array_equal(b, np.minimum((th / math.pi * 5).astype(int), 4))
    assert np.bincount(b, minlength=5).max() <= 20 and len(np.unique(b)) >= 4
    with pytest.raises(ValueError, match="n_pairs ≥ n_bins"):
        vr.stratified_angle_pairs(x, 3, n_bins=5)
