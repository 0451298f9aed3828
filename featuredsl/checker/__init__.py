"""The checker: names, types, nullability, overload choice and the dependency graph."""

from featuredsl.checker.checker import check

__all__ = ["check"]
