"""The monitor report as one self-contained HTML page (``MonitorReport.to_html``).

Inline CSS and inline SVG only: no script, no font, no image, no link to fetch, so the page
opens the same from a CI artifact, an e-mail or a laptop offline. Every value that comes from
the data (category values, labels, messages) goes through :func:`html.escape`. Each bar of a
chart carries its count in ``data-count`` (and in its ``<title>``, the tooltip), so the page
is checkable by a program as well as readable.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from featuredsl.monitor.report import TOP_NEW, Finding, value_label

if TYPE_CHECKING:
    from featuredsl.monitor.report import FieldReport, MonitorReport, Slot

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2430}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 6px}
.meta{color:#5b6472;margin-bottom:16px} code{font-size:13px}
table{border-collapse:collapse;margin:8px 0 12px} td,th{padding:3px 9px;text-align:left;
border-bottom:1px solid #e3e6eb;vertical-align:top} th{background:#f4f6f8;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.lv{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600}
.ok{background:#e3f4e8;color:#1c6b35} .warn{background:#fff1d6;color:#8a5a00}
.alert{background:#fde2e1;color:#a4161a} .insufficient_data{background:#eceef1;color:#545c68}
section.field{border-top:1px solid #d5d9df;margin-top:18px}
svg.chart{display:block;margin:6px 0} .legend span{margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
.t{fill:#8da2bd} .s{fill:#d9822b} .sw.t{background:#8da2bd} .sw.s{background:#d9822b}
"""
_BAR, _GAP, _PLOT_H, _LABEL_H, _LEFT = 7, 6, 150, 96, 64


def _e(v: object) -> str:
    return html.escape(str(v), quote=True)


def _level(level: str) -> str:
    return f'<span class="lv {_e(level)}">{_e(level)}</span>'


def _pct(p: float | None) -> str:
    return "" if p is None else f"{100 * p:.2f}%"


def _fmt(f: Finding) -> str:
    if f.value is None:
        return "n/a"
    if f.check in ("null_rate", "oov_rate", "out_of_range", "max_bin_shift", "input_errors"):
        return f"{100 * f.value:+.2f} pts" if f.check in ("null_rate", "oov_rate") \
            else f"{100 * f.value:.2f}%"
    return f"{f.value:.4f}"


def _thr(f: Finding, v: float | None) -> str:
    if v is None:
        return ""
    if f.check in ("psi", "jensen_shannon"):
        return f"{v:.4g}"
    return f"{100 * v:.3g}{' pts' if f.check in ('null_rate', 'oov_rate') else '%'}"


def _chart(fr: FieldReport) -> str:
    """Training and serving shares side by side, one pair of bars per slot."""
    slots: list[Slot] = list(fr.slots)
    n_ref = sum(s.reference for s in slots)
    n_srv = sum(s.serving for s in slots)
    shares = [(s.reference / n_ref if n_ref else 0.0, s.serving / n_srv if n_srv else 0.0)
              for s in slots]
    top = max((max(a, b) for a, b in shares), default=0.0) or 1.0
    step = 2 * _BAR + _GAP
    width = _LEFT + max(len(slots), 1) * step + 10
    height = _PLOT_H + _LABEL_H
    out = [f'<svg class="chart" role="img" data-field="{_e(fr.field)}" '
           f'data-slots="{len(slots)}" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" aria-label="{_e(fr.field)}: training and serving '
           f'distributions">',
           f'<line x1="{_LEFT}" y1="{_PLOT_H}" x2="{width - 5}" y2="{_PLOT_H}" '
           'stroke="#9aa3ae"/>',
           f'<text x="{_LEFT - 4}" y="12" font-size="10" text-anchor="end">'
           f'{100 * top:.0f}%</text>',
           f'<text x="{_LEFT - 4}" y="{_PLOT_H}" font-size="10" text-anchor="end">0%</text>']
    for i, (slot, (a, b)) in enumerate(zip(slots, shares, strict=True)):
        x = _LEFT + i * step
        for side, cls, count, share, dx in (("training", "t", slot.reference, a, 0),
                                            ("serving", "s", slot.serving, b, _BAR)):
            h = round(share / top * (_PLOT_H - 14), 2)
            out.append(f'<rect class="{cls}" data-side="{side}" data-slot="{i}" '
                       f'data-count="{count}" data-share="{share:.6f}" x="{x + dx}" '
                       f'y="{_PLOT_H - h:.2f}" width="{_BAR}" height="{h}">'
                       f'<title>{_e(slot.label)}: {side} {count} ({_pct(share)})</title></rect>')
        label = slot.label if len(slot.label) <= 18 else slot.label[:17] + "\u2026"
        lx = x + _BAR
        out.append(f'<text x="{lx}" y="{_PLOT_H + 6}" font-size="10" text-anchor="end" '
                   f'transform="rotate(-60 {lx} {_PLOT_H + 6})">{_e(label)}'
                   f'<title>{_e(slot.label)}</title></text>')
    out.append("</svg>")
    return "".join(out)


