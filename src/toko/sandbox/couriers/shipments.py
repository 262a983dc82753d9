"""The stand-in couriers' parcels: booked, moved on by the control API, reported by signed webhooks.

Every courier shares this one life of a parcel (``Stage``): booked, picked up, in transit, out
for delivery, delivered; a failed attempt (then out for delivery again) or a return may interrupt
it. Each courier names the stages in its own words (``CourierProfile.words``), which is what its
tracking answers and webhooks carry.

A webhook is a JSON body POSTed to the configured URL with three headers:
``X-Courier-Event-Id`` (unique per report), ``X-Courier-Timestamp`` (Unix seconds) and
``X-Courier-Signature``, the hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with the shared secret
(the timestamp is signed so that an old report cannot be sent again under a new time). It is
retried with exponential back-off until the receiver answers 2xx, or 409 (it has that event
already), or the attempts run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

import httpx
import orjson

from toko.sandbox.couriers.tariffs import ServiceTerms

log = logging.getLogger("toko.sandbox.couriers")


class Stage(Enum):
    """Where a parcel is, as every stand-in courier tracks it."""

    BOOKED = "booked"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    FAILED_ATTEMPT = "failed_attempt"
    RETURNED = "returned"


_NEXT = {
    Stage.BOOKED: Stage.PICKED_UP,
    Stage.PICKED_UP: Stage.IN_TRANSIT,
    Stage.IN_TRANSIT: Stage.OUT_FOR_DELIVERY,
    Stage.OUT_FOR_DELIVERY: Stage.DELIVERED,
    Stage.FAILED_ATTEMPT: Stage.OUT_FOR_DELIVERY,
}
# Where ``?to=`` may jump: a failed attempt happens on the road, a return from anywhere before the end.
_JUMPS = {
    Stage.FAILED_ATTEMPT: frozenset({Stage.IN_TRANSIT, Stage.OUT_FOR_DELIVERY}),
    Stage.RETURNED: frozenset(_NEXT),
}


class CannotAdvance(Exception):
    """The parcel cannot move as asked (it is delivered or returned, or the jump is not possible)."""


@dataclass(frozen=True)
class CourierProfile:
    """A stand-in courier: its services, its status words, and how its waybill numbers look."""

    code: str
    name: str
    services: tuple[ServiceTerms, ...]
    words: dict[Stage, str]
    waybill_prefix: str
    # Its prices as a percentage of the list price.
    percent: int = 100

    def service(self, code: str) -> ServiceTerms | None:
        """Its service ``code``, or None."""
        return next((service for service in self.services if service.code == code), None)


@dataclass(frozen=True)
class Report:
    """One tracking report of a parcel."""

    event_id: str
    stage: Stage
    word: str
    description: str
    location: str
    time: datetime


@dataclass
class Parcel:
    """A booked parcel and what happened to it."""

    courier: CourierProfile
    waybill: str
    reference: str
    service: str
    origin: str
    destination: str
    history: list[Report] = field(default_factory=list)
    # The delivery slot of a slotted service, as booked or rescheduled.
    slot_id: str = ""

    @property
    def stage(self) -> Stage:
        """Where it is now."""
        return self.history[-1].stage

    def document(self) -> dict[str, object]:
        """The parcel as the tracking endpoint answers it."""
        return {
            "waybill": self.waybill,
            "slot_id": self.slot_id,
            "status": self.history[-1].word,
            "history": [report_document(self, report) for report in self.history],
        }


def rfc3339(moment: datetime) -> str:
    """``moment`` (UTC) as RFC 3339 ending in ``Z``."""
    return moment.isoformat().replace("+00:00", "Z")


def report_document(parcel: Parcel, report: Report) -> dict[str, object]:
    """One report as tracking answers and webhooks carry it."""
    return {
        "event_id": report.event_id,
        "courier": parcel.courier.code,
        "waybill": parcel.waybill,
        "status": report.word,
        "description": report.description,
        "location": report.location,
        "time": rfc3339(report.time),
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass
class WebhookSender:
    """Sends each report to the courier webhook URL, signed, retrying with back-off in the background."""

    url_template: str
    secret: str
    first_retry_seconds: float
    max_attempts: int
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=5.0))
    # (event id, HTTP status or 0 for no answer) of every attempt, for tests and people to read.
    attempts: list[tuple[str, int]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def send(self, parcel: Parcel, report: Report) -> None:
        """Deliver ``report`` in the background."""
        if not self.url_template:
            return
        task = asyncio.create_task(self._deliver(parcel, report), name=f"webhook-{report.event_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, parcel: Parcel, report: Report) -> None:
        url = self.url_template.format(courier=parcel.courier.code)
        body = orjson.dumps(report_document(parcel, report))
        delay = self.first_retry_seconds
        for _ in range(self.max_attempts):
            timestamp = str(int(datetime.now(UTC).timestamp()))
            headers = {
                "content-type": "application/json",
                "x-courier-event-id": report.event_id,
                "x-courier-timestamp": timestamp,
                "x-courier-signature": signature(self.secret, timestamp, body),
            }
            try:
                status = (await self.client.post(url, content=body, headers=headers)).status_code
            except httpx.HTTPError:
                status = 0
            self.attempts.append((report.event_id, status))
            if 200 <= status < 300 or status == 409:
                return
            await asyncio.sleep(delay)
            delay *= 2
        log.warning("webhook given up", extra={"event_id": report.event_id, "url": url})

    async def close(self) -> None:
        """Stop retrying and close the client."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()


