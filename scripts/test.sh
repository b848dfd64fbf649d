#!/usr/bin/env bash
# All tests: set up, then the unit tests and every notebook at the smoke profile through nbval.
# Extra arguments go to pytest (e.g. `scripts/test.sh -k vendi`). Works with networking removed once set up
# (e.g. `unshare -n scripts/test.sh` as root): notebooks talk to their kernel over loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
# two xdist workers on two cores: one BLAS/OpenMP thread each, or they oversubscribe the machine
export PYTHONHASHSEED=0 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# In a fresh network namespace the loopback link starts down; kernels need it.
if command -v ip >/dev/null && ip link show lo 2>/dev/null | grep -q "state DOWN" && [ "$(id -u)" = 0 ]; then
  ip link set lo up
fi
exec pytest -n 2 --dist loadscope tests notebooks --nbval-lax "$@"
