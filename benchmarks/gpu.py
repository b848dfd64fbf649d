"""The GPU check, as one short script for a lent accelerator: the Triton kernels against torch on CUDA.

- top-k: ``topk_search(device="cuda")`` (Triton tile-select, float32) vs torch's ``mm`` + ``topk`` on the same
  GPU: tie-aware parity, time, TFLOP/s, and the fraction of the GPU's fp32 matmul peak measured in this run;
- tiled InfoNCE: ``tiled_info_nce(backend="triton")`` vs the naive loss: |Δloss|, max |Δgrad|, time of a forward
  + backward, peak memory (``torch.cuda.max_memory_allocated``).

Without CUDA it says so and exits 3: it never prints a GPU number it did not measure. ``--dry-cpu`` runs tiny
sizes on the CPU (Triton under ``TRITON_INTERPRET=1``) to check the script itself, not the hardware.

Usage (repository root): ``python -m benchmarks gpu [--dry-cpu]``; writes ``benchmarks/results/gpu.json``.
"""

from __future__ import annotations

import argparse
import os
import sys

DRY = "--dry-cpu" in sys.argv
if DRY:
    os.environ.setdefault("TRITON_INTERPRET", "1")   # before any @triton.jit is defined

import torch  # noqa: E402

from benchmarks.common import format_table, time_median, write_json  # noqa: E402
from simrepro.kernels import info_nce_reference, tiled_info_nce, topk_search  # noqa: E402
from simrepro.metrics import knn_matches  # noqa: E402

SIZES = {"gpu": {"topk": [(10_000, 1_000_000, 128, 10), (10_000, 1_000_000, 768, 100)],
                 "infonce": [(16_384, 512), (65_536, 512)]},
         "dry": {"topk": [(37, 300, 16, 5)], "infonce": [(97, 33)]}}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak_tflops(device: torch.device, n: int) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.backends.cuda.matmul.allow_tf32 = False
    t = time_median(lambda: (a @ b, sync(device)), warmup=2, repeats=5)
    return 2 * n ** 3 / t / 1e12


def bench_topk(device: torch.device, nq: int, nb: int, d: int, k: int) -> dict:
    g = torch.Generator(device="cpu").manual_seed(0)
    q, y = torch.randn(nq, d, generator=g).to(device), torch.randn(nb, d, generator=g).to(device)
    ours = topk_search(q, y, k, "dot", device=device.type)
    ref = torch.topk(q @ y.T, k, dim=1)
    agree = float(knn_matches(ref.values.cpu().numpy(), ref.indices.cpu().numpy(),
                              ours[0].cpu().numpy(), ours[1].cpu().numpy()).mean())
    t_ours = time_median(lambda: (topk_search(q, y, k, "dot", device=device.type), sync(device)), repeats=5)
    t_torch = time_median(lambda: (torch.topk(q @ y.T, k, dim=1), sync(device)), repeats=5)
    flop = 2 * nq * nb * d
    return {"nq": nq, "nb": nb, "d": d, "k": k, "ours_s": t_ours, "torch_s": t_torch,
            "ours_tflops": flop / t_ours / 1e12, "torch_tflops": flop / t_torch / 1e12,
            "speedup_vs_torch": t_torch / t_ours, "agree": agree}


def bench_infonce(device: torch.device, b: int, d: int) -> dict:
    g = torch.Generator(device="cpu").manual_seed(0)
    q0 = torch.nn.functional.normalize(torch.randn(b, d, generator=g), dim=1).to(device)
    k0 = torch.nn.functional.normalize(torch.randn(b, d, generator=g), dim=1).to(device)

    def step(fn, **kw):
        q, k = q0.clone().requires_grad_(), k0.clone().requires_grad_()
        loss = fn(q, k, 0.07, **kw)
        loss.backward()
        sync(device)
        return loss.detach(), q.grad, k.grad

    row = {"b": b, "d": d}
    results = {}
    for name, fn, kw in (("naive", info_nce_reference, {}), ("tiled", tiled_info_nce, {"backend": "triton"})):
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        try:
            results[name] = step(fn, **kw)
        except torch.cuda.OutOfMemoryError:
            row[f"{name}_s"] = row[f"{name}_peak_MiB"] = None
            continue
        row[f"{name}_peak_MiB"] = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
        row[f"{name}_s"] = time_median(lambda: step(fn, **kw), warmup=1, repeats=3)
    if len(results) == 2:
        (ln, gqn, gkn), (lt, gqt, gkt) = results["naive"], results["tiled"]
        row["loss_abs_diff"] = float((ln - lt).abs())
        row["grad_max_abs_diff"] = float(max((gqn - gqt).abs().max(), (gkn - gkt).abs().max()))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-cpu", action="store_true", help="tiny sizes on the CPU, Triton interpreted")
    args = ap.parse_args()
    if not args.dry_cpu and not torch.cuda.is_available():
        print("no CUDA device: the GPU check measures nothing here (use --dry-cpu to test the script)",
              file=sys.stderr)
        return 3
    device = torch.device("cpu" if args.dry_cpu else "cuda")
    sizes = SIZES["dry" if args.dry_cpu else "gpu"]
    peak = matmul_peak_tflops(device, 256 if args.dry_cpu else 8192)
    topk_rows = [bench_topk(device, *s) for s in sizes["topk"]]
    for r in topk_rows:
        r["ours_peak_frac"] = r["ours_tflops"] / peak
    infonce_rows = [bench_infonce(device, *s) for s in sizes["infonce"]]
    print(f"device {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu (dry run)'}; "
          f"fp32 matmul peak measured {peak:.1f} TFLOP/s")
    print(format_table(topk_rows, list(topk_rows[0])))
    print(format_table(infonce_rows, list(infonce_rows[0])))
    path = write_json("gpu_dry" if args.dry_cpu else "gpu",
                      {"device": str(device), "fp32_matmul_peak_tflops": peak, "topk": topk_rows,
                       "infonce": infonce_rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
