"""``featuredsl.spark.fit`` (placeholder until the pass driver lands)."""

from __future__ import annotations


def fit(spec: object, df: object, sources: object = None, profile: bool = True) -> object:
    """Not yet."""
    raise NotImplementedError
