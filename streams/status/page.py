"""The status page at ``/``: the open clocks a viewer may see and the recent breaches, as HTML.

Rendered from the same JSON answers the API gives (``/api/open`` and ``/api/recent``), so
the page can never show what the API would not. Its script (``page.js``) counts each clock
down every second and re-fetches those answers every 5 s, building rows with exactly the
markup written here; the countdown is wall-clock time to the deadline instant, counted on
the server's clock (``as_of``), not the browser's. Ticket ids, customers, account managers
and objectives come from upstream helpdesks and are hostile input: every one is escaped.

The page loads nothing from elsewhere: style and script are inline (read once from the
package's ``page.css`` and ``page.js``), there is no web font, image or CDN.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta, timezone
from html import escape
from importlib import resources
from typing import Any, Final, Mapping
from urllib.parse import urlencode

__all__ = ["render_page", "render_login", "render_notice", "countdown_text", "FILTER_FIELDS", "REFRESH_SECONDS",
           "CONTENT_SECURITY_POLICY"]

#: The query parameters the page keeps, in the order it passes them on to ``/api/open``.
FILTER_FIELDS: Final = ("customer", "account_manager", "priority", "objective", "due_within", "limit")
#: How often the script re-fetches the answers (page.js's REFRESH_MS).
REFRESH_SECONDS: Final = 5
_PRIORITIES: Final = ("P1", "P2", "P3", "P4")
_EVENT_KINDS: Final = {"slo.breached": "breached", "slo.breach_retracted": "retracted"}
_INSTANT: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DASH: Final = "\u2013"
_STYLE: Final = resources.files(__package__).joinpath("page.css").read_text(encoding="utf-8")
_SCRIPT: Final = resources.files(__package__).joinpath("page.js").read_text(encoding="utf-8")


def _source_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


#: The pages' Content-Security-Policy: only this style and this script may run, by their
#: hashes, not any inline script ('unsafe-inline'): markup that slipped past the escaping
#: still could not run. Fetches go to this worker only; forms post to it only.
CONTENT_SECURITY_POLICY: Final = (
    f"default-src 'none'; script-src {_source_hash(_SCRIPT)}; style-src {_source_hash(_STYLE)}; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_HEAD: Final = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                '<meta name="referrer" content="no-referrer">')


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _shown(value: object) -> str:
    return _DASH if value is None or value == "" else str(value)


# -- instants and durations, exactly as page.js computes them -------------------------------------

def _ms_of(iso: object) -> int | None:
    """Milliseconds since the epoch (fractions beyond the millisecond dropped), or None."""
    if not isinstance(iso, str) or not iso:
        return None
    found = _INSTANT.fullmatch(iso)
    if found:
        year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
        fraction = int((found.group(7) or "").ljust(3, "0")[:3])
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        return (moment - _EPOCH) // timedelta(milliseconds=1) + fraction
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _duration(seconds: int) -> str:
    """``2d 3h 05m``, ``3h 05m 12s``, ``12m 05s``, ``45s``: seconds shown while they matter.

    Not the report's ``human_duration``: a countdown must tick every second under a day.
    """
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def countdown_text(ms_left: int) -> str:
    """Time left, rounded up (``0s`` is never shown before the deadline), or ``overdue …``."""
    if ms_left > 0:
        return _duration(-(-ms_left // 1000))
    return "overdue " + _duration(-ms_left // 1000)


def _when(iso: object, reference: object) -> str:
    """``21:50:03 UTC`` on the reference's day (UTC), else ``2026-12-01 09:00:00 UTC``."""
    ms = _ms_of(iso)
    if ms is None:
        return _DASH
    moment = _EPOCH + timedelta(milliseconds=ms)
    clock = moment.strftime("%H:%M:%S UTC")
    ref = _ms_of(reference)
    if ref is not None and (_EPOCH + timedelta(milliseconds=ref)).date() == moment.date():
        return clock
    return f"{moment:%Y-%m-%d} {clock}"


def _level(state: object, warned: int, ms_left: int | None) -> str:
    """The row's colour: paused (grey), late (red), warn2 (orange), warn1 (amber) or none."""
    if state == "paused":
        return "paused"
    if state == "breached" or (ms_left is not None and ms_left <= 0):
        return "late"
    if warned >= 2:
        return "warn2"
    if warned >= 1:
        return "warn1"
    return "none"


# -- rows ---------------------------------------------------------------------------------------

def _cell(label: str, value: object, css_class: str = "") -> str:
    classes = f' class="{css_class}"' if css_class else ""
    return f'<td data-label="{label}"{classes}>{_e(_shown(value))}</td>'


def _priority_cell(priority: object) -> str:
    text = priority if isinstance(priority, str) else ""
    css = f"prio prio-{text.lower()}" if re.fullmatch(r"P[1-9]", text) else "prio"
    return f'<td data-label="Priority"><span class="{css}">{_e(_shown(priority))}</span></td>'


