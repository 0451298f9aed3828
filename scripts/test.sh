#!/usr/bin/env bash
# Run the whole default test suite. Sets itself up on a fresh machine: creates .venv, installs
# featuredsl with its test, redis, serve, sklearn and spark extras, then runs ruff, mypy and pytest. Extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e ".[test,redis,serve,sklearn,spark]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m ruff check featuredsl tests benchmarks examples tools
.venv/bin/python -m mypy
.venv/bin/python -m pytest -q "$@"
