"""The row backend: generate one straight-line Python function per spec, compile it once.

The generated function takes a dict and returns the feature dict. It reads and checks each
input once (fast path inline, conversions in :mod:`row_input`), then computes every value into
a local, in dependency order, with ``is None`` checks only where the checker says a value can be
null. ``if``/``case``/``??`` evaluate lazily as nested blocks; equal subexpressions are computed
once per block.

Null checks test *roots*: a null-propagating call that is never null on non-null arguments is
null exactly when one of its arguments is, so ``(x - m) / s`` tests ``x``, not ``x - m``. Top-level
statements guarded by the same roots then share one ``if x is None: ... else: ...`` block
(``_merge`` moves a statement up into the previous such block unless something in between
assigns a local it reads), which is what a hand-written function does.

Lists are Python lists (inputs, computed values) or tuples (constants); every list-valued
output is handed out as a new list, so a caller may keep or mutate it. A constant list used
for membership (``x in [..]``, ``contains(vocab, x)``) is bound once as a frozenset.

Safety: no text of the `.feat` file becomes code. Locals are generated (``v3``), field names
and string literals appear only as ``repr()`` string literals, and every other constant (sets,
dicts, tuples, non-finite floats, helper functions) is bound in the function's globals under a
generated name. The source is kept on the function (``evaluate.source``) for inspection and is
deterministic for a given spec and fitted statistics.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast, overload

from featuredsl import ir
from featuredsl.backends import row_input
from featuredsl.errors import InputError
from featuredsl.types import Type

_I64 = "-9223372036854775808 <= {0} <= 9223372036854775807"
_MAX_INDENT = 40
_FAST_TYPE = {"int": "int", "float": "float", "string": "str", "bool": "bool"}
#: How far back (in top-level statements) a null-guarded statement looks for a block to join.
_MERGE_WINDOW = 64
_LOCAL = re.compile(r"\bv[0-9]+\b")
#: An assignment to a generated local (``v3 = ...``, ``v3 := ...``; not ``==``, ``<=``...).
_ASSIGNED = re.compile(r"\b(v[0-9]+) :?=(?!=)")


@dataclass(frozen=True)
class RowObserver:
    """What a serving monitor or feature logger hooks into the generated evaluator.

    The hook is generated into the function only when an observer is given: an evaluator
    without observers has no observing code at all (its source is byte-identical to one built
    before observers existed). With observers, after the features are computed, each one's
    ``sample()`` is called once per row (one cheap C call such as ``itertools.cycle(...)
    .__next__`` is best); when it is truthy, ``record(inputs, features)`` is called with the
    tuple of the row's checked, typed inputs (in ``program.inputs`` order; timestamps as naive
    UTC datetimes) and the feature dict about to be returned (read it, do not keep or mutate
    it: the caller gets that very dict). ``input_error(exc)``, when given, is called on every
    rejected row (at full rate, whatever the sampling) with the complete :class:`InputError`,
    before it is raised to the caller.
    """

    sample: Callable[[], object]
    record: Callable[[tuple, dict], object]
    input_error: Callable[[InputError], object] | None = None


_EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)


def _naive_utc(t: dt.datetime | None) -> dt.datetime | None:
    """A checked timestamp input (naive, or aware in a UTC zone) as naive UTC. Exact datetime
    arithmetic, about 8x faster than ``t.replace(tzinfo=None)`` (~0.5 µs in CPython 3.11)."""
    return t if t is None or t.tzinfo is None else _EPOCH_NAIVE + (t - _EPOCH_UTC)


@dataclass
class _Guarded:
    """Top-level statements that compute ``outs`` unless one of ``guard`` is null (then every
    out is null): emitted as one ``if g is None: ... else: ...`` block (see ``_merge``)."""

    guard: tuple[str, ...]
    outs: list[str]
    body: list[str] = field(default_factory=list)


def _is_local(atom: str) -> bool:
    """Whether an atom is a variable (a local or a bound global), not a literal.

    Literal atoms (``5``, ``'a'``, ``-0.0``, ``None``) are known at generation time: testing
    them with ``is None`` is pointless, and a SyntaxWarning for numbers and strings.
    """
    return atom.isidentifier() and atom not in ("None", "True", "False")


class RowCodegen:
    """Builds the source and globals of the evaluator; also the ``g`` given to lowerings.

    Built from the bound program and, when it has windows, ``windows``: the reader of a row's
    window values (``featuredsl.windows``). :meth:`build` generates the code once.
    """

    def __init__(self, program: ir.BoundProgram,
                 windows: Callable[..., tuple] | None = None,
                 observers: tuple[RowObserver, ...] = ()) -> None:
        self.program = program
        #: monitors and loggers called on the row (see :class:`RowObserver`)
        self.observers = observers
        #: reads the program's windows for one row (``featuredsl.windows``): called with the
        #: row's time and the inputs of :func:`window_inputs`, returns one value per window
        self.window_reader = windows
        self.globals: dict[str, object] = {}
        self._ref_names: dict[object, str] = {}
        self._counter = 0
        #: generated lines, and null-guarded top-level statements that ``render`` merges
        self.lines: list[str | _Guarded] = []
        self.indent = 1
        self.memo: dict[tuple, str] = {}
        self.values: dict[str, str] = {}
        #: local -> the nullable locals it is null exactly when one of is ("roots"): a
        #: null-propagating call that is never null on non-null arguments is null exactly when
        #: one of its arguments' roots is. Null checks test roots, so that statements that
        #: test the same roots can share one block.
        self.roots: dict[str, tuple[str, ...]] = {}

    # ------------------------------------------------------------------- lowering services
    def ref(self, obj: object, hint: str = "k") -> str:
        """Bind ``obj`` in the generated module's globals and return its (generated) name."""
        try:
            # repr tells (1, 2) from (1.0, 2.0), which are equal and hash alike
            key: object = ("h", type(obj), obj, repr(obj) if type(obj) is tuple else None)
            hash(key)
        except TypeError:
            key = ("id", id(obj))
        name = self._ref_names.get(key)
        if name is None:
            safe = "".join(c for c in hint if c.isalnum() or c == "_")[:20] or "k"
            name = f"_{safe}_{len(self._ref_names)}"
            self._ref_names[key] = name
            self.globals[name] = obj
        return name

    def lit(self, value: object) -> str:
        """A Python expression for a constant."""
        if value is None or isinstance(value, bool | int | str):
            return repr(value)
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else self.ref(value, "inf")
        return self.ref(value, "const")

    # ------------------------------------------------------------------- emitting
    def emit(self, line: str) -> None:
        """Append one line of generated code at the current indentation."""
        self.lines.append("    " * self.indent + line)

    def _roots(self, atom: str) -> tuple[str, ...]:
        return self.roots.get(atom, (atom,))

    def render(self) -> str:
        """The source: ``lines`` with null-guarded statements merged into shared blocks."""
        out: list[str] = []
        for st in _merge(self.lines):
            if isinstance(st, _Guarded):
                out.append(f"    if {' or '.join(f'{r} is None' for r in st.guard)}:")
                out.append(f"        {' = '.join(st.outs)} = None")
                out.append("    else:")
                out.extend("        " + line for line in st.body)
            else:
                out.extend(st)
        return "\n".join(out) + "\n"

    def tmp(self) -> str:
        """A fresh local variable name (``v1``, ``v2``, ...)."""
        self._counter += 1
        return f"v{self._counter}"

    # ------------------------------------------------------------------- program
    def build(self) -> tuple[str, dict[str, object]]:
        """Generate the evaluator: the source of ``def evaluate(row)`` (inputs read and checked,
        windows read, values in dependency order, the dict of features) and the globals it needs.
        """
        self.lines.append("def evaluate(row):")
        self.emit("if type(row) is not dict:")
        self.emit(f"    row = {self.ref(row_input.as_mapping, 'as_mapping')}(row)")
        self.emit("get = row.get")
        # timestamp inputs read only by calendar fields may stay aware UTC; observers get them
        # naive, converted in the sampled branch only (not on every row)
        self._fields_only = self._inputs_read_as_fields_only()
        if self.program.inputs:
            # A bad row names every missing required field, not only the first: completed on
            # the error path (a try block costs nothing when nothing is raised).
            self.emit("try:")
            self.indent += 1
            for name, t in self.program.inputs.items():
                self._input(name, t)
            self.indent -= 1
            complete = self.ref(row_input.with_every_missing_field, "complete")
            schema = self.ref(dict(self.program.inputs), "schema")
            exc = self.tmp()
            self.emit(f"except {self.ref(InputError, 'InputError')} as {exc}:")
            errors = [self.ref(o.input_error, "input_error") for o in self.observers
                      if o.input_error is not None]
            if errors:
                self.emit(f"    {exc} = {complete}({exc}, row, {schema})")
                for hook in errors:
                    self.emit(f"    {hook}({exc})")
                self.emit(f"    raise {exc} from None")
            else:
                self.emit(f"    raise {complete}({exc}, row, {schema}) from None")
        if self.program.windows:
            self._read_windows()
        for name in self.program.order:  # the needed values, in dependency order
            self.values[name] = self.expr(self.program.values[name])
        items = []
        handed_out: set[str] = set()
        for f in self.program.features:
            code = self.expr(f.expr)
            conv = row_input.output_converter(f.type)
            definition = self.program.values.get(f.name, f.expr)
            if conv is not None:
                code = f"{self.ref(conv, 'out')}({code})"
            elif f.type.kind == "list" and (not _fresh_list(definition) or code in handed_out):
                # constants are tuples, and a list may be shared by several values (two
                # features with the same expression share one local): every list output is a
                # new Python list the caller may keep or mutate
                code = f"{self.ref(_out_list, 'out_list')}({code})"
            handed_out.add(code)
            items.append(f"{f.name!r}: {code}")
        if not self.observers:
            self.emit("return {" + ", ".join(items) + "}")
            return self.render(), self.globals
        out = self.tmp()
        self.emit(f"{out} = {{" + ", ".join(items) + "}")
        naive = self.ref(_naive_utc, "naive_utc")
        typed = [f"{naive}({self.values['$in:' + n]})" if n in self._fields_only
                 else self.values["$in:" + n] for n in self.program.inputs]
        inputs = f"({', '.join(typed)}{',' if len(typed) == 1 else ''})"
        for o in self.observers:
            self.emit(f"if {self.ref(o.sample, 'sample')}():")
            self.emit(f"    {self.ref(o.record, 'record')}({inputs}, {out})")
        self.emit(f"return {out}")
        return self.render(), self.globals

    def _read_windows(self) -> None:
        """One call reads every window of the row from the state, after the inputs."""
        if self.window_reader is None:
            raise ValueError("this spec has window aggregates: the evaluator needs a state")
        assert self.program.time is not None
        args = [self.values["$in:" + n] for n in (self.program.time,
                                                   *window_inputs(self.program))]
        # unpacked into one local per window in the same statement (no indexing later)
        names = [self.tmp() for _ in self.program.windows]
        for i, name in enumerate(names):
            self.values[f"$window:{i}"] = name
        self.emit(f"{', '.join(names)}, = "
                  f"{self.ref(self.window_reader, 'windows')}({', '.join(args)})")

    def _Window(self, e: ir.Window) -> str:
        index = next(i for i, w in enumerate(self.program.windows) if w.key() == e.key())
        return self.values[f"$window:{index}"]

    def _inputs_read_as_fields_only(self) -> set[str]:
        """Timestamp inputs used only by calendar-field functions: they may stay aware UTC."""
        ok = {n for n, t in self.program.inputs.items() if t.kind == "timestamp"}
        if self.program.windows:  # the window reader takes the normalized row time
            ok -= {self.program.time, *window_inputs(self.program)}
        for value in self.program.values.values():
            for node in ir.walk(value):
                allowed = isinstance(node, ir.Call) and node.overload.reads_fields_only
                for child in node.children():
                    if isinstance(child, ir.Input) and not allowed:
                        ok.discard(child.name)
        for value in self.program.values.values():
            # a let or feature that *is* the input passes it on to anything (a comparison, an
            # output, arithmetic): it must be the normalized naive UTC value
            if isinstance(value, ir.Input):
                ok.discard(value.name)
        return ok

    def _input(self, name: str, t: Type) -> None:
        """Read one field and check it, fused: one ``get``, an exact-type fast path inline.

        A null of a nullable input (``None``) and a float NaN (null, SPEC 4.4) are settled
        inline too; only other types and non-ASCII strings call the converter."""
        local = self.tmp()
        self.values["$in:" + name] = local
        conv = self.ref(row_input.converter(t), f"in_{t.kind}")
        call = f"{local} = {conv}({local}, {name!r}, {t.nullable})"
        self.emit(f"{local} = get({name!r})")
        fast = _FAST_TYPE.get(t.kind)
        if t.kind == "timestamp":  # the common case, a naive (UTC) datetime, passes through
            fast = self.ref(dt.datetime, "datetime")
            if name in self._fields_only:  # aware UTC datetimes can pass through as well
                utc, tz = self.ref(row_input.UTC_ZONES, "utc"), self.tmp()
                extra = f"({tz} := {local}.tzinfo) is not None and {tz} not in {utc}"
            else:
                extra = f"{local}.tzinfo is not None"
        elif fast is None:
            self.emit(call)
            return
        elif t.kind == "int":
            extra = f"not {_I64.format(local)}"
        elif t.kind == "string":  # non-ASCII text is checked for lone surrogates
            extra = f"not {local}.isascii()"
        elif t.kind == "float":  # NaN is null: None for `float?`, the converter's error else
            extra = f"{local} != {local}"
        else:
            extra = ""
        if not t.nullable:
            self.emit(f"if type({local}) is not {fast}{' or ' + extra if extra else ''}:")
            self.emit(f"    {call}")
            return
        self.emit(f"if type({local}) is not {fast}:")
        self.emit(f"    if {local} is not None:")
        self.emit(f"        {call}")
        if extra:
            self.emit(f"elif {extra}:")
            self.emit(f"    {local} = None" if t.kind == "float" else f"    {call}")

    # ------------------------------------------------------------------- expressions
    def expr(self, e: ir.Expr) -> str:
        """Emit statements computing ``e``; return an atom (a local or a literal) holding it."""
        if isinstance(e, ir.Const):
            return self.lit(e.value)
        if isinstance(e, ir.Input):
            return self.values["$in:" + e.name]
        if isinstance(e, ir.LetRef):
            return self.values[e.name]
        key = e.key()
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        out = getattr(self, "_" + type(e).__name__)(e)
        self.memo[key] = out
        return out

    def _block(self, e: ir.Expr, target: str) -> None:
        """Emit ``e`` into an indented block assigning ``target``; block-local sharing only."""
        saved = dict(self.memo)
        self.indent += 1
        self.emit(f"{target} = {self.expr(e)}")
        self.indent -= 1
        self.memo = saved

    def _Call(self, e: ir.Call) -> str:
        ov = e.overload  # specialized by bind
        args: list[object] = []
        nullable: list[str] = []
        # A null-aware function sees its null arguments (no None checks around it).
        propagate = e.function.null_policy == "propagate"
        for i, a in enumerate(e.args):
            if ov.is_const(i):
                assert isinstance(a, ir.Const)
                args.append(a.value)
            else:
                atom = self.expr(a)
                args.append(atom)
                if a.type.nullable and _is_local(atom) and propagate:
                    nullable.append(atom)
        out = self.tmp()
        if propagate and any(a == "None" for i, a in enumerate(args) if not ov.is_const(i)):
            self.emit(f"{out} = None")
            return out
        code = ov.row(self, *args)
        checks = []
        if ov.row_nan:
            checks.append(f"if {out} != {out}: {out} = None")
        if ov.int_overflow:
            checks.append(f"if {out} is not None and not {_I64.format(out)}: {out} = None")
        guard = tuple(dict.fromkeys(r for n in nullable for r in self._roots(n)))
        if propagate and not (ov.may_be_null or checks):
            self.roots[out] = guard  # null exactly when an argument is
        if guard and self.indent == 1:  # joined with other statements of this guard later
            self.lines.append(_Guarded(guard, [out], [f"{out} = {code}", *checks]))
            return out
        if guard:
            self.emit(f"if {' or '.join(f'{n} is None' for n in guard)}:")
            self.emit(f"    {out} = None")
            self.emit("else:")
            self.indent += 1
        self.emit(f"{out} = {code}")
        for c in checks:
            self.emit(c)
        if guard:
            self.indent -= 1
        return out

    def _Cast(self, e: ir.Cast) -> str:
        a = self.expr(e.arg)
        out = self.tmp()
        if a == "None":
            return a
        if e.type.kind == "list":  # int -> float element-wise (a null list stays null)
            if isinstance(e.arg, ir.Const):  # converted once, not per row (bind folds these)
                value = cast("tuple | None", e.arg.value)  # a list constant is a tuple
                return self.lit(None if value is None else tuple(_float_list(value)))
            self.emit(f"{out} = {self.ref(_float_list, 'float_list')}({a})")
            return out
        if e.arg.type.nullable and _is_local(a):
            self.roots[out] = self._roots(a)
            self.emit(f"{out} = None if {a} is None else float({a})")
        else:
            self.emit(f"{out} = float({a})")
        return out

    def _truth(self, e: ir.Expr) -> str:
        """A Python condition true exactly when the bool ``e`` is true (null is not), for an
        ``if``: Kleene ``and``/``or`` are then plain ``and``/``or`` of the operands (None is
        falsy), with no three-valued result built."""
        if isinstance(e, ir.Logic) and e.key() not in self.memo:
            a, b = self._truth(e.left), self._truth(e.right)
            return f"({a} {e.op} {b})"
        return self.expr(e)

    def _If(self, e: ir.If) -> str:
        c = self._truth(e.cond)
        out = self.tmp()
        if self.indent > _MAX_INDENT:
            # Python allows only 100 nested blocks: past this depth both branches are
            # computed up front (no featuredsl expression raises, so only speed differs).
            a, b = self.expr(e.then), self.expr(e.otherwise)
            self.emit(f"{out} = {a} if {c} else {b}")
            return out
        self.emit(f"if {c}:")
        self._block(e.then, out)
        self.emit("else:")
        self._block(e.otherwise, out)
        return out

    def _Logic(self, e: ir.Logic) -> str:
        a, b = self.expr(e.left), self.expr(e.right)
        out = self.tmp()
        if not e.left.type.nullable and not e.right.type.nullable:
            self.emit(f"{out} = {a} {e.op} {b}")
        elif e.op == "and":
            self.emit(f"{out} = False if ({a} is False or {b} is False) else "
                      f"(None if ({a} is None or {b} is None) else True)")
        else:
            self.emit(f"{out} = True if ({a} is True or {b} is True) else "
                      f"(None if ({a} is None or {b} is None) else False)")
        return out

    def _Coalesce(self, e: ir.Coalesce) -> str:
        out = self.tmp()
        first = self.expr(e.args[0])
        self.emit(f"{out} = {first}")
        if self.indent + len(e.args) > _MAX_INDENT:  # see _If
            for a in e.args[1:]:
                atom = self.expr(a)
                self.emit(f"if {out} is None: {out} = {atom}")
            return out
        depth = 0
        for a in e.args[1:]:
            self.emit(f"if {out} is None:")
            self.indent += 1
            depth += 1
            saved = dict(self.memo)
            self.emit(f"{out} = {self.expr(a)}")
            self.memo = saved
        self.indent -= depth
        return out

    def _IsNull(self, e: ir.IsNull) -> str:
        a = self.expr(e.arg)
        if not _is_local(a):  # a literal, or a let holding one: `5 is None` is a SyntaxWarning
            return repr((a == "None") != e.negated)
        out = self.tmp()
        self.emit(f"{out} = {a} is {'not ' if e.negated else ''}None")
        return out


