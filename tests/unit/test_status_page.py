"""The status page read back the way a browser's reader sees it: rows, form fields, texts.

Hostile ids must come back as the text they were (never as markup), the filters must
survive in the form and in the script's query, a customer's view has no customer filter,
and the rows keep the API's order.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs

from ticket_slo.streams.status.page import render_login, render_notice, render_page

AS_OF = "2026-11-30T21:50:03.120000Z"
HOSTILE_TICKET = '<script>alert("t")</script>'
HOSTILE_CUSTOMER = '"><img src=x onerror=alert(1)>'
HOSTILE_MANAGER = "<b>dana</b>&amp;"


class PageReader(HTMLParser):
    """Table body rows (cell texts and row attributes) per tbody id, form fields, and texts by id."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, list[list[str]]] = {}
        self.row_attrs: dict[str, list[dict[str, str | None]]] = {}
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.selects: dict[str, list[tuple[str, bool]]] = {}
        self.texts: dict[str, str] = {}
        self.elements: dict[str, dict[str, str | None]] = {}
        self.forms: list[dict[str, str | None]] = []
        self.scripts = 0
        self._tbody: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._select: str | None = None
        self._open_ids: list[tuple[str, str, list[str]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.elements[str(found["id"])] = found
            self._open_ids.append((tag, str(found["id"]), []))
        if tag == "script":
            self.scripts += 1
        elif tag == "form":
            self.forms.append(found)
        elif tag == "tbody":
            self._tbody = found.get("id") or ""
        elif tag == "tr" and self._tbody is not None:
            self._row = []
            self.row_attrs.setdefault(self._tbody, []).append(found)
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "input" and found.get("name"):
            self.inputs[str(found["name"])] = found
        elif tag == "select":
            self._select = found.get("name") or ""
            self.selects[self._select] = []
        elif tag == "option" and self._select is not None:
            self.selects[self._select].append((found.get("value") or "", "selected" in found))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._tbody is not None:
            self.rows.setdefault(self._tbody, []).append(self._row)
            self._row = None
        elif tag == "tbody":
            self._tbody = None
        elif tag == "select":
            self._select = None
        if self._open_ids and self._open_ids[-1][0] == tag:
            _, element_id, text = self._open_ids.pop()
            self.texts[element_id] = "".join(text).strip()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, _, text in self._open_ids:
            text.append(data)


def clock(ticket_id: str, *, state: str = "running", deadline: str | None = "2026-11-30T22:00:03.120000Z",
          warnings: int = 0, priority: str = "P2", customer: str = "acme", manager: str | None = "dana",
          objective: str = "first_response") -> dict[str, Any]:
    return {"ticket_id": ticket_id, "objective": objective, "state": state, "priority": priority, "plan": "gold",
            "customer_id": customer, "account_manager": manager, "calendar": "24x7",
            "started_at": "2026-11-30T21:40:03.120000Z", "deadline": deadline, "remaining_seconds": None,
            "overdue_seconds": None, "warnings_sent": warnings, "target_seconds": 1200.0}


def breach(ticket_id: str, kind: str = "slo.breached", customer: str = "acme") -> dict[str, Any]:
    return {"type": kind, "ticket_id": ticket_id, "objective": "first_response", "priority": "P1",
            "customer_id": customer, "account_manager": "dana", "deadline": "2026-11-30T21:46:53.000000Z",
            "at": "2026-11-30T21:46:54.500000Z"}


def page(clocks: list[dict[str, Any]], events: list[dict[str, Any]] | None = None, *, viewer: str = "staff (desk)",
         filters: dict[str, str] | None = None, next_cursor: str | None = None) -> PageReader:
    html = render_page({"clocks": clocks, "next": next_cursor, "as_of": AS_OF, "partitions": 8},
                       {"events": events or [], "as_of": AS_OF}, viewer=viewer, filters=filters or {})
    return PageReader(html)


def test_hostile_values_are_text_never_markup() -> None:
    html = render_page({"clocks": [clock(HOSTILE_TICKET, customer=HOSTILE_CUSTOMER, manager=HOSTILE_MANAGER,
                                         objective="<i>o</i>")], "next": None, "as_of": AS_OF},
                       {"events": [breach(HOSTILE_TICKET, customer=HOSTILE_CUSTOMER)], "as_of": AS_OF},
                       viewer="staff (<u>desk</u>)", filters={"account_manager": HOSTILE_MANAGER,
                                                              "customer": HOSTILE_CUSTOMER})
    assert "<img" not in html and "<b>" not in html and "<i>" not in html and "<u>" not in html
    assert html.count("<script") == 1  # the page's own script, nothing from the data
    reader = PageReader(html)
    assert reader.scripts == 1
    assert reader.rows["clock-rows"][0][:5] == [HOSTILE_TICKET, "<i>o</i>", "P2", HOSTILE_CUSTOMER, HOSTILE_MANAGER]
    assert reader.rows["event-rows"][0][2] == HOSTILE_TICKET and reader.rows["event-rows"][0][5] == HOSTILE_CUSTOMER
    assert reader.inputs["account_manager"]["value"] == HOSTILE_MANAGER
    assert reader.inputs["customer"]["value"] == HOSTILE_CUSTOMER
    assert "staff (<u>desk</u>)" in html.replace("&lt;", "<").replace("&gt;", ">")


def test_a_hostile_login_message_is_text() -> None:
    html = render_login('<script>alert("m")</script>')
    assert "<script" not in html
    assert '&lt;script&gt;alert(&quot;m&quot;)&lt;/script&gt;' in html


def test_the_login_form_posts_the_token_to_login() -> None:
    reader = PageReader(render_login(None))
    (form,) = reader.forms
    assert form["method"] == "post" and form["action"] == "login"
    assert reader.inputs["token"]["type"] == "password"
    assert "role=\"alert\"" not in render_login(None) and "role=\"alert\"" in render_login("wrong token")


def test_the_filters_are_kept_in_the_form_and_in_the_scripts_query() -> None:
    reader = page([clock("T-1")], filters={"customer": "acme", "account_manager": "dana", "priority": "P1",
                                          "objective": "resolution", "unknown": "x"})
    (form,) = reader.forms
    assert form["method"] == "get"
    assert reader.inputs["customer"]["value"] == "acme"
    assert reader.inputs["account_manager"]["value"] == "dana"
    assert [value for value, selected in reader.selects["priority"] if selected] == ["P1"]
    assert reader.inputs["objective"]["type"] == "hidden" and reader.inputs["objective"]["value"] == "resolution"
    query = parse_qs(str(reader.elements["status"]["data-query"]))
    assert query == {"customer": ["acme"], "account_manager": ["dana"], "priority": ["P1"],
                     "objective": ["resolution"]}


def test_no_filter_means_any_priority_and_an_empty_query() -> None:
    reader = page([clock("T-1")])
    assert [value for value, selected in reader.selects["priority"] if selected] == []
    assert reader.selects["priority"][0] == ("", False) and len(reader.selects["priority"]) == 5
    assert reader.elements["status"]["data-query"] == ""
    assert reader.inputs["customer"]["value"] == ""


def test_a_customers_view_has_no_customer_filter() -> None:
    reader = page([clock("T-1")], viewer="customer acme", filters={"customer": "globex", "priority": "P3"})
    assert "customer" not in reader.inputs
    assert "account_manager" in reader.inputs and "priority" in reader.selects
    assert parse_qs(str(reader.elements["status"]["data-query"])) == {"priority": ["P3"]}
    assert "customer acme" in reader.texts["status"]


def test_empty_states() -> None:
    reader = page([])
    assert reader.rows["clock-rows"] == [["No open clocks."]]
    assert reader.rows["event-rows"] == [["No recent breach or retraction."]]
    assert reader.texts["count"] == "(0 open)"
    filtered = page([], filters={"priority": "P1"})
    assert filtered.rows["clock-rows"] == [["No open clocks match these filters."]]


def test_the_rows_keep_the_order_given() -> None:
    clocks = [clock("T-3", deadline="2026-11-30T23:00:00.000000Z"), clock("T-1", deadline="2026-11-30T21:55:00Z"),
              clock("T-2", state="paused", deadline=None)]
    events = [breach("T-9"), breach("T-8", "slo.breach_retracted"), breach("T-7")]
    reader = page(clocks, events)
    assert [row[0] for row in reader.rows["clock-rows"]] == ["T-3", "T-1", "T-2"]
    assert [(row[2], row[1]) for row in reader.rows["event-rows"]] == [("T-9", "breached"), ("T-8", "retracted"),
                                                                      ("T-7", "breached")]


def test_countdown_and_colour_as_of_the_answer() -> None:
    clocks = [
        clock("quiet", deadline="2026-11-30T21:51:38.120000Z"),              # 95 s left
        clock("warned", warnings=1, deadline="2026-11-30T22:03:35.120000Z"),  # 13 min 32 s left
        clock("warned-twice", warnings=2, deadline="2026-12-01T00:57:03.120000Z"),
        clock("overdue", deadline="2026-11-30T21:46:53.120000Z"),             # 190 s past, not yet breached
        clock("breached", state="breached", warnings=2, deadline="2026-11-30T21:46:53.000000Z"),
        clock("paused", state="paused", warnings=1, deadline=None),
    ]
    reader = page(clocks)
    cells = {row[0]: (row[5], row[6], row[7]) for row in reader.rows["clock-rows"]}
    colours = {row[0]: attrs["class"] for row, attrs in zip(reader.rows["clock-rows"], reader.row_attrs["clock-rows"])}
    assert cells["quiet"] == ("running", "21:51:38 UTC", "1m 35s")
    assert cells["warned"][2] == "13m 32s"
    assert cells["warned-twice"] == ("running", "2026-12-01 00:57:03 UTC", "3h 07m 00s")
    assert cells["overdue"][2] == "overdue 3m 10s"
    assert cells["breached"] == ("breached", "21:46:53 UTC", "overdue 3m 10s")
    assert cells["paused"] == ("paused", "\u2013", "paused")
    assert colours == {"quiet": "clock lvl-none", "warned": "clock lvl-warn1", "warned-twice": "clock lvl-warn2",
                       "overdue": "clock lvl-late", "breached": "clock lvl-late", "paused": "clock lvl-paused"}


def test_a_cut_listing_says_so() -> None:
    reader = page([clock("T-1"), clock("T-2")], next_cursor="abc")
    assert reader.texts["count"] == "(first 2 shown)"
    assert "hidden" not in reader.elements["more"]
    assert "hidden" in page([clock("T-1")]).elements["more"]


def test_the_data_as_of_line_and_the_logout_link() -> None:
    reader = page([clock("T-1")])
    assert reader.texts["as-of"] == "21:50:03 UTC"
    assert reader.elements["as-of"]["datetime"] == AS_OF
    assert reader.elements["status"]["data-as-of"] == AS_OF
    assert re.search(r'<a href="logout">Log out</a>', render_page(
        {"clocks": [], "as_of": AS_OF}, {"events": []}, viewer="customer acme", filters={}))


def test_the_page_loads_nothing_from_elsewhere() -> None:
    for html in (render_page({"clocks": [clock("T-1")], "as_of": AS_OF}, {"events": [breach("T-1")]},
                             viewer="staff (desk)", filters={}), render_login("no")):
        assert not re.findall(r"https?://", html)
        assert not re.search(r"\b(src|srcset)=|@import|url\(|<link\b", html)


def test_a_notice_says_why_escaped_and_retries_only_when_asked() -> None:
    busy = render_notice("<b>partitions [3]</b> are catching up", retry_seconds=2)
    assert "<b>" not in busy and "&lt;b&gt;partitions [3]&lt;/b&gt; are catching up" in busy
    assert '<meta http-equiv="refresh" content="2">' in busy
    bad = render_notice("priority='P9' is not one of P1, P2, P3, P4")
    assert "http-equiv" not in bad and '<a href="./">' in bad
