"""Write docs/reference.md from the function registry (run after adding or changing a function).

Usage: python tools/gen_reference.py [output_path]
"""

from __future__ import annotations

import sys
from pathlib import Path

from featuredsl.functions.reference import render_reference

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/reference.md")

if __name__ == "__main__":
    OUT.write_text(render_reference(), encoding="utf-8")
    print(f"wrote {OUT}")
