"""The data half and the outputs of :mod:`featuredsl.diff`: both versions over the same rows,
and the plan-style text and Markdown reports."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from featuredsl.errors import FeatureDSLError

if TYPE_CHECKING:
    import polars as pl

    from featuredsl.api import Spec
    from featuredsl.diff import Diff

#: How many largest deltas and most frequent transitions each feature reports.
TOP = 5


def compare_data(old: Spec, new: Spec, data: object, sources: Mapping[str, object] | None,
                 pairs: list[tuple[str, str]], kinds: Mapping[str, str]) -> dict:
    """Both versions in batch over ``data``; per (old name, new name) pair the changed rows
    under the parity equality, null transitions, largest deltas and top transitions."""
    old_out = _transform(old, data, sources, "old")
    new_out = _transform(new, data, sources, "new")
    if old_out.height != new_out.height:  # cannot happen: both keep every row
        raise FeatureDSLError(f"diff: {old_out.height} rows on the old side but "
                              f"{new_out.height} on the new")
    rows = new_out.height
    report: dict = {"rows": rows, "features": {}}
    for old_name, name in pairs:
        a, b = old_out.get_column(old_name), new_out.get_column(name)
        entry = _compare_columns(a, b) if _vectorizable(a, b) else _compare_values(a, b)
        entry["changed_rate"] = entry["changed"] / rows if rows else 0.0
        if entry["changed"] == 0 and kinds.get(name) in ("definition_changed",
                                                         "indirectly_changed", "type_changed"):
            entry["note"] = f"definition changed, same values on these {rows:,} rows"
        report["features"][name] = entry
    return report


def _vectorizable(a: pl.Series, b: pl.Series) -> bool:
    """Same dtype, not a list: Polars' equality is the parity equality once NaN is ruled out
    (``-0.0 == 0.0`` there too)."""
    import polars as pl

    return a.dtype == b.dtype and not isinstance(a.dtype, pl.List)


def _compare_columns(a: pl.Series, b: pl.Series) -> dict:
    """One feature's comparison in Polars (vectorized; Python sees only the top rows)."""
    import polars as pl

    frame = pl.DataFrame({"a": a, "b": b}).with_row_index("row")
    same = pl.col("a").eq_missing(pl.col("b"))
    if a.dtype.is_float():  # a NaN on either side is never equal (featuredsl makes none)
        same = same & ~(pl.col("a").is_nan().fill_null(False)
                        | pl.col("b").is_nan().fill_null(False))
    diff = frame.filter(~same)
    entry: dict = {"changed": diff.height,
                   "became_null": diff.filter(pl.col("b").is_null()).height,
                   "was_null": diff.filter(pl.col("a").is_null()).height,
                   "largest_deltas": [], "top_transitions": []}
    if a.dtype.is_numeric() and diff.height:
        top = (diff.drop_nulls(["a", "b"])
               .with_columns(d=(pl.col("b").cast(pl.Float64) - pl.col("a").cast(pl.Float64))
                             .abs().fill_nan(math.inf))
               .sort(["d", "row"], descending=[True, False]).head(TOP))
        entry["largest_deltas"] = [{"row": r["row"], "old": _json(r["a"]), "new": _json(r["b"])}
                                   for r in top.iter_rows(named=True)]
    elif a.dtype in (pl.String, pl.Boolean) and diff.height:
        counts = diff.group_by("a", "b").len().iter_rows()
        entry["top_transitions"] = [
            {"old": o, "new": n, "rows": k} for o, n, k in
            sorted(((_show(x), _show(y), k) for x, y, k in counts),
                   key=lambda t: (-t[2], t[0], t[1]))[:TOP]]
    return entry