def _warnings(clock: Mapping[str, Any]) -> int:
    try:
        return max(0, int(clock.get("warnings_sent") or 0))
    except (TypeError, ValueError):
        return 0


def _clock_row(clock: Mapping[str, Any], now_ms: int, as_of: object) -> str:
    state = clock.get("state")
    deadline = _ms_of(clock.get("deadline"))
    left = None if state == "paused" or deadline is None else deadline - now_ms
    text = "paused" if state == "paused" else (_DASH if left is None else countdown_text(left))
    warned = _warnings(clock)
    return (f'<tr class="clock lvl-{_level(state, warned, left)}" data-state="{_e(_shown(state))}" '
            f'data-deadline="{_e(clock.get("deadline") or "")}" data-warnings="{warned}">'
            + _cell("Ticket", clock.get("ticket_id"), "ticket") + _cell("Objective", clock.get("objective"))
            + _priority_cell(clock.get("priority")) + _cell("Customer", clock.get("customer_id"))
            + _cell("Account manager", clock.get("account_manager")) + _cell("State", state, "state")
            + _cell("Deadline", _when(clock.get("deadline"), as_of), "time")
            + _cell("Time left", text, "countdown") + "</tr>")


def _clock_rows(open_answer: Mapping[str, Any], now_ms: int, filtered: bool) -> str:
    clocks = open_answer.get("clocks") or []
    if not clocks:
        message = "No open clocks match these filters." if filtered else "No open clocks."
        return f'<tr class="empty"><td colspan="8">{message}</td></tr>'
    return "".join(_clock_row(clock, now_ms, open_answer.get("as_of")) for clock in clocks)


def _event_row(event: Mapping[str, Any], as_of: object) -> str:
    kind = _EVENT_KINDS.get(event.get("type"), event.get("type"))  # type: ignore[arg-type]
    css = f"event ev-{kind}" if event.get("type") in _EVENT_KINDS else "event"
    return (f'<tr class="{css}">' + _cell("When", _when(event.get("at"), as_of), "time")
            + _cell("Event", kind, "kind") + _cell("Ticket", event.get("ticket_id"), "ticket")
            + _cell("Objective", event.get("objective")) + _priority_cell(event.get("priority"))
            + _cell("Customer", event.get("customer_id")) + _cell("Account manager", event.get("account_manager"))
            + _cell("Deadline", _when(event.get("deadline"), as_of), "time") + "</tr>")


def _event_rows(recent_answer: Mapping[str, Any]) -> str:
    events = recent_answer.get("events") or []
    if not events:
        return '<tr class="empty"><td colspan="8">No recent breach or retraction.</td></tr>'
    return "".join(_event_row(event, recent_answer.get("as_of")) for event in events)


def _count_text(open_answer: Mapping[str, Any]) -> str:
    count = len(open_answer.get("clocks") or [])
    return f"first {count} shown" if open_answer.get("next") else f"{count} open"


# -- the page -----------------------------------------------------------------------------------

def _is_customer(viewer: str) -> bool:
    """A customer's view (``customer acme``, as ``Viewer.describe`` puts it) has no customer filter."""
    return viewer.startswith("customer ")


def _kept_filters(filters: Mapping[str, str], customer_view: bool) -> dict[str, str]:
    """The non-empty filters the page passes on, minus the customer for a customer's view
    (the API narrows that view to its customer anyway)."""
    return {name: str(filters[name]) for name in FILTER_FIELDS
            if filters.get(name) and not (customer_view and name == "customer")}


def _filter_form(kept: Mapping[str, str], customer_view: bool, open_answer: Mapping[str, Any]) -> str:
    clocks = open_answer.get("clocks") or []
    parts = ['<form class="filters" method="get" action="./" aria-label="Filters">']
    if not customer_view:
        parts.append(f'<label>Customer<input name="customer" value="{_e(kept.get("customer", ""))}" '
                     'list="known-customers" autocomplete="off"></label>')
        parts.append(_datalist("known-customers", (clock.get("customer_id") for clock in clocks)))
    parts.append(f'<label>Account manager<input name="account_manager" value="{_e(kept.get("account_manager", ""))}" '
                 'list="known-managers" autocomplete="off"></label>')
    parts.append(_datalist("known-managers", (clock.get("account_manager") for clock in clocks)))
    chosen = kept.get("priority", "")
    options = ['<option value="">any</option>']
    for value in (*_PRIORITIES, *([chosen] if chosen and chosen not in _PRIORITIES else [])):
        selected = " selected" if value == chosen else ""
        options.append(f'<option value="{_e(value)}"{selected}>{_e(value)}</option>')
    parts.append(f'<label>Priority<select name="priority">{"".join(options)}</select></label>')
    for name in ("objective", "due_within", "limit"):
        if name in kept:
            parts.append(f'<input type="hidden" name="{name}" value="{_e(kept[name])}">')
    parts.append('<button type="submit">Filter</button><a href="./">Clear</a></form>')
    return "".join(parts)


