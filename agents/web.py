"""The status API (and page) on Faust's web server: routes, authentication, metrics.

Faust's web server (aiohttp) runs in every worker; this module mounts the status routes
on it and nothing else: Faust's own blueprints (``/router``, ``/table/…`` which would
dump the tickets table to anyone, the statistics pages) are dropped. Faust's
``@app.table_route`` is not used: it forwards requests without their body, hashes keys
with the producer's partitioner of the changelog, and has open reports of misrouting
with three or more workers (faust-streaming #514). ``StatusService`` routes by Faust's
assignment instead.

Every route but the login form needs a viewer (a token from the tokens file, as
``Authorization: Bearer`` or as the cookie ``POST /login`` sets); without a tokens file
(loopback only) everyone is staff. Tokens are never logged: the access log is off and
nothing here logs a header.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import socket
import time
from typing import Awaitable, Callable, Final, Mapping

import faust
import orjson
from aiohttp import web

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.status_service import Answer, RETRY_AFTER_SECONDS, StatusService
from ticket_slo.schemas.access_tokens import load_tokens
from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.status.access import AccessBook
from ticket_slo.streams.status.page import (CONTENT_SECURITY_POLICY, FILTER_FIELDS, render_login, render_notice,
                                           render_page)
from ticket_slo.streams.status.queries import MAX_LIMIT, QueryError, parse_open_query

__all__ = ["WebSettingsError", "StatusWeb", "access_book", "own_url", "cookie_value", "came_over_https", "COOKIE_NAME"]

log = logging.getLogger(__name__)

COOKIE_NAME: Final = "ticket_slo_token"
#: Routes a request without a viewer may reach (the page answers them with its login form).
_PUBLIC: Final = frozenset({"/login", "/logout"})
_JSON_HEADERS: Final = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_PAGE_HEADERS: Final = {
    **_JSON_HEADERS,
    # The page's script and style are inline; it talks only to this worker.
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class WebSettingsError(TicketSloError):
    """The status API's settings cannot be served safely; the message says which and why."""

    label = "bad setting"


def access_book(settings: Settings) -> AccessBook:
    """The viewers of the tokens file; refuses a non-loopback address without one."""
    if settings.web_tokens_file is not None:
        return AccessBook(load_tokens(settings.web_tokens_file))
    if not _is_loopback(settings.web_addr):
        raise WebSettingsError(
            f"TICKET_SLO_WEB_ADDR={settings.web_addr!r} is reachable from other machines, but there is no "
            "TICKET_SLO_WEB_TOKENS_FILE: set one (docs/operations.md, 'Status API') or bind to 127.0.0.1")
    return AccessBook(None)


