"""Plain-data transport between the driver and the workers of a Spark fit (no pickle).

Values are the results of the fit's requests: scalars (int, float, bool, str, None, dates,
times, durations), Polars DataFrames (as Arrow IPC, base64) and grouped tables. They travel as
one JSON text; floats by ``repr`` (exact, with ``inf`` and ``-0.0``), ints as decimal text
(exact at any size)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import polars as pl

from featuredsl import ir


def _enc(v: object) -> object:
    if v is None:
        return None
    if isinstance(v, bool):
        return {"b": v}
    if isinstance(v, int):
        return {"i": str(v)}
    if isinstance(v, float):
        return {"f": repr(v)}
    if isinstance(v, str):
        return {"s": v}
    if isinstance(v, dt.datetime):
        return {"dt": v.isoformat()}
    if isinstance(v, dt.date):
        return {"d": v.isoformat()}
    if isinstance(v, dt.timedelta):
        return {"td": [v.days, v.seconds, v.microseconds]}
    if isinstance(v, tuple | list):
        return {"l": [_enc(x) for x in v], "t": isinstance(v, tuple)}
    if isinstance(v, pl.DataFrame):
        buf = io.BytesIO()
        v.write_ipc(buf)
        return {"df": base64.b64encode(buf.getvalue()).decode("ascii")}
    if isinstance(v, ir.GroupTable):
        return {"gt": [_enc(v.keys), _enc(v.values), _enc(v.rows)]}
    raise TypeError(f"cannot send a {type(v).__name__} between Spark driver and workers")


def _dec(v: object) -> object:
    if v is None:
        return None
    assert isinstance(v, dict)
    if "b" in v:
        return v["b"]
    if "i" in v:
        return int(v["i"])
    if "f" in v:
        return float(v["f"])
    if "s" in v:
        return v["s"]
    if "dt" in v:
        return dt.datetime.fromisoformat(v["dt"])
    if "d" in v:
        return dt.date.fromisoformat(v["d"])
    if "td" in v:
        d, s, us = v["td"]
        return dt.timedelta(days=d, seconds=s, microseconds=us)
    if "l" in v:
        items = [_dec(x) for x in v["l"]]
        return tuple(items) if v["t"] else items
    if "df" in v:
        return pl.read_ipc(io.BytesIO(base64.b64decode(v["df"])))
    if "gt" in v:
        keys, values, rows = (_dec(x) for x in v["gt"])
        return ir.GroupTable(keys, values, rows)  # type: ignore[arg-type]
    raise ValueError(f"not a featuredsl transport value: {sorted(v)}")


def pack(values: list[object]) -> str:
    """``values`` as one JSON text."""
    return json.dumps([_enc(v) for v in values], ensure_ascii=True, allow_nan=False)


def unpack(text: str) -> list[object]:
    """The values :func:`pack` wrote."""
    return [_dec(v) for v in json.loads(text)]
