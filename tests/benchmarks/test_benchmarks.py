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


def test_contrastive_measure_can_skip_rss_and_timing():
    row = measure("tiled", 256, 16, 0, 32, rss=False)
    assert row["rss_bytes"] is None and row["seconds"] is None and row["alloc_bytes"] > 2 * 256 * 16 * 4
    with pytest.raises(ValueError):
        measure("tiled", 256, 16, -1, 32)


def test_contrastive_sweep_finds_the_largest_naive_batch_and_times_only_a_fraction_of_it():
    from benchmarks.contrastive import sweep

    out = sweep([128, 256, 512], 16, tile=32, threads=1, naive_max_batch=256, repeats=2, timed_fraction=2)
    assert out["largest"] == 256 and out["timed_batch"] == 128
    assert out["skipped"][0][0] == 512                                 # capped: the naive loss never ran there
    got = {(r["method"], r["b"]): r for r in out["rows"]}
    assert set(got) == {(m, b) for m in ("naive", "tiled") for b in (128, 256)}
    assert all((r["seconds"] is not None) == (r["b"] == 128) for r in out["rows"])
    assert got["naive", 256]["alloc_bytes"] > 3 * 256 * 256 * 4 > got["tiled", 256]["alloc_bytes"]


def test_ivfpq_gaps_are_paired_per_cell_and_the_farthest_interval_is_found():
    from benchmarks.ivfpq import farthest_cell, recall_gaps

    def run(ours1, faiss1):
        return {"rows": [{"index": "ours", "nprobe": 1, "recall@1": ours1, "recall@10": 0.5},
                         {"index": "faiss", "nprobe": 1, "recall@1": faiss1, "recall@10": 0.5},
                         {"index": "ours", "nprobe": 4, "recall@1": 0.6, "recall@10": 0.7},
                         {"index": "faiss", "nprobe": 4, "recall@1": 0.6, "recall@10": 0.69}]}
    gaps = recall_gaps([run(0.40, 0.38), run(0.41, 0.40), run(0.39, 0.40)])
    assert set(gaps) == {("recall@1", 1), ("recall@10", 1), ("recall@1", 4), ("recall@10", 4)}
    assert np.allclose(gaps["recall@1", 1], [0.02, 0.01, -0.01]) and np.allclose(gaps["recall@10", 4], [0.01] * 3)
    assert farthest_cell(gaps) == ("recall@1", 1)      # a noisy mean of 0.0067 reaches further than a steady 0.01


def test_compare_ivfpq_takes_the_faiss_seed_and_can_skip_timing():
    from benchmarks.ivfpq import compare_ivfpq

    rng = np.random.default_rng(0)
    xb = rng.standard_normal((2000, 16)).astype(np.float32)
    xq = xb[:20] + 0.01
    I_true = np.argsort(((xq[:, None] - xb[None]) ** 2).sum(-1), axis=1)[:, :5]
    runs = [compare_ivfpq(xb[:1000], xb, xq, I_true, nlist=8, M=4, nbits=4, nprobes=[8], k=5, seed=s, faiss_seed=s,
                          repeats=0) for s in (1, 2)]
    assert all(np.isnan(r["qps"]) for run in runs for r in run["rows"])
    assert [(r["index"], r["nprobe"]) for r in runs[0]["rows"]] == [("ours", 8), ("faiss", 8)]
    assert all(0.0 < r["recall@1"] <= 1.0 and 0.0 < r["recall@5"] <= 1.0 for run in runs for r in run["rows"])


def test_all_runs_a_case_checks_parity_and_measures_memory():
    from benchmarks.all import Case, all_cases, markdown, run_case, summarise
    from benchmarks.common import peak_rss_bytes

    names = [c.name for c in all_cases()]
    assert len(names) == len(set(names)) and any(n.startswith("ssim") for n in names)
    case = next(c for c in all_cases() if c.name == "grits top")
    row = run_case(case, "smoke", repeats=1)
    assert row["parity_ok"] and row["ratio"] > 0 and row["peer_version"] != "—"
    # a wrong result is reported as a parity failure, never timed as a success
    wrong = Case(**{**case.__dict__, "name": "grits top, broken", "ours": lambda i: case.ours(i) + 0.1})
    assert not run_case(wrong, "smoke", repeats=1)["parity_ok"]
    table = summarise([{"rows": [row]}, {"rows": [{**row, "ratio": 2 * row["ratio"]}]}])
    assert table[0]["ratio_max"] == 2 * table[0]["ratio_min"]
    assert "grits top" in markdown({"runs": 2, "rows": table})
    held = peak_rss_bytes(lambda: np.ones(64 << 20, dtype=np.uint8))        # 64 MiB touched
    assert np.isnan(held) or 60 << 20 < held < 200 << 20


def test_all_refuses_a_filter_that_matches_nothing_before_writing_anything(capsys):
    from benchmarks.all import main

    for argv in (["--size", "smoke", "--only", "no such case"], ["--runs", "0"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
    assert "matches no case" in capsys.readouterr().err
