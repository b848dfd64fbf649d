"""``python -m benchmarks all``: every public kernel against the library a user would pick instead.

Each case runs ours and the peer on the same inputs in the same process: first the results are compared
(``parity``: the error and the tolerance it must meet; a case whose parity fails is reported as such and the
run exits 1), then both are timed in alternation (median of interleaved repeats, each repeat a block of calls
long enough to time), then each one's peak memory is measured (peak resident memory above the level before the
call, the process's high-water mark reset first: :func:`benchmarks.common.peak_rss_bytes`).
``ratio`` = peer time / our time (> 1: ours is faster). ``throughput`` is ours, in the case's unit.

``--size smoke|full`` picks the inputs; ``--runs N`` repeats the whole set in N fresh processes and reports
each ratio's median and run-to-run range; ``--only SUBSTR`` keeps the cases whose name contains it;
``--markdown`` prints the last saved results as the README's table.
Writes ``benchmarks/results/all.json`` (``all_smoke.json`` at the smoke size; ``…_partial.json`` with ``--only``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from typing import Callable

import numpy as np
import torch

from benchmarks.common import RESULTS, format_table, interleaved_medians, peak_rss_bytes, provenance

SIZES = ("smoke", "full")


@dataclass
class Case:
    """One comparison: ``setup(size)`` → inputs; ``ours(inputs)`` and ``peer(inputs)`` → results;
    ``parity(ours_result, peer_result, inputs)`` → (error, tolerance, what the error measures); ``work(inputs)`` →
    (amount, unit) done per call, for the throughput column."""
    name: str
    kernel: str
    peer_name: str
    peer_package: str | None
    setup: Callable[[str], dict]
    ours: Callable[[dict], object]
    peer: Callable[[dict], object]
    parity: Callable[[object, object, dict], tuple[float, float, str]]
    work: Callable[[dict], tuple[float, str]]
    note: str = ""


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def _abs_parity(tol: float, what: str = "max |ours − peer|"):
    return lambda a, b, inputs: (_max_abs(a, b), tol, what)


# --------------------------------------------------------------------------------------------------- SSIM

def _ssim_cases() -> list[Case]:
    from skimage.metrics import structural_similarity

    from simrepro.kernels.ssim import ssim

    def setup(dtype, size):
        n, side = (4, 128) if size == "smoke" else (16, 256)
        rng = np.random.default_rng(0)
        x = rng.random((n, side, side))
        y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
        x, y = x.astype(dtype), y.astype(dtype)
        return {"x": x, "y": y, "xt": torch.from_numpy(x[:, None]), "yt": torch.from_numpy(y[:, None])}

    windows = {"gaussian": ({"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}, {}),
               "uniform 7×7": ({}, {"window": "uniform", "sample_covariance": True})}
    cases = []
    for window, (sk_kw, our_kw) in windows.items():
        for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
            cases.append(Case(
                name=f"ssim {window} {np.dtype(dtype).name}", kernel="simrepro.kernels.ssim.ssim (a batch)",
                peer_name="skimage.metrics.structural_similarity (per image)", peer_package="scikit-image",
                setup=lambda size, dtype=dtype: setup(dtype, size),
                ours=lambda i, our_kw=our_kw: ssim(i["xt"], i["yt"], data_range=1.0, **our_kw).numpy(),
                peer=lambda i, sk_kw=sk_kw: np.array([structural_similarity(a, b, data_range=1.0, **sk_kw)
                                                      for a, b in zip(i["x"], i["y"])]),
                parity=_abs_parity(tol), work=lambda i: (i["x"].shape[0], "images/s")))
    return cases


# --------------------------------------------------------------------------------------------------- sketches

def _sketch_cases() -> list[Case]:
    from datasketch import MinHash

    from simrepro.kernels.sketch import fast_similarity_sketch, minhash_sketch, sketch_similarity

    t = 128

    def setup(size):
        n = 1000                                               # the issue's |A| = 1,000 at both sizes
        rng = np.random.default_rng(0)
        universe = rng.choice(2 ** 40, 2 * n, replace=False).astype(np.uint64)
        a, b = universe[:n], universe[n // 3: n // 3 + n]      # J = (2n/3) / (4n/3) = 0.5
        seeds = range(20 if size == "full" else 5)
        return {"a": a, "b": b, "a_bytes": [int(v).to_bytes(8, "little") for v in a],
                "b_bytes": [int(v).to_bytes(8, "little") for v in b], "seeds": seeds, "J": 0.5}

    def estimates(i, sketch):                                  # Ĵ over seeds, for the parity check only
        return np.array([sketch(i["a"], i["b"], s) for s in i["seeds"]])

    def ours_fss(a, b, s):
        return sketch_similarity(fast_similarity_sketch(a, t, s), fast_similarity_sketch(b, t, s))

    def ours_minhash(a, b, s):
        return sketch_similarity(minhash_sketch(a, t, s), minhash_sketch(b, t, s))

    def datasketch_j(i, s):
        ma, mb = MinHash(num_perm=t, seed=s), MinHash(num_perm=t, seed=s)
        ma.update_batch(i["a_bytes"])
        mb.update_batch(i["b_bytes"])
        return ma.jaccard(mb)

    def unbiased(ours_j, peer_j):
        """Both estimators of J = 0.5 over the seeds: the larger |mean Ĵ − J|, against 4 standard errors of a
        mean of binomial(t, J)/t estimates (a biased sketch fails; the two need not agree seed by seed)."""
        err = max(abs(np.mean(ours_j) - 0.5), abs(np.mean(peer_j) - 0.5))
        return err, 4 * np.sqrt(0.25 / t / len(ours_j)), "max |mean Ĵ − J| over seeds (J = 0.5)"

    def datasketch_sketch(i):
        m = MinHash(num_perm=t, seed=1)
        m.update_batch(i["a_bytes"])
        return m

    common = dict(setup=setup, work=lambda i: (1, "sets/s"))
    return [
        Case(name="fast similarity sketch t=128 |A|=1000", kernel="simrepro.kernels.sketch.fast_similarity_sketch",
             peer_name="datasketch.MinHash(num_perm=128).update_batch", peer_package="datasketch",
             ours=lambda i: (fast_similarity_sketch(i["a"], t, 1), estimates(i, ours_fss)),
             peer=lambda i: (datasketch_sketch(i), np.array([datasketch_j(i, s) for s in i["seeds"]])),
             parity=lambda o, p, i: unbiased(o[1], p[1]), **common),
        Case(name="fast similarity sketch vs our t×MinHash", kernel="simrepro.kernels.sketch.fast_similarity_sketch",
             peer_name="simrepro.kernels.sketch.minhash_sketch (t×MinHash)", peer_package=None,
             ours=lambda i: (fast_similarity_sketch(i["a"], t, 1), estimates(i, ours_fss)),
             peer=lambda i: (minhash_sketch(i["a"], t, 1), estimates(i, ours_minhash)),
             parity=lambda o, p, i: unbiased(o[1], p[1]), **common),
        Case(name="t×MinHash t=128 |A|=1000", kernel="simrepro.kernels.sketch.minhash_sketch",
             peer_name="datasketch.MinHash(num_perm=128).update_batch", peer_package="datasketch",
             ours=lambda i: (minhash_sketch(i["a"], t, 1), estimates(i, ours_minhash)),
             peer=lambda i: (datasketch_sketch(i), np.array([datasketch_j(i, s) for s in i["seeds"]])),
             parity=lambda o, p, i: unbiased(o[1], p[1]), **common),
    ]


# --------------------------------------------------------------------------------------------------- GriTS

def _grits_cases() -> list[Case]:
    import grits as grits_metric

    from simrepro.methods.text.grits import CORRUPTIONS, KINDS, corrupt_table, fscore, grits, random_table

    peers = {"top": grits_metric.grits_top_matching, "con": grits_metric.grits_con_matching,
             "loc": grits_metric.grits_loc_matching}

    def setup(kind, size):
        rng = np.random.default_rng(0)
        pairs = []
        for _ in range(20 if size == "smoke" else 100):          # the notebook's PubTables-style toy tables
            true = random_table(rng, int(rng.integers(2, 8)), int(rng.integers(2, 6)))
            pred = true
            for c in rng.choice(CORRUPTIONS, size=int(rng.integers(1, 4))):
                pred = corrupt_table(pred, rng, str(c))
            pairs.append((true.grids()[kind], pred.grids()[kind]))
        return {"pairs": pairs, "lists": [(a.tolist(), b.tolist()) for a, b in pairs]}

    def peer(kind, inputs):
        out = []
        for (a, b), (la, lb) in zip(inputs["pairs"], inputs["lists"]):
            match = peers[kind](la, lb)
            out.append(fscore(match.true_positive_score, a.shape[0] * a.shape[1], b.shape[0] * b.shape[1])[0])
        return np.array(out)

    return [Case(name=f"grits {kind}", kernel="simrepro.methods.text.grits.grits",
                 peer_name=f"grits.grits_{kind}_matching (official)", peer_package="grits-metric",
                 setup=lambda size, kind=kind: setup(kind, size),
                 ours=lambda i, kind=kind: np.array([grits(a, b, kind).fscore for a, b in i["pairs"]]),
                 peer=lambda i, kind=kind: peer(kind, i),
                 parity=_abs_parity(1e-12, "max |ΔGriTS| over the tables"),
                 work=lambda i: (len(i["pairs"]), "tables/s")) for kind in KINDS]


# --------------------------------------------------------------------------------------------------- top-k

def _topk_cases() -> list[Case]:
    import faiss

    from benchmarks.topk import SIZES, fashion_case, synthetic_case
    from simrepro.kernels.topk import topk_search
    from simrepro.metrics import knn_matches

    k = 10

    @functools.lru_cache(maxsize=1)                 # the default path and the scan of a case share one index
    def setup(case, metric, size):
        if case == "fashion-mnist":
            xb, xq = fashion_case(*SIZES[size]["fashion"])
        else:
            xb, xq = synthetic_case(*SIZES[size]["synthetic"])
            if case == "synthetic, exact duplicates":           # every database row appears twice: all ties
                xb = np.concatenate([xb[: xb.shape[0] // 2]] * 2)
        index = faiss.IndexFlatL2(xb.shape[1]) if metric == "l2" else faiss.IndexFlatIP(xb.shape[1])
        index.add(xb)
        scale = ((xq.astype(np.float64) ** 2).sum(1) + (xb.astype(np.float64) ** 2).sum(1).max()
                 if metric == "l2" else None)
        return {"xb": xb, "xq": xq, "index": index, "metric": metric, "scale": scale}

    def agreement(ours, peer, inputs):
        """Fraction of queries whose k-NN lists differ from faiss's beyond ties (tie-aware, float32 tolerance)."""
        agree = knn_matches(peer[0], peer[1], ours[0], ours[1], rtol=1e-5, scale=inputs["scale"]).mean()
        return 1.0 - float(agree), 0.0, "fraction of queries whose neighbours differ from faiss (tie-aware)"

    cases = []
    for case, metric in (("synthetic", "dot"), ("synthetic", "l2"), ("fashion-mnist", "l2"),
                         ("synthetic, exact duplicates", "dot")):
        for label, screen in (("default path", None), ("float32 scan", False)):
            cases.append(Case(
                name=f"top-k {label}: {case}, {metric}", kernel=f"simrepro.kernels.topk_search ({label})",
                peer_name=f"faiss.IndexFlat{'L2' if metric == 'l2' else 'IP'}.search", peer_package="faiss-cpu",
                setup=functools.partial(setup, case, metric),
                ours=lambda i, screen=screen: topk_search(i["xq"], i["xb"], k, i["metric"], device="cpu", screen=screen),
                peer=lambda i: i["index"].search(i["xq"], k), parity=agreement,
                work=lambda i: (2.0 * i["xq"].shape[0] * i["xb"].shape[0] * i["xb"].shape[1] / 1e9, "GFLOP/s"),
                note="ours includes preparing the database on every call; faiss's add is not timed"))
    return cases


