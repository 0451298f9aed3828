"""The batch half of windowed aggregates: every row's windows at once, point-in-time correct.

For each (source, key inputs) pair the events are sorted once by (key, time, log order), so
that the window of a row with key ``k`` and time ``t`` is a contiguous range ``[lo, hi)`` of
positions: ``hi`` the first event of key ``k`` at or after ``t``, ``lo`` the first at or after
``t - over`` (the key's first event for a window without ``over``). Both come from a
``searchsorted`` over one int64 code per (key id, time), so rows need not be events (a label
spine, a request log) and neither frame needs any order. Then, per aggregate:

* ``count``, ``sum``, ``mean``: exclusive prefix sums gathered at ``hi`` and ``lo``; float
  sums exact in Int128 fixed point (a Python-int fallback when the values span more than 126
  bits), see :mod:`featuredsl.windows.exact`;
* ``min``, ``max``: range-minimum queries answered level by level of a sparse table (memory
  O(events), time O((events + rows) log window));
* ``first``, ``last``, ``seconds_since_last``: the nearest valid position after ``lo`` / before
  ``hi`` (forward and backward fills of positions);
* ``count_distinct``: the values whose previous occurrence in the key is before ``lo``,
  counted with a merge-sort tree over positions, level by level (O((n + m) log n), never the
  O(rows x window) general rolling aggregation).

Everything is computed with the rows in code order (sorted by key, then time: the order the
searches and the prefix gathers run fastest in) and put back in the caller's order once per
output column. When the rows are the events themselves (a backfill), their order is the
events' own and ``hi`` needs no search at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial

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
        if group.n:
            results = _aggregate(group, windows)
            group.release()  # the sorted events and ranges are no longer needed: memory
            values = group.to_rows(results)
            del results
        else:
            values = [_empty(w, rows.height) for w in windows]
        columns += [v.cast(dtype_of(w.type)).alias(w.column)
                    for v, w in zip(values, windows, strict=True)]
    return rows.with_columns(columns)


#: Up to this many rows the results are put back in row order by one frame gather.
_FRAME_GATHER_ROWS = 1 << 22

#: Below this many events and rows the kernels run one after the other (a thread costs more
#: than it saves).
_PARALLEL_FROM = 100_000


def _aggregate(group: Group, windows: list[ir.Window]) -> list[Result]:
    """Every window's result, in code order. The independent kernels (one exact total per
    stream and window length, each extreme, ...) run on up to ``pl.thread_pool_size()``
    threads: numpy and Polars release the GIL in them, and a sum next to a max is the two
    cores' worth of work the hand-written rolling plan also gets. What they share (the
    canonical values, the valid flags, the counts) is computed first, once."""
    workers = min(pl.thread_pool_size(), len(windows))
    if workers < 2 or group.n + len(group.hi) < _PARALLEL_FROM:
        return [getattr(group, _method(w))(w) for w in windows]
    for w in windows:  # shared inputs first: each is computed once, not once per thread
        group.valid(w)
        group._count(w)
    tasks: dict[object, Callable[[], object]] = {}
    for w in windows:
        if w.function in ("sum", "mean"):  # the total is the kernel; the rest is cheap
            tasks.setdefault(("total", group._stream(w), w.over), partial(group._total, w))
        else:
            tasks[("window", w.key())] = partial(getattr(group, _method(w)), w)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = dict(zip(tasks, pool.map(lambda task: task(), tasks.values()), strict=True))
    return [done[("window", w.key())] if ("window", w.key()) in done  # type: ignore[misc]
            else getattr(group, _method(w))(w) for w in windows]


def _method(w: ir.Window) -> str:
    """The name of the ``Group`` method computing the window's aggregate."""
    name = "seconds_since_last" if w.function == "since_last" else w.function
    return WINDOW_FUNCTIONS[name].batch


def _empty(w: ir.Window, height: int) -> pl.Series:
    """A window's value on every row when the source has no event (SPEC 13: ``count`` and
    ``sum`` 0, every other aggregate null)."""
    zero = w.function in ("count", "count_distinct", "sum")
    value = (0.0 if w.type.kind == "float" else 0) if zero else None
    return pl.Series([value] * height, dtype=dtype_of(w.type))


