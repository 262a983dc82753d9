"""The stand-in providers' HTTP APIs and pages, under ``/payments/``.

- Midtrans' Core API shape under ``/payments/midtrans/v2/`` (HTTP Basic with the server key as user):
  ``POST charge``, ``GET {order_id}/status``, ``POST {order_id}/cancel``, ``POST {order_id}/refund``;
- Xendit's e-wallet API shape under ``/payments/xendit/`` (HTTP Basic with the secret key as user):
  ``POST ewallets/charges`` (``Idempotency-key`` header), ``GET ewallets/charges/{id}``,
  ``POST ewallets/charges/{id}/void``, ``POST refunds``;
- their settlement reports: Midtrans-shaped ``GET /payments/midtrans/v1/settlements?date=YYYY-MM-DD``
  (the day in WIB: transactions settled, refunds made) and Xendit's ``GET /payments/xendit/transactions
  ?created[gte]=…&created[lt]=…&status=SUCCESS&limit=N&after_id=…`` (PAYMENT rows by the payment's
  ``reference_id``, REFUND rows by the refund's, both with the charge's id as ``payment_request_id``;
  pages of ``limit`` rows, 1 to 500, 10 by default, ``has_more`` until the last, the next after the
  last row's id);
- a person's page per transaction, ``GET /payments/pay/{order_id}``: the amount and how to pay, with
  a Pay and a Fail button (plain forms, no JavaScript), and the card's 3-D Secure step on the same page;
- the control API tests and people use, ``POST /payments/simulate/{order_id}`` with
  ``{"outcome": "pay"|"fail"|"expire", "amount": N}`` (an amount reported differently from the
  charge's, to test mismatches), and ``POST /payments/faults`` with ``{"drop_notifications": N}`` and
  ``{"settlement_adjustments": {"<order id>": amount}}`` (a report stating another amount).
"""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, date, datetime, time, timedelta
from html import escape

import orjson

from toko.sandbox.asgi import Request, Response, Route
from toko.sandbox.payments.provider import WIB, Charge, ChargeRefused, Charges, amount_text

_PAGE = """<!doctype html>
<html lang="id"><head><meta charset="utf-8"><title>Sandbox pay · {order_id}</title></head>
<body>
<h1>Sandbox payment</h1>
<p>Order <code>{order_id}</code>: <strong>Rp {amount}</strong> by {method}.</p>
{how}
<p>Status: <strong>{status}</strong></p>
{buttons}
</body></html>
"""
_BUTTONS = """<form method="post" action="/payments/pay/{order_id}">
<input type="hidden" name="outcome" value="pay"><button type="submit">{pay_label}</button></form>
<form method="post" action="/payments/pay/{order_id}">
<input type="hidden" name="outcome" value="fail"><button type="submit">Fail</button></form>"""


def _authorized(request: Request, server_key: str) -> bool:
    header = request.headers.get("authorization", "")
    expected = "Basic " + base64.b64encode(f"{server_key}:".encode()).decode()
    return hmac.compare_digest(header, expected)


def _charge_answer(charge: Charge, base_url: str) -> dict[str, object]:
    document = charge.status_document()
    pay_page = f"{base_url}/payments/pay/{charge.order_id}"
    if charge.payment_type in ("qris", "gopay", "shopeepay"):
        document["qr_string"] = (
            f"00020101021226620014ID.CO.QRIS.WWW0118{charge.transaction_id[:18]}5204581253033605405{charge.gross_amount}5802ID6304"
        )
        document["actions"] = [
            {"name": "generate-qr-code", "method": "GET", "url": pay_page},
            {"name": "deeplink-redirect", "method": "GET", "url": pay_page},
        ]
    if charge.payment_type == "credit_card":
        document["redirect_url"] = pay_page
    if charge.payment_type == "echannel":
        document["bill_key"], document["biller_code"] = charge.va_number, "70012"
        document.pop("va_numbers", None)
    document["pay_page_url"] = pay_page
    return document


