"""``fd.diff(old, new, data=None)``: what a change to a spec or an artifact does to every
feature, before it ships (SPEC 12, Rule #24).

Meaning is compared on the checked IR, never on text. Each feature gets a **meaning key**: its
expression with every ``let`` (and feature used as a value) substituted, every statistic
replaced by its aggregate definition, and the types of the inputs and the definitions of the
event sources it reads attached. Whitespace, comments, declaration order and ``let`` names
change no key. When both sides are fitted, a second key replaces each statistic by its fitted
value: a refit that moves ``mean(amount)`` changes ``amount_z`` (``indirectly_changed`` via
the statistic) and not ``log_amount``.

Kinds, for a feature present on both sides:

- ``type_changed``: the output type or nullability differs;
- ``definition_changed``: the feature's own expression differs;
- ``indirectly_changed``: its own expression is the same, but a ``let``, a statistic (its
  definition or fitted value), an input's type or a source it reads changed: ``path`` names
  them;
- ``formatting_only``: the same meaning, other text (a renamed ``let``, another layout);
- ``doc_only``: the same meaning and text, another ``##`` doc;
- ``unchanged``.

A feature only in ``old`` is ``removed``, only in ``new`` ``added``, unless one removed and one
added feature have the same meaning key and type: then it is ``renamed`` (old -> new).

**Breaking** (the default CLI gate): any feature removed, renamed, with a changed type,
definition or dependency, the order of the kept features changed (a model reads features by
position), or the input contract narrowed (an input that serving now needs, that became
non-nullable or changed type). Added features, docs and formatting are not breaking. A
definition that changed but gives the same values on every row of ``data`` is reported as
such and is still breaking: the rows checked are not every row there will be.

With ``data``, both sides run in batch over the same rows (``transform``, with ``sources=``
for windows) and each matched feature gets: rows whose value changed under the parity
equality (SPEC 4.14), null transitions, the largest numeric deltas, and the most frequent
old -> new transitions of string and bool values. Both outputs are held in memory (the
features only, not the inputs).

Every output (:meth:`Diff.to_text`, :meth:`Diff.to_json`, :meth:`Diff.to_markdown`) is built
from ordered lists and sorted keys only, so it is byte-identical across runs and hash seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from featuredsl import ir
from featuredsl.errors import FeatureDSLError
from featuredsl.irshow import show

if TYPE_CHECKING:
    from featuredsl.api import Spec

#: The kinds that change what a model receives (values, types, names).
CHANGES = ("definition_changed", "indirectly_changed", "type_changed", "removed", "renamed")


@dataclass
class FeatureChange:
    """What happened to one feature (``name`` is its new name; ``old_name`` the old one)."""

    name: str
    kind: str
    old_name: str | None = None
    old_type: str | None = None
    new_type: str | None = None
    old_definition: str | None = None
    new_definition: str | None = None
    #: for ``indirectly_changed``: what changed on the way (``let base``, ``stat m (value)``,
    #: ``input x: float? -> float``)
    path: list[str] = field(default_factory=list)


@dataclass
class Diff:
    """The result of :func:`diff`. ``features`` maps each feature (new name; removed ones by
    their old name) to its kind; ``changes`` holds the details in report order."""

    old: str
    new: str
    changes: list[FeatureChange]
    inputs: list[dict]
    statistics: list[dict]
    order_changed: bool
    data: dict | None = None

    @property
    def features(self) -> dict[str, str]:
        """``{feature: kind}`` in report order."""
        return {c.name: c.kind for c in self.changes}

    @property
    def changed_rate(self) -> dict[str, float]:
        """``{feature: share of rows whose value changed}`` (with data; else empty)."""
        if not self.data:
            return {}
        rows = self.data["rows"]
        return {n: (f["changed"] / rows if rows else 0.0)
                for n, f in self.data["features"].items()}

    @property
    def breaking(self) -> bool:
        """Whether a model fed by ``old`` would see different values, types, names or
        order from ``new``, or a request valid for ``old`` may be refused by ``new``."""
        return (any(c.kind in CHANGES for c in self.changes) or self.order_changed
                or any(i["narrows"] for i in self.inputs))

    @property
    def any_change(self) -> bool:
        """Whether anything at all differs in meaning (added features included)."""
        return self.breaking or any(c.kind == "added" for c in self.changes) \
            or any(i["change"] != "unchanged" for i in self.inputs)

    # ------------------------------------------------------------------ outputs
    def to_json(self) -> str:
        """The report as JSON text (sorted keys, fixed indentation: byte-identical runs)."""
        return json.dumps(self.as_dict(), indent=2, sort_keys=True, ensure_ascii=False,
                          allow_nan=True) + "\n"

    def as_dict(self) -> dict:
        """The report as plain data (what :meth:`to_json` writes)."""
        return {
            "old": self.old, "new": self.new, "breaking": self.breaking,
            "order_changed": self.order_changed,
            "features": [{k: v for k, v in dataclasses.asdict(c).items()
                          if v not in (None, [])} for c in self.changes],
            "inputs": self.inputs, "statistics": self.statistics, "data": self.data,
            "summary": self.summary(),
        }

    def summary(self) -> dict[str, int]:
        """How many features of each kind."""
        return dict(sorted(Counter(c.kind for c in self.changes).items()))

    def to_text(self) -> str:
        """The plan-style report: ``+`` added, ``-`` removed, ``~`` changed, ``=`` unchanged
        (or formatting / doc only), ``>`` renamed; then inputs, statistics and data."""
        from featuredsl.diff_report import text

        return text(self)

    def to_markdown(self) -> str:
        """A Markdown summary for a pull request (``featuredsl diff --format github``)."""
        from featuredsl.diff_report import markdown

        return markdown(self)


# ------------------------------------------------------------------------------ loading


def _load(side: object, what: str) -> tuple[Spec, str]:
    """A side as a Spec (fitted or not) and its display name."""
    from featuredsl.api import Spec, compile_file, load

    if isinstance(side, Spec):
        return side, side.file
    if isinstance(side, str | Path):
        p = Path(side)
        suffix = p.suffix.lower()
        if suffix == ".feat":
            return compile_file(p), str(side)
        if suffix == ".json":
            if not p.is_file():
                raise FeatureDSLError(f"{p}: no such file")
            return load(str(p)), str(side)
        raise FeatureDSLError(f"{p}: the {what} side must be a .feat spec or a .json artifact")
    raise FeatureDSLError(f"diff: the {what} side must be a path, a Spec or a FittedSpec, got "
                          f"{type(side).__name__}")


# ------------------------------------------------------------------------------ meaning


class _Meaning:
    """Meaning keys of one side's features and dependencies."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.program = spec.program
        self.stats = spec.fitted_statistics() if spec.is_fitted else None
        self._lets: dict[tuple[str, bool], str] = {}  # digests of lets and statistics

    def digest(self, e: ir.Expr, by_value: bool) -> str:
        """The meaning of ``e`` as a digest: a hash over its node with each child replaced by
        the child's digest, a ``let`` by its definition's and a statistic by its aggregate's
        (or its fitted value's, ``by_value``). The same as comparing the fully inlined
        expressions, but each shared ``let`` is hashed once (inlining a chain of lets that
        reuse each other would grow exponentially)."""
        if isinstance(e, ir.LetRef):
            k = (e.name, by_value)
            if k not in self._lets:
                self._lets[k] = self.digest(self.program.values[e.name], by_value)
            return self._lets[k]
        if isinstance(e, ir.StatRef):
            if by_value and self.stats is not None:
                return self.digest(ir.Const(e.type, _frozen(self.stats[e.name])), False)
            k = (f"\0{e.name}", False)
            if k not in self._lets:
                self._lets[k] = self.digest(self.program.stats[e.name].expr, False)
            return self._lets[k]
        local = _with_children(e, lambda c: ir.Const(c.type, ("#", self.digest(c, by_value))))
        return hashlib.sha256(repr(local.key()).encode()).hexdigest()

    def key(self, name: str, by_value: bool = False) -> tuple:
        """The meaning key of a named value (feature or let)."""
        return self.key_of(ir.LetRef(self.program.values[name].type, name), by_value)

    def key_of(self, e: ir.Expr, by_value: bool = False) -> tuple:
        """The meaning key of any expression of this side (a statistic's definition): its
        digest, the types of the inputs it reads and the sources its windows read."""
        with ir.deep_recursion():
            return (self.digest(e, by_value), *self.context(e, by_value))

    def context(self, e: ir.Expr, by_value: bool = False) -> tuple:
        """The input types and the source definitions ``e`` reads, through its lets and
        (unless ``by_value``) its statistics' arguments."""
        inputs, sources = set(), set()
        seen: set[str] = set()

        def visit(x: ir.Expr) -> None:
            for node in ir.walk(x):
                if isinstance(node, ir.LetRef) and node.name not in seen:
                    seen.add(node.name)
                    visit(self.program.values[node.name])
                elif isinstance(node, ir.StatRef) and not by_value \
                        and f"\0{node.name}" not in seen:
                    seen.add(f"\0{node.name}")
                    visit(self.program.stats[node.name].expr)
                elif isinstance(node, ir.Input):
                    inputs.add(node.name)
                elif isinstance(node, ir.Window):
                    sources.add(node.source)
                    inputs.update(node.by)
                    if self.program.time is not None:
                        inputs.add(self.program.time)

        visit(e)
        types = tuple((n, str(self.program.inputs[n])) for n in sorted(inputs)
                      if n in self.program.inputs)
        srcs = tuple((s, _source_key(self.program.sources[s])) for s in sorted(sources))
        return types, srcs

    def deps(self, name: str) -> tuple[list[str], list[str], list[str]]:
        """The lets, statistics and inputs ``name`` reads, directly or through lets."""
        lets: dict[str, None] = {}
        stats: dict[str, None] = {}
        inputs: dict[str, None] = {}

        def visit(e: ir.Expr) -> None:
            for node in ir.walk(e):
                if isinstance(node, ir.LetRef) and node.name not in lets:
                    lets[node.name] = None
                    visit(self.program.values[node.name])
                elif isinstance(node, ir.StatRef) and node.name not in stats:
                    stats[node.name] = None
                    visit(self.program.stats[node.name].expr)
                elif isinstance(node, ir.Input):
                    inputs[node.name] = None

        with ir.deep_recursion():
            visit(self.program.values[name])
        return list(lets), list(stats), list(inputs)

    def surface(self, name: str, named: bool = False) -> tuple:
        """The feature's own expression, lets and statistics as leaves: anonymous (a renamed
        ``let`` leaves it equal), or by name (``named``: the same text)."""
        e = self.program.values[name]
        if named:
            return e.key()
        # printed, not keyed: an input's new type changes casts and chosen overloads (the
        # key), not the expression the user wrote (the text)

        def anonymous(x: ir.Expr) -> ir.Expr | None:
            if isinstance(x, ir.LetRef):
                return ir.LetRef(x.type, "")
            if isinstance(x, ir.StatRef):
                return ir.StatRef(x.type, "")
            return None

        with ir.deep_recursion():
            return (show(_rewrite(e, anonymous)),)

    def doc(self, name: str) -> str | None:
        for f in self.program.features:
            if f.name == name:
                return f.doc
        return None


