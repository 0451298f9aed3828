"""The function registry (:mod:`.registry`) and its entries: each module registers functions
with typed overloads, a Polars lowering and a row lowering (operators included); modules
named with a leading underscore are shared kernels."""
