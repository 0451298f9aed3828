"""The ISO-8601 grammar of :mod:`featuredsl.functions.isotext` on a whole String column at
once, in NumPy on the Arrow bytes: the batch side's parser (the row side matches the regex).

Why not the regex: ``str.extract_groups`` with the grammar's 11 optional groups cost about
11 s per million rows here (the struct is re-evaluated for every field read from it), 100x the
rest of a typical transform. This reads the column's Arrow buffers (offsets and UTF-8 bytes,
one copy), then walks the grammar with a fixed number of vectorized byte gathers: the date,
``T``/space, ``HH:MM``, optional ``:SS``, an optional ``.`` and 1..9 digits, then an offset
that must end the text exactly (``Z``, ``+HH``, ``+HHMM``, ``+HH:MM``). Every check is the
regex's, and the calendar checks are ``datetime``'s (month 1..12, day within the month,
proleptic Gregorian leap years, hour <= 23, minute and second <= 59, offset hours <= 23 and
minutes <= 59), so a text gives the same value, or none, on both sides; tests/test_make_time.py
and the input tests compare the two on random and edge texts. A byte >= 0x80 (any non-ASCII
character) is neither a digit nor a separator, so non-ASCII digits never parse.

The column is parsed in chunks of :data:`_CHUNK` rows on a thread pool, each chunk by its
fastest exact route: one shape read at fixed positions (:class:`_Template`), else the general
walk (:class:`Fields`); a column of several text lengths, or with nulls, is first split by
length (:func:`_groups`) so that each length's rows can take the first route.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pyarrow as pa

from featuredsl.functions.isotext import TS_RE
from featuredsl.functions.temporal_ops import TS_MAX_US, TS_MIN_US

_DIM = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_ZERO, _NINE = ord("0"), ord("9")


_WIDTH = 29  # bytes read from a row's start: the longest body (a date, a time, 9 digits)
_TAIL = 6  # bytes read from a row's end: the longest offset (+HH:MM)


def _byte_rows(arr: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(head, tail, length): ``head[k]`` is byte ``k`` of every row and ``tail[j]`` byte
    ``length - 6 + j`` (0 outside the row, or for null), as uint8 matrices whose rows are
    contiguous, and each row's length in bytes."""
    n = len(arr)
    _, off_buf, data_buf = arr.buffers()
    if off_buf is None or data_buf is None or n == 0:
        zero = np.zeros(n, dtype=np.int64)
        return np.zeros((_WIDTH, n), np.uint8), np.zeros((_TAIL, n), np.uint8), zero
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    length = np.diff(offsets)
    if arr.null_count:
        length = np.where(arr.is_null().to_numpy(zero_copy_only=False), 0, length)
    head = np.zeros((_WIDTH, n), dtype=np.uint8)
    tail = np.zeros((_TAIL, n), dtype=np.uint8)
    width = int(length[0])
    if _TAIL <= width <= 35 and (length == width).all():
        # every text as long as the first (one writer's format): the bytes are one (n, width)
        # block, read with transposing copies instead of a gather per byte
        block = data[offsets[0]:offsets[0] + n * width].reshape(n, width)
        head[:min(width, _WIDTH)] = block[:, :_WIDTH].T
        tail[:] = block[:, width - _TAIL:].T
        return head, tail, length
    padded = np.concatenate([np.zeros(_TAIL, np.uint8), data, np.zeros(_WIDTH, np.uint8)])
    start = offsets[:-1] + _TAIL
    for k in range(_WIDTH):
        head[k] = np.where(k < length, padded[start + k], 0)
    for j in range(_TAIL):
        at = length - _TAIL + j
        tail[j] = np.where(at >= 0, padded[start + at], 0)
    return head, tail, length


def _two(m: np.ndarray, k: int) -> np.ndarray:
    """The two-digit number at row k of a byte matrix (garbage unless both are digits)."""
    return (m[k].astype(np.int64) - _ZERO) * 10 + (m[k + 1].astype(np.int64) - _ZERO)


