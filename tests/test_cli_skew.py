"""`featuredsl skew`, end to end: the installed command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd

ROOT = Path(__file__).parents[1]
_SCRIPT = Path(sys.executable).parent / "featuredsl"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "featuredsl.cli.main"]

SPEC = """
input { txn: int, amount: float?, country: string? }
feature big = amount > 100.0 ?? false
feature c = country ?? "UNK"
feature half = amount / 2.0
"""
OFFLINE = pl.DataFrame({"txn": [1, 2, 3, 4], "amount": [1.0, 200.0, None, 50.0],
                        "country": ["US", "ΣΟΦΙΑΣ", None, ""]})


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "POLARS_MAX_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([*COMMAND, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=120)
    assert "Traceback" not in p.stderr + p.stdout
    return p


@pytest.fixture()
def logged(tmp_path: Path) -> tuple[Path, Path, Path, fd.FittedSpec]:
    """An artifact, its log of the offline rows (served by the real evaluator), the table."""
    fitted = fd.compile(SPEC).fit(OFFLINE)
    artifact = tmp_path / "model.json"
    fitted.save(artifact)
    logs = tmp_path / "logs"
    with fd.FeatureLogger(logs, sample_rate=1.0, context=["txn"]) as log:
        evaluate = fitted.row_evaluator(logger=log)
        for r in OFFLINE.to_dicts():
            with log.context(txn=r["txn"]):
                evaluate(r)
    table = tmp_path / "offline.parquet"
    OFFLINE.write_parquet(table)
    return artifact, logs, table, fitted


def test_clean_log_exits_0(logged) -> None:
    artifact, logs, table, _ = logged
    p = cli("skew", str(artifact), "--log", str(logs))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("skew: ok - 4 logged rows")
    p = cli("skew", str(artifact), "--log", str(logs), "--against", str(table), "--key", "txn",
            "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["status"] == "ok" and doc["join"]["rows"] == 4
    assert doc["join"]["code_mismatch"] == {"big": 0, "c": 0, "half": 0}


def test_a_mismatch_or_a_bad_file_exits_1(logged) -> None:
    artifact, logs, _, fitted = logged
    # a changed `half` served under this artifact's hash
    bug = fd.compile(SPEC.replace("amount / 2.0", "amount / 2.5")).fit(OFFLINE)
    bug._artifact_hash = fitted.artifact_hash
    with fd.FeatureLogger(logs, sample_rate=1.0) as log:
        bug.row_evaluator(logger=log)({"txn": 9, "amount": 10.0, "country": "US"})
    p = cli("skew", str(artifact), "--log", str(logs), "--format", "json")
    assert p.returncode == 1
    assert json.loads(p.stdout)["mismatches"] == {"half": 1}
    clean = logs.parent / "clean"
    clean.mkdir()
    (clean / "junk.parquet").write_bytes(b"PAR1 nope")
    p = cli("skew", str(artifact), "--log", str(clean))
    assert p.returncode == 1 and "bad file junk.parquet" in p.stdout


@pytest.mark.parametrize("args, message", [
    (["--log", "{logs}/missing"], "no such log directory"),
    (["--log", "{logs}", "--against", "{table}"], "needs both --against F and --key K"),
    (["--log", "{logs}", "--against", "{logs}/none.parquet", "--key", "txn"], "no such file"),
    (["--log", "{logs}", "--against", "{table}", "--key", "nope"], "key `nope`"),
])
def test_usage_and_input_errors_exit_2_in_one_line(logged, args, message) -> None:
    artifact, logs, table, _ = logged
    argv = [a.format(logs=logs, table=table) for a in args]
    p = cli("skew", str(artifact), *argv)
    assert p.returncode == 2
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_missing_log_option_is_a_usage_error(logged) -> None:
    artifact, *_ = logged
    p = cli("skew", str(artifact))
    assert p.returncode == 2 and "--log" in p.stderr
