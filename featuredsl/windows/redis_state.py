"""Window state on a Redis server: ``fitted.online_state("redis://host:port/db")``.

The same values as the in-process :class:`~featuredsl.windows.online.MemoryState`, bit for
bit, and the same eviction: events are validated by the same ``_SourceState.prepare``, and a
read builds a :class:`~featuredsl.windows.online.KeyLog` from the events it fetches and
finishes every window with the same :func:`~featuredsl.windows.online.read_group` (the
refusal of a read that would need an evicted event included). Only the storage differs.

Layout (``NS`` is the namespace: by default ``featuredsl:`` and a hash of the spec's text
and of its sources and windows, so two specs never read each other's state and every process
serving one spec shares it; see :func:`default_namespace`):

* ``NS:e:SOURCE:KEY`` -- a sorted set per (source, key) holding that key's events. ``KEY`` is
  the JSON array of the key fields (timestamps as µs, dates as days since 1970-01-01, floats
  with ``-0.0`` as ``0.0``), so any int64, any string (separators, quotes, non-ASCII) and
  multi-field keys are unambiguous. The **score** is the event time in µs since the epoch,
  exact as a double while ``|t| <= 2**53`` µs (years 1685 to 2255). The **member** is the
  event's sequence number as 8 big-endian bytes followed by the JSON array of its time in
  µs and its stored columns (the aggregated fields' canonical values, then the ``where=``
  flags), e.g. ``<seq>[1711846799999990,12.5,"shop",true]``. Floats are written as their
  shortest repr (which reads back as the same double, ``Infinity`` for ``inf``), times and
  durations as µs, dates as days. Equal scores order by member bytes, so simultaneous
  events order by sequence number, that is by log order, as in process. The time in the
  member makes a read one parse and keeps times beyond ``+-2**53`` µs exact (timestamps span
  years 1 to 9999): there the score is rounded, so a read widens its score range by the
  rounding, keeps the exact window by the members' times and re-sorts them.
* ``NS:seq:SOURCE`` -- the source's sequence counter (``INCR``), shared by every writer: it
  defines log order across threads and processes.
* ``NS:wm:SOURCE`` -- the source's newest event time (the eviction watermark), and
  ``NS:x:SOURCE:KEY`` -- the time of the latest event evicted from that key.
* ``NS:layout`` -- the fingerprint of the spec's sources and windows and the lateness; a
  state opened on a namespace holding another (another spec given the same ``namespace=``)
  is refused.

Ingest: one event is one Lua script (one round trip: ``INCR``, ``ZADD``, watermark, eviction),
atomic in Redis, so a reader sees an event entirely or not at all (one member per event).
``ingest_batch`` validates every event before writing any, then sends the same script per
event in pipelined chunks: the same result as ingesting them one by one. A concurrent read
may see some of a batch's events, never half of one. redis-py's connection pool makes a state
safe to share between threads.

Read: one round trip per row: one ``MULTI``/``EXEC`` pipeline (so all the windows of a read
see one snapshot) holding, per (source, key) the row needs, a ``ZRANGEBYSCORE`` over
``[t - W, t)`` for the longest window ``W`` of that source and key (``(-inf, t)`` when one of
its windows has no ``over``) and, when the source evicts, a ``GET`` of the key's eviction
mark. Cost per row: O(log N + M) in Redis and O(M) here, M being the events in that longest
window (every event of the key for a lifetime window), N the key's events.

Eviction (the in-process rule): for a source with no lifetime window, ingesting an event of
key ``k`` removes ``k``'s events older than ``newest - longest window - lateness``, where
``newest`` is the source's newest event time; ``state.evict()`` sweeps every key. A read at
``t >= newest - lateness`` starts its windows at or after that cut, so eviction changes no
such read; a read whose window reaches an evicted event raises ``InputError``, exactly as in
process. The cut is computed in Redis' doubles, so a source evicts only while the cut is
exact there (times within ``+-2**53`` µs and ``longest window + lateness <= 2**53`` µs, about
285 years); beyond that it keeps its events, which answers reads the in-process state would
refuse but never changes a value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from featuredsl import ir
from featuredsl.errors import FeatureDSLError, InputError, first_line
from featuredsl.windows.online import (
    KeyLog,
    ReadGroup,
    _SourceState,
    find_source,
    micros,
    prepare_all,
    read_group,
    read_plan,
    source_states,
)
from featuredsl.windows.persist import fingerprint

_EXACT = 2**53  # |µs| up to which a double holds a time exactly
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
_US = dt.timedelta(microseconds=1)
_CHUNK = 2000  # commands per pipelined write
_NAMESPACE = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")

#: One event (ARGV[2] the member after its sequence number; empty: only evict). Times are
#: compared as decimal strings (exact at any size); the cut is computed in doubles only when
#: that is exact (see the module docstring).
_INGEST_LUA = """
local function lt(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then return na end
  if na then a, b = string.sub(b, 2), string.sub(a, 2) end
  if #a ~= #b then return #a < #b end
  return a < b
end
local LIMIT = '9007199254740992'
if ARGV[2] ~= '' then
  local seq = redis.call('INCR', KEYS[1])
  local b, n = '', seq
  for _ = 1, 8 do
    b = string.char(n % 256) .. b
    n = math.floor(n / 256)
  end
  redis.call('ZADD', KEYS[2], ARGV[1], b .. ARGV[2])
  local wm = redis.call('GET', KEYS[3])
  if not wm or lt(wm, ARGV[3]) then redis.call('SET', KEYS[3], ARGV[3]) end
end
if ARGV[4] == '' then return 0 end
local wm = redis.call('GET', KEYS[3])
if not wm or lt(wm, '-' .. LIMIT) or lt(LIMIT, wm) then return 0 end
local cut = tonumber(wm) - tonumber(ARGV[4])
if cut <= -2^53 then return 0 end
local bound = '(' .. string.format('%.0f', cut)
local top = redis.call('ZREVRANGEBYSCORE', KEYS[2], bound, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #top == 0 then return 0 end
local members = {top[1]}
if tonumber(top[2]) <= -2^53 then  -- rounded scores: the latest exact time among the ties
  members = redis.call('ZRANGEBYSCORE', KEYS[2], top[2], top[2])
end
local latest = nil
for _, m in ipairs(members) do
  local t = string.match(string.sub(m, 9), '^%[(%-?%d+)')
  if not latest or lt(latest, t) then latest = t end
end
local mark = redis.call('GET', KEYS[4])
if not mark or lt(mark, latest) then redis.call('SET', KEYS[4], latest) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', bound)
return 1
"""


class StateError(FeatureDSLError):
    """The Redis server failed or went away during an ingest or a read."""


def _redis() -> Any:
    try:
        import redis
    except ImportError:
        raise InputError("the Redis online state needs redis-py: "
                         "pip install 'featuredsl[redis]'") from None
    return redis


def shown_url(url: str) -> str:
    """The URL for messages, with its password replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def default_namespace(program: ir.BoundProgram, spec_text: str | None = None) -> str:
    """``featuredsl:`` and 20 hex digits of a hash of the spec's text and of its sources and
    windows: two specs never share state; the processes serving one spec do."""
    h = hashlib.sha256((spec_text or "").encode("utf-8", "surrogatepass") + b"\0")
    h.update(fingerprint(program).encode())
    return "featuredsl:" + h.hexdigest()[:20]


# ------------------------------------------------------------------------------ encoding


def _encoder(kind: str) -> Callable[[object], object]:
    """A stored value as JSON data: timestamps as µs, dates as days, the rest as they are
    (durations are µs ints already; floats are written as their shortest repr)."""
    if kind == "timestamp":
        return lambda v: None if v is None else (v - _EPOCH) // _US  # type: ignore[operator]
    if kind == "date":
        return lambda v: None if v is None else (v - _EPOCH_DATE).days  # type: ignore[operator]
    if kind == "float":  # a key: -0.0 and 0.0 are one key, as in the in-process dict
        return lambda v: 0.0 if v == 0 else v
    return lambda v: v


def _decoder(kind: str) -> Callable[[Any], object] | None:
    if kind == "timestamp":
        return lambda v: _EPOCH + dt.timedelta(microseconds=v)
    if kind == "date":
        return lambda v: _EPOCH_DATE + dt.timedelta(days=v)
    return None


def _dumps(values: list) -> bytes:
    # the strings are valid Unicode (the converters refuse lone surrogates)
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _below(n: int) -> float:
    """The largest double <= n."""
    f = float(n)
    return f if int(f) <= n else math.nextafter(f, -math.inf)


def _above(n: int) -> float:
    """The smallest double >= n."""
    f = float(n)
    return f if int(f) >= n else math.nextafter(f, math.inf)


def _score(t: int) -> int | float:
    return t if -_EXACT <= t <= _EXACT else float(t)


def _bound(n: int, exclusive: bool) -> str:
    """A score bound: exact within 2**53, else widened outwards by the rounding (the read
    keeps the exact window by the members' times)."""
    if -_EXACT <= n <= _EXACT:
        return f"({n}" if exclusive else str(n)
    return repr(_above(n) if exclusive else _below(n))


class _Codec:
    """The key names and members of one source's events."""

    def __init__(self, namespace: str, src: _SourceState, lateness: int) -> None:
        fields, name = src.source.fields, src.source.name
        self.src = src
        self.prefix = f"{namespace}:e:{name}:".encode()
        self.mark_prefix = f"{namespace}:x:{name}:".encode()
        self.seq_key = f"{namespace}:seq:{name}"
        self.wm_key = f"{namespace}:wm:{name}"
        self.key_enc = [_encoder(fields[k].kind) for k in src.source.keys]
        self.names = src.column_names()
        kinds = [src.column_type(n).kind for n in self.names]
        self.enc = [(n, _encoder(k)) for n, k in zip(self.names, kinds, strict=True)]
        self.dec = [(n, d) for n, k in zip(self.names, kinds, strict=True)
                    if (d := _decoder(k)) is not None]
        # the eviction horizon, when Redis' doubles compute the cut exactly
        horizon = None if src.keep is None else src.keep + lateness
        self.horizon = "" if horizon is None or horizon > _EXACT else str(horizon)

    def key(self, key: tuple) -> bytes:
        """The encoded key: the part after ``NS:e:SOURCE:``."""
        return _dumps([e(v) for e, v in zip(self.key_enc, key, strict=True)])

    def payload(self, t: int, values: Mapping[object, object]) -> bytes:
        """The member after the sequence number: ``[time, columns...]``."""
        return _dumps([t, *[e(values[n]) for n, e in self.enc]])

    def decode(self, members: list[bytes]) -> tuple[list[int], list[dict[object, object]]]:
        """The times and stored columns of fetched members (one JSON parse for them all)."""
        rows = json.loads(b"[" + b",".join([m[8:] for m in members]) + b"]")
        names, dec = self.names, self.dec
        out = []
        for r in rows:
            values = dict(zip(names, r[1:], strict=True))
            for n, d in dec:
                v = values[n]
                if v is not None:
                    values[n] = d(v)
            out.append(values)
        return [r[0] for r in rows], out


# ------------------------------------------------------------------------------ the state


class RedisState:
    """Live window state on a Redis server, with the interface of ``MemoryState``
    (``program``, ``ingest``, ``ingest_batch``, ``reader``, ``evict``, ``events``) and the
    same values.

    ``url`` is a ``redis://`` (or ``rediss://``) URL; ``namespace`` prefixes every key
    (default :func:`default_namespace`); ``lateness`` is the in-process state's. An
    unreachable server, a bad URL or a namespace holding another spec's state is an
    ``InputError``; a server failing later a :class:`StateError`."""

    def __init__(self, program: ir.BoundProgram, url: str, namespace: str | None = None, *,
                 lateness: dt.timedelta = dt.timedelta(hours=1),
                 spec_text: str | None = None) -> None:
        self.program = program
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://")):
            what = shown_url(url) if isinstance(url, str) else url
            raise InputError(f"online_state({what!r}): not a Redis URL; use "
                             "redis://host:port/db (or rediss:// for TLS)")
        if lateness < dt.timedelta(0):
            raise InputError(f"online_state(lateness=...) must not be negative, got {lateness}")
        if namespace is None:
            namespace = default_namespace(program, spec_text)
        if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            raise InputError(f"online_state(namespace={namespace!r}): use 1 to 200 letters, "
                             "digits and `_.:/-`")
        redis = _redis()
        self.url, self.namespace = url, namespace
        shown = shown_url(url)
        self._errors = (redis.RedisError, OSError)
        layout = f"{fingerprint(program)}:{lateness // _US}"
        try:
            # the URL's own options (?socket_timeout=...) win over these defaults
            self._client = redis.Redis.from_url(url, socket_connect_timeout=2.0,
                                                socket_timeout=10.0)
            self._client.set(f"{namespace}:layout", layout, nx=True)
            stored = self._client.get(f"{namespace}:layout")
        except ValueError as exc:  # a malformed URL (port, db)
            raise InputError(f"online_state({shown!r}): {first_line(exc)}") from None
        except self._errors as exc:
            raise InputError(f"online_state({shown!r}): cannot reach the Redis server: "
                             f"{first_line(exc)}") from None
        if stored is not None and stored.decode() != layout:
            raise InputError(f"online_state({shown!r}): namespace `{namespace}` holds the "
                             "state of a spec with other sources or windows, or another "
                             "lateness: pass another namespace=")
        self._script = self._client.register_script(_INGEST_LUA)
        self._sources = source_states(program, lateness)
        lateness_us = lateness // _US
        self._codecs = {name: _Codec(namespace, s, lateness_us)
                        for name, s in self._sources.items()}
        self._used = {w.source for w in program.windows}
        self._lock = threading.Lock()
        self.events = 0

    def ping(self) -> None:
        """Check that the server answers (``featuredsl serve``'s ``/readyz``); raises
        :class:`StateError` if it does not."""
        try:
            self._client.ping()
        except self._errors as exc:
            raise self._fail("ping", exc) from None

    def __repr__(self) -> str:
        return f"<featuredsl RedisState {shown_url(self.url)} namespace={self.namespace}>"

    def _fail(self, what: str, exc: BaseException) -> StateError:
        return StateError(f"Redis at {shown_url(self.url)}: {what} failed: {first_line(exc)}")

    def _args(self, codec: _Codec, key: bytes, t: int | None, values: Mapping | None
              ) -> dict[str, list]:
        keys = [codec.seq_key, codec.prefix + key, codec.wm_key, codec.mark_prefix + key]
        if t is None:  # only evict
            return {"keys": keys, "args": [0, "", "", codec.horizon]}
        return {"keys": keys, "args": [_score(t), codec.payload(t, values), str(t),  # type: ignore[arg-type]
                                       codec.horizon]}

    def ingest(self, source: str, event: object) -> None:
        """Add one event of ``source`` (validated first: a bad one raises ``InputError`` and
        writes nothing). An event whose key is null is in no window."""
        src = find_source(self._sources, source)
        prepared = src.prepare(event)
        if prepared is not None and source in self._used:
            codec = self._codecs[source]
            key, t, values = prepared
            try:
                self._script(**self._args(codec, codec.key(key), t, values))
            except self._errors as exc:
                raise self._fail("ingest", exc) from None
        with self._lock:
            self.events += 1

    def ingest_batch(self, source: str, events: Iterable[Mapping] | object) -> int:
        """Add many events in order: dicts, or a frame or file as ``transform`` reads them.
        All are validated before any is written (a bad one raises ``InputError`` naming its
        row, and nothing is written). Returns how many were read."""
        src = find_source(self._sources, source)
        prepared = prepare_all(src, events)
        if source in self._used:
            codec = self._codecs[source]
            calls = [self._args(codec, codec.key(p[0]), p[1], p[2])
                     for p in prepared if p is not None]
            try:
                self._pipelined(calls)
            except self._errors as exc:
                raise self._fail("ingest_batch", exc) from None
        with self._lock:
            self.events += len(prepared)
        return len(prepared)

    def _pipelined(self, calls: list[dict[str, list]]) -> None:
        for i in range(0, len(calls), _CHUNK):
            pipe = self._client.pipeline(transaction=False)
            for call in calls[i:i + _CHUNK]:
                self._script(**call, client=pipe)
            pipe.execute()

    def evict(self) -> None:
        """Evict, from every key, the events no allowed read can see (ingest already evicts
        from the key it adds to; this sweeps keys that have gone quiet)."""
        for name in sorted(self._used):
            codec = self._codecs[name]
            if not codec.horizon:
                continue
            # `[[]*`: the encoded key starts with `[`, so a longer namespace's keys never match
            pattern = codec.prefix + b"[[]*"
            try:
                keys = [k[len(codec.prefix):] for k in
                        self._client.scan_iter(match=pattern, count=1000)]
                self._pipelined([self._args(codec, k, None, None) for k in keys])
            except self._errors as exc:
                raise self._fail("evict", exc) from None

    def reader(self) -> Callable[..., tuple]:
        """The function the row evaluator calls: ``(row time, *key inputs) -> one value per
        window``, one round trip to Redis per call."""
        read_groups, empties = read_plan(self.program, self._sources)
        # per group: the codec of its source, whether that source evicts (then its eviction
        # mark is read too), and the longest window (events are fetched over it)
        groups = [(g, self._codecs[g.source], bool(self._codecs[g.source].horizon), g.longest)
                  for g in read_groups]
        client, errors, fail = self._client, self._errors, self._fail

        def read(time: dt.datetime | None, *keys: object) -> tuple:
            if time is None:  # no row time: every window is empty
                return tuple(empties)
            t = micros(time)
            asked: list[tuple[ReadGroup, _Codec, bool, int | None]] = []
            commands: list[tuple] = []
            for g, codec, marks, over in groups:
                key = tuple([keys[p] for p in g.positions])
                if None in key:  # a null key sees empty windows
                    continue
                lo = None if over is None else t - over
                name = codec.key(key)
                commands.append(("ZRANGEBYSCORE", codec.prefix + name,
                                 "-inf" if lo is None else _bound(lo, False), _bound(t, True)))
                if marks:
                    commands.append(("GET", codec.mark_prefix + name))
                asked.append((g, codec, marks, lo))
            out = list(empties)
            if not asked:
                return tuple(out)
            # one snapshot for every window of the row (an eviction cannot fall between a
            # key's events and its mark)
            pipe = client.pipeline(transaction=len(commands) > 1)
            for c in commands:
                pipe.execute_command(*c)
            try:
                replies = iter(pipe.execute())
            except errors as exc:
                raise fail("read", exc) from None
            for g, codec, marks, lo in asked:
                members = next(replies)
                mark = next(replies) if marks else None
                if not members and mark is None:
                    continue  # the key has no events (or none since t - W): empty windows
                log = _log(codec, members, lo, t)
                log.evicted = None if mark is None else int(mark)
                read_group(log, g, t, time, out)
            return tuple(out)

        return read


def _log(codec: _Codec, members: list[bytes], lo: int | None, t: int) -> KeyLog:
    """A KeyLog of fetched events, in (time, sequence) order."""
    times, rows = codec.decode(members)
    if times and not (-_EXACT <= min(times) and max(times) <= _EXACT
                      and (lo is None or -_EXACT <= lo) and t <= _EXACT):
        # beyond 2**53 µs scores are rounded: the range was widened, and rounded scores may
        # tie events of different times; keep the exact window, ordered by exact time (the
        # sort is stable: simultaneous events keep their sequence order)
        pairs = sorted(((tm, r) for tm, r in zip(times, rows, strict=True)
                        if (lo is None or tm >= lo) and tm < t), key=lambda p: p[0])
        times, rows = [p[0] for p in pairs], [p[1] for p in pairs]
    log = KeyLog(codec.names, codec.src.streams)
    log.extend(times, rows)
    return log
