"use strict";
// The status page's script: counts each clock down every second and re-fetches the open
// clocks and recent breaches every 5 s. Rows are built with exactly the markup page.py
// writes (the browser test compares the two), every value escaped as html.escape does.
(function () {
  var REFRESH_MS = 5000;
  var INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z$/;
  var EVENT_KINDS = { "slo.breached": "breached", "slo.breach_retracted": "retracted" };

  function esc(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
  }

  // Milliseconds since the epoch (fractions beyond the millisecond dropped), or null.
  function msOf(iso) {
    if (!iso) return null;
    var m = INSTANT.exec(iso);
    if (m) {
      var ms = m[7] ? Number((m[7] + "00").slice(0, 3)) : 0;
      return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) + ms;
    }
    var parsed = Date.parse(iso);
    return isNaN(parsed) ? null : parsed;
  }

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function duration(seconds) {
    var days = Math.floor(seconds / 86400), hours = Math.floor(seconds % 86400 / 3600);
    var minutes = Math.floor(seconds % 3600 / 60), secs = seconds % 60;
    if (days) return days + "d " + hours + "h " + two(minutes) + "m";
    if (hours) return hours + "h " + two(minutes) + "m " + two(secs) + "s";
    if (minutes) return minutes + "m " + two(secs) + "s";
    return secs + "s";
  }

  function countdown(msLeft) {
    if (msLeft > 0) return duration(Math.ceil(msLeft / 1000));
    return "overdue " + duration(Math.floor(-msLeft / 1000));
  }

  function when(iso, referenceIso) {
    var ms = msOf(iso);
    if (ms === null) return "\u2013";
    var t = new Date(ms), ref = msOf(referenceIso);
    var clock = two(t.getUTCHours()) + ":" + two(t.getUTCMinutes()) + ":" + two(t.getUTCSeconds()) + " UTC";
    var day = t.getUTCFullYear() + "-" + two(t.getUTCMonth() + 1) + "-" + two(t.getUTCDate());
    if (ref !== null) {
      var r = new Date(ref);
      if (r.getUTCFullYear() === t.getUTCFullYear() && r.getUTCMonth() === t.getUTCMonth()
          && r.getUTCDate() === t.getUTCDate()) return clock;
    }
    return day + " " + clock;
  }

  function warnings(clock) { return Math.floor(Number(clock.warnings_sent) || 0); }

  function level(state, warned, msLeft) {
    if (state === "paused") return "paused";
    if (state === "breached" || (msLeft !== null && msLeft <= 0)) return "late";
    if (warned >= 2) return "warn2";
    if (warned >= 1) return "warn1";
    return "none";
  }

  function shown(value) { return value === null || value === undefined || value === "" ? "\u2013" : value; }

  function cell(label, value, cls) {
    return "<td data-label=\"" + label + "\"" + (cls ? " class=\"" + cls + "\"" : "") + ">"
      + esc(shown(value)) + "</td>";
  }

  function priorityCell(priority) {
    var cls = /^P[1-9]$/.test(priority || "") ? "prio prio-" + priority.toLowerCase() : "prio";
    return "<td data-label=\"Priority\"><span class=\"" + cls + "\">" + esc(shown(priority)) + "</span></td>";
  }

  function clockRow(clock, nowMs, asOf) {
    var deadline = msOf(clock.deadline);
    var left = clock.state === "paused" || deadline === null ? null : deadline - nowMs;
    var text = clock.state === "paused" ? "paused" : left === null ? "\u2013" : countdown(left);
    return "<tr class=\"clock lvl-" + level(clock.state, warnings(clock), left) + "\" data-state=\""
      + esc(shown(clock.state)) + "\" data-deadline=\"" + esc(clock.deadline || "") + "\" data-warnings=\""
      + warnings(clock) + "\">" + cell("Ticket", clock.ticket_id, "ticket") + cell("Objective", clock.objective)
      + priorityCell(clock.priority) + cell("Customer", clock.customer_id)
      + cell("Account manager", clock.account_manager) + cell("State", clock.state, "state")
      + cell("Deadline", when(clock.deadline, asOf), "time") + cell("Time left", text, "countdown") + "</tr>";
  }

  function clockRows(answer, nowMs, filtered) {
    var clocks = answer.clocks || [];
    if (!clocks.length) {
      return "<tr class=\"empty\"><td colspan=\"8\">" + (filtered ? "No open clocks match these filters."
        : "No open clocks.") + "</td></tr>";
    }
    return clocks.map(function (clock) { return clockRow(clock, nowMs, answer.as_of); }).join("");
  }

  function eventRow(event, asOf) {
    var kind = EVENT_KINDS[event.type] || event.type;
    var cls = EVENT_KINDS[event.type] ? "event ev-" + kind : "event";
    return "<tr class=\"" + cls + "\">" + cell("When", when(event.at, asOf), "time")
      + cell("Event", kind, "kind") + cell("Ticket", event.ticket_id, "ticket") + cell("Objective", event.objective)
      + priorityCell(event.priority) + cell("Customer", event.customer_id)
      + cell("Account manager", event.account_manager) + cell("Deadline", when(event.deadline, asOf), "time")
      + "</tr>";
  }

  function eventRows(answer) {
    var events = answer.events || [];
    if (!events.length) return "<tr class=\"empty\"><td colspan=\"8\">No recent breach or retraction.</td></tr>";
    return events.map(function (event) { return eventRow(event, answer.as_of); }).join("");
  }

  function countText(answer) {
    var n = (answer.clocks || []).length;
    return answer.next ? "first " + n + " shown" : n + " open";
  }

  var api = { esc: esc, msOf: msOf, countdown: countdown, when: when, level: level, clockRows: clockRows,
              eventRows: eventRows, countText: countText };
  if (typeof document === "undefined") {
    if (typeof module !== "undefined") module.exports = api;
    return;
  }
  window.TicketSloPage = api;

  var main = document.getElementById("status");
  if (!main) return;
  var query = main.getAttribute("data-query") || "";
  var filtered = main.getAttribute("data-filtered") === "1";
  // The browser's clock may be off: count from the server's, as of its last answer.
  var skew = (msOf(main.getAttribute("data-as-of")) || Date.now()) - Date.now();
  function now() { return Date.now() + skew; }

  function tick() {
    var rows = document.querySelectorAll("#clock-rows tr.clock");
    var t = now();
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i], state = row.getAttribute("data-state");
      var deadline = msOf(row.getAttribute("data-deadline"));
      if (state === "paused" || deadline === null) continue;
      var left = deadline - t;
      row.className = "clock lvl-" + level(state, Number(row.getAttribute("data-warnings")), left);
      var cellOfCountdown = row.querySelector("td.countdown");
      if (cellOfCountdown) cellOfCountdown.textContent = countdown(left);
    }
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          location.reload();  // the token was withdrawn or the cookie cleared: show the login form
          throw new Error("signed out");
        }
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (!response.ok) throw new Error("HTTP " + response.status + (body.error ? ": " + body.error : ""));
          return body;
        });
      });
  }

  function setStatus(asOf, problem) {
    var line = document.getElementById("asof");
    var time = document.getElementById("as-of");
    if (asOf) {
      time.setAttribute("datetime", asOf);
      time.textContent = when(asOf, asOf);
    }
    document.getElementById("live").textContent = problem ? "could not refresh (" + problem + "); retrying"
      : "refreshes every 5 s";
    line.className = problem ? "asof problem" : "asof";
  }

  function render(open, recent) {
    skew = (msOf(open.as_of) || Date.now()) - Date.now();
    document.getElementById("clock-rows").innerHTML = clockRows(open, now(), filtered);
    document.getElementById("event-rows").innerHTML = eventRows(recent);
    document.getElementById("count").textContent = "(" + countText(open) + ")";
    document.getElementById("more").hidden = !open.next;
    setStatus(open.as_of, null);
  }

  function refresh() {
    Promise.all([getJson("api/open" + (query ? "?" + query : "")), getJson("api/recent")])
      .then(function (answers) { render(answers[0], answers[1]); })
      .catch(function (problem) { setStatus(null, problem.message); })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }

  tick();
  setInterval(tick, 1000);
  setTimeout(refresh, REFRESH_MS);
})();
