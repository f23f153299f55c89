"""A browser's sign-in (docs/service.md, Signing in), after datasette's `--root` link:
`/login?token=…` (or the form at `/login`) sets an HttpOnly, SameSite=Strict cookie that opens
the GET pages, then redirects to the page asked for (`next`); `/logout` clears it. Every API
call and every POST still needs the Bearer header, so the cookie cannot be used to send
anything (no CSRF).

The cookie is `Secure` when the request came over HTTPS, directly or through a proxy the
server trusts (`--forwarded-allow-ips`: uvicorn then takes the scheme from X-Forwarded-Proto),
and lasts COOKIE_MAX_AGE. Wrong tokens are limited per client address (LoginGuard)."""

from __future__ import annotations

import math
import secrets
import time
from collections import OrderedDict, deque
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storemon.service.edges import (
    COOKIE_MAX_AGE,
    COOKIE_NAME,
    login_cookie,
    sign_in_form,
    unauthorized,
)
from storemon.service.errors import TooManyWrongTokens

router = APIRouter(include_in_schema=False)
DEFAULT_PAGE = "/reports"


class LoginGuard:
    """At most `attempts` wrong tokens per client address in any `window` seconds; past that
    the address answers 429 with Retry-After until its oldest wrong guess leaves the window.
    Remembers at most `addresses` addresses (the least recently wrong are forgotten first)."""

    def __init__(self, attempts: int = 10, window: float = 60, addresses: int = 10_000) -> None:
        self.attempts = attempts
        self.window = window
        self.addresses = addresses
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str, now: float | None = None) -> int:
        """Seconds to wait before the next try; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        failures = self.failures.get(address)
        if failures is None:
            return 0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self.failures[address]
            return 0
        if len(failures) < self.attempts:
            return 0
        return max(1, math.ceil(failures[0] + self.window - now))

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        failures = self.failures.setdefault(address, deque())
        failures.append(now)
        self.failures.move_to_end(address)
        while len(self.failures) > self.addresses:
            self.failures.popitem(last=False)


@router.get("/login")
def login_link(request: Request, token: str | None = None, next: str = DEFAULT_PAGE) -> Response:
    """The sign-in link; without a token, the sign-in form."""
    if token is None:
        return HTMLResponse(
            "<!doctype html><meta charset='utf-8'><title>storemon: sign in</title>"
            "<h1>Sign in</h1>" + sign_in_form(next)
        )
    return _sign_in(request, token, next)


@router.post("/login")
def login_form(
    request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = DEFAULT_PAGE
) -> Response:
    return _sign_in(request, token, next)


@router.get("/logout")
@router.post("/logout")
def logout(request: Request) -> Response:
    """Clear the sign-in cookie and show the sign-in form."""
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(
        COOKIE_NAME, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return answer


def _sign_in(request: Request, token: str, next: str) -> Response:
    guard: LoginGuard = request.app.state.login_guard
    address = request.client.host if request.client else "unknown"
    wait = guard.retry_after(address)
    if wait:
        raise TooManyWrongTokens(address, wait)
    expected = request.app.state.service.settings.token
    if not expected or not secrets.compare_digest(token.encode(), expected.encode()):
        guard.failed(address)
        return unauthorized("text/html", next)
    # Only a page of this service: a path, never another site ("//host", "https:…").
    page = next if next.startswith("/") and not next.startswith(("//", "/\\")) else DEFAULT_PAGE
    answer = RedirectResponse(page, status_code=303)
    answer.set_cookie(
        COOKIE_NAME,
        login_cookie(expected),
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer
