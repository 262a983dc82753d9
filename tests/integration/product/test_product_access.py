"""Who may write which products, with access tokens as the auth service issues them."""

from __future__ import annotations

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from product_testkit import ADMIN, as_buyer, as_seller, failure, new_product_request, new_shop

from toko.platform.testing_auth import TokenIssuer, bearer, mint_token
from toko.product.v1 import product_pb2 as pb
from toko.product.v1 import product_pb2_grpc

Stub = product_pb2_grpc.ProductServiceStub
DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def _rename(product_id: str, title: str) -> pb.UpdateProductRequest:
    return pb.UpdateProductRequest(
        product=pb.Product(id=product_id, title=title), update_mask=FieldMask(paths=["title"])
    )


async def test_a_seller_writes_the_products_of_their_own_shop(stub: Stub, category: pb.Category) -> None:
    shop = new_shop()
    seller = as_seller(shop)

    created = (await stub.CreateProduct(new_product_request(shop, category.id), metadata=seller)).product
    renamed = (await stub.UpdateProduct(_rename(created.id, "Kaos Polos Baru"), metadata=seller)).product
    archived = (await stub.ArchiveProduct(pb.ArchiveProductRequest(id=created.id), metadata=seller)).product

    assert created.shop_id == shop
    assert renamed.title == "Kaos Polos Baru"
    assert archived.status == pb.PRODUCT_STATUS_ARCHIVED


async def test_a_seller_cannot_touch_another_shops_products(stub: Stub, category: pb.Category) -> None:
    shop_a, shop_b = new_shop(), new_shop()
    seller_a = as_seller(shop_a)
    theirs = (await stub.CreateProduct(new_product_request(shop_b, category.id), metadata=ADMIN)).product

    create = await failure(stub.CreateProduct(new_product_request(shop_b, category.id), metadata=seller_a))
    update = await failure(stub.UpdateProduct(_rename(theirs.id, "Punya Saya Sekarang"), metadata=seller_a))
    archive = await failure(stub.ArchiveProduct(pb.ArchiveProductRequest(id=theirs.id), metadata=seller_a))

    assert create[:2] == update[:2] == archive[:2] == (DENIED, "NOT_SHOP_OWNER")
    unchanged = (await stub.GetProduct(pb.GetProductRequest(id=theirs.id))).product
    assert unchanged == theirs
    listed = await stub.ListProducts(pb.ListProductsRequest(shop_id=shop_b))
    assert [p.id for p in listed.products] == [theirs.id]


async def test_a_buyer_cannot_call_seller_rpcs(stub: Stub, category: pb.Category) -> None:
    shop = new_shop()
    product = (await stub.CreateProduct(new_product_request(shop, category.id), metadata=ADMIN)).product
    buyer = as_buyer()

    create = await failure(stub.CreateProduct(new_product_request(shop, category.id), metadata=buyer))
    update = await failure(stub.UpdateProduct(_rename(product.id, "Dibajak"), metadata=buyer))
    archive = await failure(stub.ArchiveProduct(pb.ArchiveProductRequest(id=product.id), metadata=buyer))
    category_write = await failure(
        stub.CreateCategory(pb.CreateCategoryRequest(name="Curang"), metadata=buyer)
    )

    assert create[:2] == update[:2] == archive[:2] == category_write[:2] == (DENIED, "ROLE_REQUIRED")
    assert (await stub.GetProduct(pb.GetProductRequest(id=product.id))).product == product


async def test_a_seller_token_without_the_catalog_scope_is_refused(stub: Stub, category: pb.Category) -> None:
    shop = new_shop()
    without_scope = as_seller(shop, scopes=("openid", "account"))

    code, reason, _ = await failure(
        stub.CreateProduct(new_product_request(shop, category.id), metadata=without_scope)
    )

    assert (code, reason) == (DENIED, "SCOPE_REQUIRED")


async def test_forged_and_expired_tokens_are_refused(stub: Stub, category: pb.Category) -> None:
    shop = new_shop()
    forged = TokenIssuer().mint(sub="mallory", roles=["admin"], scopes=["catalog.write"])
    expired = mint_token(sub="admin-1", roles=["admin"], scopes=["catalog.write"], exp_in=-120)
    wrong_audience = mint_token(sub="admin-1", roles=["admin"], scopes=["catalog.write"], aud="another-api")

    for token in (forged, expired, wrong_audience):
        request = new_product_request(shop, category.id)
        code, reason, _ = await failure(
            stub.CreateProduct(request, metadata=(("authorization", bearer(token)),))
        )
        assert (code, reason) == (UNAUTHENTICATED, "INVALID_TOKEN")
    assert not (await stub.ListProducts(pb.ListProductsRequest(shop_id=shop))).products
