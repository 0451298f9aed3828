"""Feature logging and the ``skew`` report (SPEC 11, Rule #32; docs/feature-log.md).

:class:`FeatureLogger` writes the rows a row evaluator served (typed inputs, served features,
artifact hash, time, request id and caller context) to Parquet files in Hive-style date
partitions, from a background thread that never blocks a request; :func:`skew_report`
replays the logged inputs through the batch backend and compares every feature with the parity
equality, and in join mode compares the log with an offline table row by row.
"""

from __future__ import annotations

from featuredsl.featurelog.logger import FeatureLogger, LogContext
from featuredsl.featurelog.skew import SkewReport, skew_report

__all__ = ["FeatureLogger", "LogContext", "SkewReport", "skew_report"]
