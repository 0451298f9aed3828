"""End to end: the ``featuredsl`` command on a spec with window aggregates (``--source``).

The real console script runs in a subprocess on files in ``tmp_path``; its outputs are
compared with the library API (``fit(..., sources=)``, ``transform(..., sources=)``) and, for
``explain``'s window bounds and counts, with an independent count in Python.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd
from featuredsl import parity
from tests.test_cli_data import cli

SPEC = """\
input {
  user:   int
  ts:     timestamp
  amount: float?
  time ts
}
source txns {
  user:   int
  ts:     timestamp
  amount: float?
  kind:   string
  key  user
  time ts
}
feature n_1h     = count(txns, over=1h)
feature sum_1d   = sum(txns.amount, over=1d)
feature mean_all = mean(txns.amount)
feature big_1d   = count(txns, over=1d, where=txns.kind == "grö")
feature since    = seconds_since_last(txns) ?? -1.0
stat m = mean(n_1h)
feature rel      = n_1h - m
"""
BASE = dt.datetime(2024, 3, 30, 22, 0)


def _events(rng: random.Random, n: int) -> pl.DataFrame:
    times = sorted(BASE + dt.timedelta(minutes=rng.randrange(0, 3 * 24 * 60)) for _ in range(n))
    return pl.DataFrame({
        "user": [rng.randrange(8) for _ in range(n)],
        "ts": times,
        "amount": [None if rng.random() < 0.1 else round(rng.uniform(-50, 500), 2)
                   for _ in range(n)],
        "kind": [rng.choice(["grö", "small", ""]) for _ in range(n)],
    }, schema={"user": pl.Int64, "ts": pl.Datetime("us"), "amount": pl.Float64,
               "kind": pl.String})


def _rows(rng: random.Random, events: pl.DataFrame, n: int) -> pl.DataFrame:
    # some rows exactly at an event's time (the event itself is not in its window), an
    # unseen user, and rows before every event
    ev_times = events.get_column("ts").to_list()
    times = [rng.choice(ev_times) if rng.random() < 0.4
             else BASE + dt.timedelta(minutes=rng.randrange(-120, 4 * 24 * 60))
             for _ in range(n)]
    return pl.DataFrame({"user": [rng.randrange(9) for _ in range(n)], "ts": times,
                         "amount": [rng.uniform(0, 100) for _ in range(n)]},
                        schema={"user": pl.Int64, "ts": pl.Datetime("us"),
                                "amount": pl.Float64})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli_windows")
    rng = random.Random(5)
    events = _events(rng, 400)
    rows = _rows(rng, events, 150)
    (d / "spec.feat").write_text(SPEC, encoding="utf-8")
    events.write_parquet(d / "txns.parquet")
    events.write_csv(d / "txns.csv")
    rows.write_parquet(d / "rows.parquet")
    rows.write_csv(d / "rows.txt")  # CSV under another extension: --input-format
    cli("fit", str(d / "spec.feat"), "--data", str(d / "rows.parquet"),
        "--source", f"txns={d / 'txns.parquet'}", "-o", str(d / "model.json"), "-q")
    return {"dir": d, "spec": d / "spec.feat", "events": d / "txns.parquet",
            "events_csv": d / "txns.csv", "rows": d / "rows.parquet",
            "rows_txt": d / "rows.txt", "model": d / "model.json"}


def _library_fit(files: dict[str, Path]) -> fd.FittedSpec:
    return fd.compile(SPEC).fit(pl.read_parquet(files["rows"]),
                                sources={"txns": pl.read_parquet(files["events"])})


def test_fit_writes_the_artifact_the_library_writes(files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    _library_fit(files).save(tmp_path / "lib.json")
    assert files["model"].read_bytes() == (tmp_path / "lib.json").read_bytes()


@pytest.mark.parametrize("out_name", ["out.parquet", "out.ndjson", "out.csv", "out.arrow"])
def test_transform_equals_the_library_transform(files: dict[str, Path], tmp_path: Path,
                                                out_name: str) -> None:
    out = tmp_path / out_name
    r = cli("transform", str(files["model"]), "--data", str(files["rows"]),
            "--source", f"txns={files['events_csv']}", "--keep", "user", "-o", str(out))
    assert "150 rows" in r.stderr
    fitted = fd.load(files["model"])
    want = fitted.transform(pl.read_parquet(files["rows"]), keep=["user"],
                            sources={"txns": pl.read_parquet(files["events"])})
    read = {".parquet": pl.read_parquet, ".ndjson": pl.read_ndjson, ".csv": pl.read_csv,
            ".arrow": pl.read_ipc}[out.suffix]
    got = read(out)
    assert got.columns == want.columns
    assert got.cast(want.schema).to_dicts() == want.to_dicts()  # type: ignore[arg-type]


def test_transform_reads_rows_by_input_format(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    cli("transform", str(files["model"]), "--data", str(files["rows_txt"]),
        "--input-format", "csv", "--source", f"txns={files['events']}", "-o", str(out))
    want = fd.load(files["model"]).transform(
        pl.read_parquet(files["rows"]), sources={"txns": pl.read_parquet(files["events"])})
    assert pl.read_parquet(out).to_dicts() == want.to_dicts()


def test_parity_replays_the_events_through_the_online_state(files: dict[str, Path]) -> None:
    r = cli("parity", str(files["model"]), "--data", str(files["rows"]), "--source",
            f"txns={files['events']}", "--edge-cases", "--edge-rows", "200", "--format", "json")
    report = json.loads(r.stdout)
    assert report["ok"] is True
    assert report["rows"] == {"data": 150, "edge-cases": 200}
    assert set(report["mismatches"]) == set(fd.load(files["model"]).features)
    # edge cases alone: the generated rows meet empty sources
    r = cli("parity", str(files["model"]), "--edge-cases", "--edge-rows", "50")
    assert "OK: no mismatch" in r.stdout


def test_replay_is_the_serving_answer_in_time_order(files: dict[str, Path]) -> None:
    """The replay parity runs agrees with an independent count over the log, and a state
    that has seen an event at the row's own time does not count it."""
    fitted = fd.load(files["model"])
    events = pl.read_parquet(files["events"])
    rows = pl.read_parquet(files["rows"])
    got = parity.replay(fitted, rows.to_dicts(), rows.get_column("ts").dt.epoch("us").to_list(),
                        parity.window_events(fitted, {"txns": events}))
    log = events.to_dicts()
    for row, out in zip(rows.to_dicts(), got, strict=True):
        assert isinstance(out, dict)
        t = row["ts"]
        want = sum(1 for e in log if e["user"] == row["user"]
                   and t - dt.timedelta(hours=1) <= e["ts"] < t)
        assert out["n_1h"] == want


