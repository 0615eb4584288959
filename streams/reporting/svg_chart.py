"""The response-time distribution as inline SVG: stacked bars, met below and missed above.

Why SVG written by hand: the report is one file that a customer opens offline or prints,
so it can load no script, no chart library and no web font.
"""

from __future__ import annotations

from html import escape

from ticket_slo.streams.reporting.durations import human_duration
from ticket_slo.streams.reporting.sla_figures import ResponseBucket

__all__ = ["distribution_svg"]

_WIDTH, _HEIGHT = 640, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 10, 12, 44
MET_COLOUR, MISSED_COLOUR = "#2f7d4f", "#c0392b"


def _label(bucket: ResponseBucket) -> str:
    if bucket.high is None:
        return f"> {human_duration(bucket.low)}"
    if bucket.low == 0:
        return f"≤ {human_duration(bucket.high)}"
    return f"{human_duration(bucket.low)}–{human_duration(bucket.high)}"


def distribution_svg(objective: str, buckets: list[ResponseBucket]) -> str:
    """One chart; every text in it is escaped (the objective name comes from the records)."""
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = _HEIGHT - _TOP - _BOTTOM
    peak = max((b.met + b.missed for b in buckets), default=0) or 1
    slot = plot_w / max(len(buckets), 1)
    bar = slot * 0.7
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
             f'width="100%" role="img" aria-label="{escape(objective)} response times">',
             f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_WIDTH - _RIGHT}" y2="{_TOP + plot_h}" '
             f'stroke="#555" stroke-width="1"/>',
             f'<text x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end" class="axis">{peak}</text>',
             f'<text x="{_LEFT - 6}" y="{_TOP + plot_h}" text-anchor="end" class="axis">0</text>']
    for index, bucket in enumerate(buckets):
        x = _LEFT + index * slot + (slot - bar) / 2
        met_h = plot_h * bucket.met / peak
        missed_h = plot_h * bucket.missed / peak
        base = _TOP + plot_h
        if bucket.met:
            parts.append(f'<rect x="{x:.1f}" y="{base - met_h:.1f}" width="{bar:.1f}" height="{met_h:.1f}" '
                         f'fill="{MET_COLOUR}"><title>{bucket.met} met</title></rect>')
        if bucket.missed:
            parts.append(f'<rect x="{x:.1f}" y="{base - met_h - missed_h:.1f}" width="{bar:.1f}" '
                         f'height="{missed_h:.1f}" fill="{MISSED_COLOUR}"><title>{bucket.missed} missed</title></rect>')
        total = bucket.met + bucket.missed
        if total:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - met_h - missed_h - 3:.1f}" '
                         f'text-anchor="middle" class="count">{total}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{base + 16}" text-anchor="middle" class="axis">'
                     f'{escape(_label(bucket))}</text>')
    parts.append(f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_HEIGHT - 6}" text-anchor="middle" class="axis">'
                 f'working time to the stop event</text>')
    parts.append("</svg>")
    return "".join(parts)
