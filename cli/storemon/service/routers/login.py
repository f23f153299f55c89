"""A browser's sign-in (docs/service.md), after datasette's `--root` link: `/login?token=…` (or
the form at `/login`) sets an HttpOnly, SameSite=Strict cookie that opens the GET pages, then
redirects to the page asked for (`next`). Every API call and every POST still needs the Bearer
header, so the cookie cannot be used to send anything (no CSRF)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storemon.service.edges import COOKIE_NAME, login_cookie, sign_in_form, unauthorized

router = APIRouter(include_in_schema=False)
DEFAULT_PAGE = "/reports"


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


def _sign_in(request: Request, token: str, next: str) -> Response:
    expected = request.app.state.service.settings.token
    if not expected or not secrets.compare_digest(token.encode(), expected.encode()):
        return unauthorized("text/html", next)
    # Only a page of this service: a path, never another site ("//host", "https:…").
    page = next if next.startswith("/") and not next.startswith(("//", "/\\")) else DEFAULT_PAGE
    answer = RedirectResponse(page, status_code=303)
    answer.set_cookie(COOKIE_NAME, login_cookie(expected), httponly=True, samesite="strict")
    return answer
