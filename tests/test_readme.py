"""The README's language tour compiles and runs on both backends."""

from __future__ import annotations

import re
from pathlib import Path

import featuredsl as fd
from tests.harness import assert_parity

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def test_tour_compiles_and_agrees() -> None:
    block = re.search(r"```\n# transactions.feat\n(.*?)```", README, re.S)
    assert block is not None
    spec = fd.compile(block.group(1))
    rows = [
        {"user_id": 1, "amount": 600.0, "n_items": 0, "ts": "2024-07-06T22:15:00Z",
         "country": "US", "merchant": "m", "description": "A Refund"},
        {"user_id": 2, "amount": None, "n_items": 3, "ts": "1969-07-20T20:17:40Z",
         "country": None, "merchant": "m", "description": ""},
    ]
    out = assert_parity(spec, rows)
    assert out[0]["tier"] == "high" and out[1]["tier"] == "low"
    assert out[0]["amount_per_item"] is None and out[0]["is_refund"] is True
