"""Quotes and price history, public: what a cart costs at an instant, and what a SKU cost before.

A quote holds until its time-to-live runs out or a schedule or campaign window of
one of its SKUs opens or closes, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from toko.platform.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from toko.platform.ids import is_id, require_id
from toko.platform.pagination import Page, PageSpec, decode_token, encode_token
from toko.platform.rules import Violation
from toko.platform.validation import invalid
from toko.product.v1 import pricing_pb2 as ppb
from toko.services.product.domain import pricing as domain
from toko.services.product.domain.catalog import CURRENCY
from toko.services.product.error_codes import ErrorCode
from toko.services.product.handlers.common import Catalog, time_key
from toko.services.product.mapping.common import money, timestamp
from toko.services.product.mapping.pricing import (
    PRICE_SOURCE_TO_PROTO,
    change_to_proto,
    countdown,
    next_tier_to_proto,
)
from toko.services.product.repository.pricing import PricingRepository

HISTORY_PAGES = PageSpec(default=50, maximum=200)
FOR_SALE = "active"


@dataclass(frozen=True)
class QuoteLine:
    """A SKU and how many units of it."""

    sku_id: str
    quantity: int
    without_campaign: bool = False


async def quote_prices(
    *, catalog: Catalog, lines: Sequence[QuoteLine], at: datetime | None = None, buyer_id: str = ""
) -> ppb.QuotePricesResponse:
    """Price a cart at ``at`` (now by default): one round trip to PostgreSQL for every line.

    ``buyer_id``, when given, must be a user id; no price depends on the buyer (yet), so it is
    checked and otherwise unused.
    """
    now = catalog.clock()
    instant = at or now
    _check_request(lines, buyer_id)
    async with catalog.database.single_reads() as session:
        found = await PricingRepository(session).quote_facts([line.sku_id for line in lines], instant)
    unknown = [line.sku_id for line in lines if line.sku_id not in found]
    if unknown:
        missing = [
            FieldViolation(f"lines[{i}].sku_id", "no such SKU", ErrorCode.SKU_NOT_FOUND)
            for i, line in enumerate(lines)
            if line.sku_id not in found
        ]
        raise NotFound(ErrorCode.SKU_NOT_FOUND, f"no SKU {', '.join(unknown)}", missing)
    off_sale = [
        FieldViolation(f"lines[{i}].sku_id", "is not for sale", ErrorCode.SKU_NOT_FOR_SALE)
        for i, line in enumerate(lines)
        if found[line.sku_id].status != FOR_SALE
    ]
    if off_sale:
        raise FailedPrecondition(ErrorCode.SKU_NOT_FOR_SALE, "a SKU of the quote is not for sale", off_sale)
    boundaries: list[datetime] = []
    quoted: list[ppb.QuotedLine] = []
    total = 0
    for line in lines:
        facts = found[line.sku_id]
        with_campaign = not line.without_campaign
        resolved = domain.resolve(
            facts.facts, at=instant, quantity=line.quantity, with_campaign=with_campaign
        )
        next_tier = domain.next_tier(
            facts.facts, at=instant, quantity=line.quantity, with_campaign=with_campaign
        )
        boundaries.extend(domain.boundaries_of(facts.facts))
        if facts.next_start is not None:
            boundaries.append(facts.next_start)
        line_total = resolved.total(line.quantity)
        total += line_total
        message = ppb.QuotedLine(
            sku_id=line.sku_id,
            quantity=line.quantity,
            unit_price=money(resolved.unit_price, facts.currency),
            line_total=money(line_total, facts.currency),
            source=PRICE_SOURCE_TO_PROTO[resolved.source],
            rule_id=resolved.rule_id or "",
            base_price=money(facts.facts.base, facts.currency),
            lowest_price_30d=money(facts.lowest_30d, facts.currency),
            product_id=facts.product_id,
            shop_id=facts.shop_id,
        )
        if resolved.campaign is not None:
            message.campaign_countdown.CopyFrom(countdown(resolved.campaign.window, instant))
            message.per_buyer_limit = resolved.campaign.per_buyer_limit
        if next_tier is not None:
            message.next_tier.CopyFrom(next_tier_to_proto(next_tier, facts.currency))
        quoted.append(message)
    expiry = domain.quote_expiry(instant, catalog.quote_ttl, boundaries)
    return ppb.QuotePricesResponse(
        lines=quoted,
        total=money(total, CURRENCY),
        quote_time=timestamp(instant),
        expire_time=timestamp(expiry),
    )


def _check_request(lines: Sequence[QuoteLine], buyer_id: str) -> None:
    if not lines:
        raise InvalidArgument.field("lines", "name at least one line", ErrorCode.INVALID_QUANTITY)
    if len(lines) > domain.MAX_QUOTE_LINES:
        raise InvalidArgument.field(
            "lines", f"at most {domain.MAX_QUOTE_LINES} lines", ErrorCode.TOO_MANY_LINES
        )
    problems: list[Violation] = []
    if buyer_id and not is_id(buyer_id):
        problems.append(Violation("buyer_id", "must be a UUID (a user id)", ErrorCode.INVALID_ID))
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if not is_id(line.sku_id):
            problems.append(Violation(f"lines[{i}].sku_id", "must be a UUID", ErrorCode.INVALID_ID))
        elif line.sku_id in seen:
            # One line per SKU, or two lines could each stay within a campaign's per-buyer limit.
            problems.append(Violation(f"lines[{i}].sku_id", "has a line already", ErrorCode.DUPLICATE_LINE))
        seen.add(line.sku_id)
        problems.extend(domain.check_quantity(line.quantity, f"lines[{i}].quantity"))
    if problems:
        raise invalid(problems)


async def get_price_history(
    *, catalog: Catalog, sku_id: str, page_size: int = 0, page_token: str = ""
) -> tuple[Page[ppb.PriceChange], int]:
    """A SKU's price changes, newest first, and its lowest 30-day price."""
    require_id(sku_id, "sku_id")
    size = HISTORY_PAGES.size(page_size)
    filters = [sku_id]
    key = decode_token(page_token, filters, 2)
    before = time_key(key)
    async with catalog.database.sessions() as session:
        repository = PricingRepository(session)
        lowest = await repository.lowest_30d(sku_id, catalog.clock())
        if lowest is None:
            raise NotFound(ErrorCode.SKU_NOT_FOUND, f"no SKU {sku_id}")
        rows = await repository.history(sku_id, before=before, limit=size + 1)
    token = ""
    if len(rows) > size:
        last = rows[size - 1]
        token = encode_token([last.changed_at.isoformat(), last.id], filters)
    return Page([change_to_proto(row) for row in rows[:size]], token), lowest