# --------------------------------------------------------------------------------------------------- IVF-PQ

def _ivfpq_cases() -> list[Case]:
    import faiss

    from benchmarks.topk import synthetic_case
    from simrepro.kernels.quantize import IVFPQIndex
    from simrepro.kernels.topk import topk_search
    from simrepro.metrics import knn_recall

    def setup(size):
        nb, nq, nlist = (20_000, 200, 64) if size == "smoke" else (100_000, 1_000, 256)
        rng = np.random.default_rng(3)
        centers = rng.standard_normal((200, 64)).astype(np.float32) * 3
        xb = (centers[rng.integers(0, 200, nb)] + rng.standard_normal((nb, 64))).astype(np.float32)
        xq = (centers[rng.integers(0, 200, nq)] + rng.standard_normal((nq, 64))).astype(np.float32)
        ours = IVFPQIndex(nlist, 8, 8)
        ours.train(xb[:40 * nlist], seed=0)
        ours.add(xb)
        theirs = faiss.IndexIVFPQ(faiss.IndexFlatL2(64), 64, nlist, 8, 8)
        theirs.train(xb[:40 * nlist])
        theirs.add(xb)
        theirs.nprobe = 8
        _, truth = topk_search(xq, xb, 10, "l2", device="cpu")
        return {"xq": xq, "ours": ours, "theirs": theirs, "truth": truth}

    def recall_gap(o, p, inputs):
        ours, theirs = knn_recall(inputs["truth"], o[1], 10), knn_recall(inputs["truth"], p[1], 10)
        return abs(float(ours) - float(theirs)), 0.02, f"|Δ recall@10| (ours {float(ours):.3f}, faiss {float(theirs):.3f})"

    return [Case(name="IVF-PQ search, nprobe 8", kernel="simrepro.kernels.quantize.IVFPQIndex.search",
                 peer_name="faiss.IndexIVFPQ.search", peer_package="faiss-cpu", setup=setup,
                 ours=lambda i: i["ours"].search(i["xq"], 10, nprobe=8),
                 peer=lambda i: i["theirs"].search(i["xq"], 10), parity=recall_gap,
                 work=lambda i: (i["xq"].shape[0], "queries/s"),
                 note="trained separately (k-means seeds differ): parity is recall@10 within 0.02")]


