#!/usr/bin/env bash
# The main job: set up .venv if needed, then compile examples/transactions.feat, transform
# generated data in batch, serve single rows, and check parity. Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import featuredsl" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q -e . 2>&1 | grep -v "^WARNING: Location" || true
fi
exec .venv/bin/python examples/demo.py "$@"
