"""An artifact that breaks the rules of its own statistics or profile is refused on load, even
when its integrity hash was recomputed (the hash is an unkeyed checksum: any tool can); a
keyed signature (HMAC) catches the rest; huge integers get a clear message. And what fit
writes always keeps the rules (featuredsl/fit/rules.py), on any data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featuredsl as fd
from featuredsl import artifact
from featuredsl.fit.rules import profile_problem, statistic_problem

pytestmark = pytest.mark.filterwarnings("ignore::featuredsl.fit.FitTimeWarning")

SOURCE = """\
input {
  x: float?
  c: string?
  n: int
}
stat q = quantiles(x, 4)
stat v = vocab(c, top=3)
stat s = std(x)
stat nf = null_fraction(x)
stat k = count(x)
feature b = bucketize(x, q)
feature ci = index_of(c, v) ?? -1
feature z = x / s
feature f = nf + k
"""
DATA = pl.DataFrame({
    "x": [1.0, 2.0, None, 4.0, 8.0, 16.0, 3.5, 2.0],
    "c": ["a", "b", "a", None, "c", "d", "a", "b"],
    "n": [1, 2, 3, 4, 5, 6, 7, 8],
})


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "m.json"
    fd.compile(SOURCE).fit(DATA).save(path)
    return path


def forge(path: Path, mutate) -> None:
    """Edit the document and recompute the integrity hash, as any tool could."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    mutate(doc)
    doc["integrity"]["sha256"] = artifact.integrity_digest(doc)
    path.write_bytes(artifact.dumps(doc))


def load_error(path: Path, **kw: object) -> str:
    with pytest.raises(fd.ArtifactError) as err:
        fd.load(path, **kw)  # type: ignore[arg-type]
    return str(err.value)


def set_stat(name: str, value: object):
    def mutate(doc: dict) -> None:
        doc["stats"][name]["value"] = value
    return mutate


@pytest.mark.parametrize(("name", "value", "message"), [
    ("q", [3.0, 2.0, 8.0], "`q` (`quantiles(x, 4)`) has edges that are not strictly increasing"),
    ("q", [2.0, 2.0, 8.0], "not strictly increasing"),
    ("q", [1.0, 2.0, 3.0, 4.0], "has 4 edges, but quantiles(..., 4) has at most 3"),
    ("v", ["a", "b", "c", "d", "e"], "has 5 entries, but vocab(..., top=3) keeps at most 3"),
    ("v", ["a", "b", "a"], "holds 'a' twice"),
    ("s", -1.0, "`s` (`std(x)`) is a spread, but -1.0 is negative"),
    ("nf", 1.5, "is a fraction of rows, but 1.5 is outside [0, 1]"),
    ("k", -3, "is a count, but -3 is negative"),
])
def test_a_statistic_that_breaks_its_rules_is_refused(saved: Path, name: str, value: object,
                                                       message: str) -> None:
    before = fd.load(saved)  # the genuine artifact loads
    assert before.stats[name] != value
    forge(saved, set_stat(name, value))
    got = load_error(saved)
    assert message in got
    assert str(saved) in got and f"`{name}`" in got


def test_backends_never_see_an_invalid_edge_list(saved: Path) -> None:
    # Non-increasing edges are where row and batch bucketize disagree: refused on load, so no
    # evaluator or plan is ever built from them.
    forge(saved, set_stat("q", [8.0, 1.0, 2.0]))
    with pytest.raises(fd.ArtifactError):
        fd.load(saved).row_evaluator()


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["profile"].pop("rows"), "`profile.rows` should be a non-negative integer"),
    (lambda d: d["profile"]["inputs"].pop("c"), "`profile.inputs` has no entry for `c`"),
    (lambda d: d["profile"]["features"].update(extra={}),
     "`profile.features` has an entry for `extra`"),
    (lambda d: d["profile"]["inputs"]["x"].update(count=100),
     "`profile.inputs.x` counts 100 values and 1 nulls, but the profile has 8 rows"),
    (lambda d: d["profile"]["inputs"]["n"].update(null_count=-1),
     "`null_count` should be a non-negative integer"),
    (lambda d: d["profile"]["inputs"]["c"].update(top=[["a", 1], ["b", 5]]),
     "`top` is not most frequent first"),
    (lambda d: d["profile"]["inputs"]["x"].update(quantiles=[1.0, 0.0] + [2.0] * 7),
     "`quantiles` should be non-decreasing numbers"),
    (lambda d: d.update(profile=[1, 2]), "`profile` should be an object"),
])
def test_a_malformed_profile_is_refused(saved: Path, mutate, message: str) -> None:
    forge(saved, mutate)
    assert message in load_error(saved)


