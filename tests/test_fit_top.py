"""Top values in bounded memory (featuredsl/fit/top.py): equal to a Counter with the tie rule
whether the values are counted in one, two or many hash partitions, directly or by hash, with
a hash that collides all the time; and fitting a near-unique string column from a Parquet scan
does not hold its distinct values (peak RSS against the row count, in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import featuredsl.fit.top as ft
from featuredsl.fit import profile
from featuredsl.fit.passes import Frame, drive

pytestmark = pytest.mark.filterwarnings("ignore::featuredsl.fit.FitTimeWarning")

CASES = [(5, 1), (20, 1), (3, 60), (1000, 2), (4, 10**6), (1, 1), (30, 3)]


def _counter_top(vals: list, top: int, min_count: int) -> list[tuple]:
    counts = Counter(v for v in vals if v is not None)
    ok = [(v, c) for v, c in counts.items() if c >= min_count]
    return sorted(ok, key=lambda p: (-p[1], p[0]))[:top]


def _strings(rng: np.random.Generator, size: int) -> list[str | None]:
    """A head of tied words (non-ASCII, empty) over a long tail of near-unique values."""
    words = ["a", "b", "cc", "dd", "é", "", "zz", "y", "xyz", "ab", "日本"]
    return [None if i % 97 == 0 else
            words[i % len(words)] + ("" if i < 600 else f"-{i}")
            for i in rng.integers(0, 4000, size)]


def _ints(rng: np.random.Generator, size: int) -> list[int | None]:
    edges = [-(2**63), 2**63 - 1, 0, -1]
    return [None if i % 89 == 0 else edges[i % 4] if i < 40 else int(i % 50) if i < 900
            else int(i) * 1_000_003 for i in rng.integers(0, 5000, size)]


def _partitions_seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = ft.partitions

    def spy(distinct: int, weight: float = 1.0) -> int:
        seen.append(real(distinct, weight))
        return seen[-1]

    monkeypatch.setattr(ft, "partitions", spy)
    return seen


@pytest.mark.parametrize("weak_hash", [False, True])
@pytest.mark.parametrize("want", ["one", "two", "many"])
@pytest.mark.parametrize("kind", ["string", "int"])
def test_top_values_equal_a_counter_in_any_number_of_partitions(
        monkeypatch: pytest.MonkeyPatch, kind: str, want: str, weak_hash: bool) -> None:
    # ~2,100 distinct strings (each worth ~2 keys) and ~2,300 distinct ints
    keys = {"one": 1 << 22, "two": 5000 if kind == "string" else 2500, "many": 40}[want]
    monkeypatch.setattr(ft, "KEYS_PER_PASS", keys)
    monkeypatch.setattr(ft, "SAMPLE", 200)  # strings take the hashed route
    if weak_hash:  # a few hundred distinct hashes: collisions and lopsided partitions
        monkeypatch.setattr(ft, "_hash", lambda c: (c.cast(pl.String).str.len_bytes()
                                                    * 7).cast(pl.UInt64))
    seen = _partitions_seen(monkeypatch)
    rng = np.random.default_rng(5)
    vals = (_strings if kind == "string" else _ints)(rng, 4000)
    dtype = pl.String if kind == "string" else pl.Int64
    frame = Frame(pl.DataFrame({"v": pl.Series(vals, dtype=dtype)}).lazy())
    for top, min_count in CASES:
        got = drive(ft.top_values(frame, "v", kind, top, min_count))
        assert got == _counter_top(vals, top, min_count), (top, min_count)
    parts = set(seen)
    assert len(parts) == 1
    assert {"one": parts == {1}, "two": parts == {2}, "many": min(parts) > 20}[want], parts


@pytest.mark.parametrize("candidates", [0, 3, 4096])
def test_partitions_counted_by_hash_prove_or_recount(monkeypatch: pytest.MonkeyPatch,
                                                     candidates: int) -> None:
    """Heavy hitters spread over partitions, ties across partitions, a colliding hash: each
    hashed partition's proof holds or the partition is recounted, and the merge is exact."""
    monkeypatch.setattr(ft, "KEYS_PER_PASS", 300)
    monkeypatch.setattr(ft, "SAMPLE", 100)
    monkeypatch.setattr(ft, "CANDIDATES", candidates)
    monkeypatch.setattr(ft, "_hash", lambda c: (c.str.len_bytes() % 5).cast(pl.UInt64))
    rng = np.random.default_rng(11)
    vals: list[str | None] = [f"k{i % 13}" * (1 + i % 4) for i in range(1300)]
    vals += [f"t{i}" for i in rng.permutation(900)] + [None] * 5
    rng.shuffle(vals)  # type: ignore[arg-type]
    frame = Frame(pl.DataFrame({"v": pl.Series(vals, dtype=pl.String)}).lazy())
    for top, min_count in CASES:
        got = drive(ft.top_values(frame, "v", "string", top, min_count))
        assert got == _counter_top(vals, top, min_count), (top, min_count)


