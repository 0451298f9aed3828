"""End to end: the installed ``featuredsl`` command (fit, transform, eval, explain, parity).

Every test runs the real console script in a subprocess (``scripts/test.sh`` installs it with
``pip install -e .``) and checks its outputs against the Python API computed independently.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd

ROOT = Path(__file__).parents[1]
EXE = Path(sys.executable).parent / "featuredsl"

SPEC = """\
input {
  id:    int
  x:     float?
  n:     int
  name:  string?
  ts:    timestamp
}
let lname = lower(name)
feature ratio      = x / n
feature lname_len  = length(lname)
feature big        = if x > 10 then "big" else "small"
feature hour       = hour(ts)
feature shifted    = ts
feature is_us      = lname == "us" ?? false
"""

STAT_SPEC = """\
input {
  x:    float?
  cat:  string
}
stat x_mean = mean(x)
feature centered = x - x_mean
feature cat_idx  = index_of(cat, vocab(cat, top=3)) ?? -1
feature one      = 1
"""


def cli(*args: str, stdin: str | None = None, check: int | None = 0
        ) -> subprocess.CompletedProcess[str]:
    """Run the installed command; assert its exit status and that no traceback leaked."""
    assert EXE.exists(), f"{EXE} missing: install featuredsl (pip install -e .)"
    r = subprocess.run([str(EXE), *args], input=stdin, capture_output=True, text=True,
                       timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    if check is not None:
        assert r.returncode == check, (r.returncode, r.stdout, r.stderr)
    return r


def frame(n: int = 50) -> pl.DataFrame:
    base = dt.datetime(2024, 3, 30, 22, 0, tzinfo=dt.UTC)
    return pl.DataFrame({
        "id": list(range(n)),
        "x": [None if i % 7 == 0 else (i - 20) * 1.25 for i in range(n)],
        "n": pl.Series([i % 4 for i in range(n)], dtype=pl.Int32),
        "name": [None if i % 5 == 0 else ["US", "Straße", "", "ΣΟΦΙΑΣ", "us"][i % 5]
                 for i in range(n)],
        "ts": [base + dt.timedelta(minutes=37 * i) for i in range(n)],
        "label": [i % 2 for i in range(n)],
    })


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    spec = tmp_path / "spec.feat"
    spec.write_text(SPEC)
    df = frame()
    paths = {"spec": spec, "parquet": tmp_path / "data.parquet", "csv": tmp_path / "data.csv",
             "ipc": tmp_path / "data.arrow", "ndjson": tmp_path / "data.ndjson"}
    df.write_parquet(paths["parquet"])
    df.write_csv(paths["csv"])
    df.write_ipc(paths["ipc"])
    df.write_ndjson(paths["ndjson"])
    return paths


def expected(spec_path: Path, keep: list[str] | None = None) -> pl.DataFrame:
    return fd.compile_file(spec_path).transform(frame(), keep=keep)


# ------------------------------------------------------------------------------ dispatcher


def test_help_everywhere_and_usage_errors() -> None:
    from featuredsl.cli._common import FORMAT_NAMES
    from featuredsl.data.files import FORMATS

    assert FORMAT_NAMES == tuple(sorted(FORMATS))  # the cheap copy the parsers use
    top = cli("--help")
    for cmd in ("fit", "transform", "eval", "explain", "parity"):
        assert cmd in top.stdout
        assert "usage: featuredsl " + cmd in cli(cmd, "--help").stdout
    assert cli("--version").stdout.startswith("featuredsl ")
    r = cli(check=2)
    assert "a command is required" in r.stderr
    assert "invalid choice" in cli("frobnicate", check=2).stderr
    r = cli("transform", "x.feat", check=2)  # missing --data and -o
    assert r.stderr.startswith("featuredsl transform: error: the following arguments")
    # python -m featuredsl is the same program
    m = subprocess.run([sys.executable, "-m", "featuredsl", "--help"], capture_output=True,
                       text=True, check=True)
    assert m.stdout == top.stdout


# ------------------------------------------------------------------------------ fit


def test_fit_writes_the_same_artifact_as_the_api(tmp_path: Path) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text(STAT_SPEC)
    data = tmp_path / "train.parquet"
    pl.DataFrame({"x": [1.0, 2.0, None, 4.5], "cat": ["a"] * 4}).write_parquet(data)
    out = tmp_path / "m.json"
    r = cli("fit", str(spec), "--data", str(data), "-o", str(out))
    assert "wrote" in r.stdout
    # a feature constant on the training data is a fit-time warning, printed once on stderr
    assert r.stderr.count("warning:") == 1 and "`cat_idx`" in r.stderr
    api = tmp_path / "api.json"
    with pytest.warns(fd.FitTimeWarning, match="cat_idx"):
        fd.compile_file(spec).fit(data).save(api)
    assert json.loads(out.read_text())["stats"] == json.loads(api.read_text())["stats"]
    assert fd.load(str(out)).stats["x_mean"] == pytest.approx(7.5 / 3)
    cli("fit", str(spec), "--data", str(data), "-o", str(out), "--strict", check=1)
    # the input format can be forced whatever the extension
    odd = tmp_path / "train.dat"
    odd.write_bytes(data.read_bytes())
    cli("fit", str(spec), "--data", str(odd), "--input-format", "parquet", "-o", str(out), "-q")


def test_fit_errors_are_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text(STAT_SPEC)
    r = cli("fit", str(spec), "--data", str(tmp_path / "none.parquet"), "-o",
            str(tmp_path / "m.json"), check=2)
    assert r.stderr.count("\n") == 1 and "no such file" in r.stderr
    bad = tmp_path / "bad.feat"
    bad.write_text("input { x: float }\nfeature y = log(xx)\n")
    r = cli("fit", str(bad), "--data", str(tmp_path / "none.parquet"), "-o", "m.json", check=2)
    assert "error[E201]" in r.stderr and "did you mean `x`" in r.stderr


# ------------------------------------------------------------------------------ transform


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ipc", "ndjson"])
def test_transform_reads_every_format(files: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out.parquet"
    cli("transform", str(files["spec"]), "--data", str(files[fmt]), "-o", str(out),
        "--keep", "id,label")
    got = pl.read_parquet(out)
    want = expected(files["spec"], keep=["id", "label"])
    assert got.columns == want.columns
    assert got.equals(want), (got, want)


@pytest.mark.parametrize("ext,fmt", [(".parquet", "parquet"), (".arrow", "ipc"),
                                     (".csv", "csv"), (".ndjson", "ndjson"),
                                     (".out", "ipc")])
def test_transform_writes_every_format(files: dict[str, Path], tmp_path: Path, ext: str,
                                       fmt: str) -> None:
    out = tmp_path / f"features{ext}"
    extra = ["--output-format", fmt] if ext == ".out" else []
    cli("transform", str(files["spec"]), "--data", str(files["parquet"]), "-o", str(out),
        "--keep", "id", *extra)
    want = expected(files["spec"], keep=["id"])
    if fmt == "parquet":
        got = pl.read_parquet(out)
    elif fmt == "ipc":
        got = pl.read_ipc(out)
    elif fmt == "csv":
        got = pl.read_csv(out, schema=want.schema)
    else:
        got = pl.read_ndjson(out, schema=want.schema)
    assert got.equals(want), (got, want)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_transform_bad_data_names_column_row_and_type(tmp_path: Path) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text("input {\n  a: int\n  b: float?\n}\nfeature c = a + 1\nfeature d = b\n")
    out = tmp_path / "out.parquet"
    csv = tmp_path / "in.csv"
    csv.write_text("a,b\n1,1.5\n2,\n3,2.5\n,3.5\n5,1\n")
    r = cli("transform", str(spec), "--data", str(csv), "-o", str(out), check=2)
    assert "column `a`, row 3" in r.stderr and "`int`" in r.stderr
    assert r.stderr.count("\n") == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "s.feat"]
    csv.write_text("a,b\n1,1.5\n2,x\n")
    r = cli("transform", str(spec), "--data", str(csv), "-o", str(out), check=2)
    assert "column `b`, row 1" in r.stderr and "'x'" in r.stderr and not out.exists()
    # --on-bad-data null: transform_lazy semantics, the bad value computes as null
    csv.write_text("a,b\n1,1.5\n,2\n3,x\n")
    cli("transform", str(spec), "--data", str(csv), "-o", str(out), "--on-bad-data", "null",
        "--keep", "b")
    assert pl.read_parquet(out).to_dict(as_series=False) == {"b": [1.5, 2.0, None],
                                                              "c": [2, None, 4],
                                                              "d": [1.5, 2.0, None]}
    # a bad row far into a multi-batch file is found with its exact row number
    big = tmp_path / "big.parquet"
    n = 300_000
    pl.DataFrame({"a": [None if i == n - 5 else i for i in range(n)], "b": [0.5] * n}
                 ).write_parquet(big, row_group_size=50_000)
    r = cli("transform", str(spec), "--data", str(big), "-o", str(out), check=2)
    assert f"row {n - 5}" in r.stderr


def test_transform_bad_dtypes_dates_and_durations_decide_as_the_api(tmp_path: Path) -> None:
    """Issue 11 on the command line: a column of the wrong dtype names its first row holding a
    value (as the eager API), a naive midnight Datetime column is a date column and a time
    part is named by row, and a Duration column written to NDJSON reads back (``eval``
    accepts the same ISO 8601 text)."""
    spec = tmp_path / "s.feat"
    spec.write_text("input {\n  n: int?\n  d: date\n  du: duration\n}\n"
                    "feature n2 = n\nfeature d2 = d\nfeature du2 = du\n")
    good = pl.DataFrame({"n": [None, 2], "d": [dt.datetime(2024, 1, 1), dt.datetime(1960, 2, 29)],
                         "du": [dt.timedelta(microseconds=-1), dt.timedelta(days=3, seconds=1)]})
    want = fd.compile_file(spec).transform(good)
    assert want["d2"].to_list() == [dt.date(2024, 1, 1), dt.date(1960, 2, 29)]
    for ext in ("parquet", "ndjson", "ipc"):
        data = tmp_path / f"in.{ext}"
        getattr(good, f"write_{ext}")(data)
        out = tmp_path / "out.parquet"
        cli("transform", str(spec), "--data", str(data), "-o", str(out))
        assert pl.read_parquet(out).equals(want), ext
    r = cli("eval", str(spec), "--row", json.dumps({"n": 1, "d": "2024-01-01 00:00:00",
                                                     "du": "-PT0.000001S"}))
    assert json.loads(r.stdout) == {"n2": 1, "d2": "2024-01-01", "du2": -1}
    for bad, text in [
        (good.with_columns(pl.Series("n", [None, "7"])),
         "column `n`, row 1: expected int?, got str '7' (strings are not converted to numbers "
         "or bools)"),
        (good.with_columns(pl.Series("d", [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 6)])),
         "column `d`, row 1: expected date, got datetime"),
    ]:
        data = tmp_path / "bad.parquet"
        bad.write_parquet(data)
        r = cli("transform", str(spec), "--data", str(data), "-o", str(tmp_path / "o.parquet"),
                check=2)
        assert text in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert not (tmp_path / "o.parquet").exists()


def test_transform_refuses_values_a_format_cannot_hold(tmp_path: Path) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text("input {\n  x: float\n  d: duration\n}\nfeature y = x * 2\n"
                    "feature e = d\n")
    data = tmp_path / "in.parquet"
    pl.DataFrame({"x": [1.0, math.inf], "d": [dt.timedelta(1), dt.timedelta(0)]}
                 ).write_parquet(data)
    r = cli("transform", str(spec), "--data", str(data), "-o", str(tmp_path / "o.ndjson"),
            check=2)
    assert "feature `y`, row 1" in r.stderr and "NDJSON" in r.stderr
    r = cli("transform", str(spec), "--data", str(data), "-o", str(tmp_path / "o.csv"), check=2)
    assert "column `e`" in r.stderr and "CSV" in r.stderr
    cli("transform", str(spec), "--data", str(data), "-o", str(tmp_path / "o.parquet"))
    assert pl.read_parquet(tmp_path / "o.parquet")["y"].to_list() == [2.0, math.inf]


def test_transform_input_errors(files: dict[str, Path], tmp_path: Path) -> None:
    out = str(tmp_path / "o.parquet")
    for args, text in [
        (["--data", str(tmp_path / "missing.parquet")], "no such file"),
        (["--data", str(files["spec"])], "cannot tell the input format"),
        (["--data", str(files["parquet"]), "--keep", "nope"], "`nope`"),
        (["--data", str(files["parquet"]), "--keep", "ratio"], "same name as a feature"),
    ]:
        r = cli("transform", str(files["spec"]), *args, "-o", out, check=2)
        assert text in r.stderr and r.stderr.count("\n") == 1, r.stderr
    stat_spec = tmp_path / "stats.feat"
    stat_spec.write_text(STAT_SPEC)
    r = cli("transform", str(stat_spec), "--data", str(files["parquet"]), "-o", out, check=2)
    assert "featuredsl fit" in r.stderr
    tampered = tmp_path / "bad.json"
    tampered.write_text("{}")
    r = cli("transform", str(tampered), "--data", str(files["parquet"]), "-o", out, check=2)
    assert r.stderr.startswith("featuredsl transform: error:")


# ------------------------------------------------------------------------------ eval


def _json_row(row: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}


def test_eval_pipe_matches_the_row_evaluator(files: dict[str, Path]) -> None:
    spec = fd.compile_file(files["spec"])
    rows = [_json_row(r) for r in frame(20).to_dicts()]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    r = cli("eval", str(files["spec"]), stdin=text)
    lines = r.stdout.splitlines()
    assert len(lines) == len(rows)
    ev = spec.row_evaluator()
    for line, row in zip(lines, rows, strict=True):
        want = ev(row)
        got = json.loads(line)
        # timestamps come back as ISO strings that parse to the same instant
        assert dt.datetime.fromisoformat(got.pop("shifted")) == want.pop("shifted")
        assert got == want
        for k, v in got.items():
            assert type(v) is type(want[k])


def test_eval_one_row_and_value_encoding(tmp_path: Path) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text("input {\n  x: float?\n  d: duration\n  t: timestamp\n}\n"
                    "feature y = x * 2\nfeature d2 = d\nfeature t2 = t\nfeature z = -0.0 * 1\n")
    r = cli("eval", str(spec), "--row",
            json.dumps({"x": 1e308, "d": 90_061_000_001, "t": "2024-07-06T22:15:00.5+02:00"}))
    out = json.loads(r.stdout)
    assert out["y"] == math.inf and "Infinity" in r.stdout
    assert out["d2"] == 90_061_000_001
    assert out["t2"] == "2024-07-06T20:15:00.500000Z"
    assert math.copysign(1, out["z"]) == -1
    # the output is valid input again: timestamps round-trip
    r2 = cli("eval", str(spec), "--row", json.dumps({"x": None, "d": out["d2"], "t": out["t2"]}))
    assert json.loads(r2.stdout)["t2"] == out["t2"] and json.loads(r2.stdout)["y"] is None


def test_eval_bad_lines(files: dict[str, Path]) -> None:
    good = json.dumps(_json_row(frame(1).to_dicts()[0]))
    text = f"{good}\n\n{{\"id\": 1}}\n{good}\nnot json\n"
    r = cli("eval", str(files["spec"]), stdin=text, check=2)
    assert len(r.stdout.splitlines()) == 1
    assert r.stderr.count("\n") == 1 and "line 3" in r.stderr and "`n`" in r.stderr
    r = cli("eval", str(files["spec"]), "--keep-going", stdin=text, check=2)
    assert [ln == "null" for ln in r.stdout.splitlines()] == [False, True, False, True]
    assert "line 5: not valid JSON" in r.stderr
    wrong = json.dumps({**json.loads(good), "x": "12"})
    r = cli("eval", str(files["spec"]), "--row", wrong, check=2)
    assert "`x`" in r.stderr and "float" in r.stderr


def test_eval_answers_each_line_before_the_next_arrives(files: dict[str, Path]) -> None:
    rows = [json.dumps(_json_row(r)) for r in frame(3).to_dicts()]
    proc = subprocess.Popen([str(EXE), "eval", str(files["spec"])], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for row in rows:  # a serving-like exchange: one request, then wait for its answer
            proc.stdin.write(row + "\n")
            proc.stdin.flush()
            assert "ratio" in json.loads(proc.stdout.readline())
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


# ------------------------------------------------------------------------------ explain


def test_explain_trace_agrees_with_eval(files: dict[str, Path]) -> None:
    row = json.dumps({"id": 1, "x": 12.5, "n": 0, "name": "US", "ts": "2024-01-01T05:30:00Z"})
    r = cli("explain", str(files["spec"]), "--row", row)
    ev = json.loads(cli("eval", str(files["spec"]), "--row", row).stdout)
    finals = dict(line[5:].split(" = ", 1) for line in r.stdout.splitlines()
                  if line.startswith("  => "))
    assert set(finals) == set(ev) | {"lname"}
    for name, value in ev.items():
        assert json.loads(finals[name]) == value
    assert '  let   lname = "us"' in r.stdout
    assert "  step  x > 10.0 = true" in r.stdout
    assert "  input x: float? = 12.5" in r.stdout
    one = cli("explain", str(files["spec"]), "--row", row, "--feature", "big").stdout
    assert one.startswith("feature big: string = if x > 10.0 then")
    assert "ratio" not in one
    code = cli("explain", str(files["spec"]), "--codegen").stdout
    assert code.startswith("def evaluate(row):")
    assert code == fd.compile_file(files["spec"]).row_evaluator().source
    assert "SELECT" in cli("explain", str(files["spec"]), "--plan").stdout
    cli("explain", str(files["spec"]), check=2)
    assert "unknown feature" in cli("explain", str(files["spec"]), "--row", row, "--feature",
                                    "nope", check=2).stderr


def test_explain_shows_fitted_statistics(tmp_path: Path) -> None:
    spec = tmp_path / "s.feat"
    spec.write_text(STAT_SPEC)
    data = tmp_path / "t.parquet"
    pl.DataFrame({"x": [1.0, 3.0], "cat": ["a", "b"]}).write_parquet(data)
    cli("fit", str(spec), "--data", str(data), "-o", str(tmp_path / "m.json"), "-q")
    r = cli("explain", str(tmp_path / "m.json"), "--row", '{"x": 5, "cat": "b"}')
    assert "  stat  x_mean = 2.0    (mean(x))" in r.stdout
    assert '  stat  vocab(cat, top=3) = ["a", "b"]' in r.stdout
    assert "  => centered = 3.0" in r.stdout and "  => cat_idx = 1" in r.stdout


# ------------------------------------------------------------------------------ parity


def test_parity_clean_on_data_and_edge_cases(files: dict[str, Path]) -> None:
    r = cli("parity", str(files["spec"]), "--data", str(files["csv"]), "--edge-cases")
    assert "OK: no mismatch in 6 features" in r.stdout
    j = json.loads(cli("parity", str(files["spec"]), "--data", str(files["parquet"]),
                       "--edge-cases", "--edge-rows", "50", "--format", "json").stdout)
    assert j["ok"] is True and j["rows"]["data"] == 50 and j["rows"]["edge-cases"] >= 50
    assert j["mismatches"] == {f: 0 for f in fd.compile_file(files["spec"]).features}
    assert "nothing to compare" in cli("parity", str(files["spec"]), check=2).stderr


def test_parity_reports_a_mismatch_with_exit_1(files: dict[str, Path], monkeypatch,
                                               capsys) -> None:
    # A deliberately broken row backend (in process: the real one agrees everywhere).
    from featuredsl.api import Spec
    from featuredsl.cli.main import main

    real = Spec.row_evaluator

    def broken(self: Spec):
        ev = real(self)

        def wrong(row: dict) -> dict:
            out = ev(row)
            if row.get("n") == 2:
                out["ratio"] = 0.5
            return out
        return wrong

    monkeypatch.setattr(Spec, "row_evaluator", broken)
    assert main(["parity", str(files["spec"]), "--data", str(files["parquet"])]) == 1
    out = capsys.readouterr().out
    assert "ratio" in out and "MISMATCH" in out and "1 of 6 features disagree" in out
    # every row with n == 2 (x / 2 is never 0.5 here; a null x is a mismatch too)
    n_bad = sum(1 for i in range(50) if i % 4 == 2)
    counts = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines()
              if ln.startswith("  ") and len(ln.split()) >= 2 and ln.split()[1].isdigit()}
    assert counts == {f: (n_bad if f == "ratio" else 0)
                      for f in fd.compile_file(files["spec"]).features}


def test_parity_edge_rows_are_deterministic_and_edgy(files: dict[str, Path]) -> None:
    from featuredsl import parity

    spec = fd.compile_file(files["spec"])
    a, b = parity.edge_case_rows(spec, 300, seed=1), parity.edge_case_rows(spec, 300, seed=1)
    assert repr(a) == repr(b) and repr(a) != repr(parity.edge_case_rows(spec, 300, seed=2))
    xs = [r["x"] for r in a]
    assert None in xs and any(isinstance(v, float) and math.isnan(v) for v in xs)
    assert math.inf in xs and -math.inf in xs and 10.0 in xs and math.nextafter(10.0, 11) in xs
    assert {2**63 - 1, -(2**63)} <= {r["n"] for r in a}
    assert {"", "ΣΟΦΙΑΣ", "us", "US"} <= {r["name"] for r in a}
    assert not parity.check_rows(spec, a).counts


def test_same_value_is_the_spec_rule() -> None:
    from featuredsl.parity import same_value

    assert same_value(-0.0, 0.0) and same_value(None, None)
    assert not same_value(1, 1.0) and not same_value(True, 1) and not same_value(None, 0)
    assert not same_value(math.nan, math.nan)
    aware = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert not same_value(aware, aware.replace(tzinfo=None))
    assert same_value([1.0, None], [1.0, None]) and not same_value([1], [1.0])


def test_the_example_spec_end_to_end(tmp_path: Path) -> None:
    """What scripts/demo.sh runs: fit examples/transactions.feat, then parity over the data
    and the edge cases (the example's data generator, loaded by path)."""
    import importlib.util

    loader = importlib.util.spec_from_file_location("fd_example_demo",
                                                    ROOT / "examples" / "demo.py")
    assert loader is not None and loader.loader is not None
    demo = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(demo)
    data = tmp_path / "train.parquet"
    demo.generate(2000).write_parquet(data)
    model = tmp_path / "m.json"
    cli("fit", str(ROOT / "examples" / "transactions.feat"), "--data", str(data), "-o",
        str(model), "-q")
    r = cli("parity", str(model), "--data", str(data), "--edge-cases", "--edge-rows", "200")
    n = len(fd.compile_file(ROOT / "examples" / "transactions.feat").features)
    assert f"OK: no mismatch in {n} features" in r.stdout
