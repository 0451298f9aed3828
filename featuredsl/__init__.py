"""featuredsl: write ML features once, compute them identically in training and serving.

    import featuredsl as fd
    spec = fd.compile_file("transactions.feat")
    df = spec.transform("train.parquet")          # Polars batch backend
    row = spec.row_evaluator()                     # per-row serving backend
    row({"amount": 12.5, ...})
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from featuredsl.errors import (
    ArtifactError,
    Diagnostic,
    FeatureDSLError,
    InputError,
    NotFittedError,
    SpecError,
)

if TYPE_CHECKING:
    from featuredsl.api import FittedSpec, Spec, compile, compile_file
    from featuredsl.diff import diff
    from featuredsl.featurelog import FeatureLogger, SkewReport, skew_report
    from featuredsl.fit import FitTimeWarning, FitWarning
    from featuredsl.jsonrow import decode_row, encode_row
    from featuredsl.monitor import Monitor, merge_snapshots, profile_rows
    from featuredsl.monitor.report import monitor_report

__version__ = "0.1.0"

#: Public names imported on first use, so that `import featuredsl` (and with it every
#: `featuredsl` command, `--help` included) does not pay for Polars and the compiler until a
#: command needs them.
_LAZY = {
    "Spec": "featuredsl.api", "compile": "featuredsl.api", "compile_file": "featuredsl.api",
    "FitTimeWarning": "featuredsl.fit", "FittedSpec": "featuredsl.api",
    "FitWarning": "featuredsl.fit", "diff": "featuredsl.diff",
    "encode_row": "featuredsl.jsonrow", "decode_row": "featuredsl.jsonrow",
    "FeatureLogger": "featuredsl.featurelog", "SkewReport": "featuredsl.featurelog",
    "skew_report": "featuredsl.featurelog",
    "Monitor": "featuredsl.monitor", "merge_snapshots": "featuredsl.monitor",
    "profile_rows": "featuredsl.monitor", "monitor_report": "featuredsl.monitor.report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'featuredsl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def load(path: str, verify_key: bytes | str | None = None) -> FittedSpec:
    """Load a fitted artifact written by ``FittedSpec.save`` (raises ``ArtifactError``).

    With ``verify_key``, the artifact must carry an HMAC signature made with that key
    (``fitted.save(path, sign_key=...)``); see docs/artifact.md."""
    from featuredsl.api import load as _load

    return _load(path, verify_key)


__all__ = [
    "ArtifactError",
    "Diagnostic",
    "FeatureDSLError",
    "FeatureLogger",
    "FitTimeWarning",
    "FitWarning",
    "FittedSpec",
    "InputError",
    "Monitor",
    "NotFittedError",
    "SkewReport",
    "Spec",
    "SpecError",
    "__version__",
    "compile",
    "compile_file",
    "decode_row",
    "diff",
    "encode_row",
    "load",
    "merge_snapshots",
    "monitor_report",
    "profile_rows",
    "skew_report",
]
