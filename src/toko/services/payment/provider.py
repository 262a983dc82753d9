"""Midtrans' Core API, as the payment service speaks it (the sandbox's stand-in under `make up`).

``POST /v2/charge`` opens a transaction whose order id is the payment's id (charging it again is
refused 406, and then its status says what the first charge made); ``GET /v2/{order_id}/status`` is
the provider's word on a transaction, which every notification is confirmed against;
``POST /v2/{order_id}/cancel`` and ``/refund``. Requests authenticate with HTTP Basic (the server key
as user); notifications carry ``signature_key`` = SHA512(order_id + status_code + gross_amount +
server key). The server key never reaches a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import segno

from toko.services.payment import domain

WIB = timezone(timedelta(hours=7))


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

    @property
    def state(self) -> domain.State | None:
        """What the status means here (None for one toko does not know)."""
        return domain.PROVIDER_STATES.get(self.transaction_status)


@dataclass(frozen=True)
class Opened:
    """A transaction the provider opened."""

    reference: str
    instructions: domain.Instructions


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


def transaction_time(document: dict[str, Any]) -> datetime | None:
    """When the provider says the transaction happened (its times are WIB), or None."""
    try:
        return datetime.strptime(str(document.get("transaction_time", "")), "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=WIB
        )
    except ValueError:
        return None


class Midtrans:
    """The provider's HTTP API."""

    code = domain.MIDTRANS

    def __init__(self, http: httpx.AsyncClient, base_url: str, server_key: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._server_key = server_key
        self._auth = "Basic " + base64.b64encode(f"{server_key}:".encode()).decode()

    def verify(self, document: dict[str, Any]) -> bool:
        """Whether a notification's signature is the provider's."""
        expected = hashlib.sha512(
            f"{document.get('order_id', '')}{document.get('status_code', '')}"
            f"{document.get('gross_amount', '')}{self._server_key}".encode()
        ).hexdigest()
        return hmac.compare_digest(expected, str(document.get("signature_key", "")))

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

    async def status(self, order_id: str) -> ProviderStatus | None:
        """The provider's word on a transaction, or None when it has none."""
        try:
            document = await self._call("GET", f"/v2/{order_id}/status")
        except ProviderRefused as refused:
            if "404" in str(refused):
                return None
            raise
        return ProviderStatus(
            transaction_status=str(document.get("transaction_status", "")),
            gross_amount=amount_of(document.get("gross_amount", "")),
            reference=str(document.get("transaction_id", "")),
            document=document,
        )

    async def cancel(self, order_id: str) -> None:
        """Cancel a pending transaction."""
        await self._call("POST", f"/v2/{order_id}/cancel")

    async def refund(self, order_id: str, refund_key: str, amount: int, reason: str) -> None:
        """Refund part of a settled transaction, once per refund key."""
        await self._call(
            "POST", f"/v2/{order_id}/refund", {"refund_key": refund_key, "amount": amount, "reason": reason}
        )

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {
            "authorization": self._auth,
            "accept": "application/json",
            "content-type": "application/json",
        }
        try:
            response = await self._http.request(
                method,
                self._base + path,
                content=orjson.dumps(body) if body is not None else None,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"midtrans: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ProviderUnavailable(f"midtrans answered {response.status_code}")
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ProviderUnavailable("midtrans: the answer is not JSON") from exc
        if not isinstance(document, dict):
            raise ProviderUnavailable("midtrans: the answer is not an object")
        if response.status_code >= 400:
            raise ProviderRefused(
                f"midtrans answered {response.status_code}: {str(document.get('status_message', ''))[:200]}"
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
