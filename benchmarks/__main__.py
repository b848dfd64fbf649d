"""``python -m benchmarks {all,topk,contrastive,gpu} [options]``: the kernel benchmarks against their peers.

Each prints its table (ratios measured in the same process or run) and writes JSON under
``benchmarks/results/``. ``python -m benchmarks topk --help`` lists a benchmark's axes."""

import runpy
import sys

BENCHMARKS = {"all": "every public kernel vs the library a user would pick (ratio, parity, throughput, memory)",
              "topk": "exact top-k search vs faiss IndexFlatIP/IndexFlatL2 (throughput, GFLOP/s, sgemm peak)",
              "contrastive": "tiled vs naive InfoNCE (peak memory and time per step vs batch size)",
              "gpu": "the Triton kernels vs torch on a CUDA GPU (TFLOP/s, peak fraction, memory); --dry-cpu"}

if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
    print(__doc__.strip().splitlines()[0], file=sys.stderr)
    for name, what in BENCHMARKS.items():
        print(f"  {name:<12} {what}", file=sys.stderr)
    raise SystemExit(2)
name = sys.argv.pop(1)
runpy.run_module(f"benchmarks.{name}", run_name="__main__", alter_sys=True)
