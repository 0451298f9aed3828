"""The outputs of :mod:`featuredsl.diff`: the plan-style text and Markdown reports (the data
half, both versions over the same rows, is :mod:`featuredsl.diff_data`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from featuredsl.diff import Diff

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
