"""Out-of-fold training features (``Spec.fit_transform``), checked by recomputation."""

from __future__ import annotations

import random
import struct
from fractions import Fraction

import polars as pl
import pytest
import xxhash

import featuredsl as fd
from featuredsl.errors import InputError

SPEC = """
input { user: int, g: string?, y: float? }
feature te = mean(y, by=g)
feature fb = mean(y, by=g, smoothing=1) ?? mean(y)
feature n = count(by=g)
feature centred = y - mean(y)
"""


def _data(n: int = 120) -> pl.DataFrame:
    rnd = random.Random(3)
    return pl.DataFrame({
        "user": [rnd.randrange(15) for _ in range(n)],
        "g": [rnd.choice(["a", "b", "é", None]) for _ in range(n)],
        "y": [rnd.choice([1.0, 2.5, -4.0, None, 10.0]) for _ in range(n)],
    }, schema={"user": pl.Int64, "g": pl.String, "y": pl.Float64})


def _fold_index(i: int, folds: int, seed: int) -> int:
    return xxhash.xxh64_intdigest(struct.pack("<q", i), seed=seed) % folds


def _fold_value(v: int, folds: int, seed: int) -> int:
    return xxhash.xxh64_intdigest(b"i" + struct.pack("<q", v), seed=seed) % folds


def _mean(vals):
    v = [Fraction(x) for x in vals if x is not None]
    return float(sum(v) / len(v)) if v else None


def test_no_row_sees_its_own_label():
    df = _data()
    full, out = fd.compile(SPEC).fit_transform(df, folds=4, seed=11)
    rows = df.to_dicts()
    assert full.stats == fd.compile(SPEC).fit(df).stats  # serving: every row
    overall = _mean([r["y"] for r in rows])
    for i, (r, o) in enumerate(zip(rows, out.to_dicts(), strict=True)):
        f = _fold_index(i, 4, 11)
        others = [s for j, s in enumerate(rows) if _fold_index(j, 4, 11) != f]
        same = [s["y"] for s in others if r["g"] is not None and s["g"] == r["g"]]
        assert o["te"] == _mean(same) if same and _mean(same) is not None else o["te"] is None
        assert o["n"] == (len(same) if same else None)
        assert o["centred"] == (None if r["y"] is None else r["y"] - overall)


def test_fold_by_keeps_a_users_rows_together_and_is_stable():
    df = _data()
    spec = fd.compile(SPEC)
    _, a = spec.fit_transform(df, folds=3, seed=5, fold_by="user", keep="user")
    _, b = spec.fit_transform(df.lazy(), folds=3, seed=5, fold_by="user", keep="user")
    assert a.equals(b)
    rows = df.to_dicts()
    for r, o in zip(rows, a.to_dicts(), strict=True):
        f = _fold_value(r["user"], 3, 5)
        same = [s["y"] for s in rows if _fold_value(s["user"], 3, 5) != f
                and r["g"] is not None and s["g"] == r["g"]]
        want = _mean(same) if same else None
        assert o["te"] == want


def test_transform_on_other_data_uses_full_statistics():
    df = _data()
    full, _ = fd.compile(SPEC).fit_transform(df, folds=5)
    assert full.transform(df).equals(fd.compile(SPEC).fit(df).transform(df))


@pytest.mark.parametrize("kw", [{"folds": 1}, {"folds": True}, {"seed": -1},
                                {"fold_by": "nope"}])
def test_bad_arguments(kw):
    with pytest.raises(InputError):
        fd.compile(SPEC).fit_transform(_data(), **kw)


def test_cli_train_out(tmp_path):
    import subprocess
    import sys

    spec = tmp_path / "s.feat"
    spec.write_text(SPEC)
    data = tmp_path / "d.parquet"
    _data().write_parquet(data)
    run = [sys.executable, "-m", "featuredsl", "fit", str(spec), "--data", str(data), "-o",
           str(tmp_path / "a.json"), "--folds", "4", "--seed", "2", "--fold-by", "user",
           "--train-out", str(tmp_path / "oof.parquet")]
    assert subprocess.run(run, capture_output=True).returncode == 0
    _, want = fd.compile(SPEC).fit_transform(_data(), folds=4, seed=2, fold_by="user")
    assert pl.read_parquet(tmp_path / "oof.parquet").equals(want)
    bad = subprocess.run(run[:-2], capture_output=True, text=True)
    assert bad.returncode == 2 and "--train-out" in bad.stderr


def test_window_features_through_folds():
    # a target encoding keyed by a window count: per fold, the other folds' table; the window
    # itself reads the whole event history (folds split rows, not events)
    import datetime as dt

    spec = fd.compile("""
input {
  user_id: int
  ts: timestamp
  y: float?
  time ts
}
source txns {
  user_id: int
  ts: timestamp
  key user_id
  time ts
}
let n7 = count(txns, over=7d)
feature n7f = n7
feature te = mean(y, by=n7)
""")
    t0 = dt.datetime(2024, 1, 1)
    rnd = random.Random(9)
    events = pl.DataFrame({"user_id": [rnd.randrange(6) for _ in range(80)],
                           "ts": [t0 + dt.timedelta(hours=rnd.randrange(24 * 20))
                                  for _ in range(80)]})
    rows = pl.DataFrame({"user_id": [rnd.randrange(6) for _ in range(60)],
                         "ts": [t0 + dt.timedelta(hours=rnd.randrange(24 * 20))
                                for _ in range(60)],
                         "y": [rnd.choice([1.0, 2.0, None, 5.5]) for _ in range(60)]})
    full, out = spec.fit_transform(rows, folds=3, seed=2, sources={"txns": events})
    plain = full.transform(rows, sources={"txns": events})
    assert out["n7f"].to_list() == plain["n7f"].to_list()  # the window: every event, every fold
    counts = plain["n7f"].to_list()
    ys = rows["y"].to_list()
    for i in range(rows.height):
        f = _fold_index(i, 3, 2)
        same = [ys[j] for j in range(rows.height)
                if _fold_index(j, 3, 2) != f and counts[j] == counts[i]]
        want = _mean(same) if same else None
        assert out["te"][i] == want, (i, out["te"][i], want)
