"""The ProductService servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.platform.context import current_principal, idempotency_key_var
from toko.product.v1 import product_pb2 as pb
from toko.product.v1 import product_pb2_grpc
from toko.services.product import handlers
from toko.services.product.handlers import Catalog
from toko.services.product.mapping import spec_from_create, spec_from_product, status_from_proto


class ProductServicer(product_pb2_grpc.ProductServiceServicer):
    """Serves the catalog over gRPC; access rules are enforced by the platform's interceptor."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    async def CreateCategory(
        self, request: pb.CreateCategoryRequest, context: Any
    ) -> pb.CreateCategoryResponse:
        """Add a category."""
        command = handlers.CreateCategory(parent_id=request.parent_id, name=request.name, slug=request.slug)
        category = await handlers.create_category(
            catalog=self._catalog, command=command, principal=current_principal()
        )
        return pb.CreateCategoryResponse(category=category)

    async def GetCategory(self, request: pb.GetCategoryRequest, context: Any) -> pb.GetCategoryResponse:
        """Return one category."""
        return pb.GetCategoryResponse(
            category=await handlers.get_category(catalog=self._catalog, category_id=request.id)
        )

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: Any
    ) -> pb.ListCategoriesResponse:
        """List categories."""
        page = await handlers.list_categories(
            catalog=self._catalog,
            parent_id=request.parent_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListCategoriesResponse(categories=page.items, next_page_token=page.next_page_token)

    async def CreateProduct(self, request: pb.CreateProductRequest, context: Any) -> pb.CreateProductResponse:
        """Add a product."""
        command = handlers.CreateProduct(shop_id=request.shop_id, spec=spec_from_create(request))
        product = await handlers.create_product(
            catalog=self._catalog,
            command=command,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.CreateProductResponse(product=product)

    async def GetProduct(self, request: pb.GetProductRequest, context: Any) -> pb.GetProductResponse:
        """Return a product by id."""
        product = await handlers.get_product(
            catalog=self._catalog, product_id=request.id, principal=current_principal()
        )
        return pb.GetProductResponse(product=product)

    async def GetProductBySlug(
        self, request: pb.GetProductBySlugRequest, context: Any
    ) -> pb.GetProductBySlugResponse:
        """Return a product by shop and slug."""
        product = await handlers.get_product_by_slug(
            catalog=self._catalog, shop_id=request.shop_id, slug=request.slug, principal=current_principal()
        )
        return pb.GetProductBySlugResponse(product=product)

    async def ListProducts(self, request: pb.ListProductsRequest, context: Any) -> pb.ListProductsResponse:
        """List products."""
        query = handlers.ListProducts(
            page_size=request.page_size,
            page_token=request.page_token,
            category_id=request.category_id,
            shop_id=request.shop_id,
            status=status_from_proto(request.status),
            min_price=request.min_price,
            max_price=request.max_price,
        )
        page = await handlers.list_products(catalog=self._catalog, query=query, principal=current_principal())
        return pb.ListProductsResponse(products=page.items, next_page_token=page.next_page_token)

    async def UpdateProduct(self, request: pb.UpdateProductRequest, context: Any) -> pb.UpdateProductResponse:
        """Change the masked fields of a product."""
        command = handlers.UpdateProduct(
            product_id=request.product.id,
            changes=spec_from_product(request.product),
            mask=tuple(request.update_mask.paths),
        )
        product = await handlers.update_product(
            catalog=self._catalog, command=command, principal=current_principal()
        )
        return pb.UpdateProductResponse(product=product)

    async def ArchiveProduct(
        self, request: pb.ArchiveProductRequest, context: Any
    ) -> pb.ArchiveProductResponse:
        """Archive a product."""
        product = await handlers.archive_product(
            catalog=self._catalog, product_id=request.id, principal=current_principal()
        )
        return pb.ArchiveProductResponse(product=product)

    async def BatchGetSkus(self, request: pb.BatchGetSkusRequest, context: Any) -> pb.BatchGetSkusResponse:
        """Return SKUs by id."""
        views = await handlers.batch_get_skus(
            catalog=self._catalog, sku_ids=list(request.ids), principal=current_principal()
        )
        return pb.BatchGetSkusResponse(skus=views)
