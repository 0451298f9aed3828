"""`featuredsl check` and `featuredsl fmt`, end to end: the installed command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
GOLDEN = ROOT / "tests" / "golden" / "diagnostics"
_SCRIPT = Path(sys.executable).parent / "featuredsl"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "featuredsl.cli.main"]


def cli(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    return subprocess.run([*COMMAND, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def no_traceback(p: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in p.stderr + p.stdout


# ------------------------------------------------------------------------------ check


def test_check_reports_errors_and_warnings_of_every_file(tmp_path: Path) -> None:
    p = cli("check", "tests/golden/diagnostics/names.feat", "tests/golden/diagnostics/lints.feat",
            "examples/transactions.feat")
    no_traceback(p)
    assert p.returncode == 1
    # the rendered text of each file is what the golden tests pin, in file order
    names = (GOLDEN / "names.txt").read_text(encoding="utf-8")
    first_error = names.split("\n\n")[0]
    assert first_error in p.stdout
    assert "warning[W005]: division by zero" in p.stdout
    assert "--> tests/golden/diagnostics/lints.feat:11:27" in p.stdout
    assert "examples/transactions.feat" not in p.stdout  # clean: its W001 is suppressed
    assert p.stdout.rstrip().endswith("in 3 files")
    assert "5 errors" in p.stdout.splitlines()[-1]


def test_check_clean_file_and_strict() -> None:
    p = cli("check", "tests/golden/diagnostics/warnings_ok.feat")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "warning[W001]" in p.stdout
    assert p.stdout.splitlines()[-1] == "0 errors, 3 warnings in 1 file"
    p = cli("check", "--strict", "tests/golden/diagnostics/warnings_ok.feat")
    assert p.returncode == 1
    p = cli("check", "-q", "tests/golden/diagnostics/warnings_ok.feat")
    assert (p.returncode, p.stdout) == (0, "")
    p = cli("check", "--strict", "--ignore", "W001,w002", "--ignore", "W003",
            "tests/golden/diagnostics/warnings_ok.feat")
    assert (p.returncode, p.stdout) == (0, "1 file checked: no errors, no warnings\n")
    p = cli("check", "--ignore", "E201", "tests/golden/diagnostics/warnings_ok.feat")
    assert p.returncode == 2 and "errors cannot be ignored" in p.stderr


def test_check_json_schema() -> None:
    p = cli("check", "--format", "json", "tests/golden/diagnostics/types.feat",
            "tests/golden/diagnostics/warnings_ok.feat")
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    assert doc["version"] == 1
    assert doc["files"] == [
        {"file": "tests/golden/diagnostics/types.feat", "errors": 13, "warnings": 1,
             "fit_only_inputs": []},
        {"file": "tests/golden/diagnostics/warnings_ok.feat", "errors": 0, "warnings": 3,
             "fit_only_inputs": []},
    ]
    assert (doc["errors"], doc["warnings"]) == (13, 4)
    d = next(x for x in doc["diagnostics"] if x["code"] == "E105")
    assert d == {"code": "E105", "severity": "error", "message": "unknown type `datetime`",
                 "file": "tests/golden/diagnostics/types.feat", "line": 6, "column": 10,
                 "end_line": 6, "end_column": 18, "hint": "did you mean `timestamp`?"}
    assert {x["severity"] for x in doc["diagnostics"]} == {"error", "warning"}


def test_check_unreadable_files_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "latin1.feat").write_bytes(b"input { a: int }\nfeature \xe9 = a\n")
    p = cli("check", str(tmp_path / "missing.feat"), str(tmp_path / "latin1.feat"),
            "tests/golden/diagnostics/warnings_ok.feat")
    no_traceback(p)
    assert p.returncode == 2
    assert f"featuredsl check: error: {tmp_path / 'missing.feat'}: No such file" in p.stderr
    assert "not UTF-8 text" in p.stderr
    assert "in 1 file" in p.stdout  # the readable file is still checked
    p = cli("check", "-", "--stdin-name", "model.feat",
            stdin="input { a: int }\nfeature x = a +\n")
    assert p.returncode == 1
    assert "--> model.feat:2:15" in p.stdout
    p = cli("check")
    assert p.returncode == 2 and "usage" in p.stderr.lower()


def test_check_renders_rejected_constants(tmp_path: Path) -> None:
    # A constant argument a function rejects (edges, a regex, a time zone) is an E208 with
    # the caret under that argument and the function's suggestion as the hint.
    f = tmp_path / "bad.feat"
    f.write_text("input { a: float }\nfeature b = bucketize(a, [3, 1])\n", encoding="utf-8")
    p = cli("check", str(f))
    assert p.returncode == 1
    assert "error[E208]: bucketize edges must be strictly increasing" in p.stdout
    assert "feature b = bucketize(a, [3, 1])\n  |                          ^^^^^^" in p.stdout
    f.write_text('input { ts: timestamp }\nfeature h = hour(ts, "europe/paris")\n',
                 encoding="utf-8")
    p = cli("check", str(f))
    assert "error[E208]: unknown time zone `europe/paris`\n" in p.stdout
    assert '  |                      ^^^^^^^^^^^^^^\n  = hint: did you mean `Europe/Paris`?' \
        in p.stdout


# ------------------------------------------------------------------------------ fmt


UGLY = "# top\ninput {a:int,  b : float?}\nfeature  x=(a+1)*2  # why\nfeature long_name = b ?? 0\n"
PRETTY = ("# top\ninput {\n  a: int\n  b: float?\n}\nfeature x         = (a + 1) * 2  # why\n"
          "feature long_name = b ?? 0\n")


def test_fmt_rewrites_in_place_and_check_mode(tmp_path: Path) -> None:
    ugly, pretty = tmp_path / "ugly.feat", tmp_path / "pretty.feat"
    ugly.write_text(UGLY, encoding="utf-8")
    pretty.write_text(PRETTY, encoding="utf-8")
    p = cli("fmt", "--check", str(ugly), str(pretty))
    assert p.returncode == 1
    assert p.stdout == f"would reformat {ugly}\n"
    assert ugly.read_text(encoding="utf-8") == UGLY  # --check writes nothing
    p = cli("fmt", "--diff", str(ugly))
    assert p.returncode == 1
    assert "-feature  x=(a+1)*2  # why\n" in p.stdout and "+feature x" in p.stdout
    ugly.chmod(0o640)
    p = cli("fmt", str(ugly), str(pretty))
    assert p.returncode == 0, p.stderr
    assert ugly.read_text(encoding="utf-8") == PRETTY
    assert ugly.stat().st_mode & 0o777 == 0o640
    assert "1 file reformatted, 1 file already formatted" in p.stderr
    assert cli("fmt", "--check", str(ugly), str(pretty)).returncode == 0
    assert sorted(x.name for x in tmp_path.iterdir()) == ["pretty.feat", "ugly.feat"]


def test_fmt_stdin_and_errors(tmp_path: Path) -> None:
    p = cli("fmt", "-", stdin=UGLY)
    assert (p.returncode, p.stdout, p.stderr) == (0, PRETTY, "")
    bad = tmp_path / "bad.feat"
    bad.write_text("input { a: int }\nfeature x = a +\n", encoding="utf-8")
    p = cli("fmt", str(bad))
    no_traceback(p)
    assert p.returncode == 2
    assert "error[E001]" in p.stderr and "not formatted: it does not parse" in p.stderr
    assert bad.read_text(encoding="utf-8") == "input { a: int }\nfeature x = a +\n"
    p = cli("fmt", str(tmp_path / "nope.feat"))
    assert p.returncode == 2 and "No such file" in p.stderr


@pytest.mark.parametrize("path", ["examples/transactions.feat"])
def test_fmt_of_the_example_is_stable(path: str, tmp_path: Path) -> None:
    copy = tmp_path / "x.feat"
    copy.write_text((ROOT / path).read_text(encoding="utf-8"), encoding="utf-8")
    assert cli("fmt", str(copy)).returncode == 0
    once = copy.read_text(encoding="utf-8")
    assert cli("fmt", "--check", str(copy)).returncode == 0
    assert copy.read_text(encoding="utf-8") == once


def test_check_directories_and_github_annotations(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "sub" / "a.feat").write_text("input { a: int }\nfeature x = amout\n",
                                            encoding="utf-8")
    (tmp_path / "b.feat").write_text("input { a: int }\nfeature x = a\n", encoding="utf-8")
    (tmp_path / ".hidden" / "c.feat").write_text("garbage", encoding="utf-8")
    p = cli("check", "--format", "github", str(tmp_path))
    assert p.returncode == 1
    a = tmp_path / "sub" / "a.feat"
    assert p.stdout == (
        f"::warning file={a},line=1,col=9,endLine=1,endColumn=15,title=featuredsl W001::"
        "input `a` is never used (hint: remove it, or use it in a feature)\n"
        f"::error file={a},line=2,col=13,endLine=2,endColumn=18,title=featuredsl E201::"
        "unknown name `amout`\n")
    p = cli("fmt", "--check", str(tmp_path))
    assert p.returncode == 1 and "2 files would be reformatted" in p.stderr
    (tmp_path / "empty").mkdir()
    p = cli("check", str(tmp_path / "empty"))
    assert p.returncode == 2 and "no .feat files in this directory" in p.stderr


def test_check_colour_flag() -> None:
    f = "tests/golden/diagnostics/warnings_ok.feat"
    assert "\x1b[1;33mwarning[W001]" in cli("check", "--color", "always", f).stdout
    assert "\x1b[" not in cli("check", f).stdout  # auto: not a terminal
