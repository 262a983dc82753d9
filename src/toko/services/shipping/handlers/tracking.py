"""Tracking: the couriers' signed webhooks, and polling the parcels they went quiet about.

A webhook is verified before anything is read from it: the HMAC-SHA256 of ``"<timestamp>.<body>"``
with the shared secret must match ``X-Courier-Signature`` (compared in constant time), and the
timestamp must be within the tolerance of now. Then, in one unit of work, the raw body is kept
under the courier's event id (an id seen before is a replay: refused, nothing changes) and the
report is applied to the shipment (``common.apply_report``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from toko.services.shipping import domain
from toko.services.shipping.couriers.common import CourierError, TrackReport
from toko.services.shipping.error_codes import ErrorCode
from toko.services.shipping.handlers.common import SOURCE, Shipping, apply_report, log
from toko.services.shipping.repository import shipments as shipments_store

MAX_EVENT_ID_LENGTH = 200


class WebhookRejected(Exception):
    """A webhook we do not act on: answered with ``status`` and ``reason``, and nothing changes."""

    def __init__(self, status: int, reason: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Webhook:
    """A courier's webhook as received."""

    courier: str
    event_id: str
    timestamp: str
    signature: str
    body: bytes


def signature_of(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a courier sends: hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(webhook: Webhook, *, secret: str, tolerance: timedelta, now: datetime) -> tuple[str, TrackReport]:
    """The waybill and report of a webhook whose signature and timestamp hold; else ``WebhookRejected``."""
    if domain.find_courier(webhook.courier) is None:
        raise WebhookRejected(404, ErrorCode.UNKNOWN_COURIER, "no such courier")
    expected = signature_of(secret, webhook.timestamp, webhook.body)
    if not hmac.compare_digest(expected.encode(), webhook.signature.encode("utf-8", "replace")):
        raise WebhookRejected(401, ErrorCode.BAD_SIGNATURE, "the signature does not match")
    if (
        not webhook.timestamp.isdigit()
        or abs(now.timestamp() - int(webhook.timestamp)) > tolerance.total_seconds()
    ):
        raise WebhookRejected(401, ErrorCode.STALE_TIMESTAMP, "the timestamp is too far from now")
    if not 1 <= len(webhook.event_id) <= MAX_EVENT_ID_LENGTH:
        raise WebhookRejected(400, ErrorCode.MALFORMED_WEBHOOK, "the event id is missing")
    try:
        document = orjson.loads(webhook.body)
        report = TrackReport(
            word=str(document["status"]),
            description=str(document.get("description", ""))[:500],
            location=str(document.get("location", ""))[:200],
            time=datetime.fromisoformat(str(document["time"]).replace("Z", "+00:00")),
        )
        waybill = str(document["waybill"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WebhookRejected(400, ErrorCode.MALFORMED_WEBHOOK, "the body is not a tracking report") from exc
    if report.time.tzinfo is None:
        raise WebhookRejected(400, ErrorCode.MALFORMED_WEBHOOK, "the time has no offset")
    return waybill, report


async def receive_webhook(*, shipping: Shipping, webhook: Webhook, secret: str, tolerance: timedelta) -> None:
    """Verify a courier's webhook, keep it, and apply its report; ``WebhookRejected`` changes nothing."""
    waybill, report = verify(webhook, secret=secret, tolerance=tolerance, now=shipping.clock())
    async with shipping.database.unit_of_work(SOURCE) as uow:
        shipment = await shipments_store.shipment_by_waybill(uow.session, webhook.courier, waybill)
        if shipment is None:
            # Perhaps the booking that gave this waybill has not committed yet: the courier will retry.
            raise WebhookRejected(404, ErrorCode.UNKNOWN_WAYBILL, "no shipment has this waybill")
        stored = await shipments_store.record_webhook(
            uow.session,
            courier=webhook.courier,
            event_id=webhook.event_id,
            body=webhook.body,
            at=shipping.clock(),
        )
        if not stored:
            raise WebhookRejected(409, ErrorCode.DUPLICATE_EVENT, "this event was received before")
        await apply_report(uow, shipment, report)
        await uow.commit()


async def poll_quiet_shipments(*, shipping: Shipping, quiet_for: timedelta, limit: int) -> int:
    """Ask the couriers about parcels on their way they have not reported on lately; how many were asked."""
    now = shipping.clock()
    async with shipping.database.unit_of_work(SOURCE) as uow:
        claimed = await shipments_store.claim_quiet_shipments(
            uow.session, quiet_since=now - quiet_for, now=now, limit=limit
        )
        await uow.commit()
    for shipment_id, courier, waybill in claimed:
        try:
            reports = await shipping.couriers[courier].track(waybill)
        except CourierError as exc:
            log.warning(
                "tracking poll failed", extra={"courier": courier, "waybill": waybill, "error": str(exc)}
            )
            continue
        async with shipping.database.unit_of_work(SOURCE) as uow:
            shipment = await shipments_store.get_shipment(uow.session, shipment_id=shipment_id, lock=True)
            for report in reports:
                assert shipment is not None
                if await apply_report(uow, shipment, report) is not None:
                    shipment = await shipments_store.get_shipment(uow.session, shipment_id=shipment_id)
            await uow.commit()
    return len(claimed)
