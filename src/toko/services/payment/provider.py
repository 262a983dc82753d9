"""The payment providers, as the payment service speaks to them (the sandbox's stand-ins under `make up`).

Every provider is a ``Provider``: it opens a charge for a payment, gives its word on a payment's status
(what every notification is confirmed against), cancels, refunds, and verifies its own notifications.

Midtrans (Core API): ``POST /v2/charge`` opens a transaction whose order id is the payment's id
(charging it again is refused 406, and then its status says what the first charge made);
``GET /v2/{order_id}/status`` is the provider's word on a transaction, which every notification is
confirmed against; ``POST /v2/{order_id}/cancel`` and ``/refund``. Requests authenticate with HTTP
Basic (the server key as user); notifications carry ``signature_key`` = SHA512(order_id +
status_code + gross_amount + server key).

Xendit (e-wallets: OVO pushed to the buyer's phone, DANA by redirect): ``POST /ewallets/charges`` with
the payment's id as ``reference_id`` (a retry with the same ``Idempotency-key`` gets the first charge),
``GET /ewallets/charges/{id}``, ``POST /ewallets/charges/{id}/void``, ``POST /refunds``; HTTP Basic
with the secret key as user; callbacks carry the account's callback token in ``x-callback-token``.

Cash on delivery has no provider: the courier collects, and the payment is settled when the parcel is
delivered (``CashOnDelivery``). No key or token ever reaches a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
import orjson
import segno

from toko.services.payment import domain

WIB = timezone(timedelta(hours=7))
# Pages of a day's Xendit transactions read at most (of up to 500 rows each).
MAX_REPORT_PAGES = 200


class ProviderError(Exception):
    """The provider did not do what was asked."""


class ProviderUnavailable(ProviderError):
    """The provider did not answer, or answered as if it were down: try again later."""


class ProviderRefused(ProviderError):
    """The provider refused the request (a 4xx); asking again the same way will not help."""


@dataclass(frozen=True)
class ProviderStatus:
    """The provider's word on a transaction."""

    transaction_status: str
    gross_amount: int
    reference: str
    document: dict[str, Any]
    # When the provider says the money moved: the day its settlement report lists the payment under.
    settled_at: datetime | None = None

    @property
    def state(self) -> domain.State | None:
        """What the status means here (None for one toko does not know)."""
        return domain.PROVIDER_STATES.get(self.transaction_status)


@dataclass(frozen=True)
class Opened:
    """A transaction the provider opened."""

    reference: str
    instructions: domain.Instructions


@dataclass(frozen=True)
class Notice:
    """What a verified notification says it is about: the payment, and when it happened (None: unknown)."""

    payment_id: str
    happened_at: datetime | None
    reference: str = ""


class Provider(Protocol):
    """What the payment service asks of a provider."""

    code: str

    async def charge(self, payment: domain.Payment, terms: domain.MethodTerms) -> Opened:
        """Open the payment's charge (again after a lost answer: the first one)."""
        ...

    async def status(self, payment: domain.Payment, reference: str = "") -> ProviderStatus | None:
        """The provider's word on the payment, or None when it knows no such charge."""
        ...

    async def cancel(self, payment: domain.Payment) -> None:
        """Cancel a charge not paid."""
        ...

    async def refund(self, payment: domain.Payment, refund_key: str, amount: int, reason: str) -> None:
        """Refund part of a paid charge, once per refund key."""
        ...

    def notice(self, headers: dict[bytes, bytes], document: dict[str, Any]) -> Notice | None:
        """The notification's subject when it is verified as the provider's, else None."""
        ...

    async def settlements(self, start: datetime, end: datetime) -> list[Settlement] | None:
        """Money the provider settled in [start, end) by payment (refunds negative); None: no report."""
        ...


@dataclass(frozen=True)
class Settlement:
    """One row of a provider's settlement report: money in for a payment (positive) or out (negative).

    ``payment_id`` is empty when the row names only the provider's own reference for the charge (a
    Xendit refund names its charge, not the payment): the ledger knows which payment that is.
    """

    payment_id: str
    amount: int
    reference: str = ""


def qr_png_base64(payload: str) -> str:
    """A QR code of ``payload`` as a base64 PNG."""
    out = io.BytesIO()
    segno.make(payload, error="m").save(out, kind="png", scale=4)
    return base64.b64encode(out.getvalue()).decode()


def amount_of(text: object) -> int:
    """Midtrans' "150000.00" as rupiah; -1 when unreadable."""
    try:
        return int(float(str(text)))
    except ValueError:
        return -1