#: What an aggregate gives, in code order: a Series, an int64 array (no nulls) or a float64
#: array whose NaNs are the nulls (no window value is NaN: SPEC 13 reads NaN as null, so NaN
#: is free to mark them, and a float result needs no mask).
Result = pl.Series | np.ndarray


def _masked(values: np.ndarray | pl.Series, ok: np.ndarray) -> pl.Series:
    """``values`` where ``ok``, null elsewhere."""
    s = values if isinstance(values, pl.Series) else pl.Series(values)
    if ok.all():
        return s
    return pl.select(pl.when(pl.Series(ok)).then(s)).to_series()


def _nan_null(values: np.ndarray) -> pl.Series:
    """A float array whose NaNs are nulls as a Series."""
    return pl.Series(values).fill_nan(None)


class Group:
    """The events of one source, sorted by (key, time, log order), and the ``[lo, hi)``
    ranges of the rows' windows over them, with the rows in code order."""

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
        t_q = t_q_s.fill_null(0).to_numpy()
        self.source = source
        self.n = events.height
        self._raw = events
        self._masks: dict[object, np.ndarray] = {}
        self._values: dict[object, pl.Series] = {}
        self._cache: dict[object, object] = {}
        overs = sorted({min(w.over, _WIDEST_OVER) for w in windows if w.over is not None})
        if self.n == 0:
            return
        coord = _TimeCoords(t_e, n_kids)
        # One int64 code per (key, time): the events of a key are one run of codes, in time
        # order. The sort is by code, then by log order among equal codes.
        code_e = kid_e * coord.span + coord(t_e)
        self.order = _stable_argsort(code_e)
        code_e = code_e[self.order]
        self.t_e = t_e[self.order]
        self._kid_unsorted = kid_e
        lifetime = any(w.over is None for w in windows)
        self.lo: dict[object, np.ndarray] = {}
        if rows.height == self.n and live.all() and np.array_equal(kid_q, kid_e) \
                and np.array_equal(t_q, t_e):
            # The rows are the events (a backfill): they are in code order once sorted like
            # them, and a row's ``hi`` is the first event of its (key, time) run.
            del kid_q, t_q, live  # the events' own arrays from here on (memory at 10M+)
            self.rows_order = self.order
            tied = np.empty(self.n, dtype=bool)
            tied[0] = False
            np.equal(code_e[1:], code_e[:-1], out=tied[1:])
            hi = np.arange(self.n, dtype=np.int64)
            hi[tied] = 0
            self.hi = np.maximum.accumulate(hi, out=hi)  # the start of each (key, time) run
            del tied
            self.t_q = self.t_e
            base = code_e - coord(self.t_e)  # key id * span
            for o in overs:  # sorted probes: ``t - over`` keeps the order within a key
                probe = coord(self.t_e - o)
                probe += base
                self.lo[o] = _search(code_e, probe)
                del probe
            if lifetime:
                self.lo[None] = _search(code_e, base)
            return
        # Rows in code order: searching with sorted probes is ~10x faster than in row order,
        # whose random probes miss the cache at every step of the binary search; one sort of
        # the rows serves every bound.
        base = np.where(live, kid_q * coord.span, 0)
        t_q = np.where(live, t_q, 0)
        code_hi = base + np.where(live, coord(t_q), 0)
        self.rows_order = np.argsort(code_hi)
        live, base, t_q = live[self.rows_order], base[self.rows_order], t_q[self.rows_order]
        self.t_q = t_q

        def first_at(code: np.ndarray) -> np.ndarray:
            return np.where(live, _search(code_e, code), 0)

        self.hi = first_at(code_hi[self.rows_order])
        for o in overs:
            self.lo[o] = first_at(base + np.where(live, coord(t_q - o), 0))
        if lifetime:
            self.lo[None] = first_at(base)

    def release(self) -> None:
        """Drop the sorted events, their ranges and every cached stream (``to_rows`` needs
        only the rows' order)."""
        self._cache.clear()
        self._values.clear()
        self._masks.clear()
        self.lo.clear()
        del self.hi, self.t_e, self.t_q, self.order, self._kid_unsorted, self._raw

    def to_rows(self, results: list[Result]) -> list[pl.Series]:
        """Results computed in code order, in the caller's row order, as Series (emptying
        ``results``). Up to ``_FRAME_GATHER_ROWS`` rows, one frame gather for all of them
        (Polars gathers the columns in parallel); beyond, one column at a time, each
        released once gathered, so that the peak memory holds one extra column."""
        inverse = np.empty(len(self.rows_order), dtype=np.int64)
        inverse[self.rows_order] = np.arange(len(self.rows_order))
        del self.rows_order
        floats = [isinstance(r, np.ndarray) and r.dtype == np.float64 for r in results]
        if len(inverse) <= _FRAME_GATHER_ROWS:
            frame = pl.DataFrame([r.alias(f"c{i}") if isinstance(r, pl.Series)
                                  else pl.Series(f"c{i}", r) for i, r in enumerate(results)])
            results.clear()
            gathered = frame[pl.Series(inverse)]
            del frame
            return [gathered.to_series(i).fill_nan(None) if f else gathered.to_series(i)
                    for i, f in enumerate(floats)]
        out = []
        index = pl.Series(inverse)
        for i, f in enumerate(floats):
            r, results[i] = results[i], None  # type: ignore[call-overload]
            if isinstance(r, pl.Series):
                out.append(r.gather(index))
            else:
                got = r[inverse]
                del r
                out.append(_nan_null(got) if f else pl.Series(got))
        results.clear()
        return out

    @property
    def kid_e(self) -> np.ndarray:
        """The key id of every event, in sorted order (only ``count_distinct`` needs it)."""
        got = self._cache.get("kid_e")
        if got is None:
            got = self._cache["kid_e"] = self._kid_unsorted[self.order]
        return got  # type: ignore[return-value]

    # ------------------------------------------------------------------ streams
    def _range(self, w: ir.Window) -> tuple[np.ndarray, np.ndarray]:
        return self.lo[None if w.over is None else min(w.over, _WIDEST_OVER)], self.hi

    def column(self, name: str) -> pl.Series:
        """A field of the events, in sorted order (gathered once, when first needed)."""
        key = ("column", name)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = self._raw[name].gather(pl.Series(self.order))
        return got  # type: ignore[return-value]

    def mask(self, w: ir.Window) -> np.ndarray:
        """Which events pass the window's ``where=`` (every event without one)."""
        key = None if w.where is None else w.where.key()
        got = self._masks.get(key)
        if got is None:
            if w.where is None:
                got = np.ones(self.n, dtype=bool)
            else:
                frame = pl.DataFrame([self.column(f) for f in self.source.fields])
                got = _predicate(frame, self.source, w.where)
            self._masks[key] = got
        return got

    def _stream(self, w: ir.Window) -> tuple[object, ...]:
        return (w.field, None if w.where is None else w.where.key())

    def values(self, w: ir.Window) -> pl.Series:
        """The aggregated field, canonical (NaN null, -0.0 as 0.0), null where the event
        fails ``where=``."""
        assert w.field is not None
        key = self._stream(w)
        got = self._values.get(key)
        if got is None:
            if self._raw[w.field].dtype == pl.Float64:
                s = _nan_null(self.floats(w))
            else:
                s = self.column(w.field)
            if w.where is not None and s.dtype != pl.Float64:
                s = _masked(s, self.mask(w))
            got = self._values[key] = s
        return got

    def floats(self, w: ir.Window) -> np.ndarray:
        """A float field as numpy, canonical, with NaN for null (and for a failed
        ``where=``)."""
        key = ("floats", *self._stream(w))
        got = self._cache.get(key)
        if got is None:
            # numpy's gather is ~5x faster than a Series gather of a nullable column
            arr = self._raw[w.field].to_numpy()[self.order]  # nulls are NaN: null, as NaN
            arr[arr == 0.0] = 0.0  # -0.0 counts as 0.0
            if w.where is not None:
                arr[~self.mask(w)] = np.nan
            got = self._cache[key] = arr
        return got  # type: ignore[return-value]

    def valid(self, w: ir.Window) -> np.ndarray:
        """Events that count for the aggregate: passing ``where=``, with a non-null field."""
        if w.field is None:
            return self.mask(w)
        key = ("valid", *self._stream(w))
        got = self._cache.get(key)
        if got is None:
            if self._raw[w.field].dtype == pl.Float64:
                got = ~np.isnan(self.floats(w))
            else:
                got = self.values(w).is_not_null().to_numpy()
            self._cache[key] = got
        return got  # type: ignore[return-value]

    def _count(self, w: ir.Window) -> np.ndarray:
        lo, hi = self._range(w)
        if w.field is None and w.where is None:  # every event counts: no prefix to gather
            return hi - lo
        key = ("count", self._stream(w), w.over)
        got = self._cache.get(key)
        if got is None:
            p = _prefix(self.valid(w))
            got = self._cache[key] = p[hi] - p[lo]
        return got  # type: ignore[return-value]

    # ------------------------------------------------------------------ aggregates
    def count(self, w: ir.Window) -> Result:
        """``count``: events (or non-null values) in each row's window."""
        return self._count(w)

    def sum(self, w: ir.Window) -> Result:
        """``sum``: exact; int sums outside int64 and windows with +inf and -inf are null."""
        total = self._total(w)
        if isinstance(total, pl.Series):  # int
            fits = (total >= exact.INT64_MIN) & (total <= exact.INT64_MAX)
            return pl.select(pl.when(fits).then(total)).to_series().cast(pl.Int64)
        return total

    def mean(self, w: ir.Window) -> Result:
        """``mean``: the rounded exact sum divided by the count (one IEEE division, as
        ``exact.mean``; 0 / 0 and a null sum give NaN, read as null)."""
        total = self._total(w)
        if isinstance(total, pl.Series):
            total = total.cast(pl.Float64).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / self._count(w).astype(np.float64)

    def _total(self, w: ir.Window) -> pl.Series | np.ndarray:
        """The exact window sums, shared by ``sum`` and ``mean``: an Int128 Series for an
        int field, else floats (correctly rounded; NaN where the window holds +inf and
        -inf)."""
        key = ("total", self._stream(w), w.over)
        got = self._cache.get(key)
        if got is not None:
            return got  # type: ignore[return-value]
        lo, hi = self._range(w)
        if self._raw[w.field].dtype == pl.Int64:
            got = _window_diff(self.values(w).fill_null(0).cast(pl.Int128), lo, hi)
        else:
            vals = self.floats(w)
            inf = np.isinf(vals)
            if inf.any():
                finite = np.where(inf, 0.0, vals)
                pinf, ninf = _prefix(vals == np.inf), _prefix(vals == -np.inf)
                n_pos, n_neg = pinf[hi] - pinf[lo], ninf[hi] - ninf[lo]
            else:
                finite, n_pos = vals, None
            got = _exact_float_sums(finite, lo, hi)  # NaN (null) positions skipped there
            if n_pos is not None:
                got = np.where(n_pos > 0, np.inf, np.where(n_neg > 0, -np.inf, got))
                got[(n_pos > 0) & (n_neg > 0)] = np.nan
        self._cache[key] = got
        return got

    def min(self, w: ir.Window) -> Result:
        """``min``: the smallest valid value in each window (range-minimum queries)."""
        return self._extreme(w, largest=False)

    def max(self, w: ir.Window) -> Result:
        """``max``: the largest valid value in each window."""
        return self._extreme(w, largest=True)

    def _extreme(self, w: ir.Window, largest: bool) -> Result:
        lo, hi = self._range(w)
        has = self._count(w) > 0
        if self._raw[w.field].dtype == pl.Float64:
            # nulls (NaN) become the sentinel; an empty window's sentinel becomes NaN, null
            arr = np.nan_to_num(self.floats(w), nan=-np.inf if largest else np.inf,
                                posinf=np.inf, neginf=-np.inf)
            best = _range_extreme(arr, lo, hi, largest)
            return np.where(has, best, np.nan)
        values = self.values(w)
        valid = self.valid(w)
        if values.dtype == pl.String:
            order = values.drop_nulls().unique().sort()
            codes = pl.select(pl.lit(values).replace_strict(
                order, pl.Series(np.arange(len(order)), dtype=pl.Int64), default=None)
            ).to_series().fill_null(0).to_numpy().astype(np.int64)
        else:
            codes = values.to_physical().cast(pl.Int64).fill_null(0).to_numpy()
        info = np.iinfo(np.int64)
        arr = np.where(valid, codes, info.min if largest else info.max)
        best = _range_extreme(arr, lo, hi, largest)
        if values.dtype == pl.String:
            if not len(order):  # no valid string anywhere: every window is empty of values
                return pl.Series([None] * len(lo), dtype=pl.String)
            got = order.gather(pl.Series(np.where(has, best, 0).astype(np.int64)))
        else:
            got = pl.Series(np.where(has, best, 0)).cast(values.to_physical().dtype) \
                .cast(values.dtype)
        return _masked(got, has)

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
        return _masked(values.gather(idx), ok)

    def since_last(self, w: ir.Window) -> Result:
        """The gap from each row's time back to the latest event of its window (µs)."""
        lo, hi = self._range(w)
        prev = _prev_valid(self.mask(w))
        j = prev[hi]
        ok = j >= lo
        gap = self.t_q - self.t_e[np.where(ok, j, 0)]
        return _masked(gap, ok)  # µs; compute() casts to Duration

    def count_distinct(self, w: ir.Window) -> Result:
        """``count_distinct``: values whose previous occurrence (same key, same value) is
        before the window, counted over the window's positions."""
        lo, hi = self._range(w)
        values = self.values(w)
        valid = self.valid(w)
        frame = pl.DataFrame({"kid": self.kid_e, "v": values,
                              "pos": np.arange(self.n, dtype=np.int64)})
        prev = frame.select(
            pl.when(pl.col("v").is_not_null())
            .then(pl.col("pos").shift(1).over(["kid", "v"]).fill_null(-1))
            .otherwise(self.n)).to_series().to_numpy()
        below = _count_below(prev, lo, hi)
        before = _prefix(valid)
        return below - before[lo]


