"""The hash of featuredsl: XXH64 (seed 0), the numpy batch kernel and the C row path.

Golden values come from outside this project: the official XXH64 sanity vectors (xxHash's
``cli/xsum_sanity_check.c``, over its generated buffer) and widely published text vectors.
The numpy kernel and the ``xxhash`` C library are two independent implementations; they must
agree on every input, and ``hash``/``hash_bucket``/``cross`` must agree in both backends.
"""

from __future__ import annotations

import datetime as dt
import random
import struct

import numpy as np
import polars as pl
import pytest
import xxhash

import featuredsl as fd
from featuredsl.functions import _hash, _hash_np
from tests.harness import assert_parity, frame_for, spec_of

PRIME32 = 2654435761
PRIME64 = 11400714785074694797
MASK = (1 << 64) - 1


def sanity_buffer(length: int) -> bytes:
    """The official sanity-check buffer: the top byte of a PRIME64 multiplicative sequence."""
    out, gen = bytearray(), PRIME32
    for _ in range(length):
        out.append(gen >> 56)
        gen = (gen * PRIME64) & MASK
    return bytes(out)


#: (length of the sanity buffer, XXH64 with seed 0), from xsum_sanity_check.c
OFFICIAL = [(0, 0xEF46DB3751D8E999), (1, 0xE934A84ADB052768), (4, 0x9136A0DCA57457EE),
            (14, 0x8282DCC4994E35C8), (222, 0xB641AE8CB691C174)]
#: Published text vectors (xxHash docs, ClickHouse's xxHash64 tests, python-xxhash).
TEXT = [("", 0xEF46DB3751D8E999), ("a", 0xD24EC4F1A98C6E5B), ("abc", 0x44BC2CF5AD770999),
        ("ABC", 0xE66AE7354FCFEE98), ("xxhash", 0x32DD38952C4BC720),
        ("foo", 3728699739546630719),
        ("abcdefghijklmnopqrstuvwxyz12345", 0x467605901B01D6F6),
        ("Nobody inspects the spammish repetition", 0xFBCEA83C8A378BF1)]


def numpy_hash(items: list[bytes]) -> list[int]:
    """The batch kernel on raw byte strings laid out as an Arrow column would be."""
    data = b"".join(items)
    buf = np.zeros(len(data) + 32, dtype=np.uint8)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    lengths = np.array([len(b) for b in items], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return [int(h) for h in _hash_np.xxh64_strings(buf, starts, lengths)]


def signed(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u


@pytest.mark.parametrize(("length", "expected"), OFFICIAL)
def test_official_sanity_vectors_both_implementations(length: int, expected: int) -> None:
    data = sanity_buffer(length)
    assert _hash.xxh64(data) == expected
    assert numpy_hash([data]) == [expected]
    # also inside a column, between other strings (offsets that are not 0)
    assert numpy_hash([b"x" * 5, data, b"yz"])[1] == expected


def test_published_text_vectors_on_both_backends() -> None:
    spec = spec_of("hash(s)", {"s": "string"})
    outs = assert_parity(spec, [{"s": text} for text, _ in TEXT])
    assert [o["out"] for o in outs] == [signed(h) for _, h in TEXT]


def test_bool_vectors_match_clickhouse() -> None:
    # ClickHouse: xxHash64('\x01') = 9962287286179718960, xxHash64(toUInt8(0)) = 1680...7544
    spec = spec_of("hash(b)", {"b": "bool?"})
    outs = [o["out"] for o in assert_parity(spec, [{"b": True}, {"b": False}, {"b": None}])]
    assert outs == [signed(9962287286179718960), signed(16804241149081757544), None]


def _random_text(rnd: random.Random, length: int) -> str:
    pools = [(0x20, 0x7E), (0xA0, 0x7FF), (0x800, 0xFFFF), (0x10000, 0x10FFFF)]
    out = []
    for _ in range(length):
        lo, hi = rnd.choice(pools)
        cp = rnd.randint(lo, hi)
        out.append(chr(cp) if not 0xD800 <= cp <= 0xDFFF else "x")
    return "".join(out)


def test_numpy_kernel_equals_c_library_on_random_strings() -> None:
    rnd = random.Random(20261126)
    texts = [_random_text(rnd, n) for n in range(0, 131)]  # every length, every branch
    texts += [_random_text(rnd, rnd.randint(0, 300)) for _ in range(3000)]
    texts += ["a" * n for n in range(0, 70)] + ["é" * n for n in range(0, 40)]
    series = pl.Series(texts)
    want = [xxhash.xxh64_intdigest(t.encode()) for t in texts]
    assert [int(h) for h in _hash_np.hash_series(series)] == want
    # a slice (Arrow offset) and a column in many chunks give the same per-row values
    assert [int(h) for h in _hash_np.hash_series(series.slice(17, 500))] == want[17:517]
    chunked = pl.concat([series.slice(i, 97) for i in range(0, len(texts), 97)], rechunk=False)
    assert chunked.n_chunks() > 1
    assert [int(h) for h in _hash_np.hash_series(chunked)] == want


def test_numpy_kernel_equals_c_library_on_raw_bytes() -> None:
    rnd = random.Random(7)
    items = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 200))) for _ in range(800)]
    assert numpy_hash(items) == [xxhash.xxh64_intdigest(b) for b in items]


