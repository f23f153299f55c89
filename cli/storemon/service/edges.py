"""The edges of the service (docs/service.md, Bad requests), in one ASGI middleware that runs
before any route reads a body: the token (or, for the GET pages, the login cookie), the
body's declared type and encoding, its size counted as it arrives, and a request id for any
unexpected error. Every other refusal is raised as an exception of errors.py, which has its
one handler."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import secrets
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import ClientDisconnect, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storemon.project import eprint

OPEN_PATHS = {"/health", "/login", "/logout"}
# What the login cookie opens: GET pages that a browser shows (docs/service.md, Signing in).
# The API of the seeds (/get_report, every POST) still needs the Bearer header.
COOKIE_PATHS = {"/reports", "/fleet", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
# Report and store pages, CSVs; the API docs' scripts and styles (routers/api_docs.py).
COOKIE_PREFIXES = ("/reports/", "/docs/assets/")
COOKIE_NAME = "storemon_login"
COOKIE_MAX_AGE = 7 * 24 * 3600  # seconds a sign-in lasts (docs/service.md, Signing in)
BODY_MIN_RATE = 1024  # bytes a second a body must average, after its first body_timeout
# Headers of every answer; the policy only on the service's own pages (/docs and /redoc load
# Swagger UI and ReDoc with inline scripts from a CDN).
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
PAGE_POLICY = (
    b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self';"
    b" frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PAGES = {"/docs", "/redoc", "/docs/oauth2-redirect"}


class BodyTooLarge(HTTPException):
    """Raised while a body streams in, from inside the route's read of it: FastAPI passes an
    HTTPException on (any other exception there becomes its own 400), so this one refusal is
    an HTTP type, at the edge where it belongs."""

    def __init__(self, limit_mb: int) -> None:
        super().__init__(413, detail=f"body over the limit of {limit_mb} MB")


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            detail=f"body too slow: a pause over {seconds:g} s, or under"
            f" {BODY_MIN_RATE} bytes a second after the first {seconds:g} s",
        )


def login_cookie(token: str, issued: int | None = None) -> str:
    """The cookie's value: its time of issue and an HMAC of it keyed by the token, so that it is
    no Bearer token itself and the server, not only the browser, ends it after COOKIE_MAX_AGE."""
    issued = int(time.time()) if issued is None else issued
    mac = hmac.new(token.encode(), f"storemon login {issued}".encode(), hashlib.sha256)
    return f"{issued}.{mac.hexdigest()}"


def cookie_is_valid(token: str, value: str, now: float | None = None) -> bool:
    issued, _, _ = value.partition(".")
    if not issued.isdigit() or len(issued) > 12:
        return False
    age = (time.time() if now is None else now) - int(issued)
    if not -60 <= age <= COOKIE_MAX_AGE:
        return False
    return secrets.compare_digest(value.encode(), login_cookie(token, int(issued)).encode())


def token_bytes(header_value: str) -> bytes:
    """A header's bytes as received (ASGI servers hand them over; the dict of `RequestGate`
    holds them decoded as latin-1). A token is compared as its UTF-8 bytes, so a non-ASCII
    token works in the header, sent as UTF-8 (curl does), as it does in the sign-in form."""
    return header_value.encode("latin-1")


def sign_in_form(next_page: str) -> str:
    """The sign-in form, back to `next_page` once signed in."""
    return (
        "<form method='post' action='/login'>"
        f"<input type='hidden' name='next' value='{html.escape(next_page, quote=True)}'>"
        "<input type='password' name='token' aria-label='token'> <button>Sign in</button></form>"
    )


def unauthorized(accept: str, next_page: str = "/reports") -> Response:
    """401: JSON for a client, a page that says how to sign in for a browser."""
    headers = {"WWW-Authenticate": "Bearer"}
    if "text/html" in accept:
        page = (
            "<!doctype html><meta charset='utf-8'><title>storemon: sign in</title>"
            "<h1>Sign in</h1><p>This storemon service needs its token. Open "
            "<code>/login?token=YOUR_TOKEN</code> once (the token given to "
            "<code>storemon serve --token</code>), or sign in here:</p>" + sign_in_form(next_page)
        )
        return HTMLResponse(page, status_code=401, headers=headers)
    return JSONResponse({"detail": "missing or wrong bearer token"}, 401, headers=headers)


class RequestGate:
    """Pure ASGI middleware that lets a request reach the routes only past its checks: nothing
    of a refused request's body is ever read."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        max_bytes: int,
        max_mb: int,
        body_types: Callable[[], dict[str, set[str]]],
        body_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.max_bytes = max_bytes
        self.max_mb = max_mb
        self.body_types = body_types
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        head = scope["method"] == "HEAD"
        if head:  # answered as GET is, without the body (monitors ask with HEAD)
            scope = {**scope, "method": "GET"}
        send = _secured(send, scope["path"], head)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        received = 0
        body_done = False
        body_started = time.monotonic()

        async def counted() -> Message:
            nonlocal received, body_done
            if body_done or self.body_timeout is None:
                message = await receive()
            else:
                # Each wait at most body_timeout, and the whole body no slower than
                # BODY_MIN_RATE once past the first body_timeout (a byte a second is cut off).
                deadline = body_started + self.body_timeout + received / BODY_MIN_RATE
                wait = min(self.body_timeout, deadline - time.monotonic())
                try:
                    message = await asyncio.wait_for(receive(), max(wait, 0.001))
                except TimeoutError:
                    raise BodyTimeout(self.body_timeout) from None
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_mb)
            return message

        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except ClientDisconnect:
            return  # the client left: nobody to answer, nothing stored
        except Exception:
            request_id = uuid.uuid4().hex
            eprint(f"request {request_id} ({scope['method']} {scope['path']}) failed:")
            eprint(traceback.format_exc().rstrip())
            if started:
                raise
            answer = {"detail": "unexpected error (a bug)", "request_id": request_id}
            await JSONResponse(answer, 500, headers={"X-Request-Id": request_id})(
                scope, receive, send
            )

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        """The answer to a request refused on its headers alone, in the order docs/service.md gives:
        the token, then the body's type and encoding, then its declared size."""
        path, method = scope["path"], scope["method"]
        if self.token and path not in OPEN_PATHS and not self._signed_in(path, method, headers):
            return unauthorized(headers.get("accept", ""), path)
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            return JSONResponse({"detail": f"unsupported Content-Encoding {encoding}"}, 415)
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        accepted = self.body_types().get(path)
        if method == "POST" and media and accepted is not None and media not in accepted:
            allowed = " or ".join(sorted(accepted))
            detail = f"unsupported Content-Type {media}: send {allowed}"
            return JSONResponse({"detail": detail}, 415)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            return JSONResponse({"detail": BodyTooLarge(self.max_mb).detail}, 413)
        return None

    def _signed_in(self, path: str, method: str, headers: dict[str, str]) -> bool:
        assert self.token is not None
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(
            token_bytes(given), self.token.encode()
        ):
            return True
        if method not in ("GET", "HEAD") or not (
            path in COOKIE_PATHS or path.startswith(COOKIE_PREFIXES)
        ):
            return False
        cookies = cookie_parser(headers.get("cookie", ""))
        return cookie_is_valid(self.token, cookies.get(COOKIE_NAME, ""))


def _secured(send: Send, path: str, head: bool) -> Send:
    """`send` that adds the security headers to the answer (the page policy to HTML ones) and,
    for a HEAD request, drops the body (its length stays that of the GET answer)."""

    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {name.lower() for name, _ in headers}
            headers += [(name, value) for name, value in SECURITY_HEADERS if name not in names]
            html_answer = any(
                name.lower() == b"content-type" and value.startswith(b"text/html")
                for name, value in headers
            )
            if html_answer and path not in DOCS_PAGES:
                headers.append((b"content-security-policy", PAGE_POLICY))
            message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and head:
            message = {**message, "body": b""}
        await send(message)

    return secured


def body_types_of(openapi: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, set[str]]]:
    """Each POST path's accepted body media types, read once from the app's own OpenAPI schema
    (so the check and the documentation cannot disagree)."""
    found: dict[str, set[str]] = {}

    def body_types() -> dict[str, set[str]]:
        if not found:
            for path, operations in openapi()["paths"].items():
                if "post" in operations:
                    body = operations["post"].get("requestBody")
                    found[path] = set(body["content"]) if body else set()
        return found

    return body_types