def _compare_values(a: pl.Series, b: pl.Series) -> dict:
    """One feature's comparison value by value under the parity equality (a type change or
    a list feature)."""
    from featuredsl.parity import same_value

    changed = to_null = from_null = 0
    deltas: list[tuple[float, int, object, object]] = []
    transitions: Counter[tuple[str, str]] = Counter()
    for i, (x, y) in enumerate(zip(a.to_list(), b.to_list(), strict=True)):
        if same_value(x, y):
            continue
        changed += 1
        if y is None:
            to_null += 1
        elif x is None:
            from_null += 1
        if _number(x) and _number(y):
            d = abs(float(y) - float(x))
            deltas.append((d if not math.isnan(d) else math.inf, i, x, y))
        elif isinstance(x, str | bool | type(None)) and isinstance(y, str | bool | type(None)):
            transitions[(_show(x), _show(y))] += 1
    deltas.sort(key=lambda t: (-t[0], t[1]))
    return {"changed": changed, "became_null": to_null, "was_null": from_null,
            "largest_deltas": [{"row": i, "old": _json(x), "new": _json(y)}
                               for _, i, x, y in deltas[:TOP]],
            "top_transitions": [{"old": o, "new": n, "rows": k} for (o, n), k in
                                sorted(transitions.items(), key=lambda t: (-t[1], t[0]))[:TOP]]}


def _transform(spec: Spec, data: object, sources: Mapping[str, object] | None,
               side: str) -> pl.DataFrame:
    from featuredsl.errors import InputError

    if not spec.statistics or spec.is_fitted:
        try:
            out = spec.transform(data, sources=sources if spec.bound().windows else None)
        except InputError as exc:
            raise InputError(f"{side} side: {exc}", field=exc.field, row=exc.row,
                             expected=exc.expected) from None
        return out
    raise FeatureDSLError(f"the {side} side uses fitted statistics "
                          f"({', '.join(spec.statistics)}): pass its artifact to compare "
                          "values on data")


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _show(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _json(v: object) -> object:
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, dt.datetime | dt.date | dt.timedelta):
        return str(v)
    return v


# ------------------------------------------------------------------------------ text


def _label(c: object) -> str:
    name, kind = c.name, c.kind  # type: ignore[attr-defined]
    if kind == "renamed":
        return f"{c.old_name} -> {name}"  # type: ignore[attr-defined]
    return name


def _detail(c: object) -> list[str]:
    kind = c.kind  # type: ignore[attr-defined]
    out: list[str] = []
    if kind == "type_changed":
        out.append(f"type {c.old_type} -> {c.new_type}")  # type: ignore[attr-defined]
    if kind in ("definition_changed", "type_changed") \
            and c.old_definition != c.new_definition:  # type: ignore[attr-defined]
        out.append(f"was: {c.old_definition}")  # type: ignore[attr-defined]
        out.append(f"now: {c.new_definition}")  # type: ignore[attr-defined]
    if kind == "indirectly_changed":
        out.append("via " + ", ".join(c.path))  # type: ignore[attr-defined]
    if kind in ("added", "renamed"):
        out.append(f"{c.new_type} = {c.new_definition}")  # type: ignore[attr-defined]
    if kind == "removed":
        out.append(f"was {c.old_type} = {c.old_definition}")  # type: ignore[attr-defined]
    return out


def text(d: Diff) -> str:
    """The plan-style report."""
    lines = [f"featuredsl diff {d.old} -> {d.new}", ""]
    width = max((len(_label(c)) for c in d.changes), default=7)
    data = d.data["features"] if d.data else {}
    rows = d.data["rows"] if d.data else 0
    for c in d.changes:
        head = f"  {_symbol(c.kind)} {_label(c):<{width}}  {c.kind}"
        if c.name in data and (c.kind != "unchanged" or data[c.name]["changed"]):
            head += f"   {data[c.name]['changed']:,} of {rows:,} rows changed"
        lines.append(head)
        lines += [f"      {x}" for x in _detail(c)]
        if c.name in data:
            lines += [f"      {x}" for x in _data_lines(data[c.name])]
    if d.order_changed:
        lines += ["", "  ~ the order of the features changed (a model reading them by position "
                  "sees other columns)"]
    if d.inputs:
        lines += ["", "inputs (serving contract):"]
        for i in d.inputs:
            mark = "!" if i["narrows"] else " "
            lines.append(f"  {mark} {i['input']}: {i['old_type'] or '(none)'} -> "
                         f"{i['new_type'] or '(not needed)'}  {i['change']}"
                         f"{' (narrows: breaking)' if i['narrows'] else ''}")
    if d.statistics:
        lines += ["", "statistics (refit):"]
        lines += [f"  ~ {_stat_line(s)}" for s in d.statistics]
    counts = d.summary()
    lines += ["", "summary: " + ", ".join(f"{n} {k}" for k, n in counts.items())
              + f"; breaking: {'yes' if d.breaking else 'no'}"]
    return "\n".join(lines) + "\n"