def _checks(fr: FieldReport) -> str:
    rows = ["<table class='checks'><tr><th>check</th><th>level</th><th>value</th>"
            "<th>warn at</th><th>alert at</th><th>what moved</th></tr>"]
    for f in fr.checks:
        rows.append(f'<tr data-check="{_e(f.check)}" data-level="{_e(f.level)}">'
                    f"<td>{_e(f.check)}{'' if f.field == fr.field else ' (' + _e(f.field) + ')'}"
                    f"</td><td>{_level(f.level)}</td><td class='n'>{_e(_fmt(f))}</td>"
                    f"<td class='n'>{_e(_thr(f, f.warn_at))}</td>"
                    f"<td class='n'>{_e(_thr(f, f.alert_at))}</td><td>{_e(f.message)}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _new_values(fr: FieldReport) -> str:
    found = [f for f in fr.checks if f.check == "oov_rate" and f.moved.get("new_values")]
    if not found:
        return ""
    rows = ["<h3>Most frequent values outside the training top</h3>"
            "<table class='new-values'><tr><th>value</th><th>count</th></tr>"]
    for value, count in found[0].moved["new_values"][:TOP_NEW]:
        rows.append(f"<tr><td><code>{_e(value_label(value))}</code></td>"
                    f"<td class='n'>{count}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _summary(report: MonitorReport) -> str:
    rows = ["<table class='summary'><tr><th>field</th><th>kind</th><th>status</th>"
            "<th>null rate (training &#8594; serving)</th><th>PSI</th><th>largest bin shift</th>"
            "<th>alarms</th></tr>"]
    for i, fr in enumerate(report.fields):
        by: dict[str, Finding] = {}
        for f in fr.checks:
            by.setdefault(f.check, f)
        null = by.get("null_rate")
        psi = by.get("psi")
        shift = by.get("max_bin_shift")
        alarms = [f.check for f in fr.checks if f.level in ("warn", "alert")]
        rows.append(
            f'<tr data-field="{_e(fr.field)}" data-status="{_e(fr.status)}">'
            f'<td><a href="#field-{i}">{_e(fr.field)}</a></td><td>{_e(fr.kind)}</td>'
            f"<td>{_level(fr.status)}</td>"
            f"<td class='n'>{_e(_pct(null.before) + ' → ' + _pct(null.after)) if null else ''}"
            f"</td><td class='n'>{_e(f'{psi.value:.4f}') if psi and psi.value is not None else ''}"
            f"</td><td class='n'>{_e(_pct(shift.value)) if shift else ''}</td>"
            f"<td>{_e(', '.join(alarms))}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def render_html(report: MonitorReport) -> str:
    """The whole page: status, alarms, the summary table, then per field its chart, its checks
    and the most frequent new values."""
    every = "mixed" if report.sample_every is None else str(report.sample_every)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>featuredsl monitor report: {_e(report.status)}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Monitor report {_level(report.status)}</h1>",
             f"<div class='meta'>artifact <code>{_e(report.artifact)}</code> &middot; "
             f"{report.rows} sampled rows (sample_every {_e(every)}) &middot; "
             f"{len(report.fields)} fields</div>"]
    alarms = report.alarms
    if alarms:
        parts.append("<h2>Alarms</h2><ul class='alarms'>")
        parts += [f"<li>{_level(f.level)} <b>{_e(f.field)}</b> {_e(f.check)}: {_e(f.message)}"
                  "</li>" for f in alarms]
        parts.append("</ul>")
    others = [f for f in report.row_errors if f.level not in ("warn", "alert")]
    if others:
        parts.append("<ul class='row-errors'>")
        parts += [f"<li>{_level(f.level)} {_e(f.field)}: {_e(f.message)}</li>" for f in others]
        parts.append("</ul>")
    if report.missing:
        parts.append(f"<p>Not in the snapshot: {_e(', '.join(report.missing))}</p>")
    parts.append("<h2>Fields</h2>")
    parts.append(_summary(report))
    parts.append("<div class='legend'><span><i class='sw t'></i>training</span>"
                 "<span><i class='sw s'></i>serving</span> (share of the non-null values "
                 "per bin or value; hover a bar for its count)</div>")
    for i, fr in enumerate(report.fields):
        parts.append(f'<section class="field" id="field-{i}" data-field="{_e(fr.field)}">'
                     f"<h2>{_e(fr.field)} {_level(fr.status)}</h2>"
                     f"<div class='meta'>{_e(fr.kind)} <code>{_e(fr.type)}</code> &middot; "
                     f"training {fr.reference['count']} values, {fr.reference['nulls']} nulls "
                     f"&middot; serving {fr.serving['count']} values, {fr.serving['nulls']} "
                     "nulls</div>")
        parts.append(_chart(fr))
        parts.append(_checks(fr))
        parts.append(_new_values(fr))
        parts.append("</section>")
    parts.append("<p class='meta'>Checks and thresholds: docs/monitoring.md, The report.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
