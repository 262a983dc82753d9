"""The stand-in providers' charges and the notifications they send about them.

Charges live in memory (a restart of the sandbox forgets them, as the couriers' parcels), by the
merchant's order id (Midtrans' ``order_id``, Xendit's ``reference_id``: the payment's id). Each change
is notified to the configured URL, retried with back-off until answered 2xx: a Midtrans charge's with
Midtrans' signature, ``signature_key`` = SHA512(order_id + status_code + gross_amount + server key); a
Xendit charge's as Xendit's e-wallet callback, with the account's token in ``x-callback-token``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import httpx
import orjson

log = logging.getLogger("toko.sandbox.payments")

# Midtrans reports times in Western Indonesian Time.
WIB = timezone(timedelta(hours=7))
BANKS = ("bca", "bni", "bri", "permata")
STORES = ("indomaret", "alfamart")
PAYMENT_TYPES = ("bank_transfer", "echannel", "qris", "gopay", "shopeepay", "credit_card", "cstore")
# Midtrans' status codes by transaction status.
STATUS_CODES = {
    "pending": "201",
    "settlement": "200",
    "capture": "200",
    "deny": "202",
    "cancel": "200",
    "expire": "407",
    "refund": "200",
    "partial_refund": "200",
}
FINAL = frozenset({"settlement", "capture", "deny", "cancel", "expire"})
# Xendit's e-wallet channels, and its words for the statuses above.
XENDIT_CHANNELS = ("ID_OVO", "ID_DANA")
XENDIT_STATUSES = {
    "pending": "PENDING",
    "settlement": "SUCCEEDED",
    "deny": "FAILED",
    "expire": "FAILED",
    "cancel": "VOIDED",
}


def signature_key(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """Midtrans' notification signature."""
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def amount_text(amount: int) -> str:
    """An amount as Midtrans writes it: rupiah with two decimals."""
    return f"{amount}.00"


@dataclass
class Charge:
    """One transaction at the provider."""

    order_id: str
    transaction_id: str
    payment_type: str
    gross_amount: int
    status: str
    created_at: datetime
    expires_at: datetime
    bank: str = ""
    store: str = ""
    va_number: str = ""
    payment_code: str = ""
    refunds: dict[str, int] = field(default_factory=dict)
    # What the provider reports as paid: the charge's amount unless a test overrode it.
    paid_amount: int | None = None
    # When it was paid, and when each refund was made: the settlement reports' days.
    settled_at: datetime | None = None
    # When its status last changed (Xendit's "updated").
    updated_at: datetime | None = None
    refund_times: dict[str, datetime] = field(default_factory=dict)
    # "midtrans" or "xendit": whose API opened it, and so how it is reported and notified.
    provider: str = "midtrans"
    channel_code: str = ""
    mobile_number: str = ""
    # Where a DANA buyer is sent back once paid.
    success_redirect_url: str = ""

    @property
    def reported_amount(self) -> int:
        """The gross amount the provider reports."""
        return self.paid_amount if self.paid_amount is not None else self.gross_amount

    def status_document(self) -> dict[str, object]:
        """The charge as ``GET /v2/{order_id}/status`` and the notifications write it."""
        document: dict[str, object] = {
            "status_code": STATUS_CODES[self.status],
            "status_message": f"Success, transaction is {self.status}",
            "transaction_id": self.transaction_id,
            "order_id": self.order_id,
            "gross_amount": amount_text(self.reported_amount),
            "payment_type": self.payment_type,
            "transaction_status": self.status,
            "fraud_status": "accept",
            "transaction_time": self.created_at.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S"),
            "expiry_time": self.expires_at.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S"),
            "currency": "IDR",
        }
        if self.settled_at is not None:
            document["settlement_time"] = self.settled_at.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S")
        if self.va_number:
            document["va_numbers"] = [{"bank": self.bank, "va_number": self.va_number}]
        if self.payment_code:
            document["payment_code"] = self.payment_code
            document["store"] = self.store
        if self.refunds:
            document["refund_amount"] = amount_text(sum(self.refunds.values()))
        return document

    def xendit_document(self) -> dict[str, object]:
        """The charge as Xendit's ``GET /ewallets/charges/{id}`` and its callbacks write it."""
        status = XENDIT_STATUSES.get(self.status, "PENDING")
        document: dict[str, object] = {
            "id": self.transaction_id,
            "business_id": "sandbox-business",
            "reference_id": self.order_id,
            "status": status,
            "currency": "IDR",
            "charge_amount": self.gross_amount,
            "capture_amount": self.reported_amount if status == "SUCCEEDED" else None,
            "refunded_amount": sum(self.refunds.values()) or None,
            "checkout_method": "ONE_TIME_PAYMENT",
            "channel_code": self.channel_code,
            "channel_properties": {"mobile_number": self.mobile_number}
            if self.mobile_number
            else {"success_redirect_url": self.success_redirect_url},
            "failure_code": "EXPIRED" if self.status == "expire" else None,
            "created": self.created_at.isoformat(),
            "updated": (self.updated_at or self.created_at).isoformat(),
        }
        return document


