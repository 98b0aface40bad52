"""The company's booking API and notify webhook, over httpx (the contract's client side).

``BookingClient`` speaks ``GET /availability`` and ``POST /bookings``;
``Notifier`` posts webhook events. Both translate httpx's exceptions exactly
once into the agent's tree: connect failures, timeouts and 5xx are
``ProviderError``s with ``retryable=True``; other unexpected statuses are not
retryable. The answers a conversation acts on are results, not exceptions:
409 ``slot_taken`` and 422 validation errors come back as a ``BookingOutcome``
(or ``Availability`` with ``error``), so the model can offer another slot or
ask the caller again.

Timeouts are short because a caller is waiting: connect 1 s and the whole
request 3 s (httpx's own timeouts are per operation, so a Trio deadline bounds
the total).

``BookingBackend`` is the shape shared with the local SQLite store
(``agent.business.bookingstore``): availability takes the contract's query parameters,
book takes the contract's JSON body and the idempotency key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import attrs
import httpx
import trio

from agent.base.errors import (
    ConfigError,
    ProviderConnectError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeout,
)
from agent.base.settings import Env
from agent.base.tls import client_context
from agent.business.company import BookingApi

CONNECT_TIMEOUT_S = 1.0
REQUEST_TIMEOUT_S = 3.0
_MAX_ERROR_TEXT = 200


@attrs.frozen
class Availability:
    """Free slots (``{"start": iso, "end": iso}`` dicts, earliest first), or a 422's
    ``error``/``field`` when the API rejected the question."""

    slots: tuple[dict[str, str], ...] = ()
    error: str = ""
    field: str | None = None


@attrs.frozen
class BookingOutcome:
    """A final answer to ``POST /bookings``. ``replayed``: the key was seen before (200)."""

    status: Literal["confirmed", "slot_taken", "invalid"]
    booking_id: str | None = None
    replayed: bool = False
    error: str = ""
    field: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"


class BookingBackend(Protocol):
    """The booking contract for one company: remote (``BookingClient``) or local."""

    name: str

    async def availability(self, query: Mapping[str, str]) -> Availability: ...

    async def book(self, body: Mapping[str, Any], idempotency_key: str) -> BookingOutcome: ...

    async def amend(
        self, booking_id: str, changes: Mapping[str, Any], idempotency_key: str
    ) -> BookingOutcome: ...


def _timeouts(connect: float, total: float) -> httpx.Timeout:
    return httpx.Timeout(total, connect=connect, pool=connect)


class _JsonHttp:
    """One request/response exchange with translation of every failure."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient | None,
        *,
        api_key: str | None,
        connect_timeout: float,
        timeout: float,
    ) -> None:
        self.name = name
        self._client = client
        self._api_key = api_key
        self._timeout = timeout
        self._httpx_timeout = _timeouts(connect_timeout, timeout)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Status and parsed JSON body (``None`` if empty or not JSON)."""
        all_headers = {"accept": "application/json", **(headers or {})}
        if self._api_key:
            all_headers["authorization"] = f"Bearer {self._api_key}"
        response: httpx.Response | None = None
        with trio.move_on_after(self._timeout) as deadline:
            try:
                if self._client is not None:
                    response = await self._send(
                        self._client, method, url, params, body, all_headers
                    )
                else:
                    async with httpx.AsyncClient(
                        timeout=self._httpx_timeout, verify=client_context()
                    ) as client:
                        response = await self._send(client, method, url, params, body, all_headers)
            except httpx.HTTPError as exc:
                raise self._translate(exc, method, url) from exc
        if deadline.cancelled_caught or response is None:
            raise ProviderTimeout(self.name, f"{method} {url}: no answer within {self._timeout} s")
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        return response.status_code, data

    async def _send(self, client, method, url, params, body, headers) -> httpx.Response:
        return await client.request(
            method, url, params=params, json=body, headers=headers, timeout=self._httpx_timeout
        )

    def _translate(self, exc: httpx.HTTPError, method: str, url: str) -> ProviderError:
        where = f"{method} {url}"
        if isinstance(exc, httpx.ConnectTimeout):
            return ProviderConnectError(self.name, f"{where}: connect timed out", retryable=True)
        if isinstance(exc, httpx.ConnectError):
            return ProviderConnectError(
                self.name, f"{where}: cannot connect: {exc}", retryable=True
            )
        if isinstance(exc, httpx.TimeoutException):
            return ProviderTimeout(self.name, f"{where}: timed out ({exc!r})")
        if isinstance(exc, httpx.TransportError):
            return ProviderError(self.name, f"{where}: connection failed: {exc!r}", retryable=True)
        return ProviderError(self.name, f"{where}: HTTP client error: {exc!r}")

    def status_error(self, status: int, data: Any, what: str) -> ProviderStatusError:
        """An unexpected status: 5xx (and 408/429) may succeed later, the rest will not."""
        text = json.dumps(data)[:_MAX_ERROR_TEXT] if data is not None else "no body"
        retryable = status >= 500 or status in (408, 429)
        return ProviderStatusError(
            self.name, f"{what}: HTTP {status}: {text}", status=status, retryable=retryable
        )


def api_key_from_env(api: BookingApi, env: Mapping[str, str] | None = None) -> str | None:
    """The Bearer key named by ``booking_api.key_env``; a missing variable is a ConfigError."""
    if not api.key_env:
        return None
    key = Env.of(env).named("booking API key", api.key_env)
    if not key:
        raise ConfigError(f"booking_api.key_env: environment variable {api.key_env} is not set")
    return key


def _error_fields(data: Any) -> tuple[str, str | None]:
    if isinstance(data, Mapping):
        field = data.get("field")
        return str(data.get("error") or "rejected"), str(field) if field else None
    return "rejected", None


class BookingClient:
    """``BookingBackend`` over HTTP for one company's ``booking_api``."""

    def __init__(
        self,
        api: BookingApi,
        *,
        env: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        timeout: float = REQUEST_TIMEOUT_S,
        name: str = "booking-api",
    ) -> None:
        self.name = name
        self.base_url = api.url.rstrip("/")
        self._http = _JsonHttp(
            name,
            client,
            api_key=api_key_from_env(api, env),
            connect_timeout=connect_timeout,
            timeout=timeout,
        )

    async def availability(self, query: Mapping[str, str]) -> Availability:
        url = f"{self.base_url}/availability"
        status, data = await self._http.request("GET", url, params=query)
        if status == 422:
            return Availability(error=_error_fields(data)[0], field=_error_fields(data)[1])
        if status != 200:
            raise self._http.status_error(status, data, "availability")
        slots = data.get("slots") if isinstance(data, Mapping) else None
        if not isinstance(slots, list) or not all(
            isinstance(s, Mapping)
            and isinstance(s.get("start"), str)
            and isinstance(s.get("end"), str)
            for s in slots
        ):
            raise ProviderError(
                self.name, f"availability: expected {{'slots': [...]}}, got {data!r}"
            )
        return Availability(tuple({"start": s["start"], "end": s["end"]} for s in slots))

    async def book(self, body: Mapping[str, Any], idempotency_key: str) -> BookingOutcome:
        if not idempotency_key:
            raise ValueError("a booking needs an idempotency key")
        url = f"{self.base_url}/bookings"
        status, data = await self._http.request(
            "POST", url, body=dict(body), headers={"idempotency-key": idempotency_key}
        )
        if status in (200, 201):
            booking_id = data.get("booking_id") if isinstance(data, Mapping) else None
            if not isinstance(booking_id, str) or not booking_id:
                # Safe to retry: the same key can never create a second booking.
                raise ProviderError(
                    self.name, f"booking: {status} without a booking_id: {data!r}", retryable=True
                )
            return BookingOutcome("confirmed", booking_id, replayed=status == 200)
        if status == 409:
            return BookingOutcome("slot_taken", error=_error_fields(data)[0])
        if status == 422:
            error, field = _error_fields(data)
            return BookingOutcome("invalid", error=error, field=field)
        raise self._http.status_error(status, data, "booking")

    async def amend(
        self, booking_id: str, changes: Mapping[str, Any], idempotency_key: str
    ) -> BookingOutcome:
        """``PATCH /bookings/{id}`` with only the fields that change."""
        if not booking_id or not idempotency_key:
            raise ValueError("an amendment needs the booking id and an idempotency key")
        url = f"{self.base_url}/bookings/{booking_id}"
        status, data = await self._http.request(
            "PATCH", url, body=dict(changes), headers={"idempotency-key": idempotency_key}
        )
        if status == 200:
            return BookingOutcome("confirmed", booking_id)
        if status == 404:
            return BookingOutcome("invalid", error="unknown booking", field="booking_id")
        if status == 409:
            return BookingOutcome("slot_taken", error=_error_fields(data)[0])
        if status == 422:
            error, field = _error_fields(data)
            return BookingOutcome("invalid", error=error, field=field)
        raise self._http.status_error(status, data, "amendment")


class Notifier:
    """Posts the contract's webhook events (``booking``, ``transfer``, ``callback_requested``).

    ``send`` returns on a 2xx and raises ``ProviderError`` otherwise (retryable
    for connect failures, timeouts, 5xx, 408 and 429). The idempotency key lets
    the receiver drop a repeat after a lost answer.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        timeout: float = REQUEST_TIMEOUT_S,
        name: str = "notify",
    ) -> None:
        self.name = name
        self._http = _JsonHttp(
            name, client, api_key=api_key, connect_timeout=connect_timeout, timeout=timeout
        )

    async def send(self, url: str, payload: Mapping[str, Any], idempotency_key: str) -> None:
        status, data = await self._http.request(
            "POST", url, body=dict(payload), headers={"idempotency-key": idempotency_key}
        )
        if not 200 <= status < 300:
            raise self._http.status_error(status, data, "notify")


def notification(
    event: Literal["booking", "transfer", "callback_requested"],
    *,
    call_uuid: str,
    company_id: str,
    at: str,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """The webhook body of the contract."""
    return {
        "event": event,
        "call_uuid": call_uuid,
        "company_id": company_id,
        "at": at,
        "data": dict(data),
    }
