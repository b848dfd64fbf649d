"""MIR parts: metrics against plain loops (pytrec_eval path vs references), self-masking, ranking ties, topic
positives, popularity prior, adapter training, and the stdlib call-graph builder's resolution and split."""

import ast

import numpy as np
import pytest

from simrepro.data import stdlib_calls as sc
from simrepro.methods.retrieval import mir


def _rand(m, n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, d)), rng.standard_normal((n, d))


@pytest.mark.parametrize("m,n,k,depth", [(1, 1, 1, 1), (3, 7, 3, 5), (11, 40, 3, 100), (6, 13, 5, 5)])
def test_evaluate_matches_reference(m, n, k, depth):
    Q, D = _rand(m, n, 5, seed=m + n)
    rng = np.random.default_rng(m)
    groups = [rng.choice(n, size=rng.integers(1, min(n, 4) + 1), replace=False) for _ in range(m)]
    S = mir.dense_scores(Q, D)
    got, ref = mir.evaluate(S, groups, k=k, depth=depth), mir.evaluate_reference(S, groups, k=k, depth=depth)
    assert got["recall"] == pytest.approx(ref["recall"], abs=1e-12)
    assert got["map"] == pytest.approx(ref["map"], abs=1e-4)   # trec_eval prints 4 decimals per query


def test_evaluate_with_ties_and_masked_rows_matches_reference():
    S = np.array([[1.0, 1.0, 1.0, 0.0], [0.5, 0.5, 0.2, 0.2]])
    S = mir.mask_self(S, [0, -1])
    groups = [[2], [3, 1]]
    # row 0: doc 0 masked, ties 1 < 2 → ranked 1, 2, 3: doc 2 at rank 2; row 1: ranked 0, 1, 2, 3
    ref = mir.evaluate_reference(S, groups, k=2, depth=10)
    got = mir.evaluate(S, groups, k=2, depth=10)
    assert ref["recall"] == pytest.approx((1 + 0.5) / 2)
    assert ref["map"] == pytest.approx((0.5 + (1 / 2 + 2 / 4) / 2) / 2)
    assert got["recall"] == pytest.approx(ref["recall"]) and got["map"] == pytest.approx(ref["map"], abs=1e-4)


def test_reference_metrics_by_hand():
    assert mir.recall_at_k_reference([4, 2, 9], {2, 7}, 3) == 0.5
    assert mir.average_precision_reference([1, 2, 3, 4], {2, 4}, 10) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert mir.average_precision_reference([1, 2, 3, 4], {2, 4}, 2) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="empty"):
        mir.average_precision_reference([1], set(), 3)


def test_mask_self_and_top_k():
    S = mir.mask_self(np.arange(12.0).reshape(3, 4), [3, -1, 0])
    assert np.isneginf(S[0, 3]) and np.isneginf(S[2, 0]) and np.isfinite(S[1]).all()
    V, I = mir.top_k(S, 10)
    assert I.shape == (3, 4) and I[0].tolist() == [2, 1, 0, -1] and I[2, -1] == -1
    _, I = mir.top_k(np.zeros((1, 4)), 2)
    assert I.tolist() == [[0, 1]]                                      # ties → lower index
    with pytest.raises(ValueError, match="NaN"):
        mir.top_k(np.array([[np.nan, 1.0]]), 1)
    with pytest.raises(ValueError, match="exclude"):
        mir.mask_self(np.zeros((2, 3)), [0])


def test_dense_scores_zero_rows_and_errors():
    S = mir.dense_scores(np.zeros((2, 3)), np.eye(3))
    assert np.array_equal(S, np.zeros((2, 3)))
    W = np.diag([1.0, 0.0, 0.0])
    assert mir.dense_scores(np.array([[1.0, 1.0, 0.0]]), np.eye(3), W)[0].tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="NaN"):
        mir.dense_scores(np.array([[np.nan, 1.0]]), np.eye(2))
    with pytest.raises(ValueError, match="dims differ"):
        mir.dense_scores(np.ones((1, 2)), np.ones((1, 3)))


def test_evaluate_errors():
    with pytest.raises(ValueError, match="no relevant"):
        mir.evaluate(np.zeros((1, 3)), [[]])
    with pytest.raises(ValueError, match="outside"):
        mir.evaluate(np.zeros((1, 3)), [[5]])
    with pytest.raises(ValueError, match="groups for"):
        mir.evaluate(np.zeros((2, 3)), [[1]])
    with pytest.raises(ValueError, match="depth"):
        mir.evaluate(np.zeros((1, 9)), [[1]], k=5, depth=4)


def test_groups_and_popularity():
    edges = [[0, 2], [0, 1], [2, 2], [0, 2]]
    g = mir.groups_from_edges(edges, [0, 1, 2], 3)
    assert [x.tolist() for x in g] == [[1, 2], [], [2]]
    P = mir.popularity_scores([g[0], g[2]], 2, 3)
    assert P.tolist() == [[0, 1, 2], [0, 1, 2]]
    with pytest.raises(ValueError, match="outside"):
        mir.groups_from_edges([[0, 3]], [0], 3)


