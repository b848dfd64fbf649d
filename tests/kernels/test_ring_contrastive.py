"""Ring InfoNCE on 2 gloo processes equals the single-process loss and its gradients."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from simrepro.kernels.contrastive import info_nce_reference
from simrepro.kernels.ring_contrastive import ring_info_nce

WORLD = 2
SPLITS = {"even": [20, 20], "uneven": [23, 14]}     # rows held by rank 0 and rank 1
TAU = 0.2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _batch(b, d=7):
    g = torch.Generator().manual_seed(b)
    return torch.randn(b, d, generator=g, dtype=torch.float64), torch.randn(b, d, generator=g, dtype=torch.float64)


def _worker(rank, port, out_dir):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    results = {}
    for name, sizes in SPLITS.items():
        q, k = _batch(sum(sizes))
        lo, hi = sum(sizes[:rank]), sum(sizes[:rank + 1])
        for symmetric in (False, True):
            for tile in (None, 5):
                ql, kl = q[lo:hi].clone().requires_grad_(), k[lo:hi].clone().requires_grad_()
                loss = ring_info_nce(ql, kl, TAU, symmetric=symmetric, tile_size=tile)
                loss.backward()
                results[name, symmetric, tile] = (loss.detach(), ql.grad, kl.grad)
    torch.save(results, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def ring_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ring")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.parametrize("split", sorted(SPLITS))
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("tile", [None, 5])
def test_ring_equals_single_process(ring_results, split, symmetric, tile):
    sizes = SPLITS[split]
    q, k = _batch(sum(sizes))
    q.requires_grad_()
    k.requires_grad_()
    ref = info_nce_reference(q, k, TAU, symmetric=symmetric)
    ref.backward()
    losses = [r[split, symmetric, tile][0] for r in ring_results]
    dq = torch.cat([r[split, symmetric, tile][1] for r in ring_results])
    dk = torch.cat([r[split, symmetric, tile][2] for r in ring_results])
    err = max((dq - q.grad).abs().max().item(), (dk - k.grad).abs().max().item())
    print(f"{split} sym={symmetric}: loss {[x.item() for x in losses]} vs {ref.item()}, grad err {err:.1e}")
    for loss in losses:
        assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    assert err <= 1e-12 * q.grad.abs().max().item()


def test_needs_a_process_group():
    q, k = _batch(4)
    with pytest.raises(RuntimeError, match="init_process_group"):
        ring_info_nce(q, k, TAU)
