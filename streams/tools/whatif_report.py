"""What-if, rendered: a side-by-side table for people, one JSON document for machines.

The JSON document's shape is ``DOCUMENT_SHAPE``, which ``ticket-slo whatif --help`` prints.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from ticket_slo.schemas.outputs import format_utc
from ticket_slo.streams.tools.whatif import Comparison, GroupTally, TicketKey, TicketResult

__all__ = ["DOCUMENT_SHAPE", "as_document", "render_text", "human_duration", "dead_letter_lines"]

#: The shape of ``--json``'s document, for the command's help and docs/operations.md.
DOCUMENT_SHAPE = """\
{"events": {"file", "lines", "valid", "invalid",
            "dead_letters": [{"source", "reason", "error"}]},
 "until": RFC 3339 time or null,
 "policies": [{"label", "path", "version"}],
 "groups": [{"plan", "objective", "priority",
             "results": [{"completed", "met", "attainment_percent",
                          "breaches", "median_elapsed_seconds"}]}],
 "differences": [{"ticket_id", "objective", "cycle",
                  "results": [{"verdict", "elapsed_seconds", "plan", "priority"}]}]}
Each "results" list holds one entry per policy, in the order of "policies"; a verdict
is met, missed, breached (open, its breach standing), open, paused or "no clock"; cycle
is 1, or n for the n-th run of a clock that reopens restarted; a percentage, a median
or an elapsed time with nothing to measure is null."""


def human_duration(seconds: float | None) -> str:
    """``45s``, ``5m30s``, ``1h05m``, ``2d03h10m``: seconds shown only under an hour; ``-`` for none."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    return f"{secs}s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def _verdict(result: TicketResult) -> str:
    text = result.verdict.value
    if result.elapsed_seconds is not None:
        text += f" {human_duration(result.elapsed_seconds)}"
    return text


def _table(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Columns padded to their widest cell; those in ``right`` aligned right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                      for i, cell in enumerate(row)).rstrip() for row in rows]


_GROUP_COLUMNS = ("completed", "attainment", "breaches", "median")


def render_text(comparison: Comparison, paths: Sequence[str], until: float | None = None) -> str:
    """The comparison as a person reads it: the policies, one row per group, the differing tickets."""
    runs = comparison.runs
    letters = [chr(ord("A") + i) if i < 26 else f"P{i + 1}" for i in range(len(runs))]
    summary = comparison.input
    lines = [f"What if: {comparison.source_name}: {summary.lines} events read, {summary.valid} valid, "
             f"{summary.invalid} invalid" + (f"; clock advanced to {_utc(until)} at the end" if until else ""),
             ""]
    lines += _table([[f"{letter}:", run.label, f"version {run.policy.version}", path]
                     for letter, run, path in zip(letters, runs, paths)], right=set())
    lines.append("")

    header = ["plan", "objective", "priority"]
    for letter in letters:
        header += [f"{letter} {column}" for column in _GROUP_COLUMNS]
    rows = [header]
    for key, tallies in comparison.groups():
        row = [key.plan, key.objective, key.priority]
        for tally in tallies:
            row += _group_cells(tally)
        rows.append(row)
    if len(rows) == 1:
        lines.append("No ticket completed or breached under any policy.")
    else:
        lines += _table(rows, right={i for i in range(3, len(header))})
    lines.append("")

    differences = comparison.differences()
    if not differences:
        lines.append("Every ticket has the same result under every policy.")
    else:
        lines.append(f"Tickets whose result differs ({len(differences)}):")
        rows = [["ticket", "objective", *letters]]
        rows += [[key.ticket_id, _clock_name(key), *map(_verdict, results)] for key, results in differences]
        lines += _table(rows, right=set())
    return "\n".join(lines) + "\n"


def _clock_name(key: TicketKey) -> str:
    """The objective, and which run of its clock when a reopen restarted it: ``resolution #2``."""
    return key.objective if key.cycle == 1 else f"{key.objective} #{key.cycle}"


def _group_cells(tally: GroupTally) -> list[str]:
    return [str(tally.completed), _percent(tally.attainment), str(tally.breaches), human_duration(tally.median_elapsed)]


def _utc(seconds: float) -> str:
    return format_utc(datetime.fromtimestamp(seconds, tz=timezone.utc))


def dead_letter_lines(comparison: Comparison) -> list[str]:
    """One line per input the engine could not use, for stderr: where, why."""
    return [f"{letter.source or letter.key}: {letter.reason}: {letter.error}" for letter in comparison.dead_letters]


def as_document(comparison: Comparison, paths: Sequence[str], until: float | None = None) -> dict[str, Any]:
    """The comparison as one JSON-able document (shape in the module docstring)."""
    summary = comparison.input
    return {
        "events": {
            "file": comparison.source_name,
            "lines": summary.lines,
            "valid": summary.valid,
            "invalid": summary.invalid,
            "dead_letters": [{"source": letter.source, "reason": letter.reason, "error": letter.error}
                             for letter in comparison.dead_letters],
        },
        "until": None if until is None else _utc(until),
        "policies": [{"label": run.label, "path": path, "version": run.policy.version}
                     for run, path in zip(comparison.runs, paths)],
        "groups": [
            {"plan": key.plan, "objective": key.objective, "priority": key.priority,
             "results": [{"completed": tally.completed, "met": tally.met, "attainment_percent": tally.attainment,
                          "breaches": tally.breaches, "median_elapsed_seconds": tally.median_elapsed}
                         for tally in tallies]}
            for key, tallies in comparison.groups()
        ],
        "differences": [
            {"ticket_id": key.ticket_id, "objective": key.objective, "cycle": key.cycle,
             "results": [{"verdict": result.verdict.value, "elapsed_seconds": result.elapsed_seconds,
                          "plan": result.plan, "priority": result.priority} for result in results]}
            for key, results in comparison.differences()
        ],
    }
