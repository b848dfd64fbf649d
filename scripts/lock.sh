#!/usr/bin/env bash
# Regenerate requirements-lock.txt from the working venv (after changing requirements.txt):
#   .venv/bin/pip install -r requirements.txt && scripts/lock.sh
# torch's local build reports itself as 2.13.0+cpu: the lock says torch==2.13.0 (what `pip install` resolves
# to the CPU wheel on disk). Packages installed with --no-deps live in requirements-nodeps.txt instead.
set -euo pipefail
cd "$(dirname "$0")/.."
nodeps=$(sed -e 's/[=<>].*//' -e '/^#/d' -e '/^$/d' requirements-nodeps.txt | tr 'A-Z_' 'a-z-')
.venv/bin/pip freeze --exclude-editable | sed 's/^torch==2.13.0+cpu$/torch==2.13.0/' | while read -r line; do
  name=$(echo "${line%%==*}" | tr 'A-Z_' 'a-z-')
  grep -qx "$name" <<<"$nodeps" || echo "$line"
done > requirements-lock.txt
echo "wrote requirements-lock.txt ($(wc -l < requirements-lock.txt) pins)"
