"""The ProductService servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from toko.platform.context import current_principal, idempotency_key_var
from toko.product.v1 import pricing_pb2 as ppb
from toko.product.v1 import product_pb2 as pb
from toko.product.v1 import product_pb2_grpc
from toko.services.product.domain.pricing import Window
from toko.services.product.handlers import Catalog, campaigns, catalog, pricing, quotes, schedules
from toko.services.product.mapping.catalog import (
    condition_from_proto,
    spec_from_create,
    spec_from_product,
    status_from_proto,
)
from toko.services.product.mapping.common import money
from toko.services.product.mapping.pricing import rules_from_proto, tiers_from_proto


class ProductServicer(product_pb2_grpc.ProductServiceServicer):
    """Serves the catalog over gRPC; access rules are enforced by the platform's interceptor."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    async def CreateCategory(
        self, request: pb.CreateCategoryRequest, context: Any
    ) -> pb.CreateCategoryResponse:
        """Add a category."""
        command = catalog.CreateCategory(parent_id=request.parent_id, name=request.name, slug=request.slug)
        category = await catalog.create_category(
            catalog=self._catalog, command=command, principal=current_principal()
        )
        return pb.CreateCategoryResponse(category=category)

    async def GetCategory(self, request: pb.GetCategoryRequest, context: Any) -> pb.GetCategoryResponse:
        """Return one category."""
        return pb.GetCategoryResponse(
            category=await catalog.get_category(catalog=self._catalog, category_id=request.id)
        )

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: Any
    ) -> pb.ListCategoriesResponse:
        """List categories."""
        page = await catalog.list_categories(
            catalog=self._catalog,
            parent_id=request.parent_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListCategoriesResponse(categories=page.items, next_page_token=page.next_page_token)

    async def CreateProduct(self, request: pb.CreateProductRequest, context: Any) -> pb.CreateProductResponse:
        """Add a product."""
        command = catalog.CreateProduct(shop_id=request.shop_id, spec=spec_from_create(request))
        product = await catalog.create_product(
            catalog=self._catalog,
            command=command,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.CreateProductResponse(product=product)

    async def GetProduct(self, request: pb.GetProductRequest, context: Any) -> pb.GetProductResponse:
        """Return a product by id."""
        product = await catalog.get_product(
            catalog=self._catalog, product_id=request.id, principal=current_principal()
        )
        return pb.GetProductResponse(product=product)

    async def GetProductBySlug(
        self, request: pb.GetProductBySlugRequest, context: Any
    ) -> pb.GetProductBySlugResponse:
        """Return a product by shop and slug."""
        product = await catalog.get_product_by_slug(
            catalog=self._catalog, shop_id=request.shop_id, slug=request.slug, principal=current_principal()
        )
        return pb.GetProductBySlugResponse(product=product)

    async def ListProducts(self, request: pb.ListProductsRequest, context: Any) -> pb.ListProductsResponse:
        """List products."""
        query = catalog.ListProducts(
            page_size=request.page_size,
            page_token=request.page_token,
            category_id=request.category_id,
            shop_id=request.shop_id,
            status=status_from_proto(request.status),
            min_price=request.min_price,
            max_price=request.max_price,
            order_by=request.order_by,
            condition=condition_from_proto(request.condition),
        )
        page = await catalog.list_products(catalog=self._catalog, query=query, principal=current_principal())
        return pb.ListProductsResponse(products=page.items, next_page_token=page.next_page_token)

    async def UpdateProduct(self, request: pb.UpdateProductRequest, context: Any) -> pb.UpdateProductResponse:
        """Change the masked fields of a product."""
        command = catalog.UpdateProduct(
            product_id=request.product.id,
            changes=spec_from_product(request.product),
            mask=tuple(request.update_mask.paths),
        )
        product = await catalog.update_product(
            catalog=self._catalog, command=command, principal=current_principal()
        )
        return pb.UpdateProductResponse(product=product)

    async def ArchiveProduct(
        self, request: pb.ArchiveProductRequest, context: Any
    ) -> pb.ArchiveProductResponse:
        """Archive a product."""
        product = await catalog.archive_product(
            catalog=self._catalog, product_id=request.id, principal=current_principal()
        )
        return pb.ArchiveProductResponse(product=product)

    async def BatchGetSkus(self, request: pb.BatchGetSkusRequest, context: Any) -> pb.BatchGetSkusResponse:
        """Return SKUs by id."""
        views = await catalog.batch_get_skus(
            catalog=self._catalog, sku_ids=list(request.ids), principal=current_principal()
        )
        return pb.BatchGetSkusResponse(skus=views)

    # --- pricing ------------------------------------------------------------------------------------------

    async def QuotePrices(self, request: ppb.QuotePricesRequest, context: Any) -> ppb.QuotePricesResponse:
        """Price a cart."""
        lines = [
            quotes.QuoteLine(line.sku_id, line.quantity, line.without_campaign) for line in request.lines
        ]
        at = _instant(request.at) if request.HasField("at") else None
        return await quotes.quote_prices(catalog=self._catalog, lines=lines, at=at, buyer_id=request.buyer_id)

    async def GetPriceHistory(
        self, request: ppb.GetPriceHistoryRequest, context: Any
    ) -> ppb.GetPriceHistoryResponse:
        """List a SKU's price changes."""
        page, lowest = await quotes.get_price_history(
            catalog=self._catalog,
            sku_id=request.sku_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return ppb.GetPriceHistoryResponse(
            changes=page.items,
            next_page_token=page.next_page_token,
            lowest_price_30d=money(lowest),
        )

    async def GetSkuPricing(
        self, request: ppb.GetSkuPricingRequest, context: Any
    ) -> ppb.GetSkuPricingResponse:
        """Return a SKU's pricing."""
        found = await pricing.get_sku_pricing(
            catalog=self._catalog, sku_id=request.sku_id, principal=current_principal()
        )
        return ppb.GetSkuPricingResponse(pricing=found)

    async def SetPriceBounds(
        self, request: ppb.SetPriceBoundsRequest, context: Any
    ) -> ppb.SetPriceBoundsResponse:
        """Set a SKU's floor and ceiling."""
        changed = await pricing.set_price_bounds(
            catalog=self._catalog,
            sku_id=request.sku_id,
            floor=request.floor_price.amount or None,
            ceiling=request.ceiling_price.amount or None,
            principal=current_principal(),
        )
        return ppb.SetPriceBoundsResponse(pricing=changed)

    async def SetQuantityTiers(
        self, request: ppb.SetQuantityTiersRequest, context: Any
    ) -> ppb.SetQuantityTiersResponse:
        """Replace a SKU's wholesale tiers."""
        changed = await pricing.set_quantity_tiers(
            catalog=self._catalog,
            sku_id=request.sku_id,
            tiers=tiers_from_proto(request.tiers),
            principal=current_principal(),
        )
        return ppb.SetQuantityTiersResponse(pricing=changed)

    async def SetDynamicRules(
        self, request: ppb.SetDynamicRulesRequest, context: Any
    ) -> ppb.SetDynamicRulesResponse:
        """Replace a SKU's dynamic rules."""
        changed = await pricing.set_dynamic_rules(
            catalog=self._catalog,
            sku_id=request.sku_id,
            rules=rules_from_proto(request.rules),
            principal=current_principal(),
        )
        return ppb.SetDynamicRulesResponse(pricing=changed)

    async def CreatePriceSchedule(
        self, request: ppb.CreatePriceScheduleRequest, context: Any
    ) -> ppb.CreatePriceScheduleResponse:
        """Schedule a price."""
        schedule = await schedules.create_price_schedule(
            catalog=self._catalog,
            sku_id=request.sku_id,
            price=request.price.amount,
            currency=request.price.currency,
            window=Window(_instant(request.start_time), _instant(request.end_time)),
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return ppb.CreatePriceScheduleResponse(schedule=schedule)

    async def ListPriceSchedules(
        self, request: ppb.ListPriceSchedulesRequest, context: Any
    ) -> ppb.ListPriceSchedulesResponse:
        """List a SKU's schedules."""
        page = await schedules.list_price_schedules(
            catalog=self._catalog,
            sku_id=request.sku_id,
            principal=current_principal(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return ppb.ListPriceSchedulesResponse(schedules=page.items, next_page_token=page.next_page_token)

    async def CancelPriceSchedule(
        self, request: ppb.CancelPriceScheduleRequest, context: Any
    ) -> ppb.CancelPriceScheduleResponse:
        """Cancel a schedule."""
        schedule = await schedules.cancel_price_schedule(
            catalog=self._catalog, schedule_id=request.id, principal=current_principal()
        )
        return ppb.CancelPriceScheduleResponse(schedule=schedule)

    async def CreateCampaign(
        self, request: ppb.CreateCampaignRequest, context: Any
    ) -> ppb.CreateCampaignResponse:
        """Create a flash-sale campaign."""
        campaign = await campaigns.create_campaign(
            catalog=self._catalog,
            name=request.name,
            window=Window(_instant(request.start_time), _instant(request.end_time)),
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return ppb.CreateCampaignResponse(campaign=campaign)

    async def GetCampaign(self, request: ppb.GetCampaignRequest, context: Any) -> ppb.GetCampaignResponse:
        """Return a campaign."""
        return ppb.GetCampaignResponse(
            campaign=await campaigns.get_campaign(catalog=self._catalog, campaign_id=request.id)
        )

    async def ListCampaigns(
        self, request: ppb.ListCampaignsRequest, context: Any
    ) -> ppb.ListCampaignsResponse:
        """List campaigns."""
        page = await campaigns.list_campaigns(
            catalog=self._catalog,
            page_size=request.page_size,
            page_token=request.page_token,
            include_ended=request.include_ended,
        )
        return ppb.ListCampaignsResponse(campaigns=page.items, next_page_token=page.next_page_token)

    async def AddCampaignSkus(
        self, request: ppb.AddCampaignSkusRequest, context: Any
    ) -> ppb.AddCampaignSkusResponse:
        """Add SKUs to a campaign."""
        campaign = await campaigns.add_campaign_skus(
            catalog=self._catalog,
            campaign_id=request.campaign_id,
            skus=[
                campaigns.NewCampaignSku(
                    sku_id=s.sku_id,
                    campaign_price=s.campaign_price.amount,
                    currency=s.campaign_price.currency,
                    quota=s.quota,
                    per_buyer_limit=s.per_buyer_limit,
                )
                for s in request.skus
            ],
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return ppb.AddCampaignSkusResponse(campaign=campaign)


def _instant(stamp: Timestamp) -> datetime:
    """A timestamp as an aware UTC datetime (an unset one is the epoch, which the rules refuse)."""
    return stamp.ToDatetime(tzinfo=UTC)
