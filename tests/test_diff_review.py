"""docs/diff.md's "A real review" is what `featuredsl diff` prints today: the text plan and the
GitHub Markdown of examples/transactions.feat -> examples/transactions_v2.feat, fitted on the
example generator's data (seed 7 for the old version and the sample, seed 8 for the new)."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

import featuredsl as fd
from featuredsl.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import demo  # noqa: E402

TEXT_CMD = "$ featuredsl diff v1.json v2.json --data sample.parquet\n"
GITHUB_CMD = ('$ featuredsl diff v1.json v2.json --data sample.parquet --format github >> '
              '"$GITHUB_STEP_SUMMARY"\n```\n\n')


def _run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(args)
    return code, out.getvalue()


def test_the_documented_review_is_what_diff_prints(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    doc = (ROOT / "docs" / "diff.md").read_text(encoding="utf-8")
    start = doc.index(TEXT_CMD) + len(TEXT_CMD)
    text_doc = doc[start:doc.index("$ echo $?", start)]
    start = doc.index(GITHUB_CMD) + len(GITHUB_CMD)
    github_doc = doc[start:doc.index("\n## Exit status", start)]
    monkeypatch.chdir(tmp_path)
    demo.generate(20_000).write_parquet("sample.parquet")
    old = fd.compile_file(ROOT / "examples" / "transactions.feat").fit("sample.parquet")
    new = fd.compile_file(ROOT / "examples" / "transactions_v2.feat").fit(
        demo.generate(20_000, seed=8))
    old.save("v1.json")
    new.save("v2.json")
    code, text = _run(["diff", "v1.json", "v2.json", "--data", "sample.parquet"])
    assert code == 1  # breaking: the gate fails, as the doc shows with `echo $?`
    assert text == text_doc
    code, github = _run(["diff", "v1.json", "v2.json", "--data", "sample.parquet",
                         "--format", "github"])
    assert github == github_doc
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    excerpt = readme[readme.index(TEXT_CMD) + len(TEXT_CMD):]
    excerpt = excerpt[:excerpt.index("```")]
    lines = text.splitlines()
    shown = [line for line in excerpt.splitlines() if line != "  ..."]
    assert len(shown) > 5 and all(line in lines for line in shown)  # the README's excerpt
