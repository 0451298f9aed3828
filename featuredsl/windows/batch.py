"""The batch half of windowed aggregates: every row's windows at once, point-in-time correct.

For each (source, key inputs) pair the events are sorted once by (key, time, log order), so
that the window of a row with key ``k`` and time ``t`` is a contiguous range ``[lo, hi)`` of
positions: ``hi`` the first event of key ``k`` at or after ``t``, ``lo`` the first at or after
``t - over`` (the key's first event for a window without ``over``). Both come from one
``searchsorted`` over a composite (key id, time rank) code, so rows need not be events (a
label spine, a request log) and neither frame needs any order. Then, per aggregate:

* ``count``, ``sum``, ``mean``: exclusive prefix sums gathered at ``hi`` and ``lo``; float
  sums exact in Int128 fixed point (a Python-int fallback when the values span more than 126
  bits), see :mod:`featuredsl.windows.exact`;
* ``min``, ``max``: range-minimum queries answered level by level of a sparse table (memory
  O(events), time O((events + rows) log events));
* ``first``, ``last``, ``seconds_since_last``: the nearest valid position after ``lo`` / before
  ``hi`` (forward and backward fills of positions);
* ``count_distinct``: the values whose previous occurrence in the key is before ``lo``,
  counted with a merge-sort tree over positions, level by level (O((n + m) log n), never the
  O(rows x window) general rolling aggregation).

The caller's row order is kept: every result is a column aligned with the rows as given.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from featuredsl import ir
from featuredsl.backends.polars_backend import PolarsLowering, dtype_of
from featuredsl.functions.windowed import WINDOW_FUNCTIONS
from featuredsl.windows import exact

_WIDEST_OVER = 2**62  # longer windows hold every earlier event: no int64 overflow at t - over
#: (key, time) codes stay below this (int64, with room): beyond, times are ranked first.
_CODE_LIMIT = 2**62


def compute(rows: pl.DataFrame, program: ir.BoundProgram,
            sources: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """``rows`` (validated, widened) with one column per window of ``program``
    (``Window.column``); ``sources`` holds each source's validated, widened events."""
    if not program.windows:
        return rows
    assert program.time is not None
    groups: dict[tuple[str, tuple[str, ...]], list[ir.Window]] = {}
    for w in program.windows:
        groups.setdefault((w.source, w.by), []).append(w)
    columns: list[pl.Series] = []
    for (name, by), windows in groups.items():
        group = Group(rows, program.time, by, program.sources[name], sources[name], windows)
        for w in windows:
            fn = WINDOW_FUNCTIONS["seconds_since_last" if w.function == "since_last"
                                  else w.function]
            values = getattr(group, fn.batch)(w) if group.n else _empty(w, rows.height)
            columns.append(values.cast(dtype_of(w.type)).alias(w.column))
    return rows.with_columns(columns)


def _empty(w: ir.Window, height: int) -> pl.Series:
    """A window's value on every row when the source has no event (SPEC 13: ``count`` and
    ``sum`` 0, every other aggregate null)."""
    zero = w.function in ("count", "count_distinct", "sum")
    value = (0.0 if w.type.kind == "float" else 0) if zero else None
    return pl.Series([value] * height, dtype=dtype_of(w.type))


def _epoch_us(col: pl.Expr) -> pl.Expr:
    return col.dt.epoch("us")