class Fields:
    """The parsed fields of every row of a String column (``ok`` false where the grammar or
    the calendar rejects the text, or the value is null).

    The offset, when there is one, ends the text, so it is read from the last 6 bytes:
    ``Z``, ``+HH``, ``+HHMM`` or ``+HH:MM`` there (a sign or ``Z`` can appear nowhere else
    after the date, so this split is the regex's); what precedes it, the body, must be a
    date, or a date and ``T``/space and ``HH:MM`` with optional ``:SS`` and ``.f{1,9}``.
    """

    def __init__(self, arr: pa.LargeStringArray) -> None:
        m, e, length = _byte_rows(arr)
        n = len(arr)
        dig = (m - np.uint8(_ZERO)) <= 9  # uint8 wraps: bytes below '0' come out large
        edig = (e - np.uint8(_ZERO)) <= 9
        ok = (length >= 10) & (length <= 35)
        ok &= dig[0] & dig[1] & dig[2] & dig[3] & dig[5] & dig[6] & dig[8] & dig[9]
        ok &= (m[4] == ord("-")) & (m[7] == ord("-"))
        date_only = length == 10
        timed = ok & (length >= 16) & ((m[10] == ord("T")) | (m[10] == ord(" "))) \
            & dig[11] & dig[12] & (m[13] == ord(":")) & dig[14] & dig[15]
        ok &= date_only | timed

        def is_sign(c: np.ndarray) -> np.ndarray:
            return (c == ord("+")) | (c == ord("-"))

        z = timed & (e[5] == ord("Z"))
        hh_mm = timed & is_sign(e[0]) & edig[1] & edig[2] & (e[3] == ord(":")) & edig[4] \
            & edig[5]
        hhmm = timed & is_sign(e[1]) & edig[2] & edig[3] & edig[4] & edig[5]
        hh = timed & is_sign(e[3]) & edig[4] & edig[5]
        tail_len = np.where(z, 1, np.where(hh_mm, 6, np.where(hhmm, 5, np.where(hh, 3, 0))))
        body = length - tail_len
        has_s = timed & (body >= 19) & (m[16] == ord(":")) & dig[17] & dig[18]
        dot = has_s & (body >= 21) & (m[19] == ord("."))
        ok &= date_only | (body == 16) | (has_s & (body == 19)) | (dot & (body <= 29))
        frac = np.zeros(n, dtype=np.int64)
        for k in range(20, 29):  # the fraction's digits: bytes 20 .. body - 1
            inside = dot & (k < body)
            ok &= ~inside | dig[k]
            frac = np.where(inside, frac * 10 + (m[k].astype(np.int64) - _ZERO), frac)
        count = np.where(dot, body - 20, 0)
        numbered = hh_mm | hhmm | hh
        oh = np.where(hh_mm, _two(e, 1), np.where(hhmm, _two(e, 2), _two(e, 4)))
        om = np.where(hh_mm | hhmm, _two(e, 4), 0)
        sign_char = np.where(hh_mm, e[0], np.where(hhmm, e[1], e[3]))
        self.has_offset = z | numbered
        # values (garbage where ok is false; masked by the callers)
        y = _two(m, 0) * 100 + _two(m, 2)
        mo, d = _two(m, 5), _two(m, 8)
        hour = np.where(timed, _two(m, 11), 0)
        mi = np.where(timed, _two(m, 14), 0)
        ss = np.where(has_s, _two(m, 17), 0)
        valid, days = _calendar(np.clip(y, 0, 9999), np.clip(mo, 0, 99), d)
        ok &= valid
        ok &= (hour <= 23) & (mi <= 59) & (ss <= 59)
        ok &= ~numbered | ((oh <= 23) & (om <= 59))
        self.days = days
        frac_us = (frac * 10 ** np.clip(9 - count, 0, 9)) // 1000
        offset_us = (oh * 3600 + om * 60) * 1_000_000
        offset_us = np.where(numbered, np.where(sign_char == ord("-"), -offset_us, offset_us), 0)
        self.us = (self.days * 86_400_000_000 + hour * 3_600_000_000 + mi * 60_000_000
                   + ss * 1_000_000 + frac_us - offset_us)
        self.midnight = (hour == 0) & (mi == 0) & (ss == 0) & (frac == 0)
        self.ok = ok


