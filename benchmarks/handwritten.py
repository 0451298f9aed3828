"""The code a user would write instead of featuredsl: the baselines featuredsl must match.

Both are written the way a competent engineer writes them today, not hardened: the Python
function uses ``math.log1p``, ``bisect``, ``round`` and ``datetime`` methods; the Polars select
uses the obvious expressions (a when/then chain for the buckets, ``replace_strict`` for the
vocabulary index). They are *not* skew-free (see ../shared/SKEW-TRAPS.md): the benchmark counts
where they disagree with each other. featuredsl must be as fast as these while being exact.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import polars as pl

EDGES = [10.0, 50.0, 100.0, 500.0]


def python_features(amount_mean: float, amount_std: float,
                    vocab: Sequence[str]) -> Callable[[dict], dict]:
    """The hand-written serving function ``features(row: dict) -> dict`` (16 features)."""
    cat_index = {c: i for i, c in enumerate(vocab)}

    def features(row: dict) -> dict:
        amount = row.get("amount")
        n_items = row["n_items"]
        ts = row["ts"]
        country = row.get("country")
        dow = ts.isoweekday()
        if amount is None:
            log_amount = amount_z = bucket = per_item = clipped = rounded = None
            big_us = 0
        else:
            log_amount = math.log1p(amount)
            amount_z = (amount - amount_mean) / amount_std
            bucket = bisect.bisect_right(EDGES, amount)
            per_item = amount / n_items if n_items else None
            clipped = min(max(amount, 0.0), 1000.0)
            rounded = round(amount, 1)
            big_us = 1 if amount > 100 and country == "US" else 0
        return {
            "log_amount": log_amount,
            "amount_z": amount_z,
            "amount_bucket": bucket,
            "is_foreign": country is not None and country != "US",
            "hour": ts.hour,
            "dow": dow,
            "is_weekend": dow >= 6,
            "category_idx": cat_index.get(row["category"], -1),
            "amount_per_item": per_item,
            "merchant_len": len(row["merchant"].lower()),
            "is_refund": "refund" in row["description"].lower(),
            "amount_clipped": clipped,
            "big_us": big_us,
            "country_filled": country if country is not None else "UNK",
            "amount_round": rounded,
            "items_sq": n_items * n_items,
        }

    return features


def polars_exprs(amount_mean: float, amount_std: float, vocab: Sequence[str]) -> list[pl.Expr]:
    """The hand-written Polars expressions: ``df.select(polars_exprs(...))``."""
    amount = pl.col("amount")
    country = pl.col("country")
    weekday = pl.col("ts").dt.weekday()
    return [
        amount.log1p().alias("log_amount"),
        ((amount - amount_mean) / amount_std).alias("amount_z"),
        pl.when(amount < 10).then(0).when(amount < 50).then(1).when(amount < 100).then(2)
        .when(amount < 500).then(3).when(amount >= 500).then(4).alias("amount_bucket"),
        (country != "US").fill_null(False).alias("is_foreign"),
        pl.col("ts").dt.hour().alias("hour"),
        weekday.alias("dow"),
        (weekday >= 6).alias("is_weekend"),
        pl.col("category").replace_strict(list(vocab), list(range(len(vocab))), default=-1)
        .alias("category_idx"),
        (amount / pl.col("n_items")).alias("amount_per_item"),
        pl.col("merchant").str.to_lowercase().str.len_chars().alias("merchant_len"),
        pl.col("description").str.to_lowercase().str.contains("refund", literal=True)
        .alias("is_refund"),
        amount.clip(0, 1000).alias("amount_clipped"),
        pl.when((amount > 100) & (country == "US")).then(1).otherwise(0).alias("big_us"),
        country.fill_null("UNK").alias("country_filled"),
        amount.round(1).alias("amount_round"),
        (pl.col("n_items") * pl.col("n_items")).alias("items_sq"),
    ]


def dict_literal(row: dict) -> dict:
    """A 16-entry dict literal alone: the cost of just building the output (a floor)."""
    return {"log_amount": 1.0, "amount_z": 1.0, "amount_bucket": 1, "is_foreign": True,
            "hour": 1, "dow": 1, "is_weekend": False, "category_idx": 1,
            "amount_per_item": 1.0, "merchant_len": 1, "is_refund": False,
            "amount_clipped": 1.0, "big_us": 1, "country_filled": "US", "amount_round": 1.0,
            "items_sq": 1}
