"""The fitted artifact (SPEC section 7): round trips, determinism, and every ArtifactError.

Fitted specs are built directly (``FittedSpec(...)`` with hand-chosen statistic values), so
these tests do not depend on ``fit``.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from harness import assert_parity, frame_for, same_value

import featuredsl as fd
from featuredsl import artifact
from featuredsl.api import FittedSpec
from featuredsl.fit import FitResult, FitWarning

SOURCE = """\
input {
  amount: float?
  category: string?
  n: int
}
stat m = mean(amount)
stat v = vocab(category, top=3)
stat q = quantiles(amount, 4)
stat vi = vocab(n, top=5)
stat c = count(amount)
feature z = (amount - mean(amount)) / std(amount)
feature ci = index_of(category, v) ?? -1
feature b = bucketize(amount, q)
feature d = amount - m
feature c2 = c
feature ni = n in vi
"""

STATS: dict[str, object] = {
    "m": 1.5,
    "v": ("a", "é", "Σ"),
    "q": (0.5, 1.0, 2.5),
    "vi": (1, 2, 3),
    "c": 10,
    "mean(amount)": 0.1 + 0.2,           # needs 17 significant digits
    "std(amount)": 1 / 3,
}

def _column(count: int, nulls: int, **extra: object) -> dict[str, object]:
    return {"type": "?", "count": count, "null_count": nulls, **extra}


#: A training profile of the shape fit writes (load checks it: rows, an entry for every input
#: and feature, counts that add up), with values that test the float encoding.
PROFILE: dict[str, object] = {
    "rows": 10,
    "inputs": {
        "amount": _column(9, 1, min=-0.0, max=1e308, mean=0.1 + 0.2, std=1.0,
                          quantiles=[-0.0, 0.5, 0.5, 1.0, 1.0, 2.5, 2.5, 1e300, 1e308]),
        "category": _column(8, 2, top=[["é", 4], ["Σ", 3], ["a", 1]]),
        "n": _column(10, 0, top=[[1, 6], [2, 4]]),
    },
    "features": {"z": _column(9, 1, min=-math.inf, max=math.inf),
                 **{f: _column(10, 0) for f in ("ci", "b", "d", "c2", "ni")}},
}


def profile_with(value: object) -> dict[str, object]:
    """PROFILE with ``value`` as amount's mean and every one of its deciles."""
    amount = dict(PROFILE["inputs"]["amount"], mean=value, quantiles=[value] * 9)  # type: ignore[index]
    return dict(PROFILE, inputs=dict(PROFILE["inputs"], amount=amount))  # type: ignore[arg-type]


ROWS = [
    {"amount": 1.0, "category": "é", "n": 2},
    {"amount": None, "category": None, "n": 7},
    {"amount": 3.0, "category": "zz", "n": 1},
    {"amount": -0.0, "category": "Σ", "n": 3},
    {"amount": 0.5, "category": "a", "n": -4},
    {"amount": 1e300, "category": "A", "n": 0},
]


def make_fitted(stats: dict | None = None, profile: dict | None = None,
                warnings: list | None = None, source: str = SOURCE) -> FittedSpec:
    spec = fd.compile(source)
    return FittedSpec(spec.source, spec.file, spec.program, spec.diagnostics,
                      stats=dict(STATS if stats is None else stats),
                      profile=PROFILE if profile is None else profile,
                      fit_warnings=warnings if warnings is not None else [
                          FitWarning("zero_spread", "std(amount)", "std is zero")])


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "model.featpack.json"
    make_fitted().save(path)
    return path


