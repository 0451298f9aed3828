"""The checker: names, types, nullability, overload choice and the dependency graph."""

from featuredsl.checker.checker import check
from featuredsl.checker.source import check_source

__all__ = ["check", "check_source"]
