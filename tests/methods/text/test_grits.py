"""GriTS against definitions, brute force and the grits-metric package (scores are sums of rewards in [0, 1]:
tolerance 1e-9 absolute)."""

import itertools

import numpy as np
import pytest

from simrepro.methods.text.grits import (CORRUPTIONS, KINDS, align_1d, alignment_scores, corrupt_table, exact_2dmss,
                                    factored_2dmss, fscore, grits, iou_tensor, lcs_length, lcs_length_reference,
                                    lcs_similarity, lcs_tensor,
                                    random_table, reward_tensor)


def _lcs_reference(s, t):
    d = [[0] * (len(t) + 1) for _ in range(len(s) + 1)]
    for i, a in enumerate(s, 1):
        for j, b in enumerate(t, 1):
            d[i][j] = d[i - 1][j - 1] + 1 if a == b else max(d[i - 1][j], d[i][j - 1])
    return d[-1][-1]


def _monotone_matchings(n, m):
    for k in range(min(n, m) + 1):
        for a in itertools.combinations(range(n), k):
            for b in itertools.combinations(range(m), k):
                yield a, b


def _mss_brute_force(reward):
    ra, ca, rb, cb = reward.shape
    best = 0.0
    for rows_a, rows_b in _monotone_matchings(ra, rb):
        for cols_a, cols_b in _monotone_matchings(ca, cb):
            s = sum(reward[i, j, k, m] for i, k in zip(rows_a, rows_b) for j, m in zip(cols_a, cols_b))
            best = max(best, s)
    return best


def test_lcs_matches_reference():
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = "".join(rng.choice(list("abcä1"), rng.integers(0, 9)))
        t = "".join(rng.choice(list("abcä1"), rng.integers(0, 9)))
        assert lcs_length(s, t) == _lcs_reference(s, t)
    assert lcs_similarity("", "") == 1.0 and lcs_similarity("abc", "") == 0.0
    assert lcs_similarity("abcd", "abed") == pytest.approx(2 * 3 / 8)
    for n in (63, 64, 65, 200):                                  # the bit vector crosses machine words
        s = "".join(rng.choice(list("ab c"), n))
        t = "".join(rng.choice(list("abcd"), n + 7))
        assert lcs_length(s, t) == lcs_length_reference(s, t) == _lcs_reference(s, t)


@pytest.mark.parametrize("max_len", [8, 64, 65, 130])
def test_lcs_tensor_matches_pairwise(max_len):
    """The batched uint64 path (texts of the second grid ≤ 64 characters) and the per-pair path (longer) both
    equal lcs_similarity cell pair by cell pair, with repeated, empty and equal texts."""
    rng = np.random.default_rng(max_len)
    words = ["", "a", "ab", "äb1", "".join(rng.choice(list("abc "), max_len))] + [
        "".join(rng.choice(list("abcd1 "), int(rng.integers(0, max_len + 1)))) for _ in range(6)]
    a = np.array(rng.choice(words, (3, 4)), dtype=object)
    b = np.array(rng.choice(words, (5, 2)), dtype=object)
    b[0, 0] = a[0, 0]
    got = lcs_tensor(a, b)
    want = np.array([[[[lcs_similarity(a[i, j], b[k, m]) for m in range(2)] for k in range(5)]
                      for j in range(4)] for i in range(3)])
    np.testing.assert_array_equal(got, want)
    assert got[0, 0, 0, 0] == 1.0


def test_iou_tensor_matches_loop_and_degenerate_boxes():
    rng = np.random.default_rng(1)
    a = np.sort(rng.uniform(0, 10, (3, 2, 2, 2)), axis=-2).reshape(3, 2, 4)[..., [0, 2, 1, 3]]
    b = np.sort(rng.uniform(0, 10, (2, 4, 2, 2)), axis=-2).reshape(2, 4, 4)[..., [0, 2, 1, 3]]
    got = iou_tensor(a, b)
    for i, j, k, m in itertools.product(range(3), range(2), range(2), range(4)):
        x0, y0, x1, y1 = a[i, j]
        u0, v0, u1, v1 = b[k, m]
        inter = max(0, min(x1, u1) - max(x0, u0)) * max(0, min(y1, v1) - max(y0, v0))
        union = (x1 - x0) * (y1 - y0) + (u1 - u0) * (v1 - v0) - inter
        assert got[i, j, k, m] == pytest.approx(inter / union, abs=1e-12)
    zero = np.zeros((1, 1, 4))
    assert iou_tensor(zero, zero)[0, 0, 0, 0] == 0.0
    with pytest.raises(ValueError, match="NaN"):
        iou_tensor(np.full((1, 1, 4), np.nan), zero)
    with pytest.raises(ValueError, match="rows, cols, 4"):
        iou_tensor(np.zeros((2, 4)), zero)


