"""featuredsl: write ML features once, compute them identically in training and serving.

    import featuredsl as fd
    spec = fd.compile_file("transactions.feat")
    df = spec.transform("train.parquet")          # Polars batch backend
    row = spec.row_evaluator()                     # per-row serving backend
    row({"amount": 12.5, ...})
"""

from featuredsl.api import Spec, compile, compile_file
from featuredsl.errors import (
    ArtifactError,
    Diagnostic,
    FeatureDSLError,
    InputError,
    NotFittedError,
    SpecError,
)
from featuredsl.fit import FitTimeWarning
from featuredsl.fitted import FittedSpec, FitWarning

__version__ = "0.1.0"


def load(path: str) -> FittedSpec:
    """Load a fitted artifact written by ``FittedSpec.save`` (raises ``ArtifactError``)."""
    from featuredsl.artifact import load as _load

    return _load(path)


__all__ = [
    "ArtifactError",
    "Diagnostic",
    "FeatureDSLError",
    "FitTimeWarning",
    "FitWarning",
    "FittedSpec",
    "InputError",
    "NotFittedError",
    "Spec",
    "SpecError",
    "__version__",
    "compile",
    "compile_file",
    "load",
]