def test_no_values_and_empty_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ft, "KEYS_PER_PASS", 1)
    for vals in ([], [None, None], ["x"], ["", "", "é"]):
        frame = Frame(pl.DataFrame({"v": pl.Series(vals, dtype=pl.String)}).lazy())
        assert drive(ft.top_values(frame, "v", "string", 3)) == _counter_top(vals, 3, 1)


_CHILD = textwrap.dedent("""
    import json, sys, warnings
    import polars as pl
    sys.path.insert(0, {root!r})
    import featuredsl as fd
    from featuredsl.fit import passes as fit_passes
    from featuredsl.fit import top as fit_top
    fit_passes.CONCURRENT = 1
    fit_top.KEYS_PER_PASS = int(sys.argv[2])
    warnings.simplefilter("ignore")
    spec = fd.compile({spec!r})
    fitted = spec.fit(pl.scan_parquet(sys.argv[1]))
    # VmHWM, the peak of this process's own memory map: ru_maxrss would start at the resident
    # size of the parent (pytest), which the child shares until it execs
    peak = next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith("VmHWM:"))
    print(json.dumps([fitted.profile["rows"], peak,
                      fitted.stats["vocab(s, top=10)"], fitted.profile["inputs"]["s"]["top"]]))
""")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_top_of_a_near_unique_column_does_not_hold_its_values(tmp_path: Path) -> None:
    """Peak RSS of fitting a near-unique string column (its vocab and profile top) from a
    Parquet scan, in a fresh process, at two sizes: counting every distinct value in one
    ``group_by`` (a budget of 2**30 keys) grows by ~115 bytes a distinct value here (+137 MB
    from 0.6M to 1.8M rows); with a 2**17-key budget (13 and 47 partitions) the peak stays flat.
    benchmarks/README.md measures the default budget."""
    spec = "input { s: string? }\nfeature i = index_of(s, vocab(s, top=10)) ?? -1\n"
    root = str(Path(__file__).resolve().parent.parent)
    sizes = [600_000, 1_800_000]
    peaks: list[int] = []
    fits: list[tuple[Path, list, list]] = []
    for size in sizes:
        # built and written by Polars, not held as Python objects: a forked child starts with
        # the parent's resident memory counted in its ru_maxrss
        i = pl.int_range(size, dtype=pl.Int64)
        words = pl.format("w{}", (i * 7 % 31).cast(pl.String))  # 2% of the rows, tied counts
        ids = pl.format("user {} free text", ((i * 2654435761) % (4 * size)).cast(pl.String))
        path = tmp_path / f"s{size}.parquet"
        (pl.LazyFrame().select(pl.when(i % 50 == 0).then(words).otherwise(ids).alias("s"))
         .sink_parquet(path, row_group_size=50_000))
        env = dict(os.environ, POLARS_MAX_THREADS="2", POLARS_ROW_GROUP_PREFETCH_SIZE="1")
        proc = subprocess.run([sys.executable, "-c", _CHILD.format(root=root, spec=spec),
                               str(path), str(1 << 17)], env=env, capture_output=True,
                              text=True, check=True, cwd=root)
        rows, peak_kb, vocab, top = json.loads(proc.stdout.strip().splitlines()[-1])
        assert rows == size
        peaks.append(peak_kb * 1024)
        fits.append((path, vocab, top))
    for path, vocab, top in fits:  # checked after the children ran (the parent's memory)
        want = (pl.scan_parquet(path).group_by("s").agg(pl.len().cast(pl.Int64).alias("n"))
                .sort(["n", "s"], descending=[True, False]).head(profile.TOP).collect().rows())
        assert vocab == [v for v, _ in want[:10]] and top == [list(p) for p in want]
        # the 31 heavy words first, then (top keeps 100) the smallest ids of the unique tail
        assert [n > 1 for _, n in want] == [True] * 31 + [False] * (profile.TOP - 31)
    held = 50 * (sizes[1] - sizes[0])  # what one group_by entry per distinct value adds
    print(f"peak RSS {peaks[0] / 2**20:.0f} MB at {sizes[0]:,} rows, "
          f"{peaks[1] / 2**20:.0f} MB at {sizes[1]:,}; holding the values: +{held / 2**20:.0f} MB")
    assert peaks[1] - peaks[0] < 0.35 * held, (peaks, held)