def _month_tables() -> tuple[np.ndarray, np.ndarray]:
    """(first, length) indexed by ``year * 13 + month`` for years 0..9999, months 0..12: the
    day number (since 1970-01-01) of the day before the month's first (so ``first + d`` is
    day ``d``'s) and its number of days, 0 for year 0 and month 0 (no such month: every day
    fails the ``d <= length`` check). A table lookup per row replaces the leap-year and
    day-number arithmetic (integer divisions)."""
    y = np.repeat(np.arange(10000, dtype=np.int64), 13)
    mo = np.tile(np.arange(13, dtype=np.int64), 10000)
    real = (y >= 1) & (mo >= 1)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    length = np.where(real, _DIM[np.clip(mo, 1, 12) - 1] + (leap & (mo == 2)), 0)
    first = np.where(real, _days_from_civil(y, np.clip(mo, 1, 12), np.ones_like(y)), 0)
    return (first - 1).astype(np.int32), length.astype(np.int8)


_FIRST: np.ndarray | None = None
_LENGTH: np.ndarray | None = None


def _calendar(y: np.ndarray, mo: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid, days since 1970-01-01) of 4-digit years, 2-digit months and days (0..99)."""
    global _FIRST, _LENGTH
    if _FIRST is None or _LENGTH is None:
        _FIRST, _LENGTH = _month_tables()
    # intp indices and take(mode="clip") gather about twice as fast as int32 fancy indexing
    idx = y.astype(np.intp) * 13
    idx += np.where(mo <= 12, mo, 0)
    valid = (d >= 1) & (d <= _LENGTH.take(idx, mode="clip"))
    days = _FIRST.take(idx, mode="clip").astype(np.int64)  # the day before the 1st
    days += d
    return valid, days


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; exact
    integer arithmetic, floor division)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


class _Template:
    """The fields when every text has the first one's shape (the same length, digits where
    it has digits and the same other bytes: one writer's format, the usual case).

    The grammar only tells digits apart as a class and every other byte literally, so texts
    of one shape match the regex alike: it is matched once, on the first text, and its groups'
    positions are read from every row. Only the calendar checks remain per row.
    """

    def __init__(self, rows: np.ndarray, m: re.Match[str]) -> None:
        self.n = rows.shape[1]
        digits = rows - np.uint8(_ZERO)  # 0..9 wherever the template has a digit

        def num(g: int) -> np.ndarray:
            """Group g's number: uint8 for two digits (at most 99), else int32 (9 digits at
            most: < 10**9). Narrow arrays are what makes this fast: most fields are 2 digits
            and their arithmetic and checks then move a quarter of the bytes."""
            a, b = m.span(g)
            if b - a == 2:
                two = digits[a] * np.uint8(10)
                two += digits[a + 1]
                return two
            v = digits[a].astype(np.int32)
            for k in range(a + 1, b):
                v *= 10
                v += digits[k]
            return v

        y, mo, d = num(1), num(2), num(3)
        ok, self.days = _calendar(y, mo, d)
        # the time fields, None where the shape has none (0)
        self._hour = num(4) if m[4] else None
        self._minute = num(5) if m[5] else None
        self._second = num(6) if m[6] else None
        self._frac = num(7) if m[7] else None
        self._frac_scale = 10 ** (9 - len(m[7])) if m[7] else 1  # to nanoseconds
        for v, top in ((self._hour, 23), (self._minute, 59), (self._second, 59)):
            if v is not None:
                ok &= v <= top
        self._offset_s: np.ndarray | None = None
        if m[9]:
            oh = num(10)
            om = num(11) if m[11] else None
            ok &= oh <= 23
            offset = oh.astype(np.int32) * 3600
            if om is not None:
                ok &= om <= 59
                offset += om * np.int32(60)
            self._offset_s = offset if m[9] == "+" else -offset
        self.ok = ok
        self.has_offset = np.full(self.n, bool(m[8] or m[9]))

    @functools.cached_property
    def us(self) -> np.ndarray:
        """µs since the epoch (UTC), int64; garbage where ok is false."""
        second = np.zeros(self.n, dtype=np.int32)  # of the day, with the offset: fits int32
        for v, scale in ((self._hour, 3600), (self._minute, 60), (self._second, 1)):
            if v is not None:
                second += v * np.int32(scale) if scale != 1 else v
        if self._offset_s is not None:
            second -= self._offset_s
        us = self.days * 86_400
        us += second
        us *= 1_000_000
        if self._frac is not None:
            us += (self._frac.astype(np.int64) * self._frac_scale) // 1000
        return us

    @functools.cached_property
    def midnight(self) -> np.ndarray:
        """True where the time of day is 00:00:00 exactly (or there is none)."""
        at = np.ones(self.n, dtype=bool)
        for v in (self._hour, self._minute, self._second, self._frac):
            if v is not None:
                at &= v == 0
        return at


def _template(arr: pa.LargeStringArray) -> _Template | None:
    """The fields by :class:`_Template`, or None if the texts do not all share one shape."""
    if not len(arr) or arr.null_count:
        return None
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    width = int(offsets[1] - offsets[0])
    if offsets[-1] - offsets[0] != width * len(arr) or \
            not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(data_buf, dtype=np.uint8)
    return _shaped(_transposed(data[offsets[0]:offsets[-1]].reshape(len(arr), width)), len(arr))


def _transposed(block: np.ndarray) -> np.ndarray:
    """The (width, n) transpose of an (n, width) byte block, each row contiguous and
    padded with copies of the first text to a multiple of 8 bytes, so :func:`_shaped` can
    check 8 texts a word."""
    n, width = block.shape
    if n % 8 == 0:  # every full chunk: a plain transposing copy
        return np.ascontiguousarray(block.T)
    padded = np.empty((width, -(-n // 8) * 8), dtype=np.uint8)
    padded[:, :n] = block.T
    padded[:, n:] = block[:1].T
    return padded


_DIGITS = np.uint64(0x3030303030303030)
_BELOW_TEN = np.uint64(0x7676767676767676)  # + this sets a byte's high bit when it is >= 10
_NONZERO = np.uint64(0x7F7F7F7F7F7F7F7F)  # + this sets a byte's high bit when it is not 0
_HIGH = np.uint64(0x8080808080808080)


def _shaped(padded: np.ndarray, n: int) -> _Template | None:
    """The fields by :class:`_Template` of ``n`` texts given as a (width, n + padding) byte
    matrix from :func:`_transposed`, or None if they do not all share the first text's shape.

    The check reads 8 texts' bytes at a time as one uint64 (SWAR): XOR-ed with ``0`` where
    the first text has a digit, every byte must be below 10; XOR-ed with the first text's
    byte elsewhere, every byte must be 0. Adding 0x76 (resp. 0x7F) to a byte below 0x80 sets
    its high bit exactly when it is 10 or more (resp. not 0), with no carry into the next
    byte; OR-ing the byte itself catches those of 0x80 and up."""
    first = padded[:, 0].tobytes()
    if not first.isascii():
        return None
    m = TS_RE.fullmatch(first.decode("ascii"))
    if m is None:
        return None
    code = np.frombuffer(first, np.uint8)
    digit = (code - np.uint8(_ZERO)) <= 9
    spread = np.uint64(0x0101010101010101)
    pattern = np.where(digit, _DIGITS, code.astype(np.uint64) * spread).astype(np.uint64)
    limit = np.where(digit, _BELOW_TEN, _NONZERO).astype(np.uint64)
    words = padded.view(np.uint64)  # (width, padded n / 8): the padding repeats a good text
    x = words ^ pattern[:, None]
    bad = (x + limit[:, None]) | x
    same = not (np.bitwise_or.reduce(bad, axis=None) & _HIGH)
    return _Template(padded[:, :n], m) if same else None


#: Rows parsed at a time. Every temporary of a chunk (a few dozen int32/int64 arrays and the
#: transposed bytes) then stays in the L2 cache: 1M rows parse in about half the time of one
#: whole-column pass, which streams every temporary through main memory.
_CHUNK = 65_536
_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (the process that made it, the pool)


def _pool() -> ThreadPoolExecutor:
    """Threads that parse chunks side by side: NumPy releases the GIL inside its loops, so
    on 2 cores 1M rows parse in about 0.7 of the time of one thread (Polars, whose work this
    is, would use its whole pool too). Made again in a forked child, where the parent's
    threads do not exist."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(max(1, pl.thread_pool_size()),
                                                 thread_name_prefix="featuredsl-isotext"))
    return _POOL[1]