# --------------------------------------------------------------------------------------------------- dense kernels

def _dense_cases() -> list[Case]:
    from sentence_transformers import util as st_util
    from sklearn.metrics import pairwise_distances
    from sklearn.metrics.pairwise import cosine_similarity
    from vendi_score import vendi

    from simrepro.kernels.pairwise import pairwise_similarity
    from simrepro.methods.diversity.vendi import score_K, score_X
    from simrepro.methods.measures.jaccard import generalized_jaccard
    from simrepro.methods.representation.cka import linear_cka

    def features(size, n_small=500, n_full=4000, d=256, dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        return rng.standard_normal((n_small if size == "smoke" else n_full, d)).astype(dtype)

    def official_linear_cka(x, y):
        """Kornblith et al.'s CKA on linear Gram matrices, as their notebook defines it: K = XXᵀ, L = YYᵀ,
        centred K̃ = HKH, HSIC ∝ ⟨K̃, L̃⟩, CKA = HSIC(K, L) / √(HSIC(K, K)·HSIC(L, L))."""
        k, l = x @ x.T, y @ y.T
        k = k - k.mean(0, keepdims=True) - k.mean(1, keepdims=True) + k.mean()
        l = l - l.mean(0, keepdims=True) - l.mean(1, keepdims=True) + l.mean()
        return float((k * l).sum() / np.sqrt((k * k).sum() * (l * l).sum()))

    def pair_setup(size):
        x = features(size)
        return {"x": x, "y": features(size, seed=1), "xt": torch.from_numpy(x)}

    def binary_setup(size):
        rng = np.random.default_rng(2)
        n = 300 if size == "smoke" else 2000
        return {"x": rng.random((n, 512)) < 0.1}

    def cka_setup(size):
        rng = np.random.default_rng(4)
        n = 500 if size == "smoke" else 5000
        x = rng.standard_normal((n, 256))
        return {"x": x, "y": x @ rng.standard_normal((256, 128)) + rng.standard_normal((n, 128))}

    def vendi_setup(size):
        x = features(size, 300, 2000, 64, np.float64, seed=5)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return {"x": x, "K": x @ x.T}

    n2 = lambda i: (i["x"].shape[0] ** 2, "pairs/s")  # noqa: E731
    return [
        Case(name="pairwise cosine", kernel="simrepro.kernels.pairwise_similarity(metric='cosine')",
             peer_name="sklearn.metrics.pairwise.cosine_similarity", peer_package="scikit-learn", setup=pair_setup,
             ours=lambda i: pairwise_similarity(i["x"], metric="cosine"), peer=lambda i: cosine_similarity(i["x"]),
             parity=_abs_parity(1e-5), work=n2),
        Case(name="pairwise cosine (torch in/out)", kernel="simrepro.kernels.pairwise_similarity(metric='cosine')",
             peer_name="sentence_transformers.util.cos_sim", peer_package="sentence-transformers", setup=pair_setup,
             ours=lambda i: pairwise_similarity(i["xt"], metric="cosine"), peer=lambda i: st_util.cos_sim(i["xt"], i["xt"]),
             parity=_abs_parity(1e-5), work=n2),
        Case(name="pairwise squared L2", kernel="simrepro.kernels.pairwise_similarity(metric='l2')",
             peer_name="sklearn.metrics.pairwise_distances(metric='sqeuclidean')", peer_package="scikit-learn",
             setup=pair_setup, ours=lambda i: pairwise_similarity(i["x"], i["y"], metric="l2"),
             peer=lambda i: pairwise_distances(i["x"], i["y"], metric="sqeuclidean"),
             parity=_abs_parity(1e-2, "max |ours − peer| (float32 peer; values ≈ 512)"), work=n2),
        Case(name="Jaccard of binary vectors", kernel="simrepro.methods.measures.jaccard.generalized_jaccard",
             peer_name="1 − sklearn.metrics.pairwise_distances(metric='jaccard')", peer_package="scikit-learn",
             setup=binary_setup, ours=lambda i: generalized_jaccard(i["x"].astype(np.float64)),
             peer=lambda i: 1.0 - pairwise_distances(i["x"], metric="jaccard"), parity=_abs_parity(1e-12), work=n2),
        Case(name="linear CKA", kernel="simrepro.methods.representation.cka.linear_cka",
             peer_name="the official notebook's formulation (Gram matrices, numpy)", peer_package=None,
             setup=cka_setup, ours=lambda i: linear_cka(i["x"], i["y"]),
             peer=lambda i: official_linear_cka(i["x"], i["y"]), parity=_abs_parity(1e-10),
             work=lambda i: (1, "pairs of representations/s")),
        Case(name="Vendi score from features", kernel="simrepro.methods.diversity.vendi.score_X",
             peer_name="vendi_score.vendi.score_X", peer_package="vendi-score", setup=vendi_setup,
             ours=lambda i: score_X(i["x"]), peer=lambda i: vendi.score_X(i["x"]), parity=_abs_parity(1e-9),
             work=lambda i: (i["x"].shape[0], "samples/s")),
        Case(name="Vendi score from a kernel matrix", kernel="simrepro.methods.diversity.vendi.score_K",
             peer_name="vendi_score.vendi.score_K", peer_package="vendi-score", setup=vendi_setup,
             ours=lambda i: score_K(i["K"]), peer=lambda i: vendi.score_K(i["K"]), parity=_abs_parity(1e-9),
             work=lambda i: (i["x"].shape[0], "samples/s")),
    ]


# --------------------------------------------------------------------------------------------------- the rest

def _other_cases() -> list[Case]:
    import ot

    from simrepro.kernels.contrastive import info_nce_reference, tiled_info_nce
    from simrepro.kernels.dpp import greedy_map_dpp, greedy_map_dpp_reference
    from simrepro.methods.measures import tree_emd as te

    def emd_setup(size):
        parent = te.random_chart_of_accounts(seed=0)
        weights, _ = te.synthetic_ledgers(parent, 40, 4, sector_concentration=0.5, seed=1)
        rng = np.random.default_rng(0)
        pairs = [tuple(rng.choice(40, 2, replace=False)) for _ in range(5 if size == "smoke" else 20)]
        return {"parent": parent, "weights": weights, "ground": te.tree_ground_metric(parent), "pairs": pairs}

    def dpp_setup(size):
        rng = np.random.default_rng(6)
        n, k = (60, 10) if size == "smoke" else (200, 20)
        x = rng.standard_normal((n, 32))
        return {"L": x @ x.T + 1e-3 * np.eye(n), "k": k}

    def nce_setup(size):
        b, d = (1024, 128) if size == "smoke" else (4096, 256)
        g = torch.Generator().manual_seed(7)
        return {"q": torch.randn(b, d, generator=g).requires_grad_(), "k": torch.randn(b, d, generator=g).requires_grad_()}

    def nce_step(loss_fn, i):
        i["q"].grad = i["k"].grad = None
        loss = loss_fn(i["q"], i["k"], 0.07)
        loss.backward()
        return np.array([float(loss), *i["q"].grad.flatten()[:1000].tolist()])

    return [
        Case(name="tree EMD closed form", kernel="simrepro.methods.measures.tree_emd.tree_emd",
             peer_name="ot.emd2 on the tree's shortest-path metric", peer_package="POT", setup=emd_setup,
             ours=lambda i: np.array([te.tree_emd(i["parent"], i["weights"][a], i["weights"][b]) for a, b in i["pairs"]]),
             peer=lambda i: np.array([ot.emd2(i["weights"][a], i["weights"][b], i["ground"]) for a, b in i["pairs"]]),
             parity=_abs_parity(1e-9), work=lambda i: (len(i["pairs"]), "pairs/s")),
        Case(name="greedy MAP DPP", kernel="simrepro.kernels.dpp.greedy_map_dpp",
             peer_name="greedy rule by fresh slogdets (no maintained package implements Chen et al.)",
             peer_package=None, setup=dpp_setup, ours=lambda i: greedy_map_dpp(i["L"], i["k"]),
             peer=lambda i: greedy_map_dpp_reference(i["L"], i["k"]),
             parity=lambda o, p, i: (float(not np.array_equal(o, p)), 0.0, "selections differ (0/1)"),
             work=lambda i: (i["k"], "items selected/s")),
        Case(name="InfoNCE forward + backward", kernel="simrepro.kernels.tiled_info_nce",
             peer_name="the naive loss: cross_entropy(q kᵀ/τ) with torch autograd", peer_package="torch",
             setup=nce_setup, ours=lambda i: nce_step(tiled_info_nce, i), peer=lambda i: nce_step(info_nce_reference, i),
             parity=_abs_parity(1e-4, "max |Δ| of loss and gradient entries"),
             work=lambda i: (i["q"].shape[0], "rows/s"), note="memory at large batches: python -m benchmarks contrastive"),
    ]


def all_cases() -> list[Case]:
    return (_ssim_cases() + _sketch_cases() + _grits_cases() + _topk_cases() + _ivfpq_cases() + _dense_cases()
            + _other_cases())


# --------------------------------------------------------------------------------------------------- running

def _timed_block(fn: Callable[[], object], min_seconds: float = 0.02) -> Callable[[], None]:
    """``fn`` repeated enough times that one block takes ≥ ``min_seconds`` (fast kernels time in blocks)."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    number = max(1, int(min_seconds / max(once, 1e-9)))

    def block():
        for _ in range(number):
            fn()
    block.number = number
    return block


def run_case(case: Case, size: str, repeats: int) -> dict:
    inputs = case.setup(size)
    ours_out, peer_out = case.ours(inputs), case.peer(inputs)
    error, tol, what = case.parity(ours_out, peer_out, inputs)
    ours_block, peer_block = _timed_block(lambda: case.ours(inputs)), _timed_block(lambda: case.peer(inputs))
    t = interleaved_medians({"ours": ours_block, "peer": peer_block}, repeats=repeats)
    t_ours, t_peer = t["ours"] / ours_block.number, t["peer"] / peer_block.number
    amount, unit = case.work(inputs)
    return {"case": case.name, "kernel": case.kernel, "peer": case.peer_name,
            "peer_version": version(case.peer_package) if case.peer_package else "—",
            "ours_s": t_ours, "peer_s": t_peer, "ratio": t_peer / t_ours,
            "parity_error": error, "parity_tol": tol, "parity_ok": bool(error <= tol), "parity_what": what,
            "throughput": amount / t_ours, "unit": unit,
            "ours_peak_mib": peak_rss_bytes(lambda: case.ours(inputs)) / 2 ** 20,
            "peer_peak_mib": peak_rss_bytes(lambda: case.peer(inputs)) / 2 ** 20, "note": case.note}


def run_all(size: str, repeats: int, only: str | None) -> dict:
    rows = []
    for case in all_cases():
        if only and only not in case.name:
            continue
        rows.append(run_case(case, size, repeats))
        r = rows[-1]
        print(f"{r['case']:<48} ratio {r['ratio']:7.2f}  parity {'ok' if r['parity_ok'] else 'FAILED'} "
              f"({r['parity_error']:.2g} ≤ {r['parity_tol']:.2g})", file=sys.stderr, flush=True)
    return {"size": size, "load_avg_1min": os.getloadavg()[0], "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "provenance": provenance(), "rows": rows}


def summarise(runs: list[dict]) -> list[dict]:
    """One row per case: each run's ratio, their median and range, and the first run's other columns."""
    table = []
    for i, first in enumerate(runs[0]["rows"]):
        ratios = [run["rows"][i]["ratio"] for run in runs]
        table.append({**first, "ratios": ratios, "ratio": float(np.median(ratios)), "ratio_min": min(ratios),
                      "ratio_max": max(ratios),
                      "parity_ok": all(run["rows"][i]["parity_ok"] for run in runs),
                      "ours_peak_mib": float(np.median([run["rows"][i]["ours_peak_mib"] for run in runs])),
                      "peer_peak_mib": float(np.median([run["rows"][i]["peer_peak_mib"] for run in runs]))})
    return table


COLUMNS = ["case", "peer", "peer_version", "ratio", "range", "parity", "throughput", "memory ours / peer (MiB)"]


def printable(rows: list[dict]) -> list[dict]:
    return [{"case": r["case"], "peer": r["peer"][:60], "peer_version": r["peer_version"], "ratio": f"{r['ratio']:.2f}×",
             "range": f"{r['ratio_min']:.2f}–{r['ratio_max']:.2f}",
             "parity": f"{'ok' if r['parity_ok'] else 'FAILED'} {r['parity_error']:.1g}",
             "throughput": f"{r['throughput']:.4g} {r['unit']}",
             "memory ours / peer (MiB)": f"{r['ours_peak_mib']:.1f} / {r['peer_peak_mib']:.1f}"} for r in rows]


def markdown(result: dict) -> str:
    """The README's table from a saved ``all.json``: one row per case, ratio median and run-to-run range."""
    lines = [f"| kernel vs peer (case) | peer version | ratio (median of {result['runs']} runs) | range | parity "
             f"(error ≤ tolerance) | throughput (ours) | peak memory ours / peer |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        parity = f"{r['parity_error']:.1g} ≤ {r['parity_tol']:.1g}" + ("" if r["parity_ok"] else " **FAILED**")
        lines.append(f"| {r['case']} — {r['peer']} | {r['peer_version']} | **{r['ratio']:.2f}×** | "
                     f"{r['ratio_min']:.2f}–{r['ratio_max']:.2f} | {parity} | {r['throughput']:.3g} {r['unit']} | "
                     f"{r['ours_peak_mib']:.1f} / {r['peer_peak_mib']:.1f} MiB |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=SIZES, default="full")
    parser.add_argument("--runs", type=int, default=1, help="fresh processes; the table shows each ratio's range")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed repeats per case and run")
    parser.add_argument("--only", default=None, help="keep only the cases whose name contains this")
    parser.add_argument("--markdown", action="store_true", help="print the saved results as the README's table")
    parser.add_argument("--one-run-json", default=None, help=argparse.SUPPRESS)    # internal: a child run's output
    args = parser.parse_args(argv)
    if args.markdown:
        saved = RESULTS / ("all.json" if args.size == "full" else f"all_{args.size}.json")
        if not saved.exists():
            print(f"{saved} does not exist: run `python -m benchmarks all --size {args.size}` first", file=sys.stderr)
            return 2
        print(markdown(json.loads(saved.read_text())))
        return 0
    if args.one_run_json:
        result = run_all(args.size, args.repeats, args.only)
        with open(args.one_run_json, "w") as f:
            json.dump(result, f)
        return 0
    if args.runs < 1 or args.repeats < 1:
        parser.error(f"--runs and --repeats must be ≥ 1, got {args.runs} and {args.repeats}")
    if args.only and not any(args.only in case.name for case in all_cases()):
        parser.error(f"--only {args.only!r} matches no case; the cases are: "
                     + ", ".join(case.name for case in all_cases()))
    runs = []
    RESULTS.mkdir(exist_ok=True)
    for r in range(args.runs):
        out = RESULTS / f".all_run_{r}.json"
        cmd = [sys.executable, "-m", "benchmarks", "all", "--size", args.size, "--repeats", str(args.repeats),
               "--one-run-json", str(out)] + (["--only", args.only] if args.only else [])
        print(f"run {r + 1}/{args.runs}", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
        runs.append(json.loads(out.read_text()))
        out.unlink()
    rows = summarise(runs)
    print(format_table(printable(rows), COLUMNS))
    name = ("all" if args.size == "full" else f"all_{args.size}") + ("_partial" if args.only else "")
    path = RESULTS / f"{name}.json"                 # a filtered run never replaces the whole table's results
    path.write_text(json.dumps({"provenance": provenance(), "size": args.size, "runs": args.runs,
                                "load_avg_1min": [run["load_avg_1min"] for run in runs],
                                "threads": runs[0]["threads"], "cpus": runs[0]["cpus"], "rows": rows}, indent=2) + "\n")
    print("wrote", path)
    failed = [r["case"] for r in rows if not r["parity_ok"]]
    if failed:
        print("PARITY FAILED:", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