@pytest.mark.parametrize("n,m", [(1, 1), (3, 5), (6, 2), (0, 3)])
def test_alignment_is_optimal(n, m):
    w = np.random.default_rng(n * 10 + m).random((n, m))
    best = max(sum(w[i, j] for i, j in zip(a, b)) for a, b in _monotone_matchings(n, m))
    score, ia, ib = align_1d(w)
    assert score == pytest.approx(best, abs=1e-12)
    assert sum(w[i, j] for i, j in zip(ia, ib)) == pytest.approx(score, abs=1e-12)
    assert ia == sorted(ia) and ib == sorted(ib) and len(set(ia)) == len(ia)
    assert alignment_scores(w[None])[0] == pytest.approx(score, abs=1e-12)


def test_bounds_bracket_exact_on_random_rewards():
    rng = np.random.default_rng(2)
    gaps = []
    for _ in range(30):
        reward = rng.random((3, 3, 3, 2)) ** 3          # adversarial: dense, unstructured rewards
        mss, exact = factored_2dmss(reward), exact_2dmss(reward)
        assert exact == pytest.approx(_mss_brute_force(reward), abs=1e-12)
        assert mss.lower <= exact + 1e-12 and exact <= mss.upper + 1e-12
        gaps.append(mss.upper - mss.lower)
    print("max gap on random rewards", max(gaps))


def test_identical_tables_score_one_and_transpose_symmetry():
    rng = np.random.default_rng(3)
    t = random_table(rng, 5, 4)
    g = t.grids()
    for kind in KINDS:
        res = grits(g[kind], g[kind], kind)
        assert res.fscore == pytest.approx(1.0) and res.upper_fscore == pytest.approx(1.0)
    p = corrupt_table(corrupt_table(t, rng, "delete_row"), rng, "typo").grids()
    direct = grits(g["con"], p["con"], "con")
    transposed = grits(g["con"].T, p["con"].T, "con")
    assert transposed.fscore == pytest.approx(direct.fscore, abs=1e-12)


def test_fscore_conventions():
    assert fscore(0.0, 0, 0) == (1.0, 1.0, 1.0)
    assert fscore(0.0, 4, 3) == (0.0, 0.0, 0.0)
    assert fscore(3.0, 4, 6)[0] == pytest.approx(2 * 0.5 * 0.75 / 1.25)


def test_corruptions_change_the_table():
    rng = np.random.default_rng(4)
    t = random_table(rng, 6, 5, span_prob=1.0)
    assert corrupt_table(t, rng, "delete_row").owner.shape == (5, 5)
    assert corrupt_table(t, rng, "delete_col").owner.shape == (6, 4)
    assert corrupt_table(t, rng, "insert_row").owner.shape == (7, 5)
    assert len(np.unique(corrupt_table(t, rng, "merge_cells").owner)) == len(np.unique(t.owner)) - 1
    assert len(np.unique(corrupt_table(t, rng, "split_cell").owner)) == len(np.unique(t.owner)) + 1
    assert corrupt_table(t, rng, "typo").text != t.text
    assert not np.allclose(corrupt_table(t, rng, "jitter").grids()["loc"], t.grids()["loc"])
    assert set(CORRUPTIONS) == {"delete_row", "insert_row", "delete_col", "merge_cells", "split_cell", "typo", "jitter"}


def test_bad_input_errors():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt_table(random_table(rng, 2, 2), rng, "rotate")
    with pytest.raises(ValueError, match="at least one row"):
        random_table(rng, 0, 3)
    with pytest.raises(ValueError, match="unknown GriTS kind"):
        reward_tensor(np.zeros((1, 1, 4)), np.zeros((1, 1, 4)), "adj")
    with pytest.raises(ValueError, match="max_pairs"):
        exact_2dmss(np.zeros((12, 1, 12, 1)), max_pairs=1000)


def test_parity_with_grits_metric_package():
    pkg = pytest.importorskip("grits")
    rng = np.random.default_rng(6)
    for _ in range(25):
        t = random_table(rng, int(rng.integers(2, 7)), int(rng.integers(2, 6)))
        p = corrupt_table(t, rng, str(rng.choice(CORRUPTIONS)))
        gt, gp = t.grids(), p.grids()
        for kind, fn in (("top", pkg.grits_top), ("con", pkg.grits_con), ("loc", pkg.grits_loc)):
            theirs = fn(gt[kind].tolist(), gp[kind].tolist())
            ours = grits(gt[kind], gp[kind], kind)
            assert (ours.fscore, ours.precision, ours.recall) == pytest.approx(theirs, abs=1e-9)