def fields(arr: pa.LargeStringArray) -> Fields | _Template:
    """The parsed fields of a text array: one shape read at fixed positions, else the
    general walk of the grammar."""
    return _template(arr) or Fields(arr)


def _groups(arr: pa.LargeStringArray) -> list[np.ndarray] | None:
    """The row numbers of the texts of each length: a column of several text lengths (a
    few writers' formats mixed row by row, fractions of varying length) or with nulls parses
    each length's rows by their own shape, and falls back to the general walk only for the
    chunks of a length whose texts differ in shape. Nulls, and lengths no text of the
    grammar has (below 10 or above 35 bytes), are in no group: they never parse. None when
    the column parses as it is: one length without nulls, or too few rows to bother."""
    n = len(arr)
    if n < 1024:
        return None
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    lengths = np.diff(offsets)
    if not arr.null_count and (lengths == lengths[0]).all():
        return None
    if arr.null_count:
        lengths = np.where(arr.is_null().to_numpy(zero_copy_only=False), 0, lengths)
    counts = np.bincount(np.where((lengths >= 10) & (lengths <= 35), lengths, 0), minlength=36)
    return [np.flatnonzero(lengths == w) for w in np.flatnonzero(counts[1:]) + 1]


def _texts(s: pl.Series) -> pa.LargeStringArray:
    """The column as one Arrow ``large_string`` array (offsets and bytes: one copy)."""
    arr = s.cast(pl.String).to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = pa.concat_arrays(arr.chunks) if arr.num_chunks else pa.array([], pa.large_string())
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    return arr