def _with_children(e: ir.Expr, fn: Callable[[ir.Expr], ir.Expr]) -> ir.Expr:
    """``e`` with each direct child replaced by ``fn(child)`` (a window's ``where=`` reads
    source fields and is kept as is)."""
    changes: dict[str, object] = {}
    for f in dataclasses.fields(e):
        v = getattr(e, f.name)
        if isinstance(v, ir.Expr) and not isinstance(e, ir.Window):
            changes[f.name] = fn(v)
        elif isinstance(v, tuple) and v and all(isinstance(x, ir.Expr) for x in v):
            changes[f.name] = tuple(fn(x) for x in v)
    return dataclasses.replace(e, **changes) if changes else e  # type: ignore[arg-type]


def _rewrite(e: ir.Expr, fn: Callable[[ir.Expr], ir.Expr | None]) -> ir.Expr:
    """``e`` with every node for which ``fn`` gives a replacement replaced (bottom-up for the
    rest; a window's ``where=`` reads source fields and is kept as is)."""
    got = fn(e)
    return got if got is not None else _with_children(e, lambda c: _rewrite(c, fn))


def _source_key(s: ir.Source) -> tuple:
    return (tuple((n, str(t)) for n, t in s.fields.items()), s.keys, s.time)


def _frozen(v: object) -> object:
    if isinstance(v, list | tuple):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):
        return tuple((k, _frozen(x)) for k, x in v.items())
    return v


