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
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from featuredsl.functions.isotext import TS_RE
from featuredsl.functions.temporal_ops import TS_MAX_US, TS_MIN_US

_DIM = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_ZERO, _NINE = ord("0"), ord("9")


_WIDTH = 29  # bytes read from a row's start: the longest body (a date, a time, 9 digits)
_TAIL = 6  # bytes read from a row's end: the longest offset (+HH:MM)


def _byte_rows(s: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(head, tail, length): ``head[k]`` is byte ``k`` of every row and ``tail[j]`` byte
    ``length - 6 + j`` (0 outside the row, or for null), as uint8 matrices whose rows are
    contiguous, and each row's length in bytes."""
    import pyarrow as pa

    n = len(s)
    arr = s.cast(pl.String).to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = pa.concat_arrays(arr.chunks) if arr.num_chunks else pa.array([], pa.large_string())
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    _, off_buf, data_buf = arr.buffers()
    if off_buf is None or data_buf is None or n == 0:
        zero = np.zeros(n, dtype=np.int64)
        return np.zeros((_WIDTH, n), np.uint8), np.zeros((_TAIL, n), np.uint8), zero
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    length = np.diff(offsets)
    if arr.null_count:
        length = np.where(s.is_null().to_numpy(), 0, length)
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

    def __init__(self, s: pl.Series) -> None:
        m, e, length = _byte_rows(s)
        n = len(s)
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
    day number (since 1970-01-01) of the month's first day and its number of days, 0 for
    year 0 and month 0 (no such month: every day fails the ``d <= length`` check). A table
    lookup per row replaces the leap-year and day-number arithmetic (integer divisions)."""
    y = np.repeat(np.arange(10000, dtype=np.int64), 13)
    mo = np.tile(np.arange(13, dtype=np.int64), 10000)
    real = (y >= 1) & (mo >= 1)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    length = np.where(real, _DIM[np.clip(mo, 1, 12) - 1] + (leap & (mo == 2)), 0)
    first = np.where(real, _days_from_civil(y, np.clip(mo, 1, 12), np.ones_like(y)), 0)
    return first.astype(np.int32), length.astype(np.int8)


_FIRST: np.ndarray | None = None
_LENGTH: np.ndarray | None = None


def _calendar(y: np.ndarray, mo: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid, days since 1970-01-01) of 4-digit years, 2-digit months and days (0..99)."""
    global _FIRST, _LENGTH
    if _FIRST is None or _LENGTH is None:
        _FIRST, _LENGTH = _month_tables()
    idx = y.astype(np.int32) * 13 + np.where(mo <= 12, mo, 0).astype(np.int32)
    valid = (d >= 1) & (d <= _LENGTH[idx])
    return valid, _FIRST[idx].astype(np.int64) + d - 1


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; exact
    integer arithmetic, floor division)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _column(name: str, values: np.ndarray, ok: np.ndarray) -> pl.Series:
    import pyarrow as pa

    arr = pa.array(values.astype(np.int64, copy=False), type=pa.int64(), mask=~ok)
    out = pl.from_arrow(arr)
    assert isinstance(out, pl.Series)
    return out.alias(name)


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
            a, b = m.span(g)  # int32 holds every field (9 digits at most: < 10**9)
            v = digits[a].astype(np.int32)
            for k in range(a + 1, b):
                v = v * 10 + digits[k]
            return v

        zero = np.zeros(self.n, dtype=np.int32)
        y, mo, d = num(1), num(2), num(3)
        hour = num(4) if m[4] else zero
        mi = num(5) if m[5] else zero
        ss = num(6) if m[6] else zero
        frac = num(7).astype(np.int64) * 10 ** (9 - len(m[7])) if m[7] else zero
        ok, days = _calendar(y, mo, d)
        ok &= (hour <= 23) & (mi <= 59) & (ss <= 59)
        offset_us: np.ndarray | int = 0
        if m[9]:
            oh = num(10)
            om = num(11) if m[11] else zero
            ok &= (oh <= 23) & (om <= 59)
            offset_us = (oh * 3600 + om * 60).astype(np.int64) \
                * (1_000_000 if m[9] == "+" else -1_000_000)
        self.ok = ok
        self.has_offset = np.full(self.n, bool(m[8] or m[9]))
        self.days = days
        # seconds of the day fit int32; the µs sum is int64
        second = hour * 3600 + mi * 60 + ss
        self.us = ((self.days * 86_400 + second) * 1_000_000 + frac // 1000 - offset_us)
        self.midnight = (hour == 0) & (mi == 0) & (ss == 0) & (frac == 0)


def _template(s: pl.Series) -> _Template | None:
    """The fields by :class:`_Template`, or None if the texts do not all share one shape."""
    import pyarrow as pa

    if not len(s) or s.null_count():
        return None
    first = s[0]
    m = TS_RE.fullmatch(first)
    if m is None or not first.isascii():
        return None
    width = len(first)
    arr = s.cast(pl.String).to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = pa.concat_arrays(arr.chunks)
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset:arr.offset + len(s) + 1]
    if offsets[-1] - offsets[0] != width * len(s) or \
            not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(data_buf, dtype=np.uint8)
    rows = np.ascontiguousarray(data[offsets[0]:offsets[-1]].reshape(len(s), width).T)
    lo = np.array([_ZERO if c.isdigit() else ord(c) for c in first], dtype=np.uint8)
    span = np.array([9 if c.isdigit() else 0 for c in first], dtype=np.uint8)
    same = ((rows - lo[:, None]) <= span[:, None]).all()  # uint8 wraps below lo
    return _Template(rows, m) if same else None