def _merge(lines: list[str | _Guarded]) -> list[_Guarded | list[str]]:
    """Group ``lines`` into top-level statements and move each null-guarded statement into
    the latest earlier block with the same guard, when no statement in between assigns a
    local it reads (generated statements are pure: moving one earlier changes nothing else).

    Example: ``log1p(amount)``, ``amount - m``, ``bucketize(amount, ..)`` each guarded by
    ``amount is None`` become one ``if v2 is None: ... else: ...`` block.
    """
    stmts: list[_Guarded | list[str]] = []
    for line in lines:
        if isinstance(line, _Guarded) or not line.startswith("     ") or not stmts \
                or isinstance(stmts[-1], _Guarded):
            stmts.append(line if isinstance(line, _Guarded) else [line])
        else:  # a line of a nested block belongs to the statement above it
            stmts[-1].append(line)
    out: list[_Guarded | list[str]] = []
    defs: list[set[str]] = []
    for st in stmts:
        if isinstance(st, _Guarded):
            reads = set(_LOCAL.findall("\n".join(st.body)))
            key = frozenset(st.guard)
            for j in range(len(out) - 1, max(-1, len(out) - 1 - _MERGE_WINDOW), -1):
                o = out[j]
                if isinstance(o, _Guarded) and frozenset(o.guard) == key:
                    o.outs.extend(st.outs)
                    o.body.extend(st.body)
                    defs[j].update(st.outs)
                    break
                if defs[j] & reads:
                    out.append(st)
                    defs.append(set(st.outs))
                    break
            else:
                out.append(st)
                defs.append(set(st.outs))
        else:
            out.append(st)
            defs.append(set(_ASSIGNED.findall("\n".join(st))))
    return out