# ---------------------------------------------------------------------------------- keys

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
    kid_e = ev_keys.join(ids, on=names, how="left", maintain_order="left")["__fd_kid"]
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
        out = np.clip(t, self.tmin, self.tmax + 1)
        out -= self.tmin  # in place: one temporary, not two
        return out


#: Probes per slice of a sorted search (``_search``).
_SEARCH_CHUNK = 1 << 12


def _search(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``np.searchsorted(a, v)`` (left) for sorted ``a`` and ``v`` (any order is correct;
    sorted is fast): each chunk of probes searches only the slice of ``a`` between its first
    probe's position and the next chunk's, which stays in cache (20-35% faster on 1M-10M
    events than one search over the whole array)."""
    if len(v) <= 4 * _SEARCH_CHUNK or not (v[1:] >= v[:-1]).all():
        return np.searchsorted(a, v)
    bounds = np.append(np.searchsorted(a, v[::_SEARCH_CHUNK]), len(a)).tolist()
    out = np.empty(len(v), dtype=np.int64)
    for j in range(len(bounds) - 1):
        lo, hi = bounds[j], bounds[j + 1]
        part = slice(j * _SEARCH_CHUNK, (j + 1) * _SEARCH_CHUNK)
        out[part] = np.searchsorted(a[lo:hi], v[part])
        out[part] += lo
    return out


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


# ---------------------------------------------------------------------------------- kernels


def _predicate(events: pl.DataFrame, source: ir.Source, where: ir.Expr) -> np.ndarray:
    """A window's ``where=`` over the events, by the batch backend's own lowering."""
    program = ir.BoundProgram(dict(source.fields), {}, [],
                              [ir.BoundFeature("__fd_where", where, where.type)], [])
    plan = PolarsLowering(program).plan()
    got = plan.apply(events.lazy(), []).collect()["__fd_where"]
    if got.dtype != pl.Boolean:  # a null predicate on every event
        return np.zeros(events.height, dtype=bool)
    return got.fill_null(False).to_numpy()


def _prefix(flags: np.ndarray) -> np.ndarray:
    """Exclusive prefix counts: ``out[i]`` = how many of ``flags[:i]`` are true."""
    out = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=out[1:])
    return out


#: Rows per chunk of Int128 gathers: three 16-byte temporaries per row would be the largest
#: allocations of a big transform (~480 MB at 10M rows) if done at once.
_GATHER_ROWS = 1 << 20


def _window_diff(values: pl.Series, lo: np.ndarray, hi: np.ndarray) -> pl.Series:
    """Per row, the sum of ``values[lo:hi]`` by exclusive prefix sums (in the values' dtype)."""
    prefix = pl.concat([pl.Series([0], dtype=values.dtype), values.cum_sum()])
    parts = [prefix.gather(pl.Series(hi[a:a + _GATHER_ROWS]))
             - prefix.gather(pl.Series(lo[a:a + _GATHER_ROWS]))
             for a in range(0, len(hi), _GATHER_ROWS)]
    return pl.concat(parts) if parts else prefix.clear()


def _exact_float_sums(vals: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
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
        scale = _lowest_bit_scale(vals[(vals != 0.0) & ~np.isnan(vals)])
    if width + scale <= 126 and -1023 <= scale <= 1022:
        # the leading 0.0 makes the cumulative sum the exclusive prefix (no Int128 concat)
        padded = np.empty(len(vals) + 1, dtype=np.float64)
        padded[0] = 0.0
        np.multiply(vals, 2.0**scale, out=padded[1:])  # exact: a power of two
        padded[np.isnan(padded)] = 0.0  # the positions that do not count
        prefix = pl.Series(padded).cast(pl.Int128).cum_sum()
        del padded
        out = np.empty(len(hi), dtype=np.float64)
        for a in range(0, len(hi), _GATHER_ROWS):  # Int128 temporaries: a chunk at a time
            b = a + _GATHER_ROWS
            total = (prefix.gather(pl.Series(hi[a:b])) - prefix.gather(pl.Series(lo[a:b]))) \
                .cast(pl.Float64)  # rounds once, to nearest even
            out[a:b] = total.to_numpy()
        out *= 2.0**-scale  # exact: a power of two, no subnormal
        return out
    # The values span more than Int128 holds: exact Python integers (slower, as exact).
    prefix = [0]
    acc = 0
    for x in vals.tolist():
        acc += exact.scaled(x) if x and x == x else 0  # x != x: NaN, a skipped position
        prefix.append(acc)
    return np.array([exact.float_of_scaled(prefix[h] - prefix[lw])
                     for lw, h in zip(lo.tolist(), hi.tolist(), strict=True)],
                    dtype=np.float64)


def _lowest_bit_scale(nonzero: np.ndarray) -> int:
    """The smallest ``k`` with every value times ``2**k`` an integer."""
    mant, expo = np.frexp(nonzero)  # x = mant * 2**expo, 0.5 <= |mant| < 1
    m = np.abs((mant * 2.0**53).astype(np.int64))  # |x| = m * 2**(expo - 53), exactly
    _, low_exp = np.frexp((m & -m).astype(np.float64))  # m's lowest set bit is 2**(low_exp-1)
    return int(-(expo + low_exp).min()) + 54


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


#: Rows per chunk of range-extreme queries, and the most elements a chunk's sparse table may
#: hold (32 MiB of float64): the memory stays bounded whatever the number of events.
_CHUNK_ROWS = 1 << 16
_TABLE_BUDGET = 1 << 22


def _range_extreme(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray, largest: bool
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
    for r0 in range(0, len(lo), _CHUNK_ROWS):
        a, b, lv = lo[r0:r0 + _CHUNK_ROWS], hi[r0:r0 + _CHUNK_ROWS], level[r0:r0 + _CHUNK_ROWS]
        live = lv >= 0
        if not live.any():
            continue
        first, stop = int(a[live].min()), int(b[live].max())
        width, top = stop - first, int(lv.max())
        if (top + 1) * width > _TABLE_BUDGET:
            out[r0:r0 + len(a)] = _extreme_by_level(arr[first:stop], np.where(live, a - first, 0),
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


def _extreme_by_level(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: np.ndarray,
                      pick: np.ufunc) -> np.ndarray:
    """``_range_extreme`` one sparse-table level at a time (two levels in memory), each
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
