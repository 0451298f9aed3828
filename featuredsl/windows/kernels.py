"""Array kernels of the batch window engine (:mod:`featuredsl.windows.batch`): key ids, time
coordinates and sorted searches, exact prefix sums, range extremes, distinct counts.

Plain numpy (and Polars for the Int128 sums) over int64 positions: each function takes the
sorted events' arrays and the rows' ``[lo, hi)`` ranges and returns one value per row. They
are tested against brute force in ``tests/test_windows_kernels.py``; the module constants
bound their memory and are patched there to force every path on small inputs.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from featuredsl.windows import exact

#: (key, time) codes stay below this (int64, with room): beyond, times are ranked first.
CODE_LIMIT = 2**62


INT_KEYS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)


def key_ids(ev_keys: pl.DataFrame, q_keys: pl.DataFrame
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Key ids in ``0..n_kids-1``: ``(of each event, of each row (0 where the key has no
    event), whether the row's key has events, n_kids)``. Events have no null key.

    One integer key whose values are dense enough is its own id (minus the smallest): no
    hash join. Any other key (several fields, strings, sparse integers) is numbered by a
    join against the events' distinct keys."""
    n = ev_keys.height
    if ev_keys.width == 1 and ev_keys.dtypes[0] in INT_KEYS and n:
        k_e = ev_keys.to_series().to_numpy().astype(np.int64, copy=False)
        kmin, kmax = int(k_e.min()), int(k_e.max())
        if kmax - kmin < 4 * (n + q_keys.height) + 1024:  # ids index arrays later: bounded
            q = q_keys.to_series()
            not_null = q.is_not_null().to_numpy() if q.null_count() else True
            k_q = q.fill_null(kmin).to_numpy().astype(np.int64, copy=False)
            live = (k_q >= kmin) & (k_q <= kmax) & not_null
            kid_q = k_q - kmin
            if not live.all():
                kid_q[~live] = 0
            return k_e - kmin, kid_q, live, kmax - kmin + 1
    names = ev_keys.columns
    ids = ev_keys.unique().with_row_index("__fd_kid")
    ids_e = ev_keys.join(ids, on=names, how="left", maintain_order="left")["__fd_kid"]
    ids_q = q_keys.join(ids, on=names, how="left", maintain_order="left")["__fd_kid"]
    live = ids_q.is_not_null().to_numpy()
    return (ids_e.to_numpy().astype(np.int64), ids_q.fill_null(0).to_numpy().astype(np.int64),
            live, ids.height)


class TimeCoords:
    """Times as small non-negative ints that order like them against the event times, so
    that ``key id * span + coordinate`` fits an int64: ``t`` minus the first event time
    (clipped to the events' range) when ``n_kids * span`` fits, else the rank of ``t`` among
    the distinct event times."""

    def __init__(self, t_e: np.ndarray, n_kids: int) -> None:
        self.tmin, self.tmax = int(t_e.min()), int(t_e.max())
        self.span = self.tmax - self.tmin + 2  # coordinates 0 .. tmax - tmin + 1
        self.ranks: np.ndarray | None = None
        if n_kids * self.span >= CODE_LIMIT:
            self.ranks = np.unique(np.sort(t_e))
            self.span = len(self.ranks) + 1

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """The coordinates of the times ``t``."""
        if self.ranks is not None:
            return np.searchsorted(self.ranks, t, side="left").astype(np.int64)
        out = np.clip(t, self.tmin, self.tmax + 1)
        out -= self.tmin  # in place: one temporary, not two
        return out


#: Probes per slice of a sorted search (``search_sorted``).
SEARCH_CHUNK = 1 << 12