# ------------------------------------------------------------------------------ signatures
def test_signed_artifact_verifies_with_its_key_only(tmp_path: Path) -> None:
    fitted = fd.compile(SOURCE).fit(DATA)
    path = tmp_path / "signed.json"
    fitted.save(path, sign_key=b"k1-secret")
    assert fd.load(path, verify_key=b"k1-secret").stats == fitted.stats
    assert fd.load(path, verify_key="k1-secret").stats == fitted.stats  # str keys are UTF-8
    assert fd.load(path).stats == fitted.stats  # no key asked: the integrity hash only
    assert "signature check failed" in load_error(path, verify_key=b"other")


def test_signature_catches_what_a_recomputed_hash_hides(tmp_path: Path) -> None:
    path = tmp_path / "signed.json"
    fd.compile(SOURCE).fit(DATA).save(path, sign_key=b"k")
    forge(path, set_stat("s", 2.0))  # valid by the rules, hash recomputed
    assert fd.load(path).stats["s"] == 2.0  # the checksum alone cannot tell
    assert "signature check failed" in load_error(path, verify_key=b"k")


def test_unsigned_or_stripped_artifact_fails_verification(saved: Path, tmp_path: Path) -> None:
    assert "not signed" in load_error(saved, verify_key=b"k")
    path = tmp_path / "s.json"
    fd.compile(SOURCE).fit(DATA).save(path, sign_key=b"k")
    forge(path, lambda d: d.pop("signature"))
    assert "not signed" in load_error(path, verify_key=b"k")
    forge(path, lambda d: d.update(signature="abc"))
    assert "`signature` should be an object" in load_error(path)


def test_signing_is_deterministic_and_leaves_the_integrity_hash(tmp_path: Path) -> None:
    fitted = fd.compile(SOURCE).fit(DATA)
    a, b, plain = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "p.json"
    fitted.save(a, sign_key=b"k")
    fitted.save(b, sign_key=b"k")
    fitted.save(plain)
    assert a.read_bytes() == b.read_bytes()
    doc_a, doc_p = (json.loads(p.read_text(encoding="utf-8")) for p in (a, plain))
    assert doc_a["integrity"] == doc_p["integrity"]
    with pytest.raises(fd.ArtifactError, match="non-empty"):
        fitted.save(a, sign_key=b"")


# ------------------------------------------------------------------------------ huge ints
@pytest.mark.parametrize("where", ["format_version", "stat", "profile"])
def test_a_huge_integer_gets_a_clear_message(saved: Path, where: str) -> None:
    text = saved.read_text(encoding="utf-8")
    huge = "9" * 5000
    if where == "format_version":
        text = text.replace('"format_version": 2', f'"format_version": {huge}')
    elif where == "stat":
        doc = json.loads(text)
        text = text.replace(f'"value": {doc["stats"]["k"]["value"]}', f'"value": {huge}', 1)
    else:
        text = text.replace('"rows": 8', f'"rows": -{huge}')
    saved.write_text(text, encoding="utf-8")
    got = load_error(saved)
    assert "an integer of 5000 digits" in got
    assert "int_max_str_digits" not in got


# ------------------------------------------------------------------------------ fit keeps them
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, width=64)), min_size=0,
                max_size=40),
       st.lists(st.sampled_from(["a", "b", "é", "", None]), min_size=40, max_size=40),
       st.integers(1, 6), st.integers(1, 5))
def test_what_fit_writes_keeps_the_rules(xs: list, cs: list, k: int, top: int) -> None:
    source = (f"input {{\n x: float?\n c: string?\n}}\nstat q = quantiles(x, {k})\n"
              f"stat v = vocab(c, top={top})\nstat s = std(x)\nstat va = var(x)\n"
              "stat nf = null_fraction(x)\nstat n = count(x)\n"
              "feature b = bucketize(x, q)\nfeature i = index_of(c, v)\n")
    frame = pl.DataFrame({"x": xs, "c": cs[:len(xs)]}, schema={"x": pl.Float64, "c": pl.String})
    fitted = fd.compile(source).fit(frame)
    for name, stat in fitted.program.stats.items():
        assert statistic_problem(stat, fitted.stats[name]) is None, name
    assert profile_problem(fitted.profile, fitted.program) is None
    assert not (isinstance(fitted.stats["s"], float) and math.isnan(fitted.stats["s"]))
