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
                                     "via": ["centred", "z"], "sources": [],
                                     "source_fields": {}}
    assert doc["nodes"]["std(a)"] == {"kind": "stat", "type": "float?",
                                      "depends_on": ["a"], "source": "std(a)",
                                      "inline": True, "source_fields": {}}
    assert doc["unused"] == {"inputs": ["spare"], "stats": ["unused_stat"],
                             "lets": ["dead"], "sources": [], "source_fields": {}}

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
                                    "via": ["centred"], "sources": [], "source_fields": {}}


# ------------------------------------------------------------------------------ windows

WINDOWS = """\
input {
  user_id: int
  ts:      timestamp
  amount:  float?
  payer:   int
  spare:   int
  time ts
}
source txns {
  user_id:  int
  ts:       timestamp
  amount:   float?
  merchant: string
  note:     string?
  key user_id
  time ts
}
source logins {
  user_id: int
  at:      timestamp
  key user_id
  time at
}
let recent = count(txns, over=7d)
stat recent_mean = mean(recent)
feature n_7d    = recent
feature big     = count(txns, over=1d, where=txns.amount > 1000 and txns.merchant != "x")
feature ratio   = amount / mean(txns.amount, over=30d)
feature paid    = count(txns, by=payer)
feature centred = recent - recent_mean
"""


def test_lineage_of_windows() -> None:
    g = lineage(fd.compile(WINDOWS).program)
    assert list(g.nodes)[:8] == ["user_id", "ts", "amount", "payer", "spare", "txns",
                                 "logins", "recent_mean"]
    txns = g.nodes["txns"]
    assert (txns.kind, txns.keys, txns.time) == ("source", ["user_id"], "ts")
    assert txns.fields == {"user_id": "int", "ts": "timestamp", "amount": "float?",
                           "merchant": "string", "note": "string?"}
    # a window reads its source and, on the row, the key inputs (by=) and the row's time
    assert g.nodes["recent"].depends_on == ["ts", "txns", "user_id"]
    assert g.nodes["paid"].depends_on == ["payer", "ts", "txns"]
    assert g.nodes["big"].source_fields == {"txns": ["amount", "merchant"]}  # where= fields
    assert g.nodes["ratio"].source_fields == {"txns": ["amount"]}
    assert g.nodes["recent"].source_fields == {}
    # through a let and a statistic over a windowed value
    assert g.nodes["recent_mean"].depends_on == ["recent"]
    assert g.upstream("centred") == {"recent", "recent_mean", "txns", "ts", "user_id"}
    assert g.fields_used("big") == {"txns": ["amount", "merchant"]}
    assert g.unused("source") == ["logins"]
    assert g.unused("input") == ["spare"]
    assert g.unused_fields() == {"txns": ["note"]}  # key and time are always read
    sub = g.restricted(["paid"])
    assert list(sub.nodes) == ["ts", "payer", "txns", "paid"]


def test_graph_formats_with_sources(tmp_path: Path) -> None:
    spec = tmp_path / "w.feat"
    spec.write_text(WINDOWS, encoding="utf-8")
    p = cli("graph", str(spec))
    no_traceback(p)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "feature big: int\n  inputs: user_id, ts\n  source: txns (amount, merchant)\n" in out
    assert "feature centred: float?\n  inputs: user_id, ts\n  source: txns\n" \
           "  stats:  recent_mean = mean(recent)\n  via:    recent\n" in out
    assert ("sources used by features:\n"
            "  txns (key user_id, time ts)  -> n_7d, big, ratio, paid, centred\n"
            "    amount    -> big, ratio\n"
            "    merchant  -> big\n"
            "  logins (key user_id, time at)  -> (nothing)\n") in out
    assert "unused sources: logins\n" in out and "unused source fields: txns.note\n" in out

    doc = json.loads(cli("graph", str(spec), "--format", "json").stdout)
    assert doc["nodes"]["txns"] == {
        "kind": "source", "type": "source", "depends_on": [],
        "fields": {"user_id": "int", "ts": "timestamp", "amount": "float?",
                   "merchant": "string", "note": "string?"},
        "key": ["user_id"], "time": "ts"}
    assert doc["nodes"]["big"]["source_fields"] == {"txns": ["amount", "merchant"]}
    assert doc["features"]["centred"] == {
        "inputs": ["user_id", "ts"], "stats": ["recent_mean"], "via": ["recent"],
        "sources": ["txns"], "source_fields": {}}
    assert doc["features"]["paid"]["inputs"] == ["ts", "payer"]
    assert doc["unused"] == {"inputs": ["spare"], "stats": [], "lets": [],
                             "sources": ["logins"], "source_fields": {"txns": ["note"]}}

    dot = cli("graph", str(spec), "--format", "dot").stdout
    assert 'label="source txns (key user_id, time ts)"' in dot
    ids = {n: f"n{k}" for k, n in enumerate(doc["nodes"])}
    assert f'{ids["txns"]} [label="txns", shape=cylinder];' in dot
    assert f'{ids["logins"]} [label="logins", shape=cylinder, color=gray' in dot
    assert f'{ids["txns"]}_f0 [label="user_id: int (key)", shape=note];' in dot
    assert f'{ids["txns"]}_f4 [label="note: string?", shape=note, color=gray' in dot
    assert f'  {ids["txns"]} -> {ids["big"]};' in dot  # source -> window feature
    assert f'  {ids["txns"]}_f3 -> {ids["big"]} [style=dashed];' in dot  # field -> use
    n_edges = sum(len(n["depends_on"]) + sum(len(v) for v in n.get("source_fields", {}).values())
                  for n in doc["nodes"].values())
    assert dot.count("->") == n_edges

    mer = cli("graph", str(spec), "--format", "mermaid").stdout
    assert f'  subgraph {ids["txns"]}_s["source txns (key user_id, time ts)"]\n' \
           f'    {ids["txns"]}[("txns")]\n' in mer
    assert f'  {ids["txns"]}_f2 -.-> {ids["ratio"]}' in mer
    assert f'  {ids["txns"]} --> {ids["paid"]}' in mer
    assert mer.count("-->") + mer.count("-.->") == n_edges
    assert f'{ids["logins"]},' in mer.split("class ", 1)[1]
    assert f'{ids["txns"]}_f4' in mer.split("class ", 1)[1]

    p = cli("graph", str(spec), "--feature", "paid", "--format", "json")
    doc = json.loads(p.stdout)
    assert list(doc["nodes"]) == ["ts", "payer", "txns", "paid"]
    assert doc["unused"]["sources"] == [] and doc["unused"]["source_fields"] == {}
