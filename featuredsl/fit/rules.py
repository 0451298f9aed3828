"""The rules every fitted value keeps (the definitions in :mod:`featuredsl.fit.fitting`), as
checks: the artifact loader applies them to what it reads, so a statistic or a profile that
breaks its own rules (an edited file whose integrity hash was recomputed, a bug) is an
``ArtifactError`` naming it, never two backends or a monitor reading different things.

``statistic_problem(stat, value)`` and ``profile_problem(profile, program)`` return what is
wrong (a sentence) or ``None``. Types are checked before these run (``artifact._check_value``):
here a value already has its declared type.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

from featuredsl import ir

#: The deciles a numeric profile entry holds.
_DECILES = 9


def _const_args(stat: ir.Stat) -> list[object]:
    """The constant arguments of a statistic's aggregate (``k``, ``top``, ``min_count``)."""
    return [a.value if isinstance(a, ir.Const) else None for a in stat.expr.args[1:]]


def _ordered(values: Sequence[float]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


def statistic_problem(stat: ir.Stat, value: object) -> str | None:
    """What is wrong with ``value`` as the fitted value of ``stat``, or ``None``."""
    fn = stat.expr.function.name
    if value is None:
        return None  # nullability is a type check; every aggregate may be null on no data
    if fn == "count" and isinstance(value, int) and value < 0:
        return f"is a count, but {value} is negative"
    if fn == "null_fraction" and isinstance(value, float) and not 0.0 <= value <= 1.0:
        return f"is a fraction of rows, but {value!r} is outside [0, 1]"
    if fn in ("std", "var") and isinstance(value, float) and not value >= 0.0:
        return f"is a spread, but {value!r} is negative"
    if fn == "quantiles":
        if not isinstance(value, tuple):
            return None
        if any(v is None for v in value):
            return "holds a null edge"
        k = _const_args(stat)[0]
        if isinstance(k, int) and len(value) > max(k - 1, 0):
            return f"has {len(value)} edges, but quantiles(..., {k}) has at most {k - 1}"
        if not _ordered(value):
            return "has edges that are not strictly increasing (bucketize needs that)"
    if fn == "vocab":
        if not isinstance(value, tuple):
            return None
        if any(v is None for v in value):
            return "holds a null entry"
        top = _const_args(stat)[0]
        if isinstance(top, int) and len(value) > top:
            return f"has {len(value)} entries, but vocab(..., top={top}) keeps at most {top}"
        seen: set[object] = set()
        for v in value:
            key = (type(v), 0.0 if v == 0 else v) if isinstance(v, float) else (type(v), v)
            if key in seen:
                return f"holds {v!r} twice"
            seen.add(key)
    return None


def _count(entry: Mapping, field: str) -> str | int:
    v = entry.get(field)
    if type(v) is not int or v < 0:
        return f"`{field}` should be a non-negative integer, got {v!r}"
    return v


def _column_problem(entry: object, rows: int) -> str | None:
    if not isinstance(entry, Mapping):
        return f"should be an object, got {type(entry).__name__}"
    if not isinstance(entry.get("type"), str):
        return "is missing its `type`"
    count, nulls = _count(entry, "count"), _count(entry, "null_count")
    for got in (count, nulls):
        if isinstance(got, str):
            return got
    assert isinstance(count, int) and isinstance(nulls, int)
    if count + nulls != rows:
        return f"counts {count} values and {nulls} nulls, but the profile has {rows} rows"
    if "top" in entry:
        top = entry["top"]
        if not isinstance(top, list) or not all(
                isinstance(p, list) and len(p) == 2 and type(p[1]) is int and p[1] > 0
                for p in top):
            return "`top` should be a list of [value, positive count] pairs"
        counts = [p[1] for p in top]
        if counts != sorted(counts, reverse=True) or sum(counts) > count:
            return "`top` is not most frequent first within the column's count"
    if "true_count" in entry or "false_count" in entry:
        t, f = _count(entry, "true_count"), _count(entry, "false_count")
        if isinstance(t, str):
            return t
        if isinstance(f, str):
            return f
        if t + f != count:
            return f"counts {t} true and {f} false for {count} values"
    if "quantiles" in entry:
        q = entry["quantiles"]
        if not isinstance(q, list) or len(q) != _DECILES:
            return f"`quantiles` should hold {_DECILES} deciles"
        known = [v for v in q if v is not None]
        if any(not isinstance(v, int | float) or isinstance(v, bool) for v in known) or any(
                a > b for a, b in itertools.pairwise(known)):
            return "`quantiles` should be non-decreasing numbers"
    for field in ("std",):
        v = entry.get(field)
        if isinstance(v, float) and not (v >= 0.0 or math.isnan(v)):
            return f"`{field}` is negative"
    return _monitoring_problem(entry, count, rows)


def _monitoring_problem(entry: Mapping, count: int, rows: int) -> str | None:
    """The parts a serving monitor reads (SPEC 10; absent from format-1 artifacts)."""
    kind = entry.get("kind")
    if kind is None:
        return None if "length" not in entry else _column_problem(entry["length"], rows)
    if kind == "categorical":
        if "top" not in entry:
            return "is categorical but has no `top`"
        other = _count(entry, "other_count")
        if isinstance(other, str):
            return other
        if sum(p[1] for p in entry["top"]) + other != count:
            return f"`top` and `other_count` do not add up to the {count} values"
    elif kind == "numeric":
        edges, bins = entry.get("edges"), entry.get("bin_counts")
        if not isinstance(edges, list) or len(edges) > _DECILES or any(
                not isinstance(v, int | float) or isinstance(v, bool) or v != v
                for v in edges) or any(a >= b for a, b in itertools.pairwise(edges)):
            return f"`edges` should be at most {_DECILES} strictly increasing numbers"
        if not isinstance(bins, list) or len(bins) != len(edges) + 1 or any(
                type(b) is not int or b < 0 for b in bins):
            return "`bin_counts` should hold len(edges) + 1 non-negative integers"
        if sum(bins) != count:
            return f"`bin_counts` add up to {sum(bins)}, not the {count} values"
    else:
        return f"has an unknown `kind` {kind!r} (expected numeric or categorical)"
    if "length" in entry:
        return _column_problem(entry["length"], rows)
    return None


def profile_problem(profile: object, program: ir.Program) -> tuple[str, str] | None:
    """``(where, what is wrong)`` with a training profile written for ``program``, or ``None``.

    An empty profile is accepted (an artifact may hold none); otherwise it has ``rows`` and a
    column entry for every input and every feature, whose counts add up."""
    if profile == {}:
        return None
    if not isinstance(profile, Mapping):
        return ("profile", f"should be an object, got {type(profile).__name__}")
    rows = profile.get("rows")
    if type(rows) is not int or rows < 0:
        return ("profile.rows", f"should be a non-negative integer, got {rows!r}")
    for part, names in (("inputs", list(program.inputs)),
                        ("features", [f.name for f in program.features])):
        columns = profile.get(part)
        if not isinstance(columns, Mapping):
            return (f"profile.{part}", "is missing or not an object")
        missing = [n for n in names if n not in columns]
        if missing:
            return (f"profile.{part}", f"has no entry for `{missing[0]}`")
        extra = sorted(n for n in columns if n not in names)
        if extra:
            return (f"profile.{part}", f"has an entry for `{extra[0]}`, which the spec "
                                       "does not declare")
        for name in names:
            problem = _column_problem(columns[name], rows)
            if problem is not None:
                return (f"profile.{part}.{name}", problem)
    return None