# ------------------------------------------------------------------------------ diff


def diff(old: object, new: object, data: object = None,
         sources: Mapping[str, object] | None = None) -> Diff:
    """Compare two versions of a spec: each a ``.feat`` path, an artifact path, a ``Spec``
    or a ``FittedSpec``. With ``data`` (any source ``transform`` reads), both run in batch on
    the same rows (``sources=`` for window aggregates). See the module doc for the kinds."""
    old_spec, old_name = _load(old, "old")
    new_spec, new_name = _load(new, "new")
    a, b = _Meaning(old_spec), _Meaning(new_spec)
    by_value = a.stats is not None and b.stats is not None
    old_f, new_f = list(old_spec.features), list(new_spec.features)
    changes: dict[str, FeatureChange] = {}
    for name in new_f:
        if name in old_f:
            changes[name] = _compare(a, b, name, by_value)
    removed = [n for n in old_f if n not in new_f]
    added = [n for n in new_f if n not in old_f]
    renamed: dict[str, str] = {}  # new -> old
    for r in removed:
        for n in added:
            if n not in renamed and _type(a, r) == _type(b, n) and a.key(r) == b.key(n) \
                    and (not by_value or a.key(r, True) == b.key(n, True)):
                renamed[n] = r
                break
    for n in added:
        if n in renamed:
            changes[n] = FeatureChange(n, "renamed", old_name=renamed[n],
                                       old_type=_type(a, renamed[n]), new_type=_type(b, n),
                                       new_definition=show(b.program.values[n]))
        else:
            changes[n] = FeatureChange(n, "added", new_type=_type(b, n),
                                       new_definition=show(b.program.values[n]))
    ordered = [changes[n] for n in new_f]
    ordered += [FeatureChange(r, "removed", old_type=_type(a, r),
                              old_definition=show(a.program.values[r]))
                for r in removed if r not in renamed.values()]
    kept_old = [n for n in old_f if n in new_f or n in renamed.values()]
    back = {v: k for k, v in renamed.items()}
    kept_new = [n for n in new_f if n in old_f or n in renamed]
    order_changed = [back.get(n, n) for n in kept_old] != kept_new
    result = Diff(old_name, new_name, ordered, _inputs(old_spec, new_spec),
                  _statistics(a, b) if by_value else [], order_changed)
    if data is not None:
        from featuredsl.diff_data import compare_data

        pairs = [(c.old_name or c.name, c.name) for c in ordered
                 if c.kind not in ("added", "removed")]
        result.data = compare_data(old_spec, new_spec, data, sources, pairs,
                                   {c.name: c.kind for c in ordered})
    return result


