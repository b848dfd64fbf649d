"""Question-to-question retrieval: group max, search, cosines; fast paths against plain references."""

import numpy as np
import pytest

from simrepro.methods.retrieval import q2q


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("nq,m,U", [(1, 1, 1), (7, 13, 5), (33, 101, 40), (5, 9, 12)])
def test_group_max_matches_reference_on_irregular_shapes(nq, m, U):
    rng = np.random.default_rng(nq * 100 + m)
    S = rng.normal(size=(nq, m))
    units = rng.integers(0, U, size=m)
    np.testing.assert_allclose(q2q.group_max(S, units, U), q2q.group_max_reference(S, units, U), atol=0)
    assert np.isneginf(q2q.group_max(S, units, U)[:, np.setdiff1d(np.arange(U), units)]).all()


@pytest.mark.parametrize("nq,m,U,d,k", [(9, 31, 11, 8, 3), (4, 6, 6, 5, 10), (20, 50, 17, 16, 1)])
def test_q2q_search_matches_reference(nq, m, U, d, k):
    rng = np.random.default_rng(d)
    Q, Y = _unit(rng.normal(size=(nq, d))), _unit(rng.normal(size=(m, d)))
    units = rng.permutation(np.arange(m) % U)
    D, I = q2q.q2q_search(Q, Y, units, k, U, block=4)
    Dr, Ir = q2q.q2q_search_reference(Q, Y, units, k, U)
    assert np.array_equal(I, Ir) and I.shape == (nq, min(k, U))
    np.testing.assert_allclose(D, Dr, atol=1e-12)


def test_ties_go_to_the_lower_unit_and_the_max_not_the_mean_decides():
    Q = np.array([[1.0, 0.0]])
    Y = np.array([[1.0, 0.0], [1.0, 0.0], [0.9, np.sqrt(1 - 0.81)], [0.0, 1.0], [0.95, np.sqrt(1 - 0.9025)]])
    units = np.array([2, 1, 0, 0, 3])        # units 1 and 2 tie at 1.0; unit 0's mean is low, its max 0.9
    D, I = q2q.q2q_search(Q, Y, units, 4)
    assert I.tolist() == [[1, 2, 3, 0]] and np.allclose(D, [[1.0, 1.0, 0.95, 0.9]])


def test_relevant_and_nonrelevant_cosines_by_hand():
    Q = np.array([[1.0, 0.0], [0.0, 1.0]])
    Y = np.array([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]])
    units = np.array([0, 0, 1])
    P = np.array([[0.8, 0.6], [0.6, 0.8]])
    c = q2q.relevant_cosines(Q, Y, units, [0, 1], P)
    assert np.allclose(c["qq_max"], [1.0, 1.0]) and np.allclose(c["qq_mean"], [0.8, 1.0])
    assert np.allclose(c["qp"], [0.8, 0.8])
    nr = q2q.nonrelevant_cosines(Q, Y, units, [0, 1], n_per_query=50, seed=0)
    assert q2q.nonrelevant_cosines(Q, Y, np.zeros(3, np.int64), [0, 0]).shape == (0,)   # no other unit
    assert nr.shape == (100,) and set(np.round(nr[:50], 6)) == {0.0}           # q0 vs unit 1's only question
    assert set(np.round(nr[50:], 6)) <= {0.8, 0.0}                              # q1 vs unit 0's questions
    S = q2q.q2q_scores(Q, Y, units)
    assert np.allclose(q2q.hardest_nonrelevant(S, [0, 1]), [0.0, 0.8])


def test_zero_vectors_and_empty_inputs():
    Q = np.zeros((2, 3))
    Y = _unit(np.eye(3))
    D, I = q2q.q2q_search(Q, Y, np.array([0, 1, 2]), 2)
    assert np.array_equal(I, [[0, 1], [0, 1]]) and (D == 0).all()              # all ties → lowest units
    assert q2q.q2q_search(np.zeros((0, 3)), Y, np.array([0, 1, 2]), 2)[1].shape == (0, 2)
    assert q2q.group_max(np.zeros((3, 0)), np.zeros(0, np.int64), 2).shape == (3, 2)
    with pytest.raises(ValueError, match="store is empty"):
        q2q.q2q_search(Q, np.zeros((0, 3)), np.zeros(0, np.int64), 2)


def test_bad_input_is_a_clear_error():
    Y = np.eye(3)
    with pytest.raises(ValueError, match="NaN"):
        q2q.q2q_search(np.array([[np.nan, 0, 0]]), Y, np.arange(3), 1)
    with pytest.raises(ValueError, match="dimension"):
        q2q.q2q_search(np.ones((1, 2)), Y, np.arange(3), 1)
    with pytest.raises(ValueError, match="units"):
        q2q.q2q_search(np.ones((1, 3)), Y, np.arange(2), 1)
    with pytest.raises(ValueError, match="k must"):
        q2q.q2q_search(np.ones((1, 3)), Y, np.arange(3), 0)
    with pytest.raises(ValueError, match="n_units"):
        q2q.group_max(np.ones((1, 3)), np.array([0, 1, 5]), 3)


def test_evaluate_q2q_on_a_toy_where_questions_match_and_passages_do_not():
    # unit u's questions point along e_u, its passage along e_{(u+1) mod U}: q → q is perfect, q → passage wrong
    U, d = 4, 4
    E = np.repeat(np.eye(d), 3, axis=0)
    qunit = np.repeat(np.arange(U), 3)
    P = np.roll(np.eye(d), 1, axis=0)
    store_idx, query_idx = np.flatnonzero(np.arange(12) % 3 != 0), np.flatnonzero(np.arange(12) % 3 == 0)
    r = q2q.evaluate_q2q(E, P, qunit, store_idx, query_idx, k=2, n_nonrel=5)
    assert r["q2q"]["mrr@10"] == 1.0 and r["q2q"]["hit@1"] == 1.0
    assert r["q2p"]["hit@1"] == 0.0
    assert np.allclose(r["cos"]["qq_max"], 1) and np.allclose(r["cos"]["qp"], 0)


def test_evaluate_q2q_bm25_finds_exact_wording():
    questions = ["capital of france", "what is the capital of france", "population of spain", "how many people in spain"]
    passages = ["paris is the capital of france", "spain has a population of 47 million"]
    r = q2q.evaluate_q2q_bm25(questions, passages, np.array([0, 0, 1, 1]), np.array([0, 2]), np.array([1, 3]))
    assert r["q2q"]["hit@1"] == 1.0 and r["q2p"]["hit@1"] == 1.0
