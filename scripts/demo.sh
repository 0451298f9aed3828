#!/usr/bin/env bash
# The main job: set up .venv if needed, then compile examples/transactions.feat, transform
# generated data in batch, serve single rows, and check parity (examples/demo.py, the Python
# API), window features over a transaction log (examples/fraud_demo.py), a departure-delay
# model in scikit-learn (examples/flights_demo.py), a monitor report of a drifted serving
# sample (examples/monitor_demo.py, written to out/monitor_report.html) and a feature log
# replayed by skew (examples/skew_demo.py); then the same
# job from the shell with the `featuredsl` command. Extra arguments go to the Python demo
# (`--rows N`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import featuredsl, sklearn" >/dev/null 2>&1 \
    || [ ! -x .venv/bin/featuredsl ]; then
  .venv/bin/python -m pip install -q -e ".[sklearn]" 2>&1 | grep -v "^WARNING: Location" || true
fi
.venv/bin/python examples/demo.py "$@"

# Window features (examples/fraud.feat): point-in-time training over a transaction log, then
# serving from live state with every value checked against batch, then a warm restart.
printf '\n'
.venv/bin/python examples/fraud_demo.py

# A departure-delay model (examples/flights.feat): out-of-fold target encodings in a
# scikit-learn pipeline, then single requests in the vector layout, checked against batch.
printf '\n'
.venv/bin/python examples/flights_demo.py

# Watching production: a drifted day of serving traffic counted into a snapshot (the monitor's
# batch twin) and checked against the training profile; the report is printed and written as
# one HTML page, out/monitor_report.html.
printf '\n'
.venv/bin/python examples/monitor_demo.py

# Feature logging and skew (examples/skew_demo.py): serve through a logging evaluator, replay
# the log in batch (clean), join it with a warehouse copy (data mismatches), then catch a
# patched server and a stale replica.
printf '\n'
.venv/bin/python examples/skew_demo.py --out out/skew_demo

# The command line: check, fit, transform (streaming, file to file), eval, explain, parity,
# skew.
FD=.venv/bin/featuredsl
mkdir -p out
.venv/bin/python -c "import sys; sys.path.insert(0, 'examples'); import demo; \
demo.generate(20_000).write_parquet('out/train.parquet')"
run() {
  local shown="" a
  for a in "$@"; do case "$a" in *" "*) shown+=" '$a'" ;; *) shown+=" $a" ;; esac; done
  printf '\n$ featuredsl%s\n' "$shown"
  "$FD" "$@"
}
run check examples/transactions.feat
run fit examples/transactions.feat --data out/train.parquet -o out/model.json
run transform out/model.json --data out/train.parquet -o out/features.parquet --keep user_id
REQUEST='{"user_id": 42, "amount": 250.0, "n_items": 0, "ts": "2024-07-06T22:15:00Z", "country": "US", "merchant": "merchant_7", "category": "travel", "description": "Refund for ticket"}'
run eval out/model.json --row "$REQUEST"
run explain out/model.json --row "$REQUEST" --feature amount_z,big_us
run parity out/model.json --data out/train.parquet --edge-cases
run skew out/skew_demo/model.json --log out/skew_demo/logs

# Reviewing a change before it ships: the next version of the spec (examples/transactions_v2.feat),
# fitted on newer data, against this one on the training rows (docs/diff.md, "A real review").
.venv/bin/python -c "import sys; sys.path.insert(0, 'examples'); import demo; \
demo.generate(20_000, seed=8).write_parquet('out/newer.parquet')"
run fit examples/transactions_v2.feat --data out/newer.parquet -o out/model_v2.json
run diff out/model.json out/model_v2.json --data out/train.parquet --fail-on never

# The monitor report of examples/monitor_demo.py's drifted snapshot, from the shell (the same
# page; --fail-on never: the drift is the point here, a CI gate would exit 1 on it).
run monitor report out/monitor_model.json out/monitor_snapshot.json --format html \
  -o out/monitor_report.html --fail-on never
