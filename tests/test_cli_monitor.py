"""End to end: ``featuredsl monitor profile|merge`` (the real console script, in a subprocess).

The files it writes are compared with the library (``profile_rows``, ``merge_snapshots``) and
with a ``Monitor(sample_every=1)`` that served the same rows, byte for byte; bad input is one
line and exit status 2.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest
from harness import frame_for
from test_monitor import SPEC, reference, rows_of

import featuredsl as fd
from featuredsl.monitor import read_snapshot, snapshot_json
from tests.test_cli_data import cli
from tests.test_cli_windows import SPEC as WINDOW_SPEC
from tests.test_cli_windows import _events, _rows


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli_monitor")
    spec = fd.compile(SPEC)
    spec.fit(frame_for(spec, rows_of(1000, 1))).save(d / "model.json")
    for i in range(3):
        frame_for(spec, rows_of(300, 30 + i, drift=True)).write_parquet(d / f"day{i}.parquet")
    frame_for(spec, rows_of(300, 30, drift=True)).drop("tags", "du").write_csv(d / "day0.txt")
    return {"dir": d, "model": d / "model.json"}


def test_profile_writes_the_snapshot_a_monitor_takes(files) -> None:
    d = files["dir"]
    out = d / "s0.json"
    r = cli("monitor", "profile", str(files["model"]), "--data", str(d / "day0.parquet"),
            "-o", str(out))
    assert "300 rows" in r.stderr
    fitted = fd.load(str(files["model"]))
    rows = pl.read_parquet(d / "day0.parquet").to_dicts()
    mon = fd.Monitor(fitted, sample_every=1)
    evaluate = fitted.row_evaluator(monitor=mon)
    for row in rows:
        evaluate(row)
    assert out.read_text(encoding="utf-8") == snapshot_json(mon.snapshot()) + "\n"
    assert read_snapshot(out) == reference(fitted, rows)
    # without -o: stdout
    r = cli("monitor", "profile", str(files["model"]), "--data", str(d / "day0.parquet"))
    assert r.stdout == out.read_text(encoding="utf-8")


def test_merge_adds_the_files(files) -> None:
    d = files["dir"]
    for i in range(3):
        cli("monitor", "profile", str(files["model"]), "--data", str(d / f"day{i}.parquet"),
            "-o", str(d / f"m{i}.json"))
    r = cli("monitor", "merge", *(str(d / f"m{i}.json") for i in range(3)),
            "-o", str(d / "all.json"))
    assert "900 rows" in r.stderr
    fitted = fd.load(str(files["model"]))
    whole = pl.concat([pl.read_parquet(d / f"day{i}.parquet") for i in range(3)])
    assert (d / "all.json").read_text(encoding="utf-8") == snapshot_json(
        fd.profile_rows(fitted, whole)) + "\n"


def test_bad_input_is_one_line_and_exit_2(files, tmp_path: Path) -> None:
    d = files["dir"]
    model = str(files["model"])
    cli("monitor", "profile", model, "--data", str(d / "day0.parquet"), "-o",
        str(tmp_path / "s.json"))
    other = fd.compile(SPEC).fit(frame_for(fd.compile(SPEC), rows_of(50, 99)))
    other.save(tmp_path / "other.json")
    cli("monitor", "profile", str(tmp_path / "other.json"), "--data",
        str(d / "day0.parquet"), "-o", str(tmp_path / "o.json"))
    (tmp_path / "half.json").write_text((tmp_path / "s.json").read_text()[:100])
    (tmp_path / "spec.feat").write_text(SPEC)
    cases = [
        (["profile", model, "--data", str(d / "missing.parquet")], "no such file"),
        (["profile", model, "--data", str(d / "day0.txt"), "--input-format", "csv"],
         "column `tags` is missing"),
        (["profile", str(tmp_path / "spec.feat"), "--data", str(d / "day0.parquet")],
         "fitted artifact"),
        (["merge", str(tmp_path / "s.json"), str(tmp_path / "other.json")],
         "not a featuredsl monitor snapshot"),
        (["merge", str(tmp_path / "s.json"), str(tmp_path / "o.json")],
         f"{tmp_path / 'o.json'} is of artifact"),
        (["merge", str(tmp_path / "half.json")], "truncated"),
        (["merge", str(tmp_path / "nothing.json")], "no such file"),
        ([], "required: SUBCOMMAND"),
        (["profile", model], "--data"),
    ]
    for args, message in cases:
        r = cli("monitor", *args, check=2)
        assert message in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) <= 2, r.stderr  # the error (and usage hint)
    assert not (tmp_path / "out.json").exists()


def test_profile_of_a_window_spec_reads_its_sources(tmp_path: Path) -> None:
    rng = random.Random(8)
    events = _events(rng, 300)
    rows = _rows(rng, events, 120)
    events.write_parquet(tmp_path / "txns.parquet")
    rows.write_parquet(tmp_path / "rows.parquet")
    fitted = fd.compile(WINDOW_SPEC).fit(rows, sources={"txns": events})
    fitted.save(tmp_path / "model.json")
    out = tmp_path / "s.json"
    cli("monitor", "profile", str(tmp_path / "model.json"), "--data",
        str(tmp_path / "rows.parquet"), "--source", f"txns={tmp_path / 'txns.parquet'}",
        "-o", str(out))
    # a server that has seen every event, monitoring the same rows
    import datetime as dt

    state = fitted.online_state(lateness=dt.timedelta(days=3650))
    state.ingest_batch("txns", events)
    mon = fd.Monitor(fitted, sample_every=1)
    evaluate = fitted.row_evaluator(state, monitor=mon)
    for row in rows.to_dicts():
        evaluate(row)
    assert out.read_text(encoding="utf-8") == snapshot_json(mon.snapshot()) + "\n"
    assert json.loads(out.read_text())["features"]["n_1h"]["count"] == 120
