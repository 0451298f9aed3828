"""A spec with its statistics fitted on training data (SPEC sections 5 and 7).

:class:`FittedSpec` is a :class:`~featuredsl.api.Spec` whose statistics are frozen values:
both backends inline them as constants. It also carries the training profile (the baseline
monitoring compares serving traffic against) and the fit-time warnings. ``save`` writes the
JSON artifact; ``featuredsl.load`` reads it back (recompiling the spec source: no pickle, no
code in the artifact).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from featuredsl import ir
from featuredsl.api import Spec
from featuredsl.errors import Diagnostic
from featuredsl.fit.fitting import FitWarning

__all__ = ["FitWarning", "FittedSpec"]


class FittedSpec(Spec):
    """A spec plus fitted statistics, the training profile and fit warnings."""

    def __init__(self, source: str, file: str, program: ir.Program,
                 diagnostics: list[Diagnostic], stats: Mapping[str, object],
                 profile: Mapping[str, object] | None = None,
                 fit_warnings: list[FitWarning] | None = None) -> None:
        super().__init__(source, file, program, diagnostics, stats)
        self.profile: dict[str, object] = dict(profile or {})
        self.fit_warnings: list[FitWarning] = list(fit_warnings or [])

    @property
    def stats(self) -> dict[str, object]:
        """Fitted values by statistic name (inline aggregates by their source text)."""
        return dict(self.fitted_statistics())

    def save(self, path: str | Path) -> None:
        """Write the artifact: one deterministic JSON document (see ``featuredsl.artifact``)."""
        from featuredsl import artifact

        artifact.save(self, path)

    def __repr__(self) -> str:
        return f"<featuredsl.FittedSpec {self.file} features={self.features}>"
