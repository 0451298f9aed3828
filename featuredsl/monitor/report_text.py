"""The monitor report as text for a terminal (``MonitorReport.to_text``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featuredsl.monitor.report import Finding

if TYPE_CHECKING:
    from featuredsl.monitor.report import MonitorReport

_SHOWN = ("null_rate", "oov_rate", "out_of_range", "psi", "max_bin_shift")


def _value(f: Finding) -> str:
    if f.value is None:
        return "n/a"
    if f.check in ("null_rate", "oov_rate"):
        return f"{100 * (f.after or 0.0):.1f}%"
    if f.check in ("out_of_range", "max_bin_shift", "input_errors"):
        return f"{100 * f.value:.1f}%"
    return f"{f.value:.3f}"


def render_text(report: MonitorReport) -> str:
    """The status, the alarms with what moved, then one line per field with its checks."""
    every = "mixed" if report.sample_every is None else str(report.sample_every)
    counts = {lv: sum(1 for fr in report.fields if fr.status == lv)
              for lv in ("alert", "warn", "insufficient_data", "ok")}
    lines = [f"monitor report: {report.status.upper()}",
             f"artifact {report.artifact[:16]}, {report.rows} sampled rows "
             f"(sample_every {every}), {len(report.fields)} fields: "
             + ", ".join(f"{n} {lv}" for lv, n in counts.items() if n)]
    alarms = report.alarms
    if alarms:
        lines.append("")
        width = max(len(f.field) for f in alarms)
        for f in alarms:
            lines.append(f"{f.level.upper():5} {f.field:<{width}}  {f.check}: {f.message}")
    if report.row_errors:
        lines.append("")
        lines += [f"{f.level.upper():5} {f.field}  {f.check}: {f.message}"
                  for f in report.row_errors if f.level not in ("warn", "alert")]
    if report.missing:
        lines.append("")
        lines.append("not in the snapshot: " + ", ".join(report.missing))
    lines.append("")
    width = max((len(fr.field) for fr in report.fields), default=5)
    head = f"{'field':<{width}}  {'status':<17}  " + "  ".join(f"{c:>13}" for c in _SHOWN)
    lines.append(head)
    for fr in report.fields:
        by: dict[str, Finding] = {}
        for f in fr.checks:
            by.setdefault(f.check, f)  # a list's own null rate first, then its lengths
        cells = []
        for c in _SHOWN:
            got = by.get(c)
            cell = "" if got is None else (_value(got)
                                           + {"alert": "!!", "warn": "!", "insufficient_data": "?"}
                                           .get(got.level, ""))
            cells.append(f"{cell:>13}")
        lines.append(f"{fr.field:<{width}}  {fr.status:<17}  " + "  ".join(cells).rstrip())
    lines.append("")
    lines.append("(null_rate and oov_rate: the serving rate; ! warn, !! alert, ? insufficient "
                 "data; docs/monitoring.md, The report explains each check)")
    return "\n".join(lines) + "\n"
