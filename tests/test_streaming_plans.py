"""Every function's batch lowering runs natively on Polars' streaming engine.

``featuredsl transform`` streams Parquet to Parquet with memory that does not follow the row
count (benchmarks/README.md). One node that the streaming engine hands to its in-memory fallback
(``replace_strict``, ``search_sorted`` on a literal, ``replace`` in Polars 2.1) makes it
buffer whole columns: ``index_of`` did, 2 GB at 10M rows and 9 GB at 50M. This test builds the
physical streaming plan of every registry example, and of the reference benchmark spec, and
fails on any fallback node.
"""

from __future__ import annotations

import bisect
import re
from pathlib import Path

import polars as pl
import pytest

import featuredsl as fd
from tests.harness import assert_parity, frame_for
from tests.test_registry import EXAMPLES, _spec_for

ROOT = Path(__file__).resolve().parent.parent
#: fill colour Polars' show_graph gives a node run by the in-memory engine fallback
_FALLBACK = "0.0 0.3 1.0"


def _fallback_nodes(lf: pl.LazyFrame) -> list[str]:
    graph = lf.show_graph(engine="streaming", plan_stage="physical", raw_output=True,
                          show=False) or ""
    assert "label=" in graph
    return [m.group(1).replace("\\n", " ") for m in
            re.finditer(r'label="([^"]*)",style=filled,fillcolor="([^"]*)"', graph)
            if m.group(2) == _FALLBACK]


def test_detector_sees_a_fallback() -> None:
    lf = pl.LazyFrame({"c": ["a", "b"]}).select(
        pl.col("c").replace_strict(["a"], [0], default=None, return_dtype=pl.Int64))
    assert _fallback_nodes(lf)


@pytest.mark.parametrize(("fn", "ex"), EXAMPLES,
                         ids=[f"{f.name}:{ex.expr}:{i}" for i, (f, ex) in enumerate(EXAMPLES)])
def test_example_plan_is_streaming_native(fn, ex) -> None:  # type: ignore[no-untyped-def]
    spec = _spec_for(ex)
    lf = spec.transform_lazy(frame_for(spec, [dict(ex.row)]).lazy())
    assert not _fallback_nodes(lf), f"{ex.expr}: {_fallback_nodes(lf)}"


@pytest.mark.filterwarnings("ignore::featuredsl.FitTimeWarning")
def test_reference_spec_plan_is_streaming_native() -> None:
    spec = fd.compile_file(ROOT / "benchmarks" / "reference.feat")
    df = pl.DataFrame({
        "user_id": [1, 2], "amount": [3.5, None], "n_items": pl.Series([0, 2], dtype=pl.Int32),
        "ts": pl.Series([0, 3_600_000_000], dtype=pl.Datetime("us", "UTC")),
        "country": ["US", None], "merchant": ["m_1", "m_2"], "category": ["a", "b"],
        "description": ["a refund", "Straße"]})
    spec = spec.fit(df)
    lf = spec.transform_lazy(df.lazy())
    assert not _fallback_nodes(lf), _fallback_nodes(lf)


def _index_cases() -> list[tuple[str, list, list]]:
    """(element type, constant list, probes): each of _index_of_polars's forms."""
    big = 2**63
    sparse = [(-1) ** i * (i * 7_919_993 + 12_345) ** 2 % big for i in range(200)]
    many = [i * 1_000_003 - 10**12 for i in range(400)]
    return [
        ("string", ["b", "a", "b", "", "é", "日本"], ["a", "b", "", "é", "日本", "B", "z", None]),
        ("string", [], ["a", None]),
        ("int", [5, 7, 5], [5, 7, 6, -5, None]),                      # dense table
        ("int", [-big, big - 1, 0, 3], [-big, big - 1, 0, 3, 4, 1, None]),  # modulo table
        ("int", sparse + sparse[:3], sparse + [s + 1 for s in sparse[:20]] + [None]),
        ("int", many, many[::7] + [m + 1 for m in many[::9]] + [-big, None]),  # formatted
        ("float", [0.5, 0.0, -0.0, 1.5e308, 1e-7, 2.5],
         [0.0, -0.0, 1e-7, 1.5e308, float("inf"), 0.5, 2.5000000000000004, None]),
        ("bool", [True, True], [False, True, None]),
    ]


@pytest.mark.parametrize(("kind", "values", "probes"), _index_cases(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_index_of_constant_list_streams_and_matches_the_row_backend(
        kind: str, values: list, probes: list) -> None:
    # the expected value, independently: the first position of an equal element
    def expected(x: object) -> int | None:
        if x is None:
            return None
        return next((i for i, v in enumerate(values) if v == x), None)

    src = "[" + ", ".join(_literal(v) for v in values) + "]"
    spec = fd.compile(f"input {{ x: {kind}? }}\nfeature out = index_of(x, {src})\n")
    rows = [{"x": p} for p in probes]
    batch = spec.transform_lazy(frame_for(spec, rows).lazy()).collect(engine="streaming")
    got = batch.get_column("out").to_list()
    assert got == [expected(p) for p in probes]
    row = spec.row_evaluator()
    assert [row(r)["out"] for r in rows] == got
    assert not _fallback_nodes(spec.transform_lazy(frame_for(spec, rows).lazy()))


def _literal(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v + '"'
    return repr(v)


@pytest.mark.parametrize("kind", ["int", "float"])
def test_bucketize_long_edge_list_streams_and_matches_bisect(kind: str) -> None:

    edges = [i * i - 50 for i in range(20)]
    probes: list = [-(2**63), -51, -50, -49, 0, 311, 312, 400, 2**63 - 1, None]
    if kind == "float":
        edges = [e + 0.5 for e in edges]
        probes = [float("-inf"), -49.5, -49.4, 0.0, -0.0, 311.5, 1e300, float("inf"), None]
    spec = fd.compile(f"input {{ x: {kind}? }}\nfeature out = bucketize(x, {edges})\n")
    rows = [{"x": p} for p in probes]
    lf = spec.transform_lazy(frame_for(spec, rows).lazy())
    got = lf.collect(engine="streaming").get_column("out").to_list()
    assert got == [None if p is None else bisect.bisect_right(edges, p) for p in probes]
    assert [spec.row_evaluator()(r)["out"] for r in rows] == got
    assert not _fallback_nodes(lf)


@pytest.mark.parametrize("src", [
    "input { x: int? }\nfeature o: bool? = (x in (case when true then null end))\n",
    "input { x: int? }\nfeature o: int? = index_of(x, (if true then null else null))\n",
    "input { s: string? }\nfeature o: bool? = contains((if true then null else null), s)\n"])
def test_a_null_typed_list_argument_is_a_typed_null(src: str) -> None:
    """A row-independent null where a list is expected became a Null-dtype literal, which
    Polars' list kernels reject (found by the differential test)."""

    outs = assert_parity(fd.compile(src), [{"x": 1, "s": "a"}, {"x": None, "s": None}])
    assert [o["o"] for o in outs] == [None, None]
