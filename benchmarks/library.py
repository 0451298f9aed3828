"""The function library against the hand-written code, one function at a time.

    python benchmarks/library.py                  # 1M rows batch, 20k rows row, 7 repeats
    python benchmarks/library.py --rows N --row-rows N --repeat K --only hash,cross
    python benchmarks/run.py --library            # the same table after run.py's

For each function of the library (strings, regex, conversion, hashing, encodings, time with a
zone, timestamp arithmetic, lists): a one-feature featuredsl spec against the nearest
hand-written Polars spelling of the same feature over the same 1M benchmark rows
(``transform_lazy(df).collect()`` vs ``df.lazy().select(expr).collect()``, both in-memory, one
warm-up each, then interleaved repeats; the median of the per-repeat ratios), and the row
evaluator of that spec against a hand-written Python function over the same rows (a plain loop,
ns per row; the Python function reads its inputs and returns a one-entry dict, the evaluator
also validates them). The hand-written code is the obvious
spelling, not a skew-free one (SKEW-TRAPS.md): Polars' ``hash()`` is not stable across
versions, ``str.strip_chars()`` strips a different whitespace set than Python's ``strip()``,
``cast(pl.String)`` writes ``1e-7`` where Python writes ``1e-07``, and so on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import time
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

import featuredsl as fd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import data_gen  # noqa: E402

try:  # the C library the hash is checked against (tests/test_hash.py); optional here
    import xxhash

    def _xxh(b: bytes) -> int:
        return xxhash.xxh64_intdigest(b)
except ImportError:  # pragma: no cover - the benchmark then times Python's own hash
    def _xxh(b: bytes) -> int:
        return hash(b) & ((1 << 64) - 1)

INPUTS = {"amount": "float?", "ts": "timestamp", "country": "string?", "merchant": "string",
          "category": "string", "description": "string", "words": "list[string]"}
ONE_HOT = ["cat_grocery", "cat_fuel", "cat_travel", "cat_dining", "cat_other"]
_NY = zoneinfo.ZoneInfo("America/New_York")
_DIGITS = re.compile("[0-9]+")
_MERCH = re.compile("_[0-9]{3}$")
_SEP = "\x1f"
_H63 = (1 << 63) - 1


@dataclass(frozen=True)
class Case:
    """One function: the featuredsl expression, the hand-written Polars and Python forms."""
    name: str
    feat: str
    polars: pl.Expr
    python: Callable[[dict], object]
    note: str = ""


def _to_i64(u: int) -> int:
    return u - (1 << 64) if u > _H63 else u


def cases() -> list[Case]:
    """The functions measured, each with its nearest hand-written spellings."""
    c = pl.col

    def py_extract(r: dict) -> object:
        m = _DIGITS.search(r["merchant"])
        return m.group(0) if m else None

    def py_get(r: dict) -> object:
        w = r["words"]
        return w[1] if len(w) > 1 else None

    def py_cross(r: dict) -> object:
        a, b = r["country"], r["category"]
        return None if a is None else _xxh(f"{a}{_SEP}{b}".encode()) % 1000

    return [
        Case("trim", "trim(description)", c("description").str.strip_chars(),
             lambda r: r["description"].strip()),
        Case("substring", "substring(merchant, 2, 5)", c("merchant").str.slice(2, 5),
             lambda r: r["merchant"][2:7]),
        Case("replace", 'replace(description, " ", "_")',
             c("description").str.replace_all(" ", "_", literal=True),
             lambda r: r["description"].replace(" ", "_")),
        Case("split", 'split(description, " ")', c("description").str.split(" "),
             lambda r: r["description"].split(" ")),
        Case("regex_match", 'regex_match(merchant, "_[0-9]{3}$")',
             c("merchant").str.contains("_[0-9]{3}$"),
             lambda r: _MERCH.search(r["merchant"]) is not None),
        Case("regex_extract", 'regex_extract(merchant, "[0-9]+")',
             c("merchant").str.extract("([0-9]+)", 1), py_extract),
        Case("pad_left", 'pad_left(category, 16, "_")', c("category").str.pad_start(16, "_"),
             lambda r: r["category"].rjust(16, "_")),
        Case("to_string (float)", "to_string(amount)", c("amount").cast(pl.String),
             lambda r: None if r["amount"] is None else repr(r["amount"])),
        Case("hash (string)", "hash(merchant)", c("merchant").hash(),
             lambda r: _to_i64(_xxh(r["merchant"].encode()))),
        Case("hash (high-cardinality string)", "hash(description)", c("description").hash(),
             lambda r: _to_i64(_xxh(r["description"].encode()))),
        Case("hash_bucket", "hash_bucket(merchant, 1000)", c("merchant").hash() % 1000,
             lambda r: _xxh(r["merchant"].encode()) % 1000),
        Case("cross", "cross(country, category, 1000)",
             pl.concat_str([c("country"), c("category")], separator=_SEP).hash() % 1000,
             py_cross),
        Case("one_hot", f"one_hot(category, {ONE_HOT!r})".replace("'", '"'),
             pl.concat_list([(c("category") == v).cast(pl.Int64) for v in ONE_HOT]),
             lambda r: [int(r["category"] == v) for v in ONE_HOT]),
        Case("hour with a zone", 'hour(ts, "America/New_York")',
             c("ts").dt.convert_time_zone("America/New_York").dt.hour(),
             lambda r: r["ts"].astimezone(_NY).hour),
        Case("timestamp + duration", "ts + 90m", c("ts") + pl.duration(minutes=90),
             lambda r: r["ts"] + dt.timedelta(minutes=90)),
        Case("get (list)", "get(words, 1)", c("words").list.get(1, null_on_oob=True), py_get),
        Case("contains (list)", 'contains(words, "refund")', c("words").list.contains("refund"),
             lambda r: "refund" in r["words"]),
    ]


def frame(rows: int, seed: int = data_gen.SEED) -> pl.DataFrame:
    """The benchmark frame plus ``words``, a list[string] column (description split on
    spaces) for the list functions."""
    df = data_gen.make_frame(rows, seed)
    return df.with_columns(words=pl.col("description").str.split(" "))


def _spec(case: Case) -> fd.Spec:
    used = [n for n in INPUTS if re.search(rf"\b{n}\b", case.feat)]
    body = "\n".join(f"  {n}: {INPUTS[n]}" for n in used)
    return fd.compile(f"input {{\n{body}\n}}\nfeature out = {case.feat}\n")


def _once(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(df: pl.DataFrame, row_rows: int, repeat: int,
            only: Sequence[str] = ()) -> list[dict[str, object]]:
    """Batch ms and row ns per function, featuredsl and hand-written, interleaved."""
    serving = data_gen.rows_for_serving(df.head(row_rows))
    out = []
    for case in cases():
        if only and not any(o in case.name for o in only):
            continue
        spec = _spec(case)
        ev = spec.row_evaluator()
        sub = df.select([n for n in INPUTS if n in spec.program.inputs])

        def fd_batch(spec: fd.Spec = spec, sub: pl.DataFrame = sub) -> object:
            return spec.transform_lazy(sub).collect(engine="in-memory")

        def hand_batch(e: pl.Expr = case.polars, sub: pl.DataFrame = sub) -> object:
            return sub.lazy().select(e.alias("out")).collect(engine="in-memory")

        def fd_row(ev: Callable = ev) -> None:
            for r in serving:
                ev(r)

        def hand_row(f: Callable = case.python) -> None:
            for r in serving:
                {"out": f(r)}  # a dict out, as the evaluator returns

        times: dict[str, list[float]] = {"fd": [], "hand": [], "fd_row": [], "hand_row": []}
        impls = {"fd": fd_batch, "hand": hand_batch, "fd_row": fd_row, "hand_row": hand_row}
        for fn in impls.values():
            fn()
        for _ in range(repeat):
            for k, fn in impls.items():
                times[k].append(_once(fn))
        ratio = statistics.median(a / b for a, b in zip(times["fd"], times["hand"], strict=True))
        row_ratio = statistics.median(a / b for a, b in zip(times["fd_row"], times["hand_row"],
                                                             strict=True))
        out.append({
            "name": case.name, "feat": case.feat,
            "fd_ms": statistics.median(times["fd"]) * 1e3,
            "hand_ms": statistics.median(times["hand"]) * 1e3, "ratio": ratio,
            "fd_row_ns": statistics.median(times["fd_row"]) / len(serving) * 1e9,
            "hand_row_ns": statistics.median(times["hand_row"]) / len(serving) * 1e9,
            "row_ratio": row_ratio})
        print(f"# {case.name} done", file=sys.stderr)
    return out


def render(res: list[dict[str, object]], rows: int, row_rows: int) -> str:
    """The markdown table."""
    lines = [f"| function (featuredsl) | batch {rows:,} rows: featuredsl ms | hand-written "
             f"Polars ms | ratio | row ({row_rows:,} rows): featuredsl ns | hand-written "
             "Python ns | ratio |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in res:
        lines.append(f"| {r['name']}: `{r['feat']}` | {r['fd_ms']:.1f} | {r['hand_ms']:.1f} | "
                     f"{r['ratio']:.2f} | {r['fd_row_ns']:,.0f} | {r['hand_row_ns']:,.0f} | "
                     f"{r['row_ratio']:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--row-rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--only", default="", help="comma-separated substrings of function names")
    ap.add_argument("--seed", type=int, default=data_gen.SEED)
    args = ap.parse_args(argv)
    df = frame(args.rows, args.seed)
    only = [o for o in args.only.split(",") if o]
    res = measure(df, min(args.row_rows, args.rows), args.repeat, only)
    print(render(res, args.rows, min(args.row_rows, args.rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