def payment_routes(
    charges: Charges, *, server_key: str, xendit_secret_key: str, base_url: str
) -> list[Route]:
    """The stand-in providers' routes."""

    def refused(exc: ChargeRefused) -> Response:
        return Response.json({"status_code": str(exc.status), "status_message": str(exc)}, status=exc.status)

    def unauthorized() -> Response:
        return Response.json(
            {"status_code": "401", "status_message": "Access denied: unknown server key"}, 401
        )

    def body_of(request: Request) -> dict[str, object]:
        try:
            document = orjson.loads(request.body or b"{}")
        except orjson.JSONDecodeError:
            raise ChargeRefused(400, "the body is not JSON") from None
        if not isinstance(document, dict):
            raise ChargeRefused(400, "the body is not a JSON object")
        return document

    async def charge(request: Request) -> Response:
        if not _authorized(request, server_key):
            return unauthorized()
        try:
            made = charges.charge(body_of(request))
        except ChargeRefused as exc:
            return refused(exc)
        return Response.json(_charge_answer(made, base_url), status=201)

    async def status(request: Request) -> Response:
        if not _authorized(request, server_key):
            return unauthorized()
        found = charges.get(request.params["order_id"])
        if found is None:
            return Response.json({"status_code": "404", "status_message": "Transaction doesn't exist."}, 404)
        return Response.json(found.status_document())

    async def cancel(request: Request) -> Response:
        if not _authorized(request, server_key):
            return unauthorized()
        try:
            return Response.json(charges.cancel(request.params["order_id"]).status_document())
        except ChargeRefused as exc:
            return refused(exc)

    async def refund(request: Request) -> Response:
        if not _authorized(request, server_key):
            return unauthorized()
        try:
            body = body_of(request)
            key = str(body.get("refund_key", "")).strip()
            amount = int(float(str(body.get("amount", "0"))))
            if not key:
                raise ChargeRefused(400, "refund_key is required")
            done = charges.refund(request.params["order_id"], key, amount)
        except (ChargeRefused, ValueError) as exc:
            return refused(
                exc if isinstance(exc, ChargeRefused) else ChargeRefused(400, "amount must be a number")
            )
        return Response.json(
            {
                "status_code": "200",
                "status_message": "Success, refund request is approved",
                "order_id": done.order_id,
                "refund_key": key,
                "refund_amount": amount_text(done.refunds[key]),
            }
        )

    def xendit_refused(exc: ChargeRefused) -> Response:
        code, _, message = str(exc).partition(": ")
        return Response.json(
            {"error_code": code if message else "API_VALIDATION_ERROR", "message": message or str(exc)},
            status=exc.status,
        )

    def xendit_unauthorized() -> Response:
        return Response.json({"error_code": "INVALID_API_KEY", "message": "API key is invalid"}, 401)

    async def ewallet_charge(request: Request) -> Response:
        if not _authorized(request, xendit_secret_key):
            return xendit_unauthorized()
        try:
            made = charges.charge_ewallet(body_of(request), request.headers.get("idempotency-key", ""))
        except ChargeRefused as exc:
            return xendit_refused(exc)
        document = made.xendit_document()
        pay_page = f"{base_url}/payments/pay/{made.order_id}"
        document["actions"] = (
            {"desktop_web_checkout_url": pay_page, "mobile_web_checkout_url": pay_page}
            if made.channel_code == "ID_DANA"
            else None
        )
        document["pay_page_url"] = pay_page
        return Response.json(document, status=202)

    async def ewallet_status(request: Request) -> Response:
        if not _authorized(request, xendit_secret_key):
            return xendit_unauthorized()
        found = charges.by_charge_id(request.params["charge_id"])
        if found is None:
            return xendit_refused(ChargeRefused(404, "DATA_NOT_FOUND: no such charge"))
        return Response.json(found.xendit_document())

    async def ewallet_void(request: Request) -> Response:
        if not _authorized(request, xendit_secret_key):
            return xendit_unauthorized()
        found = charges.by_charge_id(request.params["charge_id"])
        if found is None:
            return xendit_refused(ChargeRefused(404, "DATA_NOT_FOUND: no such charge"))
        try:
            return Response.json(charges.cancel(found.order_id).xendit_document())
        except ChargeRefused as exc:
            return xendit_refused(ChargeRefused(400, f"INVALID_STATUS: {exc}"))

    async def xendit_refund(request: Request) -> Response:
        if not _authorized(request, xendit_secret_key):
            return xendit_unauthorized()
        try:
            body = body_of(request)
            key = str(body.get("reference_id", "")).strip()
            amount = body.get("amount")
            if not key:
                raise ChargeRefused(400, "API_VALIDATION_ERROR: reference_id is required")
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise ChargeRefused(400, "API_VALIDATION_ERROR: amount must be a whole number")
            done, key = charges.refund_by_charge(
                str(body.get("payment_request_id", "")),
                key,
                amount,
                request.headers.get("idempotency-key", ""),
            )
        except ChargeRefused as exc:
            return xendit_refused(exc)
        return Response.json(
            {
                "id": f"rfd_{key}",
                "reference_id": key,
                "payment_request_id": done.transaction_id,
                "amount": done.refunds[key],
                "currency": "IDR",
                "status": "SUCCEEDED",
            }
        )

    async def simulate(request: Request) -> Response:
        try:
            body = body_of(request)
            amount = body.get("amount")
            at = body.get("settledAt")
            settled = charges.settle(
                request.params["order_id"],
                str(body.get("outcome", "")),
                amount=int(str(amount)) if amount is not None else None,
                at=_aware(str(at)) if at is not None else None,
            )
        except (ChargeRefused, ValueError) as exc:
            return refused(
                exc
                if isinstance(exc, ChargeRefused)
                else ChargeRefused(
                    400, "amount must be a whole number, settledAt an ISO 8601 time with its offset"
                )
            )
        return Response.json(settled.status_document())

    async def faults(request: Request) -> Response:
        try:
            body = body_of(request)
            if "drop_notifications" in body:
                charges.notifier.drop_next = max(0, int(str(body.get("drop_notifications", 0))))
            adjustments = body.get("settlement_adjustments", {})
            if not isinstance(adjustments, dict):
                raise ValueError
            charges.adjustments |= {str(k): int(str(v)) for k, v in adjustments.items()}
        except (ChargeRefused, ValueError):
            return Response.json(
                {"error": "drop_notifications must be a whole number, settlement_adjustments an object"}, 400
            )
        return Response.json(
            {"drop_notifications": charges.notifier.drop_next, "settlement_adjustments": charges.adjustments}
        )

    def report_day(text: str) -> tuple[datetime, datetime]:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ChargeRefused(400, "date must be YYYY-MM-DD") from None
        start = datetime.combine(day, time.min, tzinfo=WIB)
        return start, start + timedelta(days=1)

    async def midtrans_settlements(request: Request) -> Response:
        if not _authorized(request, server_key):
            return unauthorized()
        try:
            start, end = report_day(request.query.get("date", ""))
        except ChargeRefused as exc:
            return refused(exc)
        rows = charges.settled_between("midtrans", start, end)
        return Response.json(
            {
                "date": start.date().isoformat(),
                "transactions": [
                    {
                        "order_id": row.charge.order_id,
                        "transaction_id": row.reference,
                        "gross_amount": amount_text(row.amount),
                        "settlement_time": row.at.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S"),
                    }
                    for row in rows
                    if row.kind == "payment"
                ],
                "refunds": [
                    {
                        "order_id": row.charge.order_id,
                        "refund_key": row.reference,
                        "refund_amount": amount_text(row.amount),
                        "refund_time": row.at.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S"),
                    }
                    for row in rows
                    if row.kind == "refund"
                ],
            }
        )

    async def xendit_transactions(request: Request) -> Response:
        if not _authorized(request, xendit_secret_key):
            return xendit_unauthorized()
        try:
            start = datetime.fromisoformat(request.query.get("created[gte]", ""))
            end = datetime.fromisoformat(request.query.get("created[lt]", ""))
        except ValueError:
            return xendit_refused(
                ChargeRefused(400, "API_VALIDATION_ERROR: created[gte] and created[lt] are times")
            )
        if request.query.get("status", "SUCCESS") != "SUCCESS":
            # Every transaction the sandbox lists has succeeded (its refunds are made at once).
            return Response.json({"has_more": False, "data": []})
        limit_text = request.query.get("limit", "10")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 500:
            return xendit_refused(ChargeRefused(400, "API_VALIDATION_ERROR: limit is 1 to 500"))
        data = [
            {
                # A refund's reference is only unique within its charge: its id names both.
                "id": f"txn_{row.charge.transaction_id}"
                if row.kind == "payment"
                else f"txn_{row.charge.transaction_id}_{row.reference}",
                "reference_id": row.charge.order_id if row.kind == "payment" else row.reference,
                "payment_request_id": row.charge.transaction_id,
                "type": "PAYMENT" if row.kind == "payment" else "REFUND",
                "status": "SUCCESS",
                "amount": row.amount,
                "currency": "IDR",
                "created": row.at.isoformat(),
            }
            for row in charges.settled_between("xendit", start, end)
        ]
        after = request.query.get("after_id", "")
        if after:
            ids = [row["id"] for row in data]
            if after not in ids:
                return xendit_refused(
                    ChargeRefused(400, "API_VALIDATION_ERROR: after_id is not a transaction")
                )
            data = data[ids.index(after) + 1 :]
        limit = int(limit_text)
        return Response.json({"has_more": len(data) > limit, "data": data[:limit]})

    async def page(request: Request) -> Response:
        found = charges.get(request.params["order_id"])
        if found is None:
            return Response.html("<!doctype html><title>Not found</title><p>No such transaction.</p>", 404)
        return Response.html(_page(found))

    async def pay(request: Request) -> Response:
        outcome = request.form().get("outcome", "")
        try:
            settled = charges.settle(request.params["order_id"], outcome)
        except ChargeRefused as exc:
            found = charges.get(request.params["order_id"])
            message = f"<!doctype html><title>Refused</title><p>{escape(str(exc))}</p>"
            return Response.html(_page(found) if found else message, exc.status)
        return Response.html(_page(settled))

    return [
        Route("POST", "/payments/midtrans/v2/charge", charge),
        Route("GET", "/payments/midtrans/v2/{order_id}/status", status),
        Route("POST", "/payments/midtrans/v2/{order_id}/cancel", cancel),
        Route("POST", "/payments/midtrans/v2/{order_id}/refund", refund),
        Route("POST", "/payments/xendit/ewallets/charges", ewallet_charge),
        Route("GET", "/payments/xendit/ewallets/charges/{charge_id}", ewallet_status),
        Route("POST", "/payments/xendit/ewallets/charges/{charge_id}/void", ewallet_void),
        Route("POST", "/payments/xendit/refunds", xendit_refund),
        Route("GET", "/payments/midtrans/v1/settlements", midtrans_settlements),
        Route("GET", "/payments/xendit/transactions", xendit_transactions),
        Route("POST", "/payments/simulate/{order_id}", simulate),
        Route("POST", "/payments/faults", faults),
        Route("GET", "/payments/pay/{order_id}", page),
        Route("POST", "/payments/pay/{order_id}", pay),
    ]


