"""The console's pages: each reads in a thread and renders a Jinja2 template."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import trio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from agent.dialogue.doubt import read_line
from agent.observe.console import queries
from agent.observe.console.latency import LatencyCache
from agent.observe.console.waveform import peaks
from agent.observe.records_schema import turn_latencies

PAGE = 50
RANGES = {"day": (86400.0, 3600.0), "week": (7 * 86400.0, 6 * 3600.0)}  # span, bucket
BAR_STAGES = ("stt_final", "llm_first_token", "tts_first_audio", "agent_added")


def _day(text: str, *, end: bool = False) -> float | None:
    """A YYYY-MM-DD filter as epoch seconds (local midnight; the day after for ``end``)."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return None
    return day.timestamp() + (86400.0 if end else 0.0)


def _int(text: str | None, default: int) -> int:
    try:
        return max(0, int(text or default))
    except ValueError:
        return default


class Pages:
    def __init__(self, console: Any) -> None:
        # The app's Console (settings, store, bookings, health, clock, templates); not
        # imported here, as the app imports this module.
        self.c = console

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    def _render(self, request: Request, name: str, code: int = 200, **context: Any) -> Response:
        return self.c.templates.TemplateResponse(
            request, name, {"page": name.removesuffix(".html"), **context}, status_code=code
        )

    # --- calls ------------------------------------------------------------------------

    async def calls(self, request: Request) -> Response:
        q = request.query_params
        selection = queries.CallFilter(
            since=_day(q.get("from", "")),
            until=_day(q.get("to", ""), end=True),
            company=q.get("company", ""),
            outcome=q.get("outcome", ""),
            text=q.get("q", "").strip(),
        )
        offset = _int(q.get("offset"), 0)

        def read():
            rows, total = queries.calls_page(self.c.store, selection, offset=offset, limit=PAGE)
            return rows, total, queries.choices(self.c.store)

        rows, total, (companies, outcomes) = await self._read(read)
        previous, following = queries.page_numbers(total, PAGE, offset)
        keep = {k: v for k, v in q.items() if k != "offset" and v}
        return self._render(
            request,
            "calls.html",
            rows=rows,
            total=total,
            offset=offset,
            previous=previous,
            following=following,
            filters=keep,
            companies=companies,
            outcomes=outcomes,
            mask=self._mask,
        )

    def _mask(self, number: str | None) -> str:
        return queries.mask_caller(number, self.c.settings.show_callers)

    async def call(self, request: Request) -> Response:
        uuid = request.path_params["uuid"]
        store = self.c.store

        def read():
            call = store.get_call(uuid)
            if call is None:
                return None
            return call, store.turns(uuid), store.tool_calls(uuid), self.c.bookings.for_call(uuid)

        found = await self._read(read)
        if found is None:
            return self._render(request, "missing.html", 404, what=f"call {uuid}")
        call, turns, tools, (outbox, bookings) = found
        timings = [turn_latencies(t) for t in turns]
        scale = max([sum(t.get(s, 0.0) for s in BAR_STAGES) for t in timings] + [0.5])
        tools_by_turn: dict[int | None, list] = {}
        for tool in tools:
            tools_by_turn.setdefault(tool.turn_index, []).append(tool)
        recording = await self._recording_path(uuid) is not None
        return self._render(
            request,
            "call.html",
            call=call,
            caller=self._mask(call.caller_id),
            turns=list(zip(turns, timings, strict=True)),
            scale=scale,
            bar_stages=BAR_STAGES,
            tools_by_turn=tools_by_turn,
            outbox=outbox,
            bookings=bookings,
            recording=recording,
        )

    async def recording(self, request: Request) -> Response:
        path = await self._recording_path(request.path_params["uuid"])
        if path is None:
            return PlainTextResponse("no recording of this call\n", status_code=404)
        return FileResponse(path, media_type="audio/wav")

    async def waveform(self, request: Request) -> Response:
        path = await self._recording_path(request.path_params["uuid"])
        if path is None:
            return JSONResponse({"error": "no recording of this call"}, status_code=404)
        return JSONResponse(await self._read(peaks, path))

    async def _recording_path(self, uuid: str) -> Path | None:
        call = await self._read(self.c.store.get_call, uuid)
        if call is None or not call.recording:
            return None
        path = Path(call.recording).resolve()
        # Only files in the recordings folder are served, whatever a record says.
        if not path.is_relative_to(Path(self.c.settings.recordings_dir).resolve()):
            return None
        return path if path.is_file() else None

    # --- live, bookings ---------------------------------------------------------------

    def _live(self) -> list[queries.LiveCall]:
        return queries.live_calls(
            self.c.store, now=self.c.clock(), max_call_s=self.c.settings.max_call_s
        )

    async def live(self, request: Request) -> Response:
        calls = await self._read(self._live)
        return self._render(request, "live.html", calls=calls, mask=self._mask, now=self.c.clock())

    async def live_json(self, request: Request) -> Response:
        calls = await self._read(self._live)
        now = self.c.clock()
        return JSONResponse(
            [
                {
                    "uuid": live.call.uuid,
                    "host": live.call.host or "",
                    "company": live.call.company or "",
                    "caller": self._mask(live.call.caller_id),
                    "seconds": round(now - (live.call.started_at or now)),
                    "turns": live.turns,
                    "caller_said": read_line(live.last.caller_text).text if live.last else "",
                    "agent_said": live.last.agent_text if live.last else "",
                }
                for live in calls
            ]
        )

    async def bookings(self, request: Request) -> Response:
        status = request.query_params.get("status", "")
        view = self.c.bookings

        def read():
            return view.outbox(status=status), view.bookings()

        outbox, bookings = await self._read(read)
        return self._render(
            request, "bookings.html", outbox=outbox, bookings=bookings, status=status
        )

    # --- latency, health --------------------------------------------------------------

    async def latency(self, request: Request) -> Response:
        span = request.query_params.get("range", "day")
        return self._render(request, "latency.html", range=span if span in RANGES else "day")

    async def latency_json(self, request: Request) -> Response:
        name = request.query_params.get("range", "day")
        return JSONResponse(await self._read(latency_series, self.c, name))

    async def health(self, request: Request) -> Response:
        report = await self.c.health() if self.c.health is not None else None
        return self._render(request, "health.html", report=report)


def latency_series(console: Any, name: str) -> dict:
    """The chart data of the range ``name`` (day or week) ending now; blocking."""
    span, bucket = RANGES.get(name, RANGES["day"])
    until = console.clock()
    since = until - span
    since -= since % 3600.0  # buckets on whole hours: a chart does not shift each refresh
    return console.latency.series(since=since, until=until, bucket_s=bucket, now=until)


def latency_cache(console: Any) -> LatencyCache:
    return LatencyCache(
        lambda since, until: queries.latency_rows(
            console.store, since, until, max_call_s=console.settings.max_call_s
        )
    )


def when(epoch: float | None) -> str:
    """Local time for people (the office's clock), to the second."""
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