class Group:
    """The events of one source, sorted by (key, time, log order), and the ``[lo, hi)``
    ranges of the rows' windows over them."""

    def __init__(self, rows: pl.DataFrame, time: str, by: tuple[str, ...], source: ir.Source,
                 events: pl.DataFrame, windows: list[ir.Window]) -> None:
        keys = list(source.keys)
        if any(events[k].null_count() for k in keys):  # a null key is in no window
            events = events.filter(pl.all_horizontal([pl.col(k).is_not_null() for k in keys]))
        q_keys = rows.select([pl.col(b).alias(k) for b, k in zip(by, keys, strict=True)])
        kid_e, kid_q, live, n_kids = _key_ids(events.select(keys), q_keys)
        t_e = events[source.time].dt.epoch("us").to_numpy()
        t_q_s = rows[time].dt.epoch("us")
        live &= t_q_s.is_not_null().to_numpy()
        self.t_q = t_q_s.fill_null(0).to_numpy()
        self.source = source
        self.n = events.height
        overs = sorted({min(w.over, _WIDEST_OVER) for w in windows if w.over is not None})
        self.hi = np.zeros(rows.height, dtype=np.int64)
        self.lo: dict[object, np.ndarray] = {o: self.hi for o in [*overs, None]}
        if self.n == 0:
            self.events = events.with_columns(pl.Series("__fd_t", t_e),
                                              pl.Series("__fd_kid", kid_e))
            self._masks: dict[object, np.ndarray] = {}
            self._values: dict[object, pl.Series] = {}
            return
        coord = _TimeCoords(t_e, n_kids)
        # One int64 code per (key, time): events of a key are one contiguous run of codes,
        # in time order. The sort is by code, then by log order among equal codes.
        code_e = kid_e * coord.span + coord(t_e)
        order = _stable_argsort(code_e)
        code_e = code_e[order]
        self.events = events[order].with_columns(pl.Series("__fd_t", t_e[order]),
                                                 pl.Series("__fd_kid", kid_e[order]))
        # Queries: ``hi`` = the first event of the row's key at or after its time; ``lo`` the
        # first at or after ``time - over`` (the key's first event for a lifetime window).
        # Searching in code order (one sort of the rows, shared by every bound: ``time -
        # over`` keeps the order within a key) is ~10x faster than searching in row order,
        # whose random probes miss the cache on every step of the binary search.
        base = np.where(live, kid_q * coord.span, 0)
        t_q = np.where(live, self.t_q, 0)
        code_hi = base + np.where(live, coord(t_q), 0)
        order_q = np.argsort(code_hi)

        def first_at(code: np.ndarray) -> np.ndarray:
            out = np.empty(len(code), dtype=np.int64)
            out[order_q] = np.searchsorted(code_e, code[order_q], side="left")
            return np.where(live, out, 0)

        self.hi = first_at(code_hi)
        for o in overs:
            self.lo[o] = first_at(base + np.where(live, coord(t_q - o), 0))
        self.lo[None] = first_at(base)
        self._masks = {}
        self._values = {}

    # ------------------------------------------------------------------ streams
    def _range(self, w: ir.Window) -> tuple[np.ndarray, np.ndarray]:
        return self.lo[w.over], self.hi

    def mask(self, w: ir.Window) -> np.ndarray:
        """Which events pass the window's ``where=`` (every event without one)."""
        key = None if w.where is None else w.where.key()
        got = self._masks.get(key)
        if got is None:
            if w.where is None:
                got = np.ones(self.n, dtype=bool)
            else:
                got = _predicate(self.events, self.source, w.where)
            self._masks[key] = got
        return got

    def values(self, w: ir.Window) -> pl.Series:
        """The aggregated field, canonical (NaN null, -0.0 as 0.0), null where the event
        fails ``where=``."""
        assert w.field is not None
        key = (w.field, None if w.where is None else w.where.key())
        got = self._values.get(key)
        if got is None:
            s = self.events[w.field]
            if s.dtype == pl.Float64:
                s = pl.select(pl.when(s == 0.0).then(0.0).otherwise(s.fill_nan(None))
                              ).to_series()
            if w.where is not None:
                s = pl.select(pl.when(pl.Series(self.mask(w))).then(s)).to_series()
            got = self._values[key] = s
        return got

    def valid(self, w: ir.Window) -> np.ndarray:
        """Events that count for the aggregate: passing ``where=``, with a non-null field."""
        if w.field is None:
            return self.mask(w)
        return self.values(w).is_not_null().to_numpy()

    @staticmethod
    def _prefix(flags: np.ndarray) -> np.ndarray:
        out = np.zeros(len(flags) + 1, dtype=np.int64)
        np.cumsum(flags, out=out[1:])
        return out

    def _count(self, w: ir.Window) -> np.ndarray:
        lo, hi = self._range(w)
        p = self._prefix(self.valid(w))
        return p[hi] - p[lo]

    # ------------------------------------------------------------------ aggregates
    def count(self, w: ir.Window) -> pl.Series:
        """``count``: events (or non-null values) in each row's window."""
        return pl.Series(self._count(w))

    def sum(self, w: ir.Window) -> pl.Series:
        """``sum``: exact; int sums outside int64 and windows with +inf and -inf are null."""
        return self._sums(w, mean=False)

    def mean(self, w: ir.Window) -> pl.Series:
        """``mean``: the rounded exact sum divided by the count."""
        return self._sums(w, mean=True)

    def _sums(self, w: ir.Window, mean: bool) -> pl.Series:
        lo, hi = self._range(w)
        values = self.values(w)
        count = pl.Series(self._count(w))
        if values.dtype == pl.Int64:
            total = _window_diff(values.fill_null(0).cast(pl.Int128), lo, hi)
            if mean:
                return _mean(total.cast(pl.Float64), count)
            fits = (total >= exact.INT64_MIN) & (total <= exact.INT64_MAX)
            return pl.select(pl.when(fits).then(total)).to_series().cast(pl.Int64)
        finite = values.is_finite().fill_null(False)
        pinf = self._prefix((values == np.inf).fill_null(False).to_numpy())
        ninf = self._prefix((values == -np.inf).fill_null(False).to_numpy())
        n_pos, n_neg = pinf[hi] - pinf[lo], ninf[hi] - ninf[lo]
        total = _exact_float_sums(values.filter(finite).to_numpy(), finite.to_numpy(), lo, hi)
        total = np.where(n_pos > 0, np.inf, np.where(n_neg > 0, -np.inf, total))
        out = pl.Series(total)
        both = pl.Series((n_pos > 0) & (n_neg > 0))
        out = pl.select(pl.when(~both).then(out)).to_series()
        return _mean(out, count) if mean else out

    def min(self, w: ir.Window) -> pl.Series:
        """``min``: the smallest valid value in each window (range-minimum queries)."""
        return self._extreme(w, largest=False)

    def max(self, w: ir.Window) -> pl.Series:
        """``max``: the largest valid value in each window."""
        return self._extreme(w, largest=True)

    def _extreme(self, w: ir.Window, largest: bool) -> pl.Series:
        lo, hi = self._range(w)
        values = self.values(w)
        valid = values.is_not_null().to_numpy()
        if values.dtype == pl.String:
            order = values.drop_nulls().unique().sort()
            codes = pl.select(pl.lit(values).replace_strict(
                order, pl.Series(np.arange(len(order)), dtype=pl.Int64), default=None)
            ).to_series().fill_null(0).to_numpy().astype(np.float64)
        else:
            codes = values.to_physical().cast(pl.Float64 if values.dtype == pl.Float64
                                               else pl.Int64).fill_null(0).to_numpy()
        if codes.dtype == np.float64:
            sentinel = -np.inf if largest else np.inf
            arr = np.where(valid, codes, sentinel)
        else:
            info = np.iinfo(np.int64)
            arr = np.where(valid, codes, info.min if largest else info.max)
        best = _range_extreme(arr, lo, hi, largest)
        has = self._count(w) > 0
        if values.dtype == pl.String:
            idx = pl.Series(np.where(has, best, 0).astype(np.int64))
            got = order.gather(idx)
        else:
            got = pl.Series(np.where(has, best, 0)).cast(values.to_physical().dtype) \
                .cast(values.dtype)
        return pl.select(pl.when(pl.Series(has)).then(got)).to_series()

    def first(self, w: ir.Window) -> pl.Series:
        """``first``: the valid value at the earliest position of each window."""
        lo, hi = self._range(w)
        nxt = _next_valid(self.valid(w))
        j = nxt[lo]
        return self._gather(w, j, j < hi)

    def last(self, w: ir.Window) -> pl.Series:
        """``last``: the valid value at the latest position of each window."""
        lo, hi = self._range(w)
        prev = _prev_valid(self.valid(w))
        j = prev[hi]
        return self._gather(w, j, j >= lo)

    def _gather(self, w: ir.Window, j: np.ndarray, ok: np.ndarray) -> pl.Series:
        values = self.values(w)
        idx = pl.Series(np.where(ok, j, 0).astype(np.int64))
        got = values.gather(idx) if len(values) else pl.Series([None] * len(j),
                                                                dtype=values.dtype)
        return pl.select(pl.when(pl.Series(ok)).then(got)).to_series()

    def since_last(self, w: ir.Window) -> pl.Series:
        """The gap from each row's time back to the latest event of its window (µs)."""
        lo, hi = self._range(w)
        prev = _prev_valid(self.mask(w))
        j = prev[hi]
        ok = j >= lo
        t_e = self.events["__fd_t"].to_numpy()
        gap = self.t_q - (t_e[np.where(ok, j, 0)] if self.n else 0)
        return pl.select(pl.when(pl.Series(ok)).then(pl.Series(gap))).to_series() \
            .cast(pl.Duration("us"))

    def count_distinct(self, w: ir.Window) -> pl.Series:
        """``count_distinct``: values whose previous occurrence (same key, same value) is
        before the window, counted over the window's positions."""
        lo, hi = self._range(w)
        values = self.values(w)
        valid = values.is_not_null().to_numpy()
        frame = pl.DataFrame({"kid": self.events["__fd_kid"], "v": values,
                              "pos": np.arange(self.n, dtype=np.int64)})
        prev = frame.select(
            pl.when(pl.col("v").is_not_null())
            .then(pl.col("pos").shift(1).over(["kid", "v"]).fill_null(-1))
            .otherwise(self.n)).to_series().to_numpy()
        below = _count_below(prev, lo, hi)
        before = self._prefix(valid)
        return pl.Series(below - before[lo])