def rewrite(path: Path, mutate, *, rehash: bool = True) -> None:
    """Edit the document and (by default) recompute the integrity hash, like a forger."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    mutate(doc)
    if rehash and isinstance(doc.get("integrity"), dict):
        doc["integrity"]["sha256"] = artifact.integrity_digest(doc)
    path.write_bytes(artifact.dumps(doc))


def set_source(doc: dict, source: str) -> None:
    import hashlib

    doc["spec"]["source"] = source
    doc["spec"]["sha256"] = hashlib.sha256(source.encode("utf-8")).hexdigest()


def load_error(path: Path) -> str:
    with pytest.raises(fd.ArtifactError) as info:
        fd.load(path)
    assert str(path) in str(info.value)
    return str(info.value)


# ------------------------------------------------------------------------------ round trip
def test_round_trip_gives_identical_stats_profile_and_warnings(saved: Path) -> None:
    original = make_fitted()
    loaded = fd.load(saved)
    assert isinstance(loaded, FittedSpec)
    assert loaded.stats == original.stats
    for name, value in loaded.stats.items():
        assert type(value) is type(STATS[name])
        assert repr(value) == repr(STATS[name])  # exact floats, tuples stay tuples
    assert loaded.profile == PROFILE
    assert math.copysign(1.0, loaded.profile["inputs"]["amount"]["min"]) == -1.0
    assert loaded.fit_warnings == original.fit_warnings
    assert loaded.features == original.features
    assert loaded.inputs == original.inputs
    assert loaded.output_types == original.output_types
    assert loaded.source == SOURCE
    assert loaded.file == str(saved)


def test_both_backends_agree_after_load(saved: Path) -> None:
    original = make_fitted()
    loaded = fd.load(saved)
    out = assert_parity(loaded, ROWS)
    expected = assert_parity(original, ROWS)
    assert all(same_value(a[f], b[f]) for a, b in zip(out, expected, strict=True)
               for f in loaded.features)


def test_fresh_process_loads_the_artifact_and_computes_the_same_rows(saved: Path) -> None:
    expected = assert_parity(make_fitted(), ROWS)
    script = (
        "import json, sys\n"
        "import featuredsl as fd\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from harness import frame_for\n"
        "fitted = fd.load(sys.argv[1])\n"
        "rows = json.loads(sys.stdin.read())\n"
        "ev = fitted.row_evaluator()\n"
        "batch = fitted.transform(frame_for(fitted, rows)).to_dicts()\n"
        "print(json.dumps({'row': [ev(r) for r in rows], 'batch': batch}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(saved), str(Path(__file__).parent)],
        input=json.dumps(ROWS), capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    for outputs in (got["row"], got["batch"]):
        for a, b in zip(outputs, expected, strict=True):
            for f in make_fitted().features:
                assert same_value(a[f], b[f]), (f, a[f], b[f])


def test_saving_twice_gives_byte_identical_files(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    make_fitted().save(a)
    make_fitted().save(b)
    assert a.read_bytes() == b.read_bytes()
    fd.load(a).save(c)  # a loaded artifact saves back to the same bytes
    assert a.read_bytes() == c.read_bytes()


def test_the_document_is_sorted_utf8_json_with_a_final_newline(saved: Path) -> None:
    raw = saved.read_bytes()
    assert raw.endswith(b"}\n")
    text = raw.decode("utf-8")
    assert "é" in text and "Σ" in text and "\\u" not in text  # UTF-8, not escapes

    def keys_sorted(pairs):
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys)
        return dict(pairs)

    doc = json.loads(text, object_pairs_hook=keys_sorted)
    assert doc["format"] == "featuredsl-artifact"
    assert doc["format_version"] == 2
    assert doc["featuredsl_version"] == fd.__version__
    assert [e["name"] for e in doc["inputs"]] == ["amount", "category", "n"]
    assert [e["name"] for e in doc["outputs"]] == ["z", "ci", "b", "d", "c2", "ni"]
    assert doc["stats"]["v"] == {"type": "list[string]", "value": ["a", "é", "Σ"]}
    assert doc["integrity"]["sha256"] == artifact.integrity_digest(doc)


@pytest.mark.parametrize("value", [
    0.1 + 0.2, 1 / 3, 2.0 ** 0.5, -0.0, 5e-324, 2.2250738585072014e-308,
    1.7976931348623157e308, math.inf, -math.inf, 123456789.12345679, None,
])
def test_floats_round_trip_exactly(tmp_path: Path, value: float | None) -> None:
    path = tmp_path / "f.json"
    stats = dict(STATS, m=value, q=(-math.inf, -0.0, math.inf))  # at most k - 1 = 3 edges
    if value is not None:
        stats["mean(amount)"] = value
    make_fitted(stats, profile_with(value)).save(path)
    loaded = fd.load(path)
    for name in ("m", "q", "mean(amount)"):
        assert repr(loaded.stats[name]) == repr(stats[name])
    amount = loaded.profile["inputs"]["amount"]
    assert repr(amount["mean"]) == repr(value)
    assert all(repr(q) == repr(value) for q in amount["quantiles"])
    if value is not None and math.isinf(value):
        assert '"$float": "' in path.read_text(encoding="utf-8")


def test_infinite_stats_still_give_parity(tmp_path: Path) -> None:
    path = tmp_path / "inf.json"
    make_fitted(dict(STATS, m=math.inf, q=(-math.inf, 0.0, math.inf))).save(path)
    assert_parity(fd.load(path), ROWS)


def test_non_ascii_vocabulary_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "u.json"
    vocab = ("é", "Σ", "日本", "e\u0301", "🙂")
    make_fitted(dict(STATS, v=vocab[:3])).save(path)
    loaded = fd.load(path)
    assert loaded.stats["v"] == vocab[:3]
    rows = [{"amount": 1.0, "category": c, "n": 1} for c in vocab]
    out = assert_parity(loaded, rows)
    assert [o["ci"] for o in out] == [0, 1, 2, -1, -1]


def test_loaded_list_stats_are_tuples(saved: Path) -> None:
    stats = fd.load(saved).stats
    for name in ("v", "q", "vi"):
        assert isinstance(stats[name], tuple)
        hash(stats[name])


def test_spec_without_stats_round_trips(tmp_path: Path) -> None:
    source = "input {\n  x: float?\n}\nfeature y = x * 2.0\n"
    path = tmp_path / "plain.json"
    make_fitted({}, {}, [], source=source).save(path)
    loaded = fd.load(path)
    assert loaded.stats == {}
    assert loaded.profile == {}
    assert loaded.fit_warnings == []
    assert_parity(loaded, [{"x": 1.5}, {"x": None}])


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("old content")
    path.chmod(0o640)
    make_fitted().save(path)  # replaces the old file, keeping its permissions
    fd.load(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
    assert path.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.json"
    make_fitted().save(fresh)  # a new file gets the usual permissions, not mkstemp's 0600
    umask = os.umask(0o022)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_accepts_str_paths_and_lists(tmp_path: Path) -> None:
    path = str(tmp_path / "s.json")
    make_fitted(dict(STATS, v=["a", "é", "Σ"])).save(path)  # lists are written as arrays too
    assert fd.load(path).stats["v"] == ("a", "é", "Σ")


# ---------------------------------------------------------------------------- save errors
def test_save_refuses_stats_that_do_not_match_the_spec(tmp_path: Path) -> None:
    stats = dict(STATS)
    del stats["m"]
    with pytest.raises(fd.ArtifactError, match=r"missing `m`"):
        make_fitted(stats).save(tmp_path / "x.json")
    with pytest.raises(fd.ArtifactError, match=r"statistic `c` \(int\) should be an int"):
        make_fitted(dict(STATS, c=1.0)).save(tmp_path / "x.json")
    with pytest.raises(fd.ArtifactError, match=r"NaN"):
        make_fitted(dict(STATS, m=math.nan)).save(tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_save_refuses_a_profile_that_is_not_json(tmp_path: Path) -> None:
    import datetime as dt

    with pytest.raises(fd.ArtifactError, match=r"profile\.a holds a datetime"):
        make_fitted(profile={"a": dt.datetime(2024, 1, 1)}).save(tmp_path / "x.json")
    with pytest.raises(fd.ArtifactError, match=r"key 3 of type int"):
        make_fitted(profile={"top": {3: 1}}).save(tmp_path / "x.json")


def test_save_to_a_missing_directory_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(fd.ArtifactError, match=r"cannot save the artifact to .*no-such-dir"):
        make_fitted().save(tmp_path / "no-such-dir" / "m.json")


def test_an_unfitted_spec_cannot_be_saved(tmp_path: Path) -> None:
    spec = fd.compile(SOURCE)
    result = FitResult({}, {}, [])  # no statistics, where the spec declares some
    with pytest.raises(fd.ArtifactError, match=r"do not match the spec: missing"):
        artifact.save(spec.source, spec.program, result, tmp_path / "x.json")


# ----------------------------------------------------------------------------- load errors
def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in load_error(tmp_path / "nope.json")


def test_directory(tmp_path: Path) -> None:
    assert "is a directory" in load_error(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs file permissions that apply (not root)")
def test_unreadable_file(saved: Path) -> None:
    saved.chmod(0)
    try:
        assert "permission denied" in load_error(saved)
    finally:
        saved.chmod(0o644)


def test_unreadable_file_simulated(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def deny(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    assert "permission denied" in load_error(saved)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    assert "empty" in load_error(path)
    path.write_bytes(b"  \n\n")
    assert "empty" in load_error(path)


def test_truncated_file_says_where(saved: Path) -> None:
    raw = saved.read_bytes()
    saved.write_bytes(raw[: len(raw) // 2])
    msg = load_error(saved)
    assert "truncated" in msg
    assert "line " in msg and "column " in msg


def test_non_json_content_says_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "format": "featuredsl-artifact",\n  oops\n}\n')
    msg = load_error(path)
    assert "not valid JSON" in msg and "line 3, column 3" in msg
    path.write_text("hello world")
    assert "line 1, column 1" in load_error(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"format": "é"}'.encode("latin-1"))
    assert "not UTF-8" in load_error(path)


def test_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2, 3]\n")
    assert "an array, not an object" in load_error(path)


def test_wrong_format(saved: Path) -> None:
    rewrite(saved, lambda d: d.update(format="something-else"))
    msg = load_error(saved)
    assert "not a featuredsl artifact" in msg and "something-else" in msg


def test_missing_format(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"name": "a package.json, say"}\n')
    assert "`format` is missing" in load_error(path)


def test_newer_format_version(saved: Path) -> None:
    rewrite(saved, lambda d: d.update(format_version=3, featuredsl_version="9.0.0"))
    msg = load_error(saved)
    assert "format version 3" in msg and "newer" in msg and "9.0.0" in msg
    assert "reads format version 1, 2" in msg and "upgrade featuredsl" in msg


@pytest.mark.parametrize("version", [0, -1])
def test_unknown_format_version(saved: Path, version: int) -> None:
    rewrite(saved, lambda d: d.update(format_version=version))
    msg = load_error(saved)
    assert f"unknown artifact format version {version}" in msg
    assert "reads format version 1" in msg


@pytest.mark.parametrize("version", ["1", 1.0, True, None])
def test_format_version_of_the_wrong_type(saved: Path, version: object) -> None:
    rewrite(saved, lambda d: d.update(format_version=version))
    assert "`format_version` should be an integer" in load_error(saved)


@pytest.mark.parametrize("field", [
    "featuredsl_version", "fit_warnings", "inputs", "integrity", "outputs", "profile", "spec",
    "stats",
])
def test_missing_field(saved: Path, field: str) -> None:
    rewrite(saved, lambda d: d.pop(field))
    assert f"missing the field `{field}`" in load_error(saved)


def test_missing_nested_fields(saved: Path) -> None:
    rewrite(saved, lambda d: d["spec"].pop("sha256"))
    assert "`spec` is missing the field `sha256`" in load_error(saved)


def test_missing_stat_value_field(saved: Path) -> None:
    rewrite(saved, lambda d: d["stats"]["m"].pop("value"))
    assert "`stats.m` is missing the field `value`" in load_error(saved)


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("stats", [], "field `stats` should be an object, got an array"),
    ("inputs", {}, "field `inputs` should be an array, got an object"),
    ("profile", None, "field `profile` should be an object, got null"),
    ("featuredsl_version", 1, "field `featuredsl_version` should be a string, got an integer"),
    ("fit_warnings", "none", "field `fit_warnings` should be an array, got a string"),
])
def test_wrong_field_type(saved: Path, field: str, value: object, expected: str) -> None:
    rewrite(saved, lambda d: d.update({field: value}))
    assert expected in load_error(saved)


def test_wrong_nested_types(saved: Path) -> None:
    rewrite(saved, lambda d: d["inputs"][0].update(type=3))
    assert "`inputs[0]`: field `type` should be a string" in load_error(saved)


def test_malformed_fit_warning(saved: Path) -> None:
    rewrite(saved, lambda d: d["fit_warnings"].append({"kind": "x"}))
    assert "`fit_warnings[1]` is missing the field `subject`" in load_error(saved)


def test_unknown_field(saved: Path) -> None:
    rewrite(saved, lambda d: d.update(extra=1))
    assert "unknown field `extra`" in load_error(saved)


def test_edited_number_fails_the_integrity_check(saved: Path) -> None:
    text = saved.read_text(encoding="utf-8")
    assert '"value": 1.5' in text
    saved.write_text(text.replace('"value": 1.5', '"value": 1.6'), encoding="utf-8")
    msg = load_error(saved)
    assert "integrity check failed" in msg and "a number or text changed" in msg


def test_edited_text_fails_the_integrity_check(saved: Path) -> None:
    text = saved.read_text(encoding="utf-8")
    saved.write_text(text.replace("top=3", "top=4"), encoding="utf-8")
    assert "integrity check failed" in load_error(saved)


def test_edited_integrity_hash_fails(saved: Path) -> None:
    rewrite(saved, lambda d: d["integrity"].update(sha256="0" * 64), rehash=False)
    assert "integrity check failed" in load_error(saved)


def test_whitespace_changes_keep_the_artifact_valid(saved: Path) -> None:
    doc = json.loads(saved.read_text(encoding="utf-8"))
    saved.write_text(json.dumps(doc), encoding="utf-8")  # compact, unsorted, \u escapes
    assert fd.load(saved).stats == make_fitted().stats


def test_spec_source_that_does_not_match_its_hash(saved: Path) -> None:
    rewrite(saved, lambda d: d["spec"].update(source=SOURCE + "# comment\n"))
    assert "does not match `spec.sha256`" in load_error(saved)


def test_spec_source_that_no_longer_compiles(saved: Path) -> None:
    broken = SOURCE.replace("bucketize(amount, q)", "bucket(amount, q)")
    rewrite(saved, lambda d: set_source(d, broken))
    msg = load_error(saved)
    assert "no longer compiles" in msg
    assert "line 13, column 13" in msg and "unknown function `bucket`" in msg
    assert "E202" in msg


def test_stat_missing_from_the_artifact(saved: Path) -> None:
    rewrite(saved, lambda d: d["stats"].pop("vi"))
    assert "statistic `vi` is declared by the spec but missing" in load_error(saved)


def test_stat_not_declared_by_the_spec(saved: Path) -> None:
    rewrite(saved, lambda d: d["stats"].update(zz={"type": "int", "value": 1}))
    assert "`stats` holds `zz`, which the spec does not declare" in load_error(saved)


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("m", "1.5", "statistic `m` (float?) should be a float, got string"),
    ("m", 1, "statistic `m` (float?) should be a float, got integer 1"),
    ("m", {"$float": "nan"}, "is not a valid float encoding"),
    ("m", [1.5], "should be a float, got array"),
    ("c", 1.0, "statistic `c` (int) should be an int, got float 1.0"),
    ("c", True, "should be an int, got boolean"),
    ("c", None, "statistic `c` (int) is null but its type int is not nullable"),
    ("c", 2**63, "outside the int64 range"),
    ("v", ["a", 1], "statistic `v` (list[string]) element 1 should be a string, got integer"),
    ("v", ["a", None], "element 1 is null"),
    ("v", "a", "should be a list (list[string]), got string"),
    ("q", [0.5, "x"], "element 1 should be a float"),
    ("vi", [1, 2.0], "element 1 should be an int, got float"),
])
def test_stat_value_of_the_wrong_type(saved: Path, name: str, value: object,
                                      expected: str) -> None:
    rewrite(saved, lambda d: d["stats"][name].update(value=value))
    assert expected in load_error(saved)


def test_stat_stored_with_another_type(saved: Path) -> None:
    rewrite(saved, lambda d: d["stats"]["v"].update(type="list[int]", value=[1]))
    assert "statistic `v` is stored with type list[int] but the spec declares list[string]" \
        in load_error(saved)


def test_stat_changed_by_a_spec_edit(saved: Path) -> None:
    # The spec (with a valid hash) now declares `m` as a max over an int: stored float? value
    # no longer fits.
    edited = SOURCE.replace("stat m = mean(amount)", "stat m = max(n)")
    rewrite(saved, lambda d: set_source(d, edited))
    assert "statistic `m` is stored with type float? but the spec declares int?" \
        in load_error(saved)


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda ins: ins[0].update(type="float"),
     "input `amount` is float in the artifact but float? in the spec"),
    (lambda ins: ins.pop(), "the spec has the input `n` (int) but the artifact does not"),
    (lambda ins: ins.append({"name": "w", "type": "int"}),
     "the artifact has the input `w` (int) but the spec does not"),
    (lambda ins: ins.reverse(), "the order differs"),
    (lambda ins: ins.append({"name": "n", "type": "int"}), "lists `n` more than once"),
])
def test_inputs_that_differ_from_the_spec(saved: Path, mutate, expected: str) -> None:
    rewrite(saved, lambda d: mutate(d["inputs"]))
    msg = load_error(saved)
    assert "`inputs` does not match the recompiled spec" in msg or "more than once" in msg
    assert expected in msg


def test_outputs_that_differ_from_the_spec(saved: Path) -> None:
    rewrite(saved, lambda d: d["outputs"].append({"name": "extra", "type": "int"}))
    assert "the artifact has the output `extra` (int) but the spec does not" \
        in load_error(saved)


def test_deeply_nested_json_is_an_artifact_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    assert "nested too deeply" in load_error(path)
    path.write_text('{"format": "featuredsl-artifact", "x": ' + "[" * 200_000
                    + "]" * 200_000 + "}")
    load_error(path)


def test_deeply_nested_profile_is_an_artifact_error(saved: Path) -> None:
    text = saved.read_text(encoding="utf-8")
    deep = "[" * 100_000 + "]" * 100_000
    saved.write_text(text.replace('"profile": {', f'"profile": {{"deep": {deep},', 1),
                     encoding="utf-8")
    load_error(saved)


def test_duplicate_keys_are_refused(saved: Path) -> None:
    text = saved.read_text(encoding="utf-8")
    saved.write_text(text.replace('"format": ', '"format": "x",\n  "format": ', 1),
                     encoding="utf-8")
    assert "duplicate key 'format'" in load_error(saved)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_json_numbers_are_refused(saved: Path, token: str) -> None:
    text = saved.read_text(encoding="utf-8")
    saved.write_text(text.replace('"value": 1.5', f'"value": {token}'), encoding="utf-8")
    load_error(saved)


def test_lone_surrogate_is_refused(saved: Path) -> None:
    text = saved.read_text(encoding="utf-8")
    saved.write_text(text.replace('"é"', '"\\ud800"', 1), encoding="utf-8")
    assert "not valid Unicode" in load_error(saved)


def test_no_raw_exception_escapes_on_damaged_files(saved: Path) -> None:
    """Truncations and random byte edits: load either works or raises ArtifactError."""
    raw = saved.read_bytes()
    rng = random.Random(7)
    damaged = [raw[:i] for i in range(0, len(raw), 37)]
    for _ in range(300):
        b = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        damaged.append(bytes(b))
    for data in damaged:
        saved.write_bytes(data)
        try:
            fd.load(saved)
        except fd.ArtifactError:
            pass


def test_load_takes_a_path_and_nothing_else() -> None:
    with pytest.raises(fd.ArtifactError, match="takes a path"):
        fd.load(42)  # type: ignore[arg-type]


def test_frame_for_works_on_a_loaded_spec(saved: Path) -> None:
    loaded = fd.load(saved)
    out = loaded.transform(frame_for(loaded, ROWS), keep=["n"])
    assert out.columns == ["n", *loaded.features]


def test_fit_save_load_end_to_end(tmp_path: Path) -> None:
    """With the real ``fit``: the artifact round-trips and re-saves to the same bytes."""
    pytest.importorskip("featuredsl.fit")
    import datetime as dt
    import warnings

    import polars as pl

    source = SOURCE.replace("  n: int\n", "  n: int\n  ts: timestamp?\n") \
        + "feature t = ts\n"
    data = pl.DataFrame({
        "amount": [1.0, None, 3.0, 2.5, -0.0, 1e300],
        "category": ["é", "Σ", "a", "é", None, "Σ"],
        "n": [1, 2, 3, 2, 2, 9],
        "ts": [dt.datetime(2024, 1, 1), None, dt.datetime(2024, 2, 1), None, None, None],
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fd.compile(source).fit(data)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    fitted.save(a)
    loaded = fd.load(a)
    loaded.save(b)
    assert a.read_bytes() == b.read_bytes()
    assert loaded.stats == fitted.stats
    assert loaded.profile == fitted.profile
    rows = data.to_dicts()
    assert assert_parity(loaded, rows) == assert_parity(fitted, rows)
