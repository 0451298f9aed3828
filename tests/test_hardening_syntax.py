"""Hardening of the spec-text layer (issue 11): byte-order marks and line ends, "no overload"
messages, the AST's public ``children()``, and the functions package's own names.

Each defect has its regression test and a test of the class it belongs to.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import featuredsl as fd
from featuredsl.errors import normalize_source, source_lines
from featuredsl.syntax.format import format_source
from featuredsl.syntax.parser import parse
from tests.test_cli_check import cli, no_traceback

# ------------------------------------------------------------------ BOM and line ends

#: Errors and warnings on several lines, a multi-line declaration, comments and a string.
SPEC = (
    "## the amount\n"
    "input {\n"
    "  amount: float  # euros\n"
    "  name: string\n"
    "  unused: int\n"
    "}\n"
    "let s = upper(name)\n"
    "feature a = log1p(amout)\n"
    "feature b = if amount > 1\n"
    "  then s else \"x#y\"\n"
    "feature c = nope(amount)\n"
)
ENDINGS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


def _diagnostics(text: str) -> list[fd.Diagnostic]:
    with pytest.raises(fd.SpecError) as err:
        fd.compile(text, "a.feat")
    return err.value.diagnostics


def _variant(ending: str, bom: bool) -> str:
    return ("\ufeff" if bom else "") + SPEC.replace("\n", ending)


def test_bom_is_accepted_with_positions_unchanged() -> None:
    clean = "input {\n  x: float\n}\nfeature y = log1p(x)\n"
    spec = fd.compile("\ufeff" + clean)
    assert spec.diagnostics == fd.compile(clean).diagnostics
    plain = _diagnostics(SPEC)
    with_bom = _diagnostics("\ufeff" + SPEC)
    assert [(d.code, d.line, d.column, d.end_line, d.end_column) for d in with_bom] == \
        [(d.code, d.line, d.column, d.end_line, d.end_column) for d in plain]
    assert not any(d.code == "E001" for d in with_bom)


def test_bare_cr_line_ends_are_line_ends() -> None:
    diags = _diagnostics(SPEC.replace("\n", "\r"))
    assert {(d.code, d.line) for d in diags} >= {("E201", 8), ("E202", 11), ("W001", 5)}


@pytest.mark.parametrize(("ending", "bom"), list(itertools.product(ENDINGS, (False, True))))
def test_every_line_end_and_bom_give_the_same_diagnostics_and_carets(ending: str,
                                                                      bom: bool) -> None:
    expected = _diagnostics(SPEC)
    expected_text = "\n\n".join(d.render(SPEC) for d in expected)
    text = _variant(ENDINGS[ending], bom)
    got = _diagnostics(text)
    assert got == expected
    # rendering against the text as written (CR, CRLF, BOM) shows the same lines and carets
    assert "\n\n".join(d.render(text) for d in got) == expected_text
    with pytest.raises(fd.SpecError) as err:
        fd.compile(text, "a.feat")
    assert "\r" not in str(err.value) and "\ufeff" not in str(err.value)


@pytest.mark.parametrize("sep", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
                                 "\u2029"])
def test_other_unicode_separators_are_not_line_ends(sep: str) -> None:
    # str.splitlines() splits on these; lark does not: the caret must stay on its line.
    text = f"# a{sep}b\n" + SPEC
    for d in _diagnostics(text):
        rendered = d.render(text).split("\n")
        source_line = rendered[3].split(" | ", 1)[1]
        assert source_line == source_lines(text)[d.line - 1].expandtabs(1)
    e201 = next(d for d in _diagnostics(text) if d.code == "E201")
    assert e201.line == 9 and "log1p(amout)" in e201.render(text)


def test_source_lines_and_normalize() -> None:
    assert source_lines("a\r\nb\rc\nd") == ["a", "b", "c", "d"]
    assert source_lines("\ufeffa\n") == ["a", ""]
    assert normalize_source("\ufeffa\r\nb\r") == "a\nb\n"
    assert source_lines("a\x0cb\u2028c") == ["a\x0cb\u2028c"]


def test_parse_positions_and_comments_with_crlf() -> None:
    lf, _ = parse(SPEC)
    for ending, bom in itertools.product(ENDINGS.values(), (False, True)):
        m, _ = parse(_variant(ending, bom))
        assert m.comments == lf.comments  # no `\r` kept in a comment's text
        assert [d.span for d in m.decls] == [d.span for d in lf.decls]
        assert [d.doc for d in m.decls] == [d.doc for d in lf.decls]


def test_an_invisible_character_is_named() -> None:
    diags = _diagnostics("input {\n  x: float\n}\nfeature y =\u200b x\n")
    assert diags[0].code == "E001"
    assert "U+200B ZERO WIDTH SPACE" in diags[0].message
    # a byte-order mark that is not at the start is still an error, and is named
    diags = _diagnostics("input {\n  x: float\n}\n\ufefffeature y = x\n")
    assert any("U+FEFF" in d.message for d in diags if d.code == "E001")


def test_compile_file_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "a.feat"
    path.write_bytes(b"\xef\xbb\xbfinput {\r\n  x: float\r\n}\r\nfeature y = log1p(x)\r\n")
    spec = fd.compile_file(path)
    assert spec.diagnostics == fd.compile(OK_SPEC).diagnostics
    path.write_bytes(_variant("\r", True).encode("utf-8"))
    with pytest.raises(fd.SpecError) as err:
        fd.compile_file(path)
    assert {(d.code, d.line) for d in err.value.diagnostics} >= {("E201", 8), ("E202", 11)}


OK_SPEC = "input {\n  x: float\n}\n\nfeature y = log1p(x)\n"


@pytest.mark.parametrize(("ending", "bom"), list(itertools.product(ENDINGS, (False, True))))
def test_format_normalises_line_ends(ending: str, bom: bool) -> None:
    messy = "input {\n x:   float\n}\n\nfeature y=log1p( x )  # c\n"
    want = format_source(messy)
    text = ("\ufeff" if bom else "") + messy.replace("\n", ENDINGS[ending])
    out = format_source(text)
    assert out == want and "\r" not in out and "\ufeff" not in out
    assert format_source(out) == out


def test_cli_check_and_fmt_with_bom_and_cr(tmp_path: Path) -> None:
    bom_crlf = tmp_path / "crlf.feat"
    bom_crlf.write_bytes(("\ufeff" + OK_SPEC.replace("\n", "\r\n")).encode("utf-8"))
    cr = tmp_path / "cr.feat"
    cr.write_bytes(_variant("\r", False).encode("utf-8"))
    p = cli("check", str(bom_crlf))
    no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr
    p = cli("check", str(cr))
    no_traceback(p)
    assert p.returncode == 1
    assert f"{cr}:8:19" in p.stdout and "8 | feature a = log1p(amout)" in p.stdout
    p = cli("fmt", "--check", str(bom_crlf))
    assert p.returncode == 1 and "would reformat" in p.stdout
    p = cli("fmt", str(bom_crlf))
    assert p.returncode == 0, p.stderr
    assert bom_crlf.read_bytes() == OK_SPEC.encode("utf-8")


# ------------------------------------------------------------------ "no overload" messages

HEAD = ("input {\n  s: string\n  t: timestamp\n  d: date\n  n: int\n  x: float\n  b: bool\n"
        "  dur: duration\n  ls: list[string]\n}\n")
#: An input of each type, and a literal of each type.
INPUT_OF = {"string": "s", "timestamp": "t", "date": "d", "int": "n", "float": "x",
            "bool": "b", "duration": "dur", "list[string]": "ls"}
LITERAL_OF = {"string": '"a"', "int": "1", "float": "1.5", "bool": "true",
              "list[string]": '["a"]', "list[int]": "[1]", "list[float]": "[1.5]",
              "list[bool]": "[true]"}


def _first_error(expr: str) -> fd.Diagnostic:
    with pytest.raises(fd.SpecError) as err:
        fd.compile(HEAD + f"feature f = {expr}\n")
    return err.value.errors[0]


def test_date_of_a_string_shows_one_argument_and_says_what_to_do() -> None:
    d = _first_error('date("2013-01-01")')
    assert (d.code, d.message) == ("E203", "no overload of `date` takes (string)")
    assert 'write `parse_date("2013-01-01")`' in d.hint
    assert "declare the input `date`" in d.hint
    assert "(string, string)" not in d.message
    assert 'date(timestamp, zone: string = "UTC") -> date' in d.hint
    d = _first_error('date(s, zone="Europe/Paris")')
    assert d.message == "no overload of `date` takes (string, zone: string)"
    d = _first_error('date(s, "Europe/Paris")')
    assert d.message == "no overload of `date` takes (string, string)"


def _defaulted_cases() -> list[tuple[str, str, int]]:
    """(function, a call whose first argument no overload takes, arguments written) for every
    function with a defaulted parameter."""
    from featuredsl.functions.registry import all_functions
    from featuredsl.types import accepts

    cases = []
    for fn in all_functions():
        if not fn.defaults or fn.kind not in ("scalar", "aggregate"):
            continue
        shown = [o for o in fn.overloads if not o.hidden]
        wrong = next(k for k, name in INPUT_OF.items()
                     if all(accepts(o.params[0], _type_of(name)) is None for o in shown))
        required = [p for p in fn.params if p not in fn.defaults]
        rest = [LITERAL_OF[str(shown[0].params[i])] for i in range(1, len(required))]
        cases.append((fn.name, f"{fn.name}({', '.join([INPUT_OF[wrong], *rest])})",
                      len(required)))
    return cases


def _type_of(name: str):
    from featuredsl.types import STRING, Type, list_of

    kind = next(k for k, v in INPUT_OF.items() if v == name)
    return list_of(STRING) if kind == "list[string]" else Type(kind)


@pytest.mark.parametrize(("name", "expr", "n_written"), _defaulted_cases())
def test_no_overload_message_shows_only_the_arguments_written(name: str, expr: str,
                                                               n_written: int) -> None:
    d = _first_error(expr)
    assert d.code == "E203", d
    inside = d.message.removeprefix(f"no overload of `{name}` takes (").removesuffix(")")
    assert len(inside.split(", ")) == n_written, d.message
    # the hint names every defaulted parameter with its default: it need not be written
    from featuredsl.functions.registry import lookup

    for p in lookup(name).defaults:
        assert f"{p}: " in d.hint and " = " in d.hint, d.hint


def test_no_overload_advice_class() -> None:
    cases = {
        "year(s)": "write `parse_timestamp(s)` or `parse_date(s)`",
        "hour(s)": "write `parse_timestamp(s)`",
        "hour(d)": "takes a timestamp, not a date",
        "date(d)": "is a date already",
        "log1p(s)": "convert argument 1 first: `to_float(s)`",
        "round(s)": "convert argument 1 first: `to_float(s)`",
        "upper(n)": "convert argument 1 first: `to_string(n)`",
        "starts_with(s, n)": "convert argument 2 first: `to_string(n)`",
    }
    for expr, advice in cases.items():
        assert advice in _first_error(expr).hint, expr
    # no advice where it would not be right: a literal is rewritten, not converted; a
    # conversion that leaves another argument needing a promotion is not offered
    for expr in ("round(x, 1.5)", "substring(s, 1.5, 2)", "one_hot(s, [1, 2])", "date(t, 5)"):
        hint = _first_error(expr).hint
        assert "convert" not in hint and hint.startswith("`"), (expr, hint)


# ------------------------------------------------------------------ the AST's children()


def _fields_oracle(node: object) -> list[object]:
    """Every AST node held by a node's fields, in field order (tuples and kwargs opened)."""
    import dataclasses

    from featuredsl.syntax import ast

    out: list[object] = []

    def add(v: object) -> None:
        if isinstance(v, ast.Node) and not isinstance(v, ast.TypeExpr):
            out.append(v)
        elif isinstance(v, ast.Kwarg):
            add(v.value)
        elif isinstance(v, tuple):
            for x in v:
                add(x)

    for f in dataclasses.fields(node):  # type: ignore[arg-type]
        if f.name != "span":
            add(getattr(node, f.name))
    return out