@dataclass
class Parcels:
    """Every stand-in courier's parcels, by courier and waybill; booking again with a reference is a no-op."""

    webhooks: WebhookSender
    _by_waybill: dict[tuple[str, str], Parcel] = field(default_factory=dict)
    _by_reference: dict[tuple[str, str], Parcel] = field(default_factory=dict)

    def book(
        self, courier: CourierProfile, *, reference: str, service: str, origin: str, destination: str
    ) -> Parcel:
        """A new parcel booked for ``reference`` (the same one when ``reference`` was booked before)."""
        existing = self._by_reference.get((courier.code, reference))
        if existing is not None:
            return existing
        waybill = courier.waybill_prefix + str(secrets.randbelow(10**12)).zfill(12)
        parcel = Parcel(courier, waybill, reference, service, origin, destination)
        parcel.history.append(self._report(parcel, Stage.BOOKED, origin))
        self._by_waybill[courier.code, waybill] = parcel
        self._by_reference[courier.code, reference] = parcel
        return parcel

    def get(self, courier: str, waybill: str) -> Parcel | None:
        """The parcel, or None."""
        return self._by_waybill.get((courier, waybill))

    def advance(self, parcel: Parcel, to: Stage | None = None) -> Report:
        """Move the parcel to its next stage (or to ``to``), and send the report as a webhook."""
        current = parcel.stage
        if to is None:
            target = _NEXT.get(current)
            if target is None:
                raise CannotAdvance(f"the parcel is {current.value}")
        elif current in _JUMPS.get(to, frozenset()):
            target = to
        else:
            raise CannotAdvance(f"a parcel {current.value} cannot become {to.value}")
        where = parcel.destination if target in (Stage.OUT_FOR_DELIVERY, Stage.DELIVERED) else parcel.origin
        report = self._report(parcel, target, where)
        parcel.history.append(report)
        self.webhooks.send(parcel, report)
        return report

    @staticmethod
    def _report(parcel: Parcel, stage: Stage, where: str) -> Report:
        word = parcel.courier.words[stage]
        return Report(
            event_id=f"{parcel.courier.code}-{secrets.token_hex(8)}",
            stage=stage,
            word=word,
            description=f"{word} [{where.upper()}]",
            location=where,
            time=datetime.now(UTC),
        )