def test_replay_reads_only_earlier_events_and_a_short_log_is_a_mismatch(
        files: dict[str, Path]) -> None:
    """The online state itself keeps a row's window to ``[t - over, t)``: replaying with
    events ingested up to and including each row's time changes nothing; a log missing
    events is reported as mismatches."""
    fitted = fd.load(files["model"])
    events = parity.window_events(fitted, {"txns": pl.read_parquet(files["events"])})
    rows = pl.read_parquet(files["rows"])
    times = rows.get_column("ts").dt.epoch("us").to_list()
    batch = fitted.transform(rows, sources=events).to_dicts()
    later = parity.replay(fitted, rows.to_dicts(), [t + 1 for t in times], events)
    report = parity.ParityReport(fitted.features)
    parity._compare(fitted, report, "data", 0, rows.to_dicts(), later, batch)
    assert report.ok
    short = {"txns": events["txns"].filter(pl.col("user") != 3)}
    report = parity.ParityReport(fitted.features)
    parity._compare(fitted, report, "data", 0, rows.to_dicts(),
                    parity.replay(fitted, rows.to_dicts(), times, short), batch)
    assert report.counts.get("n_1h", 0) > 0 and not report.ok


def test_eval_answers_each_row_at_its_time(files: dict[str, Path]) -> None:
    fitted = fd.load(files["model"])
    rows = pl.read_parquet(files["rows"])
    want = fitted.transform(rows, sources={"txns": pl.read_parquet(files["events"])})
    lines = "".join(json.dumps({"user": r["user"], "ts": r["ts"].isoformat() + "Z",
                                "amount": r["amount"]}) + "\n" for r in rows.to_dicts())
    r = cli("eval", str(files["model"]), "--source", f"txns={files['events']}", stdin=lines)
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert got == want.to_dicts()


