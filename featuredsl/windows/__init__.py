"""Windowed aggregates over event sources (SPEC 13): the batch half (:mod:`.batch`), the
online state (:mod:`.online`), the rules they share (:mod:`.exact`) and the reading of
source frames (:mod:`.sources`). docs/windows.md explains the semantics."""
