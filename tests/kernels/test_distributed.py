"""Sharded top-k over 2 gloo processes on localhost equals the single-process search (tie-aware)."""

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from simrepro.kernels.distributed import merge_knn, sharded_topk_search
from simrepro.kernels.topk import topk_search
from simrepro.metrics import assert_knn_equal

WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    import torch.distributed as dist
    from simrepro.kernels.distributed import sharded_topk_search

    out, metric = sys.argv[1], sys.argv[2]
    dist.init_process_group("gloo", init_method="env://")
    rank = dist.get_rank()
    rng = np.random.default_rng(0)
    q = rng.standard_normal((41, 19)).astype(np.float32)
    y = rng.standard_normal((1003, 19)).astype(np.float32)
    shard = y[:400] if rank == 0 else y[400:]                   # uneven shards
    D, I = sharded_topk_search(q, shard, 9, metric)
    np.savez(f"{out}/rank{rank}.npz", D=D, I=I)
    dist.destroy_process_group()
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_two_gloo_processes_match_single_process(tmp_path, metric):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="2")
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path), metric], env=dict(env, RANK=str(r)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out
    rng = np.random.default_rng(0)
    q = rng.standard_normal((41, 19)).astype(np.float32)
    y = rng.standard_normal((1003, 19)).astype(np.float32)
    D, I = topk_search(q, y, 9, metric)
    r0, r1 = (np.load(tmp_path / f"rank{r}.npz") for r in range(2))
    np.testing.assert_array_equal(r0["I"], r1["I"])                  # every rank gets the same answer
    scale = (q.astype(np.float64) ** 2).sum(1) + (y.astype(np.float64) ** 2).sum(1).max() if metric == "l2" else None
    assert_knn_equal(D, I, r0["D"], r0["I"], rtol=2e-6, scale=scale)
    assert (r0["I"] >= 400).any() and (r0["I"] < 400).any()          # both shards contributed, ids are global


def test_merge_knn_keeps_the_best_and_drops_filler():
    D1, I1 = torch.tensor([[5.0, 1.0, -np.inf]]), torch.tensor([[0, 1, -1]])
    D2, I2 = torch.tensor([[4.0, 3.0, 2.0]]), torch.tensor([[7, 8, 9]])
    D, I = merge_knn([D1, D2], [I1, I2], 3, "dot")
    assert D.tolist() == [[5.0, 4.0, 3.0]] and I.tolist() == [[0, 7, 8]]
    D, I = merge_knn([torch.tensor([[1.0, np.inf]]), torch.tensor([[0.5, 2.0]])],
                     [torch.tensor([[3, -1]]), torch.tensor([[4, 5]])], 3, "l2")
    assert D.tolist() == [[0.5, 1.0, 2.0]] and I.tolist() == [[4, 3, 5]]
    with pytest.raises(ValueError, match="fewer than k"):
        merge_knn([D1], [I1], 4)


def test_sharded_search_needs_an_initialised_group():
    with pytest.raises(RuntimeError, match="not initialised"):
        sharded_topk_search(np.zeros((2, 3), np.float32), np.zeros((4, 3), np.float32), 1)
