import math

import numpy as np
import pytest

from simrepro.metrics.ir import beir_table, evaluate, parse_metric, qrels_from_pairs, run_from_topk, truncate


def _toy():
    qrels = {"q1": {"d1": 1, "d2": 2, "d5": 1}, "q2": {"d3": 1}}
    run = {"q1": {"d1": 0.9, "d3": 0.8, "d2": 0.7, "d4": 0.5, "d5": 0.1},
           "q2": {"d1": 0.9, "d2": 0.8, "d3": 0.7}}
    return qrels, run


def test_hand_computed_values():
    qrels, run = _toy()
    r = evaluate(qrels, run, ["ndcg@2", "recall@2", "precision@2", "hit@1", "mrr@2", "mrr", "map"], per_query=True)
    assert list(r["query_id"]) == ["q1", "q2"]
    idcg2 = 2 + 1 / math.log2(3)
    assert r["ndcg@2"][0] == pytest.approx(1 / idcg2)
    assert r["recall@2"].tolist() == pytest.approx([1 / 3, 0.0])
    assert r["precision@2"].tolist() == pytest.approx([0.5, 0.0])
    assert r["hit@1"].tolist() == [1.0, 0.0]
    assert r["mrr@2"].tolist() == pytest.approx([1.0, 0.0])    # q2's first relevant doc is at rank 3
    assert r["mrr"].tolist() == pytest.approx([1.0, 1 / 3])
    assert r["map"][0] == pytest.approx((1 / 1 + 2 / 3 + 3 / 5) / 3)


def test_agrees_with_ranx_on_random_runs():
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(0)
    qrels, run = {}, {}
    for q in range(40):
        docs = [f"d{i}" for i in rng.choice(200, size=60, replace=False)]
        qrels[f"q{q}"] = {d: int(rng.integers(1, 3)) for d in docs[: rng.integers(1, 8)]}
        scores = rng.permutation(60) + rng.random(60) * 0.5        # distinct scores: no tie-break question
        run[f"q{q}"] = {d: float(s) for d, s in zip(rng.permutation(docs), scores)}
    ours = evaluate(qrels, run, ["ndcg@10", "recall@20", "precision@5", "hit@3", "mrr@10", "map@10"])
    names = {"ndcg@10": "ndcg@10", "recall@20": "recall@20", "precision@5": "precision@5", "hit@3": "hit_rate@3",
             "mrr@10": "mrr@10", "map@10": "map@10"}
    theirs = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), list(names.values()))
    for ours_name, ranx_name in names.items():
        assert ours[ours_name] == pytest.approx(float(theirs[ranx_name]), abs=1e-9), ours_name


def test_unanswered_query_scores_zero_and_unjudged_run_query_is_ignored():
    qrels, run = _toy()
    run_missing = {"q1": run["q1"], "q9": {"d1": 1.0}}
    r = evaluate(qrels, run_missing, ["mrr", "ndcg@10"], per_query=True)
    assert r["mrr"].tolist() == [1.0, 0.0]
    assert evaluate(qrels, run_missing, ["mrr"])["mrr"] == pytest.approx(0.5)


def test_run_from_topk_keeps_the_kernel_order_of_ties():
    scores = np.array([[1.0, 1.0, 0.5]])
    ids = np.array([[0, 1, -1]])
    docs = ["a", "b"]
    qrels = {"q": {"a": 1}}
    kept = run_from_topk(scores, ids, ["q"], docs, keep_order=True)
    assert kept == {"q": {"a": 3.0, "b": 2.0}}      # k − position, k = 3
    assert evaluate(qrels, kept, ["mrr"])["mrr"] == 1.0
    # trec_eval's own tie-break (decreasing doc id) puts "b" first
    assert evaluate(qrels, run_from_topk(scores, ids, ["q"], docs), ["mrr"])["mrr"] == 0.5
    assert list(truncate({"q": {"a": 1.0, "b": 1.0}}, 1)["q"]) == ["b"]


@pytest.mark.parametrize("name", ["ndcg", "ndcg@0", "NDCG@10", "mrr@x", "recall", "f1@10"])
def test_bad_metric_names(name):
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metric(name)


def test_bad_inputs_get_clear_errors():
    qrels, run = _toy()
    with pytest.raises(ValueError, match="no relevant document"):
        evaluate({"q1": {"d1": 0}}, run)
    with pytest.raises(ValueError, match="finite"):
        evaluate(qrels, {"q1": {"d1": float("nan")}})
    with pytest.raises(ValueError, match="NaN"):
        run_from_topk(np.array([[np.nan]]), np.array([[0]]), ["q"])
    with pytest.raises(ValueError, match="twice"):
        run_from_topk(np.array([[1.0, 0.5]]), np.array([[0, 0]]), ["q"])
    with pytest.raises(ValueError, match="query ids"):
        run_from_topk(np.ones((2, 1)), np.zeros((2, 1), int), ["q"])
    with pytest.raises(ValueError, match="integer grade"):
        qrels_from_pairs([("q", "d", 0.5)])


def test_qrels_from_pairs_and_beir_table():
    assert qrels_from_pairs([(1, 2, 1), (1, 3, 2)]) == {"1": {"2": 1, "3": 2}}
    t = beir_table({"bm25": {"a": 0.5, "b": 0.3}, "dense": {"a": 0.7, "b": 0.1}})
    assert t.loc["average", "bm25"] == pytest.approx(0.4)
    assert t.loc["a", "dense"] == 0.7
