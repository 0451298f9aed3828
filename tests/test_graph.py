"""Lineage (featuredsl/checker/graph.py) and `featuredsl graph`, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import featuredsl as fd
from featuredsl.checker.graph import lineage
from tests.test_cli_check import cli, no_traceback

SPEC = """\
input {
  a: float?
  b: int
  c: string
  `odd "name"`: int
  spare: bool
}
stat a_mean = mean(a)
stat unused_stat = max(b)
let centred = a - a_mean
let dead = b * 2
feature z = centred / std(a)
feature zz = z * z + b
feature label = lower(c)
feature q = `odd "name"` + 1
"""


def test_lineage_direct_and_transitive() -> None:
    g = lineage(fd.compile(SPEC).program)
    assert list(g.nodes) == ["a", "b", "c", 'odd "name"', "spare", "a_mean", "unused_stat",
                             "std(a)", "centred", "dead", "z", "zz", "label", "q"]
    assert g.nodes["z"].depends_on == ["centred", "std(a)"]
    assert g.nodes["a_mean"].depends_on == ["a"]
    assert g.nodes["std(a)"].inline and g.nodes["std(a)"].kind == "stat"
    assert g.nodes["zz"].kind == "feature" and g.nodes["centred"].kind == "let"
    assert g.upstream("zz") == {"z", "centred", "std(a)", "a_mean", "a", "b"}
    assert g.of_kind(g.upstream("zz"), "input") == ["a", "b"]
    assert g.unused("input") == ["spare"]
    assert g.unused("stat") == ["unused_stat"]
    assert g.unused("let") == ["dead"]
    sub = g.restricted(["label"])
    assert list(sub.nodes) == ["c", "label"] and sub.features == ["label"]


def test_graph_formats(tmp_path: Path) -> None:
    p = cli("graph", "-", stdin=SPEC)  # not a .feat or .json path: a usage error
    assert p.returncode == 2
    spec = tmp_path / "s.feat"
    spec.write_text(SPEC, encoding="utf-8")
    p = cli("graph", str(spec))
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert "feature zz: float?\n  inputs: a, b\n  stats:  a_mean = mean(a), std(a)\n" \
           "  via:    centred, z\n" in p.stdout
    assert "  spare         -> (nothing)" in p.stdout
    assert "unused inputs: spare\nunused statistics: unused_stat\nunused lets: dead\n" \
        in p.stdout

    doc = json.loads(cli("graph", str(spec), "--format", "json").stdout)
    assert doc["features"]["zz"] == {"inputs": ["a", "b"], "stats": ["a_mean", "std(a)"],
                                     "via": ["centred", "z"]}
    assert doc["nodes"]["std(a)"] == {"kind": "stat", "type": "float?",
                                      "depends_on": ["a"], "source": "std(a)",
                                      "inline": True}
    assert doc["unused"] == {"inputs": ["spare"], "stats": ["unused_stat"],
                             "lets": ["dead"]}

    dot = cli("graph", str(spec), "--format", "dot").stdout
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert 'label="odd \\"name\\": int"' in dot  # quotes escaped
    assert dot.count("->") == sum(len(n["depends_on"]) for n in doc["nodes"].values())

    mer = cli("graph", str(spec), "--format", "mermaid").stdout
    assert mer.startswith("flowchart LR\n")
    assert "odd #quot;name#quot;: int" in mer
    assert "-->" in mer and "class n4,n6,n9 unused" in mer

    p = cli("graph", str(spec), "--feature", "label", "--feature", "q")
    assert p.stdout.startswith("feature label: string\n  inputs: c\nfeature q: int?\n"
                               '  inputs: `odd "name"`\n')
    assert "unused" not in p.stdout
    p = cli("graph", str(spec), "--feature", "zzz")
    assert p.returncode == 2 and "no feature `zzz`" in p.stderr and "`zz`" in p.stderr


def test_graph_of_a_broken_spec_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.feat"
    bad.write_text("input { a: int }\nfeature x = amout\n", encoding="utf-8")
    p = cli("graph", str(bad))
    no_traceback(p)
    assert p.returncode == 2
    assert "error[E201]: unknown name `amout`" in p.stderr


def test_graph_of_a_fitted_artifact(tmp_path: Path) -> None:
    import warnings

    import polars as pl

    data = pl.DataFrame({"a": [1.0, 2.0, None], "b": [1, 2, 3], "c": ["x", "y", "z"],
                         'odd "name"': [1, 2, 3], "spare": [True, False, True]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fd.compile(SPEC).fit(data).save(str(tmp_path / "m.json"))
    p = cli("graph", str(tmp_path / "m.json"), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["features"]["z"] == {"inputs": ["a"], "stats": ["a_mean", "std(a)"],
                                    "via": ["centred"]}
