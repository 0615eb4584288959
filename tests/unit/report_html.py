"""Reads the SLA report's HTML back the way a reader sees it: each section's table rows as cell texts."""

from __future__ import annotations

from html.parser import HTMLParser


class ReportReader(HTMLParser):
    """``rows[section class]``: the body rows of that section's table; ``titles``: the SVG titles."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, list[list[str]]] = {}
        self.titles: list[str] = []
        self.header: dict[str, str] = {}
        self._section = ""
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_body = False
        self._in_title = False
        self._dt: str | None = None
        self._text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._section = dict(attrs).get("class") or ""
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag in ("title", "dt", "dd"):
            self._text = []
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.setdefault(self._section, []).append(self._row)
            self._row = None
        elif tag in ("title", "dt", "dd") and self._in_title:
            text = "".join(self._text).strip()
            self._in_title = False
            if tag == "title" and self._section:
                self.titles.append(text)
            elif tag == "dt":
                self._dt = text
            elif tag == "dd" and self._dt is not None:
                self.header[self._dt] = text

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self._text.append(data)