@dataclass
class Notifier:
    """Posts each change of a charge to the merchant's notification URL, retrying with back-off."""

    url: str
    server_key: str
    first_retry_seconds: float
    max_attempts: int
    callback_token: str = ""
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=5.0))
    # (order id, status, HTTP status or 0 for no answer) of every attempt, for tests and people to read.
    attempts: list[tuple[str, str, int]] = field(default_factory=list)
    # Notifications still to drop on purpose (a fault a test sets), counted down per attempt.
    drop_next: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def notify(self, charge: Charge) -> None:
        """Send the charge's current status in the background, in its provider's scheme."""
        if not self.url:
            return
        headers = {"content-type": "application/json"}
        if charge.provider == "xendit":
            document: dict[str, object] = {
                "event": "ewallet.capture",
                "business_id": "sandbox-business",
                "created": datetime.now(UTC).isoformat(),
                "data": charge.xendit_document(),
            }
            headers["x-callback-token"] = self.callback_token
        else:
            document = charge.status_document()
            document["signature_key"] = signature_key(
                charge.order_id, str(document["status_code"]), str(document["gross_amount"]), self.server_key
            )
        url = self.url.replace("{provider}", charge.provider)
        task = asyncio.create_task(
            self._deliver(url, headers, charge.order_id, charge.status, orjson.dumps(document))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, url: str, headers: dict[str, str], order_id: str, status: str, body: bytes
    ) -> None:
        delay = self.first_retry_seconds
        for _ in range(self.max_attempts):
            if self.drop_next > 0:
                self.drop_next -= 1
                code = 0
            else:
                try:
                    response = await self.client.post(url, content=body, headers=headers)
                    code = response.status_code
                except httpx.HTTPError:
                    code = 0
            self.attempts.append((order_id, status, code))
            if 200 <= code < 300:
                return
            await asyncio.sleep(delay)
            delay *= 2
        log.warning("notification given up", extra={"order_id": order_id, "status": status})

    async def close(self) -> None:
        """Stop retrying and close the client."""
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()


@dataclass(frozen=True)
class Settled:
    """One row of a settlement report: money in for a payment, or out for a refund."""

    charge: Charge
    kind: str
    reference: str
    amount: int
    at: datetime