def _type(m: _Meaning, name: str) -> str:
    return str(m.program.values[name].type)


def _compare(a: _Meaning, b: _Meaning, name: str, by_value: bool) -> FeatureChange:
    c = FeatureChange(name, "unchanged", old_type=_type(a, name), new_type=_type(b, name))
    old_def, new_def = show(a.program.values[name]), show(b.program.values[name])
    if c.old_type != c.new_type:
        c.kind = "type_changed"
    elif a.key(name) != b.key(name) or (by_value and a.key(name, True) != b.key(name, True)):
        if a.surface(name) != b.surface(name):
            c.kind = "definition_changed"
        else:
            c.kind = "indirectly_changed"
            c.path = _path(a, b, name, by_value)
    elif not _same_text(a, b, name):
        c.kind = "formatting_only"
    elif a.doc(name) != b.doc(name):
        c.kind = "doc_only"
    if c.kind not in ("unchanged", "formatting_only", "doc_only"):
        c.old_definition, c.new_definition = old_def, new_def
    return c


def _same_text(a: _Meaning, b: _Meaning, name: str) -> bool:
    """The same expression and the same lets and statistics, by name and definition."""
    la, sa, _ = a.deps(name)
    lb, sb, _ = b.deps(name)
    return (a.surface(name, True) == b.surface(name, True) and la == lb and sa == sb
            and all(a.program.values[n].key() == b.program.values[n].key() for n in la)
            and all(a.program.stats[n].expr.key() == b.program.stats[n].expr.key()
                    for n in sa))