def _page(charge: Charge) -> str:
    if charge.va_number:
        bank, number = escape(charge.bank.upper()), escape(charge.va_number)
        how = f"<p>Transfer to {bank} virtual account <code>{number}</code>.</p>"
    elif charge.payment_code:
        store, code = escape(charge.store.title()), escape(charge.payment_code)
        how = f"<p>Pay at {store} with code <code>{code}</code>.</p>"
    elif charge.payment_type == "credit_card":
        how = "<p>3-D Secure: your bank asks you to confirm this payment.</p>"
    elif charge.channel_code == "ID_OVO":
        how = f"<p>OVO: approve the payment pushed to <code>{escape(charge.mobile_number)}</code>.</p>"
    elif charge.channel_code == "ID_DANA":
        how = "<p>DANA: sign in and confirm the payment.</p>"
    else:
        how = "<p>Scan the QR code with any bank or e-wallet app.</p>"
    if charge.success_redirect_url and charge.status in ("settlement", "capture"):
        # DANA sends the buyer back to the shop once paid.
        how += f'<p><a href="{escape(charge.success_redirect_url)}">Back to the shop</a></p>'
    label = "Confirm (3-D Secure)" if charge.payment_type == "credit_card" else "Pay"
    buttons = (
        _BUTTONS.format(order_id=escape(charge.order_id), pay_label=label)
        if charge.status == "pending"
        else ""
    )
    return _PAGE.format(
        order_id=escape(charge.order_id),
        amount=f"{charge.gross_amount:,}".replace(",", "."),
        method=escape(charge.payment_type.replace("_", " ")),
        how=how,
        status=escape(charge.status),
        buttons=buttons,
    )


def _aware(text: str) -> datetime:
    """An ISO 8601 time with its offset, in UTC; one without an offset is refused (whose day is it?)."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(text)
    return parsed.astimezone(UTC)