# ---------------------------------------------------------------------------------- kernels


_INT_KEYS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)


def _key_ids(ev_keys: pl.DataFrame, q_keys: pl.DataFrame
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Key ids in ``0..n_kids-1``: ``(of each event, of each row (0 where the key has no
    event), whether the row's key has events, n_kids)``. Events have no null key.

    One integer key whose values are dense enough is its own id (minus the smallest): no
    hash join. Any other key (several fields, strings, sparse integers) is numbered by a
    join against the events' distinct keys."""
    n = ev_keys.height
    if ev_keys.width == 1 and ev_keys.dtypes[0] in _INT_KEYS and n:
        col = ev_keys.to_series()
        kmin, kmax = int(col.min()), int(col.max())  # type: ignore[arg-type]
        if kmax - kmin < 4 * (n + q_keys.height) + 1024:  # ids index arrays later: bounded
            kid_e = col.to_numpy().astype(np.int64) - kmin
            q = q_keys.to_series()
            live = ((q >= kmin) & (q <= kmax)).fill_null(False).to_numpy()
            kid_q = np.where(live, q.fill_null(kmin).to_numpy().astype(np.int64) - kmin, 0)
            return kid_e, kid_q, live, kmax - kmin + 1
    names = ev_keys.columns
    ids = ev_keys.unique().with_row_index("__fd_kid")
    kid_e = ev_keys.join(ids, on=names, how="left")["__fd_kid"]
    kid_q = q_keys.join(ids, on=names, how="left", maintain_order="left")["__fd_kid"]
    live = kid_q.is_not_null().to_numpy()
    return (kid_e.to_numpy().astype(np.int64), kid_q.fill_null(0).to_numpy().astype(np.int64),
            live, ids.height)


class _TimeCoords:
    """Times as small non-negative ints that order like them against the event times, so
    that ``key id * span + coordinate`` fits an int64: ``t`` minus the first event time
    (clipped to the events' range) when ``n_kids * span`` fits, else the rank of ``t`` among
    the distinct event times."""

    def __init__(self, t_e: np.ndarray, n_kids: int) -> None:
        self.tmin, self.tmax = int(t_e.min()), int(t_e.max())
        self.span = self.tmax - self.tmin + 2  # coordinates 0 .. tmax - tmin + 1
        self.ranks: np.ndarray | None = None
        if n_kids * self.span >= _CODE_LIMIT:
            self.ranks = np.unique(np.sort(t_e))
            self.span = len(self.ranks) + 1

    def __call__(self, t: np.ndarray) -> np.ndarray:
        if self.ranks is not None:
            return np.searchsorted(self.ranks, t, side="left").astype(np.int64)
        return np.clip(t, self.tmin, self.tmax + 1) - self.tmin


def _stable_argsort(code: np.ndarray) -> np.ndarray:
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



def _predicate(events: pl.DataFrame, source: ir.Source, where: ir.Expr) -> np.ndarray:
    """A window's ``where=`` over the events, by the batch backend's own lowering."""
    program = ir.BoundProgram(dict(source.fields), {}, [],
                              [ir.BoundFeature("__fd_where", where, where.type)], [])
    plan = PolarsLowering(program).plan()
    got = plan.apply(events.lazy(), []).collect()["__fd_where"]
    if got.dtype != pl.Boolean:  # a null predicate on every event
        return np.zeros(events.height, dtype=bool)
    return got.fill_null(False).to_numpy()


def _window_diff(values: pl.Series, lo: np.ndarray, hi: np.ndarray) -> pl.Series:
    """Per row, the sum of ``values[lo:hi]`` by exclusive prefix sums (in the values' dtype)."""
    prefix = pl.concat([pl.Series([0], dtype=values.dtype), values.cum_sum()])
    return prefix.gather(pl.Series(hi)) - prefix.gather(pl.Series(lo))


def _mean(total: pl.Series, count: pl.Series) -> pl.Series:
    # a column divided by a column: one IEEE division, as exact.mean
    return pl.select(pl.when(count > 0).then(total / count.cast(pl.Float64))).to_series()


def _exact_float_sums(finite: np.ndarray, where: np.ndarray, lo: np.ndarray, hi: np.ndarray
                      ) -> np.ndarray:
    """Per row, the correctly rounded sum of the finite values in positions ``[lo, hi)``
    (``finite`` holds the values of the positions where ``where`` is true)."""
    vals = np.zeros(len(where), dtype=np.float64)
    vals[where] = finite
    nonzero = vals[vals != 0.0]
    if len(nonzero) == 0:
        return np.zeros(len(hi), dtype=np.float64)
    mant, expo = np.frexp(nonzero)  # x = mant * 2**expo, 0.5 <= |mant| < 1
    m = (mant * 2.0**53).astype(np.int64)  # x = m * 2**(expo - 53), exactly
    low = expo - 53 + _trailing_zeros(m)  # the value's lowest set bit is 2**low
    scale = int(-low.min())  # values * 2**scale are all integers
    top = int(expo.max()) + scale  # and below 2**top
    bits = top + int(np.ceil(np.log2(len(nonzero) + 1)))
    if bits <= 126 and scale <= 1022 and scale >= -1023:
        ints = (pl.Series(vals) * 2.0**scale).cast(pl.Int128)  # exact: a power of two
        total = _window_diff(ints, lo, hi).cast(pl.Float64)  # rounds once, to nearest even
        return (total * 2.0**-scale).to_numpy()  # exact: a power of two, no subnormal
    # The values span more than Int128 holds: exact Python integers (slower, as exact).
    prefix = [0]
    acc = 0
    for x in vals.tolist():
        acc += exact.scaled(x) if x else 0
        prefix.append(acc)
    return np.array([exact.float_of_scaled(prefix[h] - prefix[lw])
                     for lw, h in zip(lo.tolist(), hi.tolist(), strict=True)],
                    dtype=np.float64)


def _trailing_zeros(m: np.ndarray) -> np.ndarray:
    low_bit = np.abs(m) & -np.abs(m)
    return np.log2(low_bit.astype(np.float64)).astype(np.int64)


def _prev_valid(valid: np.ndarray) -> np.ndarray:
    """``out[i]``: the last valid position before ``i`` (-1 if none), for i in 0..n."""
    pos = np.where(valid, np.arange(len(valid)), -1)
    out = np.empty(len(valid) + 1, dtype=np.int64)
    out[0] = -1
    np.maximum.accumulate(pos, out=out[1:])
    return out


def _next_valid(valid: np.ndarray) -> np.ndarray:
    """``out[i]``: the first valid position at or after ``i`` (n if none), for i in 0..n."""
    n = len(valid)
    pos = np.where(valid, np.arange(n), n)
    out = np.full(n + 1, n, dtype=np.int64)
    out[:n] = np.minimum.accumulate(pos[::-1])[::-1]
    return out


def _range_extreme(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray, largest: bool
                   ) -> np.ndarray:
    """Per row, ``max`` (or ``min``) of ``arr[lo:hi]`` (the sentinel for an empty range):
    a sparse table built one level at a time, each query answered at its level."""
    pick = np.maximum if largest else np.minimum
    length = hi - lo
    out = np.full(len(lo), arr[0] if len(arr) else 0, dtype=arr.dtype)
    if not len(arr):
        return out
    level = np.where(length > 0, np.floor(np.log2(np.maximum(length, 1))), -1).astype(np.int64)
    table = arr
    k = 0
    while True:
        rows = np.nonzero(level == k)[0]
        if len(rows):
            a, b = lo[rows], hi[rows] - (1 << k)
            out[rows] = pick(table[a], table[b])
        if (1 << (k + 1)) > len(arr) or not (level > k).any():
            break
        half = 1 << k
        table = pick(table[:-half], table[half:])
        k += 1
    return out


def _count_below(prev: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
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

