"""TREC-style retrieval evaluation: qrels, runs, and their metrics computed by ``pytrec_eval`` (trec_eval).

A *qrels* maps query id → doc id → graded relevance (``int``, > 0 is relevant); a *run* maps query id →
doc id → score. Both use string ids, as trec_eval does. Metric names (``k`` a positive integer):

=============== ============================================ ==========================
name            definition                                   trec_eval measure
=============== ============================================ ==========================
``ndcg@k``      DCG of the top k (linear gain ``rel``,       ``ndcg_cut.k``
                ``1/log2(rank+1)``) / ideal DCG of k
``recall@k``    |relevant ∩ top k| / |relevant|              ``recall.k``
``precision@k`` |relevant ∩ top k| / k                       ``P.k``
``hit@k``       1 if any relevant doc is in the top k        ``success.k``
``mrr@k``       1 / rank of the first relevant doc in the    ``recip_rank`` on the top k
                top k, 0 if none
``map@k``       average precision cut at k                   ``map_cut.k``
``mrr``, ``map`` the same without a cut-off                  ``recip_rank``, ``map``
=============== ============================================ ==========================

Scores are averaged over the qrels' queries that have at least one relevant document. A query of the qrels
that the run does not answer scores 0 on every metric (trec_eval itself would skip it and so inflate the
mean); run queries without judgements are ignored. trec_eval orders a query's docs by decreasing score, ties
by decreasing doc id; :func:`run_from_topk` can keep a kernel's own order instead (``keep_order=True``).
Cost: O(Σ_q |run_q| log |run_q|) in trec_eval's C code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]

_METRIC = re.compile(r"^(ndcg|recall|precision|hit|mrr|map)(?:@([1-9][0-9]*))?$")
_TREC = {"ndcg": "ndcg_cut", "recall": "recall", "precision": "P", "hit": "success", "map": "map_cut"}
_NEEDS_CUT = {"ndcg", "recall", "precision", "hit"}


def parse_metric(name: str) -> tuple[str, int | None]:
    """``"ndcg@10"`` → ``("ndcg", 10)``; ``"mrr"`` → ``("mrr", None)``; a clear error for anything else."""
    m = _METRIC.match(name) if isinstance(name, str) else None
    if m is None or (m.group(1) in _NEEDS_CUT and m.group(2) is None):
        raise ValueError(
            f"unknown metric {name!r}: use ndcg@k, recall@k, precision@k, hit@k, mrr@k, map@k, mrr or map "
            "(k a positive integer)")
    return m.group(1), (int(m.group(2)) if m.group(2) else None)


def qrels_from_pairs(pairs: Iterable[tuple[object, object, int]]) -> Qrels:
    """Qrels from ``(query id, doc id, relevance)`` triples; ids become strings, relevance ``int``."""
    qrels: Qrels = {}
    for qid, did, rel in pairs:
        if int(rel) != rel:
            raise ValueError(f"relevance must be an integer grade, got {rel!r} for ({qid!r}, {did!r})")
        qrels.setdefault(str(qid), {})[str(did)] = int(rel)
    return qrels


def run_from_topk(scores, ids, query_ids: Sequence[object], doc_ids: Sequence[object] | None = None, *,
                  keep_order: bool = False) -> Run:
    """A run from a top-k result: ``scores``, ``ids`` (nq, k), row i answering ``query_ids[i]``.

    ``ids`` index ``doc_ids`` (or are the doc ids themselves when ``doc_ids`` is None); negative ids (a search
    that found fewer than k) are dropped. ``keep_order=True`` replaces the scores by ``k − position`` so that
    trec_eval ranks exactly as the kernel did, ties included; otherwise ties follow trec_eval's doc-id order.
    """
    scores, ids = np.asarray(scores, dtype=np.float64), np.asarray(ids)
    if scores.shape != ids.shape or scores.ndim != 2:
        raise ValueError(f"scores and ids must both be (nq, k), got {scores.shape} and {ids.shape}")
    if len(query_ids) != ids.shape[0]:
        raise ValueError(f"{len(query_ids)} query ids for {ids.shape[0]} result rows")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: a NaN cannot be ranked; check the embeddings for NaN")
    k = ids.shape[1]
    run: Run = {}
    for qid, row_s, row_i in zip(query_ids, scores, ids):
        docs: dict[str, float] = {}
        for pos, (s, i) in enumerate(zip(row_s, row_i)):
            if i < 0:
                continue
            did = str(doc_ids[i]) if doc_ids is not None else str(int(i))
            if did in docs:
                raise ValueError(f"query {qid!r} lists doc {did!r} twice")
            docs[did] = float(k - pos) if keep_order else float(s)
        run[str(qid)] = docs
    return run


def truncate(run: Mapping[str, Mapping[str, float]], k: int) -> Run:
    """Each query's top k in trec_eval's order (decreasing score, ties by decreasing doc id)."""
    return {q: dict(sorted(docs.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:k]) for q, docs in run.items()}


def _check(qrels, run) -> list[str]:
    if not isinstance(qrels, Mapping) or not isinstance(run, Mapping):
        raise TypeError("qrels and run must be dicts: query id -> doc id -> relevance / score")
    judged = sorted(q for q, docs in qrels.items() if any(r > 0 for r in docs.values()))
    if not judged:
        raise ValueError("the qrels hold no relevant document (relevance > 0) for any query; nothing to evaluate")
    for q, docs in run.items():
        for d, s in docs.items():
            if not np.isfinite(s):
                raise ValueError(f"run score of ({q!r}, {d!r}) is {s}; scores must be finite")
    return judged


def evaluate(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]],
             metrics: Sequence[str] = ("ndcg@10", "recall@100", "mrr@10"), *, per_query: bool = False):
    """Mean of each metric over the judged queries ({name: float}), or per query ({name: (nq,) array} in
    sorted query-id order, with the ids under ``"query_id"``) when ``per_query``."""
    import pytrec_eval

    judged = _check(qrels, run)
    parsed = {name: parse_metric(name) for name in metrics}
    qrels_s = {q: {str(d): int(r) for d, r in qrels[q].items()} for q in judged}
    out = {name: np.zeros(len(judged)) for name in metrics}
    by_cut: dict[int | None, list[str]] = {}
    for name, (kind, k) in parsed.items():
        by_cut.setdefault(k if kind == "mrr" else None, []).append(name)
    for cut, names in by_cut.items():
        sub = truncate(run, cut) if cut is not None else run
        sub = {q: {str(d): float(s) for d, s in sub[q].items()} for q in judged if q in sub and sub[q]}
        if not sub:
            continue
        measures = {_measure(*parsed[n]) for n in names}
        res = pytrec_eval.RelevanceEvaluator(qrels_s, measures).evaluate(sub)
        for i, q in enumerate(judged):
            if q in res:
                for n in names:
                    out[n][i] = res[q][_key(*parsed[n])]
    if per_query:
        return {"query_id": np.array(judged), **out}
    return {name: float(v.mean()) for name, v in out.items()}


def _measure(kind: str, k: int | None) -> str:
    if kind == "mrr":
        return "recip_rank"
    if k is None:
        return "map"
    return f"{_TREC[kind]}.{k}"


def _key(kind: str, k: int | None) -> str:
    m = _measure(kind, k)
    return m.replace(".", "_")


def beir_table(scores: Mapping[str, Mapping[str, float]], *, average: bool = True):
    """A BEIR-layout table: one row per dataset, one column per model (``scores[model][dataset]``), with an
    ``average`` row over the datasets every model has."""
    import pandas as pd

    table = pd.DataFrame({model: dict(per) for model, per in scores.items()})
    if average and len(table):
        table.loc["average"] = table.dropna().mean()
    return table