def own_url(settings: Settings) -> str:
    """How the other workers reach this one (Faust's canonical URL)."""
    if settings.web_url:
        return settings.web_url
    host = settings.web_addr
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web_port}"


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class StatusWeb:
    """The routes, their middleware and the service behind them, for one worker."""

    def __init__(self, access: AccessBook, metrics: SloMetrics) -> None:
        self.access = access
        self.metrics = metrics
        self.service: StatusService | None = None  # set once the tracker exists

    # -- middleware ----------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = _route_of(request)
        try:
            viewer = self.access.viewer(_token_of(request))
            request["viewer"] = viewer
            if viewer is None and request.path not in _PUBLIC and route != "/":
                response: web.StreamResponse = _json(Answer(401, {"error": "a valid token is needed: "
                                                                  "Authorization: Bearer TOKEN"}),
                                                     {"WWW-Authenticate": 'Bearer realm="ticket-slo"'})
            else:
                response = await handler(request)
        except web.HTTPException as exc:
            response = _json(Answer(exc.status, {"error": exc.reason or "not found"}))
        except Exception:  # a bug: the caller gets a 500 without details, the log gets the trace
            log.exception("status API: %s %s failed", request.method, route)
            response = _json(Answer(500, {"error": "internal error (see the worker's log)"}))
        self.metrics.api_requests.labels(route, str(response.status)).inc()
        self.metrics.api_latency.labels(route).observe(time.perf_counter() - started)
        return response

    # -- routes --------------------------------------------------------------------------------

    def register(self, app: faust.App) -> None:
        status = self

        @app.page("/api/tickets/{ticket_id}")
        class TicketView(faust.web.View):  # type: ignore[misc]
            async def get(self, request: web.Request, ticket_id: str) -> web.StreamResponse:
                return await status.ticket(request, ticket_id)

        @app.page("/api/open")
        class OpenView(faust.web.View):  # type: ignore[misc]
            async def get(self, request: web.Request) -> web.StreamResponse:
                return await status.open_clocks(request)

        @app.page("/api/recent")
        class RecentView(faust.web.View):  # type: ignore[misc]
            async def get(self, request: web.Request) -> web.StreamResponse:
                return await status.recent(request)

        @app.page("/")
        class PageView(faust.web.View):  # type: ignore[misc]
            async def get(self, request: web.Request) -> web.StreamResponse:
                return await status.page(request)

        @app.page("/login")
        class LoginView(faust.web.View):  # type: ignore[misc]
            async def get(self, request: web.Request) -> web.StreamResponse:
                return _html(render_login(None))

            async def post(self, request: web.Request) -> web.StreamResponse:
                return await status.login(request)

        @app.page("/logout")
        class LogoutView(faust.web.View):  # type: ignore[misc]
            async def get(self, request: web.Request) -> web.StreamResponse:
                response = _see_other()
                response.del_cookie(COOKIE_NAME, path="/")
                return response

    async def ticket(self, request: web.Request, ticket_id: str) -> web.StreamResponse:
        service = self._service()
        if service is None:
            return _json(_starting())
        answer = await service.ticket(ticket_id, request["viewer"], gather=_gather(request),
                                      credentials=_credentials(request))
        return _json(answer)

    async def open_clocks(self, request: web.Request) -> web.StreamResponse:
        service = self._service()
        if service is None:
            return _json(_starting())
        try:
            query = parse_open_query(dict(request.query))
        except QueryError as exc:
            return _json(Answer(400, {"error": str(exc)}))
        answer = await service.open_clocks(query, request["viewer"], gather=_gather(request),
                                           credentials=_credentials(request))
        return _json(answer)

    async def recent(self, request: web.Request) -> web.StreamResponse:
        service = self._service()
        if service is None:
            return _json(_starting())
        raw = request.query.get("limit", "20")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            return _json(Answer(400, {"error": f"limit={raw!r} must be a whole number between 1 and {MAX_LIMIT}"}))
        return _json(await service.recent(int(raw), request["viewer"]))

    # -- the page ------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        """The status page from the same answers as the API's (the login form without a viewer)."""
        viewer = request["viewer"]
        if viewer is None:
            return _html(render_login(None), 401)
        service = self._service()
        if service is None:
            return _html(render_notice(_starting().body["error"], retry_seconds=RETRY_AFTER_SECONDS), 503)
        filters = {name: request.query[name] for name in FILTER_FIELDS if request.query.get(name)}
        try:
            query = parse_open_query(filters)
        except QueryError as exc:
            return _html(render_notice(str(exc)), 400)
        opened = await service.open_clocks(query, viewer, gather=True, credentials=_credentials(request))
        recent = await service.recent(20, viewer)
        for answer in (opened, recent):
            if answer.status != 200:
                return _html(render_notice(str(answer.body.get("error", "not available")),
                                           retry_seconds=RETRY_AFTER_SECONDS), answer.status)
        return _html(render_page(opened.body, recent.body, viewer=viewer.describe(), filters=filters))

    async def login(self, request: web.Request) -> web.StreamResponse:
        """``POST /login``: a valid token becomes the session cookie, then back to the page."""
        if self.access.open_access:
            return _see_other()  # no tokens file: everyone is staff, there is nothing to keep
        token = (await request.post()).get("token")
        if not isinstance(token, str) or not token or self.access.viewer(token) is None:
            return _html(render_login("That token is not valid."), 401)
        response = _see_other()
        response.set_cookie(COOKIE_NAME, cookie_value(token), httponly=True, samesite="Strict", path="/",
                            secure=came_over_https(request.secure, request.headers))
        return response

    def _service(self) -> StatusService | None:
        return self.service


def _html(page: str, status: int = 200) -> web.Response:
    """A page, whose policy lets only its own style and script run (by their hashes)."""
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8",
                        headers={**_PAGE_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY})


def _see_other() -> web.Response:
    return web.Response(status=303, headers={"Location": "/", **_JSON_HEADERS})


def _starting() -> Answer:
    return Answer(503, {"error": f"the worker is starting; retry in {RETRY_AFTER_SECONDS} s",
                        "retry_after": RETRY_AFTER_SECONDS})


def _json(answer: Answer, headers: dict[str, str] | None = None) -> web.Response:
    extra = dict(_JSON_HEADERS)
    if answer.status == 503:
        extra["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if headers:
        extra.update(headers)
    return web.Response(body=orjson.dumps(answer.body), status=answer.status, content_type="application/json",
                        headers=extra)


def _gather(request: web.Request) -> bool:
    """``scope=local``: a peer asks for this worker's own partitions only."""
    return request.query.get("scope") != "local"


def _route_of(request: web.Request) -> str:
    """The matched route's pattern (a bounded metrics label), or "(unmatched)"."""
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    canonical = getattr(resource, "canonical", None) if resource is not None else None
    return canonical if isinstance(canonical, str) else "(unmatched)"


def _token_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        try:
            return base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
    return None


def _credentials(request: web.Request) -> dict[str, str]:
    """The caller's credentials, as a header a peer accepts (a cookie becomes a bearer token)."""
    token = _token_of(request)
    return {"Authorization": f"Bearer {token}"} if token else {}


def came_over_https(secure: bool, headers: Mapping[str, str]) -> bool:
    """Whether the browser's connection was HTTPS: this worker's own (never, today), or the
    TLS proxy's in front of it, as it says in ``X-Forwarded-Proto`` or ``Forwarded`` (the first
    hop's). The session cookie is then ``Secure``: the browser never sends it over plain HTTP.
    A forged header gains nothing: it only makes the caller's own cookie stricter."""
    if secure:
        return True
    forwarded_proto = headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    if forwarded_proto:
        return forwarded_proto == "https"
    first_hop = headers.get("Forwarded", "").split(",")[0]
    for pair in first_hop.split(";"):
        name, _, value = pair.strip().partition("=")
        if name.lower() == "proto":
            return value.strip().strip('"').lower() == "https"
    return False


def cookie_value(token: str) -> str:
    return base64.urlsafe_b64encode(token.encode("utf-8")).decode().rstrip("=")