def test_explain_shows_bounds_and_counts(files: dict[str, Path]) -> None:
    events = pl.read_parquet(files["events"]).to_dicts()
    busy = max(range(8), key=lambda u: sum(e["user"] == u for e in events))
    t = BASE + dt.timedelta(days=2)
    row = {"user": busy, "ts": t.isoformat() + "Z", "amount": 1.0}
    r = cli("explain", str(files["model"]), "--source", f"txns={files['events']}",
            "--row", json.dumps(row), "--feature", "big_1d,mean_all")
    mine = [e for e in events if e["user"] == busy and e["ts"] < t]
    day = [e for e in mine if e["ts"] >= t - dt.timedelta(days=1)]
    n_big = sum(e["kind"] == "grö" for e in day)
    start = (t - dt.timedelta(days=1)).isoformat() + ".000000Z"
    end = t.isoformat() + ".000000Z"
    assert (f'window count(txns, over=1d, where=kind == "grö"): key user = {busy}, events in '
            f"[{start}, {end}), {n_big} events = {n_big}") in r.stdout
    assert (f"window mean(txns.amount): key user = {busy}, every event before {end}, "
            f"{len(mine)} events = ") in r.stdout


def test_codegen_of_a_window_spec_needs_no_sources(files: dict[str, Path]) -> None:
    r = cli("explain", str(files["model"]), "--codegen")
    assert r.stdout.startswith("def evaluate(row):")


@pytest.mark.parametrize(("args", "message"), [
    ([], "has window aggregates over source `txns`: pass its events with --source txns=PATH"),
    (["--source", "clicks=x.parquet"], "declares no source `clicks` (its sources: `txns`)"),
    (["--source", "txns"], "expected NAME=PATH"),
    (["--source", "txns=missing.parquet"], "missing.parquet: no such file"),
])
def test_source_errors_are_one_line(files: dict[str, Path], args: list[str],
                                    message: str) -> None:
    for command in (["transform", str(files["model"]), "--data", str(files["rows"]),
                     "-o", str(files["dir"] / "never.parquet")],
                    ["fit", str(files["spec"]), "--data", str(files["rows"]),
                     "-o", str(files["dir"] / "never.json")],
                    ["parity", str(files["model"]), "--data", str(files["rows"])],
                    ["eval", str(files["model"]), "--row", "{}"]):
        r = cli(*command, *[a.replace("x.parquet", str(files["events"])) for a in args],
                check=2)
        assert message in r.stderr, (command, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (files["dir"] / "never.parquet").exists()
    assert not (files["dir"] / "never.json").exists()


def test_bad_source_file_names_source_field_and_row(files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    bad = pl.read_parquet(files["events"]).with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("kind")).alias("kind"))
    bad.write_parquet(tmp_path / "bad.parquet")
    r = cli("transform", str(files["model"]), "--data", str(files["rows"]), "--source",
            f"txns={tmp_path / 'bad.parquet'}", "-o", str(tmp_path / "o.parquet"), check=2)
    assert "source `txns`" in r.stderr and "`kind`" in r.stderr and "row 7" in r.stderr
    assert not (tmp_path / "o.parquet").exists()
    typed = pl.read_parquet(files["events"]).with_columns(pl.col("amount").cast(pl.String))
    typed.write_parquet(tmp_path / "typed.parquet")
    r = cli("transform", str(files["model"]), "--data", str(files["rows"]), "--source",
            f"txns={tmp_path / 'typed.parquet'}", "-o", str(tmp_path / "o.parquet"), check=2)
    assert "source `txns`" in r.stderr and "`amount`" in r.stderr and "float" in r.stderr


def test_sources_on_a_spec_without_windows_and_bad_data_null(files: dict[str, Path],
                                                             tmp_path: Path) -> None:
    plain = tmp_path / "plain.feat"
    plain.write_text("input { amount: float? }\nfeature a = amount\n", encoding="utf-8")
    r = cli("transform", str(plain), "--data", str(files["rows"]), "--source",
            f"txns={files['events']}", "-o", str(tmp_path / "o.parquet"), check=2)
    assert "declares no source `txns`" in r.stderr
    r = cli("transform", str(files["model"]), "--data", str(files["rows"]), "--source",
            f"txns={files['events']}", "--on-bad-data", "null", "-o",
            str(tmp_path / "o.parquet"), check=2)
    assert "--on-bad-data null is not available" in r.stderr
