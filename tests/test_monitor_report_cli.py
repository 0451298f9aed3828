"""``featuredsl monitor report`` (featuredsl/cli/monitor_report.py): formats, -o, exit codes,
thresholds, and one-line errors (exit 2) for a foreign snapshot, bad JSON, a missing file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl
import pytest
from test_monitor_report import SPEC, oracle_snapshot, workload

import featuredsl as fd
from featuredsl.cli import monitor_report as cmd
from featuredsl.cli._common import run_command


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("monitor_report")
    df = workload(8000, 1)
    fitted = fd.compile(SPEC).fit(df)
    fitted.save(d / "model.json")
    loaded = fd.load(d / "model.json")
    out = {"artifact": d / "model.json"}
    for name, data in (("same", df),
                       ("drift", workload(3000, 2).with_columns(pl.col("amount") * 100)),
                       ("warn", workload(3000, 3).with_columns(
                           pl.when(pl.int_range(pl.len()) % 25 == 0).then(None)
                           .otherwise(pl.col("country")).alias("country"))),
                       ("tiny", workload(300, 4).with_columns(pl.col("amount") * 100))):
        snap = oracle_snapshot(loaded, data)
        out[name] = d / f"{name}.json"
        out[name].write_text(json.dumps(snap, sort_keys=True, ensure_ascii=False),
                             encoding="utf-8")
    halves = workload(3000, 5).with_columns(pl.col("amount") * 100)
    for name, part in (("half1", halves.head(1500)), ("half2", halves.tail(1500))):
        out[name] = d / f"{name}.json"
        out[name].write_text(json.dumps(fd.profile_rows(loaded, part)), encoding="utf-8")
    other = fd.compile(SPEC).fit(df.head(2000))
    out["foreign"] = d / "foreign.json"
    out["foreign"].write_text(json.dumps(oracle_snapshot(other, df.head(10))), encoding="utf-8")
    return out


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    p = argparse.ArgumentParser(prog="featuredsl monitor report")
    cmd.add_arguments(p)
    code = run_command("featuredsl monitor report", cmd.run, p.parse_args(argv))
    got = capsys.readouterr()
    return code, got.out, got.err


def test_exit_codes_follow_fail_on(files, capsys) -> None:
    a = str(files["artifact"])
    assert _run([a, str(files["same"])], capsys)[0] == 0
    code, out, _ = _run([a, str(files["drift"])], capsys)
    assert code == 1 and out.startswith("monitor report: ALERT")
    assert _run([a, str(files["drift"]), "--fail-on", "never"], capsys)[0] == 0
    # a warn (country nulls 3% -> 7%) fails only with --fail-on warn
    code, out, _ = _run([a, str(files["warn"])], capsys)
    assert code == 0 and "WARN" in out and "inputs.country" in out
    assert _run([a, str(files["warn"]), "--fail-on", "warn"], capsys)[0] == 1
    # insufficient data never fails, whatever --fail-on says
    code, out, _ = _run([a, str(files["tiny"]), "--fail-on", "warn"], capsys)
    assert code == 0 and "INSUFFICIENT_DATA" in out


def test_formats_and_output_file(files, capsys, tmp_path: Path) -> None:
    a = str(files["artifact"])
    code, out, _ = _run([a, str(files["drift"]), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 1 and doc["status"] == "alert"
    assert doc["artifact"] == fd.load(a).artifact_hash
    page = tmp_path / "report.html"
    code, out, _ = _run([a, str(files["drift"]), "--format", "html", "-o", str(page)], capsys)
    assert code == 1 and f"html written to {page}" in out
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == len(doc["fields"])
    code, out, _ = _run([a, str(files["drift"]), "--threshold", "psi_alert=100",
                         "--threshold", "psi_warn=50", "--threshold", "out_of_range_alert=1",
                         "--threshold", "out_of_range_warn=1", "--threshold",
                         "max_bin_shift_alert=1", "--threshold", "max_bin_shift_warn=1",
                         "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["thresholds"]["psi_alert"] == 100


def test_several_snapshots_are_merged(files, capsys) -> None:
    a = str(files["artifact"])
    code, out, _ = _run([a, str(files["half1"]), str(files["half2"]), "--format", "json"],
                        capsys)
    snaps = [json.loads(files[n].read_text(encoding="utf-8")) for n in ("half1", "half2")]
    want = fd.monitor_report(fd.load(a), fd.merge_snapshots(snaps))
    assert code == 1 and out == want.to_json() and json.loads(out)["rows"] == 3000
    # each half alone has too few values for PSI on 100 merchants; merged it has enough
    def merchant_psi(report: object) -> str:
        (f,) = [f for f in report.findings  # type: ignore[attr-defined]
                if f.field == "inputs.merchant" and f.check == "psi"]
        return f.level

    assert merchant_psi(fd.monitor_report(fd.load(a), snaps[0])) == "insufficient_data"
    assert merchant_psi(want) != "insufficient_data"


@pytest.mark.parametrize(("make", "message"), [
    (lambda f, d: [str(f["artifact"]), str(f["foreign"])], "another artifact"),
    (lambda f, d: [str(f["artifact"]), str(d / "nope.json")], "nope.json"),
    (lambda f, d: [str(f["artifact"]), str(d / "bad.json")], "invalid JSON at line 1"),
    (lambda f, d: [str(f["artifact"]), str(d / "list.json")], "not an object"),
    (lambda f, d: [str(d / "bad.json"), str(f["same"])], "bad.json"),
    (lambda f, d: [str(f["artifact"]), str(f["same"]), "--threshold", "psi=1"],
     "unknown threshold 'psi'"),
    (lambda f, d: [str(f["artifact"]), str(f["same"]), "--threshold", "psi_warn"],
     "NAME=VALUE"),
])
def test_errors_are_one_line_exit_2(files, capsys, tmp_path: Path, make, message: str) -> None:
    (tmp_path / "bad.json").write_text('{"kind": ', encoding="utf-8")
    (tmp_path / "list.json").write_text("[1]", encoding="utf-8")
    code, _, err = _run(make(files, tmp_path), capsys)
    assert code == 2
    assert err.startswith("featuredsl monitor report: error:") and err.count("\n") == 1
    assert message in err


def test_through_featuredsl_monitor_report(files, capsys, tmp_path: Path) -> None:
    """The command as users type it: `featuredsl monitor profile` then `monitor report`."""
    from featuredsl.cli.main import main

    a = str(files["artifact"])
    data = tmp_path / "today.parquet"
    workload(2000, 9).with_columns(pl.col("amount") * 100).write_parquet(data)
    snap = tmp_path / "today.snap.json"
    assert main(["monitor", "profile", a, "--data", str(data), "-o", str(snap)]) == 0
    capsys.readouterr()
    assert main(["monitor", "report", a, str(snap)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("monitor report: ALERT") and "inputs.amount" in out
    want = fd.monitor_report(fd.load(a), json.loads(snap.read_text(encoding="utf-8")))
    assert out == want.to_text()
    assert main(["monitor", "report", a, str(files["foreign"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("featuredsl monitor")  # the dispatcher names itself
    assert "error: the snapshot was taken against another artifact" in err
    assert err.count("\n") == 1
