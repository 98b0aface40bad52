"""The operator's console: a read-only web app over the records, served by Hypercorn.

Starlette routes, Jinja2 pages rendered on the server, and two small scripts served
from ``static/`` (uPlot for the charts, ``console.js`` for polling and the waveform):
no build step and nothing fetched from elsewhere at run time. Hypercorn's Trio worker
runs it inside the service's nursery, beside the calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from agent.dialogue.doubt import read_line
from agent.observe.business_view import BookingsView
from agent.observe.console import auth
from agent.observe.console.pages import Pages, latency_cache, latency_series, when
from agent.observe.console.settings import ConsoleSettings
from agent.observe.records import RecordStore, RecordStoreError

log = logging.getLogger(__name__)

HERE = Path(__file__).parent


@attrs.frozen
class HealthItem:
    status: str  # OK, WARN, FAIL
    section: str
    name: str
    detail: str


@attrs.frozen
class HealthReport:
    items: tuple[HealthItem, ...]
    providers: tuple[tuple[str, str], ...]  # (role, the chain in use: "cartesia -> espeak")


Health = Callable[[], Awaitable[HealthReport]]


class Console:
    """What the pages read: the records, the bookings database, health, the clock."""

    def __init__(
        self,
        settings: ConsoleSettings,
        store: RecordStore,
        *,
        health: Health | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bookings = BookingsView(settings.db_path)
        self.health = health
        self.clock = clock  # wall clock: the records hold epoch times
        self.latency = latency_cache(self)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.globals["when"] = when
        env.globals["token_required"] = bool(settings.token)
        env.filters["heard"] = read_line  # a caller line without the recogniser's markers
        env.filters["ms"] = lambda seconds: "" if seconds is None else f"{seconds * 1000:.0f}"

    async def warm_up(self) -> None:
        """Read the week's closed hours for the latency charts once, at start, so the
        first visit to the page does not wait for them."""
        try:
            await trio.to_thread.run_sync(latency_series, self, "week")
        except Exception as exc:  # the page reads them itself then
            log.warning("console: latency warm-up failed: %s", exc)

    def login_page(self, error: str = "") -> bytes:
        template = self.templates.get_template("login.html")
        return template.render(page="login", error=error).encode()

    async def login_form(self, request: Request) -> Response:
        return Response(self.login_page(), media_type="text/html")

    async def login(self, request: Request) -> Response:
        given = auth.token_from_form(await request.body())
        token = self.settings.token
        if token and given and auth.allowed(token, {"authorization": f"Bearer {given}"}):
            reply = RedirectResponse("/calls", status_code=303)
            reply.set_cookie(
                auth.COOKIE, auth.session_value(token), httponly=True, samesite="strict"
            )
            return reply
        page = self.login_page("That is not the console's token.")
        return Response(page, status_code=401, media_type="text/html")

    async def store_failed(self, request: Request, exc: Exception) -> Response:
        """The records store is away (a PostgreSQL restart...): one line, not a trace."""
        log.warning("console: %s: %s", request.url.path, exc)
        return PlainTextResponse(f"503: the records cannot be read now ({exc})\n", 503)

    async def logout(self, request: Request) -> Response:
        reply = RedirectResponse("/login", status_code=303)
        reply.delete_cookie(auth.COOKIE)
        return reply

    def app(self) -> Any:
        pages = Pages(self)

        async def home(request: Request) -> Response:
            return RedirectResponse("/calls", status_code=302)

        routes = [
            Route("/", home),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout),
            Route("/calls", pages.calls),
            Route("/calls/{uuid}", pages.call),
            Route("/calls/{uuid}/recording.wav", pages.recording),
            Route("/calls/{uuid}/waveform.json", pages.waveform),
            Route("/live", pages.live),
            Route("/live.json", pages.live_json),
            Route("/bookings", pages.bookings),
            Route("/latency", pages.latency),
            Route("/latency.json", pages.latency_json),
            Route("/health", pages.health),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ]
        app = Starlette(routes=routes, exception_handlers={RecordStoreError: self.store_failed})
        return auth.RequireToken(app, self.settings.token, self.login_page)


async def serve_console(
    console: Console,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the console on its address until cancelled; ``task_status`` gets the
    bound addresses (``http://127.0.0.1:PORT``)."""
    from hypercorn.config import Config
    from hypercorn.trio.run import worker_serve
    from hypercorn.utils import wrap_app

    settings = console.settings
    settings.check()
    config = Config()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("agent.observe.console.hypercorn")
    config.graceful_timeout = 1.0
    # Bound here, outside any nursery, so a port in use is a plain OSError the caller
    # can name; Hypercorn reports the binds through task_status.
    sockets = config.create_sockets()
    for sock in sockets.insecure_sockets:
        sock.listen(config.backlog)
    app = wrap_app(console.app(), config.wsgi_max_body_size, None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.warm_up)
        await worker_serve(app, config, sockets=sockets, task_status=task_status)