def _path(a: _Meaning, b: _Meaning, name: str, by_value: bool) -> list[str]:
    """What changed under a feature whose own expression did not. Lets and statistics are
    paired in the order the feature reads them (so a renamed ``let`` pairs with its old
    name)."""
    la, sa, ia = a.deps(name)
    lb, sb, _ = b.deps(name)
    out: list[str] = []
    for na, nb in zip(la, lb, strict=False):
        if a.key(na) != b.key(nb):
            out.append(f"let {na}" if na == nb else f"let {na} (now {nb})")
    for na, nb in zip(sa, sb, strict=False):
        label = na if na == nb else f"{na} (now {nb})"
        sta, stb = a.program.stats[na], b.program.stats[nb]
        if a.key_of(sta.expr) != b.key_of(stb.expr):
            out.append(f"stat {label} (definition)")
        elif by_value and a.stats is not None and b.stats is not None \
                and repr(_frozen(a.stats[na])) != repr(_frozen(b.stats[nb])):
            out.append(f"stat {label} (fitted value)")
    for n in ia:
        ta, tb = a.program.inputs.get(n), b.program.inputs.get(n)
        if ta is not None and tb is not None and str(ta) != str(tb):
            out.append(f"input {n}: {ta} -> {tb}")
    for s in sorted(set(a.program.sources) & set(b.program.sources)):
        if _source_key(a.program.sources[s]) != _source_key(b.program.sources[s]):
            read = a.context(ir.LetRef(a.program.values[name].type, name))[1]
            if any(src == s for src, _ in read):
                out.append(f"source {s}")
    return out or ["a dependency"]


def _inputs(old: Spec, new: Spec) -> list[dict]:
    """The serving input contract, per input: what a request valid for ``old`` needs now."""
    before, after = old.serving_inputs, new.serving_inputs
    out = []
    for n in [*before, *(n for n in after if n not in before)]:
        ta, tb = before.get(n), after.get(n)
        if ta == tb:
            continue
        if ta is None:
            assert tb is not None
            # a new required input: old clients do not send it (a nullable one may be absent)
            change, narrows = "added", not tb.endswith("?")
        elif tb is None:
            change, narrows = "removed", False
        elif ta.rstrip("?") != tb.rstrip("?"):
            change, narrows = "type_changed", True
        elif ta.endswith("?") and not tb.endswith("?"):
            change, narrows = "now_required", True
        else:
            change, narrows = "now_nullable", False
        out.append({"input": n, "change": change, "old_type": ta, "new_type": tb,
                    "narrows": narrows})
    return out