def _datalist(list_id: str, values: Any) -> str:
    names = sorted({value for value in values if isinstance(value, str) and value})
    return f'<datalist id="{list_id}">' + "".join(f'<option value="{_e(name)}">' for name in names) + "</datalist>"


def render_page(open_answer: dict[str, Any], recent_answer: dict[str, Any], *, viewer: str,
                filters: Mapping[str, str]) -> str:
    """The whole page, from the answers of ``/api/open`` and ``/api/recent`` (their order kept)."""
    customer_view = _is_customer(viewer)
    kept = _kept_filters(filters, customer_view)
    as_of = open_answer.get("as_of")
    now_ms = _ms_of(as_of)
    if now_ms is None:
        now_ms = (datetime.now(timezone.utc) - _EPOCH) // timedelta(milliseconds=1)
    filtered = any(name in kept for name in ("customer", "account_manager", "priority", "objective", "due_within"))
    more_hidden = "" if open_answer.get("next") else " hidden"
    return "".join([
        _HEAD, "<title>SLO status</title>",
        f'<noscript><meta http-equiv="refresh" content="{REFRESH_SECONDS * 6}"></noscript>',
        f"<style>{_STYLE}</style></head><body>",
        f'<main id="status" data-as-of="{_e(as_of or "")}" data-query="{_e(urlencode(kept))}" '
        f'data-filtered="{1 if filtered else 0}">',
        '<header><h1>Open SLO clocks</h1>',
        f'<p class="who">Signed in as <strong>{_e(viewer)}</strong> · <a href="logout">Log out</a></p></header>',
        f'<p class="asof" id="asof">Data as of <time id="as-of" datetime="{_e(as_of or "")}">{_e(_when(as_of, as_of))}'
        f'</time> · <span id="live">refreshes every {REFRESH_SECONDS} s</span></p>',
        _filter_form(kept, customer_view, open_answer),
        '<section class="open"><h2>Open clocks <span class="muted" id="count">'
        f'({_e(_count_text(open_answer))})</span></h2>',
        '<table class="clocks"><thead><tr><th>Ticket</th><th>Objective</th><th>Priority</th><th>Customer</th>'
        '<th>Account manager</th><th>State</th><th>Deadline</th><th class="countdown">Time left</th></tr></thead>',
        f'<tbody id="clock-rows">{_clock_rows(open_answer, now_ms, filtered)}</tbody></table>',
        f'<p class="more" id="more"{more_hidden}>More clocks match than are shown: narrow the filters.</p>',
        '<p class="legend">Soonest deadline first, paused clocks last.<span class="sw-warn1"></span>first warning'
        '<span class="sw-warn2"></span>second warning<span class="sw-late"></span>breached or overdue'
        '<span class="sw-paused"></span>paused</p></section>',
        '<section class="recent"><h2>Recent breaches and retractions</h2>',
        '<table class="events"><thead><tr><th>When</th><th>Event</th><th>Ticket</th><th>Objective</th>'
        '<th>Priority</th><th>Customer</th><th>Account manager</th><th>Deadline</th></tr></thead>',
        f'<tbody id="event-rows">{_event_rows(recent_answer)}</tbody></table></section>',
        f"</main><script>{_SCRIPT}</script></body></html>\n",
    ])


def render_login(message: str | None) -> str:
    """The login form: a token POSTed to ``/login``, which sets the session cookie."""
    error = f'<p class="error" role="alert">{_e(message)}</p>' if message else ""
    return "".join([
        _HEAD, f"<title>SLO status: sign in</title><style>{_STYLE}</style></head><body>",
        '<main class="login"><h1>SLO status</h1>',
        '<p class="muted">Sign in with the access token you were given to follow your open requests.</p>',
        error,
        '<form method="post" action="login"><label for="token">Access token</label>',
        '<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>',
        '<button type="submit">Sign in</button></form>',
        '<p class="muted legend">The token is kept in this browser until you log out.</p></main></body></html>\n',
    ])


def render_notice(message: str, *, retry_seconds: int | None = None) -> str:
    """A page that says why the clocks cannot be shown (a rebalance, a bad filter); with
    ``retry_seconds`` it loads itself again after that long."""
    retry = (f'<meta http-equiv="refresh" content="{int(retry_seconds)}">' if retry_seconds else "")
    again = (f"This page tries again in {int(retry_seconds)} s." if retry_seconds
             else '<a href="./">Show every open clock</a>')
    return "".join([
        _HEAD, f"<title>SLO status</title>{retry}<style>{_STYLE}</style></head><body>",
        '<main class="login"><h1>SLO status</h1>',
        f'<p class="error" role="alert">{_e(message)}</p><p class="muted">{again}</p>',
        '<p class="muted"><a href="logout">Log out</a></p></main></body></html>\n',
    ])
