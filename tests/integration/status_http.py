"""Plain HTTP requests to a worker's status API (urllib: what any client would send)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable

__all__ = ["get", "wait_for", "TIME_FIELDS", "timeless"]

#: Fields of a ticket view or clock row that move with the time of the request.
TIME_FIELDS = ("remaining_seconds", "overdue_seconds", "elapsed_seconds")


def get(url: str, token: str | None = None, *, timeout: float = 10.0) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body or text) of a GET."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    text = raw.decode("utf-8")
    try:
        return status, headers, json.loads(text)
    except ValueError:
        return status, headers, text


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def timeless(view: dict[str, Any]) -> dict[str, Any]:
    """A ticket view without what depends on when it was asked."""
    copy = {key: value for key, value in view.items() if key != "as_of"}
    copy["objectives"] = [{key: value for key, value in clock.items() if key not in TIME_FIELDS}
                          for clock in view.get("objectives", ())]
    return copy
