"""ISO-8601 text timestamps in batch: ``spec.transform`` on a ``timestamp`` input that arrives
as text (CSV, NDJSON, a String column) against the same column already a Datetime.

Both transforms run in this process, interleaved (text, parsed, text, parsed...), on the same
instants; the script checks that they give the same frame and prints the median times and the
ratio text/parsed for each text form (issue 13 asks for at most 2x).

    python benchmarks/text_timestamps.py              # 1M rows, 5 repeats
    python benchmarks/text_timestamps.py --rows 1000 --repeat 1   # smoke
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import polars as pl

import featuredsl as fd

SPEC = """
input {
  ts: timestamp
}
feature hour        = hour(ts)
feature weekday     = day_of_week(ts)
feature local_hour  = hour(ts, "America/New_York")
feature epoch       = epoch_seconds(ts)
feature month       = month(ts)
"""
#: The text forms measured: what Polars, pandas and most JSON writers produce.
FORMS = {
    "YYYY-MM-DDTHH:MM:SS.ffffffZ": "%Y-%m-%dT%H:%M:%S%.6fZ",
    "YYYY-MM-DD HH:MM:SS": "%Y-%m-%d %H:%M:%S",
    "YYYY-MM-DDTHH:MM:SS+HH:MM": "%Y-%m-%dT%H:%M:%S%:z",
}


def frames(n: int, seed: int) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The parsed frame and one text frame per form, holding the same instants."""
    rng = random.Random(seed)
    us = pl.Series([1_500_000_000_000_000 + rng.randrange(0, 10**15) for _ in range(n)],
                   dtype=pl.Int64)
    ts = us.cast(pl.Datetime("us", "UTC"))
    parsed = pl.DataFrame({"ts": ts})
    texts = {}
    for name, fmt in FORMS.items():
        # the forms without a fraction hold whole seconds: the parsed side must too
        whole = ts if "%.6f" in fmt else ts.dt.truncate("1s")
        texts[name] = (pl.DataFrame({"ts": whole.dt.strftime(fmt)}), pl.DataFrame({"ts": whole}))
    # a column mixing the three forms row by row: no single shape, the general parser path
    whole = ts.dt.truncate("1s")
    form = pl.Series([rng.randrange(3) for _ in range(n)])
    forms = [whole.dt.strftime(fmt) for fmt in FORMS.values()]
    mixed = pl.select(pl.when(form == 0).then(forms[0]).when(form == 1).then(forms[1])
                      .otherwise(forms[2]).alias("ts"))
    texts["mixed: the three forms, row by row"] = (mixed, pl.DataFrame({"ts": whole}))
    return parsed, texts


def timed(fn) -> float:
    """Seconds taken by one call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print one line per text form."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    spec = fd.compile(SPEC)
    _, texts = frames(a.rows, a.seed)
    print(f"| text form ({a.rows:,} rows, {len(spec.features)} timestamp features) "
          "| parsed (Datetime) | ISO text | text / parsed |")
    print("|---|---:|---:|---:|")
    for name, (text_df, parsed_df) in texts.items():
        if not spec.transform(text_df).equals(spec.transform(parsed_df)):
            print(f"MISMATCH: {name}")
            return 1
        t_text, t_parsed = [], []
        for _ in range(a.repeat):
            t_text.append(timed(lambda d=text_df: spec.transform(d)))
            t_parsed.append(timed(lambda d=parsed_df: spec.transform(d)))
        mt, mp = statistics.median(t_text), statistics.median(t_parsed)
        print(f"| `{name}` | {mp * 1e3:.1f} ms | {mt * 1e3:.1f} ms | {mt / mp:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
