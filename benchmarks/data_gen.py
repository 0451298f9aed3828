"""The reference data of ../shared/BENCHMARK.md, generated deterministically.

``make_frame(n, seed)`` returns the same polars DataFrame for the same ``(n, seed)`` on every
machine (numpy's ``default_rng`` is a stable PCG64 stream). Every column is vectorized, so 10M
rows take seconds, not minutes:

=============  ==================================================================================
user_id        Int64, uniform 1..100,000
amount         Float64, lognormal(mean=3.5, sigma=1.0), 5% null
n_items        Int32, uniform 0..20 (zeros included: ``amount / n_items`` hits the zero divisor)
ts             Datetime[us, UTC], uniform over 2024 (leap year: 366 days)
country        String, 20 values, "US" 40%, 3% null
merchant       String, 5,000 distinct ``merchant_<k>``, Zipf-like (p ~ 1/rank)
category       String, 30 values, mildly skewed
description    String, 2-6 words joined by spaces; ~6% contain "refund" in mixed case
               (``Refund``, ``REFUND``, ``reFund``...); ~11% contain a non-ASCII word (café,
               Straße, ΣΟΦΙΑΣ, 日本, emoji...)
=============  ==================================================================================

``rows_for_serving(df)`` turns a frame into what a serving process receives: a list of plain
dicts (``None`` for null, ``datetime`` with ``tzinfo=timezone.utc`` for ``ts``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

SEED = 20240607

COUNTRIES = ["US", "GB", "DE", "FR", "CA", "IN", "BR", "JP", "MX", "ES",
             "IT", "NL", "AU", "SE", "PL", "TR", "KR", "CH", "AR", "ZA"]
CATEGORIES = [f"cat_{c}" for c in ("grocery", "fuel", "travel", "dining", "apparel", "books",
                                     "music", "games", "health", "beauty", "toys", "garden",
                                     "auto", "pets", "office", "sports", "home", "tools",
                                     "baby", "jewelry", "electronics", "software", "insurance",
                                     "utilities", "rent", "education", "charity", "taxes",
                                     "gifts", "other")]
N_MERCHANTS = 5_000

#: Plain words: none of them contains "refund" in any case.
WORDS = [
    "payment", "order", "invoice", "card", "online", "store", "purchase", "monthly", "annual",
    "subscription", "fee", "service", "delivery", "express", "standard", "gift", "voucher",
    "coffee", "lunch", "dinner", "ticket", "flight", "hotel", "taxi", "ride", "market", "fresh",
    "organic", "premium", "basic", "plan", "renewal", "deposit", "transfer", "withdrawal",
    "charge", "credit", "debit", "bonus", "reward", "points", "cashback", "discount", "sale",
    "item", "items", "pack", "box", "bundle", "kit", "Order", "Payment", "INVOICE", "Store",
    "ONLINE", "Express", "Premium", "#1234", "no.", "ref", "id-77", "x2", "2024",
]
#: Non-ASCII words (accented Latin, German sharp s, Greek with a final sigma, CJK, emoji): each
#: word slot takes one with probability ``NON_ASCII_P`` (about 11% of descriptions get one).
NON_ASCII_WORDS = ["café", "Crème", "naïve", "Straße", "Ürün", "ÉCOLE", "Zürich", "São",
                   "Ωmega", "ΣΟΦΙΑΣ", "日本", "東京", "🛒", "👍🏽"]
NON_ASCII_P = 0.03
#: Words that make ``contains(lower(description), "refund")`` true.
REFUND_WORDS = ["refund", "Refund", "REFUND", "reFund", "refunded", "Refunds", "REFUND:",
                "partial-refund"]

_SCHEMA = {
    "user_id": pl.Int64, "amount": pl.Float64, "n_items": pl.Int32,
    "ts": pl.Datetime("us", "UTC"), "country": pl.String, "merchant": pl.String,
    "category": pl.String, "description": pl.String,
}
_US_2024 = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
_US_YEAR = 366 * 86_400_000_000


def schema() -> dict[str, pl.DataType]:
    """The dtype of every column of the reference frame."""
    return {k: v() if isinstance(v, type) else v for k, v in _SCHEMA.items()}


def _zipf_p(n: int, s: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    return p / p.sum()


def _strings(values: list[str], idx: np.ndarray, null: np.ndarray | None = None) -> pl.Series:
    """``values[idx]`` as a polars String column (gathered in Rust), null where ``null``."""
    s = pl.Series(values, dtype=pl.String).gather(pl.Series(idx, dtype=pl.UInt32))
    if null is not None:
        s = s.scatter(np.flatnonzero(null), None)
    return s


def make_frame(n: int, seed: int = SEED) -> pl.DataFrame:
    """The reference frame of ``n`` rows (see the module doc); deterministic in ``(n, seed)``."""
    rng = np.random.default_rng(seed)
    user_id = rng.integers(1, 100_001, n, dtype=np.int64)
    amount = rng.lognormal(3.5, 1.0, n)
    amount_null = rng.random(n) < 0.05
    n_items = rng.integers(0, 21, n, dtype=np.int32)
    ts = _US_2024 + rng.integers(0, _US_YEAR, n, dtype=np.int64)

    c_p = np.full(len(COUNTRIES), 0.60 / (len(COUNTRIES) - 1))
    c_p[0] = 0.40
    country_idx = rng.choice(len(COUNTRIES), n, p=c_p)
    country_null = rng.random(n) < 0.03

    merchant_idx = rng.choice(N_MERCHANTS, n, p=_zipf_p(N_MERCHANTS, 1.0))
    merchant_names = [f"merchant_{k}" for k in rng.permutation(N_MERCHANTS)]
    category_idx = rng.choice(len(CATEGORIES), n, p=_zipf_p(len(CATEGORIES), 0.6))

    # description: 2-6 word slots; slots past the row's word count are null and skipped by
    # concat_str; in ~6% of rows one slot is replaced by a "refund" word.
    n_words = rng.integers(2, 7, n)
    word_idx = rng.integers(0, len(WORDS), (6, n))
    non_ascii = rng.random((6, n)) < NON_ASCII_P
    non_ascii_idx = len(WORDS) + rng.integers(0, len(NON_ASCII_WORDS), (6, n))
    refund = rng.random(n) < 0.06
    refund_slot = (rng.random(n) * n_words).astype(np.int64)
    refund_word = len(WORDS) + len(NON_ASCII_WORDS) + rng.integers(0, len(REFUND_WORDS), n)
    vocab = WORDS + NON_ASCII_WORDS + REFUND_WORDS
    slots = []
    for k in range(6):
        idx = np.where(non_ascii[k], non_ascii_idx[k], word_idx[k])
        idx = np.where(refund & (refund_slot == k), refund_word, idx)
        slots.append(_strings(vocab, idx, null=n_words <= k).alias(f"w{k}"))
    description = pl.DataFrame(slots).select(
        pl.concat_str([pl.col(f"w{k}") for k in range(6)], separator=" ", ignore_nulls=True)
    ).to_series()

    amount_s = pl.Series("amount", amount, dtype=pl.Float64).scatter(
        np.flatnonzero(amount_null), None)
    return pl.DataFrame({
        "user_id": pl.Series(user_id, dtype=pl.Int64),
        "amount": amount_s,
        "n_items": pl.Series(n_items, dtype=pl.Int32),
        "ts": pl.Series(ts, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
        "country": _strings(COUNTRIES, country_idx, null=country_null),
        "merchant": _strings(merchant_names, merchant_idx),
        "category": _strings(CATEGORIES, category_idx),
        "description": description,
    })


def rows_for_serving(df: pl.DataFrame) -> list[dict]:
    """The frame as serving requests: plain dicts, ``ts`` an aware ``datetime`` in UTC."""
    rows = df.to_dicts()
    utc = dt.UTC
    for r in rows:
        ts = r["ts"]
        r["ts"] = ts.replace(tzinfo=utc)
    return rows