def test_children_is_public_documented_and_complete() -> None:
    import inspect

    from featuredsl.syntax import ast

    assert ast.children.__doc__ and ast.Node.children.__doc__
    text = (HEAD + 'feature f = case when n > 1 then [x, -x] when not b then [1.5] else '
            '[if s in ["a"] then 1.0 else 2.0] end\n'
            'feature g = pad_left(s, 3, fill="0") ?? "z"\n'
            'let h = t is not null or d is null\n'
            'feature w = count(ev.x, over=1d, where=ev.y > 0)\n')
    module, diags = parse(text)
    assert not diags
    seen: set[type] = set()
    stack = [d.expr for d in module.decls]
    while stack:
        n = stack.pop()
        seen.add(type(n))
        assert list(n.children()) == _fields_oracle(n), n
        assert ast.children(n) == n.children()
        stack.extend(n.children())
    expression_classes = {c for _, c in inspect.getmembers(ast, inspect.isclass)
                          if issubclass(c, ast.Node) and c is not ast.Node
                          and c.__module__ == ast.__name__
                          and c not in (ast.TypeExpr, ast.InputField, ast.InputBlock, ast.Decl,
                                        ast.SourceDecl, ast.Clause)}
    assert expression_classes <= seen  # the spec above uses every kind of expression