#: Symbols of the plan-style text, per kind.
SYMBOL = {"added": "+", "removed": "-", "renamed": ">", "unchanged": "=",
          "formatting_only": "=", "doc_only": "=", "definition_changed": "~",
          "indirectly_changed": "~", "type_changed": "~"}


def _symbol(kind: str) -> str:
    return SYMBOL[kind]


def _data_lines(f: dict) -> list[str]:
    out = []
    if f.get("note"):
        out.append(f["note"])
    if f["became_null"] or f["was_null"]:
        out.append(f"null transitions: {f['became_null']:,} became null, "
                   f"{f['was_null']:,} were null")
    if f["largest_deltas"]:
        out.append("largest deltas: " + ", ".join(
            f"row {x['row']}: {x['old']} -> {x['new']}" for x in f["largest_deltas"]))
    if f["top_transitions"]:
        out.append("top transitions: " + ", ".join(
            f"{x['old']} -> {x['new']} ({x['rows']:,})" for x in f["top_transitions"]))
    return out


def _stat_line(s: dict) -> str:
    head = f"{s['stat']} = {s['definition']}"
    if "added" in s:
        return (f"{head}: {len(s['added'])} added, {len(s['removed'])} removed, "
                f"{len(s['reindexed'])} re-indexed"
                + (f" (added: {', '.join(map(str, s['added'][:5]))})" if s["added"] else ""))
    if "groups" in s:
        g = s["groups"]
        text_ = (f"{head}: {g['old']:,} -> {g['new']:,} groups, {g['added_count']:,} added, "
                 f"{g['removed_count']:,} removed, {g['changed_count']:,} changed value")
        if g["largest_changes"]:
            text_ += " (" + ", ".join(f"{x['group']}: {x['old']} -> {x['new']}"
                                      for x in g["largest_changes"][:3]) + ")"
        return text_
    text_ = f"{head}: {s['old']} -> {s['new']}"
    if "shift_in_old_std" in s:
        text_ += f" ({s['shift_in_old_std']:+.3g} old std)"
    if "ratio" in s:
        text_ += f" (x{s['ratio']:.4g})"
    return text_


def markdown(d: Diff) -> str:
    """A Markdown summary for a pull request."""
    verdict = "**breaking**" if d.breaking else "not breaking"
    lines = [f"### featuredsl diff: {verdict}", "",
             f"`{d.old}` -> `{d.new}`: " + ", ".join(f"{n} {k}" for k, n in d.summary().items()),
             "", "| | feature | change | details |", "|---|---|---|---|"]
    data = d.data["features"] if d.data else {}
    for c in d.changes:
        if c.kind in ("unchanged",):
            continue
        details = "; ".join(_detail(c))
        if c.name in data:
            f = data[c.name]
            details += ("; " if details else "") + (
                f.get("note") or f"{f['changed']:,} of {d.data['rows']:,} rows changed")  # type: ignore[index]
        lines.append(f"| `{_symbol(c.kind)}` | `{_label(c)}` | {c.kind} | "
                     f"{_cell(details)} |")
    unchanged = sum(c.kind == "unchanged" for c in d.changes)
    lines += ["", f"{unchanged} features unchanged."]
    if d.order_changed:
        lines.append("The order of the features changed.")
    for i in d.inputs:
        lines.append(f"- input `{i['input']}`: {i['old_type'] or '(none)'} -> "
                     f"{i['new_type'] or '(not needed)'} ({i['change']}"
                     f"{', narrows: breaking' if i['narrows'] else ''})")
    for s in d.statistics:
        lines.append(f"- statistic {_cell(_stat_line(s))}")
    return "\n".join(lines) + "\n"


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")
