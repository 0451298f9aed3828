"""one_hot and multi_hot: list[int] encodings against constant lists and fitted vocabularies,
in both backends, checked against an independent spelling of their definition."""

from __future__ import annotations

import random

import polars as pl
import pytest
import xxhash

import featuredsl as fd
from tests.harness import assert_parity, frame_for, spec_of

VALUES = ["US", "FR", "DE", "é", ""]


def expected_one_hot(x: str | None, values: list[str], oov: int) -> list[int] | None:
    """The documented definition, spelled independently of the implementation."""
    if x is None:
        return None
    out = [0] * (len(values) + oov)
    if x in values:
        out[values.index(x)] = 1
    elif oov == 1:
        out[len(values)] = 1
    elif oov > 1:
        out[len(values) + xxhash.xxh64_intdigest(x.encode()) % oov] = 1
    return out


@pytest.mark.parametrize("oov", [0, 1, 4])
def test_one_hot_strings_both_backends(oov: int) -> None:
    rnd = random.Random(oov)
    xs = [None, "", "US", "é", "zz", "us", *(rnd.choice([*VALUES, f"k{rnd.randint(0, 50)}"])
                                            for _ in range(200))]
    lit = "[" + ", ".join(f'"{v}"' for v in VALUES) + "]"
    spec = spec_of(f"one_hot(c, {lit}, oov={oov})", {"c": "string?"})
    outs = [o["out"] for o in assert_parity(spec, [{"c": x} for x in xs])]
    assert outs == [expected_one_hot(x, VALUES, oov) for x in xs]


def test_one_hot_oov_bucket_is_hash_bucket() -> None:
    spec = fd.compile('input { c: string }\nfeature h = one_hot(c, ["a"], oov=8)\n'
                      "feature b = hash_bucket(c, 8)\n")
    rows = [{"c": f"value {i}"} for i in range(100)]
    for out in assert_parity(spec, rows):
        assert out["h"] == [0] + [int(i == out["b"]) for i in range(8)]


def test_one_hot_first_occurrence_and_signed_zero() -> None:
    assert [o["out"] for o in assert_parity(spec_of("one_hot(i, [3, 1, 3])", {"i": "int"}),
                                            [{"i": 3}, {"i": 1}, {"i": 2}])] == \
        [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    out = assert_parity(spec_of("one_hot(f, [0.0, -0.0, 2.5], oov=1)", {"f": "float?"}),
                        [{"f": -0.0}, {"f": 0.0}, {"f": float("nan")}, {"f": float("inf")}])
    assert [o["out"] for o in out] == [[1, 0, 0, 0], [1, 0, 0, 0], None, [0, 0, 0, 1]]


def test_one_hot_against_a_fitted_vocab(tmp_path) -> None:
    src = ("input { country: string? }\n"
           "feature oh = one_hot(country, vocab(country, top=3), oov=1)\n")
    train = pl.DataFrame({"country": ["US"] * 5 + ["FR"] * 3 + ["DE"] * 2 + ["IT"] + [None]})
    fitted = fd.compile(src).fit(train)
    vocab = next(iter(fitted.stats.values()))
    assert list(vocab) == ["US", "FR", "DE"]
    rows = [{"country": c} for c in ("US", "DE", "IT", None, "")]
    batch = fitted.transform(frame_for(fitted, rows))["oh"].to_list()
    served = [fitted.row_evaluator()(r)["oh"] for r in rows]
    assert batch == served == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], None, [0, 0, 0, 1]]
    # and after a save/load round trip the server computes the same
    fitted.save(tmp_path / "m.featpack.json")
    loaded = fd.load(str(tmp_path / "m.featpack.json"))
    assert [loaded.row_evaluator()(r)["oh"] for r in rows] == served


def test_multi_hot_both_backends_against_definition() -> None:
    rnd = random.Random(5)
    lists: list[list[str | None] | None] = [None, [], [None], ["US", "US"], ["zz", None, "FR"]]
    lists += [[rnd.choice([*VALUES, None, "x", "y"]) for _ in range(rnd.randint(0, 6))]
              for _ in range(150)]
    lit = "[" + ", ".join(f'"{v}"' for v in VALUES) + "]"
    for oov in (0, 1, 3):
        spec = spec_of(f"multi_hot(tags, {lit}, oov={oov})", {"tags": "list[string?]?"})
        outs = [o["out"] for o in assert_parity(spec, [{"tags": t} for t in lists])]
        for tags, got in zip(lists, outs, strict=True):
            if tags is None:
                assert got is None
                continue
            want = [0] * (len(VALUES) + oov)
            for t in tags:
                one = expected_one_hot(t, VALUES, oov) if t is not None else None
                if one is not None:
                    want = [max(a, b) for a, b in zip(want, one, strict=True)]
            assert got == want, (tags, oov)


def test_multi_hot_of_sliced_and_chunked_frames_and_streaming() -> None:
    spec = spec_of('multi_hot(xs, [1, 2, 3], oov=2)', {"xs": "list[int?]?"})
    rows = [{"xs": [i % 5, None, i % 7]} if i % 4 else {"xs": None} for i in range(60)]
    want = assert_parity(spec, rows)
    frame = frame_for(spec, rows)
    chunked = pl.concat([frame.slice(i, 7) for i in range(0, 60, 7)], rechunk=False)
    assert spec.transform(chunked).to_dicts() == want
    assert spec.transform(frame.slice(13, 20)).to_dicts() == want[13:33]
    lazy = spec.transform_lazy(frame.lazy()).collect(engine="streaming")
    assert lazy.to_dicts() == want


@pytest.mark.parametrize(("expr", "code"), [
    ('one_hot(c, ["a"], oov=-1)', "E208"), ('one_hot(c, ["a"], oov=n)', "E207"),
    ("one_hot(c, [1, 2])", "E203"), ('one_hot(c, ["a"], oov=2000000)', "E208"),
    ('multi_hot(c, ["a"])', "E203"), ('one_hot(c, ["a"], oov=1.5)', "E203"),
])
def test_bad_arguments(expr: str, code: str) -> None:
    with pytest.raises(fd.SpecError) as info:
        spec_of(expr, {"c": "string", "n": "int"})
    assert code in [d.code for d in info.value.diagnostics], str(info.value)