def transaction_time(document: dict[str, Any], field: str = "transaction_time") -> datetime | None:
    """When the provider says the transaction happened, or ``field``'s other time (its times are WIB)."""
    try:
        return datetime.strptime(str(document.get(field, "")), "%Y-%m-%d %H:%M:%S").replace(tzinfo=WIB)
    except ValueError:
        return None


def _iso_time(value: object) -> datetime | None:
    """An ISO 8601 time with its offset (Xendit's times), or None."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class Midtrans:
    """The provider's HTTP API."""

    code = domain.MIDTRANS

    def __init__(self, http: httpx.AsyncClient, base_url: str, server_key: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._server_key = server_key
        self._auth = "Basic " + base64.b64encode(f"{server_key}:".encode()).decode()

    def notice(self, headers: dict[bytes, bytes], document: dict[str, Any]) -> Notice | None:
        """The notification's payment when its signature is the provider's."""
        expected = hashlib.sha512(
            f"{document.get('order_id', '')}{document.get('status_code', '')}"
            f"{document.get('gross_amount', '')}{self._server_key}".encode()
        ).hexdigest()
        if not hmac.compare_digest(expected, str(document.get("signature_key", ""))):
            return None
        return Notice(str(document.get("order_id", "")), transaction_time(document))

    async def charge(self, payment: domain.Payment, terms: domain.MethodTerms) -> Opened:
        """Open the payment's transaction: the provider's reference and what the buyer does to pay."""
        minutes = max(1, int((payment.expires_at - payment.created_at).total_seconds() // 60))
        body: dict[str, Any] = {
            "payment_type": terms.payment_type,
            "transaction_details": {"order_id": payment.id, "gross_amount": payment.amount},
            "custom_expiry": {"expiry_duration": minutes, "unit": "minute"},
            "item_details": [
                {
                    "id": payment.checkout_id,
                    "price": payment.amount,
                    "quantity": 1,
                    "name": payment.description[:50] or "toko",
                }
            ],
        }
        if terms.payment_type == "bank_transfer":
            body["bank_transfer"] = {"bank": terms.channel}
        elif terms.payment_type == "cstore":
            body["cstore"] = {"store": terms.channel, "message": payment.description[:20]}
        try:
            document = await self._call("POST", "/v2/charge", body)
        except ProviderRefused as refused:
            if "406" not in str(refused):
                raise
            # Charged before (a retry after a lost answer): the first charge's status says it all.
            document = await self._call("GET", f"/v2/{payment.id}/status")
        return Opened(reference=str(document.get("transaction_id", "")), instructions=_instructions(document))

    async def status(self, payment: domain.Payment, reference: str = "") -> ProviderStatus | None:
        """The provider's word on a transaction, or None when it has none."""
        try:
            document = await self._call("GET", f"/v2/{payment.id}/status")
        except ProviderRefused as refused:
            if "404" in str(refused):
                return None
            raise
        return ProviderStatus(
            transaction_status=str(document.get("transaction_status", "")),
            gross_amount=amount_of(document.get("gross_amount", "")),
            reference=str(document.get("transaction_id", "")),
            document=document,
            settled_at=transaction_time(document, "settlement_time"),
        )

    async def cancel(self, payment: domain.Payment) -> None:
        """Cancel a pending transaction."""
        await self._call("POST", f"/v2/{payment.id}/cancel")

    async def refund(self, payment: domain.Payment, refund_key: str, amount: int, reason: str) -> None:
        """Refund part of a settled transaction, once per refund key."""
        await self._call(
            "POST", f"/v2/{payment.id}/refund", {"refund_key": refund_key, "amount": amount, "reason": reason}
        )

    async def settlements(self, start: datetime, end: datetime) -> list[Settlement] | None:
        """The report of the day ``start`` begins (a WIB day): transactions settled, refunds made."""
        document = await self._call("GET", f"/v1/settlements?date={start.astimezone(WIB).date().isoformat()}")
        rows = [
            Settlement(
                str(row.get("order_id", "")),
                amount_of(row.get("gross_amount", "")),
                str(row.get("transaction_id", "")),
            )
            for row in document.get("transactions", [])
            if isinstance(row, dict)
        ]
        rows += [
            Settlement(str(row.get("order_id", "")), -amount_of(row.get("refund_amount", "")))
            for row in document.get("refunds", [])
            if isinstance(row, dict)
        ]
        return rows

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await call_json(
            self._http,
            "midtrans",
            method,
            self._base + path,
            body,
            auth=self._auth,
            message_key="status_message",
        )


class Xendit:
    """Xendit's e-wallet API (OVO, DANA)."""

    code = domain.XENDIT

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        secret_key: str,
        callback_token: str,
        *,
        success_redirect_url: str = "",
        page_size: int = 500,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._callback_token = callback_token
        # Where DANA sends the buyer back after paying ({payment_id}: the payment's id).
        self._success_redirect_url = success_redirect_url
        self._page_size = page_size
        self._auth = "Basic " + base64.b64encode(f"{secret_key}:".encode()).decode()

    def notice(self, headers: dict[bytes, bytes], document: dict[str, Any]) -> Notice | None:
        """The callback's payment when it carries the account's callback token."""
        token = headers.get(b"x-callback-token", b"").decode("latin-1")
        if not self._callback_token or not hmac.compare_digest(token, self._callback_token):
            return None
        data = document.get("data")
        if not isinstance(data, dict):
            return Notice("", None)
        try:
            happened: datetime | None = datetime.fromisoformat(str(document.get("created", "")))
        except ValueError:
            happened = None
        if happened is not None and happened.tzinfo is None:
            happened = None
        return Notice(str(data.get("reference_id", "")), happened, reference=str(data.get("id", "")))

    async def charge(self, payment: domain.Payment, terms: domain.MethodTerms) -> Opened:
        """Open the e-wallet charge: OVO pushes it to the buyer's phone, DANA answers a page to go to."""
        properties: dict[str, Any] = (
            {"mobile_number": payment.mobile_number}
            if terms.channel == "ID_OVO"
            else {"success_redirect_url": self._success_redirect_url.replace("{payment_id}", payment.id)}
        )
        document = await self._call(
            "POST",
            "/ewallets/charges",
            {
                "reference_id": payment.id,
                "currency": "IDR",
                "amount": payment.amount,
                "checkout_method": "ONE_TIME_PAYMENT",
                "channel_code": terms.channel,
                "channel_properties": properties,
                "metadata": {"checkout_id": payment.checkout_id},
            },
            idempotency_key=payment.id,
        )
        actions = document.get("actions")
        redirect = ""
        if isinstance(actions, dict):
            redirect = str(
                actions.get("desktop_web_checkout_url") or actions.get("mobile_web_checkout_url") or ""
            )
        return Opened(
            reference=str(document.get("id", "")),
            instructions=domain.Instructions(
                redirect_url=redirect, pay_page_url=str(document.get("pay_page_url", ""))
            ),
        )

    async def status(self, payment: domain.Payment, reference: str = "") -> ProviderStatus | None:
        """The charge's status, by its id (the payment's reference, or the callback's)."""
        charge_id = payment.provider_reference or reference
        if not charge_id:
            return None
        try:
            document = await self._call("GET", f"/ewallets/charges/{charge_id}")
        except ProviderRefused as refused:
            if "404" in str(refused):
                return None
            raise
        if str(document.get("reference_id", "")) != payment.id:
            return None  # another merchant payment's charge: it says nothing about this one
        status = str(document.get("status", ""))
        amount = document.get("capture_amount") if status == "SUCCEEDED" else document.get("charge_amount")
        return ProviderStatus(
            transaction_status=status.lower(),
            gross_amount=amount_of(amount if amount is not None else ""),
            reference=str(document.get("id", "")),
            document=document,
            # A succeeded charge was last updated when it succeeded.
            settled_at=_iso_time(document.get("updated")) if status == "SUCCEEDED" else None,
        )

    async def cancel(self, payment: domain.Payment) -> None:
        """Void a charge not paid."""
        if payment.provider_reference:
            await self._call("POST", f"/ewallets/charges/{payment.provider_reference}/void")

    async def refund(self, payment: domain.Payment, refund_key: str, amount: int, reason: str) -> None:
        """Refund part of a paid charge, once per (payment, refund key).

        Xendit's idempotency keys are the whole account's while a refund key is only unique within its
        payment, so the key names both: two payments' "r1" are two refunds, not one answered twice.
        """
        await self._call(
            "POST",
            "/refunds",
            {
                "reference_id": refund_key,
                "payment_request_id": payment.provider_reference,
                "amount": amount,
                "currency": "IDR",
                "reason": reason[:100],
            },
            idempotency_key=f"refund:{payment.id}:{refund_key}",
        )

    async def settlements(self, start: datetime, end: datetime) -> list[Settlement] | None:
        """Xendit's transactions of [start, end), every page: PAYMENT rows in, REFUND rows out.

        A PAYMENT row names the payment (its ``reference_id``); a REFUND row names the refund, and the
        charge it refunds only by the charge's id, which was usually paid on an earlier day: such a row
        is left for the ledger to tell whose charge it is.
        """
        data: list[dict[str, Any]] = []
        after = ""
        for _ in range(MAX_REPORT_PAGES):
            query = {
                "created[gte]": start.isoformat(),
                "created[lt]": end.isoformat(),
                "status": "SUCCESS",
                "limit": self._page_size,
            }
            document = await self._call(
                "GET", f"/transactions?{urlencode(query | ({'after_id': after} if after else {}))}"
            )
            page = [row for row in document.get("data", []) if isinstance(row, dict)]
            # Only money that moved: a pending or failed refund has not left the account.
            data += [row for row in page if row.get("status") == "SUCCESS"]
            if not document.get("has_more") or not page:
                break
            after = str(page[-1].get("id", ""))
        else:
            # A report cut short would read as money missing at the provider: refuse it whole instead.
            raise ProviderRefused(f"xendit: more than {MAX_REPORT_PAGES} pages of transactions in a day")
        by_charge = {
            str(row.get("payment_request_id", "")): str(row.get("reference_id", ""))
            for row in data
            if row.get("type") == "PAYMENT"
        }
        rows: list[Settlement] = []
        for row in data:
            charge = str(row.get("payment_request_id", ""))
            if row.get("type") == "PAYMENT":
                rows.append(Settlement(by_charge[charge], amount_of(row.get("amount", "")), charge))
            elif row.get("type") == "REFUND":
                rows.append(Settlement(by_charge.get(charge, ""), -amount_of(row.get("amount", "")), charge))
        return rows

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, idempotency_key: str = ""
    ) -> dict[str, Any]:
        return await call_json(
            self._http,
            "xendit",
            method,
            self._base + path,
            body,
            auth=self._auth,
            message_key="message",
            extra_headers={"idempotency-key": idempotency_key} if idempotency_key else None,
        )


class CashOnDelivery:
    """Cash on delivery: nothing to open anywhere; the courier collects, and delivery settles it."""

    code = domain.CASH_ON_DELIVERY

    async def charge(self, payment: domain.Payment, terms: domain.MethodTerms) -> Opened:
        """A reference of its own; the buyer pays the courier."""
        return Opened(reference=f"cod-{payment.id}", instructions=domain.Instructions())

    async def status(self, payment: domain.Payment, reference: str = "") -> ProviderStatus | None:
        """No provider has a word on it: delivery settles it (``settle_cash_on_delivery``)."""
        return None

    async def cancel(self, payment: domain.Payment) -> None:
        """Nothing to cancel anywhere."""

    async def refund(self, payment: domain.Payment, refund_key: str, amount: int, reason: str) -> None:
        """Cash collected goes back by the platform's own transfer; the ledger records it."""

    def notice(self, headers: dict[bytes, bytes], document: dict[str, Any]) -> Notice | None:
        """Nobody notifies about cash."""
        return None

    async def settlements(self, start: datetime, end: datetime) -> list[Settlement] | None:
        """Cash has no settlement report to compare with."""
        return None


async def call_json(
    http: httpx.AsyncClient,
    name: str,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    *,
    auth: str,
    message_key: str,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One JSON call to a provider: its answer, ProviderUnavailable (retry later) or ProviderRefused."""
    headers = {"authorization": auth, "accept": "application/json", "content-type": "application/json"}
    headers |= extra_headers or {}
    try:
        response = await http.request(
            method, url, content=orjson.dumps(body) if body is not None else None, headers=headers
        )
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"{name}: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{name} answered {response.status_code}")
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise ProviderUnavailable(f"{name}: the answer is not JSON") from exc
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{name}: the answer is not an object")
    if response.status_code >= 400:
        raise ProviderRefused(
            f"{name} answered {response.status_code}: {str(document.get(message_key, ''))[:200]}"
        )
    return document


def _instructions(document: dict[str, Any]) -> domain.Instructions:
    va_numbers = document.get("va_numbers")
    va = ""
    if isinstance(va_numbers, list) and va_numbers and isinstance(va_numbers[0], dict):
        va = str(va_numbers[0].get("va_number", ""))
    actions = document.get("actions")
    redirect = str(document.get("redirect_url", ""))
    if not redirect and isinstance(actions, list):
        redirect = next(
            (
                str(a.get("url", ""))
                for a in actions
                if isinstance(a, dict) and a.get("name") == "deeplink-redirect"
            ),
            "",
        )
    return domain.Instructions(
        va_number=va or str(document.get("bill_key", "")),
        biller_code=str(document.get("biller_code", "")),
        qr_string=str(document.get("qr_string", "")),
        redirect_url=redirect,
        payment_code=str(document.get("payment_code", "")),
        pay_page_url=str(document.get("pay_page_url", "")),
    )