# ------------------------------------------------------------------ import discipline

PKG = Path(__file__).parents[1] / "featuredsl"


def _imports(folder: str) -> list[tuple[str, int, str, tuple[str, ...]]]:
    """(file, line, module, names) of every ``from featuredsl... import`` and ``import
    featuredsl...`` in a folder of the package, nested ones (inside functions) included."""
    import ast as pyast

    out = []
    for path in sorted((PKG / folder).glob("*.py")):
        tree = pyast.parse(path.read_text(encoding="utf-8"))
        for node in pyast.walk(tree):
            if isinstance(node, pyast.ImportFrom) and node.module \
                    and node.module.startswith("featuredsl"):
                out.append((path.name, node.lineno, node.module,
                            tuple(a.name for a in node.names)))
            elif isinstance(node, pyast.Import):
                out += [(path.name, node.lineno, a.name, ()) for a in node.names
                        if a.name.startswith("featuredsl")]
    return out


@pytest.mark.parametrize("folder", ["functions", "checker", "syntax"])
def test_no_private_name_is_borrowed_across_modules(folder: str) -> None:
    # A private *module* of the same package (`from featuredsl.functions import _pl`) is the
    # package's own helper; a private *name* of another module is not to be imported.
    bad = []
    for file, line, module, names in _imports(folder):
        package_import = module == f"featuredsl.{folder}"
        for name in names:
            if name.startswith("_") and not package_import:
                bad.append(f"{folder}/{file}:{line}: {module} import {name}")
    assert not bad, bad


def test_functions_import_nothing_above_them() -> None:
    allowed = ("featuredsl.functions", "featuredsl.types", "featuredsl.errors")
    bad = [f"functions/{f}:{line}: {m}" for f, line, m, names in _imports("functions")
           if not m.startswith(allowed)
           and not (m == "featuredsl" and set(names) <= {"types", "errors"})]
    assert not bad, bad


def test_shared_helpers_are_public_and_documented() -> None:
    from featuredsl.backends import row_input
    from featuredsl.functions import lists, lookups, operators, temporal_ops

    for fn in (operators.canon, operators.is_in_row, lookups.index_map):
        assert not fn.__name__.startswith("_") and fn.__doc__
    assert lists.MEMBER_KINDS == operators.IN_KINDS
    assert set(operators.IN_CONST) <= {t.kind for t in operators.IN_KINDS}
    assert lookups.index_map((0.0, -0.0, 1.0)) == {0.0: 0, 1.0: 2}
    # one timestamp range: the lowerings' and the row input reader's agree
    assert (temporal_ops.TS_MIN_US, temporal_ops.TS_MAX_US) == \
        (row_input.TS_MIN_US, row_input.TS_MAX_US)