def test_topic_positives_stay_in_topic_and_skip_self():
    D = np.array([[1.0, 0], [0.9, 0.1], [0.0, 1.0], [1.0, 0.05]])
    pos = mir.topic_positives(np.array([[1.0, 0.0], [0.0, 1.0]]), D, ["a", "b"], ["a", "a", "b", "b"], 2,
                              exclude=[0, -1])
    assert pos[0].tolist() == [1] and pos[1].tolist() == [2, 3]


def test_same_topic_share():
    S = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    assert mir.same_topic_share(S, ["a", "b"], ["a", "a", "b"], k=2) == pytest.approx((1.0 + 0.5) / 2)


def test_training_pulls_problems_to_their_inspirations():
    # problems of topic t sit near topic-t docs, but their inspiration is the doc of topic t+1: the adapter
    # learned on half the topics must raise held-out recall@1 above the frozen cosine
    # (dims 4: carry the topic, dims :4 the method; a problem's method cue is its inspiration's dims :4; 40
    # training pairings cannot be memorised through the 8 topic dims, so only the cue generalises)
    rng = np.random.default_rng(0)
    T, d = 80, 12
    docs = rng.standard_normal((T, d))
    own = np.repeat(np.arange(T), 4)
    target = (own + 1) % T
    Q = np.concatenate([docs[target, :4], 2.0 * docs[own, 4:]], axis=1) + 0.1 * rng.standard_normal((T * 4, d))
    groups = [np.array([t]) for t in target]
    tr, te = np.flatnonzero(own % 2 == 0), np.flatnonzero(own % 2 == 1)
    W, hist = mir.train(Q[tr], docs, [groups[i] for i in tr], steps=300, batch=32, lr=1e-2, seed=1)
    assert hist[-1] < hist[0]
    frozen = mir.evaluate(mir.dense_scores(Q[te], docs), [groups[i] for i in te], k=1)["recall"]
    tuned = mir.evaluate(mir.dense_scores(Q[te], docs, W), [groups[i] for i in te], k=1)["recall"]
    assert frozen < 0.1 and tuned > frozen + 0.3                      # measured 0.05 → 0.54


def test_train_is_seeded_and_validates():
    Q, D = _rand(10, 6, 4, seed=3)
    groups = [np.array([i % 6]) for i in range(10)]
    W1, _ = mir.train(Q, D, groups, steps=5, batch=4, seed=2)
    W2, _ = mir.train(Q, D, groups, steps=5, batch=4, seed=2)
    assert np.array_equal(W1, W2)
    with pytest.raises(ValueError, match=">= 2"):
        mir.train(Q, D, [np.array([], np.int64)] * 10)
    with pytest.raises(ValueError, match="NaN"):
        mir.train(np.full((2, 4), np.nan), D, groups[:2])


# ----------------------------------------------------------------------------------------------- data builder
def test_import_map_and_resolution():
    tree = ast.parse("import os\nimport email.utils as eu\nfrom re import sub as s\nfrom . import x\n"
                     "def f():\n    os.path.join(1)\n    eu.formatdate()\n    s()\n    x()\n    self.g()\n")
    imp = sc.import_map(tree)
    assert imp == {"os": "os", "eu": "email.utils", "s": "re.sub"}
    calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call)]
    got = [sc.resolve_call(c, imp) for c in calls]
    assert got == ["posixpath.join", "email.utils.formatdate", "re.sub", None, None]


def test_module_and_topic_names():
    assert sc.module_name("email/utils.py") == "email.utils"
    assert sc.module_name("json/__init__.py") == "json"
    assert sc.topic("email.mime.text") == "email" and sc.topic("shutil") == "shutil"


def test_topic_split_is_disjoint_and_seeded():
    topics = ["a"] * 5 + ["b"] * 3 + ["c"] * 4 + ["d"] * 8
    tr, te = sc.topic_split(topics, 0.3, seed=4)
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 20
    assert not set(np.array(topics)[tr]) & set(np.array(topics)[te])
    assert len(te) >= 6
    tr2, te2 = sc.topic_split(topics, 0.3, seed=4)
    assert np.array_equal(te, te2)
    with pytest.raises(ValueError, match="test_frac"):
        sc.topic_split(topics, 1.0, 0)


@pytest.mark.slow
def test_graph_edges_are_cross_topic():
    g = sc.build_graph()
    assert len(g["problems"]) > 100 and len(g["edges"]) >= len(g["problems"])
    for p, d in g["edges"]:
        assert g["problems"][p]["topic"] != g["docs"][d]["topic"]
    for p, d in g["same_edges"]:
        assert g["problems"][p]["topic"] == g["docs"][d]["topic"]