def search_sorted(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``np.searchsorted(a, v)`` (left) for sorted ``a`` and ``v`` (any order is correct;
    sorted is fast): each chunk of probes searches only the slice of ``a`` between its first
    probe's position and the next chunk's, which stays in cache (20-35% faster on 1M-10M
    events than one search over the whole array)."""
    if len(v) <= 4 * SEARCH_CHUNK or not (v[1:] >= v[:-1]).all():
        return np.searchsorted(a, v)
    bounds = np.append(np.searchsorted(a, v[::SEARCH_CHUNK]), len(a)).tolist()
    out = np.empty(len(v), dtype=np.int64)
    for j in range(len(bounds) - 1):
        lo, hi = bounds[j], bounds[j + 1]
        part = slice(j * SEARCH_CHUNK, (j + 1) * SEARCH_CHUNK)
        out[part] = np.searchsorted(a[lo:hi], v[part])
        out[part] += lo
    return out


def stable_argsort(code: np.ndarray) -> np.ndarray:
    """``argsort(code)`` with equal codes in index order, at the cost of numpy's unstable
    sort (the stable one is ~4x slower on int64): ties are rare, so only their runs are
    re-sorted by index."""
    order = np.argsort(code)
    sc = code[order]
    eq = sc[1:] == sc[:-1]
    if eq.any():
        in_run = np.zeros(len(code), dtype=bool)
        in_run[1:] |= eq
        in_run[:-1] |= eq
        idx = np.nonzero(in_run)[0]
        sub = order[idx]
        order[idx] = sub[np.lexsort((sub, sc[idx]))]
    return order


def prefix(flags: np.ndarray) -> np.ndarray:
    """Exclusive prefix counts: ``out[i]`` = how many of ``flags[:i]`` are true."""
    out = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=out[1:])
    return out


#: Rows per chunk of Int128 gathers: three 16-byte temporaries per row would be the largest
#: allocations of a big transform (~480 MB at 10M rows) if done at once.
GATHER_ROWS = 1 << 20


def window_diff(values: pl.Series, lo: np.ndarray, hi: np.ndarray) -> pl.Series:
    """Per row, the sum of ``values[lo:hi]`` by exclusive prefix sums (in the values' dtype)."""
    prefix = pl.concat([pl.Series([0], dtype=values.dtype), values.cum_sum()])
    parts = [prefix.gather(pl.Series(hi[a:a + GATHER_ROWS]))
             - prefix.gather(pl.Series(lo[a:a + GATHER_ROWS]))
             for a in range(0, len(hi), GATHER_ROWS)]
    return pl.concat(parts) if parts else prefix.clear()


def exact_float_sums(vals: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row, the correctly rounded sum of the finite values ``vals[lo:hi]`` (NaN or 0.0
    at the positions that do not count)."""
    # the extreme magnitudes without an array of them (NaN, a skipped position, is neither
    # > 0 nor < 0)
    pos, neg = vals > 0.0, vals < 0.0
    largest = max(float(np.max(vals, where=pos, initial=0.0)),
                  -float(np.min(vals, where=neg, initial=0.0)))
    if largest == 0.0:
        return np.zeros(len(hi), dtype=np.float64)
    smallest = min(float(np.min(vals, where=pos, initial=np.inf)),
                   -float(np.max(vals, where=neg, initial=-np.inf)))
    del pos, neg
    # Every nonzero value is an integer multiple of 2**(expo(smallest) - 53): scaling by
    # 2**(53 - expo(smallest)) makes them all integers, below 2**(expo(largest) + scale).
    # A bound, not the lowest set bit of each value (three passes fewer); when it is too
    # wide for Int128, the exact lowest bits are found before giving up on Int128.
    scale = 53 - math.frexp(smallest)[1]
    width = math.frexp(largest)[1] + int(np.ceil(np.log2(len(vals) + 1)))
    if width + scale > 126:
        scale = lowest_bit_scale(vals[(vals != 0.0) & ~np.isnan(vals)])
    if width + scale <= 126 and -1023 <= scale <= 1022:
        # the leading 0.0 makes the cumulative sum the exclusive prefix (no Int128 concat)
        padded = np.empty(len(vals) + 1, dtype=np.float64)
        padded[0] = 0.0
        np.multiply(vals, 2.0**scale, out=padded[1:])  # exact: a power of two
        padded[np.isnan(padded)] = 0.0  # the positions that do not count
        prefix = pl.Series(padded).cast(pl.Int128).cum_sum()
        del padded
        out = np.empty(len(hi), dtype=np.float64)
        for a in range(0, len(hi), GATHER_ROWS):  # Int128 temporaries: a chunk at a time
            b = a + GATHER_ROWS
            total = (prefix.gather(pl.Series(hi[a:b])) - prefix.gather(pl.Series(lo[a:b]))) \
                .cast(pl.Float64)  # rounds once, to nearest even
            out[a:b] = total.to_numpy()
        out *= 2.0**-scale  # exact: a power of two, no subnormal
        return out
    # The values span more than Int128 holds: exact Python integers (slower, as exact).
    sums = [0]
    acc = 0
    for x in vals.tolist():
        acc += exact.scaled(x) if x and x == x else 0  # x != x: NaN, a skipped position
        sums.append(acc)
    return np.array([exact.float_of_scaled(sums[h] - sums[lw])
                     for lw, h in zip(lo.tolist(), hi.tolist(), strict=True)],
                    dtype=np.float64)


def lowest_bit_scale(nonzero: np.ndarray) -> int:
    """The smallest ``k`` with every value times ``2**k`` an integer."""
    mant, expo = np.frexp(nonzero)  # x = mant * 2**expo, 0.5 <= |mant| < 1
    m = np.abs((mant * 2.0**53).astype(np.int64))  # |x| = m * 2**(expo - 53), exactly
    _, low_exp = np.frexp((m & -m).astype(np.float64))  # m's lowest set bit is 2**(low_exp-1)
    return int(-(expo + low_exp).min()) + 54


def prev_valid(valid: np.ndarray) -> np.ndarray:
    """``out[i]``: the last valid position before ``i`` (-1 if none), for i in 0..n."""
    pos = np.where(valid, np.arange(len(valid)), -1)
    out = np.empty(len(valid) + 1, dtype=np.int64)
    out[0] = -1
    np.maximum.accumulate(pos, out=out[1:])
    return out


def next_valid(valid: np.ndarray) -> np.ndarray:
    """``out[i]``: the first valid position at or after ``i`` (n if none), for i in 0..n."""
    n = len(valid)
    pos = np.where(valid, np.arange(n), n)
    out = np.full(n + 1, n, dtype=np.int64)
    out[:n] = np.minimum.accumulate(pos[::-1])[::-1]
    return out


#: Rows per chunk of range-extreme queries, and the most elements a chunk's sparse table may
#: hold (32 MiB of float64): the memory stays bounded whatever the number of events.
CHUNK_ROWS = 1 << 16
TABLE_BUDGET = 1 << 22


def range_extreme(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray, largest: bool
                   ) -> np.ndarray:
    """Per row, ``max`` (or ``min``) of ``arr[lo:hi]`` (anything for an empty range).

    The rows come in code order, so a chunk of them reads one narrow slice of ``arr``: a
    sparse table over that slice (level ``k`` holds the extreme of every run of ``2**k``),
    all levels in one 2D array, answers each row with two flat gathers at the level of its
    length. A chunk whose table would exceed the budget (a spine reading a long history)
    is answered level by level instead, in O(slice) memory. (Capping the levels and adding
    the extremes of whole blocks for long ranges was tried: fewer table passes for a hot
    key's 10k-event windows, but as many more passes over the rows, no faster.)"""
    pick = np.maximum if largest else np.minimum
    out = np.zeros(len(lo), dtype=arr.dtype)
    if not len(arr):
        return out
    level = np.frexp((hi - lo).astype(np.float64))[1] - 1  # floor(log2(length)); -1: empty
    for r0 in range(0, len(lo), CHUNK_ROWS):
        a, b, lv = lo[r0:r0 + CHUNK_ROWS], hi[r0:r0 + CHUNK_ROWS], level[r0:r0 + CHUNK_ROWS]
        live = lv >= 0
        if not live.any():
            continue
        first, stop = int(a[live].min()), int(b[live].max())
        width, top = stop - first, int(lv.max())
        if (top + 1) * width > TABLE_BUDGET:
            out[r0:r0 + len(a)] = extreme_by_level(arr[first:stop], np.where(live, a - first, 0),
                                                    np.where(live, b - first, 0), lv, pick)
            continue
        table = np.empty((top + 1, width), dtype=arr.dtype)
        table[0] = arr[first:stop]
        for k in range(1, top + 1):
            h = 1 << (k - 1)
            pick(table[k - 1, :width - h], table[k - 1, h:], out=table[k, :width - h])
            table[k, width - h:] = table[k - 1, width - h:]  # never read: runs past the end
        k = np.maximum(lv, 0)
        row = k * width - first
        flat = table.ravel()
        out[r0:r0 + len(a)] = pick(flat[np.where(live, row + a, 0)],
                                   flat[np.where(live, row + b - (1 << k), 0)])
    return out


def extreme_by_level(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: np.ndarray,
                      pick: np.ufunc) -> np.ndarray:
    """``range_extreme`` one sparse-table level at a time (two levels in memory), each
    query answered at its level."""
    out = np.zeros(len(lo), dtype=arr.dtype)
    table = arr
    k = 0
    while True:
        rows = np.nonzero(level == k)[0]
        if len(rows):
            out[rows] = pick(table[lo[rows]], table[hi[rows] - (1 << k)])
        if (1 << (k + 1)) > len(arr) or not (level > k).any():
            break
        half = 1 << k
        table = pick(table[:-half], table[half:])
        k += 1
    return out


def count_below(prev: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row, how many positions ``i < hi`` have ``prev[i] < lo``: the prefix ``[0, hi)``
    split into aligned blocks of 2**k (one per set bit of ``hi``), each block's ``prev``
    values sorted once per level, so a block's count is one ``searchsorted``."""
    n = len(prev)
    out = np.zeros(len(lo), dtype=np.int64)
    if n == 0:
        return out
    width = np.int64(n + 2)
    pos = np.arange(n, dtype=np.int64)
    shifted = prev.astype(np.int64) + 1  # in 0..n+1
    k = 0
    while (1 << k) <= n:
        rows = np.nonzero((hi >> k) & 1)[0]
        if len(rows):
            block = (hi[rows] >> (k + 1)) << 1  # the block [block * 2**k, (block+1) * 2**k)
            keys = np.sort((pos >> k) * width + shifted, kind="stable")
            got = np.searchsorted(keys, block * width + lo[rows] + 1, side="left")
            out[rows] += got - block * (1 << k)
        k += 1
    return out
