"""The status API's small decisions that need no worker: whether the session cookie must be
``Secure``, and how the cookie carries a token."""

from __future__ import annotations

import base64

import pytest

from ticket_slo.agents.web import came_over_https, cookie_value


@pytest.mark.parametrize("secure, headers, expected", [
    (False, {}, False),
    (True, {}, True),
    (False, {"X-Forwarded-Proto": "https"}, True),
    (False, {"X-Forwarded-Proto": "HTTPS"}, True),
    (False, {"X-Forwarded-Proto": "http"}, False),
    (False, {"X-Forwarded-Proto": "https, http"}, True),  # the first hop is the browser's
    (False, {"X-Forwarded-Proto": "http, https"}, False),
    (False, {"Forwarded": "for=192.0.2.60;proto=https;by=203.0.113.43"}, True),
    (False, {"Forwarded": 'proto="https"'}, True),
    (False, {"Forwarded": "proto=http, proto=https"}, False),
    (False, {"Forwarded": "for=192.0.2.60"}, False),
    (False, {"X-Forwarded-Proto": "http", "Forwarded": "proto=https"}, False),  # the common header decides
    (False, {"X-Forwarded-Proto": "httpsx"}, False),
])
def test_the_cookie_is_secure_when_the_browser_came_over_https(secure: bool, headers: dict[str, str],
                                                               expected: bool) -> None:
    assert came_over_https(secure, headers) is expected


@pytest.mark.parametrize("token", ["staff-secret", "a/b+c=d", "ünïcode-tøken", "x"])
def test_a_cookie_value_is_the_token_in_unpadded_base64url(token: str) -> None:
    value = cookie_value(token)
    assert "=" not in value and ";" not in value and " " not in value
    assert base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8") == token
