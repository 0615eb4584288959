"""The report as one self-contained HTML page, printable on A4.

Every value taken from the records (customer ids, ticket ids, objective names, policy
versions) is escaped: they come from upstream helpdesks and are hostile input. The page
has no script, no external style sheet, image or font, so it reads the same offline,
attached to an e-mail, or printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from ticket_slo.schemas.outputs import format_utc
from ticket_slo.streams.reporting.durations import human_duration
from ticket_slo.streams.reporting.sla_figures import SlaFigures
from ticket_slo.streams.reporting.svg_chart import MET_COLOUR, MISSED_COLOUR, distribution_svg

__all__ = ["ReportContext", "render_html"]

_STYLE = """
@page { size: A4; margin: 16mm 14mm; }
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; color: #1d1d1f; margin: 24px auto;
       max-width: 180mm; font-size: 10.5pt; line-height: 1.4; }
h1 { font-size: 18pt; margin: 0 0 4px; }
h2 { font-size: 13pt; margin: 22px 0 8px; border-bottom: 2px solid #1d1d1f; padding-bottom: 3px; }
h3 { font-size: 11pt; margin: 14px 0 4px; }
dl.header { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 10px 0 0; }
dl.header dt { color: #555; } dl.header dd { margin: 0; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
th, td { border-bottom: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f2; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.time { white-space: nowrap; }
td.bad { color: #a93226; font-weight: 600; } td.good { color: #1e6b3f; font-weight: 600; }
.muted { color: #666; } .none { color: #666; font-style: italic; }
.chart { break-inside: avoid; page-break-inside: avoid; margin-bottom: 10px; }
.chart svg text.axis { font-size: 11px; fill: #444; } .chart svg text.count { font-size: 11px; fill: #1d1d1f; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; vertical-align: middle; }
footer { margin-top: 24px; font-size: 8.5pt; color: #555; border-top: 1px solid #ccc; padding-top: 6px; }
tr { break-inside: avoid; page-break-inside: avoid; }
@media print {
  body { margin: 0; max-width: none; }
  thead { display: table-header-group; }
  section.breaches, section.distribution { break-before: page; page-break-before: always; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
}
"""


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What the page says besides the figures: whom it is for and where its records came from."""

    customer: str | None
    account_manager: str | None
    generated_at: datetime
    sources: list[str]
    bad_records: int


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _when(moment: datetime) -> str:
    """``2026-11-25 09:30 UTC`` (seconds only when not zero): short enough not to wrap in a table."""
    shown = moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")
    return f"{shown} UTC"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _targets(seconds: set[float]) -> str:
    return ", ".join(human_duration(s) for s in sorted(seconds)) or "–"


def render_html(figures: SlaFigures, context: ReportContext) -> str:
    period = figures.period
    to_shown = format_utc(period.end)
    customer = context.customer or (", ".join(figures.customers) if figures.customers else "(none in this period)")
    title = f"SLA report – {customer} – {format_utc(period.start)[:10]} to {to_shown[:10]}"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
             "<header><h1>Service level report</h1>", '<dl class="header">',
             f"<dt>Customer</dt><dd>{_e(customer)}</dd>"]
    if context.account_manager:
        parts.append(f"<dt>Account manager</dt><dd>{_e(context.account_manager)}</dd>")
    parts += [f"<dt>Period</dt><dd>{_e(_when(period.start))} to {_e(_when(period.end))} (end excluded)</dd>",
              f"<dt>Policy versions</dt><dd>{_e(', '.join(figures.policy_versions) or '–')}</dd>",
              f"<dt>Generated at</dt><dd>{_e(_when(context.generated_at.replace(microsecond=0)))}</dd>",
              "</dl></header>"]
    parts += _attainment(figures)
    parts += _breaches(figures)
    parts += _distributions(figures)
    parts.append(_footer(context))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _attainment(figures: SlaFigures) -> list[str]:
    parts = ['<section class="attainment"><h2>Attainment per objective and priority</h2>']
    if not figures.rows:
        return parts + ['<p class="none">No outcome or breach in this period.</p></section>']
    parts.append('<table><thead><tr><th>Objective</th><th>Priority</th><th>Target</th>'
                 '<th class="num">Completed</th><th class="num">Met</th><th class="num">Attainment</th>'
                 '<th class="num">Breaches</th><th class="num">Retracted</th><th class="num">Standing</th>'
                 '</tr></thead><tbody>')
    for row in figures.rows:
        mark = "num" if row.attainment is None else ("num good" if row.attainment == 1 else "num bad")
        parts.append(
            f"<tr><td>{_e(row.objective)}</td><td>{_e(row.priority)}</td><td>{_e(_targets(row.targets))}</td>"
            f'<td class="num">{row.completed}</td><td class="num">{row.met}</td>'
            f'<td class="{mark}">{_percent(row.attainment)}</td>'
            f'<td class="num">{row.breached}</td><td class="num">{row.retracted}</td>'
            f'<td class="num">{row.standing}</td></tr>')
    parts.append("</tbody></table></section>")
    return parts


def _breaches(figures: SlaFigures) -> list[str]:
    parts = ['<section class="breaches"><h2>Breaches</h2>']
    if not figures.breaches:
        return parts + ['<p class="none">No breach stands in this period.</p></section>']
    parts.append('<table><thead><tr><th>Ticket</th><th>Customer</th><th>Objective</th><th>Priority</th>'
                 '<th>Deadline</th><th>Answered</th><th class="num">Late by</th></tr></thead><tbody>')
    for line in figures.breaches:
        answered = "still open" if line.stopped_at is None else _when(line.stopped_at)
        late = human_duration(line.late_seconds)
        late = f"≥ {late}" if line.still_open else late
        parts.append(
            f"<tr><td>{_e(line.ticket_id)}</td><td>{_e(line.customer_id)}</td><td>{_e(line.objective)}</td>"
            f'<td>{_e(line.priority)}</td><td class="time">{_e(_when(line.deadline))}</td>'
            f'<td class="time">{_e(answered)}</td><td class="num">{_e(late)}</td></tr>')
    parts.append("</tbody></table></section>")
    return parts


def _distributions(figures: SlaFigures) -> list[str]:
    parts = ['<section class="distribution"><h2>Response times</h2>',
             f'<p class="legend muted">Outcomes per bucket of working time:<span style="background:{MET_COLOUR}">'
             f'</span>met<span style="background:{MISSED_COLOUR}"></span>missed</p>']
    if not figures.distributions:
        return parts + ['<p class="none">No outcome in this period.</p></section>']
    for objective, buckets in figures.distributions.items():
        parts.append(f'<div class="chart"><h3>{_e(objective)}</h3>{distribution_svg(objective, buckets)}</div>')
    parts.append("</section>")
    return parts


def _footer(context: ReportContext) -> str:
    sources = ", ".join(context.sources)
    bad = (f" {context.bad_records} record(s) could not be read and are not counted."
           if context.bad_records else "")
    return ("<footer><p>An outcome belongs to the period by its <em>stopped_at</em> (when the objective was "
            "answered); a breach by its <em>deadline</em>. Breaches are counted net of retractions (a late "
            "event that showed the objective was met after all). Targets and response times are working "
            "time in the plan's calendar; lateness is wall-clock time from the deadline to the answer, or to "
            "the end of the period for a breach still open. Attainment is met ÷ completed."
            f"{_e(bad)}</p><p>Records read from: {_e(sources)}.</p></footer>")
