"""Company profiles: who answers the phone for a dialled number, and how.

A profile is parsed once from JSON (a local companies file or the company
context API, same shape) into frozen value classes; garbage raises
``ConfigError`` naming the company and the field. Every question about the
company during a call (open now? serve this postcode? is this an emergency?)
is a pure method here.

Time: ``now`` is Unix epoch seconds (float); the profile's ``timezone``
turns it into local wall-clock time. Opening periods are ``HH:MM-HH:MM`` per
weekday within one day (``24:00`` allowed as the end; overnight periods are
written as two periods on two days).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from agent.base.errors import ConfigError
from agent.business.hours import OpeningHours, parse_hours
from agent.business.ukformats import is_postcode_prefix, postcode_in_area, to_e164

#: The bundled example companies file (used when ``VOICE_AGENT_COMPANIES`` is unset).
EXAMPLE_COMPANIES = Path(__file__).parent / "data" / "companies.json"

EmergencyAction = Literal["transfer", "priority_booking"]


@attrs.frozen
class Price:
    call_out: Decimal | None = None
    hourly: Decimal | None = None
    fixed: Decimal | None = None

    @property
    def quoted_amount(self) -> Decimal:
        """What the booking records as the quote: the fixed price, else the call-out."""
        for value in (self.fixed, self.call_out, self.hourly):
            if value is not None:
                return value
        raise AssertionError("a Price always has at least one amount")  # checked when parsed


@attrs.frozen
class Service:
    id: str
    name: str
    description: str
    price: Price
    currency: str = "GBP"
    keywords: tuple[str, ...] = ()  # caller words that mean this service (offline policy)


@attrs.frozen
class TransferTarget:
    name: str  # what the LLM and the logs call it
    dial: str  # what the dialplan dials (PJSIP/1001, a queue, a number)


@attrs.frozen
class EmergencyPolicy:
    keywords: tuple[str, ...] = ()
    action: EmergencyAction = "priority_booking"
    target: str | None = None  # a transfer target's name when action == "transfer"


@attrs.frozen
class BookingApi:
    url: str
    key_env: str | None = None


@attrs.frozen
class CompanyProfile:
    id: str
    name: str
    greeting: str
    timezone: ZoneInfo
    hours: OpeningHours
    services: tuple[Service, ...]
    emergency: EmergencyPolicy = EmergencyPolicy()
    service_area: tuple[str, ...] = ()  # empty: every postcode is served
    booking_api: BookingApi | None = None
    transfer_targets: tuple[TransferTarget, ...] = ()
    voice: str | None = None
    language: str = "en-GB"
    notify_url: str | None = None
    dids: tuple[str, ...] = ()
    # Overrides of the workflow's reply templates, by template name.
    phrases: dict[str, str] = attrs.field(factory=dict, hash=False)
    # Answers to callers' questions by topic (vat, payment, response_time, area, ...).
    info: dict[str, str] = attrs.field(factory=dict, hash=False)
    # The service booked as "an engineer to come and take a look" when what the caller
    # needs is not understood (its call-out is quoted); ``None``: hand such calls over.
    assessment_service: str | None = None

    # --- questions asked during a call ---

    def local_time(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, self.timezone)

    def is_open(self, now: float) -> bool:
        return self.hours.is_open_at(self.local_time(now))

    def next_opening(self, now: float) -> float | None:
        """When the company next opens (``now`` itself if open); ``None`` if it never does."""
        if self.is_open(now):
            return now
        today = self.local_time(now).date()
        for ahead in range(8):
            day = today + timedelta(days=ahead)
            for lo, _hi in self.hours.periods[day.weekday()]:
                start = datetime.combine(day, time(lo // 60, lo % 60), self.timezone).timestamp()
                if start > now:
                    return start
        return None

    def serves_postcode(self, postcode: str) -> bool:
        """Whether a postcode (or bare outward code) is inside the service area.

        An empty service area serves everywhere; prefixes match whole postcode
        parts (see ``ukformats.postcode_in_area``: "SW1" is not SW10).
        """
        if not self.service_area:
            return True
        return postcode_in_area(postcode, self.service_area)

    def find_emergency(self, text: str) -> str | None:
        """The first emergency keyword in the caller's words (word start, simple
        inflections: "flood" matches "flooding"/"flooded", not "floodlight")."""
        low = text.lower()
        for keyword in self.emergency.keywords:
            words = r"\s+".join(re.escape(w) for w in keyword.lower().split())
            if re.search(rf"\b{words}(?:s|es|ed|d|ing|ings)?\b", low):
                return keyword
        return None

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    @property
    def assessment(self) -> Service | None:
        return self.service(self.assessment_service) if self.assessment_service else None

    def transfer_target(self, name: str) -> TransferTarget | None:
        """Allowlist lookup by name (case-insensitive) or by exact dial string."""
        key = name.strip().lower()
        return next(
            (t for t in self.transfer_targets if t.name.lower() == key or t.dial == name.strip()),
            None,
        )

    @property
    def emergency_target(self) -> TransferTarget | None:
        if self.emergency.action != "transfer" or self.emergency.target is None:
            return None
        return self.transfer_target(self.emergency.target)

    @property
    def default_transfer_target(self) -> TransferTarget | None:
        return self.transfer_targets[0] if self.transfer_targets else None


# --- parsing -------------------------------------------------------------------


class _Fields:
    """Typed access to one JSON object, with errors naming company and field."""

    def __init__(self, data: Any, company: str, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"company {company!r}: {path or 'profile'} must be a JSON object")
        self.data, self.company, self.path = data, company, path

    def fail(self, key: str, problem: str) -> ConfigError:
        where = f"{self.path}.{key}" if self.path else key
        return ConfigError(f"company {self.company!r}: field {where!r}: {problem}")

    def str(self, key: str, default: str | None = None, *, required: bool = True) -> Any:
        value = self.data.get(key, default)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value.strip()

    def list(self, key: str) -> list[Any]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {value!r}")
        return value

    def obj(self, key: str, index: int | None = None) -> _Fields:
        value = self.data.get(key) if index is None else self.data[key][index]
        return _Fields(
            value,
            self.company,
            f"{self.path}.{key}".strip(".") + ("" if index is None else f"[{index}]"),
        )

    def money(self, key: str) -> Decimal | None:
        value = self.data.get(key)
        if value is None:
            return None
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            amount = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(key, f"expected an amount, got {value!r}") from None
        if not amount.is_finite() or amount < 0:
            raise self.fail(key, f"expected a non-negative amount, got {value!r}")
        return amount


def _parse_service(f: _Fields) -> Service:
    price_fields = f.obj("price")
    price = Price(
        call_out=price_fields.money("call_out"),
        hourly=price_fields.money("hourly"),
        fixed=price_fields.money("fixed"),
    )
    if price.call_out is None and price.hourly is None and price.fixed is None:
        raise f.fail("price", "needs at least one of call_out, hourly, fixed")
    currency = f.str("currency", "GBP")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise f.fail("currency", f"expected an ISO 4217 code like 'GBP', got {currency!r}")
    keywords = tuple(str(k).lower() for k in f.list("keywords"))
    return Service(f.str("id"), f.str("name"), f.str("description", ""), price, currency, keywords)


def parse_company(data: Any) -> CompanyProfile:
    """Build a profile from its JSON object; raises ``ConfigError`` on garbage."""
    cid = data.get("id", "?") if isinstance(data, Mapping) else "?"
    f = _Fields(data, str(cid), "")
    cid = f.str("id")
    tz_name = f.str("timezone", "Europe/London")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise f.fail("timezone", f"unknown IANA timezone {tz_name!r}") from None
    services = tuple(_parse_service(f.obj("services", i)) for i in range(len(f.list("services"))))
    if not services:
        raise f.fail("services", "at least one service is needed")
    if len({s.id for s in services}) != len(services):
        raise f.fail("services", "service ids must be unique")
    targets = []
    for i in range(len(f.list("transfer_targets"))):
        t = f.obj("transfer_targets", i)
        targets.append(TransferTarget(t.str("name"), t.str("dial")))
    emergency = EmergencyPolicy()
    if f.data.get("emergency") is not None:
        e = f.obj("emergency")
        action = e.str("action", "priority_booking")
        if action not in ("transfer", "priority_booking"):
            raise e.fail("action", f"expected 'transfer' or 'priority_booking', got {action!r}")
        target = e.str("target", required=action == "transfer")
        if target is not None and target.lower() not in {t.name.lower() for t in targets}:
            raise e.fail("target", f"{target!r} is not in transfer_targets")
        emergency = EmergencyPolicy(tuple(str(k) for k in e.list("keywords")), action, target)
    area = tuple(str(p).strip().upper() for p in f.list("service_area"))
    for prefix in area:
        if not is_postcode_prefix(prefix):
            raise f.fail("service_area", f"{prefix!r} is not a postcode prefix like 'SW1' or 'SE'")
    booking_api = None
    if f.data.get("booking_api") is not None:
        b = f.obj("booking_api")
        booking_api = BookingApi(b.str("url"), b.str("key_env", required=False))
    notify_url = f.obj("notify").str("url") if f.data.get("notify") is not None else None
    dids = []
    for raw in f.list("dids"):
        if (did := to_e164(str(raw))) is None:
            raise f.fail("dids", f"{raw!r} is not a phone number")
        dids.append(did)
    phrases = f.data.get("phrases", {})
    if not isinstance(phrases, Mapping) or not all(isinstance(v, str) for v in phrases.values()):
        raise f.fail("phrases", "expected an object of template name -> text")
    info = f.data.get("info", {})
    if not isinstance(info, Mapping) or not all(isinstance(v, str) for v in info.values()):
        raise f.fail("info", "expected an object of topic -> answer text")
    # Absent: the first service with a call-out charge; null: no such offer.
    general = next((s.id for s in services if s.price.call_out is not None), None)
    assessment = f.str("assessment_service", general, required=False)
    if assessment is not None and assessment not in {s.id for s in services}:
        raise f.fail("assessment_service", f"{assessment!r} is not one of the service ids")
    return CompanyProfile(
        id=cid,
        name=f.str("name"),
        greeting=f.str("greeting", f"Thanks for calling {f.str('name')}."),
        timezone=tz,
        hours=parse_hours(f.obj("hours")),
        services=services,
        emergency=emergency,
        service_area=area,
        booking_api=booking_api,
        transfer_targets=tuple(targets),
        voice=f.str("voice", required=False),
        language=f.str("language", "en-GB"),
        notify_url=notify_url,
        dids=tuple(dids),
        phrases=dict(phrases),
        info=dict(info),
        assessment_service=assessment,
    )


@attrs.frozen
class CompanyDirectory:
    """Every company of a companies file, found by dialled number."""

    companies: tuple[CompanyProfile, ...]
    default_id: str | None = None

    def get(self, company_id: str) -> CompanyProfile | None:
        return next((c for c in self.companies if c.id == company_id), None)

    def lookup(self, did: str) -> CompanyProfile | None:
        """The company for a DID in any common spelling, else the default (or ``None``)."""
        e164 = to_e164(did)
        for company in self.companies:
            if e164 is not None and e164 in company.dids:
                return company
        return self.get(self.default_id) if self.default_id else None


def parse_directory(data: Any) -> CompanyDirectory:
    if not isinstance(data, Mapping) or not isinstance(data.get("companies"), list):
        raise ConfigError("companies file: expected an object with a 'companies' list")
    companies = tuple(parse_company(item) for item in data["companies"])
    seen: dict[str, str] = {}
    ids: set[str] = set()
    for company in companies:
        if company.id in ids:
            raise ConfigError(f"company {company.id!r}: duplicate company id")
        ids.add(company.id)
        for did in company.dids:
            if did in seen:
                raise ConfigError(f"company {company.id!r}: DID {did} is already {seen[did]!r}'s")
            seen[did] = company.id
    default = data.get("default")
    if default is not None and default not in {c.id for c in companies}:
        raise ConfigError(f"companies file: default {default!r} is not a company id")
    return CompanyDirectory(companies, default)


def load_companies(path: str | Path) -> CompanyDirectory:
    """Read and validate a companies file (``{"default": id, "companies": [...]}``)."""
    where = f"companies file {str(path)!r}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: invalid JSON: {exc}") from exc
    except RecursionError:  # json recurses per level: a hostile file must not crash us
        raise ConfigError(f"{where}: invalid JSON: nested too deeply") from None
    try:
        return parse_directory(data)
    except ConfigError as exc:  # name the file
        raise ConfigError(f"{where}: {str(exc).removeprefix('companies file: ')}") from None