def _parse(s: pl.Series, value: Callable[[Fields | _Template],
                                         tuple[np.ndarray, np.ndarray]]) -> pa.Int64Array:
    """``value(fields)`` -> (int64 values, ok) of every chunk of the column, as one Int64
    array with nulls where ok is false."""
    arr = _texts(s)
    n = len(arr)
    values = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    groups = _groups(arr)
    # (texts, their row numbers in the column or None for all of them in order)
    parts = [(arr, None)] if groups is None else \
        [(arr.take(pa.array(rows)), rows) for rows in groups]
    chunks = [(texts, rows, start) for texts, rows in parts
              for start in range(0, len(texts), _CHUNK)]

    def chunk(texts: pa.LargeStringArray, rows: np.ndarray | None, start: int) -> None:
        v, k = value(fields(texts.slice(start, _CHUNK)))
        at = slice(start, start + len(v)) if rows is None else rows[start:start + len(v)]
        values[at] = v  # each chunk writes its own rows
        ok[at] = k

    if len(chunks) > 1:
        for _ in _pool().map(chunk, *zip(*chunks, strict=True)):
            pass
    elif chunks:
        chunk(*chunks[0])
    return pa.array(values, type=pa.int64(), mask=~ok)


def _series(name: str, arr: pa.Int64Array) -> pl.Series:
    out = pl.from_arrow(arr)
    assert isinstance(out, pl.Series)
    return out.alias(name)


def _instant(f: Fields | _Template) -> tuple[np.ndarray, np.ndarray]:
    return f.us, f.ok & (f.us >= TS_MIN_US) & (f.us <= TS_MAX_US)


def _day(f: Fields | _Template) -> tuple[np.ndarray, np.ndarray]:
    return f.days, f.ok & f.midnight & ~f.has_offset


def timestamps(s: pl.Series) -> pl.Series:
    """ISO-8601 texts to ``Datetime("us", "UTC")``; null where they do not parse."""
    return _series(s.name, _parse(s, _instant)).cast(pl.Datetime("us", "UTC"))


def dates(s: pl.Series) -> pl.Series:
    """Date texts (``YYYY-MM-DD``, or a timestamp text of exactly midnight without an
    offset) to ``Date``; null otherwise."""
    return _series(s.name, _parse(s, _day)).cast(pl.Int32).cast(pl.Date)