def _statistics(a: _Meaning, b: _Meaning) -> list[dict]:
    """How each statistic present in both artifacts moved."""
    assert a.stats is not None and b.stats is not None
    out = []
    for n, st in a.program.stats.items():
        if n not in b.program.stats:
            continue
        va, vb = a.stats[n], b.stats[n]
        if repr(_frozen(va)) == repr(_frozen(vb)):
            continue
        entry: dict = {"stat": n, "definition": st.source, "function": st.expr.function.name}
        if isinstance(va, int | float) and isinstance(vb, int | float) \
                and not isinstance(va, bool):
            entry.update(old=va, new=vb)
            std = _old_std(a, st)
            if st.expr.function.name == "mean" and std:
                entry["shift_in_old_std"] = (vb - va) / std
            if st.expr.function.name == "std" and va:
                entry["ratio"] = vb / va
        elif st.expr.function.name == "vocab" and isinstance(va, tuple | list) \
                and isinstance(vb, tuple | list):
            ia = {v: i for i, v in enumerate(va)}
            ib = {v: i for i, v in enumerate(vb)}
            entry.update(
                added=[_plain(v) for v in vb if v not in ia],
                removed=[_plain(v) for v in va if v not in ib],
                reindexed=[{"value": _plain(v), "old": ia[v], "new": ib[v]}
                           for v in vb if v in ia and ia[v] != ib[v]])
        elif isinstance(va, ir.GroupTable) and isinstance(vb, ir.GroupTable):
            entry.update(_group_movement(va, vb))
        elif isinstance(va, tuple | list) and isinstance(vb, tuple | list):
            entry.update(old=[_plain(v) for v in va], new=[_plain(v) for v in vb])
        else:
            entry.update(old=repr(va), new=repr(vb))
        out.append(entry)
    return out


def _group_movement(a: ir.GroupTable, b: ir.GroupTable, shown: int = 5) -> dict:
    """How a grouped statistic's table moved: groups added and removed, values changed among
    the groups both hold, and the largest numeric changes (key, old, new)."""
    old = dict(zip(a.keys, a.values, strict=True))
    new = dict(zip(b.keys, b.values, strict=True))
    changed = [(k, old[k], v) for k, v in new.items()
               if k in old and repr(_frozen(old[k])) != repr(_frozen(v))]

    def size(c: tuple) -> float:
        o, n = c[1], c[2]
        if isinstance(o, int | float) and isinstance(n, int | float):
            d = abs(n - o)
            return d if d == d else math.inf
        return math.inf  # null <-> value first

    changed.sort(key=lambda c: (-size(c), repr(c[0])))
    def plain_key(k: tuple) -> object:
        return _plain(k[0]) if len(k) == 1 else [_plain(x) for x in k]
    return {"groups": {"old": len(old), "new": len(new),
                       "added": [plain_key(k) for k in b.keys if k not in old][:shown],
                       "added_count": sum(1 for k in new if k not in old),
                       "removed": [plain_key(k) for k in a.keys if k not in new][:shown],
                       "removed_count": sum(1 for k in old if k not in new),
                       "changed_count": len(changed),
                       "largest_changes": [{"group": plain_key(k), "old": _plain(o),
                                            "new": _plain(n)} for k, o, n in changed[:shown]]}}


def _old_std(a: _Meaning, st: ir.Stat) -> float | None:
    """The old standard deviation of a ``mean``'s argument: a ``std`` statistic of the same
    argument, else the training profile's for an input."""
    key = tuple(x.key() for x in st.expr.args)
    assert a.stats is not None
    for n, other in a.program.stats.items():
        if other.expr.function.name == "std" and tuple(x.key() for x in other.expr.args) == key:
            v = a.stats[n]
            return float(v) if isinstance(v, int | float) and v else None
    arg = st.expr.args[0] if st.expr.args else None
    profile = getattr(a.spec, "profile", None) or {}
    if isinstance(arg, ir.Input):
        std = (profile.get("inputs") or {}).get(arg.name, {}).get("std")
        return float(std) if isinstance(std, int | float) and std else None
    return None


def _plain(v: object) -> object:
    """A value as JSON-ready data (the report's values are the data's own)."""
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)
