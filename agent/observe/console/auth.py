"""Who may read the console: a Bearer token, or the cookie the login form sets.

Without a configured token the console is open (it then listens on loopback only,
see ``ConsoleSettings.check``). The cookie holds an HMAC of the token, not the
token itself, so a cookie copied from a browser does not reveal the token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

COOKIE = "voice_agent_console"
OPEN_PATHS = ("/login", "/static/")  # the login form and its style need no token

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"voice-agent console session", hashlib.sha256).hexdigest()


def allowed(token: str, headers: dict[str, str]) -> bool:
    """Does the request carry the token (header) or the session cookie?"""
    if not token:
        return True
    given = headers.get("authorization", "")
    if given.lower().startswith("bearer ") and hmac.compare_digest(
        given[7:].strip().encode(), token.encode()
    ):
        return True
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and hmac.compare_digest(value.encode(), session_value(token).encode()):
            return True
    return False


def token_from_form(body: bytes) -> str:
    values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return (values.get("token") or [""])[0]


class RequireToken:
    """ASGI middleware: a request without the token gets 401 (with the login form for
    a browser, a plain line otherwise)."""

    def __init__(self, app: App, token: str, login_page: Callable[[], bytes]) -> None:
        self.app, self.token, self.login_page = app, token, login_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if allowed(self.token, headers):
            await self.app(scope, receive, send)
            return
        browser = "text/html" in headers.get("accept", "")
        body = self.login_page() if browser else b"401: the console needs its token\n"
        kind = b"text/html; charset=utf-8" if browser else b"text/plain; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", kind),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="voice-agent console"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
