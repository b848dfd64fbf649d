"""The benchmark entry points run end to end at tiny sizes (their numbers are not judged here: benchmarks are
code, not timed tests) and their agreement checks are wired to the real results."""

import sys

import numpy as np
import pytest

from simrepro.repro.paths import root

sys.path.insert(0, str(root()))
faiss = pytest.importorskip("faiss")

from benchmarks.contrastive import measure, naive_fits  # noqa: E402
from benchmarks.topk import compare_with_faiss, synthetic_case  # noqa: E402


@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_topk_comparison_agrees_with_faiss(metric):
    xb, xq = synthetic_case(4096, 16, 64)
    row = compare_with_faiss(xb, xq, 5, metric, repeats=1)
    assert row["agree"] == row["scan_agree"] == 1.0
    assert row["ours_qps"] > 0 and row["faiss_qps"] > 0
    assert np.isnan(row["kept_per_query"]) or row["kept_per_query"] >= 5


def test_contrastive_measure_reports_memory_and_time():
    naive, tiled = measure("naive", 512, 32, 1, None), measure("tiled", 512, 32, 1, 64)
    grads = 2 * 512 * 32 * 4
    assert naive["alloc_bytes"] > 512 * 512 * 4 > tiled["alloc_bytes"] - grads > 0
    assert naive["seconds"] > 0 and tiled["seconds"] > 0
    assert naive_fits(512) and not naive_fits(10 ** 7)