@overload
def _float_list(xs: list | tuple) -> list: ...
@overload
def _float_list(xs: None) -> None: ...
def _float_list(xs: list | tuple | None) -> list | None:
    """A list of ints as floats (the int -> float promotion of a list); nulls stay null."""
    if xs is None:
        return None
    return [None if x is None else float(x) for x in xs]


def _out_list(xs: list | tuple | None) -> list | None:
    """A fresh Python list (nested lists too) for a list-valued output."""
    if xs is None:
        return None
    return [_out_list(x) if isinstance(x, list | tuple) else x for x in xs]


def _fresh_list(e: ir.Expr) -> bool:
    """Whether a list-valued output is already a new list made for this row (no copy needed):
    a promotion makes one, and so does a call whose overload says ``fresh_list`` (one_hot,
    multi_hot, split); inputs, constants, lets and branches may share theirs."""
    if isinstance(e, ir.Call):
        return e.overload.fresh_list
    return isinstance(e, ir.Cast) and not isinstance(e.arg, ir.Const)


def window_inputs(program: ir.BoundProgram) -> list[str]:
    """The inputs the program's windows match source keys with, in declaration order: with
    the row's time first, the arguments of the window reader."""
    used = {n for w in program.windows for n in w.by}
    return [n for n in program.inputs if n in used]


