#!/usr/bin/env bash
# Idempotent setup for a fresh machine: Debian data packages, a venv with the pinned lock, the simrepro
# package (editable), and the offline datasets under data/. A second run reuses everything it finds.
set -euo pipefail
cd "$(dirname "$0")/.."
export DVC_NO_ANALYTICS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
PYTHON=${PYTHON:-python3.11}

# 1. Debian packages: required, those that ship datasets (Fashion-MNIST, the ann-benchmarks base set; WordNet
#    3.0; BSD fortunes) and a C++ compiler (hnswlib, a wave-2 peer, is published as source only and builds at install);
#    optional, Chromium and its driver for the scoreboard's browser test (skipped, with the reason, without)
DEBIAN_DATA="dataset-fashion-mnist:/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz wordnet-base:/usr/share/wordnet/data.noun fortunes:/usr/share/games/fortunes/art fortunes-min:/usr/share/games/fortunes/literature g++:/usr/bin/g++"
DEBIAN_BROWSER="chromium:/usr/bin/chromium chromium-driver:/usr/bin/chromedriver"
missing=""; optional=""
for entry in $DEBIAN_DATA; do [ -e "${entry#*:}" ] || missing="$missing ${entry%%:*}"; done
for entry in $DEBIAN_BROWSER; do [ -e "${entry#*:}" ] || optional="$optional ${entry%%:*}"; done
if [ -n "$missing$optional" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages:$missing$optional"
    apt-get update -qq
    [ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    [ -z "$optional" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $optional >/dev/null \
      || echo "setup: could not install$optional; the browser test of the scoreboard will be skipped" >&2
  elif [ -n "$missing" ]; then
    echo "setup: missing Debian packages; install them with: sudo apt-get install$missing" >&2
    exit 1
  else
    echo "setup: no Chromium; the scoreboard's browser test will be skipped (sudo apt-get install$optional)" >&2
  fi
fi

# 2. The venv, reinstalled only when the lock files change
if [ ! -x .venv/bin/python ]; then
  command -v "$PYTHON" >/dev/null || { echo "setup: $PYTHON not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
  "$PYTHON" -m venv .venv
fi
# pip warns once per package about this machine's missing local indexes: keep real errors, drop that noise
pip_install() { .venv/bin/python -m pip install -q "$@" 2> >(grep -v "^WARNING: Location 'file://" >&2); }
stamp=.venv/.simrepro-lock.sha256
want=$(cat requirements-lock.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the pinned requirements into .venv (a few minutes the first time)"
  pip_install --upgrade "pip==26.3"
  pip_install -r requirements-lock.txt
  pip_install --no-deps -r requirements-nodeps.txt
  pip_install --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi

# 3. Notebooks are stored without outputs: JupyterLab saves them in their stored form (a pre-save hook in the
#    venv's Jupyter config), and git's nbstripout filter cleans what any other editor writes
.venv/bin/python - <<'PY'
import json, pathlib
path = pathlib.Path(".venv/etc/jupyter/jupyter_server_config.json")
config = json.loads(path.read_text()) if path.exists() else {}
config.setdefault("ContentsManager", {})["pre_save_hook"] = "simrepro.repro.notebooks.pre_save_hook"
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps(config, indent=2) + "\n")
PY
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # unquoted: DVC's experiment executor parses .git/config with ConfigObj, which rejects a value that starts
  # with a quoted word (a checkout path with spaces would need a symlink)
  git config filter.nbstripout.clean "$PWD/.venv/bin/python -m nbstripout --keep-id"
  git config filter.nbstripout.smudge cat
  git config filter.nbstripout.required true
  git config filter.nbstripout.extrakeys "metadata.language_info metadata.widgets"
  git config diff.ipynb.textconv "$PWD/.venv/bin/python -m nbstripout -t --keep-id"
fi

# 4. Offline datasets into data/ (idempotent)
.venv/bin/simrepro data >/dev/null
echo "setup: ready (.venv, data/)"
