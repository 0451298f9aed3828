"""The wheel ships the grammar, and the installed copy parses through it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_wheel_ships_grammar_and_installed_copy_parses(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("featuredsl-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "featuredsl/grammar/featuredsl.lark" in names
        packaged = zf.read("featuredsl/grammar/featuredsl.lark")
    assert packaged == (ROOT / "grammar" / "featuredsl.lark").read_bytes()

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    probe = (
        "import featuredsl as fd\n"
        "from importlib import resources\n"
        "g = resources.files('featuredsl') / 'grammar' / 'featuredsl.lark'\n"
        "assert g.is_file(), g\n"
        "print(fd.__file__)\n"
        f"s = fd.compile_file({str(ROOT / 'examples' / 'transactions.feat')!r})\n"
        "print(s.features)\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.splitlines()[0].startswith(str(site))
    assert "log_amount" in out