def test_ints_floats_dates_timestamps_kernel_equals_row_helpers() -> None:
    rnd = random.Random(3)
    ints = [0, 1, -1, 2**63 - 1, -(2**63), 2**31, *(rnd.randint(-(2**63), 2**63 - 1)
                                                    for _ in range(500))]
    got = _hash_np.hash_series(pl.Series(ints, dtype=pl.Int64))
    assert [int(h) for h in got] == [xxhash.xxh64_intdigest(struct.pack("<q", i))
                                     for i in ints]
    floats = [0.0, -0.0, 1.5, -2.5, float("inf"), float("-inf"), 5e-324, 1e308,
              *(rnd.uniform(-1e6, 1e6) for _ in range(200))]
    got = _hash_np.hash_series(pl.Series(floats, dtype=pl.Float64))
    assert [int(h) for h in got] == [xxhash.xxh64_intdigest(struct.pack("<d", f + 0.0))
                                     for f in floats]
    assert got[0] == got[1]  # -0.0 hashes as 0.0
    dates = [dt.date(1970, 1, 1), dt.date(1969, 12, 31), dt.date(1, 1, 1), dt.date(9999, 12, 31)]
    got = _hash_np.hash_series(pl.Series(dates, dtype=pl.Date))
    assert [int(h) for h in got] == [_hash.u_int((d - dt.date(1970, 1, 1)).days)
                                     for d in dates]
    assert [int(h) for h in got] == [_hash.u_date(d) for d in dates]
    stamps = [dt.datetime(1970, 1, 1), dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
              dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
              dt.datetime(2024, 7, 1, 3, 30, 0, 5)]
    got = _hash_np.hash_series(pl.Series(stamps, dtype=pl.Datetime("us", "UTC")))
    epoch = dt.datetime(1970, 1, 1)
    assert [int(h) for h in got] == [_hash.u_int((t - epoch) // dt.timedelta(microseconds=1))
                                     for t in stamps]
    assert [int(h) for h in got] == [_hash.u_timestamp(t) for t in stamps]


ALL_TYPES = {"s": "string?", "i": "int?", "f": "float?", "b": "bool?", "d": "date?",
             "t": "timestamp?", "u": "duration?"}


def _random_rows(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    edges_f = [0.0, -0.0, float("inf"), float("-inf"), 5e-324, float("nan"), 1.5]
    rows = []
    for _ in range(n):
        rows.append({
            "s": rnd.choice([None, "", "é", "merchant_1", _random_text(rnd, rnd.randint(0, 40))]),
            "i": rnd.choice([None, 0, -1, 2**63 - 1, -(2**63), rnd.randint(-10**18, 10**18)]),
            "f": rnd.choice([None, *edges_f, rnd.uniform(-1e9, 1e9)]),
            "b": rnd.choice([None, True, False]),
            "d": rnd.choice([None, dt.date(1969, 12, 31), dt.date(1, 1, 1),
                             dt.date(2000, 1, 1) + dt.timedelta(days=rnd.randint(0, 9000))]),
            "t": rnd.choice([None, dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
                             dt.datetime(2024, 3, 10, 7, 0, rnd.randint(0, 59), tzinfo=dt.UTC)]),
            "u": rnd.choice([None, dt.timedelta(0), dt.timedelta(microseconds=-1),
                             dt.timedelta(days=rnd.randint(-1000, 1000))]),
        })
    return rows


def test_every_type_agrees_in_both_backends_and_streaming() -> None:
    names = list(ALL_TYPES)
    lines = [f"feature h_{n} = hash({n})" for n in names]
    lines += [f"feature b_{n} = hash_bucket({n}, 97)" for n in names]
    lines += ["feature c2 = cross(s, i, 1000)", "feature c3 = cross(f, b, d, 50)",
              "feature c6 = cross(s, i, f, b, d, t, 1000000007)", "feature cu = cross(u, s, 10)",
              "feature cl = cross(s, 5, 100)", "feature cm = cross(if b then i else f, s, 1000)"]
    fields = "\n".join(f"  {n}: {t}" for n, t in ALL_TYPES.items())
    spec = fd.compile(f"input {{\n{fields}\n}}\n" + "\n".join(lines) + "\n")
    rows = _random_rows(300, 11)
    want = assert_parity(spec, rows)
    frame = frame_for(spec, rows)
    # streaming in small morsels, and a frame of many chunks: same values on every row
    for lazy in (spec.transform_lazy(frame.lazy()).collect(engine="streaming"),
                 spec.transform(pl.concat([frame.slice(i, 7) for i in range(0, 300, 7)],
                                          rechunk=False))):
        for r, b in zip(want, lazy.to_dicts(), strict=True):
            assert r == b


def test_hash_of_date_timestamp_duration_is_hash_of_their_count() -> None:
    spec = fd.compile("input {\n d: date\n t: timestamp\n u: duration\n}\n"
                      "feature a = hash(d) == hash(days)\nlet days = 19729\n"
                      "feature b = hash(t) == hash(-1)\nfeature c = hash(u) == hash(86400000000)\n")
    row = {"d": dt.date(2024, 1, 7), "t": dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
           "u": dt.timedelta(days=1)}
    assert assert_parity(spec, [row]) == [{"a": True, "b": True, "c": True}]


def test_cross_is_the_hash_of_the_component_hashes() -> None:
    spec = spec_of("cross(a, b, 1000003)", {"a": "string", "b": "int"})
    rows = [{"a": "US", "b": 3}, {"a": "", "b": -1}, {"a": "a|b", "b": 0}]
    outs = [o["out"] for o in assert_parity(spec, rows)]
    for r, got in zip(rows, outs, strict=True):
        ha = xxhash.xxh64_intdigest(r["a"].encode())
        hb = xxhash.xxh64_intdigest(struct.pack("<q", r["b"]))
        assert got == xxhash.xxh64_intdigest(struct.pack("<QQ", ha, hb)) % 1000003


def test_cross_order_matters_and_no_separator_collision() -> None:
    spec = fd.compile("input {\n a: string\n b: string\n}\nfeature ab = cross(a, b, 1000000007)\n"
                      "feature ba = cross(b, a, 1000000007)\n")
    rows = [{"a": "a|b", "b": "c"}, {"a": "a", "b": "b|c"}, {"a": "ab", "b": ""},
            {"a": "a", "b": "b"}]
    out = assert_parity(spec, rows)
    assert len({o["ab"] for o in out}) == 4
    assert out[3]["ab"] != out[3]["ba"]


def test_cross_with_a_literal_component_on_empty_one_and_many_row_frames() -> None:
    """A literal component is one value next to a column of any height (0 rows included)."""
    spec = spec_of("cross(b, true, 7)", {"b": "bool?"})
    for rows in ([], [{"b": True}], [{"b": False}, {"b": None}, {"b": True}]):
        assert len(assert_parity(spec, rows)) == len(rows)


def test_cross_null_component_is_null() -> None:
    spec = spec_of("cross(a, b, c, 10)", {"a": "string?", "b": "int?", "c": "bool?"})
    rows = [{"a": None, "b": 1, "c": True}, {"a": "x", "b": None, "c": True},
            {"a": "x", "b": 1, "c": None}, {"a": "x", "b": 1, "c": True}]
    outs = [o["out"] for o in assert_parity(spec, rows)]
    assert outs[:3] == [None, None, None] and isinstance(outs[3], int)


def test_hash_bucket_is_uniform() -> None:
    """Chi-square of 200k distinct keys over n buckets: within 6 standard deviations of its
    mean (df = n - 1, variance 2 df) for a power of two, a prime and a round number."""
    keys = [f"user_{i}" for i in range(200_000)]
    for n in (64, 97, 1000):
        spec = spec_of(f"hash_bucket(k, {n})", {"k": "string"})
        out = spec.transform(pl.DataFrame({"k": keys}))["out"].to_numpy()
        assert out.min() >= 0 and out.max() < n
        counts = np.bincount(out, minlength=n)
        expected = len(keys) / n
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        df = n - 1
        assert abs(chi2 - df) < 6 * (2 * df) ** 0.5, (n, chi2)
    ints = spec_of("hash_bucket(i, 10)", {"i": "int"}).transform(
        pl.DataFrame({"i": np.arange(100_000, dtype=np.int64)}))["out"].to_numpy()
    counts = np.bincount(ints, minlength=10)
    assert abs(float(((counts - 10_000) ** 2 / 10_000).sum()) - 9) < 6 * 18**0.5


def test_hash_bucket_with_largest_n_keeps_the_unsigned_value() -> None:
    spec = spec_of("hash_bucket(s, 9223372036854775807)", {"s": "string"})
    out = assert_parity(spec, [{"s": ""}])[0]["out"]
    assert out == 0xEF46DB3751D8E999 % (2**63 - 1)


@pytest.mark.parametrize(("expr", "code"), [
    ("hash_bucket(s, 0)", "E208"), ("hash_bucket(s, -3)", "E208"),
    ("hash_bucket(s, i)", "E207"), ("hash_bucket(s, null)", "E208"),
    ("cross(s, i, 0)", "E208"), ("cross(s, i, i)", "E207"), ("cross(s, 10)", "E203"),
    ("cross(s, s, s, s, s, s, s, 10)", "E203"), ("cross(s, s, s, s, s, s, 10, 10)", "E208"),
    ("hash_bucket(s, 1.5)", "E203"), ("hash_bucket(s)", "E204"),
])
def test_bad_arguments_are_spec_errors(expr: str, code: str) -> None:
    with pytest.raises(fd.SpecError) as info:
        spec_of(expr, {"s": "string", "i": "int"})
    assert code in [d.code for d in info.value.diagnostics], str(info.value)


def test_list_hash_is_the_hash_of_the_element_hashes() -> None:
    """hash(list) = XXH64 of the elements' 8-byte hashes (a null element is 0), both
    backends, also for a sliced column (Arrow offsets that do not start at 0)."""
    rnd = random.Random(9)
    lists = [None, [], [None], ["a"], ["a", None], [None, "a"], ["", ""]]
    lists += [[rnd.choice([None, "x", "é", _random_text(rnd, 5)]) for _ in range(rnd.randint(0, 9))]
              for _ in range(100)]
    spec = spec_of("hash(xs)", {"xs": "list[string?]?"})
    outs = [o["out"] for o in assert_parity(spec, [{"xs": v} for v in lists])]
    for v, got in zip(lists, outs, strict=True):
        if v is None:
            assert got is None
            continue
        words = [0 if e is None else xxhash.xxh64_intdigest(e.encode()) for e in v]
        assert got == signed(xxhash.xxh64_intdigest(struct.pack(f"<{len(words)}Q", *words)))
    frame = frame_for(spec, [{"xs": v} for v in lists])
    assert spec.transform(frame.slice(3, 50))["out"].to_list() == outs[3:53]


def test_low_cardinality_columns_hash_distinct_values_once_same_result(monkeypatch) -> None:
    """The distinct-values path of the string kernel gives every row its own string's hash
    (nulls stay null), as the direct path does."""
    monkeypatch.setattr(_hash_np, "DEDUP_MIN_ROWS", 100)
    rnd = random.Random(4)
    values = [None, "", "é", "merchant_1", "merchant_22", "a" * 40]
    texts = [rnd.choice(values) for _ in range(5000)]
    series = pl.Series(texts, dtype=pl.String)
    got = _hash_np.hash_series(series)
    for t, h in zip(texts, got, strict=True):
        if t is not None:
            assert int(h) == xxhash.xxh64_intdigest(t.encode())
    spec = spec_of("hash_bucket(s, 1000)", {"s": "string?"})
    assert_parity(spec, [{"s": t} for t in texts])