class _Merged:
    """The fields of a column parsed in parts (rows grouped by text length), put back in
    row order."""

    def __init__(self, n: int, parts: list[tuple[np.ndarray, Fields | _Template]]) -> None:
        self.ok = np.zeros(n, dtype=bool)
        self.has_offset = np.zeros(n, dtype=bool)
        self.midnight = np.zeros(n, dtype=bool)
        self.days = np.zeros(n, dtype=np.int64)
        self.us = np.zeros(n, dtype=np.int64)
        for rows, f in parts:
            for name in ("ok", "has_offset", "midnight", "days", "us"):
                getattr(self, name)[rows] = getattr(f, name)


_MAX_GROUPS = 8  # more distinct text lengths than this: one general pass is cheaper


def fields(s: pl.Series) -> Fields | _Template | _Merged:
    """The parsed fields of a String column: one shape read at fixed positions; else, for a
    few shapes (one per text length, e.g. two writers' formats), each length's rows by their
    own shape; else the general walk of the grammar."""
    one = _template(s)
    if one is not None:
        return one
    if len(s) < 1024 or s.null_count():
        return Fields(s)
    lengths = s.str.len_bytes().to_numpy()
    kinds = np.unique(lengths)
    if len(kinds) > _MAX_GROUPS:
        return Fields(s)
    parts: list[tuple[np.ndarray, Fields | _Template]] = []
    for width in kinds:
        rows = np.flatnonzero(lengths == width)
        part = s.gather(rows)
        parts.append((rows, _template(part) or Fields(part)))
    return _Merged(len(s), parts)


def timestamps(s: pl.Series) -> pl.Series:
    """ISO-8601 texts to ``Datetime("us", "UTC")``; null where they do not parse."""
    f = fields(s)
    ok = f.ok & (f.us >= TS_MIN_US) & (f.us <= TS_MAX_US)
    return _column(s.name, f.us, ok).cast(pl.Datetime("us", "UTC"))


def dates(s: pl.Series) -> pl.Series:
    """Date texts (``YYYY-MM-DD``, or a timestamp text of exactly midnight without an
    offset) to ``Date``; null otherwise."""
    f = fields(s)
    ok = f.ok & f.midnight & ~f.has_offset
    return _column(s.name, f.days, ok).cast(pl.Int32).cast(pl.Date)
