"""A fake company booking API (and notify webhook) on loopback, for tests and demos.

Real HTTP/1.1 (h11 on a Trio listener) implementing the booking contract:
``GET /availability``, ``POST /bookings`` (idempotent by ``Idempotency-Key``:
a repeated key answers 200 with the same booking), ``PATCH /bookings/{id}`` (an
amendment: only the fields that change; 404 for an unknown booking, 409 for a new slot
another booking holds), ``POST /notify`` and the
company context API ``GET /companies/{did}`` (profiles given as ``companies``).

Every request is checked: the ``Authorization: Bearer`` key, the
``Idempotency-Key`` of a booking, the shape of bodies and queries. A deviation
is recorded in ``violations`` and answered 400/401/404, so a test fails loudly
(``assert_clean()``).

``latency_s`` delays every answer (a real API takes a while).
Faults: ``fail(Fault.X, times=n, path=...)`` makes the next ``n`` requests to a
path strike (500, stall, lost reply after the booking was made, 409, 422), then
the server recovers. ``down()`` closes the listener and every open connection
(connections are refused), ``up()`` listens again on the same port,
``down_for(seconds)`` recovers by itself (a ``trio.sleep``, so a MockClock
drives it).

    async with open_fake_booking(slots=[...]) as api:
        profile = attrs.evolve(profile, booking_api=BookingApi(api.base_url, "KEY_ENV"))
        ...
        assert len(api.bookings) == 1
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import h11
import trio

from agent.business.amendments import amended_body
from agent.business.company import CompanyProfile, parse_company
from agent.demo.booking_checks import check_request, epoch


class Fault(enum.Enum):
    SERVER_ERROR = "server_error"  # 500
    STALL = "stall"  # never answer (until the client goes away)
    LOST_REPLY = "lost_reply"  # make the booking, then never answer
    SLOT_TAKEN = "slot_taken"  # 409
    INVALID = "invalid"  # 422 {"error": ..., "field": "postcode"}


@attrs.define
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@attrs.define
class _Strike:
    fault: Fault
    times: int
    path: str | None


class FakeBookingApi:
    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        slots: Sequence[dict[str, str]] = (),
        notify_key: str | None = None,
        companies: dict[str, Any] | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.api_key, self.notify_key = api_key, notify_key
        self.latency_s = latency_s  # every answer waits this long (a real API is not instant)
        # The company context API: E.164 DID -> profile JSON (GET /companies/{did}).
        self.companies: dict[str, Any] = dict(companies or {})
        self.slots = [dict(s) for s in slots]
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.bookings: dict[str, dict[str, Any]] = {}  # idempotency key -> booking
        self.booking_posts: dict[str, int] = {}  # idempotency key -> POSTs (faulted ones too)
        self.notifications: list[tuple[str, dict[str, Any]]] = []  # (key, body), deduplicated
        self.notify_posts = 0
        self.amendments: list[tuple[str, dict[str, Any]]] = []  # (key, PATCH body)
        self.refusing = False
        self._strikes: list[_Strike] = []
        self._nursery: trio.Nursery | None = None
        self._serving: trio.CancelScope | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def notify_url(self) -> str:
        return f"{self.base_url}/notify"

    def assert_clean(self) -> None:
        if self.violations:
            raise AssertionError(
                "fake booking API saw bad requests:\n" + "\n".join(self.violations)
            )

    def fail(self, fault: Fault, *, times: int = 1, path: str | None = "/bookings") -> None:
        """The next ``times`` requests to ``path`` (any path if ``None``) get ``fault``."""
        self._strikes.append(_Strike(fault, times, path))

    # --- listening --------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(trio.sleep_forever)  # keeps the nursery open while down
            await self.up()
            task_status.started()

    async def up(self) -> None:
        """Listen (again, on the same port once it has one)."""
        assert self._nursery is not None, "serve() is not running"
        if self._serving is not None:
            return
        listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        self._serving = trio.CancelScope()
        self.refusing = False
        self._nursery.start_soon(self._accept, listeners[0], self._serving)

    def down(self) -> None:
        """Stop listening and drop every open connection: clients are refused."""
        if self._serving is not None:
            self._serving.cancel()
            self._serving = None
        self.refusing = True

    def down_for(self, seconds: float) -> None:
        assert self._nursery is not None, "serve() is not running"
        self.down()

        async def later() -> None:
            await trio.sleep(seconds)
            await self.up()

        self._nursery.start_soon(later)

    async def _accept(self, listener: trio.SocketListener, scope: trio.CancelScope) -> None:
        with scope:
            async with listener, trio.open_nursery() as connections:
                while True:
                    stream = await listener.accept()
                    connections.start_soon(self._connection, stream)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await _read_request(conn, stream)
                if request is None:
                    return
                await self._respond(conn, stream, request)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await trio.aclose_forcefully(stream)

    # --- answering --------------------------------------------------------------

    def _strike(self, path: str) -> Fault | None:
        for strike in self._strikes:
            if strike.times > 0 and strike.path in (None, path):
                strike.times -= 1
                return strike.fault
        return None

    async def _respond(self, conn: h11.Connection, stream: trio.SocketStream, req) -> None:
        self.requests.append(req)
        if self.latency_s:
            await trio.sleep(self.latency_s)
        route = {
            ("GET", "/availability"): self._availability,
            ("POST", "/bookings"): self._book,
            ("POST", "/notify"): self._notify,
        }.get((req.method, req.path))
        if req.method == "GET" and req.path.startswith("/companies/"):
            route = self._company
        if req.method == "PATCH" and req.path.startswith("/bookings/"):
            route = self._amend
        if route is None:
            self.violations.append(f"unknown endpoint {req.method} {req.path}")
            return await _send(conn, stream, 404, {"error": "not_found"})
        key = self.notify_key if req.path == "/notify" else self.api_key
        if key is not None and req.headers.get("authorization") != f"Bearer {key}":
            self.violations.append(
                f"{req.method} {req.path}: bad Authorization {req.headers.get('authorization')!r}"
            )
            return await _send(conn, stream, 401, {"error": "unauthorized"})
        problem = check_request(req)
        if problem:
            self.violations.append(f"{req.method} {req.path}: {problem}")
            return await _send(conn, stream, 400, {"error": problem})
        fault_path = "/bookings" if req.path.startswith("/bookings/") else req.path
        if req.path == "/bookings":  # every well-formed POST, faulted or not
            key = req.headers["idempotency-key"]
            self.booking_posts[key] = self.booking_posts.get(key, 0) + 1
        elif req.path == "/notify":
            self.notify_posts += 1
        fault = self._strike(fault_path)  # an amendment fails with its bookings
        if fault is Fault.STALL:
            return await _until_client_leaves(stream)
        if fault is Fault.SERVER_ERROR:
            return await _send(conn, stream, 500, {"error": "internal"})
        if fault is Fault.SLOT_TAKEN:
            return await _send(conn, stream, 409, {"error": "slot_taken"})
        if fault is Fault.INVALID:
            return await _send(
                conn, stream, 422, {"error": "invalid postcode", "field": "postcode"}
            )
        status, body = route(req)
        if fault is Fault.LOST_REPLY:
            return await _until_client_leaves(stream)
        await _send(conn, stream, status, body)

    def _company(self, req: RecordedRequest) -> tuple[int, Any]:
        did = req.path.removeprefix("/companies/")
        profile = self.companies.get(did)
        return (200, profile) if profile is not None else (404, {"error": "no such company"})

    def _availability(self, req: RecordedRequest) -> tuple[int, Any]:
        lo, hi = epoch(req.query["from"]), epoch(req.query["to"])
        taken = {b["body"]["slot"]["start"] for b in self.bookings.values()}
        free = [s for s in self.slots if lo <= epoch(s["start"]) <= hi and s["start"] not in taken]
        free.sort(key=lambda s: epoch(s["start"]))
        return 200, {"slots": free[:20]}

    def _book(self, req: RecordedRequest) -> tuple[int, Any]:
        key = req.headers["idempotency-key"]
        if key in self.bookings:
            return 200, {"booking_id": self.bookings[key]["booking_id"], "status": "confirmed"}
        start = epoch(req.body["slot"]["start"])
        if any(epoch(b["body"]["slot"]["start"]) == start for b in self.bookings.values()):
            return 409, {"error": "slot_taken"}
        booking_id = "FK-" + uuid.uuid4().hex[:8].upper()
        self.bookings[key] = {"booking_id": booking_id, "body": req.body}
        return 201, {"booking_id": booking_id, "status": "confirmed"}

    def _amend(self, req: RecordedRequest) -> tuple[int, Any]:
        booking_id = req.path.removeprefix("/bookings/")
        booking = next((b for b in self.bookings.values() if b["booking_id"] == booking_id), None)
        if booking is None:
            return 404, {"error": "unknown booking"}
        slot = req.body.get("slot")
        if slot is not None:
            start = epoch(slot["start"])
            others = (b for b in self.bookings.values() if b is not booking)
            if any(epoch(b["body"]["slot"]["start"]) == start for b in others):
                return 409, {"error": "slot_taken"}
        booking["body"] = amended_body(booking["body"], req.body)
        self.amendments.append((req.headers["idempotency-key"], req.body))
        return 200, {"booking_id": booking_id, "status": "confirmed", **booking["body"]}

    def _notify(self, req: RecordedRequest) -> tuple[int, Any]:
        key = req.headers.get("idempotency-key", "")
        if not key or all(k != key for k, _ in self.notifications):
            self.notifications.append((key, req.body))
        return 204, None


# --- checks and wire helpers -----------------------------------------------------------


async def _read_request(conn: h11.Connection, stream: trio.SocketStream):
    head, body = None, bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            headers = {k.decode().lower(): v.decode() for k, v in head.headers}
            url = urlsplit(head.target.decode())
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = bytes(body)
            return RecordedRequest(head.method.decode(), url.path, query, headers, parsed)
        elif isinstance(event, h11.ConnectionClosed):
            return None


async def _send(conn: h11.Connection, stream: trio.SocketStream, status: int, body: Any) -> None:
    data = b"" if body is None else json.dumps(body).encode()
    headers = []
    if body is not None:  # a 204 has no body and no Content-Length
        headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
    await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)))
    if data:
        await stream.send_all(conn.send(h11.Data(data=data)))
    await stream.send_all(conn.send(h11.EndOfMessage()))


async def _until_client_leaves(stream: trio.SocketStream) -> None:
    while await stream.receive_some(65536):
        pass
    raise trio.ClosedResourceError("client went away")  # ends this connection


def fake_company(**changes: Any) -> CompanyProfile:
    """A small plumbing company (Europe/London, Mon-Fri 08-18, Sat 09-13) for tests;
    ``changes`` replace top-level fields of its JSON (``booking_api``, ``notify``...)."""
    data: dict[str, Any] = {
        "id": "acme",
        "name": "Acme Plumbing",
        "timezone": "Europe/London",
        "hours": {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
        | {"sat": ["09:00-13:00"], "sun": []},
        "services": [
            {
                "id": "leak_repair",
                "name": "Leak repair",
                "description": "Fix leaking pipes and taps.",
                "price": {"call_out": 85, "hourly": 65},
            },
            {
                "id": "drain_unblock",
                "name": "Drain unblocking",
                "description": "Unblock sinks and drains.",
                "price": {"fixed": 120},
            },
        ],
        "service_area": ["SW1", "SE1"],
        "transfer_targets": [
            {"name": "office", "dial": "PJSIP/1001"},
            {"name": "on-call engineer", "dial": "PJSIP/1099"},
        ],
        **changes,
    }
    return parse_company(data)


@asynccontextmanager
async def open_fake_booking(**options: Any) -> AsyncIterator[FakeBookingApi]:
    """Run a ``FakeBookingApi`` on a free loopback port for the ``async with`` body."""
    server = FakeBookingApi(**options)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        yield server
        nursery.cancel_scope.cancel()