class ChargeRefused(Exception):
    """A request the provider answers with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Charges:
    """The provider's transactions, by order id."""

    notifier: Notifier
    _by_order: dict[str, Charge] = field(default_factory=dict)
    # Amounts the settlement report states instead of the true ones, by order id (a fault tests set).
    adjustments: dict[str, int] = field(default_factory=dict)
    # Xendit's charges by their own id, and the idempotency keys they were opened with.
    _by_charge_id: dict[str, Charge] = field(default_factory=dict)
    _idempotency: dict[str, Charge] = field(default_factory=dict)
    _refund_idempotency: dict[str, tuple[Charge, str]] = field(default_factory=dict)

    def charge_ewallet(self, body: dict[str, object], idempotency_key: str) -> Charge:
        """Open an e-wallet charge as Xendit's ``POST /ewallets/charges`` does.

        The same idempotency key again answers the first charge; a reference charged before under
        another key is refused (409 DUPLICATE_ERROR).
        """
        if idempotency_key and idempotency_key in self._idempotency:
            return self._idempotency[idempotency_key]
        reference = str(body.get("reference_id", "")).strip()
        if not reference or len(reference) > 255:
            raise ChargeRefused(400, "reference_id must be 1 to 255 characters")
        if reference in self._by_order:
            raise ChargeRefused(409, "DUPLICATE_ERROR: reference_id has been used")
        amount = body.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
            raise ChargeRefused(400, "amount must be a positive whole number")
        channel = str(body.get("channel_code", ""))
        if channel not in XENDIT_CHANNELS:
            raise ChargeRefused(400, f"channel_code must be one of {', '.join(XENDIT_CHANNELS)}")
        properties = body.get("channel_properties")
        properties = properties if isinstance(properties, dict) else {}
        mobile = str(properties.get("mobile_number", ""))
        if channel == "ID_OVO" and not mobile.startswith("+62"):
            raise ChargeRefused(400, "channel_properties.mobile_number must be a +62 number for ID_OVO")
        success_url = str(properties.get("success_redirect_url", ""))
        if channel == "ID_DANA" and not success_url.startswith(("http://", "https://")):
            raise ChargeRefused(400, "channel_properties.success_redirect_url must be a URL for ID_DANA")
        now = datetime.now(UTC)
        charge = Charge(
            order_id=reference,
            transaction_id=f"ewc_{secrets.token_hex(12)}",
            payment_type="ewallet",
            gross_amount=amount,
            status="pending",
            created_at=now,
            expires_at=now + timedelta(days=1),
            provider="xendit",
            channel_code=channel,
            mobile_number=mobile,
            success_redirect_url=success_url,
        )
        self._by_order[reference] = charge
        self._by_charge_id[charge.transaction_id] = charge
        if idempotency_key:
            self._idempotency[idempotency_key] = charge
        return charge

    def by_charge_id(self, charge_id: str) -> Charge | None:
        """A Xendit charge by its own id."""
        charge = self._by_charge_id.get(charge_id)
        return None if charge is None else self.get(charge.order_id)

    def refund_by_charge(
        self, charge_id: str, refund_key: str, amount: int, idempotency_key: str = ""
    ) -> tuple[Charge, str]:
        """Refund part of a Xendit charge once per reference (``POST /refunds``): the charge and the key.

        As for charges, an ``Idempotency-key`` is the account's: the same key again answers the first
        refund made under it, whichever charge the request names now.
        """
        if idempotency_key and idempotency_key in self._refund_idempotency:
            return self._refund_idempotency[idempotency_key]
        charge = self.by_charge_id(charge_id)
        if charge is None:
            raise ChargeRefused(404, "DATA_NOT_FOUND: no such payment")
        done = self.refund(charge.order_id, refund_key, amount), refund_key
        if idempotency_key:
            self._refund_idempotency[idempotency_key] = done
        return done

    def charge(self, body: dict[str, object]) -> Charge:
        """Open a transaction as ``POST /v2/charge`` does; an order id charged before is refused (406)."""
        details = body.get("transaction_details")
        if not isinstance(details, dict):
            raise ChargeRefused(400, "transaction_details is required")
        order_id = str(details.get("order_id", "")).strip()
        try:
            gross = int(float(str(details.get("gross_amount", ""))))
        except ValueError:
            raise ChargeRefused(400, "gross_amount must be a number") from None
        if not order_id or len(order_id) > 50:
            raise ChargeRefused(400, "order_id must be 1 to 50 characters")
        if gross < 1:
            raise ChargeRefused(400, "gross_amount must be at least 1")
        if order_id in self._by_order:
            raise ChargeRefused(
                406, "The request could not be completed due to a conflict: order_id has been used"
            )
        payment_type = str(body.get("payment_type", ""))
        if payment_type not in PAYMENT_TYPES:
            raise ChargeRefused(400, f"payment_type must be one of {', '.join(PAYMENT_TYPES)}")
        now = datetime.now(UTC)
        expiry = body.get("custom_expiry")
        minutes = 24 * 60
        if isinstance(expiry, dict) and str(expiry.get("expiry_duration", "")).isdigit():
            minutes = max(1, int(str(expiry["expiry_duration"])))
        charge = Charge(
            order_id=order_id,
            transaction_id=secrets.token_hex(16),
            payment_type=payment_type,
            gross_amount=gross,
            status="pending",
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        if payment_type == "bank_transfer":
            transfer = body.get("bank_transfer")
            bank = str(transfer.get("bank", "")) if isinstance(transfer, dict) else ""
            if bank not in BANKS:
                raise ChargeRefused(400, f"bank_transfer.bank must be one of {', '.join(BANKS)}")
            charge.bank, charge.va_number = bank, "8" + str(secrets.randbelow(10**11)).zfill(11)
        elif payment_type == "echannel":
            charge.bank, charge.va_number = "mandiri", str(secrets.randbelow(10**12)).zfill(12)
        elif payment_type == "cstore":
            store = body.get("cstore")
            name = str(store.get("store", "")) if isinstance(store, dict) else ""
            if name not in STORES:
                raise ChargeRefused(400, f"cstore.store must be one of {', '.join(STORES)}")
            charge.store, charge.payment_code = name, secrets.token_hex(6).upper()
        self._by_order[order_id] = charge
        return charge

    def get(self, order_id: str) -> Charge | None:
        """The transaction of ``order_id``, expired once its time has passed unpaid."""
        charge = self._by_order.get(order_id)
        if charge is not None and charge.status == "pending" and charge.expires_at <= datetime.now(UTC):
            self._settle(charge, "expire")
        return charge

    def settle(
        self, order_id: str, outcome: str, *, amount: int | None = None, at: datetime | None = None
    ) -> Charge:
        """Pay (``pay``), refuse (``fail``) or expire (``expire``) a pending transaction, and notify it;
        ``at`` backdates a payment (a charge paid just before midnight, its notification after)."""
        charge = self.get(order_id)
        if charge is None:
            raise ChargeRefused(404, "Transaction doesn't exist.")
        status = {
            "pay": "capture" if charge.payment_type == "credit_card" else "settlement",
            "fail": "deny",
            "expire": "expire",
        }.get(outcome)
        if status is None:
            raise ChargeRefused(400, "outcome must be pay, fail or expire")
        if charge.status != "pending":
            raise ChargeRefused(412, f"the transaction is {charge.status}, not pending")
        if amount is not None:
            charge.paid_amount = amount
        self._settle(charge, status, at=at)
        return charge

    def cancel(self, order_id: str) -> Charge:
        """Cancel a pending transaction (``POST /v2/{order_id}/cancel``)."""
        charge = self.get(order_id)
        if charge is None:
            raise ChargeRefused(404, "Transaction doesn't exist.")
        if charge.status in ("settlement", "capture"):
            raise ChargeRefused(412, "Merchant cannot modify the status of the transaction")
        if charge.status == "pending":
            self._settle(charge, "cancel")
        return charge

    def refund(self, order_id: str, refund_key: str, amount: int) -> Charge:
        """Refund part of a paid transaction once per refund key (``POST /v2/{order_id}/refund``)."""
        charge = self.get(order_id)
        if charge is None:
            raise ChargeRefused(404, "Transaction doesn't exist.")
        if charge.status not in ("settlement", "capture", "refund", "partial_refund"):
            raise ChargeRefused(412, "Transaction status cannot be updated")
        if refund_key in charge.refunds:
            return charge
        if amount < 1 or sum(charge.refunds.values()) + amount > charge.reported_amount:
            raise ChargeRefused(412, "Refund amount exceeds the transaction's amount")
        charge.refunds[refund_key] = amount
        charge.refund_times[refund_key] = datetime.now(UTC)
        return charge

    def _settle(self, charge: Charge, status: str, *, at: datetime | None = None) -> None:
        charge.status = status
        charge.updated_at = at or datetime.now(UTC)
        if status in ("settlement", "capture"):
            charge.settled_at = charge.updated_at
        self.notifier.notify(charge)

    def settled_between(self, provider: str, start: datetime, end: datetime) -> list[Settled]:
        """What the provider settled in [start, end): payments in, refunds out, as its report lists them.

        An amount a test adjusted (``settlement_adjustments``) is reported instead of the true one.
        """
        rows: list[Settled] = []
        for charge in self._by_order.values():
            if charge.provider != provider:
                continue
            if charge.settled_at is not None and start <= charge.settled_at < end:
                amount = self.adjustments.get(charge.order_id, charge.reported_amount)
                rows.append(Settled(charge, "payment", charge.transaction_id, amount, charge.settled_at))
            for key, at in charge.refund_times.items():
                if start <= at < end:
                    rows.append(Settled(charge, "refund", key, charge.refunds[key], at))
        return sorted(rows, key=lambda row: row.at)
