#!/usr/bin/env bash
# The main job: set up, then regenerate every paper's results and the scoreboard with DVC at params.yaml's
# profile (default: full). Nothing reruns when nothing changed; `scripts/run.sh --force` reruns everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
simrepro pipeline --check   # dvc.yaml must match the notebooks (`simrepro pipeline` regenerates it)
dvc add -q data          # records data/'s hashes in data.dvc and caches it (unchanged data: no change)
dvc repro "$@"
simrepro status
echo "done: results/<slug>.json, reports/<slug>.html, reports/index.html"