class _Evaluator(Protocol):
    """What :func:`build_evaluator` returns: the generated function, with its source."""

    source: str

    def __call__(self, row: dict) -> dict: ...


def build_evaluator(program: ir.BoundProgram, windows: Callable[..., tuple] | None = None,
                    observers: tuple[RowObserver, ...] = ()) -> Callable[[dict], dict]:
    """Generate, compile and return the evaluator; its source is ``evaluator.source``.

    A program with window aggregates needs ``windows``, the state's reader (see
    :mod:`featuredsl.windows.online`); ``observers`` hook monitors and loggers in (see
    :class:`RowObserver`)."""
    gen = RowCodegen(program, windows, tuple(observers))
    source, globs = gen.build()
    namespace: dict[str, object] = {"__builtins__": __builtins__, **globs}
    code = compile(source, "<featuredsl row evaluator>", "exec")
    exec(code, namespace)
    fn = cast(_Evaluator, namespace["evaluate"])  # the generated `def evaluate(row)`
    fn.source = source
    return fn


_NOTHING = ir.BoundProgram({}, {}, [], [], [])


def evaluate_constant(e: ir.Expr) -> object:
    """The value of an expression whose every leaf is a constant, computed by the row
    backend's own code: the bind pass folds row-independent subtrees with this, so constant
    arithmetic follows the reference (row) semantics exactly, in both backends."""
    gen = RowCodegen(_NOTHING)
    gen.lines.append("def evaluate():")
    gen.emit(f"return {gen.expr(e)}")
    namespace: dict[str, object] = {"__builtins__": __builtins__, **gen.globals}
    exec(compile(gen.render(), "<featuredsl constant>", "exec"), namespace)
    return cast(Callable[[], object], namespace["evaluate"])()  # the generated function
